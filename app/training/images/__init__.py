"""Backprop beyond the plane: the 8×8 digits, MLPs on pixels and small CNNs, in pure PyTorch.

No web here (as for the rest of `training/`): data, the model builder, a run that trains and
evaluates, and the views' numbers (filters, feature maps, confusion matrix, saliency).
"""
