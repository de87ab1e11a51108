// The loss landscape as a rotatable 3-D surface with the path (and a race's paths) at their true
// losses: plotly, loaded only when this view is first opened.
import { element } from "./dom.js";
import { RACE_COLOURS } from "./race.js";
import { displayValue } from "./landscapeContours.js";

// plotly redraws a whole scene per call: the 3-D path follows the frames at most this often.
const PLOT3D_PATH_MS = 500;
const PLOTLY_SRC = "/vendor/plotly.min.js";
const PLOTLY_RULES_HREF = "/static/css/plotly-rules.css";
const PLOTLY_STYLE_ID = "plotly.js-style-global";
const MAPLIBRE_STYLE_ID = "9f215cf04c5486422605d13261cb87401f4e7763b6296af81e98efbc0130da53";
// plotly trace types (named, so they can't be mistaken for protocol message types).
const SURFACE_TRACE = "surface";
const PATH_TRACE = "scatter3d";

// plotly.js injects <style> elements, which the page's CSP (style-src 'self') refuses. It
// skips creating one when an element with its id exists: its own rules then go through the
// CSSOM into an empty stylesheet served by the app, and maplibre's (maps, unused) are left out.
function loadOnce(tag, props) {
  return new Promise((resolve, reject) => {
    const el = element(tag, props);
    el.addEventListener("load", () => resolve(el));
    el.addEventListener("error", () => reject(new Error(`could not load ${props.src || props.href}`)));
    document.head.append(el);
  });
}

let plotly = null; // a promise of window.Plotly once a 3-D view was opened

function loadPlotly() {
  if (!plotly) {
    plotly = (async () => {
      if (window.Plotly) return window.Plotly;
      if (!document.getElementById(PLOTLY_STYLE_ID)) {
        await loadOnce("link", { rel: "stylesheet", id: PLOTLY_STYLE_ID, href: PLOTLY_RULES_HREF });
      }
      if (!document.getElementById(MAPLIBRE_STYLE_ID)) document.head.append(element("meta", { id: MAPLIBRE_STYLE_ID }));
      await loadOnce("script", { src: PLOTLY_SRC });
      return window.Plotly;
    })();
  }
  return plotly;
}

// The race's paths over the same surface, each at its own true loss (as the session's path).
function raceTraces(race, parameterCount, log) {
  if (!race || race.parameter_count !== parameterCount) return [];
  return race.racers.map((racer, k) => {
    const kept = racer.loss.map((loss, i) => i).filter((i) => racer.loss[i] !== null && Number.isFinite(racer.loss[i]));
    return {
      type: PATH_TRACE, mode: "lines", name: racer.name,
      x: kept.map((i) => racer.alpha[i]), y: kept.map((i) => racer.beta[i]), z: kept.map((i) => displayValue(racer.loss[i], log)),
      line: { color: RACE_COLOURS[k], width: 4 },
    };
  });
}

export function createLandscape3d() {
  const plot = element("div", { className: "surface-3d", testid: "surface-3d", hidden: true });
  const drawn = { at: 0, surface: null, race: null };

  async function draw({ surface, values, path, race, parameterCount, log }, force = false) {
    if (plot.hidden || !surface) return;
    const now = performance.now();
    const fresh = drawn.surface !== surface || drawn.race !== race;
    if (!force && !fresh && now - drawn.at < PLOT3D_PATH_MS) return;
    drawn.at = now;
    const Plotly = await loadPlotly();
    const n = surface.grid.resolution;
    const axis = Array.from({ length: n }, (_, k) => -surface.span + (2 * surface.span * k) / (n - 1));
    const z = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => {
      const d = displayValue(values[i * n + j], log);
      return Number.isFinite(d) ? d : null;
    }));
    const kept = path.filter((p) => p.loss !== null && Number.isFinite(p.loss));
    const traces = [
      { type: SURFACE_TRACE, x: axis, y: axis, z, colorscale: "Viridis", showscale: false, opacity: 0.92, name: "loss" },
      {
        type: PATH_TRACE, mode: "lines", name: "path (true loss, off-plane distance not shown)",
        x: kept.map((p) => p.alpha), y: kept.map((p) => p.beta), z: kept.map((p) => displayValue(p.loss, log)),
        line: { color: "#ff3b30", width: 5 },
      },
      ...raceTraces(race, parameterCount, log),
    ];
    const layout = {
      margin: { l: 0, r: 0, t: 0, b: 0 },
      showlegend: false,
      uirevision: "keep the camera",
      scene: { xaxis: { title: { text: "α" } }, yaxis: { title: { text: "β" } }, zaxis: { title: { text: log ? "log₁₀ loss" : "loss" } } },
    };
    await Plotly.react(plot, traces, layout, { displaylogo: false, displayModeBar: false, responsive: true });
    drawn.surface = surface;
    drawn.race = race;
    plot.dataset.rendered = "true";
    plot.dataset.racePaths = String(traces.length - 2);
  }

  return {
    plot,
    draw,
    // Shown or hidden; returns whether it is shown now.
    toggle() {
      plot.hidden = !plot.hidden;
      return !plot.hidden;
    },
    destroy() {
      if (plotly && window.Plotly) window.Plotly.purge(plot);
    },
  };
}
