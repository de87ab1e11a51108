// The user's own data and model files: save/load a model, upload a CSV, the drawing class
// picker, and hover inspection paced to the server. Files go over HTTP (a download needs a URL,
// an upload is size-checked as it streams); drawn points and hovers go through the socket.
import { sessionPath } from "./store.js";

const $ = (id) => document.getElementById(id);
const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);

// The classes a click can add, per task: [label, text]. Regression draws a target value.
const DRAW_CLASSES = {
  binary: [[0, "orange (0)"], [1, "blue (1)"]],
  multiclass: [[0, "class 0 (orange)"], [1, "class 1 (blue)"], [2, "class 2 (green)"]],
  regression: [[-1, "target −1"], [1, "target +1"]],
};
// Hover inspections: one request in flight, at most one per this many ms (the server's
// per-connection message limit is shared with every other control).
const INSPECT_INTERVAL_MS = 80;
const INSPECT_TIMEOUT_MS = 1000;

async function postFile(url, file) {
  let response;
  try {
    response = await fetch(url, { method: "POST", body: file, headers: { "content-type": "application/octet-stream" } });
  } catch {
    throw new Error("the server cannot be reached");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(typeof body.detail === "string" ? body.detail : `HTTP ${response.status}`);
  return body;
}

export function bindOwnData({ getSessionId, onError, onModelLoaded }) {
  const sessionUrl = (what) => sessionPath(getSessionId(), what);
  const done = (text) => ($("own-data-result").textContent = text);

  byTestId("save-model").addEventListener("click", () => {
    if (!getSessionId()) return onError("not connected yet: nothing to save");
    const link = document.createElement("a");
    link.href = sessionUrl("checkpoint");
    link.download = "";
    document.body.append(link);
    link.click();
    link.remove();
    done("Model file saved (state_dict + settings).");
  });

  function upload(input, what, describe) {
    input.addEventListener("change", async () => {
      const [file] = input.files;
      input.value = ""; // the same file can be chosen again
      if (!file || !getSessionId()) return;
      try {
        done(describe(file, await postFile(sessionUrl(what), file)));
      } catch (error) {
        done("");
        onError(`${file.name}: ${error.message}`);
      }
    });
  }
  upload(byTestId("load-model"), "checkpoint", (file, body) => {
    onModelLoaded(body.config);
    return `Loaded ${file.name}: its settings and weights, from step 0.`;
  });
  upload(byTestId("upload-csv"), "points", (file, body) => `Loaded ${file.name}: ${body.train_points} training and ${body.test_points} test points.`);
}

export function syncDrawClasses(frame) {
  const picker = byTestId("draw-class");
  const task = frame?.task;
  if (!task || picker.dataset.task === task) return;
  picker.dataset.task = task;
  picker.replaceChildren(...DRAW_CLASSES[task].map(([label, text]) => new Option(text, String(label))));
  picker.value = String(DRAW_CLASSES[task].at(-1)[0]);
}

export function drawLabel() {
  return Number(byTestId("draw-class").value);
}

export function createInspector(send) {
  let wanted = null;
  let lastSent = null;
  let inFlightSince = 0;
  let timer = null;

  function pump() {
    clearTimeout(timer);
    timer = null;
    if (!wanted) return;
    const now = performance.now();
    const busy = inFlightSince && now - inFlightSince < INSPECT_TIMEOUT_MS;
    const wait = lastSent === null ? 0 : INSPECT_INTERVAL_MS - (now - lastSent.at);
    if (busy) return;
    if (wait > 0) {
      timer = setTimeout(pump, wait);
      return;
    }
    lastSent = { ...wanted, at: now };
    inFlightSince = now;
    send({ x1: wanted.x1, x2: wanted.x2 });
  }

  return {
    hover(point) {
      wanted = point;
      pump();
    },
    leave() {
      wanted = null;
    },
    // An answer came: the next hover position (or the same one, newer weights) may go.
    received() {
      inFlightSince = 0;
      if (wanted && (wanted.x1 !== lastSent?.x1 || wanted.x2 !== lastSent?.x2)) pump();
    },
    // The model moved on: ask again at the same place.
    refresh() {
      if (wanted && !inFlightSince && !timer) pump();
    },
    get active() {
      return wanted !== null;
    },
  };
}
