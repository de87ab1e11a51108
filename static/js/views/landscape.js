// The loss landscape: the loss over a plane through parameter space around the current weights,
// the optimizer's path projected on it (growing every frame), how far that path lies off the
// plane, the loss along the straight line from the first to the current weights, and a
// rotatable 3-D surface. This module holds the controls and the requests; the numbers, the
// contours, the 2-D pictures and the 3-D view each live in a landscape* module of their own.
import { formatNumber } from "./colors.js";
import { element, input } from "./dom.js";
import { createProjector, decodeGrid, flatParameters, surfacePath } from "./landscapeDecode.js";
import { createLandscapeMap } from "./landscapeMap.js";
import { createLandscape3d } from "./landscape3d.js";

// A client-side path longer than this keeps every other point (the server's is bounded too).
const MAX_PATH_POINTS = 2000;
// When the path strays further off the plane than this fraction of its extent on the plane,
// the picture is mostly shadow: say so.
const SHADOW_WARNING = 0.5;

const RESOLUTIONS = [21, 41, 61, 81, 101];
const SPANS = [["auto", "fit the path"], ["0.1", "±0.1"], ["0.5", "±0.5"], ["1", "±1"], ["2", "±2"], ["5", "±5"]];
const FOLLOW = [["0", "on demand"], ["10", "every 10 steps"], ["100", "every 100 steps"], ["1000", "every 1000 steps"]];
const MODES = [["random", "random (filter-normalised)"], ["pca", "PCA of the path"], ["weights", "two chosen weights"]];

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
  const pictures = createLandscapeMap();
  const view3d = createLandscape3d();
  const info = element("div", { className: "surface-info", testid: "surface-info" });
  const residualNote = element("div", { className: "surface-residual", testid: "surface-residual" });
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
      element("figure", {}, [pictures.map, element("figcaption", { textContent: "Loss over the plane (α along d1, β along d2); the path in white, ● now, ○ start" })]),
      element("figure", {}, [pictures.line, element("figcaption", { textContent: "Loss on the straight line from the first to the current parameters" })]),
      view3d.plot,
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
    pictures.forget();
    drawAll();
    view3d.draw(picture(), true);
  });
  controls.toggle3d.addEventListener("click", () => {
    const shown = view3d.toggle();
    controls.toggle3d.textContent = shown ? "Hide 3-D" : "3-D view";
    controls.toggle3d.setAttribute("aria-pressed", String(shown));
    if (shown) view3d.draw(picture(), true);
  });
  renderWeightsNote();

  // ---- the data ------------------------------------------------------------------------------

  function acceptSurface(surface) {
    state.surface = surface;
    state.values = decodeGrid(surface.grid);
    state.projector = createProjector(surface);
    state.path = surfacePath(surface);
  }

  // Each new frame of this plane's run adds a point to the path (the page asks for a new plane
  // when the frames belong to another run: reducer.js).
  function followFrame(frame) {
    if (frame.step === state.lastFrameStep) return;
    state.lastFrameStep = frame.step;
    if (!state.surface || frame.step < state.surface.step) return;
    const theta = flatParameters(frame);
    if (theta.length !== state.projector.size) return;
    const last = state.path[state.path.length - 1];
    if (last && frame.step <= last.step) return;
    state.path.push({ step: frame.step, ...state.projector.project(theta), loss: frame.train_loss });
    if (state.path.length > MAX_PATH_POINTS) {
      state.path = state.path.filter((_, k) => k % 2 === 0 || k === state.path.length - 1);
    }
  }

  // ---- drawing -------------------------------------------------------------------------------

  function picture() {
    return {
      surface: state.surface,
      values: state.values,
      path: state.path,
      race: state.race,
      parameterCount: state.projector?.size,
      log: controls.log.checked,
    };
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
    pictures.draw(picture());
    describe();
  }

  return {
    update({ frame, surface, race }) {
      if (race !== undefined) state.race = race;
      if (surface && surface !== state.surface) acceptSurface(surface);
      if (frame) followFrame(frame);
      if (!screen.on) return; // drawn when it comes on screen
      drawAll();
      view3d.draw(picture());
    },
    request,
    // The two edges chosen on the network graph: in "two chosen weights" mode, the axes.
    chooseWeights(weights) {
      state.weights = weights;
      renderWeightsNote();
      if (controls.mode.value === "weights" && state.weights.length === 2) request();
    },
    destroy() {
      view3d.destroy();
      root.replaceChildren();
    },
  };
}
