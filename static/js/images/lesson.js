// The lesson "Why convolutions": the same digits, an MLP on the pixels and a CNN with fewer
// parameters, each trained the same number of steps from the same seed; the page fills a table
// with what each reached, so the comparison is the learner's own measurement.
export const LESSON_STEPS = 300;

export const LESSON_MODELS = Object.freeze({
  mlp: { conv_blocks: [], hidden_layers: [32], activation: "relu", dropout: 0, batchnorm: false, residual: false, seed: 0 },
  cnn: {
    conv_blocks: [
      { channels: 8, kernel_size: 3, padding: true, pool: true },
      { channels: 16, kernel_size: 3, padding: true, pool: true },
    ],
    hidden_layers: [],
    activation: "relu",
    dropout: 0,
    batchnorm: false,
    residual: false,
    seed: 0,
  },
});

export function createLesson(root, { configure }) {
  const rows = root.querySelector("tbody");
  let current = null;
  let parameters = 0;
  for (const kind of Object.keys(LESSON_MODELS)) {
    root.querySelector(`[data-testid=lesson-${kind}]`).addEventListener("click", () => {
      current = kind;
      configure(LESSON_MODELS[kind]);
    });
  }

  return {
    // Opened from the plane lab's lesson menu (#lesson=why-convolutions): shown and focused.
    open() {
      root.dataset.open = "1";
      root.scrollIntoView({ block: "center" });
      root.querySelector("[data-testid=lesson-mlp]").focus();
    },
    session(info) {
      const kind = Object.keys(LESSON_MODELS).find((k) => sameModel(info.config.model, LESSON_MODELS[k]));
      current = kind && kind === current ? kind : null;
      parameters = info.parameter_count;
    },
    frame(frame) {
      if (!current || frame.step < LESSON_STEPS) return;
      const row = rows.querySelector(`[data-model=${current}]`);
      if (row.dataset.done) return;
      row.dataset.done = "1";
      row.dataset.parameters = parameters;
      row.dataset.accuracy = frame.test_accuracy;
      row.cells[1].textContent = parameters.toLocaleString();
      row.cells[2].textContent = `${(frame.test_accuracy * 100).toFixed(1)} % (at step ${frame.step})`;
    },
  };
}

function sameModel(a, b) {
  return JSON.stringify(a.conv_blocks) === JSON.stringify(b.conv_blocks) && JSON.stringify(a.hidden_layers) === JSON.stringify(b.hidden_layers);
}
