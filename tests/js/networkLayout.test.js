// The network graph fits its box: large neurons when there is room, never past the box's edges.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fitNetwork, MIN_NODE } from "../../static/js/views/networkLayout.js";

// The network column's graph box at 1366×768 (measured in the browser: about 375 × 578 px).
const LAPTOP = { width: 375, maxHeight: 578 };

function everyNeuronInside({ node, positions }, width, height) {
  return positions.flat().every(({ x, y }) => x >= 0 && y >= 0 && x + node <= width && y + node <= height);
}

test("the default 2 → [4, 2] → 1 network gets neurons of 48 px or more on a laptop", () => {
  const fitted = fitNetwork([2, 4, 2, 1], LAPTOP.width, LAPTOP.maxHeight);
  assert.ok(fitted.node >= 48, `neurons of ${fitted.node} px`);
  assert.ok(fitted.height <= LAPTOP.maxHeight);
  assert.ok(everyNeuronInside(fitted, LAPTOP.width, fitted.height));
});

test("six layers of sixteen fit the same box, with smaller neurons", () => {
  const fitted = fitNetwork([2, 16, 16, 16, 16, 16, 16, 1], LAPTOP.width, LAPTOP.maxHeight);
  assert.ok(fitted.node >= MIN_NODE && fitted.node < 48);
  assert.ok(fitted.height <= LAPTOP.maxHeight);
  assert.ok(everyNeuronInside(fitted, LAPTOP.width, fitted.height));
});

test("each layer is centred on the tallest and the columns are evenly spaced", () => {
  const { node, positions } = fitNetwork([2, 4, 1], 400, 600);
  const centre = (column) => (column[0].y + column.at(-1).y + node) / 2;
  assert.ok(Math.abs(centre(positions[0]) - centre(positions[1])) <= 1);
  assert.ok(Math.abs(centre(positions[2]) - centre(positions[1])) <= 1);
  const gaps = [positions[1][0].x - positions[0][0].x, positions[2][0].x - positions[1][0].x];
  assert.ok(Math.abs(gaps[0] - gaps[1]) <= 1);
});

test("a small network in a tall box uses only the height it needs", () => {
  const fitted = fitNetwork([2, 2, 1], 600, 1000);
  assert.ok(fitted.height < 400, `height ${fitted.height}`);
});
