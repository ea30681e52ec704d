// `/metrics` (Prometheus text, SPEC 6) polled every few seconds; a short history per callback
// in memory, turned into rates: calls/s, errors/s, latency (mean and p95), cold starts/s.

import { get } from "./api.js";

const POLL_MS = 5000;
const KEEP = 72; // samples: six minutes at one every five seconds

/** Parses Prometheus text into [{name, labels, value}]. */
export function parse(text) {
  const out = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    out.push({ name: m[1], labels: m[2] ? labels(m[2]) : {}, value: Number(m[3]) });
  }
  return out;
}

function labels(block) {
  const out = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  let m;
  while ((m = re.exec(block))) {
    out[m[1]] = m[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
  }
  return out;
}

/** Per-callback totals of one scrape. */
function summarize(samples) {
  const by = new Map();
  const of = (path) => {
    if (!by.has(path)) {
      by.set(path, { calls: 0, errors: 0, sum: 0, count: 0, cold: 0, buckets: new Map(), instances: {} });
    }
    return by.get(path);
  };
  for (const { name, labels: l, value } of samples) {
    if (l.path === undefined || !Number.isFinite(value)) continue;
    const s = of(l.path);
    if (name === "faas_invocations_total") s.calls += value;
    else if (name === "faas_invocation_errors_total") s.errors += value;
    else if (name === "faas_invocation_duration_seconds_sum") s.sum += value;
    else if (name === "faas_invocation_duration_seconds_count") s.count += value;
    else if (name === "faas_invocation_duration_seconds_bucket") s.buckets.set(Number(l.le), value);
    else if (name === "faas_cold_starts_total") s.cold += value;
    else if (name === "faas_instances") s.instances[l.state] = value;
  }
  return by;
}

/** The increase of a counter between two scrapes; a reset (restart) counts from zero. */
function increase(now, before) {
  return now >= before ? now - before : now;
}

/** The q-quantile of the calls between two scrapes, from histogram buckets. */
export function quantile(q, now, before) {
  const les = [...now.keys()].sort((a, b) => a - b);
  const deltas = les.map((le) => increase(now.get(le), before?.get(le) ?? 0));
  const total = deltas[deltas.length - 1] ?? 0;
  if (!total) return null;
  const want = q * total;
  let lower = 0;
  let below = 0;
  for (let i = 0; i < les.length; i++) {
    if (deltas[i] >= want) {
      const upper = les[i];
      if (!Number.isFinite(upper)) return lower;
      const inBucket = deltas[i] - below;
      return inBucket ? lower + ((upper - lower) * (want - below)) / inBucket : upper;
    }
    lower = les[i];
    below = deltas[i];
  }
  return lower;
}

/** The totals of a callback that has none yet. */
const NONE = Object.freeze({ calls: 0, errors: 0, sum: 0, count: 0, cold: 0, buckets: new Map(), instances: {} });

/** The rates of one callback between two scrapes. */
function interval(now, before, seconds) {
  const b = before || NONE;
  const count = increase(now.count, b.count);
  return {
    calls: increase(now.calls, b.calls) / seconds,
    errors: increase(now.errors, b.errors) / seconds,
    cold: increase(now.cold, b.cold) / seconds,
    mean: count ? increase(now.sum, b.sum) / count : null,
    p95: quantile(0.95, now.buckets, b.buckets),
  };
}

/** Scrapes kept in memory, and the rates they give. */
export class History {
  constructor(keep = KEEP) {
    this.keep = keep;
    this.scrapes = [];
  }

  /** Adds one scrape's text, taken at `t` (ms). */
  add(text, t = Date.now()) {
    this.scrapes.push({ t, by: summarize(parse(text)) });
    if (this.scrapes.length > this.keep) this.scrapes.shift();
  }

  /**
   * Rates of `path` for every interval: [{t, calls, errors, cold, mean, p95}]. A callback
   * the gateway has no series for yet was not called: zero calls, no latency.
   */
  series(path) {
    const out = [];
    for (let i = 1; i < this.scrapes.length; i++) {
      const prev = this.scrapes[i - 1];
      const cur = this.scrapes[i];
      const now = cur.by.get(path) || NONE;
      out.push({ t: cur.t, ...interval(now, prev.by.get(path), (cur.t - prev.t) / 1000) });
    }
    return out;
  }

  /** The latest interval's rates of `path`, or null before two scrapes. */
  latest(path) {
    const s = this.series(path);
    return s.length ? s[s.length - 1] : null;
  }

  /** The last scrape's instance gauges of `path` ({ready: 1, paused: 0, …}). */
  instances(path) {
    const last = this.scrapes[this.scrapes.length - 1];
    return last?.by.get(path)?.instances || {};
  }
}

/** The dashboard's one history, polled while the page is open. */
export const history = new History();
const listeners = new Set();
let timer = null;

/** Calls `fn` after every scrape; returns a function that stops calling it. */
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

async function scrape() {
  try {
    const text = await get("/metrics", { quiet401: true });
    if (typeof text === "string") history.add(text);
    listeners.forEach((fn) => fn(history));
  } catch {
    // The charts keep their last data; the health badge reports an unreachable gateway.
  }
}

/** Starts polling (once). */
export function start() {
  if (timer) return;
  scrape();
  timer = setInterval(scrape, POLL_MS);
}
