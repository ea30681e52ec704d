// A confirmation dialog on <dialog>: focus stays inside while it is open, Escape cancels.

import { h } from "./dom.js";

/**
 * Asks before something that cannot be undone. With `typeToConfirm`, the confirm button
 * stays disabled until that text is typed. Resolves to true when confirmed.
 */
export function confirmDialog({ title, text, confirmLabel = "Confirm", danger = false, typeToConfirm = "" }) {
  return new Promise((resolve) => {
    const typed = typeToConfirm && h("input", {
      type: "text", class: "mono", id: "confirm-text", autocomplete: "off", "aria-label": `Type ${typeToConfirm} to confirm`,
    });
    const ok = h("button", { type: "submit", class: `button ${danger ? "danger" : "primary"}`, value: "ok", id: "confirm-ok", disabled: !!typeToConfirm }, confirmLabel);
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": "confirm-title" },
      h("form", { method: "dialog" },
        h("h2", { id: "confirm-title" }, title),
        h("p", {}, text),
        typed && h("label", { for: "confirm-text", class: "muted" }, "Type ", h("code", {}, typeToConfirm), " to confirm"),
        typed,
        h("div", { class: "dialog-actions" },
          h("button", { type: "submit", class: "button", value: "cancel" }, "Cancel"), ok)));
    if (typed) typed.addEventListener("input", () => (ok.disabled = typed.value !== typeToConfirm));
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    (typed || ok).focus();
  });
}
