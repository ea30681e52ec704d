// The live log view of one callback: `GET /callbacks/<path>/logs?follow=true` read as NDJSON
// with a stream reader; on a gateway that answers plain JSON instead, poll `?tail=200`.

import { authHeaders, cbPath, reportUnauthorized, toError } from "./api.js";
import { h, fill } from "./dom.js";

const TAIL = 200;
const KEEP = 2000;
const POLL_MS = 2000;
const RETRY_MS = 3000;

const STATUS = {
  connecting: "connecting…",
  live: "live",
  polling: "refreshing every 2 s",
  retrying: "reconnecting…",
  stopped: "stopped",
};

function hue(instance) {
  let n = 2166136261;
  for (const c of instance) n = Math.imul(n ^ c.charCodeAt(0), 16777619) >>> 0;
  return n % 6;
}

function shortId(id) {
  return id.length > 20 ? id.slice(-12) : id.slice(0, 12);
}

function clock(ts) {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

/** The log pane with its toolbar; `start()` connects, `stop()` disconnects. */
export class LogView {
  constructor(path) {
    this.path = path;
    this.count = 0;
    this.stopped = false;
    this.status = h("span", { class: "live-status", role: "status" });
    this.lines = h("div", { class: "log-lines", role: "log", "aria-label": `Output of ${path}`, tabindex: "0" });
    this.follow = h("input", { type: "checkbox", checked: true, id: `follow-${path}` });
    const filter = h("select", { "aria-label": "Streams", onchange: (e) => this.filter(e.target.value) },
      h("option", { value: "all" }, "stdout + stderr"),
      h("option", { value: "stdout" }, "stdout"),
      h("option", { value: "stderr" }, "stderr"));
    this.lines.addEventListener("scroll", () => {
      const atBottom = this.lines.scrollHeight - this.lines.scrollTop - this.lines.clientHeight < 24;
      this.follow.checked = atBottom;
    });
    this.el = h("div", { class: "logs" },
      h("div", { class: "log-bar" }, this.status, h("span", { class: "spacer" }), filter,
        h("label", { class: "check" }, this.follow, "Follow"),
        h("button", { type: "button", class: "button small", onclick: () => this.clear() }, "Clear")),
      this.lines);
    this.setStatus("connecting");
  }

  setStatus(key, detail = "") {
    this.status.dataset.status = key;
    fill(this.status, STATUS[key], detail && ` — ${detail}`);
  }

  filter(which) {
    this.lines.classList.toggle("hide-stdout", which === "stderr");
    this.lines.classList.toggle("hide-stderr", which === "stdout");
  }

  clear() {
    this.lines.replaceChildren();
    this.count = 0;
    this.showEmpty();
  }

  showEmpty() {
    if (!this.count) {
      fill(this.lines, h("p", { class: "log-empty" }, "No output yet. Call the function and its prints appear here."));
    }
  }

  /** Appends lines [{instance, stream, ts, line}]. */
  append(lines) {
    if (!lines.length) return;
    if (!this.count) this.lines.replaceChildren();
    const frag = document.createDocumentFragment();
    for (const l of lines) {
      const inst = String(l.instance || "");
      frag.append(h("div", { class: `log-line ${l.stream === "stderr" ? "stderr" : "stdout"}` },
        h("span", { class: "log-ts" }, clock(l.ts)),
        h("span", { class: `log-inst h${hue(inst)}`, title: inst }, shortId(inst)),
        h("span", { class: "log-text" }, l.line)));
    }
    this.lines.append(frag);
    this.count += lines.length;
    while (this.count > KEEP && this.lines.firstChild) {
      this.lines.firstChild.remove();
      this.count--;
    }
    if (this.follow.checked) this.lines.scrollTop = this.lines.scrollHeight;
  }

  replace(lines) {
    const key = JSON.stringify(lines.length ? [lines.length, lines[lines.length - 1]] : []);
    if (key === this.lastKey) return;
    this.lastKey = key;
    this.lines.replaceChildren();
    this.count = 0;
    this.append(lines);
    this.showEmpty();
  }

  /** Connects: follows the stream, or polls when the gateway cannot follow. */
  async start() {
    this.stopped = false;
    while (!this.stopped) {
      this.abort = new AbortController();
      try {
        const more = await this.connect();
        if (!more) return;
        this.setStatus("retrying");
      } catch (e) {
        if (this.stopped) return;
        this.setStatus("retrying", e.message);
      }
      await new Promise((r) => (this.retry = setTimeout(r, RETRY_MS)));
    }
  }

  /** One connection. Returns whether to reconnect. */
  async connect() {
    const url = cbPath(this.path, `/logs?follow=true&tail=${TAIL}`);
    const resp = await fetch(url, { headers: authHeaders(), signal: this.abort.signal });
    if (!resp.ok) {
      const err = toError(resp.status, await resp.json().catch(() => null));
      if (resp.status === 401) reportUnauthorized(err);
      throw err;
    }
    if (!(resp.headers.get("content-type") || "").includes("ndjson")) {
      const data = await resp.json();
      this.replace(data.lines || []);
      this.poll();
      return false;
    }
    this.lines.replaceChildren();
    this.count = 0;
    this.setStatus("live");
    await this.read(resp.body);
    this.showEmpty();
    return !this.stopped;
  }

  async read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let first = true;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      const parts = buffer.split("\n");
      buffer = parts.pop();
      const lines = [];
      for (const p of parts) {
        if (!p.trim()) continue;
        try {
          lines.push(JSON.parse(p));
        } catch {
          // A line that is not JSON is not a log line: skip it rather than stop following.
        }
      }
      this.append(lines);
      if (first) {
        first = false;
        this.showEmpty();
      }
    }
  }

  poll() {
    this.setStatus("polling");
    const tick = async () => {
      if (this.stopped) return;
      try {
        const resp = await fetch(cbPath(this.path, `/logs?tail=${TAIL}`), { headers: authHeaders() });
        if (resp.ok) {
          this.replace((await resp.json()).lines || []);
          this.setStatus("polling");
        } else {
          this.setStatus("retrying", toError(resp.status, await resp.json().catch(() => null)).message);
        }
      } catch (e) {
        this.setStatus("retrying", e.message);
      }
      if (!this.stopped) this.timer = setTimeout(tick, POLL_MS);
    };
    this.timer = setTimeout(tick, POLL_MS);
  }

  /** Disconnects and stops polling. */
  stop() {
    this.stopped = true;
    this.abort?.abort();
    clearTimeout(this.timer);
    clearTimeout(this.retry);
    this.setStatus("stopped");
  }
}
