// The gradients' labels say what is shown: clipped after a step with clipping, raw after backward().
import { test } from "node:test";
import assert from "node:assert/strict";
import { NEURON_GRADIENT_NAME, weightGradientName } from "../../static/js/views/gradientNames.js";

test("without clipping the weights' gradient is plainly ∂L/∂w", () => {
  assert.equal(weightGradientName({ phase: null }, 0), "∂L/∂w");
  assert.equal(weightGradientName({ phase: { done: "backward" } }, 0), "∂L/∂w");
});

test("with clipping on, a full step's gradient is called clipped", () => {
  assert.equal(weightGradientName({ phase: null }, 0.5), "∂L/∂w clipped (global norm ≤ 0.5)");
  assert.equal(weightGradientName({ phase: { done: "step" } }, 0.5), "∂L/∂w clipped (global norm ≤ 0.5)");
});

test("with clipping on, the backward phase's gradient is called raw", () => {
  assert.equal(weightGradientName({ phase: { done: "backward" } }, 0.5), "∂L/∂w raw (before clipping)");
});

test("the neurons' value is named the batch mean of per-sample ∂L/∂zₙ, ∂L/∂b ÷ N", () => {
  assert.match(NEURON_GRADIENT_NAME, /mean over the batch of ∂L\/∂zₙ/);
  assert.match(NEURON_GRADIENT_NAME, /∂L\/∂b ÷ N/);
});

test("the biases' gradient is named the same way", () => {
  assert.equal(weightGradientName({ phase: null }, 2, "∂L/∂b"), "∂L/∂b clipped (global norm ≤ 2)");
});
