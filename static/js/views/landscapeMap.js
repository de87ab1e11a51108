// The loss landscape's 2-D pictures: the heat map with contours and the optimizer's path (and a
// race's paths) on it, and the loss along the straight line from the first to the current weights.
import { formatNumber } from "./colors.js";
import { element } from "./dom.js";
import { drawRacePaths } from "./race.js";
import { contourSegments, displayRange, displayValue } from "./landscapeContours.js";

const MAP_SIZE = 300;
const LINE_WIDTH = 300;
const LINE_HEIGHT = 110;

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

export function createLandscapeMap() {
  const map = element("canvas", { testid: "surface-map", width: MAP_SIZE, height: MAP_SIZE, role: "img", "aria-label": "Loss over the plane, with the optimizer's path" });
  const mapCtx = map.getContext("2d");
  const heat = element("canvas");
  const heatCtx = heat.getContext("2d");
  // The heat map and contours, drawn once per surface; each frame only adds the path on top.
  const background = element("canvas", { width: MAP_SIZE, height: MAP_SIZE });
  const backgroundCtx = background.getContext("2d");
  const line = element("canvas", { testid: "surface-line", width: LINE_WIDTH, height: LINE_HEIGHT, role: "img", "aria-label": "Loss along the straight line from the first to the current parameters" });
  const lineCtx = line.getContext("2d");
  let drawnSurface = null;

  function toPixel(alpha, beta, span) {
    return [((alpha + span) / (2 * span)) * MAP_SIZE, (1 - (beta + span) / (2 * span)) * MAP_SIZE];
  }

  function drawBackground(surface, values, log) {
    const n = surface.grid.resolution;
    const shown = Array.from(values, (v) => displayValue(v, log));
    const [lo, hi] = displayRange(values, log);
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

  function drawContours(shown, n, lo, hi) {
    const step = MAP_SIZE / (n - 1);
    const point = ([i, j]) => [j * step, MAP_SIZE - i * step];
    const ctx = backgroundCtx;
    ctx.strokeStyle = "rgba(255, 255, 255, 0.45)";
    ctx.lineWidth = 0.8;
    ctx.beginPath();
    for (const [a, b] of contourSegments(shown, n, lo, hi)) {
      ctx.moveTo(...point(a));
      ctx.lineTo(...point(b));
    }
    ctx.stroke();
  }

  function drawPath(path, span) {
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

  function drawLine(surface, log) {
    lineCtx.clearRect(0, 0, LINE_WIDTH, LINE_HEIGHT);
    const values = surface.line.loss.map((v) => (v === null ? NaN : v));
    const [lo, hi] = displayRange(values, log);
    const pad = 14;
    const x = (k) => pad + (k / (values.length - 1)) * (LINE_WIDTH - 2 * pad);
    const y = (v) => LINE_HEIGHT - pad - ((displayValue(v, log) - lo) / (hi - lo)) * (LINE_HEIGHT - 2 * pad);
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

  return {
    map,
    line,
    // A new surface (or scale) redraws the background and the line; the path is drawn each time.
    draw({ surface, values, path, race, parameterCount, log }) {
      mapCtx.clearRect(0, 0, MAP_SIZE, MAP_SIZE);
      if (!surface) {
        lineCtx.clearRect(0, 0, LINE_WIDTH, LINE_HEIGHT);
        return;
      }
      if (drawnSurface !== surface) {
        drawnSurface = surface;
        drawBackground(surface, values, log);
        drawLine(surface, log);
      }
      mapCtx.drawImage(background, 0, 0);
      drawPath(path, surface.span);
      // A race of another network (before the new surface arrives) has nothing to be drawn on.
      const onThisPlane = race && race.parameter_count === parameterCount;
      if (onThisPlane) drawRacePaths(mapCtx, race, (alpha, beta) => toPixel(alpha, beta, surface.span));
      map.dataset.racePaths = String(onThisPlane ? race.racers.length : 0);
    },
    // The scale changed: the background is drawn again on the next draw.
    forget() {
      drawnSurface = null;
    },
  };
}
