// The websocket: connect, reconnect with backoff, resume the session, send commands.
import { decodeFloat32 } from "./base64.js";
import { ClientMessage, ServerMessage } from "./protocol.js";

const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000];

// `sessionId()`: the run's id, in the URL too (?session=) so that a balancer keeps the run on one
// server; `hello()` says hello with the same id.
export function createSocket({ onMessage, onConnection, hello, sessionId }) {
  let ws = null;
  let attempt = 0;
  let closedByUs = false;
  let timer = null;

  function url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/ws?session=${encodeURIComponent(sessionId())}`;
  }

  function connect() {
    ws = new WebSocket(url());
    ws.addEventListener("open", () => {
      attempt = 0;
      onConnection({ state: "open" });
      ws.send(JSON.stringify({ type: ClientMessage.HELLO, ...hello() }));
    });
    ws.addEventListener("message", (event) => {
      const started = performance.now();
      const message = JSON.parse(event.data);
      if (message.type === ServerMessage.FRAME) decodeLayers(message.layers);
      onMessage(message, performance.now() - started);
    });
    ws.addEventListener("close", (event) => {
      if (closedByUs) return;
      const delay = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
      attempt += 1;
      onConnection({ state: "closed", code: event.code, reason: event.reason, retryInMs: delay });
      timer = setTimeout(connect, delay);
    });
  }

  function send(type, payload = {}) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify({ type, ...payload }));
    return true;
  }

  function close() {
    closedByUs = true;
    clearTimeout(timer);
    if (ws) ws.close();
  }

  connect();
  return { send, close };
}

// A frame's layers carry float32 arrays as base64 (app/protocol.py LayerState): decoded once
// here into the weights[out][in] / biases[out] arrays every view reads, non-finite as null.
function decodeFloats(base64) {
  return Array.from(decodeFloat32(base64), (v) => (Number.isFinite(v) ? v : null));
}

function decodeMatrix(base64, [rows, columns]) {
  const flat = decodeFloats(base64);
  return Array.from({ length: rows }, (_, r) => flat.slice(r * columns, (r + 1) * columns));
}

export function decodeLayers(layers) {
  for (const layer of layers) {
    layer.weights = decodeMatrix(layer.weights, layer.shape);
    layer.biases = decodeFloats(layer.biases);
    if (layer.weight_grads !== null) layer.weight_grads = decodeMatrix(layer.weight_grads, layer.shape);
    if (layer.bias_grads !== null) layer.bias_grads = decodeFloats(layer.bias_grads);
  }
}
