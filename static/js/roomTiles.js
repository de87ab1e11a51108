// The class view's tiles as data: merged from `class_tiles` messages, sorted, and each
// sparkline as an SVG path. No DOM here, so the rules are tested in node.

export const TileSort = Object.freeze({ NAME: "name", LOSS: "loss", ACCURACY: "accuracy" });

// A tile message carries only the tiles that changed: the rest keep their last state.
export function mergeTiles(tiles, changed) {
  const next = new Map(tiles);
  for (const tile of changed) next.set(tile.student, tile);
  return next;
}

// Students who left the roster lose their tile; disconnected ones keep it (greyed out).
export function keepRoster(tiles, roster) {
  const ids = new Set(roster.map((entry) => entry.id));
  return new Map([...tiles].filter(([id]) => ids.has(id)));
}

function lastOrInfinity(value, sign) {
  return value === null || value === undefined || Number.isNaN(value) ? Infinity : sign * value;
}

// Lowest test loss first, highest accuracy first, or by name; a run without figures goes last.
export function sortTiles(tiles, by) {
  const list = [...tiles.values()];
  const byName = (a, b) => a.name.localeCompare(b.name) || a.student.localeCompare(b.student);
  if (by === TileSort.LOSS) {
    return list.sort((a, b) => lastOrInfinity(a.test_loss, 1) - lastOrInfinity(b.test_loss, 1) || byName(a, b));
  }
  if (by === TileSort.ACCURACY) {
    return list.sort((a, b) => lastOrInfinity(a.test_accuracy, -1) - lastOrInfinity(b.test_accuracy, -1) || byName(a, b));
  }
  return list.sort(byName);
}

// An SVG path through the finite losses, scaled to width × height (higher loss higher up).
export function sparklinePath(values, width, height) {
  const points = values.map((v, i) => [i, v]).filter(([, v]) => v !== null && Number.isFinite(v));
  if (points.length < 2) return "";
  const ys = points.map(([, v]) => v);
  const low = Math.min(...ys);
  const span = Math.max(...ys) - low || 1;
  const stepX = width / Math.max(1, values.length - 1);
  return points
    .map(([i, v], n) => `${n ? "L" : "M"}${(i * stepX).toFixed(1)},${(height - ((v - low) / span) * height).toFixed(1)}`)
    .join(" ");
}
