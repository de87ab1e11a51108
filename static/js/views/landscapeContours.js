// The loss landscape's scale and contour lines, with no DOM: losses shown (log or not), their
// range, and marching squares over the grid.

const CONTOUR_LEVELS = 12;

// A loss as drawn: log₁₀ on a log scale (tiny losses clamped), NaN where it is not finite.
export function displayValue(value, log) {
  if (!Number.isFinite(value)) return NaN;
  return log ? Math.log10(Math.max(value, 1e-12)) : value;
}

// [lo, hi] of the finite displayed values, never empty.
export function displayRange(values, log) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) {
    const d = displayValue(v, log);
    if (Number.isFinite(d)) {
      lo = Math.min(lo, d);
      hi = Math.max(hi, d);
    }
  }
  if (!(lo <= hi)) return [0, 1];
  // A flat curve (the line at step 0 runs from θ₀ to itself) must not magnify rounding noise.
  const least = 1e-6 * Math.max(1, Math.abs(hi));
  return hi - lo > least ? [lo, hi] : [lo - 0.5, hi + 0.5];
}

// Marching squares over an n×n grid (row-major, row i, column j): for each of the levels
// evenly inside (lo, hi), straight segments where the level crosses a cell's edges, as
// [[i, j], [i, j]] pairs in fractional grid coordinates. Cells with a non-finite corner are skipped.
export function contourSegments(shown, n, lo, hi, levels = CONTOUR_LEVELS) {
  const segments = [];
  const at = (i, j) => shown[i * n + j];
  for (let l = 1; l < levels; l++) {
    const level = lo + ((hi - lo) * l) / levels;
    for (let i = 0; i < n - 1; i++) {
      for (let j = 0; j < n - 1; j++) {
        const corners = [[i, j], [i, j + 1], [i + 1, j + 1], [i + 1, j]];
        const v = corners.map(([a, b]) => at(a, b));
        if (v.some((x) => !Number.isFinite(x))) continue;
        const crossings = [];
        for (let e = 0; e < 4; e++) {
          const a = v[e], b = v[(e + 1) % 4];
          if ((a < level) !== (b < level)) {
            const t = (level - a) / (b - a);
            const [pa, pb] = [corners[e], corners[(e + 1) % 4]];
            crossings.push([pa[0] + (pb[0] - pa[0]) * t, pa[1] + (pb[1] - pa[1]) * t]);
          }
        }
        for (let k = 0; k + 1 < crossings.length; k += 2) segments.push([crossings[k], crossings[k + 1]]);
      }
    }
  }
  return segments;
}
