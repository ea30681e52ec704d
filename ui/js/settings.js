// The deploy settings: number fields with the contract's ranges and defaults (SPEC 2.1), and
// the environment variables editor.

import { h } from "./dom.js";

/** Number settings, in the order the form shows them. */
export const SETTINGS = [
  { name: "memory_mb", label: "Memory (MB)", int: true, min: 16, max: 16384, placeholder: "256" },
  { name: "cpu", label: "CPU", int: false, min: 0.05, max: 16, step: 0.05, placeholder: "1" },
  { name: "timeout_ms", label: "Timeout (ms)", int: true, min: 1, max: 900000, placeholder: "30000" },
  { name: "concurrency", label: "Concurrency", int: true, min: 1, max: 1000, placeholder: "8 / 64" },
  { name: "min_instances", label: "Min instances", int: true, min: 0, max: 100, placeholder: "0" },
  { name: "max_instances", label: "Max instances", int: true, min: 1, max: 100, placeholder: "4" },
  { name: "idle_timeout_s", label: "Idle timeout (s)", int: true, min: 1, max: 86400, placeholder: "300" },
  { name: "keep_paused_s", label: "Keep paused (s)", int: true, min: 0, max: 86400, placeholder: "600" },
];

/** The number inputs, filled from `cb` when redeploying. */
export function numberFields(settings, cb, field) {
  return settings.map((s) => field(`f-${s.name}`, s.label, h("input", {
    id: `f-${s.name}`, name: s.name, type: "number", inputmode: s.int ? "numeric" : "decimal",
    min: String(s.min), max: String(s.max), step: String(s.step || 1),
    placeholder: s.placeholder, value: cb && cb[s.name] !== undefined ? String(cb[s.name]) : "",
  })));
}

/** What `GET /callbacks` shows instead of a secret-looking variable's value. */
const HIDDEN = "(set)";

function row(name, value, onRemove) {
  const secret = value === HIDDEN;
  const nameIn = h("input", { type: "text", class: "mono", value: name, placeholder: "NAME", "aria-label": "Variable name" });
  const valueIn = h("input", {
    type: secret ? "password" : "text", class: "mono", value: secret ? "" : value,
    placeholder: secret ? "hidden: enter it again" : "value", "aria-label": `Value of ${name || "the variable"}`,
  });
  const el = h("div", { class: "env-row" }, nameIn, valueIn,
    h("button", { type: "button", class: "button small ghost", "aria-label": "Remove variable", onclick: () => onRemove(el) }, "×"));
  el.read = () => ({ name: nameIn.value.trim(), value: valueIn.value, secret });
  return el;
}

/** Rows of NAME = value. `read(problems)` returns the map and notes what is missing. */
export function envEditor(env) {
  const rows = h("div", { class: "env-rows", id: "f-env" });
  const add = (n = "", v = "") => rows.append(row(n, v, (el) => el.remove()));
  for (const [n, v] of Object.entries(env)) add(n, v);
  const el = h("div", {},
    rows,
    h("p", { class: "field-error", id: "f-env-error", hidden: true }),
    h("button", { type: "button", class: "button small", onclick: () => add() }, "+ variable"),
    h("p", { class: "hint" }, "Names starting FAAS_ are reserved. Values of names like *_TOKEN or *_KEY are never shown again."));
  const read = (problems) => {
    const out = {};
    for (const r of rows.children) {
      const { name, value, secret } = r.read();
      if (!name) continue;
      if (secret && !value) problems[`env.${name}`] = "the gateway never shows this value: enter it again";
      out[name] = value;
    }
    return out;
  };
  return { el, read };
}
