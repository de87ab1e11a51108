// The decision boundary: P(class 1) over the input plane, with the data points on top.
import { createHeatmapCanvas } from "./colors.js";
import { createClassMapCanvas, drawCurvePlot, pointColour } from "./taskPlots.js";

const SIZE = 300;

export function createBoundaryView(root) {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = SIZE;
  canvas.setAttribute("aria-label", "Decision boundary over the input plane, with the data points");
  canvas.setAttribute("role", "img");
  root.append(canvas);
  const ctx = canvas.getContext("2d");
  const heat = createHeatmapCanvas();
  const classHeat = createClassMapCanvas();

  function toPixel(extent, x1, x2) {
    return [((x1 + extent) / (2 * extent)) * SIZE, ((extent - x2) / (2 * extent)) * SIZE];
  }

  function drawPoints(points, extent, isTest, task) {
    for (const p of points) {
      const [px, py] = toPixel(extent, p.x1, p.x2);
      ctx.beginPath();
      ctx.arc(px, py, 3.2, 0, Math.PI * 2);
      ctx.fillStyle = pointColour(task, p.label);
      ctx.fill();
      ctx.lineWidth = isTest ? 1.5 : 1;
      ctx.strokeStyle = isTest ? "#000" : "#fff";
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

  return {
    update({ frame, data, showTest, discretize, heatmapOverride, followed = null }) {
      const heatmap = heatmapOverride || frame?.boundary;
      const task = frame?.task || "binary";
      if (frame?.curve && !heatmapOverride && data) {
        drawCurvePlot(ctx, SIZE, data.extent, frame.curve, showTest ? [...data.train, ...data.test] : data.train);
        return;
      }
      if (frame?.class_maps && !heatmapOverride) {
        classHeat.draw(frame.class_maps, { discretize });
        ctx.imageSmoothingEnabled = true;
        ctx.drawImage(classHeat.canvas, 0, 0, SIZE, SIZE);
      } else if (heatmap) {
        heat.draw(heatmap, { discretize });
        ctx.imageSmoothingEnabled = true;
        ctx.drawImage(heat.canvas, 0, 0, SIZE, SIZE);
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
      canvas.remove();
    },
  };
}
