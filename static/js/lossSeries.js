// What the loss chart is given: the current run, scaled to it; other kept runs (earlier runs,
// branches) only when the learner turns them on, and only those trained with the same loss
// function — an MSE curve under a cross-entropy one would share an axis but not a meaning.
// Pure: no DOM, so the chart's data is tested apart from its drawing.

// The current run's range of losses (training, test and penalty), for the y-axis: an old
// divergent run must not squash it.
export function currentLossRange(lossHistory) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const point of lossHistory) {
    for (const v of [point.train, point.test, point.penalty]) {
      if (typeof v !== "number" || !Number.isFinite(v)) continue;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  return Number.isFinite(lo) ? [lo, hi] : null;
}

// { lossHistory, yRange, overlays, otherRuns }:
// - lossHistory: the current run's points ({step, epoch, train, test, penalty, learning_rate}),
// - yRange: [lo, hi] of those points (null before any), what the y-axis spans,
// - overlays: [{id, name, colour, steps, train}] — the other runs to draw, [] unless `showOtherRuns`,
// - otherRuns: {comparable, otherLoss} — how many runs could be overlaid, and how many are left
//   out because their loss is another (for the toggle's label).
export function lossChartData({ lossHistory, runs, frame }, { showOtherRuns, colours }) {
  const lossName = frame?.loss_name ?? null;
  // Coloured by place in the list of runs, as the timeline's swatches are.
  const others = (runs || []).map((run, i) => ({ run, colour: colours[i % colours.length] })).filter(({ run }) => !run.current);
  const comparable = others.filter(({ run }) => run.loss_name === lossName);
  const overlays = showOtherRuns
    ? comparable.map(({ run, colour }) => ({ id: run.id, name: run.name, colour, steps: run.steps, train: run.train }))
    : [];
  return {
    lossHistory,
    yRange: currentLossRange(lossHistory),
    overlays,
    otherRuns: { comparable: comparable.length, otherLoss: others.length - comparable.length },
  };
}
