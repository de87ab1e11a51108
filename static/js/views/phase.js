// What the phase just run changed, in words and numbers: the companion of the network graph,
// which draws the same values (activations on neurons, gradients or updates on edges).
import { formatNumber } from "./colors.js";

const CODE = {
  zero_grad: "optimizer.zero_grad()",
  forward: "output = model(x)",
  loss: "loss = loss_fn(output, y)",
  backward: "loss.backward()",
  step: "optimizer.step()",
};

// The entry of largest magnitude: `magnitude` is |value|, what "Largest |…|" shows.
export function largest(matrices) {
  let best = { value: 0, layer: -1, out: -1, in: -1 };
  matrices.forEach((matrix, layer) =>
    (matrix || []).forEach((row, out) =>
      row.forEach((v, inp) => {
        if (Math.abs(v) > Math.abs(best.value)) best = { value: v, layer, out, in: inp };
      }),
    ),
  );
  return { ...best, magnitude: Math.abs(best.value) };
}

const where = (b) => `layers[${b.layer}].weight[${b.out}][${b.in}]`;

export function createPhaseView(root, { phaseName }) {
  const summary = document.createElement("p");
  summary.className = "phase-summary";
  const detail = document.createElement("div");
  detail.className = "phase-detail";
  root.append(summary, detail);
  let shown = null;

  function describe(frame, phase, training) {
    const rows = [];
    switch (phase.done) {
      case "zero_grad":
        summary.textContent = phase.zero_grad_skipped
          ? "zero_grad() skipped: the old gradients stay, and the next backward() adds to them."
          : "optimizer.zero_grad(): every .grad is now None — the edges lose their gradient colour.";
        break;
      case "forward":
        summary.textContent = "output = model(x): each neuron's z = W·x + b and a = activation(z), batch means (a is written on the neuron; hover for z).";
        phase.activity.forEach((layer, i) => {
          const name = i === phase.activity.length - 1 ? "output" : `hidden ${i + 1}`;
          rows.push(`${name}: z = [${layer.pre_activations.map((v) => formatNumber(v, 2)).join(", ")}]  a = [${layer.activations.map((v) => formatNumber(v, 2)).join(", ")}]`);
        });
        break;
      case "loss":
        summary.textContent = `loss = loss_fn(output, y) = ${formatNumber(phase.loss, 5)} (mean over the batch, penalties included).`;
        break;
      case "backward": {
        const g = largest(frame.layers.map((l) => l.weight_grads));
        const clipping = training?.grad_clip_norm ? " Raw: clipping comes next, just before optimizer.step()." : "";
        summary.textContent = `loss.backward() filled every .grad: edges now show ∂L/∂w (blue +, orange −). Largest |∂L/∂w| = ${formatNumber(g.magnitude, 4)} at ${where(g)}.${clipping}`;
        frame.layers.forEach((l, i) => {
          if (!l.weight_grads) return;
          const norm = Math.hypot(...l.weight_grads.flat());
          rows.push(`layers[${i}]: ‖∂L/∂W‖ = ${formatNumber(norm, 4)}, ∂L/∂b = [${l.bias_grads.map((v) => formatNumber(v, 3)).join(", ")}]`);
        });
        break;
      }
      case "step": {
        const d = largest(phase.updates.map((u) => u.weight_deltas));
        summary.textContent = `optimizer.step() changed every parameter: edges now show Δw. Largest |Δw| = ${formatNumber(d.magnitude, 4)} at ${where(d)}; hover an edge for before → after.`;
        // Plain SGD moves each weight by exactly −lr·∂L/∂w: show that it did.
        const plain = training && training.optimizer === "sgd" && !training.momentum && !training.weight_decay && (!training.schedule || training.schedule === "constant");
        if (plain && frame.layers.every((l) => l.weight_grads)) {
          let worst = 0;
          phase.updates.forEach((u, i) => u.weight_deltas.forEach((row, o) => row.forEach((v, j) => {
            worst = Math.max(worst, Math.abs(v + frame.learning_rate * frame.layers[i].weight_grads[o][j]));
          })));
          rows.push(`SGD check: Δw = −lr·∂L/∂w with lr = ${frame.learning_rate} — largest difference ${formatNumber(worst, 2)} (float32 rounding).`);
        }
        break;
      }
      default:
        break;
    }
    rows.push(`next: ${CODE[phase.next]}`);
    detail.replaceChildren(...rows.map((text) => Object.assign(document.createElement("div"), { textContent: text })));
  }

  return {
    update({ frame, training }) {
      const phase = frame?.phase || null;
      const key = phase ? `${frame.step}:${phase.done}:${phase.step}` : null;
      if (key === shown) return;
      shown = key;
      phaseName.textContent = phase ? phase.done : "—";
      phaseName.dataset.phase = phase ? phase.done : "";
      phaseName.title = phase ? `just ran ${CODE[phase.done]}; next ${CODE[phase.next]}` : "";
      if (!phase) {
        summary.textContent = "Press “Phase ↧” to run one line of the training step at a time.";
        detail.replaceChildren();
        return;
      }
      describe(frame, phase, training);
    },
    destroy() {
      root.replaceChildren();
    },
  };
}
