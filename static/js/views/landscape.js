// The loss landscape: the loss over a plane through parameter space around the current weights,
// the optimizer's path projected on it (growing every frame), how far that path lies off the
// plane, the loss along the straight line from the first to the current weights, and a
// rotatable 3-D surface (plotly, loaded only when that view is first opened).
import { decodeBase64, formatNumber } from "./colors.js";
import { drawRacePaths, RACE_COLOURS } from "./race.js";
import { element, input } from "./dom.js";

const MAP_SIZE = 300;
const LINE_WIDTH = 300;
const LINE_HEIGHT = 110;
const CONTOUR_LEVELS = 12;
const NOT_FINITE = 65535;
// A client-side path longer than this keeps every other point (the server's is bounded too).
const MAX_PATH_POINTS = 2000;
// When the path strays further off the plane than this fraction of its extent on the plane,
// the picture is mostly shadow: say so.
const SHADOW_WARNING = 0.5;
// plotly redraws a whole scene per call: the 3-D path follows the frames at most this often.
const PLOT3D_PATH_MS = 500;
const PLOTLY_SRC = "/vendor/plotly.min.js";
const PLOTLY_RULES_HREF = "/static/css/plotly-rules.css";
const PLOTLY_STYLE_ID = "plotly.js-style-global";
const MAPLIBRE_STYLE_ID = "9f215cf04c5486422605d13261cb87401f4e7763b6296af81e98efbc0130da53";
// plotly trace types (named, so they can't be mistaken for protocol message types).
const SURFACE_TRACE = "surface";
const PATH_TRACE = "scatter3d";

const RESOLUTIONS = [21, 41, 61, 81, 101];
const SPANS = [["auto", "fit the path"], ["0.1", "±0.1"], ["0.5", "±0.5"], ["1", "±1"], ["2", "±2"], ["5", "±5"]];
const FOLLOW = [["0", "on demand"], ["10", "every 10 steps"], ["100", "every 100 steps"], ["1000", "every 1000 steps"]];
const MODES = [["random", "random (filter-normalised)"], ["pca", "PCA of the path"], ["weights", "two chosen weights"]];

// Viridis stops, low loss dark: the path in white reads on every part of it.
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
const LUT = (() => {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (VIRIDIS.length - 1);
    const k = Math.min(VIRIDIS.length - 2, Math.floor(t));
    const f = t - k;
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = VIRIDIS[k][c] + (VIRIDIS[k + 1][c] - VIRIDIS[k][c]) * f;
  }
  return lut;
})();


function button(testid, text) {
  const el = element("button", { testid, textContent: text });
  el.type = "button";
  return el;
}

function select(testid, options, value) {
  const el = element("select", { testid });
  for (const [v, label] of options) el.add(new Option(label, v));
  el.value = value;
  return el;
}

function labelled(text, control) {
  return element("label", { className: "knob" }, [text, control]);
}

function decodeFloats(text) {
  const bytes = decodeBase64(text);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

// The grid as numbers, row 0 at beta = −span; null where the loss was not finite.
function decodeGrid(grid) {
  const bytes = decodeBase64(grid.data);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = grid.resolution;
  const values = new Float64Array(n * n);
  const scale = (grid.high - grid.low) / 65534;
  for (let i = 0; i < n * n; i++) {
    const code = view.getUint16(i * 2, true);
    values[i] = code === NOT_FINITE ? NaN : grid.low + code * scale;
  }
  return values;
}

// The same flat layout as the server's: each layer's weight row by row, then its bias.
function flatParameters(frame) {
  const out = [];
  for (const layer of frame.layers) {
    for (const row of layer.weights) out.push(...row);
    out.push(...layer.biases);
  }
  return out;
}

// Least-squares plane coordinates of θ − centre, as the server's project_path computes them.
function createProjector(surface) {
  const c = decodeFloats(surface.center);
  const d1 = decodeFloats(surface.d1);
  const d2 = decodeFloats(surface.d2);
  let g11 = 0, g12 = 0, g22 = 0;
  for (let k = 0; k < c.length; k++) {
    g11 += d1[k] * d1[k];
    g12 += d1[k] * d2[k];
    g22 += d2[k] * d2[k];
  }
  const det = g11 * g22 - g12 * g12;
  return {
    size: c.length,
    project(theta) {
      let r1 = 0, r2 = 0, oo = 0;
      for (let k = 0; k < c.length; k++) {
        const o = theta[k] - c[k];
        r1 += d1[k] * o;
        r2 += d2[k] * o;
        oo += o * o;
      }
      const alpha = det > 0 ? (g22 * r1 - g12 * r2) / det : 0;
      const beta = det > 0 ? (g11 * r2 - g12 * r1) / det : 0;
      return { alpha, beta, residual: Math.sqrt(Math.max(0, oo - alpha * r1 - beta * r2)) };
    },
  };
}

function edgeName(w) {
  return `layers[${w.layer}].weight[${w.out_neuron}][${w.in_neuron}]`;
}

export function createLandscapeView(root, { onRequest, limits = {} }) {
  const minResolution = limits.min_surface_resolution ?? 21;
  const maxResolution = limits.max_surface_resolution ?? 101;
  const controls = {
    mode: select("surface-mode", MODES, "random"),
    seed: input("surface-seed", "number", { min: "0", max: String(2 ** 31 - 1), step: "1", value: "0" }),
    resolution: select("surface-resolution", RESOLUTIONS.filter((r) => r >= minResolution && r <= maxResolution).map((r) => [String(r), `${r}×${r}`]), "41"),
    span: select("surface-span", SPANS, "auto"),
    follow: select("surface-follow", FOLLOW, "100"),
    recompute: button("surface-recompute", "Recompute"),
    log: input("surface-log", "checkbox", { checked: true }),
    toggle3d: button("surface-3d-toggle", "3-D view"),
  };
  const weightsNote = element("div", { className: "hint", testid: "surface-weights" });
  const map = element("canvas", { testid: "surface-map", width: MAP_SIZE, height: MAP_SIZE, role: "img", "aria-label": "Loss over the plane, with the optimizer's path" });
  const mapCtx = map.getContext("2d");
  const heat = element("canvas");
  const heatCtx = heat.getContext("2d");
  // The heat map and contours, drawn once per surface; each frame only adds the path on top.
  const background = element("canvas", { width: MAP_SIZE, height: MAP_SIZE });
  const backgroundCtx = background.getContext("2d");
  const line = element("canvas", { testid: "surface-line", width: LINE_WIDTH, height: LINE_HEIGHT, role: "img", "aria-label": "Loss along the straight line from the first to the current parameters" });
  const lineCtx = line.getContext("2d");
  const info = element("div", { className: "surface-info", testid: "surface-info" });
  const residualNote = element("div", { className: "surface-residual", testid: "surface-residual" });
  const plot3d = element("div", { className: "surface-3d", testid: "surface-3d", hidden: true });
  root.append(
    element("div", { className: "surface-controls" }, [
      labelled("Directions", controls.mode),
      labelled("Seed", controls.seed),
      labelled("Resolution", controls.resolution),
      labelled("Span", controls.span),
      labelled("Follow", controls.follow),
      element("label", { className: "inline" }, [controls.log, " log scale"]),
      controls.recompute,
      controls.toggle3d,
    ]),
    weightsNote,
    element("div", { className: "surface-pictures" }, [
      element("figure", {}, [map, element("figcaption", { textContent: "Loss over the plane (α along d1, β along d2); the path in white, ● now, ○ start" })]),
      element("figure", {}, [line, element("figcaption", { textContent: "Loss on the straight line from the first to the current parameters" })]),
      plot3d,
    ]),
    info,
    residualNote,
  );

  const state = {
    surface: null,     // the latest `surface` message
    values: null,      // its decoded grid
    projector: null,
    path: [],          // {step, alpha, beta, residual, loss}: the server's path, then each frame's
    weights: [],       // the two edges chosen on the network graph
    plotly: null,      // a promise of window.Plotly once the 3-D view was opened
    plotted3dAt: 0,
    plotted3dSurface: null,
    plotted3dRace: null,
    drawnSurface: null,
    requestedAt: -1,
    lastFrameStep: -1,
    race: null,        // the latest `race` message: its paths are drawn on this plane
  };

  // A surface costs the server's background thread ~20 ms (41²) to a second (101², big nets),
  // again every few hundred steps while following, and that thread shares Python with training.
  // So surfaces are asked for only while this panel is on screen: scrolled away, folded or
  // hidden by a class setting, the server is told to stop following, and asked again on return.
  const screen = { on: false, wanted: false, following: false };
  new IntersectionObserver((entries) => {
    const on = entries[entries.length - 1].isIntersecting;
    if (on === screen.on) return;
    screen.on = on;
    if (on && screen.wanted) request();
    else if (!on && screen.following) {
      send(false);
      screen.wanted = true; // following again on return
    }
    if (on) drawAll();
  }).observe(root);

  function request() {
    screen.wanted = true;
    if (screen.on) send(true);
  }

  function send(follow) {
    const mode = controls.mode.value;
    const params = {
      mode,
      resolution: Number(controls.resolution.value),
      follow_every_steps: follow ? Number(controls.follow.value) : 0,
    };
    if (mode === "random") params.seed = Math.max(0, Math.floor(Number(controls.seed.value) || 0));
    if (controls.span.value !== "auto") params.span = Number(controls.span.value);
    if (mode === "weights") {
      if (state.weights.length < 2) {
        renderWeightsNote();
        return;
      }
      params.weights = state.weights;
    }
    screen.wanted = false;
    screen.following = params.follow_every_steps > 0;
    onRequest(params);
  }

  function renderWeightsNote() {
    const choosing = controls.mode.value === "weights";
    weightsNote.hidden = !choosing;
    controls.seed.disabled = controls.mode.value !== "random";
    if (!choosing) return;
    weightsNote.textContent = state.weights.length < 2
      ? `Click ${2 - state.weights.length} more edge${state.weights.length === 1 ? "" : "s"} of the network graph to choose the two weights.`
      : `Axes: α = ${edgeName(state.weights[0])}, β = ${edgeName(state.weights[1])} (raw weight units).`;
  }

  for (const key of ["mode", "seed", "resolution", "span", "follow"]) {
    controls[key].addEventListener("change", () => {
      renderWeightsNote();
      request();
    });
  }
  controls.recompute.addEventListener("click", request);
  controls.log.addEventListener("change", () => {
    state.drawnSurface = null;
    drawAll();
    state.plotted3dSurface = null;
    draw3d(true);
  });
  controls.toggle3d.addEventListener("click", () => {
    plot3d.hidden = !plot3d.hidden;
    controls.toggle3d.textContent = plot3d.hidden ? "3-D view" : "Hide 3-D";
    controls.toggle3d.setAttribute("aria-pressed", String(!plot3d.hidden));
    if (!plot3d.hidden) draw3d(true);
  });
  renderWeightsNote();

  // ---- the data ------------------------------------------------------------------------------

  function acceptSurface(surface) {
    state.surface = surface;
    state.values = decodeGrid(surface.grid);
    state.projector = createProjector(surface);
    const p = surface.path;
    state.path = p.steps.map((step, k) => ({ step, alpha: p.alpha[k], beta: p.beta[k], residual: p.residual[k], loss: p.loss[k] }));
  }

  function followFrame(frame) {
    if (frame.step === state.lastFrameStep) return;
    state.lastFrameStep = frame.step;
    const surface = state.surface;
    if (!surface || !state.projector) return;
    const theta = flatParameters(frame);
    const last = state.path[state.path.length - 1];
    if (theta.length !== state.projector.size || frame.step < surface.step) {
      // Another network, or the run went back (reset): this plane belongs to another run.
      if (state.requestedAt !== frame.step) {
        state.requestedAt = frame.step;
        request();
      }
      return;
    }
    if (last && frame.step <= last.step) return;
    state.path.push({ step: frame.step, ...state.projector.project(theta), loss: frame.train_loss });
    if (state.path.length > MAX_PATH_POINTS) {
      state.path = state.path.filter((_, k) => k % 2 === 0 || k === state.path.length - 1);
    }
  }

  // ---- drawing -------------------------------------------------------------------------------

  function display(value) {
    if (!Number.isFinite(value)) return NaN;
    return controls.log.checked ? Math.log10(Math.max(value, 1e-12)) : value;
  }

  function displayRange(values) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) {
      const d = display(v);
      if (Number.isFinite(d)) {
        lo = Math.min(lo, d);
        hi = Math.max(hi, d);
      }
    }
    if (!(lo <= hi)) return [0, 1];
    // A flat curve (the line at step 0 runs from θ₀ to itself) must not magnify rounding noise.
    const least = 1e-6 * Math.max(1, Math.abs(hi));
    return hi - lo > least ? [lo, hi] : [lo - 0.5, hi + 0.5];
  }

  function toPixel(alpha, beta, span) {
    return [((alpha + span) / (2 * span)) * MAP_SIZE, (1 - (beta + span) / (2 * span)) * MAP_SIZE];
  }

  function drawMap() {
    const surface = state.surface;
    mapCtx.clearRect(0, 0, MAP_SIZE, MAP_SIZE);
    if (!surface) return;
    if (state.drawnSurface !== surface) {
      state.drawnSurface = surface;
      drawBackground(surface);
      drawLine();
    }
    mapCtx.drawImage(background, 0, 0);
    drawPath(surface.span);
    // A race of another network (before the new surface arrives) has nothing to be drawn on.
    const race = state.race;
    const onThisPlane = race && state.projector && race.parameter_count === state.projector.size;
    if (onThisPlane) drawRacePaths(mapCtx, race, (alpha, beta) => toPixel(alpha, beta, surface.span));
    map.dataset.racePaths = String(onThisPlane ? race.racers.length : 0);
  }

  function drawBackground(surface) {
    const n = surface.grid.resolution;
    const shown = Array.from(state.values, display);
    const [lo, hi] = displayRange(state.values);
    heat.width = heat.height = n;
    const image = heatCtx.createImageData(n, n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const v = shown[i * n + j];
        const px = ((n - 1 - i) * n + j) * 4; // row 0 is the bottom of the picture
        if (Number.isFinite(v)) {
          const b = Math.round(((v - lo) / (hi - lo)) * 255);
          image.data.set([LUT[b * 3], LUT[b * 3 + 1], LUT[b * 3 + 2], 255], px);
        } else {
          image.data.set([255, 255, 255, 255], px);
        }
      }
    }
    heatCtx.putImageData(image, 0, 0);
    backgroundCtx.clearRect(0, 0, MAP_SIZE, MAP_SIZE);
    backgroundCtx.imageSmoothingEnabled = true;
    // Pixel centres sit on the grid points: the image spans half a cell beyond ±span.
    const cell = MAP_SIZE / (n - 1);
    backgroundCtx.drawImage(heat, -cell / 2, -cell / 2, MAP_SIZE + cell, MAP_SIZE + cell);
    drawContours(shown, n, lo, hi);
  }

  // Marching squares: straight segments where each level crosses a grid cell's edges.
  function drawContours(shown, n, lo, hi) {
    const step = MAP_SIZE / (n - 1);
    const at = (i, j) => shown[i * n + j];
    const point = (i, j) => [j * step, MAP_SIZE - i * step];
    const ctx = backgroundCtx;
    ctx.strokeStyle = "rgba(255, 255, 255, 0.45)";
    ctx.lineWidth = 0.8;
    ctx.beginPath();
    for (let l = 1; l < CONTOUR_LEVELS; l++) {
      const level = lo + ((hi - lo) * l) / CONTOUR_LEVELS;
      for (let i = 0; i < n - 1; i++) {
        for (let j = 0; j < n - 1; j++) {
          const corners = [[i, j], [i, j + 1], [i + 1, j + 1], [i + 1, j]];
          const v = corners.map(([a, b]) => at(a, b));
          if (v.some((x) => !Number.isFinite(x))) continue;
          const crossings = [];
          for (let e = 0; e < 4; e++) {
            const a = v[e], b = v[(e + 1) % 4];
            if ((a < level) !== (b < level)) {
              const t = (level - a) / (b - a);
              const [pa, pb] = [point(...corners[e]), point(...corners[(e + 1) % 4])];
              crossings.push([pa[0] + (pb[0] - pa[0]) * t, pa[1] + (pb[1] - pa[1]) * t]);
            }
          }
          for (let k = 0; k + 1 < crossings.length; k += 2) {
            ctx.moveTo(...crossings[k]);
            ctx.lineTo(...crossings[k + 1]);
          }
        }
      }
    }
    ctx.stroke();
  }

  function drawPath(span) {
    const path = state.path;
    if (!path.length) return;
    const pts = path.map((p) => toPixel(p.alpha, p.beta, span));
    for (const [width, colour] of [[3.5, "rgba(0, 0, 0, 0.55)"], [1.6, "#fff"]]) {
      mapCtx.beginPath();
      pts.forEach(([x, y], k) => (k ? mapCtx.lineTo(x, y) : mapCtx.moveTo(x, y)));
      mapCtx.lineWidth = width;
      mapCtx.strokeStyle = colour;
      mapCtx.stroke();
    }
    const [sx, sy] = pts[0];
    mapCtx.beginPath();
    mapCtx.arc(sx, sy, 4, 0, Math.PI * 2);
    mapCtx.lineWidth = 2;
    mapCtx.strokeStyle = "#fff";
    mapCtx.stroke();
    const [cx, cy] = pts[pts.length - 1];
    mapCtx.beginPath();
    mapCtx.arc(cx, cy, 4.5, 0, Math.PI * 2);
    mapCtx.fillStyle = "#ff3b30";
    mapCtx.fill();
    mapCtx.strokeStyle = "#fff";
    mapCtx.lineWidth = 1.5;
    mapCtx.stroke();
  }

  function drawLine() {
    lineCtx.clearRect(0, 0, LINE_WIDTH, LINE_HEIGHT);
    const surface = state.surface;
    if (!surface) return;
    const values = surface.line.loss.map((v) => (v === null ? NaN : v));
    const [lo, hi] = displayRange(values);
    const pad = 14;
    const x = (k) => pad + (k / (values.length - 1)) * (LINE_WIDTH - 2 * pad);
    const y = (v) => LINE_HEIGHT - pad - ((display(v) - lo) / (hi - lo)) * (LINE_HEIGHT - 2 * pad);
    lineCtx.strokeStyle = "#ccc";
    lineCtx.strokeRect(pad, pad, LINE_WIDTH - 2 * pad, LINE_HEIGHT - 2 * pad);
    lineCtx.beginPath();
    let drawing = false;
    values.forEach((v, k) => {
      if (!Number.isFinite(v)) {
        drawing = false;
        return;
      }
      if (drawing) lineCtx.lineTo(x(k), y(v));
      else lineCtx.moveTo(x(k), y(v));
      drawing = true;
    });
    lineCtx.strokeStyle = "#0877bd";
    lineCtx.lineWidth = 2;
    lineCtx.stroke();
    lineCtx.fillStyle = "#555";
    lineCtx.font = "10px sans-serif";
    lineCtx.textBaseline = "bottom";
    lineCtx.fillText(`step ${surface.line.start_step}: ${formatNumber(values[0])}`, pad, pad - 2);
    lineCtx.textAlign = "right";
    lineCtx.fillText(`step ${surface.step}: ${formatNumber(values[values.length - 1])}`, LINE_WIDTH - pad, pad - 2);
    lineCtx.textAlign = "left";
    lineCtx.textBaseline = "top";
    lineCtx.fillText(`‖θ − θ₀‖ = ${formatNumber(surface.line.distance)}`, pad, LINE_HEIGHT - pad + 2);
  }

  function describe() {
    const surface = state.surface;
    if (!surface) {
      info.textContent = "Computing the loss surface…";
      residualNote.textContent = "";
      return;
    }
    const n = surface.grid.resolution;
    const parts = [
      `Around step ${surface.step}`,
      `${n}×${n} in ${surface.compute_ms.toFixed(0)} ms`,
      `α, β in ±${formatNumber(surface.span)}`,
      `loss ${formatNumber(surface.grid.low)} … ${formatNumber(surface.grid.high)}`,
    ];
    if (surface.explained) {
      parts.push(`PCA captures ${(surface.explained[0] * 100).toFixed(1)}% + ${(surface.explained[1] * 100).toFixed(1)}% of the path's variance`);
    }
    info.textContent = parts.join(" · ");
    // The residual: how far each path point is from the plane (0 on it). A random plane in a
    // space of hundreds of dimensions sees little of the real path; the drawing is its shadow.
    let extent = 0, worst = 0;
    for (const p of state.path) {
      extent = Math.max(extent, Math.hypot(p.alpha, p.beta));
      worst = Math.max(worst, p.residual);
    }
    const now = state.path[state.path.length - 1];
    const shadow = worst > SHADOW_WARNING * extent && worst > 0;
    residualNote.classList.toggle("warning", shadow);
    residualNote.textContent =
      `Off the plane: the path strays up to ${formatNumber(worst)} from it (its extent on the plane is ${formatNumber(extent)}); ` +
      `now ${formatNumber(now ? now.residual : 0)}.` +
      (shadow ? " Most of the movement is off this plane: the drawn path is a shadow. PCA directions show it truly." : "");
  }

  function drawAll() {
    drawMap();
    describe();
  }

  // ---- 3-D -----------------------------------------------------------------------------------

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

  function loadPlotly() {
    if (!state.plotly) {
      state.plotly = (async () => {
        if (window.Plotly) return window.Plotly;
        if (!document.getElementById(PLOTLY_STYLE_ID)) {
          await loadOnce("link", { rel: "stylesheet", id: PLOTLY_STYLE_ID, href: PLOTLY_RULES_HREF });
        }
        if (!document.getElementById(MAPLIBRE_STYLE_ID)) document.head.append(element("meta", { id: MAPLIBRE_STYLE_ID }));
        await loadOnce("script", { src: PLOTLY_SRC });
        return window.Plotly;
      })();
    }
    return state.plotly;
  }

  // The race's paths over the same surface, each at its own true loss (as the session's path).
  function raceTraces3d() {
    const race = state.race;
    if (!race || !state.projector || race.parameter_count !== state.projector.size) return [];
    return race.racers.map((racer, k) => {
      const kept = racer.loss.map((loss, i) => i).filter((i) => racer.loss[i] !== null && Number.isFinite(racer.loss[i]));
      return {
        type: PATH_TRACE, mode: "lines", name: racer.name,
        x: kept.map((i) => racer.alpha[i]), y: kept.map((i) => racer.beta[i]), z: kept.map((i) => display(racer.loss[i])),
        line: { color: RACE_COLOURS[k], width: 4 },
      };
    });
  }

  async function draw3d(force = false) {
    const surface = state.surface;
    if (plot3d.hidden || !surface) return;
    const now = performance.now();
    const newSurface = state.plotted3dSurface !== surface;
    const newRace = state.plotted3dRace !== state.race;
    if (!force && !newSurface && !newRace && now - state.plotted3dAt < PLOT3D_PATH_MS) return;
    state.plotted3dAt = now;
    const Plotly = await loadPlotly();
    const n = surface.grid.resolution;
    const axis = Array.from({ length: n }, (_, k) => -surface.span + (2 * surface.span * k) / (n - 1));
    const z = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => {
      const d = display(state.values[i * n + j]);
      return Number.isFinite(d) ? d : null;
    }));
    const path = state.path.filter((p) => p.loss !== null && Number.isFinite(p.loss));
    const zTitle = controls.log.checked ? "log₁₀ loss" : "loss";
    const traces = [
      { type: SURFACE_TRACE, x: axis, y: axis, z, colorscale: "Viridis", showscale: false, opacity: 0.92, name: "loss" },
      {
        type: PATH_TRACE, mode: "lines", name: "path (true loss, off-plane distance not shown)",
        x: path.map((p) => p.alpha), y: path.map((p) => p.beta), z: path.map((p) => display(p.loss)),
        line: { color: "#ff3b30", width: 5 },
      },
      ...raceTraces3d(),
    ];
    const layout = {
      margin: { l: 0, r: 0, t: 0, b: 0 },
      showlegend: false,
      uirevision: "keep the camera",
      scene: { xaxis: { title: { text: "α" } }, yaxis: { title: { text: "β" } }, zaxis: { title: { text: zTitle } } },
    };
    await Plotly.react(plot3d, traces, layout, { displaylogo: false, displayModeBar: false, responsive: true });
    state.plotted3dSurface = surface;
    state.plotted3dRace = state.race;
    plot3d.dataset.rendered = "true";
    plot3d.dataset.racePaths = String(traces.length - 2);
  }

  return {
    update({ frame, surface, selectedWeights, race }) {
      if (race !== undefined) state.race = race;
      if (selectedWeights && selectedWeights !== state.weights) {
        state.weights = selectedWeights;
        renderWeightsNote();
        if (controls.mode.value === "weights" && state.weights.length === 2) request();
      }
      if (surface && surface !== state.surface) acceptSurface(surface);
      if (frame) followFrame(frame);
      if (!screen.on) return; // drawn when it comes on screen
      drawAll();
      draw3d();
    },
    request,
    destroy() {
      if (state.plotly && window.Plotly) window.Plotly.purge(plot3d);
      root.replaceChildren();
    },
  };
}
