// The decision boundary: P(class 1) over the input plane, with the data points on top, its axes
// (the plane's −6…6) and a colour legend. The map is veiled toward white, as Playground lightens
// it, so every point keeps its class colour and a dark outline reads on any background.
import { BOUNDARY_VEIL, createHeatmapCanvas, POINT_OUTLINE } from "./colors.js";
import { createClassMapCanvas, CURVE_Y_EXTENT, drawCurvePlot, pointColour } from "./taskPlots.js";

const SIZE = 300;
const POINT_RADIUS = 3.6;
const LEGENDS = {
  binary: ["P(blue) 0", "0.5", "1"],
  regression: ["output −", "0", "+"],
  multiclass: ["orange: class 0", "blue: class 1", "green: class 2"],
};

function axisLabels(extent) {
  return [-extent, -extent / 2, 0, extent / 2, extent].map((v) => String(Number(v.toFixed(1))));
}

export function createBoundaryView(root) {
  const plot = document.createElement("div");
  plot.className = "boundary-plot";
  const yAxis = document.createElement("div");
  yAxis.className = "boundary-axis boundary-axis-y";
  yAxis.setAttribute("aria-hidden", "true");
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = SIZE;
  canvas.setAttribute("aria-label", "Decision boundary over the input plane, with the data points");
  canvas.setAttribute("role", "img");
  const xAxis = document.createElement("div");
  xAxis.className = "boundary-axis boundary-axis-x";
  xAxis.setAttribute("aria-hidden", "true");
  plot.append(yAxis, canvas, document.createElement("span"), xAxis);
  const legend = document.createElement("div");
  legend.className = "boundary-legend";
  legend.dataset.testid = "boundary-legend";
  const bar = document.createElement("div");
  bar.className = "legend-bar";
  const legendLabels = document.createElement("div");
  legendLabels.className = "legend-labels";
  legend.append(bar, legendLabels);
  root.append(plot, legend);
  const ctx = canvas.getContext("2d");
  const heat = createHeatmapCanvas();
  const classHeat = createClassMapCanvas();
  let axesKey = "";
  // Projector mode draws larger points (a CSS variable, read when the mode changes).
  let radius = POINT_RADIUS;
  const readPointScale = () => {
    const scale = parseFloat(getComputedStyle(document.body).getPropertyValue("--point-scale"));
    radius = POINT_RADIUS * (Number.isFinite(scale) && scale > 0 ? scale : 1);
  };
  readPointScale();
  window.addEventListener("projectorchange", readPointScale);

  function showAxes(xExtent, yExtent, task) {
    const key = `${xExtent}|${yExtent}|${task}`;
    if (key === axesKey) return;
    axesKey = key;
    const spans = (labels) => labels.map((text) => Object.assign(document.createElement("span"), { textContent: text }));
    xAxis.replaceChildren(...spans(axisLabels(xExtent)));
    yAxis.replaceChildren(...spans(axisLabels(yExtent).reverse()));
    legendLabels.replaceChildren(...spans(LEGENDS[task] || LEGENDS.binary));
    legend.dataset.task = task;
  }

  function toPixel(extent, x1, x2) {
    return [((x1 + extent) / (2 * extent)) * SIZE, ((extent - x2) / (2 * extent)) * SIZE];
  }

  // Training points: the class colour inside a dark outline. Test points: a white ring inside
  // a thicker dark one, so the two sets read apart on any background.
  function drawPoints(points, extent, isTest, task) {
    for (const p of points) {
      const [px, py] = toPixel(extent, p.x1, p.x2);
      ctx.beginPath();
      ctx.arc(px, py, radius, 0, Math.PI * 2);
      ctx.fillStyle = pointColour(task, p.label);
      ctx.fill();
      if (isTest) {
        ctx.lineWidth = 1.5;
        ctx.strokeStyle = "#fff";
        ctx.stroke();
        ctx.beginPath();
        ctx.arc(px, py, radius + 1.5, 0, Math.PI * 2);
        ctx.lineWidth = 1.5;
      } else {
        ctx.lineWidth = 1;
      }
      ctx.strokeStyle = POINT_OUTLINE;
      ctx.stroke();
    }
  }

  // The training point followed by hand: a ring that reads on any colour.
  function ringPoint(p, extent) {
    const [px, py] = toPixel(extent, p.x1, p.x2);
    for (const [width, colour] of [[4, "#fff"], [2, "#000"]]) {
      ctx.beginPath();
      ctx.arc(px, py, 7, 0, Math.PI * 2);
      ctx.lineWidth = width;
      ctx.strokeStyle = colour;
      ctx.stroke();
    }
  }

  function drawMap(source) {
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(source, 0, 0, SIZE, SIZE);
    ctx.fillStyle = `rgba(255, 255, 255, ${BOUNDARY_VEIL})`;
    ctx.fillRect(0, 0, SIZE, SIZE);
  }

  return {
    update({ frame, data, showTest, discretize, heatmapOverride, followed = null }) {
      const heatmap = heatmapOverride || frame?.boundary;
      const task = frame?.task || "binary";
      const extent = data?.extent ?? 6;
      if (frame?.curve && !heatmapOverride && data) {
        showAxes(extent, CURVE_Y_EXTENT, "regression");
        drawCurvePlot(ctx, SIZE, data.extent, frame.curve, showTest ? [...data.train, ...data.test] : data.train);
        return;
      }
      showAxes(extent, extent, task);
      if (frame?.class_maps && !heatmapOverride) {
        classHeat.draw(frame.class_maps, { discretize });
        drawMap(classHeat.canvas);
      } else if (heatmap) {
        heat.draw(heatmap, { discretize });
        drawMap(heat.canvas);
      } else {
        ctx.clearRect(0, 0, SIZE, SIZE);
      }
      if (data) {
        drawPoints(data.train, data.extent, false, task);
        if (showTest) drawPoints(data.test, data.extent, true, task);
        if (followed) ringPoint(followed, data.extent);
      }
    },
    destroy() {
      window.removeEventListener("projectorchange", readPointScale);
      root.replaceChildren();
    },
  };
}
