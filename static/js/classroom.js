// Classroom mode: the URL hash can hide controls (`hide=optimizer,learning-rate`, by their
// data-testid, or a panel by name) and name a lesson (`lesson=dead-relus`), so a teacher hands
// out a focused link. These page keys ride along in the hash next to the configuration's.
// It also says which hash values were refused and fell back to their defaults.

// `projector` belongs to projector.js; listed here so the hash check does not call it unknown.
export const PAGE_KEYS = Object.freeze(["hide", "lesson", "projector"]);

// Whole panels a teacher may hide by name, besides any single control's data-testid.
const PANELS = Object.freeze({
  data: ".data-column",
  features: '[data-panel="features"]',
  initialisation: '[data-panel="initialisation"]',
  regularisation: '[data-panel="regularisation"]',
  landscape: ".landscape-column",
  "inside-one-step": ".backprop-column",
  lessons: '[data-testid="lessons"]',
  export: '[data-testid="export-menu"]',
});

// The element to hide for a name: a labelled control goes with its label.
function targetOf(name) {
  if (PANELS[name]) return document.querySelector(PANELS[name]);
  const control = document.querySelector(`[data-testid="${CSS.escape(name)}"]`);
  return control?.closest("label") || control;
}

function pageParams(hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  return {
    hide: (params.get("hide") || "").split(",").map((s) => s.trim()).filter(Boolean),
    lesson: params.get("lesson") || "",
  };
}

export function createClassroom(hash) {
  const state = pageParams(hash);
  const unknownNames = [];

  function applyHiding() {
    for (const name of state.hide) {
      const target = targetOf(name);
      if (target) target.classList.add("classroom-hidden");
      else unknownNames.push(name);
    }
    document.body.classList.toggle("classroom", state.hide.length > 0);
  }

  return {
    applyHiding,
    get lesson() {
      return state.lesson;
    },
    set lesson(id) {
      state.lesson = id || "";
    },
    hidden: () => [...state.hide],
    unknownNames: () => [...unknownNames],
    // "&hide=…&lesson=…" for the hash the page writes, so a reload keeps classroom mode.
    hashSuffix() {
      const params = new URLSearchParams();
      if (state.hide.length) params.set("hide", state.hide.join(","));
      if (state.lesson) params.set("lesson", state.lesson);
      const text = params.toString();
      return text ? `&${text}` : "";
    },
  };
}

// The notice for a hash that had values the page could not use.
export function showUrlNotice(element, { rejectedKeys, unknownNames, unknownLesson }) {
  const parts = [];
  if (rejectedKeys.length) {
    parts.push(`These settings in the link were not valid and fell back to their defaults: ${rejectedKeys.join(", ")}.`);
  }
  if (unknownNames.length) parts.push(`No control to hide is called: ${unknownNames.join(", ")}.`);
  if (unknownLesson) parts.push(`There is no lesson called “${unknownLesson}”.`);
  element.replaceChildren();
  element.hidden = parts.length === 0;
  if (!parts.length) return;
  const text = document.createElement("span");
  text.textContent = parts.join(" ");
  const close = document.createElement("button");
  close.type = "button";
  close.className = "small";
  close.textContent = "OK";
  close.setAttribute("aria-label", "Dismiss this notice");
  close.addEventListener("click", () => (element.hidden = true));
  element.append(text, close);
}
