// Wires the page: controls → socket commands, socket messages → store, store → views each frame.
import { ClientMessage, ControlAction, ServerMessage } from "./protocol.js";
import { createSocket } from "./socket.js";
import { cloneConfig, createStore, DEFAULT_CONFIG, hashFromConfig, rejectedHashKeys, rememberSession } from "./store.js";
import { createBoundaryView } from "./views/boundary.js";
import { formatNumber } from "./views/colors.js";
import { createLossChart } from "./views/lossChart.js";
import { createLandscapeView } from "./views/landscape.js";
import { createRaceView } from "./views/race.js";
import { createNetworkView } from "./views/network.js";
import { createAutogradView } from "./views/autograd.js";
import { createCodePanel } from "./views/code.js";
import { createPhaseView } from "./views/phase.js";
import { bindToolkit, renderToolkit, syncToolkit } from "./toolkit.js";
import { createLayerPanel } from "./views/layerPanel.js";
import { createLearningRateChart } from "./views/learningRateChart.js";
import { bindOwnData, createInspector, drawLabel, syncDrawClasses } from "./ownData.js";
import { createInspectionView } from "./views/inspection.js";
import { createPlaneInput } from "./views/planeInput.js";
import { bindKeyboard } from "./keyboard.js";
import { createClassroom, PAGE_KEYS, showUrlNotice } from "./classroom.js";
import { fillLessonMenu, findLesson, lessonConfig, showLessonCard } from "./lessons.js";
import { bindExports } from "./exports.js";
import { createGradientHealthView } from "./views/gradientHealth.js";
import { createDistributionsView } from "./views/distributions.js";
import { createTimelineView, RUN_COLOURS } from "./views/timeline.js";
import { createSampleByHandView } from "./views/sampleByHand.js";

const $ = (id) => document.getElementById(id);
const ERROR_SHOWN_MS = 8000;
let drawPending = false; // an animation frame is requested (redraw)

const store = createStore(JSON.parse(document.body.dataset.limits));
// Read before the page first rewrites the hash: hidden controls, the lesson, refused values.
const classroom = createClassroom(location.hash);
const refusedHashKeys = rejectedHashKeys(location.hash, PAGE_KEYS);
const ui = {
  showGradients: false,
  showTest: false,
  discretize: false,
  heatmapOverride: null,
  errorUntil: 0,
  errorText: "",
  connection: "connecting",
  notice: "", // the server said it is shutting down: shown until the page is back
  selectedWeights: [], // edges clicked on the network graph: the loss surface's two weight axes
  inspection: null, // the model at the hovered point of the plane (an `inspection` message)
  // One sample by hand (issue 4): the point, the chain rule's weight, and the last `sample` reply.
  sample: { open: false, index: 0, weight: { layer: 0, out_neuron: 0, in_neuron: 0 }, check: false, reply: null, inFlight: false, sentAt: 0 },
};

// The backward phase's animation: milliseconds between one layer's gradients and the next's.
const BACKWARD_DELAYS = { slow: 1500, normal: 600, fast: 200 };

const network = createNetworkView($("network-graph"), {
  limits: store.limits,
  tooltip: $("tooltip"),
  backwardDelay: () => BACKWARD_DELAYS[$("backward-speed").value] ?? BACKWARD_DELAYS.normal,
  onLayersChange: (hidden) => configureModel({ hidden_layers: hidden }),
  onHoverNeuron: (heatmap) => {
    ui.heatmapOverride = heatmap;
    redraw();
  },
  onEdgeClick: (weight) => {
    if (ui.sample.open) {
      // With the sample panel open an edge picks the chain rule's weight, not a surface axis.
      ui.sample.weight = weight;
      ui.sample.check = false;
      requestSample();
      return;
    }
    const same = (w) => w.layer === weight.layer && w.out_neuron === weight.out_neuron && w.in_neuron === weight.in_neuron;
    const kept = ui.selectedWeights.filter((w) => !same(w));
    ui.selectedWeights = kept.length < ui.selectedWeights.length ? kept : [...kept, weight].slice(-2);
    redraw();
  },
});
const boundary = createBoundaryView($("decision-boundary"));
// Draw your own points and hover inference (issue 3): the view reports, main sends.
const inspector = createInspector((point) => socket.send(ClientMessage.INSPECT, point));
const planeInput = createPlaneInput($("decision-boundary"), {
  onAdd: (point) => socket.send(ClientMessage.EDIT_POINTS, { add: [{ label: drawLabel(), ...point }] }),
  // With the sample panel open a click on a training point follows it by hand instead.
  onRemove: (point) => (ui.sample.open ? pickSample(point) : socket.send(ClientMessage.EDIT_POINTS, { remove: [point] })),
  onHover: (point) => inspector.hover(point),
  onLeave: () => {
    inspector.leave();
    ui.inspection = null;
    redraw();
  },
});
const inspectionView = createInspectionView($("inspection"));
const lossChart = createLossChart($("loss-chart"));
const learningRateChart = createLearningRateChart($("lr-chart"));
const layerPanel = createLayerPanel($("layer-panel"), {
  onActivations: (activations) => setLive({ layer_activations: activations }),
  onFrozen: (frozen) => setLive({ frozen_layers: frozen }),
});
const landscape = createLandscapeView($("loss-surface"), {
  limits: store.limits,
  onRequest: (request) => socket.send(ClientMessage.SURFACE, request),
});
const raceView = createRaceView($("optimizer-race"), {
  onRace: (request) => socket.send(ClientMessage.RACE, request),
});
const codePanel = createCodePanel($("code-panel"));
const phaseView = createPhaseView($("phase-details"), { phaseName: $("phase") });
const autogradView = createAutogradView($("autograd-graph"));
// Gradient health, distributions, and the rewindable history (issue 6).
const gradientHealthView = createGradientHealthView($("gradient-health"));
const distributionsView = createDistributionsView($("distributions"));
const timelineView = createTimelineView($("timeline-view"), {
  onRewind: (step) => socket.send(ClientMessage.REWIND, { step }),
  exportUrl: (sessionId, runId, format) => `/api/sessions/${encodeURIComponent(sessionId)}/runs/${runId}/history.${format}`,
});
function followSample(index) {
  ui.sample.index = index;
  ui.sample.check = false;
  requestSample();
  redraw();
}

function pickSample(point) {
  const index = (store.data?.train || []).findIndex((p) => p.x1 === point.x1 && p.x2 === point.x2);
  if (index >= 0) followSample(index);
  else showError("That is a test point: only training points take part in a step. Pick a filled one.");
}

const sampleView = createSampleByHandView($("sample-by-hand-view"), {
  onIndex: followSample,
  onCheck: () => {
    ui.sample.check = true;
    requestSample();
  },
});
$("sample-by-hand").addEventListener("toggle", (event) => {
  ui.sample.open = event.target.open;
  if (ui.sample.open) requestSample();
  else ui.sample.reply = null;
  redraw();
});
let drawnHistoryVersion = -1;

// The answer is computed under the engine lock: one request at a time, and while training runs
// at most a few a second, so following a sample never slows the run down.
const SAMPLE_REFRESH_MS = 300;
function requestSample() {
  const s = ui.sample;
  s.inFlight = true;
  s.sentAt = performance.now();
  socket.send(ClientMessage.SAMPLE, { index: s.index, weight: s.weight, check: s.check });
}

// The point or the weight is gone (new data, a smaller model): no stale numbers are kept, and a
// missing weight falls back to the first one.
function refusedSample(field) {
  const s = ui.sample;
  s.inFlight = false;
  s.reply = null;
  if (field === "weight" && s.open) {
    s.weight = { layer: 0, out_neuron: 0, in_neuron: 0 };
    s.check = false;
    requestSample();
  }
}

function refreshSample(frame) {
  const s = ui.sample;
  if (!s.open || s.inFlight || !s.reply || s.reply.step === frame.step) return;
  if (frame.status === "running" && performance.now() - s.sentAt < SAMPLE_REFRESH_MS) return;
  requestSample();
}

const socket = createSocket({
  hello: () => (store.sessionId ? { session_id: store.sessionId, config: store.config } : { config: store.config }),
  onConnection: ({ state, retryInMs, reason }) => {
    store.connected = state === "open";
    const why = ui.notice || reason || "the server cannot be reached";
    ui.connection = state === "open" ? "connected" : `${why} — reconnecting in ${(retryInMs / 1000).toFixed(1)} s`;
    if (state === "open") ui.notice = "";
    redraw();
  },
  onMessage: handleMessage,
});

function handleMessage(message, parseMs = 0) {
  if (message.type === ServerMessage.FRAME) store.timing.pendingParseMs += parseMs;
  switch (message.type) {
    case ServerMessage.SESSION: {
      const hadSession = store.sessionId && store.sessionId !== message.session_id;
      rememberSession(store, message.session_id);
      landscape.request();
      // The server keeps a resumed run's phase options: tell it what this page's toggle says.
      socket.send(ClientMessage.SET, { skip_zero_grad: $("skip-zero-grad").checked });
      store.config = message.config;
      syncControls();
      if (hadSession) showError("The server restarted or forgot this run: your settings were restored, the run's progress was lost.");
      break;
    }
    case ServerMessage.DATA:
      store.data = message;
      break;
    case ServerMessage.SURFACE:
      store.surface = message;
      break;
    case ServerMessage.RACE:
      store.race = message;
      break;
    case ServerMessage.FRAME:
      if (message.losses_reset) store.lossHistory = [];
      if (message.losses.length) {
        store.lossHistory.push(...message.losses);
        store.historyVersion += 1;
      } else if (message.losses_reset) {
        store.historyVersion += 1;
      }
      store.frame = message;
      if (inspector.active) inspector.refresh();
      refreshSample(message);
      break;
    case ServerMessage.SAMPLE:
      ui.sample.inFlight = false;
      if (ui.sample.open) ui.sample.reply = message;
      break;
    case ServerMessage.AUTOGRAD:
      store.autograd = message;
      break;
    case ServerMessage.RUNS:
      store.runs = message.runs;
      store.historyVersion += 1; // the loss chart overlays the other runs
      break;
    case ServerMessage.REWOUND:
      // The settings in force at that step are now the run's: the controls and the URL follow.
      store.config = message.config;
      syncControls();
      writeHash();
      break;
    case ServerMessage.INSPECTION:
      inspector.received();
      if (inspector.active) ui.inspection = message;
      break;
    case ServerMessage.CODE:
      store.code = message;
      break;
    case ServerMessage.ERROR:
      if (message.field === "index" || message.field === "weight") refusedSample(message.field);
      showError(message.message);
      break;
    case ServerMessage.SHUTDOWN:
      ui.notice = message.message;
      break;
    default:
      return;
  }
  redraw();
}

function showError(text) {
  ui.errorText = text;
  ui.errorUntil = performance.now() + ERROR_SHOWN_MS;
  redraw();
  setTimeout(redraw, ERROR_SHOWN_MS + 50); // takes it down again
}

// ---- drawing: the latest state, once per animation frame -----------------------------------

// Drawn in the animation frame after something changed, never in an idle loop: each animation
// frame runs the browser's whole frame pipeline, 60 times a second even while paused.
function redraw() {
  store.dirty = true;
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(render);
}

function render() {
  drawPending = false;
  if (!store.dirty) return;
  store.dirty = false;
  const drawStarted = performance.now();
  const drawnStep = store.frame?.step;
  const frame = store.frame;
  if (frame) {
    $("step-count").textContent = String(frame.step);
    $("epoch-count").textContent = frame.epoch.toFixed(1);
    $("train-loss").textContent = formatNumber(frame.train_loss);
    $("test-loss").textContent = formatNumber(frame.test_loss);
    $("accuracy").textContent = frame.test_accuracy === null ? "—" : `${(frame.test_accuracy * 100).toFixed(1)}% test, ${(frame.train_accuracy * 100).toFixed(1)}% training`;
    $("speed").textContent = frame.status === "running" ? `${Math.round(frame.steps_per_second)} steps/s` : "";
  }
  network.update({ frame, showGradients: ui.showGradients, selectedEdges: ui.selectedWeights, edgeMode: $("edge-mode").value, sample: ui.sample.open ? ui.sample.reply : null });
  landscape.update({ frame, surface: store.surface, selectedWeights: ui.selectedWeights, race: store.race });
  raceView.update({ race: store.race });
  const followed = ui.sample.open ? store.data?.train[ui.sample.index] || null : null;
  boundary.update({ frame, data: store.data, showTest: ui.showTest, discretize: ui.discretize, heatmapOverride: ui.heatmapOverride, followed });
  planeInput.update({ frame, data: store.data, showTest: ui.showTest });
  inspectionView.update({ inspection: ui.inspection, frame });
  syncDrawClasses(frame);
  const historyChanged = drawnHistoryVersion !== store.historyVersion;
  gradientHealthView.update({ lossHistory: store.lossHistory, health: frame?.health || null, healthVersion: frame?.health_version ?? null, historyChanged });
  distributionsView.update({ frame });
  timelineView.update({ frame, runs: store.runs, sessionId: store.sessionId });
  if (historyChanged) {
    drawnHistoryVersion = store.historyVersion;
    const overlays = (store.runs || []).filter((r) => !r.current).map((r, i) => ({ ...r, colour: RUN_COLOURS[i % RUN_COLOURS.length] }));
    lossChart.update({ lossHistory: store.lossHistory, runs: overlays });
    learningRateChart.update({ lossHistory: store.lossHistory });
  }
  renderStatus(frame);
  renderToolkit(frame);
  layerPanel.update({ frame });
  phaseView.update({ frame, training: store.config.training });
  codePanel.update({ listing: store.code, phase: frame?.phase || null });
  autogradView.update({ graph: store.autograd });
  sampleView.update({ sample: ui.sample.open ? ui.sample.reply : null, frame, weight: ui.sample.weight, trainCount: store.data?.train.length });
  recordTiming(store.timing, drawnStep, performance.now() - drawStarted);
}

// Per drawn frame: JSON parse + every view's drawing, for `make bench` (browser_frame_ms_p95).
function recordTiming(timing, step, drawMs) {
  if (step === undefined || step === timing.lastStep) return;
  timing.lastStep = step;
  timing.frames.push({ at: performance.now(), step, ms: drawMs + timing.pendingParseMs });
  timing.pendingParseMs = 0;
  if (timing.frames.length > 2000) timing.frames.splice(0, 1000);
}

function renderStatus(frame) {
  const word = !store.connected ? "disconnected" : frame ? frame.status : "connecting";
  $("status-word").textContent = word;
  $("status").dataset.state = word;
  let message = frame?.message || "";
  if (ui.notice) message = ui.notice;
  if (!store.connected) message = ui.connection;
  if (ui.errorUntil > performance.now()) message = `error: ${ui.errorText}`;
  else ui.errorUntil = 0;
  $("status-message").textContent = message;
  document.body.classList.toggle("running", frame?.status === "running");
}

// ---- controls -------------------------------------------------------------------------------

function control(action) {
  socket.send(ClientMessage.CONTROL, { action });
}

function setLive(changes) {
  Object.assign(store.config.training, changes);
  // Live model knobs live in the model's section of the config (and of the URL).
  for (const field of ["activation", "layer_activations", "frozen_layers"]) {
    if (field in changes) store.config.model[field] = changes[field];
    delete store.config.training[field];
  }
  if ("activation" in changes) store.config.model.layer_activations = null;
  socket.send(ClientMessage.SET, changes);
  writeHash();
}

function configureModel(changes) {
  store.config.model = { ...store.config.model, ...changes };
  socket.send(ClientMessage.CONFIGURE, { model: store.config.model });
  syncControls();
  writeHash();
}

function configureData(changes) {
  store.config.data = { ...store.config.data, ...changes };
  socket.send(ClientMessage.CONFIGURE, { data: store.config.data });
  syncControls();
  writeHash();
}

function writeHash() {
  history.replaceState(null, "", hashFromConfig(store.config) + classroom.hashSuffix());
}

function syncControls() {
  const { data, model, training } = store.config;
  $("learning-rate").value = String(training.learning_rate);
  if ($("learning-rate").value !== String(training.learning_rate)) {
    // A learning rate from the URL that is not in the list still shows, as its own option.
    $("learning-rate").add(new Option(String(training.learning_rate), String(training.learning_rate), true, true));
  }
  $("activation").value = model.activation;
  $("optimizer").value = training.optimizer;
  $("momentum").value = String(training.momentum);
  $("batch-size").value = String(training.batch_size);
  $("batch-size-value").textContent = String(training.batch_size);
  $("dataset").value = data.dataset;
  $("noise").value = String(Math.round(data.noise * 100));
  $("noise-value").textContent = String(Math.round(data.noise * 100));
  $("train-fraction").value = String(Math.round(data.train_fraction * 100));
  $("train-fraction-value").textContent = `${Math.round(data.train_fraction * 100)}%`;
  $("n-points").value = String(data.n_points);
  $("n-points-value").textContent = String(data.n_points);
  $("layer-count").textContent = String(model.hidden_layers.length);
  document.querySelector('[data-testid="add-layer"]').disabled = model.hidden_layers.length >= store.limits.max_hidden_layers;
  document.querySelector('[data-testid="remove-layer"]').disabled = model.hidden_layers.length <= store.limits.min_hidden_layers;
  syncToolkit(store.config);
}

function bind() {
  const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);
  byTestId("play").addEventListener("click", () => control(ControlAction.PLAY));
  byTestId("pause").addEventListener("click", () => control(ControlAction.PAUSE));
  byTestId("step").addEventListener("click", () => control(ControlAction.STEP));
  byTestId("step-phase").addEventListener("click", () => control(ControlAction.STEP_PHASE));
  $("skip-zero-grad").addEventListener("change", (e) => socket.send(ClientMessage.SET, { skip_zero_grad: e.target.checked }));
  $("skip-animation").addEventListener("click", () => network.skipAnimation());
  byTestId("reset").addEventListener("click", () => control(ControlAction.RESET));
  $("learning-rate").addEventListener("change", (e) => setLive({ learning_rate: Number(e.target.value) }));
  $("activation").addEventListener("change", (e) => setLive({ activation: e.target.value }));
  $("optimizer").addEventListener("change", (e) => {
    setLive({ optimizer: e.target.value });
    syncControls();
  });
  $("momentum").addEventListener("change", (e) => {
    const m = Math.min(0.99, Math.max(0, Number(e.target.value) || 0));
    setLive({ momentum: m });
  });
  $("batch-size").addEventListener("input", (e) => ($("batch-size-value").textContent = e.target.value));
  $("batch-size").addEventListener("change", (e) => setLive({ batch_size: Number(e.target.value) }));
  $("dataset").addEventListener("change", (e) => configureData({ dataset: e.target.value }));
  $("noise").addEventListener("input", (e) => ($("noise-value").textContent = e.target.value));
  $("noise").addEventListener("change", (e) => configureData({ noise: Number(e.target.value) / 100 }));
  $("train-fraction").addEventListener("input", (e) => ($("train-fraction-value").textContent = `${e.target.value}%`));
  $("train-fraction").addEventListener("change", (e) => configureData({ train_fraction: Number(e.target.value) / 100 }));
  $("n-points").addEventListener("input", (e) => ($("n-points-value").textContent = e.target.value));
  $("n-points").addEventListener("change", (e) => configureData({ n_points: Number(e.target.value) }));
  $("regenerate").addEventListener("click", () => configureData({ seed: (store.config.data.seed + 1) % 2 ** 31 }));
  byTestId("add-layer").addEventListener("click", () => {
    const layers = store.config.model.hidden_layers;
    if (layers.length < store.limits.max_hidden_layers) configureModel({ hidden_layers: [...layers, 2] });
  });
  byTestId("remove-layer").addEventListener("click", () => {
    const layers = store.config.model.hidden_layers;
    if (layers.length > store.limits.min_hidden_layers) configureModel({ hidden_layers: layers.slice(0, -1) });
  });
  $("show-gradients").addEventListener("change", (e) => {
    ui.showGradients = e.target.checked;
    redraw();
  });
  $("show-test").addEventListener("change", (e) => {
    ui.showTest = e.target.checked;
    redraw();
  });
  $("discretize").addEventListener("change", (e) => {
    ui.discretize = e.target.checked;
    redraw();
  });
  $("batch-size").max = String(Math.min(store.limits.max_batch_size, 500));
  bindToolkit({ setLive, configureModel, getConfig: () => store.config });
  bindOwnData({
    getSessionId: () => store.sessionId,
    onError: showError,
    onModelLoaded: (config) => {
      store.config = config;
      syncControls();
      writeHash();
    },
  });
}

// ---- lessons, classroom mode, shortcuts, exports (issue 9) -----------------------------------

// A lesson goes through the ordinary messages: paused, configure (data, model), set (training).
function applyLesson(lesson) {
  const config = lessonConfig(lesson, DEFAULT_CONFIG);
  const view = lesson.view || {};
  store.config = config;
  control(ControlAction.PAUSE);
  socket.send(ClientMessage.CONFIGURE, { data: config.data, model: config.model });
  socket.send(ClientMessage.SET, { ...config.training, skip_zero_grad: Boolean(view.skipZeroGrad) });
  $("skip-zero-grad").checked = Boolean(view.skipZeroGrad);
  $("show-gradients").checked = ui.showGradients = Boolean(view.showGradients);
  syncControls();
}

function showLesson(lesson) {
  classroom.lesson = lesson?.id;
  $("lessons").value = lesson?.id || "";
  showLessonCard($("lesson-card"), lesson, { onClose: () => showLesson(null) });
  writeHash();
}

function bindTeaching() {
  fillLessonMenu($("lessons"));
  $("lessons").addEventListener("change", (e) => {
    const lesson = findLesson(e.target.value);
    if (lesson) applyLesson(lesson);
    showLesson(lesson);
  });
  classroom.applyHiding();
  const linkedLesson = classroom.lesson;
  showLesson(findLesson(linkedLesson)); // the link's settings are in its hash: shown, not reapplied
  showUrlNotice($("url-notice"), {
    rejectedKeys: refusedHashKeys,
    unknownNames: classroom.unknownNames(),
    unknownLesson: findLesson(linkedLesson) ? "" : linkedLesson,
  });
  bindKeyboard({ helpButton: $("shortcuts-button") });
  bindExports({
    views: { network: $("network-graph"), boundary: $("decision-boundary"), lossChart: $("loss-chart") },
    getSessionId: () => store.sessionId,
    getConfig: () => store.config,
    getHistory: () => store.lossHistory,
    getStep: () => store.frame?.step ?? 0,
    onError: showError,
    menu: $("export-menu"),
  });
}

bind();
bindTeaching();
syncControls();
writeHash();
redraw();
// For tests and the curious: the live store, read-only by convention.
window.backpropLab = { store, cloneConfig };
