import { test } from "node:test";
import assert from "node:assert/strict";

import { decadeRange, yScaleRange } from "../../static/js/views/chartScale.js";

test("a fixed y range wins over the data's: an overlay reaching 50 does not stretch a run at 0.7", () => {
  // The data (current run and overlays) spans 0.1 … 50; the current run spans 0.2 … 0.7.
  assert.deepEqual(yScaleRange([0.2, 0.7], 0.1, 50, false), [0, 0.7 * 1.05]);
});

test("without a fixed range the linear axis spans the data from zero", () => {
  assert.deepEqual(yScaleRange(null, 0.1, 50, false), [0, 50 * 1.05]);
});

test("a log axis spans the decades of the fixed range, not of the overlays", () => {
  assert.deepEqual(yScaleRange([0.02, 0.7], 1e-4, 50, true), [0.01, 1]);
  assert.deepEqual(yScaleRange(null, 0.002, 50, true), [0.001, 100]);
});

test("on a log axis a fixed end at zero (a zero penalty) gives way to the data's end", () => {
  assert.deepEqual(yScaleRange([0, 0.7], 0.05, 0.7, true), [0.01, 1]);
  assert.deepEqual(decadeRange(0, 1), [0.1, 1]);
});
