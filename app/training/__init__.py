"""Pure PyTorch training engine: data, model, optimizers, the session. No web code."""
