// The timeline: a scrubber over the kept steps (drag back and every view shows that moment; Play
// goes on from there as a new run), the runs kept with their export links (when `exportUrl` is
// given), and the thinning note. Both labs use it: the plane lab's `/` and the digits lab's `/images`.

export const RUN_COLOURS = ["#555", "#1f78b4", "#33a02c", "#e31a1c", "#ff7f00", "#6a3d9a", "#b15928", "#a6cee3"];
// Scrubbing sends at most this many rewinds per second (the server's rate limit is higher).
const REWIND_INTERVAL_MS = 120;

export function createTimelineView(root, { onRewind, exportUrl }) {
  const label = document.createElement("div");
  label.className = "chart-readout";
  label.dataset.testid = "timeline-label";
  const slider = document.createElement("input");
  slider.type = "range";
  slider.min = "0";
  slider.max = "0";
  slider.step = "1";
  slider.dataset.testid = "timeline";
  slider.setAttribute("aria-label", "Timeline: drag back to a kept step");
  const note = document.createElement("div");
  note.className = "chart-readout";
  note.dataset.testid = "timeline-note";
  const runsHeading = document.createElement("h3");
  runsHeading.textContent = "Runs";
  const runs = document.createElement("ol");
  runs.className = "runs";
  runs.dataset.testid = "runs";
  root.append(slider, label, note, runsHeading, runs);
  let steps = [];
  let dragging = false;
  let lastSent = 0;
  let pending = null;
  let timer = null;

  function stepAt(index) {
    return steps[Math.max(0, Math.min(steps.length - 1, index))];
  }

  function send(step) {
    const wait = lastSent + REWIND_INTERVAL_MS - performance.now();
    pending = step;
    if (wait > 0) {
      if (!timer) timer = setTimeout(() => { timer = null; send(pending); }, wait);
      return;
    }
    lastSent = performance.now();
    onRewind(step);
  }

  slider.addEventListener("input", () => {
    dragging = true;
    const step = stepAt(Number(slider.value));
    label.textContent = `step ${step} (release to stay there)`;
    send(step);
  });
  slider.addEventListener("change", () => {
    dragging = false;
    if (timer) { clearTimeout(timer); timer = null; }
    lastSent = performance.now();
    onRewind(stepAt(Number(slider.value)));
  });

  function drawRuns(list, sessionId) {
    runs.replaceChildren(
      ...list.map((run, i) => {
        const li = document.createElement("li");
        li.dataset.run = String(run.id);
        li.classList.toggle("current", run.current);
        const swatch = document.createElement("span");
        swatch.className = `run-swatch run-colour-${i % RUN_COLOURS.length}`;
        const name = document.createElement("span");
        name.className = "run-name";
        name.textContent = `${run.current ? "▶ " : ""}${run.name}`;
        li.append(swatch, name);
        for (const format of exportUrl ? ["csv", "json"] : []) {
          const a = document.createElement("a");
          a.href = exportUrl(sessionId, run.id, format);
          a.download = `run-${run.id}.${format}`;
          a.textContent = format.toUpperCase();
          a.dataset.testid = `export-run-${run.id}-${format}`;
          li.append(" ", a);
        }
        return li;
      }),
    );
  }

  let drawnRuns = null;
  return {
    update({ frame, runs: list, sessionId }) {
      const timeline = frame?.timeline;
      if (timeline) {
        steps = timeline.steps.includes(frame.step) ? timeline.steps : [...timeline.steps, frame.step];
        slider.max = String(Math.max(0, steps.length - 1));
        if (!dragging) {
          slider.value = String(steps.indexOf(frame.step));
          const present = steps[steps.length - 1] === frame.step;
          label.textContent = `step ${frame.step}${present ? "" : ` of ${steps[steps.length - 1]} — press Play to branch from here`} · ${steps.length} steps kept · run: ${timeline.run_name}`;
        }
        note.textContent = timeline.note || "";
      }
      if (list && list !== drawnRuns) {
        drawnRuns = list;
        drawRuns(list, sessionId);
      }
    },
    destroy() {
      if (timer) clearTimeout(timer);
      root.replaceChildren();
    },
  };
}
