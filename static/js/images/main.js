// The digits lab: a CNN (or an MLP on the pixels) learning the 8×8 digits live, its filters,
// feature maps, confusion matrix, a draw pad and the saliency of what it sees; the timeline
// rewinds it to a kept step, and training on from there is a branch.
import { imageRunPath, openChannel } from "./channel.js";
import { createConfusionView } from "./confusionView.js";
import { createDrawPad } from "./drawPad.js";
import { createFiltersView } from "./filtersView.js";
import { createInspectionView } from "./inspectionView.js";
import { createImageLandscapeView } from "./landscapeView.js";
import { createLesson } from "./lesson.js";
import { CURVE_POINTS, createLossCurveView } from "./lossCurve.js";
import { createModelForm } from "./modelForm.js";
import { paintGrey } from "./pictures.js";
import { ImageClientMessage, ImageControlAction, ImageServerMessage } from "./protocol.js";
import { createAutogradView } from "../views/autograd.js";
import { createCodePanel } from "../views/code.js";
import { createTimelineView, RUN_COLOURS } from "../views/timeline.js";

const $ = (id) => document.querySelector(`[data-testid=${id}]`);
// Maps of the image being looked at follow the training, a few times a second.
const INSPECT_EVERY_MS = 250;

// Each frame drawn: when and how long its views took (bench/bench_digits_browser.py reads it).
const timing = { frames: [] };
const TIMING_KEPT = 2000;
window.digitsLab = { timing };
// The current run's training loss, one {step, loss} per step; the runs kept, and which is shown.
let lossPoints = [];
const lineage = { runs: null, currentRun: null, frame: null, runId: null };
let looking = { test_index: 0 };
let lastInspect = 0;

const channel = openChannel({ onMessage, onState });
const filters = createFiltersView($("filters"), {
  onWeight: (unit, row, col) =>
    channel.send(ImageClientMessage.SAMPLE, { sample: Number($("sample-index").value), unit, row, col }),
});
const confusion = createConfusionView($("confusion-matrix"), {
  onCell: (t, p) => channel.send(ImageClientMessage.CELL, { true_class: t, predicted_class: p }),
});
const inspectionView = createInspectionView(document.querySelector("[data-role=inspection]"), {
  onTarget: (digit) => {
    looking = { ...looking, target: digit };
    inspect();
  },
});
const pad = createDrawPad($("draw-pad"), {
  onDrawn: (pixels) => {
    looking = { pixels };
    inspect();
  },
});
const form = createModelForm(document.querySelector("[data-role=model-form]"), {
  onChange: (config) => {
    channel.send(ImageClientMessage.CONFIGURE, { config });
    remember(config);
  },
});

// The settings live in the URL (#config=…): a link, or a reload after the server forgot the
// run, rebuilds the same model with the same seeds (a kept run is resumed as it was).
function remember(config) {
  history.replaceState(null, "", `#${new URLSearchParams({ config: JSON.stringify(config) })}`);
}

function rememberedConfig() {
  const text = new URLSearchParams(location.hash.slice(1)).get("config");
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    $("error").textContent = "the link's settings are not valid JSON; the defaults are used";
    return null;
  }
}

const lesson = createLesson($("lesson-why-convolutions"), {
  configure: (model) => {
    const config = { ...form.read(), model };
    channel.send(ImageClientMessage.CONFIGURE, { config });
    // From step 0 even when that model is already the one training: a fair comparison.
    channel.send(ImageClientMessage.CONTROL, { action: ImageControlAction.RESET });
    remember(config);
  },
});
if (new URLSearchParams(location.hash.slice(1)).get("lesson") === "why-convolutions") lesson.open();
const lossCurve = createLossCurveView($("loss-chart"));
const timeline = createTimelineView(document.querySelector("[data-role=timeline-view]"), {
  onRewind: (step) => channel.send(ImageClientMessage.REWIND, { step }),
  exportUrl: (runId, branchId, format) => imageRunPath(runId, `runs/${branchId}/history.${format}`),
});
$("show-other-runs").addEventListener("change", () => {
  if (lineage.frame) lossCurve.update(curveOf(lineage.frame));
});
const landscape = createImageLandscapeView($("image-landscape").querySelector("[data-role=landscape]"), {
  onCompute: (request) => channel.send(ImageClientMessage.LANDSCAPE, request),
});
const code = createCodePanel($("code"));
const autogradView = createAutogradView($("autograd"));
let listing = null;
let maxModelFileBytes = Infinity; // until the server says (its session message)

for (const action of Object.values(ImageControlAction)) {
  $(action.replace("_", "-")).addEventListener("click", () => channel.send(ImageClientMessage.CONTROL, { action }));
}
$("save-model").addEventListener("click", () => channel.send(ImageClientMessage.SAVE));
$("load-model").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  if (file.size > maxModelFileBytes) {
    $("error").textContent = `${file.name} is ${Math.ceil(file.size / 1000)} kB: a model file is at most ${maxModelFileBytes / 1000} kB`;
    event.target.value = "";
    return;
  }
  const bytes = new Uint8Array(await file.arrayBuffer());
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  channel.send(ImageClientMessage.LOAD, { data: btoa(text) });
  event.target.value = "";
});
$("clear-pad").addEventListener("click", () => pad.clear());
// The files are built from the settings alone (an image run is a function of them), so the
// link carries the settings shown, whatever the server remembers.
for (const [id, file] of [["export-code", "code.py"], ["export-notebook", "code.ipynb"]]) {
  $(id).addEventListener("click", (event) => {
    event.currentTarget.href = `/api/images/${file}?${new URLSearchParams({ config: JSON.stringify(form.read()) })}`;
  });
}
$("test-image").addEventListener("change", (event) => {
  looking = { test_index: Number(event.target.value) };
  inspect();
});

function inspect() {
  lastInspect = performance.now();
  channel.send(ImageClientMessage.INSPECT, looking);
}

// The server's last word before it stopped (a restart), shown until the socket is back.
let shutdownNotice = "";

function onState(state) {
  if (state === "open") shutdownNotice = "";
  $("connection").textContent = state === "open" ? "" : shutdownNotice || `disconnected (${state}); reconnecting…`;
}

function onMessage(message, arrival) {
  if (message.type === ImageServerMessage.SESSION) showSession(message, arrival);
  else if (message.type === ImageServerMessage.FRAME) showFrame(message);
  else if (message.type === ImageServerMessage.INSPECTION) inspectionView.draw(message);
  else if (message.type === ImageServerMessage.CELL) confusion.showCell(message, (canvas, pixels) => paintGrey(canvas, pixels, 8, 5));
  else if (message.type === ImageServerMessage.MODEL_FILE) download(message);
  else if (message.type === ImageServerMessage.SAMPLE_CHECK) showSampleCheck(message);
  else if (message.type === ImageServerMessage.RUNS) showRuns(message.runs);
  else if (message.type === ImageServerMessage.REWOUND) showRewound(message);
  else if (message.type === ImageServerMessage.LANDSCAPE) landscape.show(message);
  else if (message.type === ImageServerMessage.CODE) {
    listing = message;
    code.update({ listing, phase: null });
  } else if (message.type === ImageServerMessage.AUTOGRAD) autogradView.update({ graph: message });
  else if (message.type === ImageServerMessage.SHUTDOWN) $("connection").textContent = shutdownNotice = message.message;
  else if (message.type === ImageServerMessage.ERROR) {
    $("error").textContent = message.message;
    landscape.refused();
  }
}

function showSession(info, arrival) {
  // A new run (not the one this tab had) starts from the link's settings, if it has any;
  // otherwise the URL follows the run, a loaded model file's settings included.
  const wanted = arrival?.first && !arrival.resumed ? rememberedConfig() : null;
  if (wanted) channel.send(ImageClientMessage.CONFIGURE, { config: wanted });
  else remember(info.config);
  form.show(info.config);
  maxModelFileBytes = info.max_model_file_bytes;
  lineage.runId = info.run_id;
  lesson.session(info);
  landscape.clear();
  lossPoints = [];
  $("error").textContent = "";
  $("test-image").max = info.n_test - 1;
  $("model-summary").textContent = `${info.parameter_count.toLocaleString()} parameters · ${info.n_train} training, ${info.n_test} test images`;
  $("model-blocks").replaceChildren(
    ...info.stages.map((stage) => {
      const block = document.createElement("div");
      block.className = `block ${stage.module.toLowerCase()}`;
      block.dataset.stage = stage.name;
      block.innerHTML = `<b></b><span></span>`;
      block.querySelector("b").textContent = stage.name;
      block.querySelector("span").textContent = `${stage.module} → ${stage.shape.join("×")}${stage.parameters ? ` · ${stage.parameters} params` : ""}`;
      return block;
    }),
  );
  inspect();
}

function showFrame(frame) {
  const started = performance.now();
  drawFrame(frame);
  const at = performance.now();
  timing.frames.push({ at, ms: at - started, step: frame.step, accuracy: frame.test_accuracy });
  if (timing.frames.length > TIMING_KEPT) timing.frames.splice(0, timing.frames.length - TIMING_KEPT);
}

function drawFrame(frame) {
  addLosses(frame);
  lineage.frame = frame;
  $("step-count").textContent = frame.step;
  $("epoch-count").textContent = frame.epoch.toFixed(2);
  $("test-accuracy").textContent = `${(frame.test_accuracy * 100).toFixed(1)} %`;
  $("test-loss").textContent = frame.test_loss === null ? "—" : frame.test_loss.toFixed(4);
  $("status").textContent =
    frame.status === "diverged" ? `Diverged: ${frame.diverged_reason}. Lower the learning rate, then Reset.` : frame.status;
  document.body.classList.toggle("running", frame.status === "running");
  filters.draw(frame.filters);
  lesson.frame(frame);
  showNorms(frame.norms);
  showGradients(frame.gradients, frame.gradient_flags);
  const phase = frame.phase && { ...frame.phase, skip_zero_grad: false, zero_grad_skipped: false };
  code.update({ listing, phase });
  confusion.draw(frame.confusion);
  lossCurve.update(curveOf(frame));
  timeline.update({ frame, runs: lineage.runs, sessionId: lineage.runId });
  if (performance.now() - lastInspect > INSPECT_EVERY_MS) inspect();
}

// The frame's losses are the steps that led to it; a loss that was not a number is of a step
// not taken (the run diverged there), one past the frame's step.
function addLosses(frame) {
  const losses = frame.train_losses;
  const last = frame.step + (losses.at(-1) === null ? 1 : 0);
  losses.forEach((loss, i) => lossPoints.push({ step: last - losses.length + 1 + i, loss }));
  if (lossPoints.length > CURVE_POINTS) lossPoints = lossPoints.slice(-CURVE_POINTS);
}

// A new current run: a branch keeps its parent's curve up to the step it left from; a run
// after a rebuild (branch step 0, no parent) starts empty.
function showRuns(runs) {
  lineage.runs = runs.map((run) => ({ ...run }));
  const current = runs.find((run) => run.current);
  if (current && current.id !== lineage.currentRun) {
    if (lineage.currentRun !== null) lossPoints = lossPoints.filter((p) => p.step <= current.branch_step);
    lineage.currentRun = current.id;
  }
  if (lineage.frame) timeline.update({ frame: lineage.frame, runs: lineage.runs, sessionId: lineage.runId });
}

// The loss curve's input: the current run's points and, when the overlay is on, the earlier
// runs' curves in their colours of the runs list.
function curveOf(frame) {
  const others = !$("show-other-runs").checked
    ? []
    : (lineage.runs || []).flatMap((run, i) =>
        run.current
          ? []
          : [{ id: run.id, colour: RUN_COLOURS[i % RUN_COLOURS.length], points: run.curve_steps.map((step, k) => ({ step, loss: run.curve_losses[k] })) }],
      );
  return { points: lossPoints, step: frame.step, others };
}

// Back at a kept step: the controls show the settings in force there, the curve the run's
// losses (the later ones too, until training on branches); the frame that follows draws it.
function showRewound(rewound) {
  form.show(rewound.config);
  remember(rewound.config);
  lossPoints = rewound.curve_steps.map((step, i) => ({ step, loss: rewound.curve_losses[i] })).slice(-CURVE_POINTS);
  $("error").textContent = "";
}

function showSampleCheck(check) {
  const agree = Math.abs(check.autograd - check.numeric) <= 1e-3 * Math.abs(check.numeric) + 1e-6;
  $("sample-check").textContent =
    `training image ${check.sample} (label ${check.label}), ${check.weight} = ${check.value.toPrecision(4)}: ` +
    `loss ${check.loss.toPrecision(5)}; ∂L/∂w by autograd ${check.autograd.toPrecision(6)}, ` +
    `by finite difference (h = ${check.step_size}) ${check.numeric.toPrecision(6)}: ${agree ? "they agree" : "they differ (a max-pool tie or a ReLU kink)"}`;
  $("sample-check").dataset.autograd = check.autograd;
  $("sample-check").dataset.numeric = check.numeric;
}

// Batch norm's running statistics: what eval mode (the test loss) normalises with.
function showNorms(norms) {
  const root = $("batchnorm-stats");
  root.hidden = norms.length === 0;
  const shown = (values) => values.slice(0, 8).map((v) => v.toPrecision(3)).join(", ") + (values.length > 8 ? ", …" : "");
  root.querySelector("[data-role=norm-rows]").replaceChildren(
    ...norms.map((norm) => {
      const row = document.createElement("p");
      row.className = "muted";
      row.dataset.layer = norm.name;
      row.dataset.runningMean = JSON.stringify(norm.running_mean);
      row.textContent = `${norm.name} after ${norm.batches_tracked} batches: mean [${shown(norm.running_mean)}], variance [${shown(norm.running_var)}]`;
      return row;
    }),
  );
}

// Gradient health per weight layer, from the last step; flags say what looks wrong and why.
function showGradients(layers, flags) {
  const root = $("gradient-health");
  if (layers.length === 0) return;
  const number = (v) => (v === null ? "not a number" : v.toExponential(2));
  root.querySelector("tbody").replaceChildren(
    ...layers.map((layer) => {
      const row = document.createElement("tr");
      row.dataset.layer = layer.name;
      row.dataset.gradNorm = layer.grad_norm;
      for (const text of [layer.name, number(layer.grad_norm), number(layer.mean_abs_grad), number(layer.update_ratio)]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    }),
  );
  root.querySelector("[data-role=flags]").replaceChildren(
    ...flags.map((message) => {
      const item = document.createElement("li");
      item.textContent = message;
      return item;
    }),
  );
}

function download(file) {
  const bytes = Uint8Array.from(atob(file.data), (c) => c.charCodeAt(0));
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
  link.download = file.filename;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}
