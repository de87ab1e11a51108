// Gradient health per layer over the steps, on a log scale (one line per layer), with the flags
// the server raised and each layer's dead / saturated units. Reads the loss history's figures.
// The chart is uPlot's (timeChart.js): log ticks, hover, a width that follows the panel.
import { createTimeChart } from "./timeChart.js";

const HEIGHT = 200;
export const LAYER_COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d"];
const FIGURES = {
  grad_norm: "‖∂L/∂w‖ per layer",
  mean_abs_grad: "mean |∂L/∂w| per layer",
  max_abs_grad: "max |∂L/∂w| per layer",
  update_ratio: "‖Δw‖/‖w‖ per layer (update-to-weight ratio)",
};

const layerSeries = (count) => Array.from({ length: count }, (_, layer) => ({ label: `layers[${layer}]`, stroke: LAYER_COLOURS[layer % LAYER_COLOURS.length] }));

export function createGradientHealthView(root) {
  const select = document.createElement("select");
  select.dataset.testid = "gradient-health-figure";
  select.setAttribute("aria-label", "Which gradient figure to plot");
  for (const [value, label] of Object.entries(FIGURES)) select.add(new Option(label, value));
  root.append(select);
  let points = [];
  const chart = createTimeChart(root, { height: HEIGHT, series: layerSeries(1), log: true, onHover: showLegend });
  const legend = document.createElement("div");
  legend.className = "chart-readout health-legend";
  const units = document.createElement("div");
  units.className = "chart-readout";
  units.dataset.testid = "unit-health";
  const flags = document.createElement("ul");
  flags.className = "health-flags";
  flags.dataset.testid = "health-flags";
  root.append(legend, units, flags);
  const last = { lossHistory: [], health: null, healthVersion: null };

  // Each layer's value at the hovered step, else at the latest one.
  function showLegend(index = null) {
    const key = select.value;
    const at = index === null ? points.at(-1) : points[index];
    if (!at) {
      legend.textContent = "no step taken yet";
      return;
    }
    legend.replaceChildren(
      ...at[key].map((v, layer) => {
        const item = document.createElement("span");
        item.className = `layer-key layer-key-${layer % LAYER_COLOURS.length}`;
        item.textContent = `layers[${layer}] ${v === null ? "—" : v.toExponential(1)}`;
        return item;
      }),
    );
  }

  function draw() {
    const key = select.value;
    points = last.lossHistory.filter((p) => Array.isArray(p[key]));
    root.dataset.points = String(points.length);
    const layers = points.length ? Math.max(...points.map((p) => p[key].length)) : 1;
    chart.reshape({ series: layerSeries(layers) });
    chart.setData([
      points.map((p) => p.step),
      ...Array.from({ length: layers }, (_, layer) => points.map((p) => (p[key][layer] > 0 ? p[key][layer] : null))),
    ]);
    showLegend();
  }

  function drawHealth(health) {
    const items = (health?.flags || []).map((flag) => {
      const li = document.createElement("li");
      li.dataset.kind = flag.kind;
      li.className = `flag flag-${flag.kind}`;
      li.textContent = flag.message;
      return li;
    });
    if (!items.length && health) {
      const li = document.createElement("li");
      li.className = "flag flag-none";
      li.textContent = "no problem seen: gradients reach every layer";
      items.push(li);
    }
    flags.replaceChildren(...items);
    root.dataset.flags = (health?.flags || []).map((f) => f.kind).join(" ");
    const parts = [];
    (health?.layers || []).forEach((l, i) => {
      if (l.dead_fraction !== null) parts.push(`hidden ${i + 1}: ${Math.round(l.dead_fraction * 100)}% dead`);
      if (l.saturated_fraction !== null) parts.push(`hidden ${i + 1}: ${Math.round(l.saturated_fraction * 100)}% saturated`);
    });
    units.textContent = parts.join(" · ");
  }

  select.addEventListener("change", draw);

  return {
    update({ lossHistory, health, healthVersion, historyChanged }) {
      if (historyChanged) {
        last.lossHistory = lossHistory;
        draw();
      }
      // Redrawn when the server computed it afresh (or it came or went), not on every frame.
      if (healthVersion !== last.healthVersion || (health === null) !== (last.health === null)) {
        last.health = health;
        last.healthVersion = healthVersion;
        drawHealth(health);
      }
    },
    destroy() {
      chart.destroy();
      root.replaceChildren();
    },
  };
}
