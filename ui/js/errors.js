// How the API's errors are shown: the contract's code and message, the fields it names, and
// the build or startup output (`details.log`) of BUILD_FAILED / STARTUP_FAILED.

import { h, code } from "./dom.js";

/** A box showing an ApiError (or anything shaped like one). */
export function errorBox(err) {
  const details = err.details || {};
  const { fields, log, ...rest } = details;
  return h("div", { class: "error-box", role: "alert", dataset: { code: err.code || "" } },
    h("div", { class: "error-head" },
      code(err.code || "ERROR", "danger"),
      err.status ? h("span", { class: "muted" }, `HTTP ${err.status}`) : null),
    h("p", { class: "error-message" }, err.message || String(err)),
    fields && Object.keys(fields).length > 0 && h("ul", { class: "error-fields" },
      Object.entries(fields).map(([k, v]) => h("li", {}, h("code", {}, k), " ", v))),
    typeof log === "string" && log && h("div", { class: "error-log" },
      h("p", { class: "muted" }, err.code === "BUILD_FAILED" ? "Build output (tail)" : "Function output (tail)"),
      h("pre", { class: "log-pre", tabindex: "0" }, log)),
    Object.keys(rest).length > 0 && h("dl", { class: "dl details" }, Object.entries(rest).map(([k, v]) =>
      [h("dt", {}, k), h("dd", {}, h("code", {}, typeof v === "string" ? v : JSON.stringify(v)))])),
    err.requestId && h("p", { class: "muted small" }, `request ${err.requestId}`));
}

/** Marks the form's inputs named in `fields` ({"memory_mb": "reason", "env.X": …}). */
export function markFields(form, fields) {
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  for (const el of form.querySelectorAll(".field-error")) {
    el.hidden = true;
    el.textContent = "";
  }
  for (const [key, reason] of Object.entries(fields)) {
    const top = key.split(".")[0];
    const input = form.querySelector(`#f-${CSS.escape(top)}`);
    const note = form.querySelector(`#f-${CSS.escape(top)}-error`);
    if (input) input.setAttribute("aria-invalid", "true");
    if (note) {
      note.hidden = false;
      note.textContent = note.textContent ? `${note.textContent}; ${reason}` : reason;
    }
  }
}

/** Scrolls the logs in `el` to their end: a traceback's last lines say what went wrong. */
export function showLogEnds(el) {
  for (const pre of el.querySelectorAll("pre.log-pre")) pre.scrollTop = pre.scrollHeight;
}
