// The digits lab: a CNN (or an MLP on the pixels) learning the 8×8 digits live, its filters,
// feature maps, confusion matrix, a draw pad and the saliency of what it sees.
import { openChannel } from "./channel.js";
import { createConfusionView } from "./confusionView.js";
import { createDrawPad } from "./drawPad.js";
import { createFiltersView } from "./filtersView.js";
import { createInspectionView } from "./inspectionView.js";
import { createImageLandscapeView } from "./landscapeView.js";
import { createLesson } from "./lesson.js";
import { createModelForm } from "./modelForm.js";
import { paintGrey } from "./pictures.js";
import { ImageClientMessage, ImageControlAction, ImageServerMessage } from "./protocol.js";
import { createAutogradView } from "../views/autograd.js";
import { createCodePanel } from "../views/code.js";

const $ = (id) => document.querySelector(`[data-testid=${id}]`);
// Maps of the image being looked at follow the training, a few times a second.
const INSPECT_EVERY_MS = 250;
const CURVE_POINTS = 2000;

const losses = [];
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

// The settings live in the URL (#config=…): a link, a reload or a reconnect rebuilds the same
// model with the same seeds (the weights start afresh: image runs are not kept).
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
const landscape = createImageLandscapeView($("image-landscape").querySelector("[data-role=landscape]"), {
  onCompute: (request) => channel.send(ImageClientMessage.LANDSCAPE, request),
});
const code = createCodePanel($("code"));
const autogradView = createAutogradView($("autograd"));
let listing = null;

for (const action of Object.values(ImageControlAction)) {
  $(action.replace("_", "-")).addEventListener("click", () => channel.send(ImageClientMessage.CONTROL, { action }));
}
$("save-model").addEventListener("click", () => channel.send(ImageClientMessage.SAVE));
$("load-model").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  const bytes = new Uint8Array(await file.arrayBuffer());
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  channel.send(ImageClientMessage.LOAD, { data: btoa(text) });
  event.target.value = "";
});
$("clear-pad").addEventListener("click", () => pad.clear());
$("test-image").addEventListener("change", (event) => {
  looking = { test_index: Number(event.target.value) };
  inspect();
});

function inspect() {
  lastInspect = performance.now();
  channel.send(ImageClientMessage.INSPECT, looking);
}

function onState(state) {
  const remembered = state === "open" ? rememberedConfig() : null;
  if (remembered) channel.send(ImageClientMessage.CONFIGURE, { config: remembered });
  $("connection").textContent = state === "open" ? "" : `disconnected (${state}); reconnecting…`;
}

function onMessage(message) {
  if (message.type === ImageServerMessage.SESSION) showSession(message);
  else if (message.type === ImageServerMessage.FRAME) showFrame(message);
  else if (message.type === ImageServerMessage.INSPECTION) inspectionView.draw(message);
  else if (message.type === ImageServerMessage.CELL) confusion.showCell(message, (canvas, pixels) => paintGrey(canvas, pixels, 8, 5));
  else if (message.type === ImageServerMessage.MODEL_FILE) download(message);
  else if (message.type === ImageServerMessage.SAMPLE_CHECK) showSampleCheck(message);
  else if (message.type === ImageServerMessage.LANDSCAPE) landscape.show(message);
  else if (message.type === ImageServerMessage.CODE) {
    listing = message;
    code.update({ listing, phase: null });
  } else if (message.type === ImageServerMessage.AUTOGRAD) autogradView.update({ graph: message });
  else if (message.type === ImageServerMessage.ERROR) {
    $("error").textContent = message.message;
    landscape.refused();
  }
}

function showSession(info) {
  form.show(info.config);
  lesson.session(info);
  landscape.clear();
  losses.length = 0;
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
  for (const loss of frame.train_losses) losses.push(loss);
  if (losses.length > CURVE_POINTS) losses.splice(0, losses.length - CURVE_POINTS);
  $("step-count").textContent = frame.step;
  $("epoch-count").textContent = frame.epoch.toFixed(2);
  $("test-accuracy").textContent = `${(frame.test_accuracy * 100).toFixed(1)} %`;
  $("test-loss").textContent = frame.test_loss === null ? "—" : frame.test_loss.toFixed(4);
  $("status").textContent = frame.status === "diverged" ? "Diverged: the loss is not a number. Lower the learning rate, then Reset." : frame.status;
  document.body.classList.toggle("running", frame.status === "running");
  filters.draw(frame.filters);
  lesson.frame(frame);
  showNorms(frame.norms);
  showGradients(frame.gradients, frame.gradient_flags);
  const phase = frame.phase && { ...frame.phase, skip_zero_grad: false, zero_grad_skipped: false };
  code.update({ listing, phase });
  confusion.draw(frame.confusion);
  drawCurve();
  if (performance.now() - lastInspect > INSPECT_EVERY_MS) inspect();
}

function drawCurve() {
  const canvas = $("loss-chart");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const finite = losses.filter((v) => v !== null);
  if (finite.length < 2) return;
  const high = Math.max(...finite);
  ctx.strokeStyle = "#0877bd";
  ctx.beginPath();
  losses.forEach((v, i) => {
    if (v === null) return;
    const x = (i / (losses.length - 1)) * canvas.width;
    const y = canvas.height - (v / high) * (canvas.height - 4) - 2;
    if (i === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  });
  ctx.stroke();
  canvas.title = `training loss of the last ${losses.length} steps, 0 to ${high.toPrecision(3)}`;
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
