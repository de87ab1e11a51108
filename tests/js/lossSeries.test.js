// The loss chart's data: the current run scaled to itself; other runs only when turned on, and
// only those with the same loss function.
import { test } from "node:test";
import assert from "node:assert/strict";
import { currentLossRange, lossChartData } from "../../static/js/lossSeries.js";

const COLOURS = ["#a", "#b", "#c"];
const history = [
  { step: 0, train: 0.7, test: 0.71, penalty: null },
  { step: 10, train: 0.5, test: null, penalty: 0.01 },
];
const runs = [
  { id: 0, name: "first", current: false, loss_name: "BCEWithLogitsLoss", steps: [0, 50], train: [0.7, 40] },
  { id: 1, name: "regression", current: false, loss_name: "MSELoss", steps: [0, 9], train: [3, 1] },
  { id: 2, name: "now", current: true, loss_name: "BCEWithLogitsLoss", steps: [], train: [] },
];
const state = { lossHistory: history, runs, frame: { loss_name: "BCEWithLogitsLoss" } };

test("by default the chart gets the current run only, scaled to its own losses", () => {
  const chart = lossChartData(state, { showOtherRuns: false, colours: COLOURS });
  assert.equal(chart.lossHistory, history);
  assert.deepEqual(chart.overlays, []);
  assert.deepEqual(chart.yRange, [0.01, 0.71]); // not stretched to the old run's 40
  assert.deepEqual(chart.otherRuns, { comparable: 1, otherLoss: 1 });
});

test("turned on, only earlier runs with the same loss are overlaid, coloured as in the timeline", () => {
  const chart = lossChartData(state, { showOtherRuns: true, colours: COLOURS });
  assert.deepEqual(chart.overlays, [{ id: 0, name: "first", colour: "#a", steps: [0, 50], train: [0.7, 40] }]);
  assert.deepEqual(chart.yRange, [0.01, 0.71]);
});

test("a run with nothing finite yet has no range", () => {
  assert.equal(currentLossRange([]), null);
  assert.equal(currentLossRange([{ step: 0, train: null, test: NaN }]), null);
});
