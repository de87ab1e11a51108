// Playground's diverging scale: orange (−1 / class 0) → light grey (0) → blue (+1 / class 1).
import { decodeBase64 } from "../base64.js";

export const ORANGE = [245, 147, 34];
export const GREY = [232, 234, 235];
export const BLUE = [8, 119, 189];
export const CSS_ORANGE = "#f59322";
export const CSS_BLUE = "#0877bd";
// The decision boundary's map is mixed this far toward white under the points (Playground
// lightens its map too): with POINT_OUTLINE around each point, every point stands out at
// ≥ 3:1 contrast on every colour of the map (tests/js/colors.test.js checks all 256).
export const BOUNDARY_VEIL = 0.4;
export const POINT_OUTLINE = "#1f1f1f";

// WCAG 2 contrast ratio of two [r, g, b] colours (0–255).
export function contrastRatio(a, b) {
  const luminance = (rgb) => {
    const [r, g, bl] = rgb.map((v) => {
      const c = v / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

// A map colour as drawn under the veil.
export function veiled(rgb, veil = BOUNDARY_VEIL) {
  return rgb.map((v) => Math.round(v + (255 - v) * veil));
}

function mix(a, b, t) {
  return a.map((v, i) => Math.round(v + (b[i] - v) * t));
}

// 256 colours for a byte that stands for low…high, where the midpoint is the neutral grey.
export const DIVERGING_LUT = (() => {
  const lut = new Uint8ClampedArray(256 * 4);
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    const rgb = t < 0.5 ? mix(ORANGE, GREY, t * 2) : mix(GREY, BLUE, (t - 0.5) * 2);
    lut.set([...rgb, 255], i * 4);
  }
  return lut;
})();

// A heat map is drawn once into a small canvas of its own resolution, then scaled by the
// browser: cheap enough to redraw every neuron's map on every frame.
export function createHeatmapCanvas() {
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d");
  let image = null;
  return {
    canvas,
    draw(heatmap, { discretize = false } = {}) {
      const n = heatmap.resolution;
      if (canvas.width !== n) {
        canvas.width = canvas.height = n;
        image = ctx.createImageData(n, n);
      }
      const bytes = decodeBase64(heatmap.data);
      // Where the map's range straddles zero, byte 127.5 is zero: discretising splits there.
      const zeroByte = heatmap.high > heatmap.low ? (-heatmap.low / (heatmap.high - heatmap.low)) * 255 : 127.5;
      const px = image.data;
      for (let i = 0; i < bytes.length; i++) {
        let v = bytes[i];
        if (discretize) v = v >= zeroByte ? 255 : 0;
        px[i * 4] = DIVERGING_LUT[v * 4];
        px[i * 4 + 1] = DIVERGING_LUT[v * 4 + 1];
        px[i * 4 + 2] = DIVERGING_LUT[v * 4 + 2];
        px[i * 4 + 3] = 255;
      }
      ctx.putImageData(image, 0, 0);
    },
  };
}

// `digits` decimals, but a small number keeps at least two significant digits (0.0043 stays
// 0.0043 rather than rounding to 0.00), and a tiny or huge one goes to exponent form.
export function formatNumber(value, digits = 3) {
  if (value === null || value === undefined) return "—";
  if (value === 0) return "0";
  const abs = Math.abs(value);
  if (abs >= 1e4 || abs < 1e-3) return value.toExponential(2);
  if (abs < 10 ** (1 - digits)) return value.toPrecision(Math.max(2, digits));
  return value.toFixed(digits);
}
