// Lessons of the "See deeper" panel, in the same declarative form as lessons.js.
export const DEEPER_LESSONS = Object.freeze([
  {
    id: "edge-of-stability",
    title: "Edge of stability: λmax climbs to 2/lr",
    settings: {
      data: { dataset: "sine", n_points: 200 },
      model: { hidden_layers: [8, 8], activation: "tanh" },
      training: { learning_rate: 0.05, batch_size: 100, optimizer: "sgd", momentum: 0 },
    },
    explanation:
      "With all 100 training points in each batch this is plain gradient descent. On a valley of curvature λ " +
      "a step of rate lr is stable only while λ < 2/lr. Training makes the loss sharper (λmax rises) until " +
      "λmax reaches 2/lr = 40, and then it hovers there while the loss keeps falling, unevenly.",
    steps: 600,
    outcome: "λmax climbs from below 20 to 2/lr = 40 and hovers there, without the run diverging.",
    tryThis:
      "Open See deeper and press Play: watch the blue λmax meet the red line. Then set the learning rate " +
      "to 1: 2/lr = 2 is already below λmax at the start, and the run diverges.",
  },
]);
