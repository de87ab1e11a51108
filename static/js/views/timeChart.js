// A line chart over the steps drawn by uPlot: real axis ticks, hover values, and a width that
// follows its panel. The loss, learning-rate and gradient-health charts are each one of these.
import uPlot from "../../vendor/uplot/uPlot.esm.js";
import { yScaleRange } from "./chartScale.js";

const FONT_FAMILY = '"Liberation Sans", Helvetica, Arial, sans-serif';
// Tick labels under 10 px are not read from a seat; projector mode asks for more (a CSS variable).
const DEFAULT_TICK_FONT_PX = 11;

// Steps are whole numbers: the x axis ticks at 1, 2, 5, 10, 20, 50 … apart, never 2.5.
const STEP_INCREMENTS = [1, 2, 5].flatMap((m) => [1, 10, 100, 1e3, 1e4, 1e5, 1e6].map((p) => m * p)).sort((a, b) => a - b);

function tickFontPx() {
  const fromCss = parseFloat(getComputedStyle(document.body).getPropertyValue("--chart-font-px"));
  return Number.isFinite(fromCss) && fromCss > 0 ? fromCss : DEFAULT_TICK_FONT_PX;
}

function lineWidth() {
  const fromCss = parseFloat(getComputedStyle(document.body).getPropertyValue("--chart-line-px"));
  return Number.isFinite(fromCss) && fromCss > 0 ? fromCss : 1.5;
}

// Log-scale ticks as 1e-3, 0.01, 0.1, 1 … — short enough for a narrow axis.
// uPlot passes null for ticks it keeps unlabelled (crowded log decades).
function logTick(value) {
  if (value === null) return "";
  if (value === 0) return "0";
  const abs = Math.abs(value);
  return abs >= 1e4 || abs < 1e-2 ? value.toExponential(0) : String(Number(value.toPrecision(3)));
}

function decadeSplits(u) {
  const { min, max } = u.scales.y;
  const splits = [];
  for (let d = Math.round(Math.log10(min)); d <= Math.round(Math.log10(max)); d++) splits.push(10 ** d);
  return splits;
}

function linearTick(value) {
  return value === null ? "" : String(Number(value.toPrecision(4)));
}

/**
 * `series`: [{label, stroke, dash?}]; `log`: a log-scale y axis; `onHover(index|null)` gets the
 * data index under the pointer. `setData([steps, ...ys])` replaces every point;
 * `setYRange([lo, hi] | null)` fixes the y span (null: the data's).
 */
export function createTimeChart(root, { height, series, log = false, yLabel = "", onHover = () => {} }) {
  const box = document.createElement("div");
  box.className = "time-chart";
  root.append(box);
  let plot = null;
  let data = [[], ...series.map(() => [])];
  let shape = { series, log };
  let fixedY = null;
  const yRange = (_, lo, hi) => yScaleRange(fixedY, lo, hi, shape.log);

  function options() {
    const font = `${tickFontPx()}px ${FONT_FAMILY}`;
    const width = lineWidth();
    const axis = { font, labelFont: font, stroke: "#444", grid: { stroke: "#eee", width: 1 }, ticks: { stroke: "#ccc", width: 1 } };
    return {
      width: Math.max(120, box.clientWidth || root.clientWidth || 300),
      height,
      legend: { show: false },
      cursor: { drag: { x: true, y: false }, points: { size: 6 } },
      scales: { x: { time: false }, y: shape.log ? { distr: 3, range: yRange } : { range: yRange } },
      axes: [
        { ...axis, size: 2.2 * tickFontPx() + 6, incrs: STEP_INCREMENTS, values: (_, ticks) => ticks.map(linearTick) },
        {
          ...axis, label: yLabel, labelSize: yLabel ? tickFontPx() + 4 : 0, size: 4.4 * tickFontPx(),
          values: (_, ticks) => ticks.map(shape.log ? logTick : linearTick),
          ...(shape.log ? { splits: decadeSplits } : {}),
        },
      ],
      series: [{}, ...shape.series.map((s) => ({ label: s.label, stroke: s.stroke, width: s.width ?? width, dash: s.dash, spanGaps: false, points: { show: false } }))],
      hooks: {
        setCursor: [(u) => onHover(u.cursor.idx ?? null)],
        // What the tests measure: the top of the y scale uPlot settled on.
        setScale: [(u, key) => key === "y" && (box.dataset.yMax = String(u.scales.y.max))],
      },
    };
  }

  function build() {
    plot?.destroy();
    plot = new uPlot(options(), data, box);
    // What the tests measure: the font uPlot itself was given for the tick labels, in CSS px.
    box.dataset.tickFontPx = String(Math.min(...plot.axes.map((a) => a.font[2])));
  }

  build();
  let lastWidth = box.clientWidth;
  const resizeObserver = new ResizeObserver(() => {
    if (box.clientWidth === lastWidth || !box.clientWidth) return;
    lastWidth = box.clientWidth;
    plot.setSize({ width: box.clientWidth, height });
  });
  resizeObserver.observe(box);
  // Projector mode changes the type size and line width: the chart is built again with them.
  const rebuild = () => build();
  window.addEventListener("projectorchange", rebuild);

  return {
    get plot() {
      return plot;
    },
    // New series or scale type: built again (uPlot fixes both at creation).
    reshape({ series: nextSeries = shape.series, log: nextLog = shape.log }) {
      const same = nextLog === shape.log && nextSeries.length === shape.series.length &&
        nextSeries.every((s, i) => s.label === shape.series[i].label && s.stroke === shape.series[i].stroke);
      if (same) return;
      shape = { series: nextSeries, log: nextLog };
      data = [data[0], ...nextSeries.map((_, i) => data[i + 1] || data[0].map(() => null))];
      build();
    },
    setYRange(range) {
      fixedY = range;
    },
    setData(next) {
      data = next;
      plot.setData(next);
    },
    destroy() {
      resizeObserver.disconnect();
      window.removeEventListener("projectorchange", rebuild);
      plot.destroy();
      box.remove();
    },
  };
}
