// Train and test loss against the step, every point kept; hover shows the values at a step.
// Drawn by uPlot (timeChart.js): real ticks, a log-scale toggle, a width that follows the panel.
import uPlot from "../../vendor/uplot/uPlot.esm.js";
import { formatNumber } from "./colors.js";
import { createTimeChart } from "./timeChart.js";

const HEIGHT = 170;
const TRAIN_COLOUR = "#777";
const TEST_COLOUR = "#000";
const PENALTY_COLOUR = "#c0392b";
const HINT = "hover for values · grey: training, black: test, red: penalty (not in the data loss)";

export function createLossChart(root) {
  const logToggle = document.createElement("label");
  logToggle.className = "inline";
  logToggle.innerHTML = '<input type="checkbox" data-testid="loss-log-scale"> log scale';
  const readout = document.createElement("div");
  readout.className = "chart-readout";
  readout.textContent = HINT;
  // Other runs (branches) overlaid as dashed training-loss curves, named below.
  const overlayLegend = document.createElement("div");
  overlayLegend.className = "chart-readout";
  overlayLegend.dataset.testid = "loss-overlays";
  let history = [];
  let overlays = []; // [{name, colour, steps, train}]
  let yRange = null; // [lo, hi] of the current run: overlays do not stretch the y axis
  let rows = []; // the history point behind each x of the chart (null: an overlay's step only)
  const chart = createTimeChart(root, { height: HEIGHT, series: seriesFor(false, []), log: false, yLabel: "loss", onHover: showValues });
  root.append(readout, logToggle, overlayLegend);
  const logBox = logToggle.querySelector("input");

  function seriesFor(hasPenalty, runs) {
    return [
      { label: "training", stroke: TRAIN_COLOUR },
      { label: "test", stroke: TEST_COLOUR },
      ...(hasPenalty ? [{ label: "penalty", stroke: PENALTY_COLOUR }] : []),
      ...runs.map((r) => ({ label: r.name, stroke: r.colour, dash: [4, 3], width: 1.2 })),
    ];
  }

  function showValues(index) {
    const p = index === null ? null : rows[index];
    if (!p) {
      readout.textContent = HINT;
      return;
    }
    const penalty = p.penalty > 0 ? `, penalty ${formatNumber(p.penalty)}` : "";
    readout.textContent = `step ${p.step} (epoch ${p.epoch.toFixed(1)}): training ${formatNumber(p.train)}, test ${formatNumber(p.test)}${penalty}`;
  }

  function draw() {
    const log = logBox.checked;
    const hasPenalty = history.some((p) => p.penalty > 0);
    chart.reshape({ series: seriesFor(hasPenalty, overlays), log });
    // A log axis cannot show zero or less: those points are left out.
    const y = (v) => (v === null || v === undefined || (log && !(v > 0)) ? null : v);
    const own = [history.map((p) => p.step), history.map((p) => y(p.train)), history.map((p) => y(p.test))];
    if (hasPenalty) own.push(history.map((p) => y(p.penalty)));
    const tables = [own, ...overlays.map((r) => [r.steps, r.train.map(y)])];
    const joined = tables.length > 1 ? uPlot.join(tables) : own;
    const byStep = new Map(history.map((p) => [p.step, p]));
    rows = joined[0].map((step) => byStep.get(step) || null);
    chart.setYRange(yRange);
    chart.setData(joined);
  }

  logBox.addEventListener("change", draw);

  return {
    update({ lossHistory, runs = [], yRange: range = null }) {
      history = lossHistory;
      overlays = runs;
      yRange = range;
      overlayLegend.textContent = runs.length ? `dashed: ${runs.map((r) => r.name).join(" · ")}` : "";
      draw();
    },
    destroy() {
      chart.destroy();
      root.replaceChildren();
    },
  };
}
