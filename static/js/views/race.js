// The optimizer race: up to four optimizers trained from the same weights on the same batches.
// This view owns the race's controls, legend and loss curves; the paths themselves are drawn on
// the loss surface's map by the landscape view, with drawRacePaths below.
import { formatNumber } from "./colors.js";
import { element, input } from "./dom.js";

export const RACE_COLOURS = ["#ff9500", "#ff2d55", "#00e5ff", "#111111"];
const OPTIMIZERS = [["sgd", "SGD"], ["adam", "Adam"], ["adamw", "AdamW"], ["rmsprop", "RMSprop"], ["adagrad", "Adagrad"]];
// The defaults race the three the tutorial compares; the fourth waits to be switched on.
const DEFAULT_ENTRIES = [
  { on: true, optimizer: "sgd", learning_rate: 0.1, momentum: 0 },
  { on: true, optimizer: "sgd", learning_rate: 0.1, momentum: 0.9 },
  { on: true, optimizer: "adam", learning_rate: 0.01, momentum: 0 },
  { on: false, optimizer: "rmsprop", learning_rate: 0.01, momentum: 0 },
];
const DEFAULT_STEPS = 200;
const MAX_STEPS = 2000;
const CHART_WIDTH = 300;
const CHART_HEIGHT = 160;
const PAD = 16;


// Each racer's path on the map, in its colour, with its end marked; `toPixel(alpha, beta)`.
export function drawRacePaths(ctx, race, toPixel) {
  race.racers.forEach((racer, k) => {
    if (!racer.alpha.length) return;
    const pts = racer.alpha.map((a, i) => toPixel(a, racer.beta[i]));
    for (const [width, colour] of [[3.5, "rgba(0, 0, 0, 0.45)"], [1.8, RACE_COLOURS[k]]]) {
      ctx.beginPath();
      pts.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.lineWidth = width;
      ctx.strokeStyle = colour;
      ctx.stroke();
    }
    const [x, y] = pts[pts.length - 1];
    ctx.beginPath();
    ctx.rect(x - 3, y - 3, 6, 6);
    ctx.fillStyle = RACE_COLOURS[k];
    ctx.fill();
  });
}

export function createRaceView(root, { onRace }) {
  const rows = DEFAULT_ENTRIES.map((entry, k) => {
    const row = {
      on: input(`race-on-${k}`, "checkbox", { checked: entry.on, "aria-label": `Race entry ${k + 1}` }),
      optimizer: element("select", { testid: `race-optimizer-${k}`, "aria-label": "Optimizer" }),
      learningRate: input(`race-lr-${k}`, "number", { min: "0.00001", max: "10", step: "any", value: String(entry.learning_rate), "aria-label": "Learning rate" }),
      momentum: input(`race-momentum-${k}`, "number", { min: "0", max: "0.999", step: "0.05", value: String(entry.momentum), "aria-label": "Momentum" }),
    };
    for (const [v, label] of OPTIMIZERS) row.optimizer.add(new Option(label, v));
    row.optimizer.value = entry.optimizer;
    const syncMomentum = () => {
      row.momentum.disabled = !["sgd", "rmsprop"].includes(row.optimizer.value);
    };
    row.optimizer.addEventListener("change", syncMomentum);
    syncMomentum();
    row.element = element("div", { className: "race-entry" }, [
      row.on,
      element("span", { className: `race-swatch race-colour-${k}` }),
      row.optimizer,
      element("label", { className: "inline" }, ["lr ", row.learningRate]),
      element("label", { className: "inline" }, ["momentum ", row.momentum]),
    ]);
    return row;
  });
  const steps = input("race-steps", "number", { min: "1", max: String(MAX_STEPS), step: "10", value: String(DEFAULT_STEPS), "aria-label": "Steps" });
  const start = element("button", { testid: "race-start", textContent: "Race" });
  start.type = "button";
  const info = element("div", { className: "race-info", testid: "race-info", textContent: "Race optimizers from the current weights on the same batches; their paths appear on the map." });
  const legend = element("ul", { className: "race-legend", testid: "race-legend" });
  const chart = element("canvas", { testid: "race-losses", width: CHART_WIDTH, height: CHART_HEIGHT, role: "img", "aria-label": "Each racer's training loss per step" });
  const ctx = chart.getContext("2d");
  root.append(
    element("h3", { textContent: "Optimizer race" }),
    element("div", { className: "race-entries" }, rows.map((r) => r.element)),
    element("div", { className: "race-actions" }, [element("label", { className: "inline" }, ["steps ", steps]), start]),
    info,
    element("div", { className: "race-results" }, [legend, element("figure", {}, [chart, element("figcaption", { textContent: "Training loss of each racer (log scale)" })])]),
  );

  const state = { race: null, racing: false };

  function clamp(value, lo, hi, fallback) {
    const n = Number(value);
    return Number.isFinite(n) ? Math.min(hi, Math.max(lo, n)) : fallback;
  }

  start.addEventListener("click", () => {
    const entries = rows.filter((r) => r.on.checked).map((r) => ({
      optimizer: r.optimizer.value,
      learning_rate: clamp(r.learningRate.value, 1e-5, 10, 0.01),
      momentum: r.momentum.disabled ? 0 : clamp(r.momentum.value, 0, 0.999, 0),
    }));
    if (!entries.length) {
      info.textContent = "Switch on at least one optimizer.";
      return;
    }
    state.racing = true;
    info.textContent = `Racing ${entries.length} optimizer${entries.length === 1 ? "" : "s"}…`;
    onRace({ entries, steps: Math.round(clamp(steps.value, 1, MAX_STEPS, DEFAULT_STEPS)) });
  });

  function renderLegend(race) {
    legend.replaceChildren(...race.racers.map((racer, k) => {
      const last = racer.loss[racer.loss.length - 1];
      const end = racer.diverged_at !== null ? `diverged at step ${racer.diverged_at}` : `loss ${formatNumber(last)}`;
      const offPlane = Math.max(0, ...racer.residual);
      return element("li", { testid: "race-legend-entry" }, [
        element("span", { className: `race-swatch race-colour-${k}` }),
        `${racer.name}: ${end} · up to ${formatNumber(offPlane)} off the plane`,
      ]);
    }));
  }

  function drawCurves(race) {
    ctx.clearRect(0, 0, CHART_WIDTH, CHART_HEIGHT);
    const shown = (v) => (v !== null && v > 0 ? Math.log10(v) : NaN);
    let lo = Infinity, hi = -Infinity;
    for (const racer of race.racers) {
      for (const v of racer.loss.map(shown)) {
        if (Number.isFinite(v)) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
      }
    }
    if (!(lo <= hi)) return;
    if (hi - lo < 1e-6) [lo, hi] = [lo - 0.5, hi + 0.5];
    const x = (step) => PAD + (step / Math.max(1, race.steps)) * (CHART_WIDTH - 2 * PAD);
    const y = (v) => CHART_HEIGHT - PAD - ((v - lo) / (hi - lo)) * (CHART_HEIGHT - 2 * PAD);
    ctx.strokeStyle = "#ccc";
    ctx.lineWidth = 1;
    ctx.strokeRect(PAD, PAD, CHART_WIDTH - 2 * PAD, CHART_HEIGHT - 2 * PAD);
    race.racers.forEach((racer, k) => {
      ctx.beginPath();
      racer.steps.forEach((step, i) => {
        const v = shown(racer.loss[i]);
        if (Number.isFinite(v)) (i ? ctx.lineTo(x(step), y(v)) : ctx.moveTo(x(step), y(v)));
      });
      ctx.strokeStyle = RACE_COLOURS[k];
      ctx.lineWidth = 2;
      ctx.stroke();
    });
    ctx.fillStyle = "#555";
    ctx.font = "10px sans-serif";
    ctx.textBaseline = "bottom";
    ctx.fillText(`loss ${formatNumber(10 ** hi)}`, PAD, PAD - 2);
    ctx.textBaseline = "top";
    ctx.fillText(`${formatNumber(10 ** lo)}`, PAD, CHART_HEIGHT - PAD + 2);
    ctx.textAlign = "right";
    ctx.fillText(`step ${race.steps}`, CHART_WIDTH - PAD, CHART_HEIGHT - PAD + 2);
    ctx.textAlign = "left";
  }

  return {
    update({ race }) {
      if (!race || race === state.race) return;
      state.race = race;
      state.racing = false;
      info.textContent = `${race.steps} steps from step ${race.start_step} in ${race.compute_ms.toFixed(0)} ms, on the same batches; paths drawn on the plane of the surface at step ${race.surface_step}.`;
      renderLegend(race);
      drawCurves(race);
      chart.dataset.curves = String(race.racers.length);
    },
    destroy() {
      root.replaceChildren();
    },
  };
}
