// The toolbar's controls: each change goes out as a command, and syncControls shows a config
// (the one moved by the hand, or the server's after it answered).
import { ControlAction } from "./protocol.js";
import { PACES, WATCH_PACE } from "./store.js";
import { bindToolkit, syncToolkit } from "./toolkit.js";

const $ = (id) => document.getElementById(id);
const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);

export function syncControls(store) {
  const { data, model, training } = store.config;
  $("learning-rate").value = String(training.learning_rate);
  if ($("learning-rate").value !== String(training.learning_rate)) {
    // A learning rate from the URL that is not in the list still shows, as its own option.
    $("learning-rate").add(new Option(String(training.learning_rate), String(training.learning_rate), true, true));
  }
  $("activation").value = model.activation;
  $("optimizer").value = training.optimizer;
  $("momentum").value = String(training.momentum);
  showPace(training.steps_per_frame);
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
  if (store.skipZeroGrad !== null) $("skip-zero-grad").checked = store.skipZeroGrad;
  byTestId("add-layer").disabled = model.hidden_layers.length >= store.limits.max_hidden_layers;
  byTestId("remove-layer").disabled = model.hidden_layers.length <= store.limits.min_hidden_layers;
  syncToolkit(store.config);
}

// The speed menu: steps per frame of Play; a pace from a link that is not on the menu still shows.
const PACE_NAMES = { 1: "slowest", [WATCH_PACE]: "watch", 25: "Playground's" };

function paceLabel(steps) {
  if (steps === 0) return "max";
  const name = PACE_NAMES[steps] ? ` (${PACE_NAMES[steps]})` : "";
  return `${steps} step${steps === 1 ? "" : "s"}/frame${name}`;
}

function showPace(steps) {
  const menu = $("pace");
  if (![...menu.options].some((o) => Number(o.value) === steps)) menu.add(new Option(paceLabel(steps), String(steps)));
  menu.value = String(steps);
}

function bindPace({ setLive, runSteps }) {
  for (const steps of PACES) $("pace").add(new Option(paceLabel(steps), String(steps)));
  $("pace").addEventListener("change", (e) => setLive({ steps_per_frame: Number(e.target.value) }));
  $("run-steps").addEventListener("submit", (e) => {
    e.preventDefault();
    const count = $("run-steps-count");
    if (count.reportValidity()) runSteps(Number(count.value));
  });
}

export function bindControls({ store, commands, network }) {
  const { setLive, configureData, configureModel, control } = commands;
  byTestId("play").addEventListener("click", () => control(ControlAction.PLAY));
  byTestId("pause").addEventListener("click", () => control(ControlAction.PAUSE));
  byTestId("step").addEventListener("click", () => control(ControlAction.STEP));
  byTestId("step-phase").addEventListener("click", () => control(ControlAction.STEP_PHASE));
  byTestId("reset").addEventListener("click", () => control(ControlAction.RESET));
  $("skip-zero-grad").addEventListener("change", (e) => commands.setSkipZeroGrad(e.target.checked));
  $("skip-animation").addEventListener("click", () => network.skipAnimation());
  $("learning-rate").addEventListener("change", (e) => setLive({ learning_rate: Number(e.target.value) }));
  $("activation").addEventListener("change", (e) => setLive({ activation: e.target.value }));
  $("optimizer").addEventListener("change", (e) => setLive({ optimizer: e.target.value }));
  $("momentum").addEventListener("change", (e) => {
    const m = Math.min(0.99, Math.max(0, Number(e.target.value) || 0));
    setLive({ momentum: m });
  });
  $("batch-size").addEventListener("input", (e) => ($("batch-size-value").textContent = e.target.value));
  $("batch-size").addEventListener("change", (e) => setLive({ batch_size: Number(e.target.value) }));
  $("dataset").addEventListener("change", (e) => {
    // Images are a page of their own (/images): a CNN on the digits, with its own views.
    if (e.target.value === "digits") location.assign("/images");
    else configureData({ dataset: e.target.value });
  });
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
  $("batch-size").max = String(Math.min(store.limits.max_batch_size, 500));
  $("run-steps-count").max = String(store.limits.max_run_steps);
  bindPace(commands);
  bindToolkit({ setLive, configureModel });
}
