// Small images drawn cell by cell: weights and gradients on the diverging orange–grey–blue scale
// (negative orange, positive blue, as the plane lab's), ink and maps on grey.
import { DIVERGING_LUT } from "../views/colors.js";

// One side×side image from `values` (row by row) into `canvas`, scaled `scale` times.
// `limit`: the magnitude drawn at full colour (a shared scale, so filters compare).
export function paintDiverging(canvas, values, side, scale, limit) {
  sizeCanvas(canvas, side, scale);
  const ctx = canvas.getContext("2d");
  for (let i = 0; i < side * side; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      ctx.fillStyle = "#999"; // not a number (a diverged gradient)
    } else {
      const byte = Math.max(0, Math.min(255, Math.round(127.5 + (v / (limit || 1)) * 127.5)));
      const c = DIVERGING_LUT.subarray(byte * 4, byte * 4 + 3);
      ctx.fillStyle = `rgb(${c[0]},${c[1]},${c[2]})`;
    }
    ctx.fillRect((i % side) * scale, Math.floor(i / side) * scale, scale, scale);
  }
}

// Ink from 0 (white) to 1 (black), or a map's values from its own minimum to maximum.
export function paintGrey(canvas, values, side, scale, { low = 0, high = 1 } = {}) {
  sizeCanvas(canvas, side, scale);
  const ctx = canvas.getContext("2d");
  const span = high - low || 1;
  for (let i = 0; i < side * side; i++) {
    const t = Math.max(0, Math.min(1, (values[i] - low) / span));
    const g = Math.round(255 * (1 - t));
    ctx.fillStyle = `rgb(${g},${g},${g})`;
    ctx.fillRect((i % side) * scale, Math.floor(i / side) * scale, scale, scale);
  }
}

export function largestMagnitude(values) {
  let m = 0;
  for (const v of values) if (v !== null && Math.abs(v) > m) m = Math.abs(v);
  return m;
}

function sizeCanvas(canvas, side, scale) {
  if (canvas.width !== side * scale) canvas.width = canvas.height = side * scale;
}
