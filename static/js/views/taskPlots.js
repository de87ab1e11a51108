// Pictures for tasks beyond binary classification: class colours, multi-class maps, a 1-D curve.
import { decodeBase64 } from "../base64.js";
import { BLUE, CSS_BLUE, CSS_ORANGE, ORANGE } from "./colors.js";

const CLASS_RGB = [ORANGE, BLUE, [46, 160, 67]];
const CSS_CLASSES = [CSS_ORANGE, CSS_BLUE, "#2ea043"];
// The 1-D curve plot's vertical range: the sine's targets lie in [-1, 1] plus noise.
export const CURVE_Y_EXTENT = 2;

export function pointColour(task, label) {
  if (task === "multiclass") return CSS_CLASSES[Math.round(label)] || "#000";
  if (task === "regression") return label >= 0 ? CSS_BLUE : CSS_ORANGE;
  return label >= 0.5 ? CSS_BLUE : CSS_ORANGE;
}

// P(class k) maps mixed into one picture: each pixel is Σ_k p_k · colour_k, washed toward white
// where no class is sure.
export function createClassMapCanvas() {
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d");
  return {
    canvas,
    draw(classMaps, { discretize = false } = {}) {
      const n = classMaps[0].resolution;
      canvas.width = canvas.height = n;
      const image = ctx.createImageData(n, n);
      const maps = classMaps.map((m) => decodeBase64(m.data));
      for (let i = 0; i < n * n; i++) {
        let best = 0;
        for (let k = 1; k < maps.length; k++) if (maps[k][i] > maps[best][i]) best = k;
        let rgb = [0, 0, 0];
        if (discretize) {
          rgb = CLASS_RGB[best % CLASS_RGB.length];
        } else {
          for (let k = 0; k < maps.length; k++) {
            const p = maps[k][i] / 255;
            rgb = rgb.map((v, c) => v + p * CLASS_RGB[k % CLASS_RGB.length][c]);
          }
          const sure = (maps[best][i] / 255 - 1 / maps.length) / (1 - 1 / maps.length);
          rgb = rgb.map((v) => 255 - (255 - v) * (0.25 + 0.75 * sure));
        }
        image.data.set([rgb[0], rgb[1], rgb[2], 255], i * 4);
      }
      ctx.putImageData(image, 0, 0);
    },
  };
}

// Target against x₁, with the model's curve over it: how a 1-D regression is drawn.
export function drawCurvePlot(ctx, size, extent, curve, points) {
  const px = (x1) => ((x1 + extent) / (2 * extent)) * size;
  const py = (y) => ((CURVE_Y_EXTENT - y) / (2 * CURVE_Y_EXTENT)) * size;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, size, size);
  ctx.strokeStyle = "#ddd";
  ctx.beginPath();
  ctx.moveTo(0, py(0));
  ctx.lineTo(size, py(0));
  ctx.stroke();
  for (const p of points) {
    ctx.beginPath();
    ctx.arc(px(p.x1), py(p.label), 2.5, 0, Math.PI * 2);
    ctx.fillStyle = CSS_BLUE;
    ctx.fill();
  }
  ctx.beginPath();
  ctx.strokeStyle = CSS_ORANGE;
  ctx.lineWidth = 2.5;
  curve.forEach((y, i) => {
    const x1 = -extent + (2 * extent * i) / (curve.length - 1);
    const v = y === null ? 0 : Math.max(-CURVE_Y_EXTENT, Math.min(CURVE_Y_EXTENT, y));
    if (i) ctx.lineTo(px(x1), py(v));
    else ctx.moveTo(px(x1), py(v));
  });
  ctx.stroke();
  ctx.lineWidth = 1;
}
