// An 8×8 pad to draw a digit on with the mouse, a pen or a finger: ink 0–1 per pixel, a soft
// brush as the digits' own 4×4-block ink counts are. `onDrawn(pixels)` while drawing.
import { paintGrey } from "./pictures.js";

const SIDE = 8;
const SCALE = 24;

export function createDrawPad(canvas, { onDrawn }) {
  const pixels = new Array(SIDE * SIDE).fill(0);
  let drawing = false;
  let last = 0;
  redraw();

  function inkAt(event) {
    const box = canvas.getBoundingClientRect();
    const x = ((event.clientX - box.left) / box.width) * SIDE;
    const y = ((event.clientY - box.top) / box.height) * SIDE;
    for (let r = 0; r < SIDE; r++) {
      for (let c = 0; c < SIDE; c++) {
        const d = Math.hypot(c + 0.5 - x, r + 0.5 - y);
        const ink = d < 0.6 ? 1 : d < 1.2 ? 0.35 : 0;
        pixels[r * SIDE + c] = Math.min(1, pixels[r * SIDE + c] + ink);
      }
    }
    redraw();
    const now = performance.now();
    if (now - last > 80) {
      last = now;
      onDrawn([...pixels]);
    }
  }

  canvas.addEventListener("pointerdown", (e) => {
    drawing = true;
    canvas.setPointerCapture(e.pointerId);
    inkAt(e);
  });
  canvas.addEventListener("pointermove", (e) => drawing && inkAt(e));
  const end = () => {
    if (!drawing) return;
    drawing = false;
    onDrawn([...pixels]);
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);

  function redraw() {
    paintGrey(canvas, pixels, SIDE, SCALE);
  }

  function clear() {
    pixels.fill(0);
    redraw();
  }

  return { clear, pixels: () => [...pixels] };
}
