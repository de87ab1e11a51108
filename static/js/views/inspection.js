// What the model computes at the hovered point: inputs, every hidden neuron, the output.
import { formatNumber } from "./colors.js";

const FEATURE_LABELS = { x1: "x₁", x2: "x₂", x1_squared: "x₁²", x2_squared: "x₂²", x1x2: "x₁x₂", sin_x1: "sin x₁", sin_x2: "sin x₂" };
const HINT = "Hover the plane to see the model's output there and every neuron's activation.";

function describeOutput(task, inspection) {
  const [first] = inspection.output;
  if (task === "multiclass") return `P(class 0, 1, 2) = ${inspection.output.map((p) => formatNumber(p)).join(", ")}`;
  if (task === "regression") return `prediction ${formatNumber(first)}`;
  return `P(blue) = ${formatNumber(first)} (logit ${formatNumber(inspection.logits[0])})`;
}

export function createInspectionView(root) {
  const heading = document.createElement("div");
  const table = document.createElement("table");
  root.append(heading, table);
  let shown = null;

  function row(label, values) {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.textContent = label;
    tr.append(th);
    for (const v of values) {
      const td = document.createElement("td");
      td.textContent = formatNumber(v, 2);
      td.className = v === null ? "" : v >= 0 ? "positive" : "negative";
      tr.append(td);
    }
    return tr;
  }

  return {
    update({ inspection, frame }) {
      if (inspection === shown) return;
      shown = inspection;
      if (!inspection || !frame) {
        heading.textContent = HINT;
        table.replaceChildren();
        root.dataset.state = "idle";
        return;
      }
      root.dataset.state = "shown";
      heading.textContent = `At x₁ = ${inspection.x1.toFixed(2)}, x₂ = ${inspection.x2.toFixed(2)} (step ${inspection.step}): ${describeOutput(frame.task, inspection)}`;
      const inputs = frame.features.map((name) => FEATURE_LABELS[name] || name).join(", ");
      table.replaceChildren(
        row(`inputs (${inputs})`, inspection.features),
        ...inspection.hidden.map((values, i) => row(`layer ${i + 1} (${frame.activations[i]})`, values)),
        row(`output (${frame.output_activation})`, inspection.output),
      );
    },
    destroy() {
      heading.remove();
      table.remove();
    },
  };
}
