// The digits lab's socket: connects, reconnects with backoff (a fresh run: image runs are not
// kept across a disconnect), and sends messages named in protocol.js.
const BACKOFF_MS = [250, 500, 1000, 2000, 4000];

export function openChannel({ onMessage, onState }) {
  let ws = null;
  let attempt = 0;

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(`${scheme}//${location.host}/ws/images`);
    ws.addEventListener("open", () => {
      attempt = 0;
      onState("open");
    });
    ws.addEventListener("message", (event) => onMessage(JSON.parse(event.data)));
    ws.addEventListener("close", (event) => {
      onState(event.reason || "closed");
      const delay = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
      attempt += 1;
      setTimeout(connect, delay);
    });
  }

  function send(kind, payload = {}) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify({ ...payload, type: kind }));
    return true;
  }

  connect();
  return { send };
}
