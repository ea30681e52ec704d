// The dashboard: hash routes, the token prompt, the gateway's health in the top bar.

import { get, setToken, token, whenUnauthorized } from "./api.js";
import { h, fill, toast } from "./dom.js";
import { deployForm } from "./deploy.js";
import { renderDetail } from "./detail.js";
import { renderList } from "./list.js";
import { renderNamespace, renderNamespaces } from "./namespaces.js";
import { start as startMetrics } from "./metrics.js";

const main = document.getElementById("main");
const features = { namespaces: false };
let cleanups = [];
let generation = 0;

/**
 * What a view may use: timers and cleanups that end when the view is left, and `alive()`,
 * false once it was left (an answer arriving later must not draw over the next view).
 */
function context() {
  const mine = generation;
  return {
    alive: () => mine === generation,
    every(fn, ms) {
      const id = setInterval(() => document.visibilityState === "visible" && fn(), ms);
      cleanups.push(() => clearInterval(id));
    },
    onCleanup(fn) {
      cleanups.push(fn);
    },
  };
}

function leave() {
  generation++;
  cleanups.forEach((fn) => fn());
  cleanups = [];
}

const ROUTES = [
  [/^#?\/?$/, (ctx) => renderList(main, ctx)],
  [/^#\/deploy$/, () => newDeploy()],
  [/^#\/callbacks\/([^/]+)$/, (ctx, p) => renderDetail(main, ctx, p)],
  [/^#\/callbacks\/([^/]+)\/redeploy$/, (ctx, p) => redeploy(ctx, p)],
  [/^#\/namespaces$/, (ctx) => renderNamespaces(main, ctx)],
  [/^#\/namespaces\/([^/]+)$/, (ctx, n) => renderNamespace(main, ctx, n)],
];

function pageHead(title, text, crumbs) {
  const slot = h("div", {});
  fill(main, crumbs, h("div", { class: "page-head" }, h("div", {}, h("h1", {}, title), h("p", { class: "muted" }, text))), slot);
  return slot;
}

function newDeploy() {
  const slot = pageHead("Deploy a function", "Write or paste a handler, pick its settings, and the gateway builds and starts it.");
  deployForm(slot, { features, done: opened });
}

function opened(cb) {
  location.hash = `#/callbacks/${encodeURIComponent(cb.path)}`;
}

async function redeploy(ctx, path) {
  fill(main, h("p", { class: "loading" }, h("span", { class: "spinner" }), "Loading…"));
  try {
    const cb = await get(`/callbacks/${encodeURIComponent(path)}`);
    if (!ctx.alive()) return;
    const crumbs = h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/" }, "Callbacks"), " / ",
      h("a", { href: `#/callbacks/${encodeURIComponent(path)}` }, path), " / redeploy");
    const slot = pageHead(`Redeploy ${path}`, "The current settings are filled in. Traffic moves to the new revision once it is ready.", crumbs);
    deployForm(slot, { cb, features, done: opened });
  } catch (e) {
    if (e.status !== 401) toast(`${e.code}: ${e.message}`, "error");
  }
}

function route() {
  leave();
  const hash = location.hash || "#/";
  for (const a of document.querySelectorAll("[data-nav]")) {
    const section = a.dataset.nav;
    const here = section === "callbacks" ? /^#\/?(callbacks|$)/.test(hash) : hash.startsWith(`#/${section}`);
    a.toggleAttribute("aria-current", here);
  }
  for (const [re, view] of ROUTES) {
    const m = re.exec(hash);
    if (m) {
      view(context(), ...m.slice(1).map(decodeURIComponent));
      main.focus({ preventScroll: true });
      return;
    }
  }
  fill(main, h("div", { class: "empty" }, h("h2", {}, "Nothing here"),
    h("p", {}, "This page does not exist."), h("a", { class: "button", href: "#/" }, "Back to callbacks")));
}

/** The token form, shown when the gateway answers 401. */
function askToken(refused) {
  leave();
  const input = h("input", { type: "password", id: "token", name: "token", autocomplete: "current-password", required: true, class: "mono" });
  const error = h("p", { class: "field-error", id: "token-error", role: "alert", hidden: !refused },
    refused ? "The gateway refused that token." : "");
  const form = h("form", { class: "auth card", id: "auth" },
    h("div", { class: "auth-mark", "aria-hidden": "true" }),
    h("h1", {}, "This gateway needs a token"),
    h("p", { class: "muted" }, "Enter the gateway's admin token, or a namespace's admin token to see that namespace's callbacks. It is kept for this browser session only."),
    h("label", { for: "token" }, "Admin token"), input, error,
    h("button", { type: "submit", class: "button primary wide" }, "Continue"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    setToken(input.value.trim());
    session();
    detect().then(route);
  });
  fill(main, form);
  input.focus();
}

whenUnauthorized(() => {
  // Several calls may be refused at once: ask once.
  if (document.getElementById("auth") && !token()) return;
  const refused = !!token();
  setToken("");
  session();
  askToken(refused);
});

/** The token status in the top bar, with a way to forget it. */
function session() {
  const box = document.getElementById("session");
  if (!token()) return fill(box);
  fill(box, h("span", { class: "token-set", title: "An admin token is kept for this browser session" }, "token set"),
    h("button", {
      type: "button", class: "button small ghost", id: "forget",
      onclick: () => {
        setToken("");
        session();
        features.namespaces = false;
        nav();
        route();
      },
    }, "Forget"));
}

/** Whether this gateway has namespaces and this token may manage them. */
async function detect() {
  try {
    await get("/namespaces", { quiet401: true });
    features.namespaces = true;
  } catch {
    features.namespaces = false;
  }
  nav();
}

function nav() {
  document.querySelector('[data-nav="namespaces"]').hidden = !features.namespaces;
}

async function health() {
  const el = document.getElementById("health");
  let version = "";
  try {
    version = (await get("/health", { quiet401: true })).version || "";
  } catch {
    el.dataset.status = "down";
    return fill(el, h("i", { "aria-hidden": "true" }), "unreachable");
  }
  // /ready answers 503 with the same body when a check fails: read it either way.
  const ready = await fetch("/ready").then((r) => r.json()).catch(() => null);
  const ok = ready?.status === "ready";
  const checks = Object.entries(ready?.checks || {}).map(([k, c]) => `${k}: ${c.ok ? "ok" : c.error || "failing"}`).join("\n");
  el.dataset.status = ok ? "ok" : "warn";
  el.title = checks;
  fill(el, h("i", { "aria-hidden": "true" }), ok ? "ready" : "not ready", version && h("span", { class: "version" }, `v${version}`));
}

window.addEventListener("hashchange", route);
session();
health();
setInterval(health, 10000);
startMetrics();
detect().then(route);
