// The loss landscape's numbers, with no DOM: the grid decoded, parameters flattened as the
// server flattens them, and frames projected onto the plane by least squares.
import { base64ByteLength, decodeBase64, decodeFloat32 } from "../base64.js";

// The uint16 code of a non-finite loss (app/protocol.py SurfaceGrid).
const NOT_FINITE = 65535;

// The grid as numbers, row 0 at beta = −span; NaN where the loss was not finite.
export function decodeGrid(grid) {
  const bytes = decodeBase64(grid.data);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = grid.resolution;
  const values = new Float64Array(n * n);
  const scale = (grid.high - grid.low) / 65534;
  for (let i = 0; i < n * n; i++) {
    const code = view.getUint16(i * 2, true);
    values[i] = code === NOT_FINITE ? NaN : grid.low + code * scale;
  }
  return values;
}

// The same flat layout as the server's: each layer's weight row by row, then its bias.
export function flatParameters(frame) {
  const out = [];
  for (const layer of frame.layers) {
    for (const row of layer.weights) out.push(...row);
    out.push(...layer.biases);
  }
  return out;
}

// How many parameters a frame's network has (weights and biases), from the layers' shapes.
export function frameParameterCount(frame) {
  return frame.layers.reduce((sum, { shape: [rows, columns] }) => sum + rows * columns + rows, 0);
}

// How many parameters the surface's plane lives among (its centre is one float32 each).
export function surfaceParameterCount(surface) {
  return base64ByteLength(surface.center) / 4;
}

// Least-squares plane coordinates of θ − centre, as the server's project_path computes them.
export function createProjector(surface) {
  const c = decodeFloat32(surface.center);
  const d1 = decodeFloat32(surface.d1);
  const d2 = decodeFloat32(surface.d2);
  let g11 = 0, g12 = 0, g22 = 0;
  for (let k = 0; k < c.length; k++) {
    g11 += d1[k] * d1[k];
    g12 += d1[k] * d2[k];
    g22 += d2[k] * d2[k];
  }
  const det = g11 * g22 - g12 * g12;
  return {
    size: c.length,
    project(theta) {
      let r1 = 0, r2 = 0, oo = 0;
      for (let k = 0; k < c.length; k++) {
        const o = theta[k] - c[k];
        r1 += d1[k] * o;
        r2 += d2[k] * o;
        oo += o * o;
      }
      const alpha = det > 0 ? (g22 * r1 - g12 * r2) / det : 0;
      const beta = det > 0 ? (g11 * r2 - g12 * r1) / det : 0;
      return { alpha, beta, residual: Math.sqrt(Math.max(0, oo - alpha * r1 - beta * r2)) };
    },
  };
}

// The surface's path as points {step, alpha, beta, residual, loss}.
export function surfacePath(surface) {
  const p = surface.path;
  return p.steps.map((step, k) => ({ step, alpha: p.alpha[k], beta: p.beta[k], residual: p.residual[k], loss: p.loss[k] }));
}

// Whether a frame belongs to another run than the surface's plane: another network, or the
// run went back (reset, rewind) before the surface's step.
export function frameLeftThePlane(frame, surface) {
  return frameParameterCount(frame) !== surfaceParameterCount(surface) || frame.step < surface.step;
}
