// Building the page. Every text goes through text nodes, never innerHTML: callback names,
// log lines and error messages come from outside and must never become markup.

/** Creates an element: h("a", {href: "#/"}, "text", child, [more children]). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key in el && typeof value !== "string") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : value);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const STATE_HELP = {
  building: "the image is being built",
  starting: "an instance is starting",
  ready: "serving calls",
  idle: "ready, no instance running: the next call starts or resumes one",
  failed: "the last deploy failed",
  crash_loop: "instances keep crashing; restarts are backing off",
  undeployed: "not running; the definition and history are kept",
  draining: "finishing its calls before it stops",
  paused: "frozen while idle; the next call resumes it",
};

/** A coloured state badge. */
export function badge(state, extra = "") {
  const label = String(state || "unknown").replace("_", " ");
  return h("span", {
    class: `badge state-${state} ${extra}`.trim(),
    title: STATE_HELP[state] || undefined,
    dataset: { state },
  }, label);
}

/** A short label in a mono font, e.g. an error code. */
export function code(text, cls = "") {
  return h("code", { class: `chip ${cls}`.trim() }, text);
}

/** "3 s", "5 min", "2 h"…: the time since an RFC 3339 timestamp. */
export function since(ts) {
  const then = Date.parse(ts);
  if (Number.isNaN(then)) return "—";
  const s = Math.max(0, Math.round((Date.now() - then) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

/** A <time> element showing "… ago" (or only the duration with `short`), exact on hover. */
export function time(ts, short = false) {
  if (!ts) return h("span", { class: "muted" }, "—");
  const d = new Date(ts);
  return h("time", { datetime: ts, title: d.toLocaleString() }, short ? since(ts) : `${since(ts)} ago`);
}

/** A rate with a sensible number of digits; "—" when unknown. */
export function rate(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "—";
  if (n === 0) return "0";
  if (n < 0.1) return n.toFixed(3);
  if (n < 10) return n.toFixed(2);
  return n.toFixed(0);
}

/** Milliseconds, from seconds. */
export function ms(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  const v = seconds * 1000;
  return v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`;
}

/** An empty state: a title, a sentence and an optional action. */
export function empty(title, text, action) {
  return h("div", { class: "empty" },
    h("div", { class: "empty-mark", "aria-hidden": "true" }),
    h("h2", {}, title), h("p", {}, text), action);
}

/** A section card with a title and optional actions on its right. */
export function card(title, body, actions, cls = "") {
  return h("section", { class: `card ${cls}`.trim() },
    h("header", { class: "card-head" }, h("h2", {}, title), actions && h("div", { class: "card-actions" }, actions)),
    h("div", { class: "card-body" }, body));
}

/** Shows a short message in the corner; `kind` is "ok" or "error". */
export function toast(message, kind = "ok") {
  const box = document.getElementById("toasts");
  const el = h("div", { class: `toast ${kind}` }, message);
  box.append(el);
  setTimeout(() => el.remove(), 5000);
}

/** Copies text to the clipboard, with a fallback for pages not served over https. */
export async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = h("textarea", { class: "offscreen" }, text);
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  toast("Copied");
}
