// The parts of a callback's page: settings, instances, revisions, charts and a call form.

import { h, fill, badge, code, rate, ms, time, empty } from "./dom.js";
import { lineChart } from "./chart.js";

const dash = (v) => (v === undefined || v === null || v === "" ? "—" : v);

/** The callback's definition as a list of terms. */
export function settingsList(cb) {
  const items = [
    ["Runtime", cb.runtime], ["Handler", h("code", {}, cb.handler)],
    ["Backend", cb.backend], ["Mode", cb.mode],
    ["Memory", `${cb.memory_mb} MB`], ["CPU", cb.cpu],
    ["Timeout", `${cb.timeout_ms} ms`], ["Concurrency", cb.concurrency],
    ["Instances", `${cb.min_instances} – ${cb.max_instances}`], ["Idle timeout", `${cb.idle_timeout_s} s`],
    cb.keep_paused_s !== undefined && ["Keep paused", `${cb.keep_paused_s} s`],
    cb.namespace && ["Namespace", h("a", { href: `#/namespaces/${encodeURIComponent(cb.namespace)}` }, cb.namespace)],
    ["Image", h("code", { class: "wrap" }, dash(cb.image))],
    ["Source", h("code", { title: cb.code_sha256 }, `sha256:${(cb.code_sha256 || "").slice(0, 12)}`)],
    ["Created", time(cb.created_at)], ["Updated", time(cb.updated_at)],
  ].filter(Boolean);
  const env = Object.entries(cb.env || {});
  return h("div", {},
    h("dl", { class: "dl" }, items.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    env.length > 0 && h("div", { class: "env-list" }, h("h3", {}, "Environment"),
      h("dl", { class: "dl mono" }, env.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))));
}

/** The live instances as a table. */
export function instancesTable(cb) {
  if (cb.mode === "job") return h("p", { class: "muted pad" }, "Job mode: every call runs in a fresh container.");
  const list = cb.instances || [];
  if (!list.length) {
    const why = {
      undeployed: "Undeployed: nothing runs.",
      failed: "No instance: the last deploy failed. Fix the source and redeploy.",
      building: "The image is being built.",
    };
    return h("p", { class: "muted pad" }, why[cb.state] || "No instance runs. The next call starts one (a cold start).");
  }
  return h("div", { class: "table-wrap" }, h("table", { class: "table compact", id: "instances" },
    h("thead", {}, h("tr", {}, h("th", {}, "Instance"), h("th", {}, "State"), h("th", { title: "time since it started" }, "Up"),
      h("th", { class: "num", title: "calls in flight" }, "Calls"), h("th", { class: "num" }, "Restarts"))),
    h("tbody", {}, list.map((i) => h("tr", {},
      h("td", {}, h("code", { title: i.id }, i.id.length > 24 ? i.id.slice(-16) : i.id.slice(0, 12))),
      h("td", {}, badge(i.state)), h("td", {}, time(i.started_at, true)),
      h("td", { class: "num" }, i.in_flight), h("td", { class: `num ${i.restarts ? "warn" : ""}` }, i.restarts))))));
}

/** The revisions, newest first. */
export function revisionsTable(revisions, current) {
  if (!revisions.length) return h("p", { class: "muted pad" }, "No revision yet: a failed first deploy creates none.");
  return h("div", { class: "table-wrap" }, h("table", { class: "table compact", id: "revisions" },
    h("thead", {}, h("tr", {}, h("th", {}, "Revision"), h("th", {}, "Source"), h("th", {}, "Image"), h("th", {}, "Created"))),
    h("tbody", {}, revisions.map((r) => h("tr", { class: r.revision === current ? "current" : "" },
      h("td", {}, `r${r.revision}`, r.revision === current && h("span", { class: "tag" }, "current")),
      h("td", {}, h("code", { title: r.code_sha256 }, r.code_sha256.slice(0, 12))),
      h("td", {}, h("code", { class: "wrap" }, r.image)),
      h("td", {}, time(r.created_at)))))));
}

function chartCard(title, value, chart, legend) {
  return h("section", { class: "card chart-card" },
    h("header", { class: "chart-head" }, h("h3", {}, title), h("span", { class: "chart-value" }, value)),
    chart, legend && h("div", { class: "legend" }, legend));
}

/** Calls/s, errors/s and latency over the last minutes, from the metrics history. */
export function charts(series) {
  if (series.length < 1) {
    return [empty("Collecting metrics", "The charts start once the gateway's /metrics has been read twice (every 5 seconds).")];
  }
  const pick = (key, f = (v) => v) => series.map((p) => ({ t: p.t, v: p[key] === null ? null : f(p[key]) }));
  const last = series[series.length - 1];
  const toMs = (v) => v * 1000;
  return [
    chartCard("Calls per second", rate(last.calls),
      lineChart({ lines: [{ cls: "calls", values: pick("calls") }], format: rate, label: "calls per second" })),
    chartCard("Errors per second", rate(last.errors),
      lineChart({ lines: [{ cls: "errors", values: pick("errors") }], format: rate, label: "errors per second" })),
    chartCard("Latency", ms(last.p95),
      lineChart({
        lines: [{ cls: "mean", values: pick("mean", toMs) }, { cls: "p95", values: pick("p95", toMs) }],
        format: (v) => (v >= 10 ? `${Math.round(v)}` : `${+v.toFixed(1)}`), label: "latency in milliseconds, mean and p95",
      }),
      [h("span", { class: "key mean" }, "mean"), h("span", { class: "key p95" }, "p95"), h("span", { class: "muted" }, "ms")]),
  ];
}

/** A form that calls the function and shows its answer. */
export function tryForm(cb) {
  const method = h("select", { id: "try-method", "aria-label": "Method" },
    ["GET", "POST", "PUT", "PATCH", "DELETE"].map((m) => h("option", {}, m)));
  const rest = h("input", { id: "try-rest", type: "text", class: "mono", placeholder: "/?name=dev", "aria-label": "Path and query after the callback" });
  const body = h("textarea", { id: "try-body", class: "code small", rows: 3, placeholder: "Request body", "aria-label": "Request body" });
  const invokeToken = h("input", { type: "password", id: "try-token", placeholder: "Invoke token, if the gateway needs one", "aria-label": "Invoke token" });
  const out = h("div", { class: "try-out", "aria-live": "polite" });
  const send = async (e) => {
    e.preventDefault();
    const suffix = rest.value.trim();
    const url = `/api/${encodeURIComponent(cb.path)}${suffix && !/^[/?]/.test(suffix) ? "/" : ""}${suffix}`;
    const init = { method: method.value, headers: {} };
    if (invokeToken.value) init.headers.Authorization = `Bearer ${invokeToken.value}`;
    if (!["GET", "DELETE"].includes(method.value) && body.value) init.body = body.value;
    fill(out, h("p", { class: "muted" }, h("span", { class: "spinner" }), "Calling…"));
    const started = performance.now();
    try {
      const resp = await fetch(url, init);
      const text = await resp.text();
      const took = performance.now() - started;
      const flags = ["x-faas-revision", "x-faas-cold-start", "x-faas-resumed"]
        .filter((k) => resp.headers.get(k)).map((k) => h("span", { class: "tag" }, `${k.slice(7)}: ${resp.headers.get(k)}`));
      fill(out, h("div", { class: "try-status" },
        code(String(resp.status), resp.ok ? "ok" : "danger"), h("span", { class: "muted" }, `${Math.round(took)} ms`), flags),
      h("pre", { class: "log-pre short", id: "try-response" }, text || "(empty body)"));
    } catch (err) {
      fill(out, h("p", { class: "bad" }, `The call failed: ${err.message}`));
    }
  };
  return h("form", { class: "try", onsubmit: send },
    h("div", { class: "try-line" }, method, h("span", { class: "mono muted" }, `/api/${cb.path}`), rest),
    body, invokeToken,
    h("div", { class: "row end" }, h("button", { type: "submit", class: "button", id: "try-send" }, "Send")), out);
}
