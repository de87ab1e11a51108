// Small untruths the page used to tell, each pinned: rounded-away gradients, a negative
// absolute value, a skipped line marked next, neurons and layers counted differently, x₂ on
// 1-D data, and dead ReLUs kept quiet.
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatNumber } from "../../static/js/views/colors.js";
import { largest } from "../../static/js/views/phase.js";
import { markedPhases } from "../../static/js/views/code.js";
import { neuronName } from "../../static/js/views/gradientNames.js";
import { cloneConfig, DEFAULT_CONFIG, featuresFor } from "../../static/js/store.js";
import { statusMessage } from "../../static/js/statusBar.js";
import { createCommands } from "../../static/js/commands.js";

test("a small gradient keeps two significant digits instead of rounding to 0.00", () => {
  assert.equal(formatNumber(0.0043, 2), "0.0043");
  assert.equal(formatNumber(-0.012, 2), "-0.012");
  assert.equal(formatNumber(0.0004, 2), "4.00e-4");
  assert.equal(formatNumber(0.25, 2), "0.25");
  assert.equal(formatNumber(0.0775, 4), "0.0775");
  for (const v of [0.001, 0.0099, -0.005, 0.05]) assert.notEqual(Number(formatNumber(v, 2)), 0);
});

test("the largest |∂L/∂w| is an absolute value, where the entry itself is negative", () => {
  const best = largest([[[0.01, -0.0775]], null, [[0.05]]]);
  assert.equal(best.value, -0.0775);
  assert.equal(best.magnitude, 0.0775);
  assert.deepEqual([best.layer, best.out, best.in], [0, 0, 1]);
});

test("with zero_grad() skipped its line is struck, never marked next", () => {
  const afterStep = { done: "step", next: "zero_grad", skip_zero_grad: true, zero_grad_skipped: false };
  assert.deepEqual(markedPhases(afterStep), { current: "step", next: "forward", skipped: "zero_grad" });
  const afterSkip = { done: "zero_grad", next: "forward", skip_zero_grad: true, zero_grad_skipped: true };
  assert.deepEqual(markedPhases(afterSkip), { current: null, next: "forward", skipped: "zero_grad" });
  const plain = { done: "step", next: "zero_grad", skip_zero_grad: false, zero_grad_skipped: false };
  assert.deepEqual(markedPhases(plain), { current: "step", next: "zero_grad", skipped: null });
});

test("neurons are counted from 1, like the layers", () => {
  assert.equal(neuronName(1, 0, 2), "neuron 1 of hidden layer 1");
  assert.equal(neuronName(2, 3, 2), "neuron 4 of hidden layer 2");
  assert.equal(neuronName(3, 0, 2), "output neuron 1");
});

test("on 1-D data the inputs made from x₂ are dropped, in the same rebuild as the data", () => {
  assert.deepEqual(featuresFor("sine", ["x1", "x2", "x1x2", "sin_x1"]), ["x1", "sin_x1"]);
  assert.deepEqual(featuresFor("sine", ["x2"]), ["x1"]);
  assert.deepEqual(featuresFor("circle", ["x1", "x2"]), ["x1", "x2"]);
  const sent = [];
  const store = { config: cloneConfig(DEFAULT_CONFIG), pendingRequests: [] };
  const commands = createCommands({ socket: { send: (type, m) => sent.push({ type, ...m }) > 0 }, store, onConfigChange: () => {} });
  commands.configureData({ dataset: "sine" });
  assert.equal(sent.length, 1);
  assert.equal(sent[0].data.dataset, "sine");
  assert.deepEqual(sent[0].model.features, ["x1"]);
  assert.deepEqual(store.config.model.features, ["x1"]);
});

test("dead ReLUs speak up in the status line while the run says running", () => {
  const flag = { kind: "dead_relu", layer: 0, message: "dead ReLUs: 4 of hidden layer 1's units output 0" };
  const frame = { status: "running", message: null, health: { flags: [{ kind: "large_update", message: "x" }, flag] } };
  const situation = { connected: true, connection: "", notice: "", error: "" };
  assert.equal(statusMessage(frame, situation), flag.message);
  assert.equal(statusMessage({ ...frame, message: "Diverged at step 3" }, situation), "Diverged at step 3");
  assert.equal(statusMessage({ ...frame, health: { flags: [] } }, situation), "");
  assert.equal(statusMessage(frame, { ...situation, error: "bad" }), "error: bad");
});
