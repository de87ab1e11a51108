// The training toolkit's controls: optimizer knobs, LR schedule, regularisation,
// input features and initialisation. Live knobs send `set`; features and init rebuild (`configure`).
import { FEATURES, ONE_D_DATASETS, X2_FEATURES } from "./store.js";
import { formatRate } from "./views/learningRateChart.js";

const $ = (id) => document.getElementById(id);

// element id → TrainingConfig field. A test checks every field against the server's SetRequest.
export const LIVE_KNOBS = Object.freeze({
  nesterov: "nesterov",
  beta1: "beta1",
  beta2: "beta2",
  alpha: "alpha",
  "lr-schedule": "schedule",
  "schedule-step-size": "schedule_step_size",
  "schedule-gamma": "schedule_gamma",
  "schedule-steps": "schedule_steps",
  "weight-decay": "weight_decay",
  l1: "l1",
  "activation-regularization": "activation_penalty",
  "activation-penalty-strength": "activation_penalty_strength",
  "grad-clip-norm": "grad_clip_norm",
});

// Which optimizers use momentum (SGD, RMSprop) — the others hide it in their betas.
const USES_MOMENTUM = ["sgd", "rmsprop"];

function readValue(el) {
  if (el.type === "checkbox") return el.checked;
  if (el.type !== "number") return el.value;
  // Bounded by the same limits the server enforces (the inputs carry them as min/max).
  let n = Number(el.value);
  if (!Number.isFinite(n)) n = Number(el.defaultValue);
  n = Math.min(Number(el.max), Math.max(Number(el.min), n));
  if (el.step === "1") n = Math.round(n);
  el.value = String(n);
  return n;
}

// Each change goes out as a command, which shows the moved config (and the knobs it reveals).
export function bindToolkit({ setLive, configureModel }) {
  for (const [id, field] of Object.entries(LIVE_KNOBS)) {
    $(id).addEventListener("change", (e) => setLive({ [field]: readValue(e.target) }));
  }
  for (const box of document.querySelectorAll("[data-feature]")) {
    box.addEventListener("change", () => {
      const chosen = FEATURES.filter((name) => document.querySelector(`[data-feature="${name}"]`).checked);
      if (chosen.length === 0) {
        box.checked = true; // the network needs at least one input
        return;
      }
      configureModel({ features: chosen });
    });
  }
  $("init").addEventListener("change", (e) => configureModel({ init: e.target.value }));
  $("model-seed").addEventListener("change", (e) => configureModel({ seed: readValue(e.target) }));
}

export function syncToolkit(config) {
  const { model, training } = config;
  for (const [id, field] of Object.entries(LIVE_KNOBS)) {
    const el = $(id);
    if (training[field] === undefined) continue;
    if (el.type === "checkbox") el.checked = Boolean(training[field]);
    else el.value = String(training[field]);
  }
  for (const el of document.querySelectorAll("[data-knob-for]")) {
    el.hidden = !el.dataset.knobFor.split(" ").includes(training.optimizer);
  }
  for (const el of document.querySelectorAll("[data-schedule-for]")) {
    el.hidden = !el.dataset.scheduleFor.split(" ").includes(training.schedule);
  }
  $("momentum").disabled = !USES_MOMENTUM.includes(training.optimizer);
  $("activation-penalty-strength").disabled = training.activation_penalty === "none";
  const features = model.features || ["x1", "x2"];
  const oneD = ONE_D_DATASETS.includes(config.data.dataset);
  for (const name of FEATURES) {
    const box = document.querySelector(`[data-feature="${name}"]`);
    box.checked = features.includes(name);
    // On 1-D data x₂ is 0 everywhere: its inputs would be constants (the note says so).
    box.disabled = oneD && X2_FEATURES.includes(name) && !box.checked;
  }
  $("one-d-note").hidden = !oneD;
  $("init").value = model.init;
  $("model-seed").value = String(model.seed);
}

const TASK_TEXT = {
  binary: "Binary classification: identity output into <code>BCEWithLogitsLoss</code> (a sigmoid inside), so the map shows P(blue).",
  multiclass: "Three classes: softmax output with <code>CrossEntropyLoss</code>; the map mixes the classes' colours by probability.",
  regression: "Regression: identity output, <code>MSELoss</code>; the map (or curve) shows the prediction. No accuracy.",
};

export function renderToolkit(frame) {
  if (!frame) return;
  $("effective-learning-rate").textContent = formatRate(frame.learning_rate);
  const info = $("task-info");
  if (info.dataset.task !== frame.task) {
    info.dataset.task = frame.task;
    info.innerHTML = TASK_TEXT[frame.task] || "";
  }
}
