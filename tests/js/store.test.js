// The store's URL hash: a config survives the round trip, and a bad value falls back to the default.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  cloneConfig, configFromHash, DEFAULT_CONFIG, hashFromConfig, PACES, rejectedHashKeys, sameSettings, WATCH_PACE, withLiveChanges,
  withSectionChanges,
} from "../../static/js/store.js";

test("a config written to the hash reads back the same", () => {
  const config = cloneConfig(DEFAULT_CONFIG);
  config.data.dataset = "spiral";
  config.model.hidden_layers = [8, 3, 1];
  config.model.layer_activations = ["relu", "gelu", "tanh"];
  config.model.features = ["x1", "sin_x2"];
  config.training.learning_rate = 0.003;
  config.training.optimizer = "adam";
  config.training.nesterov = true;
  assert.deepEqual(configFromHash(hashFromConfig(config)), config);
});

test("an empty hash is the default config", () => {
  assert.deepEqual(configFromHash(""), cloneConfig(DEFAULT_CONFIG));
});

test("bad values fall back to the defaults and are named as rejected", () => {
  const hash = "#dataset=moon&learningRate=11&layers=4,0&batchSize=2.5&features=x1,x1&noise=0.2&bogus=1";
  const config = configFromHash(hash);
  assert.equal(config.data.dataset, DEFAULT_CONFIG.data.dataset);
  assert.equal(config.training.learning_rate, DEFAULT_CONFIG.training.learning_rate);
  assert.deepEqual(config.model.hidden_layers, DEFAULT_CONFIG.model.hidden_layers);
  assert.equal(config.training.batch_size, DEFAULT_CONFIG.training.batch_size);
  assert.deepEqual(config.model.features, DEFAULT_CONFIG.model.features);
  assert.equal(config.data.noise, 0.2);
  assert.deepEqual(rejectedHashKeys(hash).sort(), ["batchSize", "bogus", "dataset", "features", "layers", "learningRate"]);
});

test("the page's own keys are not called rejected", () => {
  assert.deepEqual(rejectedHashKeys("#lesson=xor&hide=code", ["lesson", "hide"]), []);
});

test("a live change of the model's knobs lands in the model section, leaving the original alone", () => {
  const config = cloneConfig(DEFAULT_CONFIG);
  config.model.layer_activations = ["relu", "relu"];
  const next = withLiveChanges(config, { activation: "gelu", learning_rate: 0.1, frozen_layers: [1] });
  assert.equal(next.model.activation, "gelu");
  assert.equal(next.model.layer_activations, null, "one activation for all layers drops the per-layer ones");
  assert.deepEqual(next.model.frozen_layers, [1]);
  assert.equal(next.training.learning_rate, 0.1);
  assert.equal("activation" in next.training, false);
  assert.deepEqual(config.model.layer_activations, ["relu", "relu"]);
  assert.equal(config.training.learning_rate, DEFAULT_CONFIG.training.learning_rate);
});

test("a rebuild changes one section's fields and keeps the rest", () => {
  const config = cloneConfig(DEFAULT_CONFIG);
  const next = withSectionChanges(config, "data", { noise: 0.3 });
  assert.equal(next.data.noise, 0.3);
  assert.equal(next.data.dataset, config.data.dataset);
  assert.equal(config.data.noise, 0);
});

test("two configs with the same settings are the same, whatever their keys' order", () => {
  const a = cloneConfig(DEFAULT_CONFIG);
  const b = { training: { ...a.training }, model: { ...a.model }, data: { ...a.data } };
  assert.ok(sameSettings(a, b));
  b.model.hidden_layers = [4, 3];
  assert.ok(!sameSettings(a, b));
  assert.ok(!sameSettings({ x: 1 }, { x: 1, y: undefined }));
  assert.ok(!sameSettings({ x: null }, { x: 0 }));
});

test("the pace is a setting of the link: it reads back, and the page starts at a watchable one", () => {
  assert.equal(DEFAULT_CONFIG.training.steps_per_frame, WATCH_PACE);
  assert.ok(WATCH_PACE > 0 && WATCH_PACE <= 25, "a few steps a frame, not the machine's full speed");
  assert.ok(PACES.includes(WATCH_PACE) && PACES.includes(0), "the menu runs from watch to max");
  for (const pace of [1, 0, 37]) {
    const config = cloneConfig(DEFAULT_CONFIG);
    config.training.steps_per_frame = pace;
    assert.equal(configFromHash(hashFromConfig(config)).training.steps_per_frame, pace);
  }
  assert.equal(configFromHash("#pace=-1").training.steps_per_frame, WATCH_PACE);
});
