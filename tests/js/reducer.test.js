// The reducer: the page's config follows the server's confirmations and rolls back on a refusal.
import { test } from "node:test";
import assert from "node:assert/strict";
import { applyMessage, Effect, resumedAt } from "../../static/js/reducer.js";
import { cloneConfig, DEFAULT_CONFIG, withLiveChanges } from "../../static/js/store.js";

function startState() {
  return {
    config: cloneConfig(DEFAULT_CONFIG), confirmedConfig: null, pendingRequests: [], skipZeroGrad: null,
    sessionId: null, frame: null, surface: null, surfaceRequestedAt: -1, lossHistory: [], historyVersion: 0,
  };
}

const kinds = (effects) => effects.map((e) => e.kind);

function connected() {
  const { state } = applyMessage(startState(), { type: "session", session_id: "s1", resumed: false, config: cloneConfig(DEFAULT_CONFIG) });
  return state;
}

// The page moves its config at once and remembers the request, as commands.js does.
function sent(state, requestId, changes) {
  return { ...state, config: withLiveChanges(state.config, changes), pendingRequests: [...state.pendingRequests, requestId] };
}

test("a session's config is shown and confirmed, and the page asks for a surface", () => {
  const config = cloneConfig(DEFAULT_CONFIG);
  config.training.learning_rate = 0.3;
  const { state, effects } = applyMessage({ ...startState(), pendingRequests: [4] }, { type: "session", session_id: "s1", resumed: true, config });
  assert.equal(state.config.training.learning_rate, 0.3);
  assert.deepEqual(state.confirmedConfig, config);
  assert.deepEqual(state.pendingRequests, [], "requests of an old connection are never answered");
  assert.deepEqual(kinds(effects), [Effect.REMEMBER_SESSION, Effect.REQUEST_SURFACE, Effect.SEND_PHASE_OPTIONS, Effect.SYNC_CONTROLS]);
});

test("a run the server could not give back says the run was lost", () => {
  const { effects } = applyMessage({ ...connected() }, { type: "session", session_id: "s1", resumed: false, config: cloneConfig(DEFAULT_CONFIG) });
  assert.ok(kinds(effects).includes(Effect.SHOW_ERROR));
  assert.ok(!kinds(effects).includes(Effect.NOTICE));
});

test("a first visit's new run says nothing, even with the store unavailable", () => {
  const notice = "The run could not be resumed (store unavailable): a new one starts with your settings.";
  const { effects } = applyMessage(startState(), { type: "session", session_id: "s1", resumed: false, notice, config: cloneConfig(DEFAULT_CONFIG) });
  assert.ok(!kinds(effects).includes(Effect.SHOW_ERROR));
});

test("a run read back from the store says at which step it resumed, not that it was lost", () => {
  const message = { type: "session", session_id: "s1", resumed: true, resumed_step: 1234, config: cloneConfig(DEFAULT_CONFIG) };
  const { effects } = applyMessage({ ...connected() }, message);
  assert.deepEqual(effects.filter((e) => e.kind === Effect.NOTICE), [{ kind: Effect.NOTICE, text: resumedAt(1234) }]);
  assert.match(resumedAt(1234), /resumed at step 1234/i);
  assert.ok(!kinds(effects).includes(Effect.SHOW_ERROR));
});

test("a stored run that could not be used shows the server's reason", () => {
  const notice = "The stored run could not be used (corrupt): a new one starts with your settings.";
  const message = { type: "session", session_id: "s1", resumed: false, notice, config: cloneConfig(DEFAULT_CONFIG) };
  const { effects } = applyMessage({ ...connected() }, message);
  assert.deepEqual(effects.filter((e) => e.kind === Effect.SHOW_ERROR), [{ kind: Effect.SHOW_ERROR, text: notice }]);
});

test("a refused change rolls the config back to the last confirmed one and shows the error", () => {
  const waiting = sent(connected(), 7, { learning_rate: 0.5, frozen_layers: [0, 1, 2] });
  assert.equal(waiting.config.training.learning_rate, 0.5);
  const { state, effects } = applyMessage(waiting, { type: "error", field: "frozen_layers", message: "no such layer", request_id: 7 });
  assert.deepEqual(state.config, cloneConfig(DEFAULT_CONFIG));
  assert.deepEqual(state.pendingRequests, []);
  assert.deepEqual(kinds(effects), [Effect.SYNC_CONTROLS, Effect.SHOW_ERROR]);
  assert.equal(effects[1].text, "no such layer");
});

test("an error that answers no pending request changes no config", () => {
  const waiting = sent(connected(), 7, { learning_rate: 0.5 });
  const { state, effects } = applyMessage(waiting, { type: "error", field: "type", message: "bad", request_id: null });
  assert.equal(state.config.training.learning_rate, 0.5);
  assert.deepEqual(state.pendingRequests, [7]);
  assert.deepEqual(kinds(effects), [Effect.SHOW_ERROR]);
});

test("an accepted change takes the server's config, which may differ from the page's guess", () => {
  const waiting = sent(connected(), 3, { optimizer: "adam", batch_size: 30 });
  // The server's config also names settings the page leaves to it (Adam's eps).
  const server = withLiveChanges(cloneConfig(DEFAULT_CONFIG), { optimizer: "adam", batch_size: 30, eps: 1e-8 });
  const { state, effects } = applyMessage(waiting, { type: "settings", config: server, skip_zero_grad: false, request_id: 3 });
  assert.deepEqual(state.config, server);
  assert.deepEqual(state.confirmedConfig, server);
  assert.deepEqual(state.pendingRequests, []);
  assert.equal(state.skipZeroGrad, false);
  assert.deepEqual(kinds(effects), [Effect.SYNC_CONTROLS]);
});

test("while another change is on its way, an answer confirms without moving the controls", () => {
  let state = sent(sent(connected(), 1, { learning_rate: 0.1 }), 2, { batch_size: 50 });
  const first = withLiveChanges(cloneConfig(DEFAULT_CONFIG), { learning_rate: 0.1 });
  const answer = applyMessage(state, { type: "settings", config: first, skip_zero_grad: false, request_id: 1 });
  state = answer.state;
  assert.equal(state.config.training.batch_size, 50, "the second change still shows");
  assert.deepEqual(state.confirmedConfig, first);
  assert.deepEqual(answer.effects, []);
  // The second is refused: back to what the server confirmed, the first change kept.
  const refused = applyMessage(state, { type: "error", field: "batch_size", message: "too big", request_id: 2 });
  assert.deepEqual(refused.state.config, first);
});

test("an answer also settles the earlier requests the server dropped unanswered", () => {
  // The server answers one connection's requests in order: an earlier id still waiting was
  // dropped (too many messages a second), and must not hold the controls forever.
  const waiting = sent(sent(connected(), 1, { learning_rate: 0.1 }), 2, { learning_rate: 0.3 });
  const server = withLiveChanges(cloneConfig(DEFAULT_CONFIG), { learning_rate: 0.3 });
  const { state } = applyMessage(waiting, { type: "settings", config: server, skip_zero_grad: false, request_id: 2 });
  assert.deepEqual(state.pendingRequests, []);
  assert.equal(state.config.training.learning_rate, 0.3);
});

test("another page's answer settles none of this page's requests", () => {
  const waiting = sent(connected(), 40, { learning_rate: 0.1 });
  const other = withLiveChanges(cloneConfig(DEFAULT_CONFIG), { batch_size: 20 });
  const { state, effects } = applyMessage(waiting, { type: "settings", config: other, skip_zero_grad: false, request_id: 900 });
  assert.deepEqual(state.pendingRequests, [40]);
  assert.equal(state.config.training.learning_rate, 0.1, "this page's change still shows until answered");
  assert.deepEqual(state.confirmedConfig, other);
  assert.deepEqual(effects, []);
});

test("a session forgets the phase option of the connection before", () => {
  const { state } = applyMessage({ ...connected(), skipZeroGrad: true }, { type: "session", session_id: "s1", resumed: true, config: cloneConfig(DEFAULT_CONFIG) });
  assert.equal(state.skipZeroGrad, null);
});

test("an answer that matches the page's guess leaves the controls alone", () => {
  const waiting = sent(connected(), 3, { learning_rate: 0.1 });
  const server = withLiveChanges(cloneConfig(DEFAULT_CONFIG), { learning_rate: 0.1 });
  const { state, effects } = applyMessage(waiting, { type: "settings", config: server, skip_zero_grad: false, request_id: 3 });
  assert.deepEqual(state.config, server);
  assert.deepEqual(effects, []);
});

test("another page's change (no request id) is followed when nothing is pending", () => {
  const server = withLiveChanges(cloneConfig(DEFAULT_CONFIG), { learning_rate: 1 });
  const { state, effects } = applyMessage(connected(), { type: "settings", config: server, skip_zero_grad: true, request_id: null });
  assert.equal(state.config.training.learning_rate, 1);
  assert.deepEqual(kinds(effects), [Effect.SYNC_CONTROLS]);
});

test("a rewind brings the settings of that step", () => {
  const then = withLiveChanges(cloneConfig(DEFAULT_CONFIG), { optimizer: "rmsprop" });
  const { state, effects } = applyMessage(sent(connected(), 9, { learning_rate: 2 }), { type: "rewound", step: 10, config: then });
  assert.deepEqual(state.config, then);
  assert.deepEqual(state.confirmedConfig, then);
  assert.deepEqual(kinds(effects), [Effect.SYNC_CONTROLS]);
});

function frame(step, { losses = [], reset = false, shapes = [[2, 2], [1, 2]] } = {}) {
  return { type: "frame", step, losses, losses_reset: reset, layers: shapes.map((shape) => ({ shape })) };
}

test("frames append their losses, a reset starts the history again", () => {
  let { state } = applyMessage(connected(), frame(1, { losses: [{ step: 1 }] }));
  ({ state } = applyMessage(state, frame(2, { losses: [{ step: 2 }] })));
  assert.deepEqual(state.lossHistory.map((p) => p.step), [1, 2]);
  assert.equal(state.historyVersion, 2);
  const before = state.lossHistory;
  ({ state } = applyMessage(state, frame(0, { reset: true })));
  assert.deepEqual(state.lossHistory, []);
  assert.equal(state.historyVersion, 3);
  assert.deepEqual(before.map((p) => p.step), [1, 2], "the previous state is not changed");
  ({ state } = applyMessage(state, frame(1)));
  assert.equal(state.historyVersion, 3, "no losses, no redraw of the chart");
});

// A surface of 9 parameters (2×2 + 2, then 1×2 + 1): its centre is 36 bytes of base64.
const SURFACE = { type: "surface", step: 5, center: Buffer.alloc(36).toString("base64") };

test("a frame of another network asks for a new surface, once", () => {
  const withSurface = applyMessage(connected(), SURFACE).state;
  const same = applyMessage(withSurface, frame(6));
  assert.ok(!kinds(same.effects).includes(Effect.REQUEST_SURFACE));
  const other = applyMessage(withSurface, frame(6, { shapes: [[3, 2], [1, 3]] }));
  assert.deepEqual(kinds(other.effects), [Effect.FRAME_RECEIVED, Effect.REQUEST_SURFACE]);
  const again = applyMessage(other.state, frame(6, { shapes: [[3, 2], [1, 3]] }));
  assert.ok(!kinds(again.effects).includes(Effect.REQUEST_SURFACE));
});

test("a frame from before the surface's step (a reset) asks for a new surface", () => {
  const withSurface = applyMessage(connected(), SURFACE).state;
  assert.ok(kinds(applyMessage(withSurface, frame(0)).effects).includes(Effect.REQUEST_SURFACE));
});

test("a refused sample point is passed on, with the error", () => {
  const { effects } = applyMessage(connected(), { type: "error", field: "index", message: "gone", request_id: null });
  assert.deepEqual(kinds(effects), [Effect.SAMPLE_REFUSED, Effect.SHOW_ERROR]);
});

test("an unknown message changes nothing", () => {
  const state = connected();
  assert.deepEqual(applyMessage(state, { type: "nonsense" }), { state, effects: [] });
});
