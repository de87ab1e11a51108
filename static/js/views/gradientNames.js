// What the gradients on show are, said in their labels: the weights' ∂L/∂w are clipped by a
// full step with clipping on but raw right after backward(), and the neurons' value is the
// batch mean of autograd's per-sample ∂L/∂zₙ, each of which already carries the loss's 1/N.

// The name of the parameters' gradient (∂L/∂w, or ∂L/∂b) a frame carries, given the server's
// clipping norm (0 = off).
export function weightGradientName(frame, clipNorm, symbol = "∂L/∂w") {
  if (!clipNorm) return symbol;
  // Clipping runs between backward() and optimizer.step(): right after backward() it has not yet.
  if (frame?.phase?.done === "backward") return `${symbol} raw (before clipping)`;
  return `${symbol} clipped (global norm ≤ ${clipNorm})`;
}

// Per-sample ∂L/∂zₙ averaged: the mean loss's 1/N is already in each, so the sum is ∂L/∂b.
export const NEURON_GRADIENT_NAME = "mean over the batch of ∂L/∂zₙ (= ∂L/∂b ÷ N)";
export const NEURON_GRADIENT_SHORT = "mean ∂z";

// A neuron of the graph, counted from 1 like the layers ("hidden layer 1" is the first): `layer`
// is the graph's column (1 = the first hidden layer), `hiddenLayers` how many hidden layers.
export function neuronName(layer, index, hiddenLayers) {
  return layer > hiddenLayers ? `output neuron ${index + 1}` : `neuron ${index + 1} of hidden layer ${layer}`;
}
