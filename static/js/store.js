// The one place state lives. The configuration is mirrored in the URL hash, so every view is a
// permalink; a bad or unknown value in the hash falls back to the default (as Playground does).

// Steps per frame of Play the speed menu offers (0: as fast as the machine goes). The page
// starts at WATCH_PACE: the default circle's boundary forms between steps ~500 and ~1,500, so at
// 5 steps a frame (30 frames/s, 150 steps/s) it takes shape over some seven seconds, frame by
// frame; Playground's pace, one epoch a frame, is 25 steps of 10 points on 250 training points.
export const PACES = [1, 5, 25, 100, 500, 0];
export const WATCH_PACE = 5;

export const DEFAULT_CONFIG = Object.freeze({
  data: { dataset: "circle", n_points: 500, noise: 0, train_fraction: 0.5, seed: 0 },
  model: {
    hidden_layers: [4, 2], activation: "tanh", init: "default", seed: 0,
    layer_activations: null, features: ["x1", "x2"], frozen_layers: [],
  },
  training: {
    learning_rate: 0.03, optimizer: "sgd", momentum: 0, batch_size: 10,
    nesterov: false, beta1: 0.9, beta2: 0.999, alpha: 0.99,
    schedule: "constant", schedule_step_size: 100, schedule_gamma: 0.5, schedule_steps: 1000,
    weight_decay: 0, l1: 0, activation_penalty: "none", activation_penalty_strength: 0, grad_clip_norm: 0,
    steps_per_frame: WATCH_PACE,
  },
});

export const DATASETS = ["circle", "xor", "gauss", "spiral", "moons", "blobs", "plane", "sine"];
export const ACTIVATIONS = ["relu", "leaky_relu", "prelu", "elu", "gelu", "tanh", "sigmoid", "linear"];
export const OPTIMIZERS = ["sgd", "adam", "adamw", "rmsprop", "adagrad"];
export const SCHEDULES = ["constant", "step", "exponential", "cosine", "warmup"];
export const FEATURES = ["x1", "x2", "x1_squared", "x2_squared", "x1x2", "sin_x1", "sin_x2"];

// Data on a line: x₂ is 0 at every point, so an input made from x₂ is a constant.
export const ONE_D_DATASETS = ["sine"];
export const X2_FEATURES = ["x2", "x2_squared", "x1x2", "sin_x2"];

// The input features that mean something for `dataset`: on 1-D data those of x₁ alone (x₁ if
// none is left).
export function featuresFor(dataset, features) {
  if (!ONE_D_DATASETS.includes(dataset)) return features;
  const kept = features.filter((name) => !X2_FEATURES.includes(name));
  return kept.length ? kept : ["x1"];
}

// hash key → [section, field, parse]; one declarative table, like Playground's state.ts.
const HASH_KEYS = {
  dataset: ["data", "dataset", oneOf(DATASETS)],
  points: ["data", "n_points", intIn(10, 2000)],
  noise: ["data", "noise", numIn(0, 0.5)],
  trainFraction: ["data", "train_fraction", numIn(0.1, 0.9)],
  dataSeed: ["data", "seed", intIn(0, 2 ** 31 - 1)],
  layers: ["model", "hidden_layers", parseLayers],
  activation: ["model", "activation", oneOf(ACTIVATIONS)],
  layerActivations: ["model", "layer_activations", listOf(oneOf(ACTIVATIONS), 1, 6)],
  features: ["model", "features", parseFeatures],
  frozen: ["model", "frozen_layers", listOf(intIn(0, 6), 0, 7)],
  init: ["model", "init", (v) => (["default", "playground", "xavier", "kaiming", "zeros"].includes(v) ? v : undefined)],
  seed: ["model", "seed", intIn(0, 2 ** 31 - 1)],
  learningRate: ["training", "learning_rate", numIn(1e-5, 10)],
  optimizer: ["training", "optimizer", oneOf(OPTIMIZERS)],
  nesterov: ["training", "nesterov", (v) => (v === "true" ? true : v === "false" ? false : undefined)],
  beta1: ["training", "beta1", numIn(0, 0.999)],
  beta2: ["training", "beta2", numIn(0, 0.9999)],
  alpha: ["training", "alpha", numIn(0, 0.999)],
  schedule: ["training", "schedule", oneOf(SCHEDULES)],
  scheduleStepSize: ["training", "schedule_step_size", intIn(1, 100000)],
  scheduleGamma: ["training", "schedule_gamma", numIn(0.001, 1)],
  scheduleSteps: ["training", "schedule_steps", intIn(1, 100000)],
  weightDecay: ["training", "weight_decay", numIn(0, 1)],
  l1: ["training", "l1", numIn(0, 1)],
  activationPenalty: ["training", "activation_penalty", oneOf(["none", "l1", "l2"])],
  activationPenaltyStrength: ["training", "activation_penalty_strength", numIn(0, 1)],
  clip: ["training", "grad_clip_norm", numIn(0, 100)],
  momentum: ["training", "momentum", numIn(0, 0.99)],
  batchSize: ["training", "batch_size", intIn(1, 2000)],
  pace: ["training", "steps_per_frame", intIn(0, 10000)],
};

function oneOf(values) {
  return (v) => (values.includes(v) ? v : undefined);
}
function listOf(parse, min, max) {
  return (v) => {
    const items = v === "" ? [] : String(v).split(",").map(parse);
    return items.length >= min && items.length <= max && items.every((x) => x !== undefined) ? items : undefined;
  };
}
function parseFeatures(v) {
  const features = listOf(oneOf(FEATURES), 1, 7)(v);
  return features && new Set(features).size === features.length ? features : undefined;
}
function numIn(lo, hi) {
  return (v) => {
    const n = Number(v);
    return Number.isFinite(n) && n >= lo && n <= hi ? n : undefined;
  };
}
function intIn(lo, hi) {
  return (v) => {
    const n = numIn(lo, hi)(v);
    return Number.isInteger(n) ? n : undefined;
  };
}
function parseLayers(v) {
  const layers = String(v).split(",").map(Number);
  const ok = layers.length >= 1 && layers.length <= 6 && layers.every((n) => Number.isInteger(n) && n >= 1 && n <= 16);
  return ok ? layers : undefined;
}

export function cloneConfig(config) {
  return JSON.parse(JSON.stringify(config));
}

// Whether two configs (or any JSON values) hold the same settings, whatever their keys' order.
export function sameSettings(a, b) {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && sameSettings(a[k], b[k]));
}

export function configFromHash(hash) {
  const config = cloneConfig(DEFAULT_CONFIG);
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  for (const [key, [section, field, parse]] of Object.entries(HASH_KEYS)) {
    if (!params.has(key)) continue;
    const value = parse(params.get(key));
    if (value !== undefined) config[section][field] = value;
  }
  return config;
}

// The keys of `hash` that configFromHash could not use (a bad value, or no such setting), so the
// page can say they fell back to defaults. `otherKeys` are the page's own keys (classroom mode).
export function rejectedHashKeys(hash, otherKeys = []) {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  return [...params.keys()].filter((key) => {
    if (otherKeys.includes(key)) return false;
    const entry = Object.hasOwn(HASH_KEYS, key) ? HASH_KEYS[key] : null;
    return entry === null || entry[2](params.get(key)) === undefined;
  });
}

export function hashFromConfig(config) {
  const params = new URLSearchParams();
  for (const [key, [section, field]] of Object.entries(HASH_KEYS)) {
    const value = config[section][field];
    if (value === null || value === undefined) continue;
    params.set(key, Array.isArray(value) ? value.join(",") : String(value));
  }
  return "#" + params.toString();
}

// The model's live knobs are sent with `set` but kept in the model's section of the config (and
// of the URL); choosing one activation for all layers drops the per-layer choice.
const LIVE_MODEL_FIELDS = ["activation", "layer_activations", "frozen_layers"];

export function withLiveChanges(config, changes) {
  const next = cloneConfig(config);
  for (const [field, value] of Object.entries(changes)) {
    if (LIVE_MODEL_FIELDS.includes(field)) next.model[field] = value;
    else next.training[field] = value;
  }
  if ("activation" in changes) next.model.layer_activations = null;
  return next;
}

// A rebuild's section (`data` or `model`) with some of its fields changed.
export function withSectionChanges(config, section, changes) {
  return { ...cloneConfig(config), [section]: { ...config[section], ...cloneConfig(changes) } };
}

export function createStore(limits) {
  return {
    limits,
    config: configFromHash(location.hash),
    confirmedConfig: null, // the last config the server confirmed (`session`, `settings`, `rewound`)
    skipZeroGrad: null,    // the server's phase option (gradients accumulate), once it said
    pendingRequests: [],   // request ids of `set`/`configure` sent and not answered yet
    surfaceRequestedAt: -1, // the frame step at which a new surface was last asked for
    sessionId: sessionStorage.getItem("backprop-lab-session"),
    connected: false,
    data: null,          // the latest `data` message: points
    frame: null,         // the latest `frame` message
    autograd: null,      // the latest `autograd` message: the loss's backward graph
    code: null,          // the latest `code` message: the training loop as a script
    surface: null,       // the latest `surface` message: the loss landscape
    race: null,          // the latest `race` message: the optimizer race on that landscape
    runs: null,          // the latest `runs` message: the runs kept (branches), for overlay and export
    lossHistory: [],     // every loss point received, for the chart
    historyVersion: 0,   // bumped when lossHistory changes, so the chart redraws only then
    dirty: true,         // something to draw on the next animation frame
    timing: { frames: [], pendingParseMs: 0, lastStep: undefined }, // drawn frames, for benchmarks
  };
}

export function rememberSession(store, id) {
  store.sessionId = id;
  sessionStorage.setItem("backprop-lab-session", id);
}
