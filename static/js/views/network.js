// The network graph: neurons show their output over the input plane; edges are coloured by the
// sign of the weight (or of its gradient) and sized by its magnitude; biases are small squares.
import { createHeatmapCanvas, CSS_BLUE, CSS_ORANGE, formatNumber } from "./colors.js";
import { NEURON_GRADIENT_NAME, NEURON_GRADIENT_SHORT, neuronName, weightGradientName } from "./gradientNames.js";
import { fitNetwork } from "./networkLayout.js";

const SVG_NS = "http://www.w3.org/2000/svg";

// The input features (Playground's clickable column): what each computes from (x₁, x₂).
const FEATURE_FUNCTIONS = {
  x1: [(a) => a, "X₁"],
  x2: [(a, b) => b, "X₂"],
  x1_squared: [(a) => a * a, "X₁²"],
  x2_squared: [(a, b) => b * b, "X₂²"],
  x1x2: [(a, b) => a * b, "X₁X₂"],
  sin_x1: [(a) => Math.sin(a), "sin X₁"],
  sin_x2: [(a, b) => Math.sin(b), "sin X₂"],
};

// An input's own map over [-6, 6]², drawn once like any neuron's map (symmetric range).
function inputHeatmap(feature, resolution = 24) {
  const [f] = FEATURE_FUNCTIONS[feature] || FEATURE_FUNCTIONS.x1;
  const values = [];
  for (let r = 0; r < resolution; r++) {
    for (let c = 0; c < resolution; c++) {
      values.push(f(-6 + (12 * c) / (resolution - 1), 6 - (12 * r) / (resolution - 1)));
    }
  }
  const high = Math.max(1e-9, ...values.map(Math.abs));
  const bytes = Uint8Array.from(values, (v) => Math.round(((v + high) / (2 * high)) * 255));
  return { resolution, low: -high, high, data: btoa(String.fromCharCode(...bytes)) };
}

export function createNetworkView(root, { onLayersChange, onHoverNeuron, onEdgeClick, tooltip, limits, backwardDelay = () => 600 }) {
  let topology = "";
  let nodes = [];   // [layer][neuron] → {el, heat, bias, x, y}
  let edges = [];   // flat: {path, layer, out, in}
  let latest = null;
  let clipNorm = 0; // the server's gradient clipping norm: says whether ∂L/∂w on show is clipped
  let latestSample = null; // one sample by hand: its z, a and gradients per neuron
  let features = ["x1", "x2"];
  // The backward phase's animation: gradients reach the layers from the output back. `stage` k
  // shows the last k nn.Linear layers (their ∂L/∂w edges, their neurons' ∂L/∂z); Infinity: all.
  let reveal = { key: null, stage: Infinity, timer: null };
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.classList.add("edges");
  const layerControls = document.createElement("div");
  layerControls.className = "layer-controls";
  root.append(svg, layerControls);

  function build(sizes) {
    svg.replaceChildren();
    layerControls.replaceChildren();
    root.querySelectorAll(".neuron").forEach((el) => el.remove());
    // The box's height is its CSS max-height (what the first screen leaves); the graph then
    // takes only the height it uses, so a small network leaves no blank box under it.
    const width = Math.max(120, root.clientWidth);
    const maxHeight = Math.max(120, parseFloat(getComputedStyle(root).maxHeight) || root.clientHeight);
    const { node: nodeSize, column: columnWidth, height, positions } = fitNetwork(sizes, width, maxHeight);
    root.style.height = `${height}px`;
    root.dataset.node = String(nodeSize);
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    nodes = sizes.map((count, layer) =>
      Array.from({ length: count }, (_, i) => {
        const { x, y } = positions[layer][i];
        const el = document.createElement("div");
        el.className = "neuron";
        el.style.left = `${x}px`;
        el.style.top = `${y}px`;
        el.style.width = el.style.height = `${nodeSize}px`;
        el.dataset.layer = layer;
        el.dataset.neuron = i;
        el.tabIndex = 0;
        const heat = createHeatmapCanvas();
        heat.canvas.className = "neuron-map";
        el.append(heat.canvas);
        let bias = null;
        if (layer === 0) {
          el.classList.add("input");
          el.title = FEATURE_FUNCTIONS[features[i]]?.[1] || features[i];
          el.dataset.feature = features[i];
          heat.draw(inputHeatmap(features[i]));
          const label = document.createElement("span");
          label.className = "input-label";
          label.textContent = FEATURE_FUNCTIONS[features[i]]?.[1] || features[i];
          el.append(label);
        } else {
          bias = document.createElement("div");
          bias.className = "bias";
          el.append(bias);
        }
        // Phase stepping: the neuron's batch-mean activation a after the forward pass.
        const value = document.createElement("span");
        value.className = "neuron-value";
        if (layer > 0) el.append(value);
        el.addEventListener("mouseenter", () => hoverNeuron(layer, i, el));
        el.addEventListener("focus", () => hoverNeuron(layer, i, el));
        el.addEventListener("mouseleave", unhover);
        el.addEventListener("blur", unhover);
        root.append(el);
        return { el, heat, bias, value, x, y };
      }),
    );
    edges = [];
    for (let layer = 1; layer < sizes.length; layer++) {
      for (let out = 0; out < sizes[layer]; out++) {
        for (let inp = 0; inp < sizes[layer - 1]; inp++) {
          const a = nodes[layer - 1][inp];
          const b = nodes[layer][out];
          const x1 = a.x + nodeSize, y1 = a.y + nodeSize / 2, x2 = b.x, y2 = b.y + nodeSize / 2;
          const mid = (x1 + x2) / 2;
          const path = document.createElementNS(SVG_NS, "path");
          path.setAttribute("d", `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`);
          path.classList.add("edge");
          path.dataset.layer = layer - 1;
          const edge = { path, layer: layer - 1, out, in: inp };
          // A thin edge (a small weight) is hard to point at: an invisible, wider copy of its
          // path takes the pointer for it.
          const hit = document.createElementNS(SVG_NS, "path");
          hit.setAttribute("d", path.getAttribute("d"));
          hit.classList.add("edge-hit");
          hit.addEventListener("mouseenter", (e) => showEdge(edge, e));
          hit.addEventListener("mouseleave", () => (tooltip.hidden = true));
          // Choosing weights for the loss surface's axes: {layer, out_neuron, in_neuron}. The
          // visible path answers a click too (a keyboard or script may send it there).
          const choose = () => onEdgeClick?.({ layer: edge.layer, out_neuron: edge.out, in_neuron: edge.in });
          hit.addEventListener("click", choose);
          path.addEventListener("click", choose);
          svg.append(path, hit);
          edges.push(edge);
        }
      }
    }
    buildLayerControls(sizes, columnWidth, positions);
  }

  function buildLayerControls(sizes, column, positions) {
    const hidden = sizes.slice(1, -1);
    hidden.forEach((count, h) => {
      const box = document.createElement("div");
      box.className = "layer-control";
      box.style.left = `${positions[h + 1][0].x}px`;
      const plus = button("+", `Add a neuron to hidden layer ${h + 1}`, count >= limits.max_neurons_per_layer, () => {
        const next = [...hidden];
        next[h] += 1;
        onLayersChange(next);
      });
      const minus = button("−", `Remove a neuron from hidden layer ${h + 1}`, count <= 1, () => {
        const next = [...hidden];
        next[h] -= 1;
        onLayersChange(next);
      });
      plus.dataset.testid = `add-neuron-${h}`;
      minus.dataset.testid = `remove-neuron-${h}`;
      const label = document.createElement("span");
      // Narrow columns (many layers) keep the count alone; the buttons' labels still say it all.
      label.textContent = column >= 110 ? `${count} neuron${count === 1 ? "" : "s"}` : String(count);
      label.title = `${count} neuron${count === 1 ? "" : "s"}`;
      box.append(plus, minus, label);
      layerControls.append(box);
    });
  }

  function button(text, label, disabled, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "small";
    b.textContent = text;
    b.setAttribute("aria-label", label);
    b.disabled = disabled;
    b.addEventListener("click", onClick);
    return b;
  }

  function place(event) {
    const box = root.getBoundingClientRect();
    tooltip.style.left = `${event.clientX - box.left + 14}px`;
    tooltip.style.top = `${event.clientY - box.top + 14}px`;
    tooltip.hidden = false;
  }

  function showEdge(edge, event) {
    const layer = latest?.layers[edge.layer];
    if (!layer) return;
    const w = layer.weights[edge.out][edge.in];
    const g = layer.weight_grads ? layer.weight_grads[edge.out][edge.in] : null;
    tooltip.textContent = `layers[${edge.layer}].weight[${edge.out}][${edge.in}] = ${formatNumber(w, 4)}  ·  ${weightGradientName(latest, clipNorm)} = ${formatNumber(g, 4)}`;
    const update = latest.phase?.updates?.[edge.layer];
    if (update) {
      const before = update.weights_before[edge.out][edge.in];
      tooltip.textContent += `  ·  optimizer.step(): ${formatNumber(before, 4)} → ${formatNumber(w, 4)}, Δw = ${formatNumber(update.weight_deltas[edge.out][edge.in], 4)}`;
    }
    tooltip.textContent += optimizerStateText(latest.optimizer_state?.[edge.layer], edge);
    place(event);
  }

  function hoverNeuron(layer, i, el) {
    if (layer > 0 && latest) {
      const state = latest.layers[layer - 1];
      const b = state.biases[i];
      const g = state.bias_grads ? state.bias_grads[i] : null;
      const activation = layer - 1 < latest.activations.length ? latest.activations[layer - 1] : "sigmoid (output)";
      tooltip.textContent = `${neuronName(layer, i, latest.activations.length)} (${activation}) · bias ${formatNumber(b, 4)} · ${weightGradientName(latest, clipNorm, "∂L/∂b")} ${formatNumber(g, 4)}`;
      const activity = latest.phase?.activity?.[layer - 1];
      if (activity) tooltip.textContent += ` · batch mean z = ${formatNumber(activity.pre_activations[i], 4)}, a = ${formatNumber(activity.activations[i], 4)}`;
      const dz = latest.phase?.pre_activation_grads?.[layer - 1];
      if (dz) tooltip.textContent += ` · ${NEURON_GRADIENT_NAME} = ${formatNumber(dz[i], 4)}`;
      const traced = latestSample?.layers[layer - 1];
      if (traced) tooltip.textContent += ` · point #${latestSample.index}: z = ${formatNumber(traced.pre_activations[i], 4)}, a = ${formatNumber(traced.activations[i], 4)}, ∂L/∂z = ${formatNumber(traced.pre_activation_grads[i], 4)}, ∂L/∂a = ${formatNumber(traced.activation_grads[i], 4)}`;
      const rect = el.getBoundingClientRect();
      place({ clientX: rect.right, clientY: rect.top });
      onHoverNeuron(latest.neuron_maps[layer - 1][i]);
    } else {
      onHoverNeuron(inputHeatmap(features[i], 64));
    }
  }

  function unhover() {
    tooltip.hidden = true;
    onHoverNeuron(null);
  }

  // The optimizer's own state for this weight: why it moves as it does.
  function optimizerStateText(state, edge) {
    if (!state) return "";
    const at = (m) => (m ? m[edge.out][edge.in] : null);
    const parts = [];
    if (state.momentum) parts.push(`momentum buffer ${formatNumber(at(state.momentum), 4)}`);
    if (state.exp_avg) parts.push(`m ${formatNumber(at(state.exp_avg), 4)}`);
    if (state.exp_avg_sq) parts.push(`v ${formatNumber(at(state.exp_avg_sq), 4)}`);
    if (state.step_size) parts.push(`effective step size ${formatNumber(at(state.step_size), 4)}`);
    return parts.length ? `  ·  optimizer: ${parts.join(", ")}` : "";
  }

  // Which layers the backward animation has reached: edges and neurons not yet reached are
  // greyed (class gradient-pending); a reached neuron's label shows its batch mean of ∂L/∂zₙ.
  function applyReveal() {
    if (!latest) return;
    const count = latest.layers.length;
    const pending = (linear) => reveal.key !== null && linear < count - reveal.stage;
    for (const edge of edges) edge.path.classList.toggle("gradient-pending", pending(edge.layer));
    nodes.slice(1).forEach((column, linear) => column.forEach((node) => {
      node.el.classList.toggle("gradient-pending", pending(linear));
      const showGrad = node.dz !== null && node.dz !== undefined && !pending(linear);
      node.value.textContent = showGrad ? `${NEURON_GRADIENT_SHORT} ${formatNumber(node.dz, 2)}` : node.baseText || "";
      node.value.title = showGrad ? NEURON_GRADIENT_NAME : "";
      node.value.classList.toggle("gradient", showGrad);
    }));
    const animating = reveal.key !== null && reveal.stage < count;
    root.classList.toggle("animating-backward", animating);
    root.dataset.backwardStage = reveal.key === null ? "" : String(Math.min(reveal.stage, count));
  }

  function startReveal(key) {
    clearTimeout(reveal.timer);
    reveal = { key, stage: key === null ? Infinity : 1, timer: null };
    if (key === null) return;
    const tick = () => {
      reveal.timer = null;
      reveal.stage += 1;
      applyReveal();
      if (latest && reveal.stage < latest.layers.length) reveal.timer = setTimeout(tick, backwardDelay());
    };
    if (latest && reveal.stage < latest.layers.length) reveal.timer = setTimeout(tick, backwardDelay());
  }

  // Projector mode draws every edge thicker (a CSS variable, read when the mode changes).
  let edgeWidthScale = 1;
  function readEdgeWidthScale() {
    const fromCss = parseFloat(getComputedStyle(document.body).getPropertyValue("--edge-width-scale"));
    edgeWidthScale = Number.isFinite(fromCss) && fromCss > 0 ? fromCss : 1;
  }
  readEdgeWidthScale();

  function edgeStyle(value, scale) {
    const magnitude = Math.min(1, Math.abs(value) / scale);
    return {
      colour: value >= 0 ? CSS_BLUE : CSS_ORANGE,
      width: (0.5 + 7.5 * magnitude) * edgeWidthScale,
      opacity: 0.25 + 0.75 * magnitude,
    };
  }

  // A new box size (window, projector mode) refits the graph and redraws the last frame.
  let lastArgs = null;
  let fittedTo = "";
  const resizeObserver = new ResizeObserver(() => {
    const size = `${root.clientWidth}x${root.clientHeight}`;
    if (size === fittedTo || !lastArgs) return;
    topology = "";
    view.update(lastArgs);
  });
  resizeObserver.observe(root);
  const onProjector = () => {
    readEdgeWidthScale();
    if (lastArgs) view.update(lastArgs);
  };
  window.addEventListener("projectorchange", onProjector);

  const view = {
    update(args) {
      lastArgs = args;
      draw(args);
      fittedTo = `${root.clientWidth}x${root.clientHeight}`;
    },
    // Show every layer's gradients at once.
    skipAnimation() {
      clearTimeout(reveal.timer);
      reveal.timer = null;
      reveal.stage = Infinity;
      applyReveal();
    },
    destroy() {
      clearTimeout(reveal.timer);
      resizeObserver.disconnect();
      window.removeEventListener("projectorchange", onProjector);
      root.replaceChildren();
    },
  };
  return view;

  function draw({ frame, showGradients, selectedEdges = [], edgeMode = "weights", sample = null, gradClipNorm = 0 }) {
    clipNorm = gradClipNorm;
    if (!frame) return;
    latest = frame;
    // A sample from another topology (the reply predates a model change) is not drawn.
    const fits = sample && sample.layers.length === frame.layers.length && sample.layers.every((l, i) => l.activations.length === frame.layers[i].biases.length);
    latestSample = fits ? sample : null;
    root.classList.toggle("by-hand", Boolean(latestSample));
    features = frame.features || ["x1", "x2"];
    const sizes = [features.length, ...frame.layers.map((l) => l.biases.length)];
    const key = `${sizes.join(",")}|${features.join(",")}`;
    if (key !== topology) {
      topology = key;
      build(sizes);
    }
    // Phase stepping shows what the phase changed: backward the gradients, step the updates.
    const phase = frame.phase;
    const useUpdates = phase?.done === "step" && Boolean(phase.updates);
    const hasGrads = frame.layers.some((l) => l.weight_grads);
    const useGrads = !useUpdates && hasGrads && (showGradients || phase?.done === "backward");
    // Colouring by optimizer state (momentum, Adam's m, the effective step size), if it has it.
    const stateKey = !useUpdates && !useGrads && edgeMode !== "weights" && frame.optimizer_state?.some((s) => s[edgeMode]) ? edgeMode : null;
    // Weights keep an absolute scale (|w| = 1 is a thick edge, as in Playground); gradients
    // and updates are scaled to the largest in the network, since they vary over decades.
    let scale = 1;
    if (useGrads || useUpdates || stateKey) {
      scale = 1e-12;
      const rows = stateKey
        ? frame.optimizer_state.map((s) => s[stateKey] || [])
        : useUpdates ? phase.updates.map((u) => u.weight_deltas) : frame.layers.map((l) => l.weight_grads || []);
      for (const matrix of rows) for (const row of matrix) for (const g of row) scale = Math.max(scale, Math.abs(g));
    }
    root.classList.toggle("showing-gradients", useGrads);
    root.classList.toggle("showing-updates", useUpdates);
    root.dataset.edges = useUpdates ? "updates" : useGrads ? "gradients" : stateKey || "weights";
    // A new backward phase starts the animation; anything else ends it.
    const backwardKey = useGrads && phase?.done === "backward" ? `${frame.step}:${phase.step}` : null;
    if (backwardKey !== reveal.key) startReveal(backwardKey);
    for (const edge of edges) {
      const l = frame.layers[edge.layer];
      const value = stateKey
        ? (frame.optimizer_state[edge.layer][stateKey]?.[edge.out][edge.in] ?? 0)
        : useUpdates
        ? phase.updates[edge.layer].weight_deltas[edge.out][edge.in]
        : useGrads ? (l.weight_grads ? l.weight_grads[edge.out][edge.in] : 0) : l.weights[edge.out][edge.in];
      const s = edgeStyle(value, scale);
      edge.path.setAttribute("stroke", s.colour);
      edge.path.setAttribute("stroke-width", s.width.toFixed(2));
      edge.path.setAttribute("stroke-opacity", s.opacity.toFixed(2));
      edge.path.classList.toggle("selected", selectedEdges.some((w) => w.layer === edge.layer && w.out_neuron === edge.out && w.in_neuron === edge.in));
      const chosen = latestSample?.weight;
      edge.path.classList.toggle("chain-rule-weight", Boolean(chosen) && chosen.layer === edge.layer && chosen.out_neuron === edge.out && chosen.in_neuron === edge.in);
    }
    frame.neuron_maps.forEach((maps, layer) => {
      maps.forEach((map, i) => {
        const node = nodes[layer + 1][i];
        node.heat.draw(map);
        const b = frame.layers[layer].biases[i];
        node.bias.style.background = b >= 0 ? CSS_BLUE : CSS_ORANGE;
        node.bias.style.opacity = (0.3 + 0.7 * Math.min(1, Math.abs(b))).toFixed(2);
        const activity = phase?.activity?.[layer];
        const traced = latestSample?.layers[layer];
        // micrograd's value | grad: this sample's a and ∂L/∂a, else the batch-mean a of a phase.
        node.baseText = traced
          ? `${formatNumber(traced.activations[i], 2)} | ${formatNumber(traced.activation_grads[i], 2)}`
          : activity ? formatNumber(activity.activations[i], 2) : "";
        // After backward: this neuron's batch mean of ∂L/∂zₙ (a traced sample's pair wins).
        node.dz = !traced && phase?.done === "backward" ? (phase.pre_activation_grads?.[layer]?.[i] ?? null) : null;
      });
    });
    applyReveal();
  }
}
