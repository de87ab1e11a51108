// Sweeps: a grid of runs (learning rate × momentum, or × batch size) from the current settings,
// trained side by side on the server, drawn as a heat map of final loss with diverged cells
// crossed out. Clicking a cell opens the run it trained (`onOpen(index)`, index = row × columns +
// column, as the server counts).
import { formatNumber } from "./colors.js";
import { element } from "./dom.js";
import { button, canvas, labelled, select } from "./deeperControls.js";

const SIZE = 320;
const LEFT = 44;
const BOTTOM = 30;

export function createSweepView(root, { onStart, onStop, onOpen }) {
  const axis = select("sweep-axis", [["momentum", "learning rate × momentum"], ["batch_size", "learning rate × batch size"]], "momentum", "Sweep");
  const steps = select("sweep-steps", [["200", "200 steps"], ["500", "500 steps"], ["1000", "1000 steps"]], "500", "Steps per run");
  const start = button("sweep-start", "Run 8×8 sweep");
  const stop = button("sweep-stop", "Stop");
  const map = canvas("sweep-map", SIZE, SIZE, "Final loss of each run of the sweep; crossed cells diverged");
  const status = element("div", { className: "hint", testid: "sweep-status", textContent: "No sweep yet." });
  root.append(element("div", { className: "surface-controls" }, [labelled("Grid", axis), steps, start, stop]), map, status);
  const state = { sweep: null };

  start.addEventListener("click", () => onStart({ axis: axis.value, size: 8, steps: Number(steps.value) }));
  stop.addEventListener("click", onStop);
  map.addEventListener("click", (event) => {
    const index = cellAt(event);
    if (index !== null) onOpen(index);
  });

  function cellAt(event) {
    const sweep = state.sweep;
    if (!sweep?.final_loss) return null;
    const box = map.getBoundingClientRect();
    const x = ((event.clientX - box.left) / box.width) * SIZE;
    const y = ((event.clientY - box.top) / box.height) * SIZE;
    const { columns, rows, w, h } = layout(sweep);
    const c = Math.floor((x - LEFT) / w);
    const r = Math.floor((SIZE - BOTTOM - y) / h);
    if (c < 0 || r < 0 || c >= columns || r >= rows) return null;
    // A diverged cell has no run to open.
    return sweep.final_loss[r][c] === null ? null : r * columns + c;
  }

  function receive(message) {
    state.sweep = message;
  }

  function update() {
    const sweep = state.sweep;
    stop.disabled = sweep?.status !== "running";
    if (!sweep) return;
    status.textContent =
      sweep.status === "running"
        ? `Training ${sweep.values.length * sweep.learning_rates.length} runs of ${sweep.steps} steps side by side…`
        : `${sweep.status === "stopped" ? "Stopped" : "Done"} in ${formatNumber(sweep.compute_ms / 1000, 2)} s. Click a cell to open its run.`;
    draw(map.getContext("2d"), sweep);
  }

  return { update, receive, destroy: () => root.replaceChildren() };
}

function layout(sweep) {
  const columns = sweep.learning_rates.length;
  const rows = sweep.values.length;
  return { columns, rows, w: (SIZE - LEFT) / columns, h: (SIZE - BOTTOM) / rows };
}

function draw(ctx, sweep) {
  ctx.clearRect(0, 0, SIZE, SIZE);
  const { columns, rows, w, h } = layout(sweep);
  const finite = (sweep.final_loss || []).flat().filter((v) => v !== null);
  const [low, high] = finite.length ? [Math.min(...finite), Math.max(...finite)] : [0, 1];
  ctx.font = "9px sans-serif";
  for (let r = 0; r < rows; r += 1) {
    for (let c = 0; c < columns; c += 1) {
      const x = LEFT + c * w;
      const y = SIZE - BOTTOM - (r + 1) * h;
      const loss = sweep.final_loss?.[r][c];
      const diverged = sweep.diverged_at?.[r][c] !== null && sweep.diverged_at?.[r][c] !== undefined;
      const t = loss === null || loss === undefined ? 1 : (Math.log(loss) - Math.log(low)) / Math.max(Math.log(high) - Math.log(low), 1e-9);
      ctx.fillStyle = sweep.final_loss ? `hsl(${220 - 200 * t}, 70%, ${35 + 30 * t}%)` : "#ddd";
      ctx.fillRect(x + 1, y + 1, w - 2, h - 2);
      if (diverged) {
        ctx.strokeStyle = "#000";
        ctx.beginPath();
        ctx.moveTo(x + 4, y + 4);
        ctx.lineTo(x + w - 4, y + h - 4);
        ctx.moveTo(x + w - 4, y + 4);
        ctx.lineTo(x + 4, y + h - 4);
        ctx.stroke();
      }
    }
  }
  ctx.fillStyle = "#333";
  sweep.learning_rates.forEach((lr, c) => ctx.fillText(formatNumber(lr, 2), LEFT + c * w + 2, SIZE - BOTTOM + 12));
  sweep.values.forEach((v, r) => ctx.fillText(formatNumber(v, 2), 2, SIZE - BOTTOM - r * h - h / 2));
  ctx.fillText(`learning rate → (rows: ${sweep.axis === "batch_size" ? "batch size" : "momentum"})`, LEFT, SIZE - 4);
}
