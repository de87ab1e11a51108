// The one place state lives. The configuration is mirrored in the URL hash, so every view is a
// permalink; a bad or unknown value in the hash falls back to the default (as Playground does).

export const DEFAULT_CONFIG = Object.freeze({
  data: { dataset: "circle", n_points: 500, noise: 0, train_fraction: 0.5, seed: 0 },
  model: { hidden_layers: [4, 2], activation: "tanh", init: "default", seed: 0 },
  training: { learning_rate: 0.03, optimizer: "sgd", momentum: 0, batch_size: 10 },
});

// hash key → [section, field, parse]; one declarative table, like Playground's state.ts.
const HASH_KEYS = {
  dataset: ["data", "dataset", (v) => (["circle", "xor", "gauss", "spiral"].includes(v) ? v : undefined)],
  points: ["data", "n_points", intIn(10, 2000)],
  noise: ["data", "noise", numIn(0, 0.5)],
  trainFraction: ["data", "train_fraction", numIn(0.1, 0.9)],
  dataSeed: ["data", "seed", intIn(0, 2 ** 31 - 1)],
  layers: ["model", "hidden_layers", parseLayers],
  activation: ["model", "activation", (v) => (["relu", "tanh", "sigmoid", "linear"].includes(v) ? v : undefined)],
  init: ["model", "init", (v) => (["default", "playground", "xavier", "kaiming", "zeros"].includes(v) ? v : undefined)],
  seed: ["model", "seed", intIn(0, 2 ** 31 - 1)],
  learningRate: ["training", "learning_rate", numIn(1e-5, 10)],
  optimizer: ["training", "optimizer", (v) => (["sgd", "adam"].includes(v) ? v : undefined)],
  momentum: ["training", "momentum", numIn(0, 0.99)],
  batchSize: ["training", "batch_size", intIn(1, 2000)],
};

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

export function hashFromConfig(config) {
  const params = new URLSearchParams();
  for (const [key, [section, field]] of Object.entries(HASH_KEYS)) {
    const value = config[section][field];
    params.set(key, Array.isArray(value) ? value.join(",") : String(value));
  }
  return "#" + params.toString();
}

export function createStore(limits) {
  return {
    limits,
    config: configFromHash(location.hash),
    sessionId: sessionStorage.getItem("backprop-lab-session"),
    connected: false,
    data: null,          // the latest `data` message: points
    frame: null,         // the latest `frame` message
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
