// Wires the page: controls → commands, socket messages → reducer → store, store → views each frame.
import { ServerMessage } from "./protocol.js";
import { createSocket } from "./socket.js";
import { cloneConfig, createStore, DEFAULT_CONFIG, hashFromConfig, helloSessionId, rejectedHashKeys, rememberSession, sessionPath } from "./store.js";
import { applyMessage, Effect } from "./reducer.js";
import { createCommands } from "./commands.js";
import { bindControls, syncControls } from "./controls.js";
import { createSampleFollowing } from "./sampleFollowing.js";
import { renderCounters, renderStatus } from "./statusBar.js";
import { createBoundaryView } from "./views/boundary.js";
import { createLossChart } from "./views/lossChart.js";
import { createLandscapeView } from "./views/landscape.js";
import { createRaceView } from "./views/race.js";
import { createNetworkView } from "./views/network.js";
import { createAutogradView } from "./views/autograd.js";
import { createCodePanel } from "./views/code.js";
import { createPhaseView } from "./views/phase.js";
import { renderToolkit } from "./toolkit.js";
import { createLayerPanel } from "./views/layerPanel.js";
import { createLearningRateChart } from "./views/learningRateChart.js";
import { bindOwnData, createInspector, drawLabel, syncDrawClasses } from "./ownData.js";
import { createInspectionView } from "./views/inspection.js";
import { createPlaneInput } from "./views/planeInput.js";
import { bindKeyboard } from "./keyboard.js";
import { createClassroom, PAGE_KEYS, showUrlNotice } from "./classroom.js";
import { fillLessonMenu, findLesson, findPageLesson, lessonConfig, showLessonCard } from "./lessons.js";
import { lossChartData } from "./lossSeries.js";
import { bindExports } from "./exports.js";
import { createGradientHealthView } from "./views/gradientHealth.js";
import { createDistributionsView } from "./views/distributions.js";
import { createTimelineView, RUN_COLOURS } from "./views/timeline.js";
import { createSampleByHandView } from "./views/sampleByHand.js";
import { createRoom } from "./room.js";
import { createDeeperPanel } from "./deeper.js";
import { createProjector, projectorFromHash } from "./projector.js";

const $ = (id) => document.getElementById(id);
const ERROR_SHOWN_MS = 8000;
let drawPending = false; // an animation frame is requested (redraw)

const store = createStore(JSON.parse(document.body.dataset.limits));
// Read before the page first rewrites the hash: hidden controls, the lesson, refused values.
const classroom = createClassroom(location.hash);
const refusedHashKeys = rejectedHashKeys(location.hash, PAGE_KEYS);
const projector = createProjector($("projector-mode"), { initial: projectorFromHash(location.hash), onChange: () => writeHash() });
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
  showOtherRuns: false, // the loss chart overlays earlier runs and branches (with the same loss)
};

// Messages arrive only after this module has run: every view below exists by then.
const socket = createSocket({
  hello: () => ({ session_id: helloSessionId(store), config: store.config }),
  sessionId: () => helloSessionId(store),
  onConnection: ({ state, retryInMs, reason }) => {
    store.connected = state === "open";
    const why = ui.notice || reason || "the server cannot be reached";
    ui.connection = state === "open" ? "connected" : `${why} — reconnecting in ${(retryInMs / 1000).toFixed(1)} s`;
    if (state === "open") ui.notice = "";
    redraw();
  },
  onMessage: handleMessage,
});
const commands = createCommands({ socket, store, onConfigChange: showConfig });
const room = createRoom({ socket, root: $("room"), getConfig: () => cloneConfig(store.config), onError: showError });
const sample = createSampleFollowing({ ask: commands.sample });

// The backward phase's animation: milliseconds between one layer's gradients and the next's.
const BACKWARD_DELAYS = { slow: 1500, normal: 600, fast: 200 };

const network = createNetworkView($("network-graph"), {
  limits: store.limits,
  tooltip: $("tooltip"),
  backwardDelay: () => BACKWARD_DELAYS[$("backward-speed").value] ?? BACKWARD_DELAYS.normal,
  onLayersChange: (hidden) => commands.configureModel({ hidden_layers: hidden }),
  onHoverNeuron: (heatmap) => {
    ui.heatmapOverride = heatmap;
    redraw();
  },
  onEdgeClick: (weight) => {
    // With the sample panel open an edge picks the chain rule's weight, not a surface axis.
    if (sample.state.open) sample.chooseWeight(weight);
    else chooseSurfaceWeight(weight);
    deeper.chooseEdge(weight, store.frame); // ready to be typed over (neuron surgery)
    redraw();
  },
});
const boundary = createBoundaryView($("decision-boundary"));
// Drawn points and hover inference: the view reports, main sends.
const inspector = createInspector(commands.inspect);
const planeInput = createPlaneInput($("decision-boundary"), {
  onAdd: (point) => commands.editPoints({ add: [{ label: drawLabel(), ...point }] }),
  // With the sample panel open a click on a training point follows it by hand instead.
  onRemove: (point) => (sample.state.open ? pickSample(point) : commands.editPoints({ remove: [point] })),
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
  onActivations: (activations) => commands.setLive({ layer_activations: activations }),
  onFrozen: (frozen) => commands.setLive({ frozen_layers: frozen }),
});
const landscape = createLandscapeView($("loss-surface"), { limits: store.limits, onRequest: commands.requestSurface });
const raceView = createRaceView($("optimizer-race"), { onRace: commands.race });
const codePanel = createCodePanel($("code-panel"));
const phaseView = createPhaseView($("phase-details"), { phaseName: $("phase") });
const autogradView = createAutogradView($("autograd-graph"));
const gradientHealthView = createGradientHealthView($("gradient-health"));
const distributionsView = createDistributionsView($("distributions"));
const timelineView = createTimelineView($("timeline-view"), {
  onRewind: commands.rewind,
  exportUrl: (sessionId, runId, format) => sessionPath(sessionId, `runs/${runId}/history.${format}`),
});
const sampleView = createSampleByHandView($("sample-by-hand-view"), {
  onIndex: (index) => {
    sample.follow(index);
    redraw();
  },
  onCheck: sample.checkByHand,
});
const deeper = createDeeperPanel(
  { curvature: $("curvature"), hiddenSpace: $("hidden-space"), surgery: $("surgery"), sweep: $("sweep") },
  { socket, openSweepCell: commands.openSweepCell },
);
let drawnHistoryVersion = -1;

$("sample-by-hand").addEventListener("toggle", (event) => {
  sample.setOpen(event.target.open);
  redraw();
});

function pickSample(point) {
  const index = (store.data?.train || []).findIndex((p) => p.x1 === point.x1 && p.x2 === point.x2);
  if (index < 0) return showError("That is a test point: only training points take part in a step. Pick a filled one.");
  sample.follow(index);
  redraw();
}

// Two edges clicked on the network graph are the loss surface's axes (a third replaces the first).
function chooseSurfaceWeight(weight) {
  const same = (w) => w.layer === weight.layer && w.out_neuron === weight.out_neuron && w.in_neuron === weight.in_neuron;
  const kept = ui.selectedWeights.filter((w) => !same(w));
  ui.selectedWeights = kept.length < ui.selectedWeights.length ? kept : [...kept, weight].slice(-2);
  landscape.chooseWeights(ui.selectedWeights);
}

// ---- server messages: the reducer computes the state, the effects are carried out here -------

function handleMessage(message, parseMs = 0) {
  if (message.type === ServerMessage.FRAME) store.timing.pendingParseMs += parseMs;
  if (deeper.receive(message)) return redraw();
  const { state, effects } = applyMessage(store, message);
  Object.assign(store, state);
  for (const effect of effects) carryOut(effect);
  room.handle(message);
  redraw();
}

function carryOut(effect) {
  switch (effect.kind) {
    case Effect.REMEMBER_SESSION:
      return rememberSession(store, effect.sessionId);
    case Effect.REQUEST_SURFACE:
      return landscape.request();
    case Effect.SEND_PHASE_OPTIONS:
      return commands.setSkipZeroGrad($("skip-zero-grad").checked);
    case Effect.SYNC_CONTROLS:
      return showConfig();
    case Effect.SHOW_ERROR:
      return showError(effect.text);
    case Effect.FRAME_RECEIVED:
      if (inspector.active) inspector.refresh();
      return sample.refresh(effect.frame);
    case Effect.SAMPLE_REPLY:
      return sample.received(effect.sample);
    case Effect.SAMPLE_REFUSED:
      return sample.refused(effect.field);
    case Effect.INSPECTION:
      inspector.received();
      if (inspector.active) ui.inspection = effect.inspection;
      return undefined;
    case Effect.NOTICE:
      ui.notice = effect.text;
      return undefined;
    default:
      throw new Error(`no such effect: ${effect.kind}`);
  }
}

// The controls and the URL show the store's config.
function showConfig() {
  syncControls(store);
  writeHash();
}

function writeHash() {
  history.replaceState(null, "", hashFromConfig(store.config) + classroom.hashSuffix() + projector.hashSuffix());
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
  const followed = sample.state.open ? sample.state.reply : null;
  // The server's clipping norm says whether the gradients on show were clipped.
  const gradClipNorm = store.confirmedConfig?.training.grad_clip_norm ?? 0;
  if (frame) renderCounters(frame, gradClipNorm);
  network.update({ frame, showGradients: ui.showGradients, selectedEdges: ui.selectedWeights, edgeMode: $("edge-mode").value, sample: followed, gradClipNorm });
  landscape.update({ frame, surface: store.surface, race: store.race });
  raceView.update({ race: store.race });
  deeper.update({ frame });
  const followedPoint = sample.state.open ? store.data?.train[sample.state.index] || null : null;
  boundary.update({ frame, data: store.data, showTest: ui.showTest, discretize: ui.discretize, heatmapOverride: ui.heatmapOverride, followed: followedPoint });
  planeInput.update({ frame, data: store.data, showTest: ui.showTest });
  inspectionView.update({ inspection: ui.inspection, frame });
  syncDrawClasses(frame);
  const historyChanged = drawnHistoryVersion !== store.historyVersion;
  gradientHealthView.update({ lossHistory: store.lossHistory, health: frame?.health || null, healthVersion: frame?.health_version ?? null, historyChanged });
  distributionsView.update({ frame });
  timelineView.update({ frame, runs: store.runs, sessionId: store.sessionId });
  if (historyChanged) {
    drawnHistoryVersion = store.historyVersion;
    const chart = lossChartData(store, { showOtherRuns: ui.showOtherRuns, colours: RUN_COLOURS });
    lossChart.update({ lossHistory: chart.lossHistory, runs: chart.overlays, yRange: chart.yRange });
    showOtherRunsCount(chart.otherRuns);
    learningRateChart.update({ lossHistory: store.lossHistory });
  }
  if (ui.errorUntil <= performance.now()) ui.errorUntil = 0;
  renderStatus(frame, {
    connected: store.connected,
    connection: ui.connection,
    notice: ui.notice,
    error: ui.errorUntil ? ui.errorText : "",
  });
  renderToolkit(frame);
  layerPanel.update({ frame, model: store.config.model });
  phaseView.update({ frame, training: store.config.training });
  codePanel.update({ listing: store.code, phase: frame?.phase || null });
  autogradView.update({ graph: store.autograd });
  sampleView.update({ sample: followed, frame, weight: sample.state.weight, trainCount: store.data?.train.length });
  recordTiming(store.timing, drawnStep, performance.now() - drawStarted);
}

// The overlay switch says how many runs it would add, and how many have another loss.
function showOtherRunsCount({ comparable, otherLoss }) {
  const apart = otherLoss ? ` (${otherLoss} with another loss not shown)` : "";
  $("other-runs-text").textContent = `Overlay ${comparable} earlier run${comparable === 1 ? "" : "s"}${apart}`;
  $("show-other-runs").disabled = comparable === 0;
}

// Per drawn frame: JSON parse + every view's drawing, for `make bench` (browser_frame_ms_p95).
function recordTiming(timing, step, drawMs) {
  if (step === undefined || step === timing.lastStep) return;
  timing.lastStep = step;
  timing.frames.push({ at: performance.now(), step, ms: drawMs + timing.pendingParseMs });
  timing.pendingParseMs = 0;
  if (timing.frames.length > 2000) timing.frames.splice(0, 1000);
}

// ---- the page's own switches, lessons, classroom mode, shortcuts, exports --------------------

function bindViewSwitches() {
  for (const [id, key] of [["show-gradients", "showGradients"], ["show-test", "showTest"], ["discretize", "discretize"]]) {
    $(id).addEventListener("change", (e) => {
      ui[key] = e.target.checked;
      redraw();
    });
  }
  $("show-other-runs").addEventListener("change", (e) => {
    ui.showOtherRuns = e.target.checked;
    store.historyVersion += 1; // the chart redraws only when its data changed
    redraw();
  });
  bindOwnData({
    getSessionId: () => store.sessionId,
    onError: showError,
    // The server's answer to the upload: its config is the confirmed one.
    onModelLoaded: (config) => {
      store.config = cloneConfig(config);
      store.confirmedConfig = cloneConfig(config);
      showConfig();
    },
  });
}

function applyLesson(lesson) {
  const view = lesson.view || {};
  $("skip-zero-grad").checked = Boolean(view.skipZeroGrad);
  $("show-gradients").checked = ui.showGradients = Boolean(view.showGradients);
  const config = lessonConfig(lesson, DEFAULT_CONFIG);
  config.training.steps_per_frame = store.config.training.steps_per_frame; // the learner's pace stays
  commands.applyLesson(config, Boolean(view.skipZeroGrad));
}

function showLesson(lesson) {
  classroom.lesson = lesson?.id;
  $("lessons").value = lesson?.id || "";
  showLessonCard($("lesson-card"), lesson, { onClose: () => showLesson(null) });
  // The card says "Run N steps": Run steps is set to that N.
  if (lesson?.steps) $("run-steps-count").value = String(lesson.steps);
  writeHash();
}

function bindTeaching() {
  fillLessonMenu($("lessons"));
  $("lessons").addEventListener("change", (e) => {
    const elsewhere = findPageLesson(e.target.value);
    if (elsewhere) return location.assign(elsewhere.href);
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

bindControls({ store, commands, network });
bindViewSwitches();
bindTeaching();
showConfig();
redraw();
// For tests and the curious: the live store (read-only by convention) and the page's commands.
window.backpropLab = { store, cloneConfig, commands };
