// A source editor on a plain textarea: line numbers, Tab / Shift+Tab indent, Enter keeps the
// indentation. Escape, then Tab, leaves the editor, so the keyboard is never trapped.

import { h } from "./dom.js";

/** Inserts text at the selection, keeping the browser's undo history where it can. */
function insert(area, text) {
  area.focus();
  if (!document.execCommand("insertText", false, text)) {
    area.setRangeText(text, area.selectionStart, area.selectionEnd, "end");
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }
}

/** Indents (or with `out`, dedents) every line the selection touches. */
function indentLines(area, unit, out) {
  const { value, selectionStart: a, selectionEnd: b } = area;
  const start = value.lastIndexOf("\n", a - 1) + 1;
  const endNl = value.indexOf("\n", b > a && value[b - 1] === "\n" ? b - 1 : b);
  const end = endNl === -1 ? value.length : endNl;
  const lines = value.slice(start, end).split("\n");
  const changed = lines.map((l) => {
    if (!out) return unit + l;
    const lead = /^ */.exec(l)[0].length;
    return l.slice(Math.min(lead, unit.length));
  });
  area.setSelectionRange(start, end);
  insert(area, changed.join("\n"));
  area.setSelectionRange(start, start + changed.join("\n").length);
}

function onKey(area, unit, e, state) {
  if (e.key === "Escape") {
    state.escaped = true;
    return;
  }
  if (e.key === "Tab" && !state.escaped && !e.ctrlKey && !e.altKey && !e.metaKey) {
    e.preventDefault();
    const multi = area.value.slice(area.selectionStart, area.selectionEnd).includes("\n");
    if (e.shiftKey || multi) indentLines(area, unit, e.shiftKey);
    else insert(area, unit);
  } else if (e.key === "Enter" && !e.shiftKey && !e.ctrlKey && !e.metaKey && !e.isComposing) {
    const before = area.value.slice(0, area.selectionStart);
    const line = before.slice(before.lastIndexOf("\n") + 1);
    let indent = /^[ \t]*/.exec(line)[0];
    if (/[:{[(]\s*$/.test(line)) indent += unit;
    e.preventDefault();
    insert(area, "\n" + indent);
  }
  if (e.key !== "Escape") state.escaped = false;
}

/**
 * A code editor. Returns {el, area}; `area` is the textarea (its value is the source).
 * `indent()` gives the indent unit for the current runtime.
 */
export function codeEditor({ id, label, value = "", indent = () => "    " }) {
  const gutter = h("div", { class: "gutter", "aria-hidden": "true" });
  const area = h("textarea", {
    id, class: "code", spellcheck: "false", autocomplete: "off", autocapitalize: "off",
    wrap: "off", "aria-label": label, "aria-describedby": `${id}-hint`,
  });
  area.value = value;
  const state = { escaped: false };
  const numbers = () => {
    const n = area.value.split("\n").length;
    if (gutter.childElementCount !== n) {
      gutter.replaceChildren(...Array.from({ length: n }, (_, i) => h("span", {}, i + 1)));
    }
  };
  area.addEventListener("keydown", (e) => onKey(area, indent(), e, state));
  area.addEventListener("input", numbers);
  area.addEventListener("scroll", () => (gutter.scrollTop = area.scrollTop));
  numbers();
  const el = h("div", { class: "editor" }, gutter, area);
  const hint = h("p", { class: "hint", id: `${id}-hint` }, "Tab indents; Esc then Tab moves on.");
  return { el: h("div", { class: "editor-wrap" }, el, hint), area, refresh: numbers };
}
