// Building the page: every value becomes a text node or an attribute, never markup. A lead can write
// `<script>` to WhatsApp; nothing in the console parses a string as HTML (a test greps for the sinks).
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

export function when(value, lang) {
  if (!value) return "—";
  return new Date(value).toLocaleString(lang, { dateStyle: "short", timeStyle: "short" });
}

// A confirmation the keyboard can answer (a <dialog>: focus moves in, Escape cancels).
export function confirmAction(message, yes, no) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { role: "alertdialog", "aria-label": message },
      h("p", {}, message),
      h("form", { method: "dialog", class: "row" },
        h("button", { value: "yes", class: "danger" }, yes),
        h("button", { value: "no", class: "secondary", autofocus: true }, no)));
    dialog.addEventListener("close", () => { resolve(dialog.returnValue === "yes"); dialog.remove(); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// replaceChildren() would write a null as the text "null": skip the absent parts instead.
export function fill(node, ...children) {
  return append(clear(node), children);
}
