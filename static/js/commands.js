// Everything the page sends. A setting change moves the store's config at once (the controls
// answer the hand) and is remembered as pending under a fresh request id: the server's
// `settings` confirms it, its `error` with that id rolls it back (reducer.js).
import { ClientMessage, ControlAction } from "./protocol.js";
import { featuresFor, withLiveChanges, withSectionChanges } from "./store.js";

// The protocol's bound on request ids (0 ≤ id < 2³¹).
const REQUEST_ID_LIMIT = 2 ** 31;

export function createCommands({ socket, store, onConfigChange }) {
  // Every page of a session hears every answer with the requester's id: each page counts from
  // its own random start, so one page's ids are not mistaken for another's.
  let lastRequestId = Math.floor(Math.random() * (REQUEST_ID_LIMIT / 2));

  function nextRequestId() {
    lastRequestId = (lastRequestId % (REQUEST_ID_LIMIT - 1)) + 1;
    return lastRequestId;
  }

  // A request that was not sent (no connection) awaits no answer; the next `hello` carries
  // the page's config and the server's `session` reply settles it.
  function pending(requestId, sent) {
    if (sent) store.pendingRequests = [...store.pendingRequests, requestId];
  }

  function setLive(changes) {
    const requestId = nextRequestId();
    store.config = withLiveChanges(store.config, changes);
    pending(requestId, socket.send(ClientMessage.SET, { ...changes, request_id: requestId }));
    onConfigChange();
  }

  function configureModel(changes) {
    const requestId = nextRequestId();
    store.config = withSectionChanges(store.config, "model", changes);
    pending(requestId, socket.send(ClientMessage.CONFIGURE, { model: store.config.model, request_id: requestId }));
    onConfigChange();
  }

  // New data; on 1-D data the inputs made from x₂ (a constant 0 there) are dropped in the
  // same rebuild.
  function configureData(changes) {
    const requestId = nextRequestId();
    store.config = withSectionChanges(store.config, "data", changes);
    const { data, model } = store.config;
    const features = featuresFor(data.dataset, model.features);
    const message = { data, request_id: requestId };
    if (features.length !== model.features.length) {
      store.config = withSectionChanges(store.config, "model", { features });
      message.model = store.config.model;
    }
    pending(requestId, socket.send(ClientMessage.CONFIGURE, message));
    onConfigChange();
  }

  // Phase stepping's option: gradients accumulate across steps when zero_grad is skipped.
  function setSkipZeroGrad(skip) {
    const requestId = nextRequestId();
    pending(requestId, socket.send(ClientMessage.SET, { skip_zero_grad: skip, request_id: requestId }));
  }

  // A lesson goes through the ordinary messages: paused, configure (data, model), set (training).
  function applyLesson(config, skipZeroGrad) {
    control(ControlAction.PAUSE);
    store.config = config;
    const rebuild = nextRequestId();
    pending(rebuild, socket.send(ClientMessage.CONFIGURE, { data: config.data, model: config.model, request_id: rebuild }));
    const knobs = nextRequestId();
    pending(knobs, socket.send(ClientMessage.SET, { ...config.training, skip_zero_grad: skipZeroGrad, request_id: knobs }));
    onConfigChange();
  }

  function control(action) {
    socket.send(ClientMessage.CONTROL, { action });
  }

  // Run N steps: the server plays exactly `steps` more steps and pauses there.
  function runSteps(steps) {
    socket.send(ClientMessage.CONTROL, { action: ControlAction.RUN, steps });
  }

  return {
    setLive,
    configureModel,
    configureData,
    setSkipZeroGrad,
    applyLesson,
    control,
    runSteps,
    requestSurface: (request) => socket.send(ClientMessage.SURFACE, request),
    race: (request) => socket.send(ClientMessage.RACE, request),
    rewind: (step) => socket.send(ClientMessage.REWIND, { step }),
    sample: (request) => socket.send(ClientMessage.SAMPLE, request),
    inspect: (point) => socket.send(ClientMessage.INSPECT, point),
    editPoints: (edit) => socket.send(ClientMessage.EDIT_POINTS, edit),
    // The run a sweep's cell trained opens as a new run; the server's `settings` and frame follow.
    openSweepCell: (index) => socket.send(ClientMessage.OPEN_SWEEP_CELL, { index }),
  };
}
