// Projector mode: large type, thick lines and high contrast for teaching in a room. A toggle in
// the toolbar, kept in the URL hash (`projector=1`) so a teacher's link opens in it.
export const PROJECTOR_KEY = "projector";

// Views that draw on canvases (uPlot charts, the network's edges) listen for this event to
// redraw with the mode's sizes, which they read from CSS variables.
const CHANGE_EVENT = "projectorchange";

export function projectorFromHash(hash) {
  return new URLSearchParams(hash.replace(/^#/, "")).get(PROJECTOR_KEY) === "1";
}

export function createProjector(button, { initial = false, onChange = () => {} }) {
  let on = false;

  function show(next) {
    on = next;
    document.body.classList.toggle("projector", on);
    button.setAttribute("aria-pressed", String(on));
    window.dispatchEvent(new Event(CHANGE_EVENT));
  }

  // The page's own choice: shown, then reported (the link's initial state is only shown).
  function set(next) {
    if (next === on) return;
    show(next);
    onChange(on);
  }

  button.addEventListener("click", () => set(!on));
  show(initial);
  return {
    get on() {
      return on;
    },
    set,
    // "&projector=1" for the hash the page writes, so a reload stays in projector mode.
    hashSuffix: () => (on ? `&${PROJECTOR_KEY}=1` : ""),
  };
}
