// One row per nn.Linear layer: its activation (hidden layers), a freeze box, the PReLU slope.
// The choices show the page's model config (moved by the hand, rolled back if the server
// refuses); the slopes and the output activation show the latest frame.
import { formatNumber } from "./colors.js";

const ACTIVATION_LABELS = {
  relu: "ReLU", leaky_relu: "LeakyReLU", prelu: "PReLU", elu: "ELU", gelu: "GELU",
  tanh: "Tanh", sigmoid: "Sigmoid", linear: "Linear",
};

export function createLayerPanel(root, { onActivations, onFrozen }) {
  let shape = "";
  let rows = [];
  let latest = null;
  let latestModel = null;

  function build(frame) {
    root.replaceChildren();
    rows = frame.layers.map((layer, i) => {
      const row = document.createElement("div");
      row.className = "layer-row";
      const hidden = i < frame.layers.length - 1;
      const name = document.createElement("span");
      name.className = "layer-name";
      name.textContent = hidden ? `Layer ${i + 1} (${layer.biases.length})` : `Output (${layer.biases.length})`;
      row.append(name);
      let select = null;
      if (hidden) {
        select = document.createElement("select");
        select.dataset.testid = `layer-activation-${i + 1}`;
        select.setAttribute("aria-label", `Activation of hidden layer ${i + 1}`);
        for (const [value, label] of Object.entries(ACTIVATION_LABELS)) select.add(new Option(label, value));
        select.addEventListener("change", () => {
          const chosen = rows.filter((r) => r.select).map((r) => r.select.value);
          onActivations(chosen);
        });
        row.append(select);
      } else {
        const out = document.createElement("span");
        out.className = "muted output-activation";
        row.append(out);
      }
      const freeze = document.createElement("label");
      freeze.className = "inline";
      const box = document.createElement("input");
      box.type = "checkbox";
      box.dataset.testid = `freeze-layer-${i + 1}`;
      box.addEventListener("change", () => {
        onFrozen(rows.map((r, j) => (r.box.checked ? j : -1)).filter((j) => j >= 0));
      });
      freeze.append(box, " freeze");
      freeze.title = "requires_grad_(False): no gradient, no update";
      const slope = document.createElement("span");
      slope.className = "muted prelu-slope";
      slope.dataset.testid = `prelu-slope-${i + 1}`;
      row.append(freeze, slope);
      root.append(row);
      return { row, select, box, slope };
    });
  }

  return {
    update({ frame, model }) {
      if (!frame || (frame === latest && model === latestModel)) return;
      latest = frame;
      latestModel = model;
      const key = frame.layers.map((l) => l.biases.length).join(",");
      if (key !== shape) {
        shape = key;
        build(frame);
      }
      rows.forEach((r, i) => {
        if (r.select) r.select.value = model.layer_activations?.[i] ?? model.activation;
        r.box.checked = model.frozen_layers.includes(i);
        r.row.classList.toggle("frozen", r.box.checked);
        const a = frame.prelu_slopes[i];
        r.slope.textContent = a === null || a === undefined ? "" : `slope a = ${formatNumber(a, 4)}`;
        if (!r.select) r.row.querySelector(".output-activation").textContent = frame.output_activation;
      });
    },
    destroy() {
      root.replaceChildren();
    },
  };
}
