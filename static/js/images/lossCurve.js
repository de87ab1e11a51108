// The digits lab's training-loss curve: one point per step, drawn on a canvas, with a marker at
// the step shown when it is not the last (after a rewind, before training on branches), and the
// earlier runs' curves under it in their colours when the overlay is on (`others`).
export const CURVE_POINTS = 2000;

export function createLossCurveView(canvas) {
  const ctx = canvas.getContext("2d");

  function line(curve, x, y, colour, width) {
    ctx.strokeStyle = colour;
    ctx.lineWidth = width;
    ctx.beginPath();
    let drawing = false;
    for (const p of curve) {
      if (p.loss === null) continue;
      if (drawing) ctx.lineTo(x(p.step), y(p.loss));
      else ctx.moveTo(x(p.step), y(p.loss));
      drawing = true;
    }
    ctx.stroke();
  }

  function draw({ points, step, others = [] }) {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const shown = others.filter((run) => run.points.length > 1);
    const every = [points, ...shown.map((run) => run.points)];
    const finite = every.flat().filter((p) => p.loss !== null);
    const first = points.length ? points[0].step : 0;
    const last = Math.max(points.length ? points[points.length - 1].step : 0, ...shown.map((r) => r.points.at(-1).step));
    canvas.dataset.step = String(step);
    canvas.dataset.lastStep = String(last);
    canvas.dataset.points = String(points.length);
    canvas.dataset.overlays = shown.map((run) => run.id).join(" ");
    if (finite.length < 2) return;
    const high = Math.max(...finite.map((p) => p.loss));
    const low = Math.min(first, ...shown.map((r) => r.points[0].step));
    const x = (s) => ((s - low) / Math.max(1, last - low)) * canvas.width;
    const y = (loss) => canvas.height - (loss / high) * (canvas.height - 4) - 2;
    for (const run of shown) line(run.points, x, y, run.colour, 1);
    line(points, x, y, "#0877bd", 1.5);
    const behind = step < last;
    if (behind) {
      ctx.strokeStyle = "#e31a1c";
      ctx.beginPath();
      ctx.moveTo(x(step), 0);
      ctx.lineTo(x(step), canvas.height);
      ctx.stroke();
    }
    canvas.title =
      `training loss of steps ${low} to ${last}, 0 to ${high.toPrecision(3)}` +
      (shown.length ? `; under it ${shown.length} earlier run${shown.length > 1 ? "s" : ""} in the runs list's colours` : "") +
      (behind ? `; the red line is step ${step}, where the run stands now` : "");
  }

  return {
    update: draw,
    destroy() {
      ctx.clearRect(0, 0, canvas.width, canvas.height);
    },
  };
}
