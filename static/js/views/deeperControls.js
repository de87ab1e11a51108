// Small controls and helpers shared by the deeper views (curvature, hidden space, surgery, sweep).
import { element } from "./dom.js";

export function button(testid, text) {
  const el = element("button", { testid, textContent: text });
  el.type = "button";
  return el;
}

export function select(testid, options, value, label) {
  const el = element("select", { testid, "aria-label": label });
  for (const [v, text] of options) el.add(new Option(text, v));
  el.value = value;
  return el;
}

export function labelled(text, control) {
  return element("label", { className: "knob" }, [text, control]);
}

// A canvas of a fixed drawing size that scales with its column.
export function canvas(testid, width, height, label) {
  const el = element("canvas", { testid, width, height, "aria-label": label, role: "img" });
  el.style.width = "100%";
  el.style.maxWidth = `${width}px`;
  return el;
}

// Calls `onChange(true)` when `root` comes on screen and `onChange(false)` when it leaves: the
// server computes these views only while someone can see them.
export function watchVisibility(root, onChange) {
  let on = false;
  const observer = new IntersectionObserver((entries) => {
    const now = entries[entries.length - 1].isIntersecting;
    if (now === on) return;
    on = now;
    onChange(on);
  });
  observer.observe(root);
  return { visible: () => on, stop: () => observer.disconnect() };
}
