// The effective learning rate (the schedule applied) against the step, on a log scale.
import { formatNumber } from "./colors.js";

// Three significant digits, no padding: 0.03, 0.00375, 1e-5 read as they were typed.
export function formatRate(value) {
  return value === null || value === undefined ? "—" : String(Number(value.toPrecision(3)));
}

const WIDTH = 300;
const HEIGHT = 60;
const PAD = { left: 34, right: 6, top: 6, bottom: 12 };

export function createLearningRateChart(root) {
  const canvas = document.createElement("canvas");
  canvas.width = WIDTH;
  canvas.height = HEIGHT;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "Effective learning rate over the steps");
  const caption = document.createElement("div");
  caption.className = "chart-readout";
  caption.textContent = "effective learning rate";
  root.append(canvas, caption);
  const ctx = canvas.getContext("2d");

  return {
    update({ lossHistory }) {
      const points = lossHistory.filter((p) => p.learning_rate !== null && p.learning_rate !== undefined);
      ctx.clearRect(0, 0, WIDTH, HEIGHT);
      if (!points.length) return;
      const maxStep = Math.max(1, ...points.map((p) => p.step));
      const logs = points.map((p) => Math.log10(Math.max(p.learning_rate, 1e-12)));
      const lo = Math.min(...logs);
      const hi = Math.max(lo + 1e-6, ...logs);
      const x = (s) => PAD.left + (s / maxStep) * (WIDTH - PAD.left - PAD.right);
      const y = (l) => HEIGHT - PAD.bottom - ((l - lo) / (hi - lo)) * (HEIGHT - PAD.top - PAD.bottom);
      ctx.fillStyle = "#666";
      ctx.font = "10px sans-serif";
      ctx.fillText(formatNumber(10 ** hi, 2), 0, PAD.top + 8);
      ctx.fillText(formatNumber(10 ** lo, 2), 0, HEIGHT - PAD.bottom);
      ctx.beginPath();
      ctx.strokeStyle = "#16793a";
      ctx.lineWidth = 1.5;
      points.forEach((p, i) => (i ? ctx.lineTo(x(p.step), y(logs[i])) : ctx.moveTo(x(p.step), y(logs[i]))));
      ctx.stroke();
      caption.textContent = `effective learning rate: ${formatRate(points[points.length - 1].learning_rate)}`;
    },
    destroy() {
      root.replaceChildren();
    },
  };
}
