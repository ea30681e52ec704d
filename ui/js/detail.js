// One callback's page: state and actions, last error, metrics over time, the live log,
// instances, call form, settings and revisions.

import { get, post, del, cbPath } from "./api.js";
import { h, fill, badge, code, card, time, toast, copy } from "./dom.js";
import { confirmDialog } from "./dialog.js";
import { errorBox } from "./errors.js";
import { forgetSource } from "./deploy.js";
import { LogView } from "./logs.js";
import { history, subscribe } from "./metrics.js";
import { charts, instancesTable, revisionsTable, settingsList, tryForm } from "./panels.js";

const REFRESH_MS = 3000;

function lastError(cb) {
  const e = cb.last_error;
  if (!e) return null;
  const log = e.details?.log;
  return h("div", { class: "alert", role: "alert", id: "last-error" },
    h("div", { class: "error-head" }, code(e.code, "danger"), h("span", { class: "muted" }, "last error,"), time(e.at)),
    h("p", { class: "error-message" }, e.message),
    typeof log === "string" && log && h("details", {}, h("summary", {}, "Output"), h("pre", { class: "log-pre" }, log)));
}

async function act(path, what) {
  try {
    if (what === "undeploy") {
      const ok = await confirmDialog({
        title: `Undeploy ${path}?`, confirmLabel: "Undeploy",
        text: "Every instance stops and calls answer 404 until it is deployed again. Its definition and revisions are kept.",
      });
      if (!ok) return false;
      await post("/callback/deploy", { path, action: "undeploy" });
      toast(`${path} undeployed`);
    } else {
      const ok = await confirmDialog({
        title: `Delete ${path}?`, confirmLabel: "Delete", danger: true, typeToConfirm: path,
        text: "This undeploys it and deletes its definition and every revision. It cannot be undone.",
      });
      if (!ok) return false;
      await del(cbPath(path));
      forgetSource(path);
      toast(`${path} deleted`);
      location.hash = "#/";
    }
    return true;
  } catch (e) {
    if (e.status !== 401) toast(`${e.code}: ${e.message}`, "error");
    return false;
  }
}

/** Renders the page of callback `path` into `root`. */
export function renderDetail(root, ctx, path) {
  const slots = {
    head: h("div", { class: "detail-head" }),
    error: h("div", {}),
    charts: h("div", { class: "charts" }),
    instances: h("div", {}),
    settings: h("div", {}),
    revisions: h("div", {}, h("p", { class: "muted pad" }, "Loading…")),
    tryit: h("div", {}),
  };
  const logs = new LogView(path);
  fill(root, h("p", { class: "loading" }, h("span", { class: "spinner" }), `Loading ${path}…`));
  let shown = false;
  let revision = null;

  const layout = () => fill(root,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/" }, "Callbacks"), " / ", path),
    slots.head, slots.error, slots.charts,
    h("div", { class: "split" },
      card("Live log", logs.el, null, "log-card"),
      h("div", { class: "side" }, card("Instances", slots.instances), card("Call it", slots.tryit))),
    h("div", { class: "split even" }, card("Settings", slots.settings), card("Revisions", slots.revisions)));

  const head = (cb) => {
    const enc = encodeURIComponent(path);
    const undeployed = cb.state === "undeployed";
    fill(slots.head,
      h("div", { class: "title" },
        h("h1", {}, path), badge(cb.state, "big"),
        h("span", { class: "rev" }, cb.revision ? `revision ${cb.revision}` : "no revision")),
      h("div", { class: "meta" },
        h("span", { class: `rt rt-${cb.runtime}` }, cb.runtime), `${cb.backend} · ${cb.mode}`,
        h("button", { type: "button", class: "linkish mono", title: "Copy the URL", onclick: () => copy(location.origin + cb.url) }, cb.url)),
      h("div", { class: "actions" },
        h("a", { class: "button primary", href: `#/callbacks/${enc}/redeploy`, id: "redeploy" }, undeployed ? "Deploy again" : "Redeploy"),
        h("button", {
          type: "button", class: "button", id: "undeploy", disabled: undeployed,
          onclick: async () => (await act(path, "undeploy")) && load(),
        }, "Undeploy"),
        h("button", { type: "button", class: "button danger-ghost", id: "delete", onclick: () => act(path, "delete") }, "Delete")));
  };

  const load = async () => {
    let cb;
    try {
      cb = await get(cbPath(path));
    } catch (e) {
      if (e.status === 401 || !ctx.alive()) return;
      if (!shown) fill(root, h("nav", { class: "crumbs" }, h("a", { href: "#/" }, "Callbacks"), " / ", path), errorBox(e));
      return;
    }
    if (!ctx.alive()) return;
    if (!shown) {
      shown = true;
      layout();
      fill(slots.tryit, tryForm(cb));
      logs.start();
      drawCharts();
    }
    head(cb);
    fill(slots.error, lastError(cb));
    fill(slots.instances, instancesTable(cb));
    fill(slots.settings, settingsList(cb));
    if (cb.revision !== revision) {
      revision = cb.revision;
      get(cbPath(path, "/revisions"))
        .then((r) => fill(slots.revisions, revisionsTable(r.revisions || [], cb.revision)))
        .catch((e) => e.status !== 401 && fill(slots.revisions, errorBox(e)));
    }
  };
  const drawCharts = () => fill(slots.charts, charts(history.series(path)));

  load();
  ctx.every(load, REFRESH_MS);
  ctx.onCleanup(subscribe(() => shown && drawCharts()));
  ctx.onCleanup(() => logs.stop());
}
