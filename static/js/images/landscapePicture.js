// The digits lab's landscape frame in the shape the plane lab's landscape map draws, no DOM.

// The server's frame as the plane lab's map draws a surface: its grid's range, span, step and
// line, the losses as numbers (NaN where the server sent null), and the path's points.
export function asSurfacePicture(frame, log) {
  const values = Float64Array.from(frame.loss.flat(), (v) => (v === null ? NaN : v));
  const p = frame.path;
  return {
    surface: {
      grid: { resolution: frame.resolution, low: frame.low ?? 0, high: frame.high ?? 0 },
      span: frame.span,
      step: frame.step,
      line: frame.line,
    },
    values,
    path: p.steps.map((step, k) => ({ step, alpha: p.alpha[k], beta: p.beta[k], residual: p.residual[k], loss: p.loss[k] })),
    race: null,
    log,
  };
}
