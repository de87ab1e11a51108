// The digits lab's landscape frame, handed to the plane lab's map: nulls become NaN (drawn as
// holes), the rows keep their order (row 0 at β = −span), the path keeps every point.
import { test } from "node:test";
import assert from "node:assert/strict";
import { asSurfacePicture } from "../../static/js/images/landscapePicture.js";

const frame = {
  step: 7,
  resolution: 2,
  span: 0.5,
  loss: [[1, null], [3, 4]],
  low: 1,
  high: 4,
  line: { start_step: 0, loss: [2, 1], distance: 0.3 },
  path: { steps: [0, 7], alpha: [-0.2, 0], beta: [0.1, 0], residual: [0.05, 0], loss: [null, 1.5] },
};

test("the grid is flattened row by row, a null loss becoming NaN", () => {
  const { values } = asSurfacePicture(frame, false);
  assert.equal(values.length, 4);
  assert.deepEqual([values[0], values[2], values[3]], [1, 3, 4]);
  assert.ok(Number.isNaN(values[1]));
});

test("the surface carries what the map reads: range, span, step, line", () => {
  const { surface, log } = asSurfacePicture(frame, true);
  assert.deepEqual(surface.grid, { resolution: 2, low: 1, high: 4 });
  assert.equal(surface.span, 0.5);
  assert.equal(surface.step, 7);
  assert.equal(surface.line, frame.line);
  assert.equal(log, true);
});

test("the path's points pair each step with its coordinates, the last one now", () => {
  const { path } = asSurfacePicture(frame, false);
  assert.deepEqual(path, [
    { step: 0, alpha: -0.2, beta: 0.1, residual: 0.05, loss: null },
    { step: 7, alpha: 0, beta: 0, residual: 0, loss: 1.5 },
  ]);
});

test("a grid with no finite loss gets a range of 0 rather than null", () => {
  const { surface } = asSurfacePicture({ ...frame, loss: [[null, null], [null, null]], low: null, high: null }, false);
  assert.deepEqual([surface.grid.low, surface.grid.high], [0, 0]);
});
