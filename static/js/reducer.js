// Server messages applied to the page's state: applyMessage(state, message) returns the next
// state and the effects the page must carry out (draw controls, send, show). No DOM, no socket.
import { ServerMessage } from "./protocol.js";
import { cloneConfig, sameSettings } from "./store.js";
import { frameLeftThePlane } from "./views/landscapeDecode.js";

export const Effect = Object.freeze({
  REMEMBER_SESSION: "rememberSession", // { sessionId }: kept across reloads of this tab
  REQUEST_SURFACE: "requestSurface", // the loss surface belongs to another run: ask again
  SEND_PHASE_OPTIONS: "sendPhaseOptions", // a resumed run keeps its phase options: send the page's
  SYNC_CONTROLS: "syncControls", // the controls and the URL follow state.config
  SHOW_ERROR: "showError", // { text }
  FRAME_RECEIVED: "frameReceived", // { frame }: hover inspection and the followed sample refresh
  SAMPLE_REPLY: "sampleReply", // { sample }
  SAMPLE_REFUSED: "sampleRefused", // { field }: the followed point or weight is gone
  INSPECTION: "inspection", // { inspection }
  NOTICE: "notice", // { text }: the server is shutting down, or the run was resumed from its store
});

const RESTARTED =
  "The server restarted or forgot this run: your settings were restored, the run's progress was lost.";

// A run read back from the server's store (after a restart, or on another server).
export const resumedAt = (step) => `Resumed at step ${step}: the run goes on where it stopped.`;

export function applyMessage(state, message) {
  const apply = HANDLERS[message.type];
  return apply ? apply(state, message) : { state, effects: [] };
}

const HANDLERS = {
  [ServerMessage.SESSION]: (state, message) => {
    // The page had a run and the server could not give it back (from memory or its store).
    const restarted = Boolean(state.sessionId) && !message.resumed;
    const effects = [
      { kind: Effect.REMEMBER_SESSION, sessionId: message.session_id },
      { kind: Effect.REQUEST_SURFACE },
      { kind: Effect.SEND_PHASE_OPTIONS },
      { kind: Effect.SYNC_CONTROLS },
    ];
    // Why the server could not give the run back (a first visit had none to lose).
    if (restarted) effects.push({ kind: Effect.SHOW_ERROR, text: message.notice ?? RESTARTED });
    if (message.resumed_step != null) effects.push({ kind: Effect.NOTICE, text: resumedAt(message.resumed_step) });
    // A new connection: requests sent on the old one will never be answered.
    const next = { ...state, ...confirmed(message.config), sessionId: message.session_id, pendingRequests: [], skipZeroGrad: null };
    return { state: next, effects };
  },

  [ServerMessage.SETTINGS]: (state, message) => {
    const pendingRequests = settled(state.pendingRequests, message.request_id);
    const next = { ...state, pendingRequests, confirmedConfig: cloneConfig(message.config), skipZeroGrad: message.skip_zero_grad };
    // While other changes of this page are still on their way, their controls stay as moved;
    // the answer to the last one brings the server's whole config.
    if (pendingRequests.length) return { state: next, effects: [] };
    // The page guessed right: the controls are left alone (one may hold a value being typed).
    if (sameSettings(state.config, message.config)) return { state: next, effects: [] };
    return { state: { ...next, config: cloneConfig(message.config) }, effects: [{ kind: Effect.SYNC_CONTROLS }] };
  },

  // The settings in force at that step are now the run's: the controls and the URL follow.
  [ServerMessage.REWOUND]: (state, message) => ({
    state: { ...state, ...confirmed(message.config) },
    effects: [{ kind: Effect.SYNC_CONTROLS }],
  }),

  [ServerMessage.ERROR]: (state, message) => {
    const effects = [];
    let next = state;
    if (message.field === "index" || message.field === "weight") effects.push({ kind: Effect.SAMPLE_REFUSED, field: message.field });
    if (message.request_id != null && state.pendingRequests.includes(message.request_id)) {
      // The server changed nothing: back to what it last confirmed.
      next = {
        ...state,
        pendingRequests: settled(state.pendingRequests, message.request_id),
        config: cloneConfig(state.confirmedConfig ?? state.config),
      };
      effects.push({ kind: Effect.SYNC_CONTROLS });
    }
    effects.push({ kind: Effect.SHOW_ERROR, text: message.message });
    return { state: next, effects };
  },

  [ServerMessage.FRAME]: (state, message) => {
    let lossHistory = message.losses_reset ? [] : state.lossHistory;
    if (message.losses.length) lossHistory = lossHistory.concat(message.losses);
    const historyChanged = message.losses_reset || message.losses.length > 0;
    const next = {
      ...state,
      frame: message,
      lossHistory,
      historyVersion: state.historyVersion + (historyChanged ? 1 : 0),
    };
    const effects = [{ kind: Effect.FRAME_RECEIVED, frame: message }];
    if (state.surface && state.surfaceRequestedAt !== message.step && frameLeftThePlane(message, state.surface)) {
      next.surfaceRequestedAt = message.step;
      effects.push({ kind: Effect.REQUEST_SURFACE });
    }
    return { state: next, effects };
  },

  [ServerMessage.DATA]: (state, message) => ({ state: { ...state, data: message }, effects: [] }),
  [ServerMessage.SURFACE]: (state, message) => ({ state: { ...state, surface: message }, effects: [] }),
  [ServerMessage.RACE]: (state, message) => ({ state: { ...state, race: message }, effects: [] }),
  [ServerMessage.AUTOGRAD]: (state, message) => ({ state: { ...state, autograd: message }, effects: [] }),
  [ServerMessage.CODE]: (state, message) => ({ state: { ...state, code: message }, effects: [] }),
  // The loss chart overlays the other runs: it redraws.
  [ServerMessage.RUNS]: (state, message) => ({
    state: { ...state, runs: message.runs, historyVersion: state.historyVersion + 1 },
    effects: [],
  }),
  [ServerMessage.SAMPLE]: (state, message) => ({ state, effects: [{ kind: Effect.SAMPLE_REPLY, sample: message }] }),
  [ServerMessage.INSPECTION]: (state, message) => ({ state, effects: [{ kind: Effect.INSPECTION, inspection: message }] }),
  [ServerMessage.SHUTDOWN]: (state, message) => ({ state, effects: [{ kind: Effect.NOTICE, text: message.message }] }),
};

// The requests still waiting once `requestId` is answered. The server answers a connection's
// requests in order, so an earlier one still waiting was dropped unanswered (too many messages
// a second): it is settled too, or it would hold the controls forever. Every page of a session
// hears each answer: another page's id (or none) settles none of this page's requests.
function settled(pending, requestId) {
  return pending.includes(requestId) ? pending.filter((id) => id > requestId) : pending;
}

// The server's config, as both the confirmed one and the one shown.
function confirmed(config) {
  return { config: cloneConfig(config), confirmedConfig: cloneConfig(config) };
}
