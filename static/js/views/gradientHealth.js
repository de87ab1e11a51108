// Gradient health per layer over the steps, on a log scale (one line per layer), with the flags
// the server raised and each layer's dead / saturated units. Reads the loss history's figures.
const WIDTH = 300;
const HEIGHT = 120;
const PAD = { left: 38, right: 6, top: 6, bottom: 14 };
export const LAYER_COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d"];
const FIGURES = {
  grad_norm: "‖∂L/∂w‖ per layer",
  mean_abs_grad: "mean |∂L/∂w| per layer",
  max_abs_grad: "max |∂L/∂w| per layer",
  update_ratio: "‖Δw‖/‖w‖ per layer (update-to-weight ratio)",
};

export function createGradientHealthView(root) {
  const select = document.createElement("select");
  select.dataset.testid = "gradient-health-figure";
  select.setAttribute("aria-label", "Which gradient figure to plot");
  for (const [value, label] of Object.entries(FIGURES)) select.add(new Option(label, value));
  const canvas = document.createElement("canvas");
  canvas.width = WIDTH;
  canvas.height = HEIGHT;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "Gradient health per layer over the steps, log scale");
  const legend = document.createElement("div");
  legend.className = "chart-readout health-legend";
  const units = document.createElement("div");
  units.className = "chart-readout";
  units.dataset.testid = "unit-health";
  const flags = document.createElement("ul");
  flags.className = "health-flags";
  flags.dataset.testid = "health-flags";
  root.append(select, canvas, legend, units, flags);
  const ctx = canvas.getContext("2d");
  const last = { lossHistory: [], health: null, healthVersion: null };

  function draw() {
    const key = select.value;
    const points = last.lossHistory.filter((p) => Array.isArray(p[key]));
    ctx.clearRect(0, 0, WIDTH, HEIGHT);
    root.dataset.points = String(points.length);
    if (!points.length) {
      legend.textContent = "no step taken yet";
      return;
    }
    const layers = Math.max(...points.map((p) => p[key].length));
    let lo = Infinity;
    let hi = -Infinity;
    for (const p of points) for (const v of p[key]) if (v > 0) { lo = Math.min(lo, Math.log10(v)); hi = Math.max(hi, Math.log10(v)); }
    if (!Number.isFinite(lo)) [lo, hi] = [-1, 0];
    lo = Math.floor(lo);
    hi = Math.max(lo + 1, Math.ceil(hi));
    const first = points[0].step;
    const span = Math.max(1, points[points.length - 1].step - first);
    const x = (s) => PAD.left + ((s - first) / span) * (WIDTH - PAD.left - PAD.right);
    const y = (l) => HEIGHT - PAD.bottom - ((l - lo) / (hi - lo)) * (HEIGHT - PAD.top - PAD.bottom);
    ctx.fillStyle = "#666";
    ctx.font = "10px sans-serif";
    for (let d = lo; d <= hi; d++) {
      ctx.fillText(`1e${d}`, 0, y(d) + 3);
      ctx.strokeStyle = "#eee";
      ctx.beginPath();
      ctx.moveTo(PAD.left, y(d));
      ctx.lineTo(WIDTH - PAD.right, y(d));
      ctx.stroke();
    }
    for (let layer = 0; layer < layers; layer++) {
      ctx.strokeStyle = LAYER_COLOURS[layer % LAYER_COLOURS.length];
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      let started = false;
      for (const p of points) {
        const v = p[key][layer];
        if (!(v > 0)) { started = false; continue; }
        if (started) ctx.lineTo(x(p.step), y(Math.log10(v)));
        else ctx.moveTo(x(p.step), y(Math.log10(v)));
        started = true;
      }
      ctx.stroke();
    }
    const latest = points[points.length - 1][key];
    legend.replaceChildren(
      ...latest.map((v, layer) => {
        const item = document.createElement("span");
        item.className = `layer-key layer-key-${layer % LAYER_COLOURS.length}`;
        item.textContent = `layers[${layer}] ${v === null ? "—" : v.toExponential(1)}`;
        return item;
      }),
    );
  }

  function drawHealth(health) {
    const items = (health?.flags || []).map((flag) => {
      const li = document.createElement("li");
      li.dataset.kind = flag.kind;
      li.className = `flag flag-${flag.kind}`;
      li.textContent = flag.message;
      return li;
    });
    if (!items.length && health) {
      const li = document.createElement("li");
      li.className = "flag flag-none";
      li.textContent = "no problem seen: gradients reach every layer";
      items.push(li);
    }
    flags.replaceChildren(...items);
    root.dataset.flags = (health?.flags || []).map((f) => f.kind).join(" ");
    const parts = [];
    (health?.layers || []).forEach((l, i) => {
      if (l.dead_fraction !== null) parts.push(`hidden ${i + 1}: ${Math.round(l.dead_fraction * 100)}% dead`);
      if (l.saturated_fraction !== null) parts.push(`hidden ${i + 1}: ${Math.round(l.saturated_fraction * 100)}% saturated`);
    });
    units.textContent = parts.join(" · ");
  }

  select.addEventListener("change", draw);

  return {
    update({ lossHistory, health, healthVersion, historyChanged }) {
      if (historyChanged) {
        last.lossHistory = lossHistory;
        draw();
      }
      // Redrawn when the server computed it afresh (or it came or went), not on every frame.
      if (healthVersion !== last.healthVersion || (health === null) !== (last.health === null)) {
        last.health = health;
        last.healthVersion = healthVersion;
        drawHealth(health);
      }
    },
    destroy() {
      root.replaceChildren();
    },
  };
}
