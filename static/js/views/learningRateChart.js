// The effective learning rate (the schedule applied) against the step, on a log scale, drawn by
// uPlot (timeChart.js) so its axis carries real ticks.
import { createTimeChart } from "./timeChart.js";

// Three significant digits, no padding: 0.03, 0.00375, 1e-5 read as they were typed.
export function formatRate(value) {
  return value === null || value === undefined ? "—" : String(Number(value.toPrecision(3)));
}

const HEIGHT = 110;
const COLOUR = "#16793a";

export function createLearningRateChart(root) {
  const caption = document.createElement("div");
  caption.className = "chart-readout";
  caption.textContent = "effective learning rate";
  let points = [];
  const chart = createTimeChart(root, {
    height: HEIGHT,
    series: [{ label: "learning rate", stroke: COLOUR }],
    log: true,
    yLabel: "lr",
    onHover: (index) => {
      const p = index === null ? points.at(-1) : points[index];
      caption.textContent = p ? `effective learning rate${index === null ? "" : ` at step ${p.step}`}: ${formatRate(p.learning_rate)}` : "effective learning rate";
    },
  });
  root.append(caption);

  return {
    update({ lossHistory }) {
      points = lossHistory.filter((p) => p.learning_rate > 0);
      chart.setData([points.map((p) => p.step), points.map((p) => p.learning_rate)]);
      if (points.length) caption.textContent = `effective learning rate: ${formatRate(points.at(-1).learning_rate)}`;
    },
    destroy() {
      chart.destroy();
      root.replaceChildren();
    },
  };
}
