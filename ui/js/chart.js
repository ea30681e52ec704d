// Charts as inline SVG: a line chart over the last minutes and a sparkline for table rows.

const NS = "http://www.w3.org/2000/svg";
const MAX_WINDOW_MS = 6 * 60 * 1000;
const MIN_WINDOW_MS = 60 * 1000;

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

/** A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten. */
export function niceMax(value) {
  if (!(value > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 5, 10]) if (value <= m * p) return m * p;
  return 10 * p;
}

function points(values, x, y) {
  return values.filter((p) => p.v !== null && Number.isFinite(p.v)).map((p) => [x(p.t), y(p.v)]);
}

/**
 * A line chart of one or more series over the last minutes (six at most).
 * lines: [{label, cls, values: [{t, v}]}]; format: a value → axis label.
 */
export function lineChart({ lines, format = String, label, now = Date.now() }) {
  const W = 360;
  const H = 150;
  const pad = { l: 44, r: 10, t: 10, b: 22 };
  const all = lines.flatMap((l) => l.values.map((p) => p.v)).filter((v) => Number.isFinite(v));
  const top = niceMax(Math.max(0, ...all));
  // The window grows with the history, up to six minutes, so a new page is not all blank.
  const first = Math.min(now, ...lines.flatMap((l) => l.values.map((p) => p.t)));
  const span = Math.min(MAX_WINDOW_MS, Math.max(MIN_WINDOW_MS, now - first));
  const x = (t) => pad.l + ((t - (now - span)) / span) * (W - pad.l - pad.r);
  const y = (v) => H - pad.b - (v / top) * (H - pad.t - pad.b);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": label });
  for (const f of [0, 0.5, 1]) {
    const yy = y(top * f);
    svg.append(s("line", { x1: pad.l, x2: W - pad.r, y1: yy, y2: yy, class: "grid" }));
    svg.append(s("text", { x: pad.l - 6, y: yy + 4, class: "axis", "text-anchor": "end" }, format(top * f)));
  }
  const ago = span >= 120000 ? `${Math.round(span / 60000)} min ago` : `${Math.round(span / 1000)} s ago`;
  svg.append(s("text", { x: pad.l, y: H - 5, class: "axis" }, ago));
  svg.append(s("text", { x: W - pad.r, y: H - 5, class: "axis", "text-anchor": "end" }, "now"));
  for (const line of lines) {
    const pts = points(line.values, x, y).filter(([px]) => px >= pad.l);
    if (!pts.length) continue;
    const d = pts.map(([px, py], i) => `${i ? "L" : "M"}${px.toFixed(1)},${py.toFixed(1)}`).join("");
    if (pts.length > 1) {
      const base = y(0).toFixed(1);
      const area = `${d}L${pts[pts.length - 1][0].toFixed(1)},${base}L${pts[0][0].toFixed(1)},${base}Z`;
      svg.append(s("path", { d: area, class: `area ${line.cls}` }));
    }
    svg.append(s("path", { d, class: `line ${line.cls}` }));
    const [lx, ly] = pts[pts.length - 1];
    svg.append(s("circle", { cx: lx, cy: ly, r: 2.5, class: `dot ${line.cls}` }));
  }
  return svg;
}

/** A small line of recent values for a table row. */
export function sparkline(values, label) {
  const W = 84;
  const H = 22;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "spark", role: "img", "aria-label": label });
  const vs = values.filter((v) => Number.isFinite(v));
  if (vs.length < 2) return svg;
  const top = Math.max(...vs) || 1;
  const step = W / (vs.length - 1);
  const d = vs.map((v, i) => `${i ? "L" : "M"}${(i * step).toFixed(1)},${(H - 2 - (v / top) * (H - 4)).toFixed(1)}`).join("");
  svg.append(s("path", { d, class: "line calls" }));
  return svg;
}
