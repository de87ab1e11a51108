// The digits lab's loss landscape: a snapshot of the loss over a plane through the model's
// weights (two filter-normalised random directions), drawn by the plane lab's landscape map with
// the path the run took and the loss on the straight line from its first weights to now.
import { formatNumber } from "../views/colors.js";
import { element, input } from "../views/dom.js";
import { createLandscapeMap } from "../views/landscapeMap.js";
import { asSurfacePicture } from "./landscapePicture.js";

const RESOLUTIONS = [11, 21, 31, 41];
const SPANS = ["0.25", "0.5", "1", "2", "5"];

function select(testid, values, value, label) {
  const el = element("select", { testid });
  for (const v of values) el.add(new Option(label(v), String(v)));
  el.value = value;
  return el;
}

export function createImageLandscapeView(root, { onCompute }) {
  const controls = {
    resolution: select("image-landscape-resolution", RESOLUTIONS, "21", (r) => `${r}×${r}`),
    span: select("image-landscape-span", SPANS, "1", (s) => `±${s}`),
    seed: input("image-landscape-seed", "number", { min: "0", max: String(2 ** 31 - 1), step: "1", value: "0" }),
    log: input("image-landscape-log", "checkbox", { checked: true }),
    compute: element("button", { testid: "image-landscape-compute", textContent: "Compute the landscape" }),
  };
  controls.compute.type = "button";
  const pictures = createLandscapeMap();
  const info = element("p", { className: "muted", testid: "image-landscape-info", textContent: "A snapshot of the model now: press Compute." });
  root.append(
    element("div", { className: "surface-controls" }, [
      element("label", { className: "knob" }, ["Resolution", controls.resolution]),
      element("label", { className: "knob" }, ["Span (α, β)", controls.span]),
      element("label", { className: "knob" }, ["Seed", controls.seed]),
      element("label", { className: "inline" }, [controls.log, " log scale"]),
      controls.compute,
    ]),
    element("div", { className: "surface-pictures" }, [
      element("figure", {}, [pictures.map, element("figcaption", { textContent: "Loss over the plane (α along d1, β along d2); the path in white, ● now, ○ start" })]),
      element("figure", {}, [pictures.line, element("figcaption", { textContent: "Loss on the straight line from the first to the current weights" })]),
    ]),
    info,
  );
  let frame = null;
  root.dataset.state = "empty";

  controls.compute.addEventListener("click", () => {
    root.dataset.state = "computing";
    controls.compute.disabled = true;
    info.textContent = "Computing the loss landscape…";
    onCompute({
      resolution: Number(controls.resolution.value),
      span: Number(controls.span.value),
      seed: Math.max(0, Math.floor(Number(controls.seed.value) || 0)),
    });
  });
  controls.log.addEventListener("change", () => {
    pictures.forget();
    draw();
  });

  function draw() {
    if (!frame) {
      pictures.draw({ surface: null });
      return;
    }
    const picture = asSurfacePicture(frame, controls.log.checked);
    pictures.draw(picture);
    // What was drawn, for a reader (and a test) to compare with the server's numbers.
    Object.assign(root.dataset, {
      state: "drawn",
      step: frame.step,
      resolution: frame.resolution,
      span: frame.span,
      seed: frame.seed,
      centerLoss: frame.center_loss,
      drawnCells: picture.values.filter(Number.isFinite).length,
      pathPoints: picture.path.length,
    });
    pictures.map.dataset.values = JSON.stringify(Array.from(picture.values, (v) => (Number.isFinite(v) ? v : null)));
    const n = frame.resolution;
    info.textContent = [
      `Around step ${frame.step}`,
      `${n}×${n} in ${frame.compute_ms.toFixed(0)} ms`,
      `α, β in ±${formatNumber(frame.span)}`,
      `loss ${formatNumber(frame.low)} … ${formatNumber(frame.high)}, now ${formatNumber(frame.center_loss)}`,
      `on ${frame.images} training images in eval mode (batch norm's running statistics, no dropout)`,
      // A random plane among thousands of weights sees little of the path: say how little.
      `the path strays up to ${formatNumber(Math.max(0, ...frame.path.residual))} off the plane`,
    ].join(" · ");
  }

  return {
    show(landscape) {
      frame = landscape;
      controls.compute.disabled = false;
      pictures.forget();
      draw();
    },
    // A new run (other settings, a reset, a model file): the old picture is of another model.
    clear() {
      frame = null;
      controls.compute.disabled = false;
      root.dataset.state = "empty";
      info.textContent = "A snapshot of the model now: press Compute.";
      draw();
    },
    // The request was refused (an error frame): the button works again.
    refused() {
      if (root.dataset.state !== "computing") return;
      controls.compute.disabled = false;
      root.dataset.state = frame ? "drawn" : "empty";
      info.textContent = "";
    },
    destroy() {
      root.replaceChildren();
    },
  };
}
