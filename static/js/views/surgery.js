// Neuron surgery: type a value into one weight (or click an edge on the network graph to pick
// it), switch a hidden neuron off and on. The next frame shows the effect and training goes on
// from there; the code panel's script replays the edits at the steps they were made.
import { element, input } from "./dom.js";
import { button, labelled } from "./deeperControls.js";

function indexInput(testid, label, value = "0") {
  return input(testid, "number", { min: "0", step: "1", value, "aria-label": label });
}

export function createSurgeryView(root, { onEditWeight, onSwitchNeuron }) {
  const weight = {
    layer: indexInput("edit-layer", "Layer of the weight"),
    out: indexInput("edit-out", "Neuron the weight goes into"),
    in: indexInput("edit-in", "Input the weight comes from"),
    value: input("edit-value", "number", { step: "any", value: "0", "aria-label": "New value of the weight" }),
  };
  const edit = button("edit-weight", "Set weight");
  const neuron = { layer: indexInput("neuron-layer", "Hidden layer of the neuron"), index: indexInput("neuron-index", "Neuron") };
  const toggle = button("neuron-off", "Switch off");
  const off = element("div", { className: "hint", testid: "switched-off", textContent: "Every neuron is on." });
  root.append(
    element("div", { className: "surface-controls" }, [
      labelled("layers[", weight.layer), labelled("].weight[", weight.out), labelled("][", weight.in), labelled("] =", weight.value), edit,
    ]),
    element("div", { className: "surface-controls" }, [labelled("Hidden layer", neuron.layer), labelled("neuron", neuron.index), toggle]),
    off,
  );
  const state = { switchedOff: [], step: 0 };
  const isOff = () => state.switchedOff.some(([l, n]) => l === Number(neuron.layer.value) && n === Number(neuron.index.value));

  edit.addEventListener("click", () =>
    onEditWeight({
      layer: Number(weight.layer.value),
      out_neuron: Number(weight.out.value),
      in_neuron: Number(weight.in.value),
      value: Number(weight.value.value),
    }),
  );
  toggle.addEventListener("click", () => onSwitchNeuron({ layer: Number(neuron.layer.value), neuron: Number(neuron.index.value), on: isOff() }));
  for (const control of [neuron.layer, neuron.index]) control.addEventListener("input", () => update());

  // An edge clicked on the network graph: its weight, ready to be typed over.
  function chooseEdge(edge, frame) {
    weight.layer.value = String(edge.layer);
    weight.out.value = String(edge.out_neuron);
    weight.in.value = String(edge.in_neuron);
    const current = frame?.layers[edge.layer]?.weights?.[edge.out_neuron]?.[edge.in_neuron];
    if (typeof current === "number") weight.value.value = String(Number(current.toPrecision(4)));
  }

  function receive(message) {
    state.switchedOff = message.switched_off;
    state.step = message.step;
  }

  function update({ frame } = {}) {
    // A frame before the last edit: the run was reset or rewound past it (a rewind that keeps
    // edits is followed by their list again).
    if (frame && frame.step < state.step) {
      state.switchedOff = [];
      state.step = frame.step;
    }
    toggle.textContent = isOff() ? "Switch on" : "Switch off";
    toggle.setAttribute("aria-pressed", String(isOff()));
    off.textContent = state.switchedOff.length
      ? `Off: ${state.switchedOff.map(([l, n]) => `layer ${l + 1} neuron ${n}`).join(", ")}`
      : "Every neuron is on.";
  }

  return { update, receive, chooseEdge, destroy: () => root.replaceChildren() };
}
