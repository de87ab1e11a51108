// The digits lab's socket: connects, reconnects with backoff, and sends messages named in
// protocol.js. The tab remembers its run's id (sessionStorage), so a reconnect or a reload asks
// for the same run and finds it where it was, while the server keeps it.
import { ImageServerMessage } from "./protocol.js";

const BACKOFF_MS = [250, 500, 1000, 2000, 4000];
const RUN_KEY = "backprop-lab-digits-run";

export function openChannel({ onMessage, onState }) {
  let ws = null;
  let attempt = 0;

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const asked = sessionStorage.getItem(RUN_KEY);
    const query = asked ? `?${new URLSearchParams({ run: asked })}` : "";
    let first = true;
    ws = new WebSocket(`${scheme}//${location.host}/ws/images${query}`);
    ws.addEventListener("open", () => {
      attempt = 0;
      onState("open");
    });
    ws.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      // The first session of a connection says whether the run asked for was found.
      let arrival = null;
      if (message.type === ImageServerMessage.SESSION) {
        arrival = { first, resumed: first && message.run_id === asked };
        first = false;
        sessionStorage.setItem(RUN_KEY, message.run_id);
      }
      onMessage(message, arrival);
    });
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
