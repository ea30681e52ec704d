// The callbacks overview: totals, then one row per callback with its state, revision,
// instances, call rates and last error.

import { get } from "./api.js";
import { h, fill, badge, code, empty, rate, ms, time } from "./dom.js";
import { errorBox } from "./errors.js";
import { history, subscribe } from "./metrics.js";
import { sparkline } from "./chart.js";

const REFRESH_MS = 3000;

/** "2 ready · 1 paused" as chips. */
export function instanceChips(cb) {
  if (cb.mode === "job") return h("span", { class: "muted" }, "one per call");
  const counts = {};
  for (const i of cb.instances || []) counts[i.state] = (counts[i.state] || 0) + 1;
  const states = Object.keys(counts);
  if (!states.length) return h("span", { class: "muted" }, "none");
  return h("span", { class: "chips" }, states.map((s) =>
    h("span", { class: `dot-chip state-${s}`, title: s }, h("i", { "aria-hidden": "true" }), `${counts[s]} ${s}`)));
}

function stat(label, value, sub, id) {
  return h("div", { class: "stat", id }, h("span", { class: "stat-label" }, label),
    h("span", { class: "stat-value" }, value), h("span", { class: "stat-sub" }, sub));
}

function row(cb) {
  const r = history.latest(cb.path);
  const calls = history.series(cb.path).map((p) => p.calls);
  const href = `#/callbacks/${encodeURIComponent(cb.path)}`;
  const err = cb.last_error;
  return h("tr", { dataset: { path: cb.path } },
    h("td", {}, h("a", { href, class: "path" }, cb.path),
      h("div", { class: "sub mono" }, cb.url || `/api/${cb.path}`,
        cb.namespace && cb.namespace !== "default" && h("span", { class: "ns" }, cb.namespace))),
    h("td", {}, badge(cb.state)),
    h("td", { class: "num" }, cb.revision ? `r${cb.revision}` : "—"),
    h("td", { class: "hide-sm" }, h("span", { class: `rt rt-${cb.runtime}` }, cb.runtime),
      h("div", { class: "sub" }, `${cb.backend} · ${cb.mode}`)),
    h("td", {}, instanceChips(cb)),
    h("td", { class: "num" }, h("div", { class: "rate-cell" },
      sparkline(calls, `calls per second of ${cb.path}`), h("span", {}, rate(r?.calls)))),
    h("td", { class: `num ${r?.errors > 0 ? "bad" : ""}` }, rate(r?.errors)),
    h("td", { class: "num hide-sm" }, ms(r?.p95)),
    h("td", { class: "last-error hide-md" }, err
      ? h("span", { title: err.message }, code(err.code, "danger"), " ", time(err.at))
      : h("span", { class: "muted" }, "—")));
}

function summary(callbacks) {
  let calls = 0;
  let errors = 0;
  let running = 0;
  let paused = 0;
  for (const cb of callbacks) {
    const r = history.latest(cb.path);
    calls += r?.calls || 0;
    errors += r?.errors || 0;
    for (const i of cb.instances || []) i.state === "paused" ? paused++ : running++;
  }
  const serving = callbacks.filter((c) => c.state === "ready" || c.state === "idle").length;
  const failing = callbacks.filter((c) => c.state === "failed" || c.state === "crash_loop").length;
  return h("div", { class: "stats" },
    stat("Callbacks", callbacks.length, `${serving} serving${failing ? ` · ${failing} failing` : ""}`),
    stat("Instances", running, paused ? `${paused} paused` : "running"),
    stat("Calls / s", rate(calls), "last 5 s"),
    stat("Errors / s", rate(errors), "gateway-made errors"));
}

/** Renders the overview into `root`; returns its cleanup. */
export function renderList(root, ctx) {
  let callbacks = null;
  let failure = null;
  const filter = h("input", { type: "search", placeholder: "Filter by path", "aria-label": "Filter callbacks by path", class: "filter" });
  const body = h("div", { class: "list-body" }, h("p", { class: "loading" }, h("span", { class: "spinner" }), "Loading callbacks…"));
  fill(root,
    h("div", { class: "page-head" },
      h("div", {}, h("h1", {}, "Callbacks"), h("p", { class: "muted" }, "Functions deployed on this gateway, live.")),
      filter),
    body);

  const draw = () => {
    if (failure) return fill(body, errorBox(failure));
    if (!callbacks) return;
    if (!callbacks.length) {
      return fill(body, empty("No callbacks yet", "Deploy a function and it shows up here, with its instances, calls and logs.",
        h("a", { class: "button primary", href: "#/deploy" }, "Deploy one")));
    }
    const q = filter.value.trim().toLowerCase();
    const shown = callbacks.filter((c) => c.path.includes(q)).sort((a, b) => a.path.localeCompare(b.path));
    fill(body, summary(callbacks),
      h("div", { class: "table-wrap card" },
        h("table", { class: "table", id: "callbacks" },
          h("thead", {}, h("tr", {},
            h("th", { scope: "col" }, "Callback"), h("th", { scope: "col" }, "State"),
            h("th", { scope: "col", class: "num" }, "Rev"), h("th", { scope: "col", class: "hide-sm" }, "Runtime"),
            h("th", { scope: "col" }, "Instances"), h("th", { scope: "col", class: "num" }, "Calls/s"),
            h("th", { scope: "col", class: "num" }, "Errors/s"), h("th", { scope: "col", class: "num hide-sm" }, "p95"),
            h("th", { scope: "col", class: "hide-md" }, "Last error"))),
          h("tbody", {}, shown.map(row)))),
      !shown.length && h("p", { class: "muted center" }, `No callback matches “${q}”.`));
  };

  const load = async () => {
    try {
      callbacks = (await get("/callbacks")).callbacks || [];
      failure = null;
    } catch (e) {
      if (e.status === 401) return;
      failure = e;
    }
    draw();
  };
  filter.addEventListener("input", draw);
  load();
  ctx.every(load, REFRESH_MS);
  ctx.onCleanup(subscribe(draw));
}
