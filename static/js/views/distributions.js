// Distributions over time, one compact chart per layer (TensorBoard's percentile bands): the
// min–max, ±1.5σ, ±1σ and ±0.5σ bands and the median of the chosen tensor, frame by frame.
const HEIGHT = 64;
const LEFT = 56; // the value ticks' column
const TICK_FONT_PX = 11;
const MAX_COLUMNS = 240;
const BAND_ALPHAS = [0.15, 0.3, 0.45, 0.6];

export function createDistributionsView(root) {
  const select = document.createElement("select");
  select.dataset.testid = "distribution-tensor";
  select.setAttribute("aria-label", "Which tensor's distribution");
  for (const [value, label] of [["weights", "weights"], ["gradients", "gradients ∂L/∂w"], ["activations", "activations (outputs on the training points)"]]) {
    select.add(new Option(label, value));
  }
  const charts = document.createElement("div");
  charts.className = "distribution-charts";
  charts.dataset.tickFontPx = String(TICK_FONT_PX);
  root.append(select, charts);
  let columns = []; // [{step, layers: LayerHealth[]}]
  let canvases = [];
  let lastVersion = null;

  function ensureCanvases(n) {
    if (canvases.length === n) return;
    canvases = Array.from({ length: n }, (_, i) => {
      const box = document.createElement("figure");
      box.className = "distribution";
      const caption = document.createElement("figcaption");
      caption.textContent = i === n - 1 ? `layers[${i}] (output)` : `layers[${i}]`;
      const canvas = document.createElement("canvas");
      canvas.height = HEIGHT;
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", `Distribution over time of layers[${i}]`);
      box.append(caption, canvas);
      return { box, canvas, caption };
    });
    charts.replaceChildren(...canvases.map((c) => c.box));
  }

  function draw() {
    const key = select.value;
    const n = columns.length ? columns[columns.length - 1].layers.length : 0;
    ensureCanvases(n);
    // As wide as the panel: the bands get a pixel column or more per recorded step.
    const width = Math.max(200, Math.floor(charts.clientWidth || 300));
    canvases.forEach(({ canvas }, layer) => {
      if (canvas.width !== width) canvas.width = width;
      const ctx = canvas.getContext("2d");
      ctx.clearRect(0, 0, width, HEIGHT);
      const bands = columns.map((c) => c.layers[layer]?.[key]).filter((b) => Array.isArray(b));
      if (!bands.length) return;
      let lo = Infinity;
      let hi = -Infinity;
      for (const b of bands) for (const v of b) if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      if (!(hi > lo)) hi = lo + 1e-9;
      const y = (v) => HEIGHT - 2 - ((v - lo) / (hi - lo)) * (HEIGHT - 4);
      const w = (width - LEFT) / Math.max(bands.length, 1);
      // One path and one fill per band level: thousands of fillRects (7 layers × 240 columns
      // × 4 bands) made this the page's slowest chart.
      for (let k = 0; k < BAND_ALPHAS.length; k++) {
        ctx.fillStyle = `rgba(230, 97, 1, ${BAND_ALPHAS[k]})`;
        ctx.beginPath();
        bands.forEach((b, i) => {
          const top = b[b.length - 1 - k];
          const bottom = b[k];
          if (top !== null && bottom !== null) ctx.rect(LEFT + i * w, y(top), Math.ceil(w), Math.max(1, y(bottom) - y(top)));
        });
        ctx.fill();
      }
      ctx.fillStyle = "#333";
      ctx.font = `${TICK_FONT_PX}px "Liberation Sans", sans-serif`;
      ctx.fillText(hi.toPrecision(2), 2, TICK_FONT_PX);
      ctx.fillText(lo.toPrecision(2), 2, HEIGHT - 2);
      const span = `steps ${columns[0].step}–${columns[columns.length - 1].step}`;
      ctx.fillText(span, width - ctx.measureText(span).width - 2, TICK_FONT_PX);
    });
  }

  select.addEventListener("change", draw);

  return {
    update({ frame }) {
      const health = frame?.health;
      const last = columns[columns.length - 1];
      // Frames between two health computations repeat the same figures: one column each.
      if (!health || (frame.health_version === lastVersion && last && frame.step >= last.step)) return;
      lastVersion = frame.health_version;
      // A rewind or a new model starts the picture again; a repeat of the same step replaces.
      if (last && (frame.step < last.step || last.layers.length !== health.layers.length)) columns = [];
      if (columns.length && columns[columns.length - 1].step === frame.step) columns.pop();
      columns.push({ step: frame.step, layers: health.layers });
      if (columns.length > MAX_COLUMNS) columns = columns.filter((_, i) => i % 2 === 0 || i === columns.length - 1);
      draw();
    },
    destroy() {
      root.replaceChildren();
    },
  };
}
