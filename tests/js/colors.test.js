// Points on the decision boundary stay readable: the outline stands out from every map colour.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BLUE, contrastRatio, DIVERGING_LUT, ORANGE, POINT_OUTLINE, veiled } from "../../static/js/views/colors.js";

const hex = (css) => [1, 3, 5].map((i) => parseInt(css.slice(i, i + 2), 16));
const GREEN = [46, 160, 67]; // the third class of the 3-class blobs (taskPlots.js)

test("the contrast ratio is WCAG's: black on white is 21:1, a colour on itself 1:1", () => {
  assert.equal(Math.round(contrastRatio([0, 0, 0], [255, 255, 255]) * 100) / 100, 21);
  assert.equal(contrastRatio(ORANGE, ORANGE), 1);
});

test("a point's outline has at least 3:1 contrast on every colour of the veiled map", () => {
  const outline = hex(POINT_OUTLINE);
  let worst = Infinity;
  for (let i = 0; i < 256; i++) {
    const colour = Array.from(DIVERGING_LUT.slice(i * 4, i * 4 + 3));
    worst = Math.min(worst, contrastRatio(outline, veiled(colour)));
  }
  for (const colour of [ORANGE, BLUE, GREEN]) worst = Math.min(worst, contrastRatio(outline, veiled(colour)));
  assert.ok(worst >= 3, `worst contrast ${worst.toFixed(2)}:1`);
});

test("each class colour inside its outline reads at 3:1 or more", () => {
  for (const colour of [ORANGE, BLUE, GREEN]) {
    assert.ok(contrastRatio(hex(POINT_OUTLINE), colour) >= 3, `class colour ${colour}`);
  }
});

test("without the veil the saturated map would hide the outline less well than with it", () => {
  const outline = hex(POINT_OUTLINE);
  assert.ok(contrastRatio(outline, veiled(BLUE)) > contrastRatio(outline, BLUE));
});
