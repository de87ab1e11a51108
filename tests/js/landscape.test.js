// The loss landscape's maths: the grid and vectors decoded as the server encodes them, the
// least-squares projection, and contour segments where a level crosses the cells.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  createProjector, decodeGrid, flatParameters, frameParameterCount, surfaceParameterCount,
} from "../../static/js/views/landscapeDecode.js";
import { contourSegments, displayRange, displayValue } from "../../static/js/views/landscapeContours.js";

const floats = (values) => Buffer.from(new Float32Array(values).buffer).toString("base64");

function grid(codes, { low = 1, high = 3 } = {}) {
  const bytes = Buffer.alloc(codes.length * 2);
  codes.forEach((c, i) => bytes.writeUInt16LE(c, i * 2));
  return { resolution: Math.sqrt(codes.length), low, high, data: bytes.toString("base64") };
}

test("grid codes decode to low + c/65534·(high − low), 65535 to NaN", () => {
  const values = decodeGrid(grid([0, 65534, 32767, 65535]));
  assert.equal(values[0], 1);
  assert.equal(values[1], 3);
  assert.ok(Math.abs(values[2] - 2) < 1e-4);
  assert.ok(Number.isNaN(values[3]));
});

test("parameters are flattened as the server does: each weight row by row, then the bias", () => {
  const frame = { layers: [{ shape: [2, 1], weights: [[1], [2]], biases: [3, 4] }, { shape: [1, 2], weights: [[5, 6]], biases: [7] }] };
  assert.deepEqual(flatParameters(frame), [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(frameParameterCount(frame), 7);
  assert.equal(surfaceParameterCount({ center: floats([1, 2, 3, 4, 5, 6, 7]) }), 7);
  assert.equal(surfaceParameterCount({ center: floats([1, 2, 3, 4, 5, 6]) }), 6);
  assert.equal(surfaceParameterCount({ center: floats([1, 2, 3, 4, 5]) }), 5);
});

test("a point on the plane projects to its coordinates with no residual", () => {
  const surface = { center: floats([1, 1, 1]), d1: floats([1, 0, 0]), d2: floats([1, 1, 0]) };
  const projector = createProjector(surface);
  // θ = c + 2·d1 − 1·d2 = (2, 0, 1)
  const { alpha, beta, residual } = projector.project([2, 0, 1]);
  assert.ok(Math.abs(alpha - 2) < 1e-9 && Math.abs(beta + 1) < 1e-9 && residual < 1e-6);
});

test("a point off the plane keeps its distance to it as the residual", () => {
  const projector = createProjector({ center: floats([0, 0, 0]), d1: floats([1, 0, 0]), d2: floats([0, 1, 0]) });
  const { alpha, beta, residual } = projector.project([3, 4, 12]);
  assert.deepEqual([alpha, beta], [3, 4]);
  assert.ok(Math.abs(residual - 12) < 1e-6);
});

test("the display is log₁₀ on a log scale, and a flat range is widened", () => {
  assert.equal(displayValue(100, true), 2);
  assert.equal(displayValue(100, false), 100);
  assert.ok(Number.isNaN(displayValue(Infinity, false)));
  assert.deepEqual(displayRange([1, NaN, 10, 100], true), [0, 2]);
  assert.deepEqual(displayRange([5, 5], false), [4.5, 5.5]);
  assert.deepEqual(displayRange([NaN], false), [0, 1]);
});

test("a level between two corners is crossed where linear interpolation puts it", () => {
  // A 2×2 grid rising along j: 0 at j = 0, 4 at j = 1. Levels 1, 2, 3 (four levels in 0…4).
  const segments = contourSegments([0, 4, 0, 4], 2, 0, 4, 4);
  assert.equal(segments.length, 3);
  for (const [[i1, j1], [i2, j2]] of segments) {
    assert.equal(j1, j2, "each contour of a plane rising along j runs along i");
    assert.deepEqual([i1, i2].sort(), [0, 1]);
  }
  assert.deepEqual(segments.map(([[, j]]) => j), [0.25, 0.5, 0.75]);
});

test("cells with a non-finite corner have no contour", () => {
  assert.deepEqual(contourSegments([0, 4, NaN, 4], 2, 0, 4, 4), []);
});
