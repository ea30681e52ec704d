// The deploy form: source (an editor for the handler module and any extra files) and
// settings. Deploys, or redeploys a callback with its current settings filled in.

import { post } from "./api.js";
import { h, fill, toast } from "./dom.js";
import { codeEditor } from "./editor.js";
import { errorBox, markFields, showLogEnds } from "./errors.js";
import { envEditor, numberFields, SETTINGS } from "./settings.js";

const TEMPLATES = {
  python: `def handle(event, context):
    name = event["query"].get("name", "world")
    print(f"hello {name}")
    return {"hello": name}
`,
  node: `exports.handle = async (event, context) => {
  const name = event.query.name || "world";
  console.log(\`hello \${name}\`);
  return { hello: name };
};
`,
};
const EXT = { python: "py", node: "js" };
const MANIFEST = { python: "requirements.txt", node: "package.json" };

/** The file a handler names: `app.main.handle` → `app/main.py`. */
export function moduleFile(handler, runtime) {
  const parts = (handler || "handler.handle").split(".");
  return `${parts.slice(0, -1).join("/") || "handler"}.${EXT[runtime] || "py"}`;
}

const sourceKey = (path) => `faas.source.${path}`;

/** The source this browser last deployed to `path`, if the gateway still runs it. */
function remembered(cb) {
  try {
    const s = JSON.parse(localStorage.getItem(sourceKey(cb.path)) || "null");
    return s && s.sha === cb.code_sha256 ? s : null;
  } catch {
    return null;
  }
}

function field(id, label, input, hint) {
  return h("div", { class: "field" },
    h("label", { for: id }, label), input,
    hint && h("p", { class: "hint" }, hint),
    h("p", { class: "field-error", id: `${id}-error`, hidden: true }));
}

function select(id, options, value) {
  return h("select", { id, name: id.slice(2) },
    options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
}

/** An extra source file: its name and text. */
function extraFile(name = "", text = "", onRemove) {
  const nameInput = h("input", { type: "text", class: "mono", placeholder: "util.py", "aria-label": "File name", value: name });
  const area = h("textarea", { class: "code small", spellcheck: "false", wrap: "off", "aria-label": "File content" });
  area.value = text;
  const el = h("div", { class: "extra-file" },
    h("div", { class: "extra-head" }, nameInput,
      h("button", { type: "button", class: "button small ghost", onclick: () => onRemove(el) }, "Remove")),
    area);
  el.read = () => [nameInput.value.trim(), area.value];
  return el;
}

/**
 * Renders the form into `root`. `cb` is the callback to redeploy, or null for a new one.
 * `features.namespaces` shows the namespace field; `done(cb)` runs after a success.
 */
export function deployForm(root, { cb = null, features = {}, done }) {
  const mem = cb && remembered(cb);
  const runtime = mem?.runtime || cb?.runtime || "python";
  const ed = codeEditor({
    id: "f-code", label: "Handler source", value: mem ? mem.main : cb ? "" : TEMPLATES[runtime],
    indent: () => (form.elements.runtime.value === "node" ? "  " : "    "),
  });
  const fileLabel = h("span", { class: "mono file-name" });
  const extras = h("div", { class: "extras" });
  const addFile = (name, text) => extras.append(extraFile(name, text, (el) => el.remove()));
  for (const [name, text] of Object.entries(mem?.extras || {})) addFile(name, text);
  const env = envEditor(cb?.env || {});
  const errors = h("div", { class: "form-errors", "aria-live": "assertive" });
  const progress = h("div", { class: "progress", hidden: true, role: "status" });
  const submit = h("button", { type: "submit", class: "button primary", id: "f-submit" }, cb ? "Redeploy" : "Deploy");
  const wait = h("input", { type: "checkbox", id: "f-nowait" });

  const form = h("form", { class: "deploy", novalidate: true },
    errors,
    h("div", { class: "deploy-source" },
      h("div", { class: "panel" },
        h("div", { class: "panel-head" }, h("h2", {}, "Source"), fileLabel),
        cb && !mem && h("p", { class: "notice" },
          "The gateway does not hand source back, and this browser did not deploy the running revision: paste its source to redeploy."),
        ed.el,
        h("div", { class: "panel-head" }, h("h3", {}, "More files"),
          h("div", { class: "row" },
            h("button", { type: "button", class: "button small", onclick: () => addFile(MANIFEST[form.elements.runtime.value], "") }, "+ dependencies"),
            h("button", { type: "button", class: "button small", onclick: () => addFile("", "") }, "+ file"))),
        extras,
        h("p", { class: "hint" }, "requirements.txt (Python) or package.json (Node) is installed at build time."))),
    h("div", { class: "deploy-settings" },
      h("div", { class: "panel" },
        h("h2", {}, "Callback"),
        field("f-path", "Path", h("input", {
          id: "f-path", name: "path", type: "text", class: "mono", required: true, value: cb?.path || "",
          readOnly: !!cb, placeholder: "hello", pattern: "[a-z]([a-z0-9-]{0,61}[a-z0-9])?", autocomplete: "off",
        }), "Called on /api/<path>: lower-case letters, digits and dashes."),
        h("div", { class: "grid2" },
          field("f-runtime", "Runtime", select("f-runtime", [["python", "Python"], ["node", "Node"]], runtime)),
          field("f-handler", "Handler", h("input", { id: "f-handler", name: "handler", type: "text", class: "mono", placeholder: "handler.handle", value: cb?.handler || "" }))),
        features.namespaces && field("f-namespace", "Namespace", h("input", {
          id: "f-namespace", name: "namespace", type: "text", class: "mono", placeholder: "default",
          value: cb?.namespace || "", readOnly: !!cb,
        })),
        h("div", { class: "grid2" },
          field("f-backend", "Backend", select("f-backend", [["", "Gateway default"], ["docker", "Docker"], ["kubernetes", "Kubernetes"]], cb?.backend || "")),
          field("f-mode", "Mode", select("f-mode", [["", "Gateway default"], ["service", "Service (warm)"], ["job", "Job (per call)"]], cb?.mode || "")))),
      h("details", { class: "panel", id: "limits", open: !!cb },
        h("summary", {}, h("h2", {}, "Limits and scaling")),
        h("div", { class: "grid2" }, numberFields(SETTINGS, cb, field))),
      h("details", { class: "panel", id: "environment", open: !!cb && Object.keys(cb.env || {}).length > 0 },
        h("summary", {}, h("h2", {}, "Environment")), env.el),
      h("div", { class: "submit-bar" },
        h("label", { class: "check" }, wait, "Return at once (build in the background)"),
        submit),
      progress));

  const syncName = () => {
    const rt = form.elements.runtime.value;
    fill(fileLabel, moduleFile(form.elements.handler.value.trim(), rt));
  };
  form.elements.handler.addEventListener("input", syncName);
  form.elements.runtime.addEventListener("change", () => {
    const rt = form.elements.runtime.value;
    const other = rt === "node" ? "python" : "node";
    if (ed.area.value === TEMPLATES[other] || !ed.area.value.trim()) {
      ed.area.value = TEMPLATES[rt];
      ed.refresh();
    }
    syncName();
  });
  syncName();

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    fill(errors);
    const { body, problems } = read(form, ed.area.value, extras, env);
    markFields(form, problems);
    if (Object.keys(problems).length) {
      errors.append(errorBox({ code: "VALIDATION_FAILED", message: "Some fields need a look.", details: { fields: problems } }));
      return;
    }
    submit.disabled = true;
    const started = Date.now();
    progress.hidden = false;
    const tick = () => fill(progress, h("span", { class: "spinner", "aria-hidden": "true" }),
      `Building the image and starting ${body.path}… ${Math.round((Date.now() - started) / 1000)} s`);
    tick();
    const timer = setInterval(tick, 1000);
    try {
      const res = await post(`/callback/deploy${wait.checked ? "?wait=false" : ""}`, body);
      remember(body, res, form.elements.runtime.value, ed.area.value, extras);
      toast(`${res.path}: revision ${res.revision}, ${res.state}`);
      done(res);
    } catch (err) {
      markFields(form, err.details?.fields || {});
      errors.append(errorBox(err));
      showLogEnds(errors);
      errors.scrollIntoView({ block: "start", behavior: "smooth" });
    } finally {
      clearInterval(timer);
      progress.hidden = true;
      submit.disabled = false;
    }
  });
  fill(root, form);
  return form;
}

/** The deploy body from the form, and problems found before sending. */
function read(form, main, extras, env) {
  const problems = {};
  const val = (name) => (form.elements[name]?.value || "").trim();
  const body = { path: val("path"), runtime: val("runtime") };
  if (!body.path) problems.path = "a path is required";
  for (const key of ["handler", "backend", "mode", "namespace"]) if (val(key)) body[key] = val(key);
  const files = {};
  for (const el of extras.children) {
    const [name, text] = el.read();
    if (name) files[name] = text;
    else if (text) problems.files = "every extra file needs a name";
  }
  const mainName = moduleFile(body.handler, body.runtime);
  if (!Object.keys(files).length && mainName === moduleFile("", body.runtime)) body.code = main;
  else body.files = { [mainName]: main, ...files };
  for (const s of SETTINGS) {
    const raw = val(s.name);
    if (!raw) continue;
    const n = Number(raw);
    if (!Number.isFinite(n) || (s.int && !Number.isInteger(n))) problems[s.name] = s.int ? "a whole number" : "a number";
    else body[s.name] = n;
  }
  const vars = env.read(problems);
  if (Object.keys(vars).length) body.env = vars;
  return { body, problems };
}

function remember(body, res, runtime, main, extras) {
  const files = {};
  for (const el of extras.children) {
    const [name, text] = el.read();
    if (name) files[name] = text;
  }
  const entry = { sha: res.code_sha256, runtime, main, extras: files };
  try {
    localStorage.setItem(sourceKey(body.path), JSON.stringify(entry));
  } catch {
    // Storage full or disabled: a later redeploy asks for the source again.
  }
}

/** Forgets the remembered source of a deleted callback. */
export function forgetSource(path) {
  localStorage.removeItem(sourceKey(path));
}
