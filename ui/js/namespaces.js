// Namespaces (SPEC 10), for the gateway-wide admin: usage against quota, create (the new
// tokens are shown once), inspect, change the quota, rotate tokens, delete.

import { get, post, patch, del, nsPath } from "./api.js";
import { h, fill, badge, card, empty, time, toast, copy } from "./dom.js";
import { confirmDialog } from "./dialog.js";
import { errorBox, markFields } from "./errors.js";

const QUOTAS = [
  ["max_callbacks", "callbacks", "Callbacks"],
  ["max_instances", "instances", "Instances"],
  ["max_memory_mb", "memory_mb", "Memory (MB)"],
];

/** "3 / 20" with a bar; no limit shows "3 / ∞". */
function meter(used = 0, limit) {
  const pct = limit ? Math.min(100, (used / limit) * 100) : 0;
  const level = pct >= 90 ? "full" : pct >= 70 ? "high" : "";
  const bar = h("span", { class: `meter-bar ${level}` });
  bar.style.width = `${pct}%`;
  return h("span", { class: "meter" }, h("span", { class: "meter-text" }, `${used} / ${limit ?? "∞"}`),
    h("span", { class: "meter-track", "aria-hidden": "true" }, bar));
}

/** The tokens of a new or rotated namespace, shown once. */
function tokensBox(ns) {
  const t = ns.tokens || {};
  const line = (label, value) => h("div", { class: "token-line" }, h("span", { class: "token-label" }, label),
    h("code", { class: "token" }, value),
    h("button", { type: "button", class: "button small", onclick: () => copy(value) }, "Copy"));
  return h("div", { class: "tokens-box", role: "status", id: "new-tokens" },
    h("h3", {}, `Tokens of ${ns.name}`),
    h("p", {}, "Shown once: the gateway keeps only their hashes. Copy them now."),
    t.admin && line("admin", t.admin), t.invoke && line("invoke", t.invoke));
}

function quotaInputs(quota = {}) {
  return QUOTAS.map(([key, , label]) => h("div", { class: "field" },
    h("label", { for: `f-${key}` }, label),
    h("input", { id: `f-${key}`, name: key, type: "number", min: "0", placeholder: "unlimited", value: quota[key] ?? "" }),
    h("p", { class: "field-error", id: `f-${key}-error`, hidden: true })));
}

/** The limits of a form; a blank field is no limit (`null` lifts one in a quota change). */
function readQuota(form) {
  const quota = {};
  for (const [key] of QUOTAS) {
    const v = form.elements[key].value.trim();
    quota[key] = v ? Number(v) : null;
  }
  return quota;
}

function createForm(onCreated) {
  const errors = h("div", {});
  const form = h("form", { class: "panel ns-create", novalidate: true },
    h("h2", {}, "New namespace"),
    h("div", { class: "grid4" },
      h("div", { class: "field" }, h("label", { for: "f-name" }, "Name"),
        h("input", { id: "f-name", name: "name", type: "text", class: "mono", required: true, placeholder: "team-a" }),
        h("p", { class: "field-error", id: "f-name-error", hidden: true })),
      quotaInputs()),
    h("div", { class: "row end" }, h("button", { type: "submit", class: "button primary" }, "Create")), errors);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    fill(errors);
    try {
      const ns = await post("/namespaces", { name: form.elements.name.value.trim(), quota: readQuota(form) });
      form.reset();
      markFields(form, {});
      onCreated(ns);
    } catch (err) {
      markFields(form, err.details?.fields || {});
      errors.append(errorBox(err));
    }
  });
  return form;
}

const listOf = (data) => (Array.isArray(data) ? data : data?.namespaces || []);

/** The namespaces list with the create form. */
export function renderNamespaces(root, ctx) {
  const created = h("div", {});
  const body = h("div", {}, h("p", { class: "loading" }, h("span", { class: "spinner" }), "Loading namespaces…"));
  const load = async () => {
    try {
      const list = listOf(await get("/namespaces"));
      fill(body, list.length ? h("div", { class: "table-wrap card" }, h("table", { class: "table", id: "namespaces" },
        h("thead", {}, h("tr", {}, h("th", {}, "Namespace"), QUOTAS.map(([, , l]) => h("th", {}, l)), h("th", {}, "Created"))),
        h("tbody", {}, list.map((ns) => h("tr", {},
          h("td", {}, h("a", { class: "path", href: `#/namespaces/${encodeURIComponent(ns.name)}` }, ns.name)),
          QUOTAS.map(([q, u]) => h("td", {}, meter(ns.usage?.[u], ns.quota?.[q]))),
          h("td", {}, time(ns.created_at)))))))
        : empty("No namespaces", "Create one to give a team its own tokens and quotas."));
    } catch (e) {
      if (e.status !== 401) fill(body, errorBox(e));
    }
  };
  fill(root,
    h("div", { class: "page-head" }, h("div", {}, h("h1", {}, "Namespaces"),
      h("p", { class: "muted" }, "Owners of callbacks, each with its own tokens and quotas."))),
    created, body,
    createForm((ns) => {
      fill(created, tokensBox(ns));
      created.scrollIntoView({ block: "nearest" });
      toast(`Namespace ${ns.name} created`);
      load();
    }));
  load();
  ctx.every(load, 5000);
}

/** One namespace: usage, quota, tokens, its callbacks, delete. */
export function renderNamespace(root, ctx, name) {
  const out = h("div", {});
  const load = async () => {
    let ns;
    let callbacks = [];
    try {
      ns = await get(nsPath(name));
      callbacks = ((await get("/callbacks")).callbacks || []).filter((c) => c.namespace === name);
    } catch (e) {
      if (e.status !== 401 && ctx.alive()) fill(root, h("nav", { class: "crumbs" }, h("a", { href: "#/namespaces" }, "Namespaces"), " / ", name), errorBox(e));
      return;
    }
    if (ctx.alive()) draw(ns, callbacks);
  };
  const draw = (ns, callbacks) => fill(root,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/namespaces" }, "Namespaces"), " / ", name),
    h("div", { class: "detail-head" }, h("div", { class: "title" }, h("h1", {}, name)),
      h("div", { class: "meta" }, "created ", time(ns.created_at)),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "button", onclick: () => rotate(name, out) }, "Rotate tokens"),
        h("button", { type: "button", class: "button danger-ghost", disabled: name === "default", onclick: () => remove(name) }, "Delete"))),
    out,
    h("div", { class: "split even" },
      card("Usage", h("dl", { class: "dl" }, QUOTAS.map(([q, u, l]) => [h("dt", {}, l), h("dd", {}, meter(ns.usage?.[u], ns.quota?.[q]))]))),
      card("Quota", quotaForm(ns, load))),
    card("Callbacks", callbacks.length
      ? h("ul", { class: "plain" }, callbacks.map((c) => h("li", {}, h("a", { href: `#/callbacks/${encodeURIComponent(c.path)}` }, c.path), " ", badge(c.state))))
      : h("p", { class: "muted pad" }, "No callbacks yet: deploy one with this namespace.")));
  load();
  ctx.every(() => !document.activeElement?.closest("form") && load(), 5000);
}

function quotaForm(ns, reload) {
  const errors = h("div", {});
  const form = h("form", { novalidate: true }, h("div", { class: "grid3" }, quotaInputs(ns.quota || {})),
    h("div", { class: "row end" }, h("button", { type: "submit", class: "button" }, "Save quota")), errors);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    fill(errors);
    try {
      await patch(nsPath(ns.name), { quota: readQuota(form) });
      toast("Quota saved");
      reload();
    } catch (err) {
      markFields(form, err.details?.fields || {});
      errors.append(errorBox(err));
    }
  });
  return form;
}

async function rotate(name, out) {
  const ok = await confirmDialog({ title: `Rotate the tokens of ${name}?`, confirmLabel: "Rotate",
    text: "The current tokens stop working at once. The new ones are shown once." });
  if (!ok) return;
  try {
    fill(out, tokensBox({ name, ...(await post(nsPath(name, "/tokens"), {})) }));
  } catch (e) {
    if (e.status !== 401) fill(out, errorBox(e));
  }
}

async function remove(name) {
  const ok = await confirmDialog({ title: `Delete ${name}?`, confirmLabel: "Delete namespace", danger: true, typeToConfirm: name,
    text: "Every callback of this namespace is deleted with it: instances, images, revisions and async invocations." });
  if (!ok) return;
  try {
    await del(nsPath(name));
    toast(`Namespace ${name} deleted`);
    location.hash = "#/namespaces";
  } catch (e) {
    if (e.status !== 401) toast(`${e.code}: ${e.message}`, "error");
  }
}
