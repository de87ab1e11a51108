// The "See deeper" panel: curvature, the hidden space, neuron surgery and sweeps. It builds the
// four views, sends their requests and hands each its server messages; main.js mounts it,
// routes messages here and feeds it the frame.
import { ClientMessage, ServerMessage } from "./protocol.js";
import { createCurvatureView } from "./views/curvature.js";
import { createHiddenSpaceView } from "./views/hiddenSpace.js";
import { createSurgeryView } from "./views/surgery.js";
import { createSweepView } from "./views/sweep.js";

export function createDeeperPanel(parts, { socket, openSweepCell }) {
  const curvature = createCurvatureView(parts.curvature, {
    onRequest: (request) => socket.send(ClientMessage.CURVATURE, request),
  });
  const hiddenSpace = createHiddenSpaceView(parts.hiddenSpace, {
    onRequest: (request) => socket.send(ClientMessage.HIDDEN_SPACE, request),
  });
  const surgery = createSurgeryView(parts.surgery, {
    onEditWeight: (edit) => socket.send(ClientMessage.EDIT_WEIGHT, edit),
    onSwitchNeuron: (change) => socket.send(ClientMessage.SWITCH_NEURON, change),
  });
  const sweep = createSweepView(parts.sweep, {
    onStart: (request) => socket.send(ClientMessage.SWEEP, { action: "start", ...request }),
    onStop: () => socket.send(ClientMessage.SWEEP, { action: "stop" }),
    onOpen: openSweepCell,
  });
  const byMessage = {
    [ServerMessage.CURVATURE]: curvature,
    [ServerMessage.HIDDEN_SPACE]: hiddenSpace,
    [ServerMessage.SURGERY]: surgery,
    [ServerMessage.SWEEP]: sweep,
  };

  // True when the message was one of this panel's.
  function receive(message) {
    const view = byMessage[message.type];
    if (view) view.receive(message);
    return Boolean(view);
  }

  function update({ frame }) {
    for (const view of [curvature, hiddenSpace, surgery, sweep]) view.update({ frame });
  }

  return { receive, update, chooseEdge: surgery.chooseEdge };
}
