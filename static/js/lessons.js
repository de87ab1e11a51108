// Lessons: ready scenarios, one declarative table. A lesson is a partial configuration over the
// defaults (data, model, training), a few view switches, and two or three sentences to read.
// `steps` and `outcome` say what will happen: "Run `steps` steps: `outcome`" — the page sets
// Run N steps to `steps`, and tests/unit/test_lessons.py runs each lesson so and checks it.
// The page applies one through the ordinary messages (configure for data and model, set for the
// training knobs), so a lesson can do nothing a learner could not do by hand.
import { cloneConfig } from "./store.js";
import { DEEPER_LESSONS } from "./lessonsDeeper.js";

export const LESSONS = Object.freeze([
  {
    id: "learning-rate-too-high",
    title: "Learning rate too high: divergence",
    settings: { model: { activation: "sigmoid" }, training: { learning_rate: 10 } },
    explanation:
      "Each step moves every weight by learning rate × gradient. At 10 the steps overshoot the bottom " +
      "of the valley, so the loss bounces up instead of down; once it doubles, the run stops as diverged " +
      "and keeps the last good weights.",
    steps: 300,
    outcome: "the loss rises until it has doubled, and the run stops as diverged (at step 180).",
    tryThis: "Then try 1, 0.3 and 0.03 with Reset: which of them brings the loss down within 1,000 steps?",
  },
  {
    id: "vanishing-gradients",
    title: "Vanishing gradients: a deep sigmoid network",
    settings: { model: { hidden_layers: [6, 6, 6, 6, 6, 6], activation: "sigmoid" }, training: { learning_rate: 0.1 } },
    view: { showGradients: true },
    explanation:
      "The sigmoid's slope is at most 0.25, and backpropagation multiplies one such factor per layer. " +
      "After six layers the first layer's gradient is thousands of times smaller than the last one's, " +
      "so the layers near the input hardly learn.",
    steps: 100,
    outcome: "the first layer's ∂L/∂w is over a thousand times smaller than the last layer's, the " +
      "edges near the input stay faint, and Gradient health flags vanishing gradients.",
    tryThis: "Switch the activation to ReLU or Tanh, Reset, and run again.",
  },
  {
    id: "dead-relus",
    title: "Dead ReLUs",
    settings: { model: { hidden_layers: [8, 8], activation: "relu" }, training: { learning_rate: 3 } },
    explanation:
      "A ReLU outputs 0 for every negative input, and then its gradient is 0 too. One big step can push a " +
      "neuron's input below zero for every point: it is dead, and no later gradient can revive it.",
    steps: 500,
    outcome: "every unit of the second layer dies within 100 steps: their maps turn flat, the status " +
      "line and Gradient health flag dead ReLUs, and the loss sticks near 0.69 (a coin toss).",
    tryThis: "Set the learning rate to 0.1, Reset and run 500 steps: no unit dies and the loss falls below 0.05.",
  },
  {
    id: "momentum",
    title: "Momentum vs. plain SGD",
    settings: { data: { dataset: "gauss" }, training: { learning_rate: 0.003, momentum: 0 } },
    explanation:
      "Plain SGD moves by the current gradient only, which is slow where the slope is gentle. Momentum " +
      "keeps a velocity, the running sum of past gradients (×0.9 each step), so steps in a consistent " +
      "direction build up to about ten times their size.",
    steps: 300,
    outcome: "plain SGD is still above a loss of 0.6.",
    tryThis: "Set Momentum to 0.9, Reset and run 300 steps again: the loss falls below 0.15.",
  },
  {
    id: "adam-ravine",
    title: "Adam in a ravine",
    settings: {
      data: { dataset: "xor" },
      model: { hidden_layers: [4], features: ["x1", "x2", "x1x2"] },
      training: { optimizer: "adam", learning_rate: 0.01 },
    },
    explanation:
      "The x₁x₂ input reaches ±36 while x₁ and x₂ stay within ±6, so the loss is a narrow ravine: steep " +
      "for some weights, flat for others. One learning rate cannot suit both; Adam divides each weight's " +
      "step by its own running gradient size, so all of them move at a similar pace.",
    steps: 300,
    outcome: "Adam brings the loss below 0.05.",
    tryThis: "Switch the optimizer to SGD at learning rate 0.003, Reset and run 300 steps: the loss is still above 0.2.",
  },
  {
    id: "zero-grad",
    title: "Why zero_grad() matters",
    settings: {},
    view: { skipZeroGrad: true },
    explanation:
      "loss.backward() adds the new gradients into each parameter's .grad; it never replaces them. " +
      "optimizer.zero_grad() empties .grad first. Skip it and every step uses the sum of all the " +
      "gradients so far, so the steps keep growing.",
    outcome: "stepping phase by phase (Phase ↧, or the . key) through three steps, ‖grad‖ grows after " +
      "every backward.",
    tryThis: "Untick skip zero_grad(), Reset and repeat: ‖grad‖ is each batch's own again, so by the third step it is well below the sum.",
  },
  {
    id: "activation-regularisation",
    title: "Activation regularisation",
    settings: {
      model: { hidden_layers: [8, 8], activation: "relu" },
      training: { activation_penalty: "l1", activation_penalty_strength: 0.05 },
    },
    explanation:
      "An L1 penalty on the hidden outputs, λ·Σ|h| per sample, is added to the loss, so the network is " +
      "pushed to solve the task with few active neurons. The loss chart draws the penalty in red, apart " +
      "from the data loss.",
    steps: 1000,
    outcome: "several neuron maps go blank (their units output 0 for every point) while the loss still falls.",
    tryThis: "Set the penalty λ to 0, Reset and run again: no map goes blank. At 0.3 every one does, and nothing is learnt.",
  },
  {
    id: "zero-initialisation",
    title: "Symmetric zero initialisation",
    settings: { model: { init: "zeros" } },
    explanation:
      "With every weight 0, all neurons of a layer compute the same output and receive the same gradient, " +
      "so they stay identical forever: the layer is no better than one neuron. Random initialisation " +
      "breaks the symmetry.",
    steps: 500,
    outcome: "the neuron maps within a layer never differ, and the loss stays at 0.69.",
    tryThis: "Change Initialisation to Xavier or PyTorch default and run again.",
  },
  {
    id: "frozen-layers",
    title: "Frozen layers",
    settings: { model: { hidden_layers: [8], activation: "relu", frozen_layers: [0] } },
    explanation:
      "A frozen layer's parameters get requires_grad_(False): no gradient, no update. With the hidden " +
      "layer frozen, only the output layer learns, so the network can only recombine eight fixed random " +
      "features, as in transfer learning with a frozen backbone.",
    steps: 1000,
    outcome: "the hidden layer's weights never change and the loss levels off near 0.4.",
    tryThis: "Untick freeze on Layer 1, Reset and run 1,000 steps again: the loss falls below 0.15.",
  },
  ...DEEPER_LESSONS,
]);

export function findLesson(id) {
  return LESSONS.find((lesson) => lesson.id === id) || null;
}

// The whole configuration a lesson stands for: its settings over `defaults`.
export function lessonConfig(lesson, defaults) {
  const config = cloneConfig(defaults);
  for (const section of ["data", "model", "training"]) {
    Object.assign(config[section], cloneConfig(lesson.settings[section] || {}));
  }
  return config;
}

// What the card promises, as the test runs it: "Run N steps: …".
export function lessonOutcome(lesson) {
  return lesson.steps ? `Run ${lesson.steps} steps: ${lesson.outcome}` : `What happens: ${lesson.outcome}`;
}

// Lessons that live on a page of their own (the digits lab): the menu opens that page.
export const PAGE_LESSONS = Object.freeze([
  {
    id: "why-convolutions",
    title: "Why convolutions: an MLP and a smaller CNN on the digits",
    href: "/images#lesson=why-convolutions",
  },
]);

export function findPageLesson(id) {
  return PAGE_LESSONS.find((lesson) => lesson.id === id) || null;
}

export function fillLessonMenu(select) {
  for (const lesson of LESSONS) select.add(new Option(lesson.title, lesson.id));
  const elsewhere = document.createElement("optgroup");
  elsewhere.label = "On the digits page";
  for (const lesson of PAGE_LESSONS) elsewhere.append(new Option(lesson.title, lesson.id));
  select.append(elsewhere);
}

// The card under the topbar: title, explanation, what to try, and a close button.
export function showLessonCard(card, lesson, { onClose }) {
  card.replaceChildren();
  card.hidden = lesson === null;
  if (lesson === null) return;
  card.dataset.lesson = lesson.id;
  const title = document.createElement("h2");
  title.id = "lesson-title";
  title.textContent = `Lesson: ${lesson.title}`;
  const text = document.createElement("p");
  text.textContent = lesson.explanation;
  const outcome = document.createElement("p");
  outcome.className = "lesson-outcome";
  outcome.dataset.testid = "lesson-outcome";
  outcome.textContent = lessonOutcome(lesson);
  const tryThis = document.createElement("p");
  tryThis.className = "lesson-try";
  tryThis.textContent = `Try: ${lesson.tryThis}`;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "small lesson-close";
  close.textContent = "×";
  close.setAttribute("aria-label", "Close the lesson");
  close.addEventListener("click", onClose);
  card.append(title, text, outcome, tryThis, close);
}
