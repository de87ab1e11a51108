// Keyboard shortcuts for the run controls, and the `?` overlay that lists them. A shortcut
// presses the page's own button, so it does exactly what a click does, and nothing when that
// button is hidden (classroom mode) or disabled.

// key → [button's data-testid, what the overlay says]; space is play *or* pause.
export const SHORTCUTS = Object.freeze([
  { key: " ", label: "Space", testId: null, help: "Play / pause" },
  { key: "ArrowRight", label: "→", testId: "step", help: "One optimizer step" },
  { key: ".", label: ".", testId: "step-phase", help: "One phase of the step (zero_grad, forward, loss, backward, step)" },
  { key: "r", label: "R", testId: "reset", help: "Reset the network (same seed)" },
  { key: "?", label: "?", testId: null, help: "Show or hide this list" },
]);

const TYPING_TAGS = new Set(["INPUT", "SELECT", "TEXTAREA"]);

function isTyping(target) {
  return TYPING_TAGS.has(target.tagName) || target.isContentEditable;
}

// A focused button elsewhere on the page keeps Space for itself (that is how buttons work);
// the run buttons don't, so Space after clicking Play still pauses.
function ownsSpace(target) {
  const interactive = target.closest("button, summary, a[href], [role=button]");
  return interactive !== null && !interactive.closest(".run-controls");
}

function press(testId) {
  const button = document.querySelector(`[data-testid="${testId}"]`);
  if (!button || button.disabled || button.offsetParent === null) return false;
  button.click();
  return true;
}

function createHelp() {
  const dialog = document.createElement("dialog");
  dialog.className = "shortcuts-help";
  dialog.dataset.testid = "shortcuts-help";
  dialog.setAttribute("aria-labelledby", "shortcuts-title");
  const title = document.createElement("h2");
  title.id = "shortcuts-title";
  title.textContent = "Keyboard shortcuts";
  const table = document.createElement("table");
  for (const { label, help } of SHORTCUTS) {
    const row = table.insertRow();
    const key = document.createElement("th");
    key.scope = "row";
    const kbd = document.createElement("kbd");
    kbd.textContent = label;
    key.append(kbd);
    row.append(key);
    row.insertCell().textContent = help;
  }
  const note = document.createElement("p");
  note.className = "hint";
  note.textContent = "Shortcuts are off while you type in a field.";
  const close = document.createElement("button");
  close.type = "button";
  close.textContent = "Close";
  close.addEventListener("click", () => dialog.close());
  dialog.append(title, table, note, close);
  document.body.append(dialog);
  return dialog;
}

export function bindKeyboard({ helpButton }) {
  const help = createHelp();
  const toggleHelp = () => (help.open ? help.close() : help.showModal());
  helpButton.addEventListener("click", toggleHelp);
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    if (isTyping(event.target)) return;
    if (event.key === "?") {
      event.preventDefault();
      toggleHelp();
      return;
    }
    if (help.open) return; // the dialog is modal: Escape closes it, nothing runs behind it
    if (event.key === " ") {
      if (ownsSpace(event.target)) return;
      event.preventDefault();
      press(document.body.classList.contains("running") ? "pause" : "play");
      return;
    }
    const shortcut = SHORTCUTS.find((s) => s.testId && s.key.toLowerCase() === event.key.toLowerCase());
    if (shortcut && press(shortcut.testId)) event.preventDefault();
  });
  return { help };
}
