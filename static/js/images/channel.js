// The digits lab's socket: connects, reconnects with backoff, and sends messages named in
// protocol.js. The tab remembers its run's id (sessionStorage), so a reconnect, a reload or a
// restart of the server asks for the same run and finds it where it was.
import { ImageServerMessage } from "./protocol.js";

const BACKOFF_MS = [250, 500, 1000, 2000, 4000];
const RUN_KEY = "backprop-lab-digits-run";

// A route of the digits run's own (`/api/images/<id>/<suffix>`), naming it in the query too,
// where the balancer looks for it: without it a download reaches a random worker or replica,
// which does not hold the run.
export function imageRunPath(runId, suffix) {
  const key = encodeURIComponent(runId);
  return `/api/images/${key}/${suffix}?session=${key}`;
}

export function openChannel({ onMessage, onState }) {
  let ws = null;
  let attempt = 0;

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    // The tab's run id, chosen here the first time: in the URL, a load balancer keeps the run on
    // one server from the first connect (deploy/nginx/backprop.conf hashes ?session=).
    if (!sessionStorage.getItem(RUN_KEY)) sessionStorage.setItem(RUN_KEY, newRunId());
    const asked = sessionStorage.getItem(RUN_KEY);
    let first = true;
    ws = new WebSocket(`${scheme}//${location.host}/ws/images?${new URLSearchParams({ session: asked })}`);
    ws.addEventListener("open", () => {
      attempt = 0;
      onState("open");
    });
    ws.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      // The first session of a connection says whether the run asked for was found.
      let arrival = null;
      if (message.type === ImageServerMessage.SESSION) {
        arrival = { first, resumed: first && message.resumed };
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

// 16 random bytes, URL-safe base64 (22 characters): the server's shape for a run id.
function newRunId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
