// The websocket: connect, reconnect with backoff, resume the session, send commands.
import { ClientMessage } from "./protocol.js";

const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000];

export function createSocket({ onMessage, onConnection, hello }) {
  let ws = null;
  let attempt = 0;
  let closedByUs = false;
  let timer = null;

  function url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/ws`;
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
