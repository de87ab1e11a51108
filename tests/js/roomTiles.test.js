import { test } from "node:test";
import assert from "node:assert/strict";
import { keepRoster, mergeTiles, sortTiles, sparklinePath, TileSort } from "../../static/js/roomTiles.js";

const tile = (student, name, test_loss, test_accuracy) => ({ student, name, test_loss, test_accuracy });

test("a tiles message replaces only the tiles it carries", () => {
  const first = mergeTiles(new Map(), [tile("a", "Ann", 0.5, 0.7), tile("b", "Bo", 0.4, 0.8)]);
  const next = mergeTiles(first, [tile("a", "Ann", 0.2, 0.9)]);
  assert.equal(next.get("a").test_loss, 0.2);
  assert.equal(next.get("b").test_loss, 0.4);
});

test("tiles sort by loss, accuracy or name, runs without figures last", () => {
  const tiles = mergeTiles(new Map(), [tile("a", "Cy", 0.3, 0.6), tile("b", "Al", null, null), tile("c", "Bo", 0.1, 0.9)]);
  assert.deepEqual(sortTiles(tiles, TileSort.LOSS).map((t) => t.name), ["Bo", "Cy", "Al"]);
  assert.deepEqual(sortTiles(tiles, TileSort.ACCURACY).map((t) => t.name), ["Bo", "Cy", "Al"]);
  assert.deepEqual(sortTiles(tiles, TileSort.NAME).map((t) => t.name), ["Al", "Bo", "Cy"]);
});

test("a student no longer on the roster loses the tile", () => {
  const tiles = mergeTiles(new Map(), [tile("a", "Ann", 1, 0), tile("b", "Bo", 1, 0)]);
  assert.deepEqual([...keepRoster(tiles, [{ id: "b", name: "Bo" }]).keys()], ["b"]);
});

test("the sparkline spans the box with the highest loss at the top", () => {
  assert.equal(sparklinePath([1, null, 0], 10, 4), "M0.0,0.0 L10.0,4.0");
  assert.equal(sparklinePath([1], 10, 4), "");
});
