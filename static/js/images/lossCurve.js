// The digits lab's training-loss curve: one point per step, drawn on a canvas, with a marker at
// the step shown when it is not the last (after a rewind, before training on branches).
export const CURVE_POINTS = 2000;

export function createLossCurveView(canvas) {
  const ctx = canvas.getContext("2d");

  function draw({ points, step }) {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const finite = points.filter((p) => p.loss !== null);
    const first = points.length ? points[0].step : 0;
    const last = points.length ? points[points.length - 1].step : 0;
    canvas.dataset.step = String(step);
    canvas.dataset.lastStep = String(last);
    canvas.dataset.points = String(points.length);
    if (finite.length < 2) return;
    const high = Math.max(...finite.map((p) => p.loss));
    const x = (s) => ((s - first) / Math.max(1, last - first)) * canvas.width;
    ctx.strokeStyle = "#0877bd";
    ctx.beginPath();
    let drawing = false;
    for (const p of points) {
      if (p.loss === null) continue;
      const y = canvas.height - (p.loss / high) * (canvas.height - 4) - 2;
      if (drawing) ctx.lineTo(x(p.step), y);
      else ctx.moveTo(x(p.step), y);
      drawing = true;
    }
    ctx.stroke();
    const behind = step < last;
    if (behind) {
      ctx.strokeStyle = "#e31a1c";
      ctx.beginPath();
      ctx.moveTo(x(step), 0);
      ctx.lineTo(x(step), canvas.height);
      ctx.stroke();
    }
    canvas.title =
      `training loss of steps ${first} to ${last}, 0 to ${high.toPrecision(3)}` +
      (behind ? `; the red line is step ${step}, where the run stands now` : "");
  }

  return {
    update: draw,
    destroy() {
      ctx.clearRect(0, 0, canvas.width, canvas.height);
    },
  };
}
