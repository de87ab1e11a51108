// Pointer input on the decision-boundary picture: click to add a point, click a point to remove
// it, hover to ask what the model computes there. Reports plane coordinates; never sends itself.
import { CURVE_Y_EXTENT } from "./taskPlots.js";

// How close (in canvas pixels of the 300-px picture) a click must land to hit a point.
const HIT_RADIUS_PX = 6;

export function createPlaneInput(root, { onAdd, onRemove, onHover, onLeave }) {
  let state = { data: null, curve: false, showTest: false };

  // The picture's own pixels (it may be drawn scaled), then the plane's coordinates.
  function locate(event) {
    const canvas = root.querySelector("canvas");
    if (!canvas || !state.data) return null;
    const box = canvas.getBoundingClientRect();
    const px = ((event.clientX - box.left) / box.width) * canvas.width;
    const py = ((event.clientY - box.top) / box.height) * canvas.height;
    const e = state.data.extent;
    const x1 = (px / canvas.width) * 2 * e - e;
    const vertical = state.curve ? CURVE_Y_EXTENT : e;
    const y = vertical - (py / canvas.height) * 2 * vertical;
    if (Math.abs(x1) > e || Math.abs(y) > vertical) return null;
    return { px, py, x1, y, toPixel: (a, b) => [((a + e) / (2 * e)) * canvas.width, ((vertical - b) / (2 * vertical)) * canvas.height] };
  }

  function hit(at) {
    const points = state.showTest || state.curve ? [...state.data.train, ...state.data.test] : state.data.train;
    let best = null;
    let bestDistance = HIT_RADIUS_PX;
    for (const p of points) {
      const [qx, qy] = at.toPixel(p.x1, state.curve ? p.label : p.x2);
      const distance = Math.hypot(qx - at.px, qy - at.py);
      if (distance <= bestDistance) [best, bestDistance] = [p, distance];
    }
    return best;
  }

  function click(event) {
    const at = locate(event);
    if (!at) return;
    const point = hit(at);
    if (point) onRemove({ x1: point.x1, x2: point.x2 });
    // On the 1-D curve plot the vertical axis is the target itself, and x₂ is 0.
    else if (state.curve) onAdd({ x1: at.x1, x2: 0, label: at.y });
    else onAdd({ x1: at.x1, x2: at.y });
  }

  function move(event) {
    const at = locate(event);
    if (at) onHover({ x1: at.x1, x2: state.curve ? 0 : at.y });
    else onLeave();
  }

  root.addEventListener("click", click);
  root.addEventListener("pointermove", move);
  root.addEventListener("pointerleave", onLeave);
  root.classList.add("drawable");

  return {
    update({ data, frame, showTest }) {
      state = { data, curve: Boolean(frame?.curve), showTest };
    },
    destroy() {
      root.removeEventListener("click", click);
      root.removeEventListener("pointermove", move);
      root.removeEventListener("pointerleave", onLeave);
      root.classList.remove("drawable");
    },
  };
}
