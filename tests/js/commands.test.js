// The page's commands: a setting moves the store at once and waits, under a fresh id, for the answer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createCommands } from "../../static/js/commands.js";
import { cloneConfig, DEFAULT_CONFIG } from "../../static/js/store.js";

function setUp({ open = true } = {}) {
  const sent = [];
  const socket = { send: (type, payload) => (open ? sent.push({ type, ...payload }) > 0 : false) };
  const store = { config: cloneConfig(DEFAULT_CONFIG), pendingRequests: [] };
  let shown = 0;
  const commands = createCommands({ socket, store, onConfigChange: () => (shown += 1) });
  return { sent, store, commands, shown: () => shown };
}

test("a live change is shown at once, sent with a fresh request id, and pending", () => {
  const { sent, store, commands, shown } = setUp();
  commands.setLive({ learning_rate: 0.3, activation: "relu" });
  commands.setLive({ batch_size: 20 });
  assert.equal(store.config.training.learning_rate, 0.3);
  assert.equal(store.config.model.activation, "relu");
  assert.equal(sent[0].type, "set");
  assert.equal(sent[0].learning_rate, 0.3);
  const ids = sent.map((m) => m.request_id);
  assert.ok(ids.every((id) => Number.isInteger(id) && id >= 0 && id < 2 ** 31));
  assert.equal(ids[1], ids[0] + 1);
  assert.deepEqual(store.pendingRequests, ids);
  assert.equal(shown(), 2);
});

test("a rebuild sends its whole section", () => {
  const { sent, store, commands } = setUp();
  commands.configureData({ noise: 0.25 });
  assert.equal(sent[0].type, "configure");
  assert.deepEqual(sent[0].data, { ...DEFAULT_CONFIG.data, noise: 0.25 });
  assert.equal("model" in sent[0], false);
  assert.equal(store.config.data.noise, 0.25);
});

test("a lesson pauses, rebuilds and sets, each change pending", () => {
  const { sent, store, commands } = setUp();
  const lesson = cloneConfig(DEFAULT_CONFIG);
  lesson.training.optimizer = "adam";
  commands.applyLesson(lesson, true);
  assert.deepEqual(sent.map((m) => m.type), ["control", "configure", "set"]);
  assert.equal(sent[2].optimizer, "adam");
  assert.equal(sent[2].skip_zero_grad, true);
  assert.deepEqual(store.pendingRequests, [sent[1].request_id, sent[2].request_id]);
});

test("a change that could not be sent awaits no answer", () => {
  const { store, commands } = setUp({ open: false });
  commands.setLive({ learning_rate: 0.3 });
  assert.deepEqual(store.pendingRequests, []);
  assert.equal(store.config.training.learning_rate, 0.3);
});

test("Run N steps sends a run control with its count", () => {
  const { sent, commands } = setUp();
  commands.runSteps(300);
  assert.deepEqual(sent, [{ type: "control", action: "run", steps: 300 }]);
});
