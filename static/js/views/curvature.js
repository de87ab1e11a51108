// Curvature: λmax, the largest Hessian eigenvalue of the training loss, over the run, against
// the learning rate's stability limit 2/lr (SGD) or (2 + 2β)/lr (momentum). Where the optimizer
// has no such line (Adam and the other adaptive ones) none is drawn, and the view says why.
import { formatNumber } from "./colors.js";
import { element } from "./dom.js";
import { button, canvas, labelled, select, watchVisibility } from "./deeperControls.js";

const FOLLOW = [["10", "every 10 steps"], ["50", "every 50 steps"], ["200", "every 200 steps"], ["0", "on demand"]];
const WIDTH = 320;
const HEIGHT = 180;
const PAD = 28;
const MAX_POINTS = 1000;

export function createCurvatureView(root, { onRequest }) {
  const follow = select("curvature-follow", FOLLOW, "10", "Recompute λmax");
  const now = button("curvature-now", "Compute now");
  const plot = canvas("curvature-plot", WIDTH, HEIGHT, "λmax over the steps against the stability limit");
  const lambdaMax = element("span", { testid: "lambda-max", textContent: "—" });
  const limit = element("span", { testid: "stability-limit", textContent: "—" });
  root.append(
    element("div", { className: "surface-controls" }, [labelled("Follow", follow), now]),
    plot,
    element("div", { className: "hint" }, ["λmax ", lambdaMax, " · limit ", limit]),
  );
  const state = { points: [] };

  // Off screen: stop following, and compute nothing more.
  const ask = (wanted, once = wanted) => onRequest({ every_steps: wanted ? Number(follow.value) : 0, now: once });
  const screen = watchVisibility(root, (on) => ask(on));
  follow.addEventListener("change", () => screen.visible() && ask(true));
  now.addEventListener("click", () => ask(screen.visible(), true));

  function receive(message) {
    const last = state.points[state.points.length - 1];
    // A step behind the last one: a new run (reset, rewind, new settings). Start over.
    if (last && message.step < last.step) state.points = [];
    state.points.push(message);
    if (state.points.length > MAX_POINTS) state.points.splice(0, state.points.length - MAX_POINTS);
  }

  function draw() {
    const ctx = plot.getContext("2d");
    ctx.clearRect(0, 0, WIDTH, HEIGHT);
    const pts = state.points.filter((p) => p.lambda_max !== null);
    if (!pts.length) return;
    const limits = pts.map((p) => p.stability_limit).filter((v) => v !== null);
    const top = Math.max(...pts.map((p) => p.lambda_max), ...limits) * 1.1 || 1;
    const first = pts[0].step;
    const span = Math.max(1, pts[pts.length - 1].step - first);
    const x = (step) => PAD + ((step - first) / span) * (WIDTH - 2 * PAD);
    const y = (v) => HEIGHT - PAD - (v / top) * (HEIGHT - 2 * PAD);
    ctx.font = "10px sans-serif";
    ctx.fillStyle = "#555";
    ctx.fillText(formatNumber(top, 2), 2, PAD);
    ctx.fillText(`step ${first}…${pts[pts.length - 1].step}`, PAD, HEIGHT - 6);
    line(ctx, pts.filter((p) => p.stability_limit !== null), x, (p) => y(p.stability_limit), "#d62728", [5, 4]);
    line(ctx, pts, x, (p) => y(p.lambda_max), "#0877bd", []);
  }

  function update() {
    const last = state.points[state.points.length - 1];
    lambdaMax.textContent = last ? formatNumber(last.lambda_max) : "—";
    limit.textContent = !last
      ? "—"
      : last.stability_limit === null
        ? `not defined for ${last.optimizer}${last.optimizer === "sgd" ? " with Nesterov" : ""}: its step is not lr × gradient`
        : `${formatNumber(last.stability_limit)} = (2 + 2β)/lr`;
    draw();
  }

  return { update, receive, destroy: () => screen.stop() };
}

function line(ctx, points, x, y, colour, dash) {
  if (!points.length) return;
  ctx.beginPath();
  points.forEach((p, i) => (i ? ctx.lineTo(x(p.step), y(p)) : ctx.moveTo(x(p.step), y(p))));
  ctx.setLineDash(dash);
  ctx.strokeStyle = colour;
  ctx.lineWidth = 1.5;
  ctx.stroke();
  ctx.setLineDash([]);
}
