// Take it home: the run as a Python script or a notebook (built by the server from the same
// settings), the network and decision boundary as one PNG, and the loss history as CSV or JSON.
import { sessionPath } from "./store.js";

const MARGIN = 16;

function save(href, filename) {
  const link = document.createElement("a");
  link.href = href;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
}

function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  save(url, filename);
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function lossHistoryCsv(history) {
  const rows = ["step,epoch,train_loss,test_loss,penalty,learning_rate"];
  const cell = (v) => (v === null || v === undefined ? "" : String(v));
  for (const p of history) {
    rows.push([p.step, p.epoch, p.train, p.test, p.penalty, p.learning_rate].map(cell).join(","));
  }
  return rows.join("\n") + "\n";
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error("the network's edges could not be drawn"));
    image.src = url;
  });
}

// The network graph is DOM (an SVG of edges, one canvas per neuron): redraw it on a canvas.
async function drawNetwork(ctx, root, left, top) {
  const svg = root.querySelector("svg.edges");
  if (svg) {
    const copy = svg.cloneNode(true);
    copy.setAttribute("xmlns", "http://www.w3.org/2000/svg");
    for (const path of copy.querySelectorAll("path")) path.setAttribute("fill", "none");
    const url = URL.createObjectURL(new Blob([new XMLSerializer().serializeToString(copy)], { type: "image/svg+xml" }));
    try {
      ctx.drawImage(await loadImage(url), left, top);
    } finally {
      URL.revokeObjectURL(url);
    }
  }
  ctx.font = "600 12px 'Liberation Sans', Arial, sans-serif";
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const neuron of root.querySelectorAll(".neuron")) {
    const x = left + neuron.offsetLeft;
    const y = top + neuron.offsetTop;
    const map = neuron.querySelector("canvas");
    if (map) ctx.drawImage(map, x, y, neuron.offsetWidth, neuron.offsetHeight);
    ctx.strokeStyle = "#999";
    ctx.strokeRect(x + 0.5, y + 0.5, neuron.offsetWidth - 1, neuron.offsetHeight - 1);
    const label = neuron.querySelector(".input-label");
    if (label) {
      ctx.fillStyle = "#222";
      ctx.fillText(label.textContent, x - 4, y + neuron.offsetHeight / 2);
    }
  }
}

// Network | decision boundary | loss chart, side by side on white.
export async function renderPicture({ network, boundary, lossChart }) {
  const boundaryCanvas = boundary.querySelector("canvas");
  const chartCanvas = lossChart.querySelector("canvas");
  const networkWidth = network.offsetWidth;
  const parts = [boundaryCanvas, chartCanvas].filter(Boolean);
  const width = MARGIN + networkWidth + parts.reduce((sum, c) => sum + MARGIN + c.width, 0) + MARGIN;
  const height = 2 * MARGIN + Math.max(network.offsetHeight, ...parts.map((c) => c.height));
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, width, height);
  await drawNetwork(ctx, network, MARGIN + 20, MARGIN);
  let x = MARGIN + networkWidth + MARGIN;
  for (const part of parts) {
    ctx.drawImage(part, x, MARGIN);
    x += part.width + MARGIN;
  }
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}

// Buttons (by data-testid) → downloads. `getSessionId`, `getConfig`, `getHistory` read the page's state.
export function bindExports({ views, getSessionId, getConfig, getHistory, getStep, onError, menu }) {
  const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);
  const fromServer = (suffix) => () => {
    const id = getSessionId();
    if (!id) return onError("Not connected yet: the export needs the server's session.");
    save(sessionPath(id, suffix), "");
  };
  const actions = {
    "export-code": fromServer("code.py"),
    "export-notebook": fromServer("code.ipynb"),
    "export-picture": async () => {
      try {
        saveBlob(await renderPicture(views), `backprop-lab-step-${getStep()}.png`);
      } catch (error) {
        onError(String(error.message || error));
      }
    },
    "export-csv": () => saveBlob(new Blob([lossHistoryCsv(getHistory())], { type: "text/csv" }), `backprop-lab-losses-step-${getStep()}.csv`),
    "export-json": () => {
      const run = { config: getConfig(), losses: getHistory() };
      saveBlob(new Blob([JSON.stringify(run, null, 1)], { type: "application/json" }), `backprop-lab-run-step-${getStep()}.json`);
    },
  };
  for (const [testId, action] of Object.entries(actions)) {
    byTestId(testId).addEventListener("click", () => {
      menu.open = false;
      action();
    });
  }
}
