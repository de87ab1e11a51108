// One sample by hand: pick a training point, read the chain rule for one weight with the actual
// numbers, and check autograd against a finite difference. The network graph shows the same
// sample's a | ∂L/∂a on every neuron; this view writes the words. It reports, main sends.
import { formatNumber } from "./colors.js";

export const SAMPLE_TESTIDS = Object.freeze({
  INDEX: "sample-index",
  CHAIN_RULE: "chain-rule",
  CHECK: "gradient-check",
  CHECK_RESULT: "gradient-check-result",
});

const DIGITS = 6;
const weightName = (w) => `layers[${w.layer}].weight[${w.out_neuron}][${w.in_neuron}]`;
const sameWeight = (a, b) => a.layer === b.layer && a.out_neuron === b.out_neuron && a.in_neuron === b.in_neuron;

function element(tag, className, text = "") {
  const el = document.createElement(tag);
  if (className) el.className = className;
  el.textContent = text;
  return el;
}

export function createSampleByHandView(root, { onIndex, onCheck }) {
  const controls = element("div", "sample-controls");
  const label = element("label", "inline", "training point # ");
  const index = document.createElement("input");
  index.type = "number";
  index.min = "0";
  index.step = "1";
  index.value = "0";
  index.dataset.testid = SAMPLE_TESTIDS.INDEX;
  index.setAttribute("aria-label", "Index of the training point to follow by hand");
  label.append(index);
  const check = element("button", "small", "check ∂L/∂w");
  check.type = "button";
  check.dataset.testid = SAMPLE_TESTIDS.CHECK;
  check.title = "Compare autograd's ∂L/∂w with a central finite difference (L(w+ε) − L(w−ε)) / 2ε";
  controls.append(label, check);
  const hint = element("p", "muted sample-hint", "Neurons show a | ∂L/∂a for this point. Click a training point on the picture to follow it, an edge to choose the weight.");
  const point = element("div", "sample-point");
  const rule = element("div", "chain-rule");
  rule.dataset.testid = SAMPLE_TESTIDS.CHAIN_RULE;
  const result = element("div", "gradient-check-result");
  result.dataset.testid = SAMPLE_TESTIDS.CHECK_RESULT;
  root.append(controls, hint, point, rule, result);
  let shown = null;

  index.addEventListener("change", () => {
    const value = Number(index.value);
    if (Number.isInteger(value) && value >= 0) onIndex(value);
  });
  check.addEventListener("click", () => onCheck());

  function describeRule(sample) {
    const c = sample.chain_rule;
    const w = sample.weight;
    const hidden = w.layer + 1 < sample.layers.length;
    const a = hidden ? `a${w.layer + 1}[${w.out_neuron}]` : `output[${w.out_neuron}]`;
    const z = `z${w.layer + 1}[${w.out_neuron}]`;
    const input = w.layer === 0 ? `x[${w.in_neuron}]` : `a${w.layer}[${w.in_neuron}]`;
    const f = (v) => formatNumber(v, DIGITS);
    return [
      `w = ${weightName(w)};  ${z} = Σ w·in + b,  ${a} = ${hidden ? `activation(${z})` : z}`,
      `∂L/∂w = ∂L/∂a · ∂a/∂z · ∂z/∂w`,
      `      = ${f(c.dloss_da)} · ${f(c.da_dz)} · ${f(c.dz_dw)}`,
      `      = ${f(c.product)}`,
      `(∂L/∂a = ${a}.grad, ∂a/∂z = activation′(${z})${hidden ? "" : " = 1 on the output"}, ∂z/∂w = ${input} = ${f(c.dz_dw)}; autograd's w.grad = ${f(c.autograd)})`,
    ];
  }

  function describeCheck(sample) {
    const c = sample.check;
    if (!c) return "Press “check ∂L/∂w” to compare autograd with a finite difference.";
    const f = (v) => formatNumber(v, 10);
    const difference = c.autograd === null || c.finite_difference === null ? null : Math.abs(c.autograd - c.finite_difference);
    return [
      `autograd ${f(c.autograd)}  vs  finite difference (ε = ${c.epsilon}) ${f(c.finite_difference)}`,
      `|difference| = ${formatNumber(difference, 2)}; tolerance ${c.tolerance} × max(1, |autograd|) in float64 — ${c.agrees ? "agree ✓" : "DISAGREE ✗"}`,
    ].join("\n");
  }

  return {
    update({ sample, frame, weight, trainCount }) {
      if (trainCount) index.max = String(trainCount - 1);
      const key = sample ? `${sample.index}:${sample.step}:${weightName(sample.weight)}:${Boolean(sample.check)}:${frame?.step}` : null;
      if (key === shown) return;
      shown = key;
      if (document.activeElement !== index && sample) index.value = String(sample.index);
      if (!sample || !sameWeight(sample.weight, weight)) {
        point.textContent = sample ? "" : "Pick a training point by its index.";
        rule.textContent = "";
        result.textContent = "";
        result.dataset.agrees = "";
        return;
      }
      const stale = frame && frame.step !== sample.step ? ` (from step ${sample.step}; updating)` : "";
      point.textContent = `point #${sample.index}: features [${sample.features.map((v) => formatNumber(v, 3)).join(", ")}], target ${sample.target.map((v) => formatNumber(v, 3)).join(", ")}, loss on it ${formatNumber(sample.loss, 5)} at step ${sample.step}${stale}`;
      rule.replaceChildren(...describeRule(sample).map((line) => element("div", "", line)));
      result.textContent = describeCheck(sample);
      result.dataset.agrees = sample.check ? String(sample.check.agrees) : "";
    },
    destroy() {
      root.replaceChildren();
    },
  };
}
