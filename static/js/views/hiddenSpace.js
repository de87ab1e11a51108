// The hidden space: the input plane's grid lines and the training points as one hidden layer
// sees them, on two of its neurons or its first two principal components. Frame after frame
// the layer folds and stretches the plane until the classes come apart.
import { CSS_BLUE, CSS_ORANGE, formatNumber } from "./colors.js";
import { element, input } from "./dom.js";
import { canvas, labelled, select, watchVisibility } from "./deeperControls.js";

const SIZE = 300;
const PAD = 12;

export function createHiddenSpaceView(root, { onRequest }) {
  const layer = select("hidden-layer", [["0", "Layer 1"]], "0", "Hidden layer");
  const axes = select("hidden-axes", [["pca", "first two principal components"], ["neurons", "two neurons"]], "pca", "Axes");
  const neuronA = input("hidden-neuron-a", "number", { min: "0", step: "1", value: "0", "aria-label": "First neuron" });
  const neuronB = input("hidden-neuron-b", "number", { min: "0", step: "1", value: "1", "aria-label": "Second neuron" });
  const plot = canvas("hidden-space-plot", SIZE, SIZE, "The training points and the input grid in the hidden layer's space");
  const note = element("div", { className: "hint", testid: "hidden-space-info" });
  root.append(
    element("div", { className: "surface-controls" }, [labelled("Layer", layer), labelled("Axes", axes), neuronA, neuronB]),
    plot,
    note,
  );
  const state = { space: null, layers: 0 };

  function request(follow) {
    // Off screen: stop following, and compute nothing more.
    const params = { layer: Number(layer.value), follow, now: follow };
    if (axes.value === "neurons") params.neurons = [Number(neuronA.value) || 0, Number(neuronB.value) || 0];
    onRequest(params);
  }
  const screen = watchVisibility(root, request);
  for (const control of [layer, axes, neuronA, neuronB]) {
    control.addEventListener("change", () => screen.visible() && request(true));
  }

  function receive(message) {
    state.space = message;
  }

  // The layer menu follows the network's hidden layers (read from the frame).
  function syncLayers(frame) {
    const hidden = frame ? frame.layers.length - 1 : 0;
    if (hidden === state.layers) return;
    state.layers = hidden;
    const chosen = Math.min(Number(layer.value), Math.max(0, hidden - 1));
    layer.replaceChildren(...Array.from({ length: hidden }, (_, i) => new Option(`Layer ${i + 1}`, String(i))));
    layer.value = String(chosen);
  }

  function update({ frame }) {
    syncLayers(frame);
    const space = state.space;
    neuronA.hidden = neuronB.hidden = axes.value !== "neurons";
    if (!space) return;
    neuronA.max = neuronB.max = String(space.width - 1);
    note.textContent = space.explained
      ? `Layer ${space.layer + 1} at step ${space.step}: PC1 ${formatNumber(space.explained[0] * 100, 1)} %, PC2 ${formatNumber(space.explained[1] * 100, 1)} % of the variance`
      : `Layer ${space.layer + 1} at step ${space.step}: neurons ${space.neurons[0]} and ${space.neurons[1]}`;
    draw(plot.getContext("2d"), space);
  }

  return { update, receive, destroy: () => screen.stop() };
}

function draw(ctx, space) {
  ctx.clearRect(0, 0, SIZE, SIZE);
  const all = [...space.points, ...space.grid.flat()];
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = (SIZE - 2 * PAD) / Math.max(x1 - x0, 1e-9);
  const sy = (SIZE - 2 * PAD) / Math.max(y1 - y0, 1e-9);
  const at = ([a, b]) => [PAD + (a - x0) * sx, SIZE - PAD - (b - y0) * sy];
  ctx.strokeStyle = "rgba(0, 0, 0, 0.25)";
  ctx.lineWidth = 1;
  for (const gridLine of space.grid) {
    ctx.beginPath();
    gridLine.forEach((p, i) => (i ? ctx.lineTo(...at(p)) : ctx.moveTo(...at(p))));
    ctx.stroke();
  }
  space.points.forEach((p, i) => {
    const [x, y] = at(p);
    ctx.beginPath();
    ctx.arc(x, y, 2.5, 0, 2 * Math.PI);
    ctx.fillStyle = space.labels[i] > 0.5 ? CSS_BLUE : CSS_ORANGE;
    ctx.fill();
  });
}
