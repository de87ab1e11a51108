// Train and test loss against the step, every point kept; hover shows the values at a step.
import { formatNumber } from "./colors.js";

const WIDTH = 300;
const HEIGHT = 110;
const PAD = { left: 34, right: 6, top: 6, bottom: 16 };
const TRAIN_COLOUR = "#777";
const TEST_COLOUR = "#000";
const PENALTY_COLOUR = "#c0392b";

export function createLossChart(root) {
  const canvas = document.createElement("canvas");
  canvas.width = WIDTH;
  canvas.height = HEIGHT;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "Training and test loss over the steps");
  const readout = document.createElement("div");
  readout.className = "chart-readout";
  readout.textContent = "hover for values · grey: training, black: test, red: penalty (not in the data loss)";
  const logToggle = document.createElement("label");
  logToggle.className = "inline";
  logToggle.innerHTML = '<input type="checkbox" data-testid="loss-log-scale"> log scale';
  // Other runs (branches) overlaid as dashed training-loss curves, named below.
  const overlayLegend = document.createElement("div");
  overlayLegend.className = "chart-readout";
  overlayLegend.dataset.testid = "loss-overlays";
  root.append(canvas, readout, logToggle, overlayLegend);
  const ctx = canvas.getContext("2d");
  let history = [];
  let overlays = []; // [{name, colour, steps, train}]
  let hoverX = null;

  function bounds() {
    let maxStep = 1;
    let lo = Infinity;
    let hi = -Infinity;
    for (const p of history) {
      maxStep = Math.max(maxStep, p.step);
      for (const v of [p.train, p.test, p.penalty || null]) {
        if (v === null) continue;
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
    for (const run of overlays) {
      run.steps.forEach((step, i) => {
        maxStep = Math.max(maxStep, step);
        if (run.train[i] !== null) [lo, hi] = [Math.min(lo, run.train[i]), Math.max(hi, run.train[i])];
      });
    }
    if (!Number.isFinite(lo)) [lo, hi] = [0, 1];
    return { maxStep, lo, hi };
  }

  function draw() {
    const log = logToggle.querySelector("input").checked;
    const { maxStep, lo, hi } = bounds();
    const f = (v) => (log ? Math.log10(Math.max(v, 1e-8)) : v);
    const yLo = log ? f(lo) : 0;
    const yHi = Math.max(f(hi), yLo + 1e-6);
    const x = (step) => PAD.left + (step / maxStep) * (WIDTH - PAD.left - PAD.right);
    const y = (v) => HEIGHT - PAD.bottom - ((f(v) - yLo) / (yHi - yLo)) * (HEIGHT - PAD.top - PAD.bottom);
    ctx.clearRect(0, 0, WIDTH, HEIGHT);
    ctx.fillStyle = "#666";
    ctx.font = "10px sans-serif";
    ctx.fillText(formatNumber(log ? 10 ** yHi : yHi, 2), 0, PAD.top + 8);
    ctx.fillText(formatNumber(log ? 10 ** yLo : yLo, 2), 0, HEIGHT - PAD.bottom);
    ctx.fillText(`step ${maxStep}`, WIDTH - 70, HEIGHT - 3);
    const hasPenalty = history.some((p) => p.penalty > 0);
    ctx.setLineDash([4, 3]);
    for (const run of overlays) {
      ctx.beginPath();
      ctx.strokeStyle = run.colour;
      ctx.lineWidth = 1.2;
      run.steps.forEach((step, i) => {
        if (run.train[i] === null) return;
        if (i) ctx.lineTo(x(step), y(run.train[i]));
        else ctx.moveTo(x(step), y(run.train[i]));
      });
      ctx.stroke();
    }
    ctx.setLineDash([]);
    const series = [["train", TRAIN_COLOUR], ["test", TEST_COLOUR], ...(hasPenalty ? [["penalty", PENALTY_COLOUR]] : [])];
    for (const [key, colour] of series) {
      ctx.beginPath();
      ctx.strokeStyle = colour;
      ctx.lineWidth = 1.5;
      let started = false;
      for (const p of history) {
        if (p[key] === null || p[key] === undefined) { started = false; continue; }
        if (started) ctx.lineTo(x(p.step), y(p[key]));
        else ctx.moveTo(x(p.step), y(p[key]));
        started = true;
      }
      ctx.stroke();
    }
    if (hoverX !== null && history.length) {
      const step = ((hoverX - PAD.left) / (WIDTH - PAD.left - PAD.right)) * maxStep;
      let nearest = history[0];
      for (const p of history) if (Math.abs(p.step - step) < Math.abs(nearest.step - step)) nearest = p;
      ctx.strokeStyle = "#bbb";
      ctx.beginPath();
      ctx.moveTo(x(nearest.step), PAD.top);
      ctx.lineTo(x(nearest.step), HEIGHT - PAD.bottom);
      ctx.stroke();
      const penalty = nearest.penalty > 0 ? `, penalty ${formatNumber(nearest.penalty)}` : "";
      readout.textContent = `step ${nearest.step} (epoch ${nearest.epoch.toFixed(1)}): training ${formatNumber(nearest.train)}, test ${formatNumber(nearest.test)}${penalty}`;
    }
  }

  canvas.addEventListener("mousemove", (e) => {
    hoverX = e.offsetX;
    draw();
  });
  canvas.addEventListener("mouseleave", () => {
    hoverX = null;
    draw();
  });
  logToggle.addEventListener("change", draw);

  return {
    update({ lossHistory, runs = [] }) {
      history = lossHistory;
      overlays = runs;
      overlayLegend.textContent = runs.length ? `dashed: ${runs.map((r) => r.name).join(" · ")}` : "";
      draw();
    },
    destroy() {
      root.replaceChildren();
    },
  };
}
