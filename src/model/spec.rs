//! A callback's definition as deployed: parsed from the deploy body, valid by construction.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::deploy_rules::{
    CODE_MODULE, CONCURRENCY, CPU, DEFAULT_HANDLER, DNS_LABEL, ENV_NAME, FIELDS, HANDLER,
    IDLE_TIMEOUT_S, IntRule, KEEP_PAUSED_S, MAX_FILE_NAME_CHARS, MAX_FILES, MAX_INSTANCES,
    MEMORY_MB, MIN_INSTANCES, RESERVED_ENV_PREFIX, TIMEOUT_MS,
};
use super::namespace::{DEFAULT_NAMESPACE, NAME_RULE, valid_namespace_name};
use super::runtime::{Backend, Mode, Runtime};

/// Source files of a callback: relative path → text.
pub type Files = BTreeMap<String, String>;

/// Field path → reason, as returned in `details.fields`.
pub type FieldErrors = BTreeMap<String, String>;

static PATH_RE: LazyLock<Regex> = LazyLock::new(|| re(DNS_LABEL));
static HANDLER_RE: LazyLock<Regex> = LazyLock::new(|| re(HANDLER));
static ENV_RE: LazyLock<Regex> = LazyLock::new(|| re(ENV_NAME));

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("static regex {pattern}: {e}"))
}

/// A validated deploy definition, with every default applied. Two specs are equal exactly when a
/// redeploy would change nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CallbackSpec {
    pub path: String,
    pub runtime: Runtime,
    /// Source files; `code` in a deploy body becomes `handler.py` / `handler.js` here.
    pub files: Files,
    pub handler: String,
    pub backend: Backend,
    pub mode: Mode,
    pub env: BTreeMap<String, String>,
    pub memory_mb: u32,
    pub cpu: f64,
    pub timeout_ms: u64,
    pub concurrency: u32,
    pub min_instances: u32,
    pub max_instances: u32,
    pub idle_timeout_s: u64,
    /// How long an instance idled out of service stays paused before it is stopped (0: not
    /// paused at all). Records stored before it existed read the default.
    #[serde(default = "default_keep_paused_s")]
    pub keep_paused_s: u64,
    /// The namespace that owns the callback (`default` unless its deploy names another).
    /// Records stored before namespaces existed belong to `default`.
    #[serde(default = "default_namespace")]
    pub namespace: String,
}

fn default_namespace() -> String {
    DEFAULT_NAMESPACE.to_owned()
}

fn default_keep_paused_s() -> u64 {
    KEEP_PAUSED_S.default.unwrap_or_default()
}

impl CallbackSpec {
    /// SHA-256 over the runtime and the source files (the contract's `code_sha256`).
    pub fn code_sha256(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.runtime.as_str());
        for (name, text) in &self.files {
            // Length prefixes keep ("ab","c") and ("a","bc") apart.
            h.update((name.len() as u64).to_le_bytes());
            h.update(name);
            h.update((text.len() as u64).to_le_bytes());
            h.update(text);
        }
        hex::encode(h.finalize())
    }

    /// The handler's module (`pkg.mod` of `pkg.mod.handle`).
    pub fn handler_module(&self) -> &str {
        self.handler
            .rsplit_once('.')
            .map_or(self.handler.as_str(), |(m, _)| m)
    }
}

/// What a deploy body asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum DeployAction {
    Deploy(Box<CallbackSpec>),
    Undeploy { path: String },
}

/// Settings that fill what a deploy body leaves out.
#[derive(Debug, Clone, Copy)]
pub struct SpecDefaults {
    pub backend: Backend,
    pub mode: Mode,
    pub max_code_bytes: usize,
}

/// Why a deploy body was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum SpecError {
    /// The body is not a JSON object.
    NotAnObject,
    /// One or more fields are wrong.
    Fields(FieldErrors),
}

/// Parses and validates a deploy body.
pub fn parse_deploy(body: &Value, defaults: SpecDefaults) -> Result<DeployAction, SpecError> {
    let obj = body.as_object().ok_or(SpecError::NotAnObject)?;
    let mut r = Reader {
        obj,
        errors: FieldErrors::new(),
    };
    for key in obj.keys() {
        if !FIELDS.contains(&key.as_str()) {
            r.fail::<()>(key, "unknown field");
        }
    }
    let path = r.string("path", None);
    if let Some(p) = &path
        && !PATH_RE.is_match(p)
    {
        r.fail::<()>(
            "path",
            "must be a DNS label: lower-case letters, digits and '-', starting with a letter, at most 63 characters",
        );
    }
    let action = r.choice("action", "deploy", &["deploy", "undeploy"]);
    if action.as_deref() == Some("undeploy") {
        return match (path, r.errors.is_empty()) {
            (Some(path), true) => Ok(DeployAction::Undeploy { path }),
            _ => Err(SpecError::Fields(r.errors)),
        };
    }
    let runtime = r.string("runtime", None).and_then(|s| {
        Runtime::parse(&s).or_else(|| r.fail("runtime", "must be one of: python, node"))
    });
    let files = r.files(runtime, defaults.max_code_bytes);
    let handler = r.string("handler", Some(DEFAULT_HANDLER));
    if let Some(h) = &handler
        && !HANDLER_RE.is_match(h)
    {
        r.fail::<()>("handler", "must be module.function, e.g. handler.handle");
    }
    let backend = r
        .choice(
            "backend",
            defaults.backend.as_str(),
            &["docker", "kubernetes"],
        )
        .and_then(|s| Backend::parse(&s));
    let mode = r
        .choice("mode", defaults.mode.as_str(), &["service", "job"])
        .and_then(|s| Mode::parse(&s));
    let env = r.env();
    let memory_mb = r.setting(MEMORY_MB, None);
    let cpu = r.float(CPU.field, CPU.default, CPU.min, CPU.max);
    let timeout_ms = r.setting(TIMEOUT_MS, None);
    let concurrency = r.setting(
        CONCURRENCY,
        Some(
            runtime
                .unwrap_or(Runtime::Python)
                .default_concurrency()
                .into(),
        ),
    );
    let max_instances = r.setting(MAX_INSTANCES, None);
    let min_instances = r.setting(MIN_INSTANCES, None);
    if let (Some(min), Some(max)) = (min_instances, max_instances)
        && min > max
    {
        r.fail::<()>(
            "min_instances",
            &format!("must not exceed max_instances ({max})"),
        );
    }
    let idle_timeout_s = r.setting(IDLE_TIMEOUT_S, None);
    let keep_paused_s = r.setting(KEEP_PAUSED_S, None);
    if let (Some(files), Some(handler), Some(runtime)) = (&files, &handler, runtime) {
        check_handler_file(&mut r, files, handler, runtime);
    }
    let namespace = r.string("namespace", Some(DEFAULT_NAMESPACE));
    if let Some(n) = &namespace
        && !valid_namespace_name(n)
    {
        r.fail::<()>("namespace", NAME_RULE);
    }
    let errors = r.errors;
    match (
        path,
        runtime,
        files,
        handler,
        backend,
        mode,
        env,
        memory_mb,
        cpu,
        timeout_ms,
        concurrency,
        min_instances,
        max_instances,
        idle_timeout_s,
        keep_paused_s,
    ) {
        (
            Some(path),
            Some(runtime),
            Some(files),
            Some(handler),
            Some(backend),
            Some(mode),
            Some(env),
            Some(memory_mb),
            Some(cpu),
            Some(timeout_ms),
            Some(concurrency),
            Some(min_instances),
            Some(max_instances),
            Some(idle_timeout_s),
            Some(keep_paused_s),
        ) if errors.is_empty() => Ok(DeployAction::Deploy(Box::new(CallbackSpec {
            path,
            runtime,
            files,
            handler,
            backend,
            mode,
            env,
            memory_mb: narrow(memory_mb),
            cpu,
            timeout_ms,
            concurrency: narrow(concurrency),
            min_instances: narrow(min_instances),
            max_instances: narrow(max_instances),
            idle_timeout_s,
            keep_paused_s,
            // A missing or wrong namespace is among the errors, so it is here.
            namespace: namespace.unwrap_or_else(default_namespace),
        }))),
        _ => Err(SpecError::Fields(errors)),
    }
}

/// A non-negative whole number as JSON Schema's `integer` reads one: `5` and `5.0` alike
/// (values past `u64::MAX` become `u64::MAX`, out of every range).
pub(super) fn whole_number(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0)
            .map(|f| f as u64)
    })
}

/// Values were range-checked against bounds far below `u32::MAX`.
fn narrow(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn check_handler_file(r: &mut Reader<'_>, files: &Files, handler: &str, runtime: Runtime) {
    let module = handler.rsplit_once('.').map_or(handler, |(m, _)| m);
    let file = format!("{}.{}", module.replace('.', "/"), runtime.extension());
    if !files.contains_key(&file) {
        r.fail::<()>(
            "handler",
            &format!("module file {file} is not among the deployed files"),
        );
    }
}

struct Reader<'a> {
    obj: &'a Map<String, Value>,
    errors: FieldErrors,
}

impl Reader<'_> {
    /// Records an error on `field` and yields `None`, so callers can write `.or_else(|| r.fail(..))`.
    fn fail<T>(&mut self, field: &str, reason: &str) -> Option<T> {
        self.errors
            .entry(field.to_owned())
            .or_insert_with(|| reason.to_owned());
        None
    }

    fn present(&self, field: &str) -> Option<&Value> {
        self.obj.get(field).filter(|v| !v.is_null())
    }

    fn string(&mut self, field: &str, default: Option<&str>) -> Option<String> {
        match self.present(field) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => self.fail(field, "must be a string"),
            None => match default {
                Some(d) => Some(d.to_owned()),
                None => self.fail(field, "is required"),
            },
        }
    }

    fn choice(&mut self, field: &str, default: &str, allowed: &[&str]) -> Option<String> {
        let s = self.string(field, Some(default))?;
        if allowed.contains(&s.as_str()) {
            Some(s)
        } else {
            self.fail(field, &format!("must be one of: {}", allowed.join(", ")))
        }
    }

    /// An integer setting; `default` stands in for a rule whose default depends on others.
    fn setting(&mut self, rule: IntRule, default: Option<u64>) -> Option<u64> {
        let default = rule.default.or(default).unwrap_or(rule.min);
        self.int(rule.field, default, rule.min, rule.max)
    }

    fn int(&mut self, field: &str, default: u64, min: u64, max: u64) -> Option<u64> {
        let v = match self.present(field) {
            None => return Some(default),
            Some(v) => v,
        };
        match whole_number(v) {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ if v.is_number() => self.fail(field, &format!("must be an integer in {min}..={max}")),
            _ => self.fail(field, "must be an integer"),
        }
    }

    fn float(&mut self, field: &str, default: f64, min: f64, max: f64) -> Option<f64> {
        match self.present(field).map(Value::as_f64) {
            None => Some(default),
            Some(Some(n)) if (min..=max).contains(&n) => Some(n),
            Some(Some(_)) => self.fail(field, &format!("must be a number in {min}..={max}")),
            Some(None) => self.fail(field, "must be a number"),
        }
    }

    fn env(&mut self) -> Option<BTreeMap<String, String>> {
        let obj = match self.present("env") {
            None => return Some(BTreeMap::new()),
            Some(Value::Object(o)) => o.clone(),
            Some(_) => return self.fail("env", "must be an object of name → string"),
        };
        let mut env = BTreeMap::new();
        let mut ok = true;
        for (name, value) in &obj {
            let field = format!("env.{name}");
            let reason = if !ENV_RE.is_match(name) {
                Some("name must match ^[A-Za-z_][A-Za-z0-9_]*$")
            } else if name.starts_with(RESERVED_ENV_PREFIX) {
                Some("names starting with FAAS_ are reserved for the gateway")
            } else if !value.is_string() {
                Some("must be a string")
            } else {
                None
            };
            match (reason, value.as_str()) {
                (None, Some(v)) => {
                    env.insert(name.clone(), v.to_owned());
                }
                (reason, _) => {
                    ok = false;
                    self.fail::<()>(&field, reason.unwrap_or("must be a string"));
                }
            }
        }
        ok.then_some(env)
    }

    fn files(&mut self, runtime: Option<Runtime>, max_bytes: usize) -> Option<Files> {
        match (
            self.present("code").cloned(),
            self.present("files").cloned(),
        ) {
            (Some(_), Some(_)) => self.fail("code", "give either code or files, not both"),
            (None, None) => self.fail("code", "give either code or files"),
            (Some(Value::String(code)), None) => {
                if code.len() > max_bytes {
                    return self.fail("code", &format!("is over the {max_bytes}-byte limit"));
                }
                let ext = runtime.map_or("py", Runtime::extension);
                Some(Files::from([(format!("{CODE_MODULE}.{ext}"), code)]))
            }
            (Some(_), None) => self.fail("code", "must be a string"),
            (None, Some(Value::Object(map))) => self.file_map(&map, max_bytes),
            (None, Some(_)) => self.fail("files", "must be an object of relative path → text"),
        }
    }

    fn file_map(&mut self, map: &Map<String, Value>, max_bytes: usize) -> Option<Files> {
        if map.is_empty() {
            return self.fail("files", "must hold at least one file");
        }
        if map.len() > MAX_FILES {
            return self.fail("files", &format!("holds more than {MAX_FILES} files"));
        }
        let mut files = Files::new();
        let mut total = 0usize;
        let mut ok = true;
        for (name, value) in map {
            let field = format!("files.{name}");
            if let Err(reason) = check_file_name(name) {
                ok = false;
                self.fail::<()>(&field, reason);
                continue;
            }
            let Some(text) = value.as_str() else {
                ok = false;
                self.fail::<()>(&field, "must be a string (the file's text)");
                continue;
            };
            total += text.len();
            files.insert(name.clone(), text.to_owned());
        }
        if total > max_bytes {
            return self.fail(
                "files",
                &format!("total size is over the {max_bytes}-byte limit"),
            );
        }
        ok.then_some(files)
    }
}

/// A deployed file name must stay inside the function's folder.
fn check_file_name(name: &str) -> Result<(), &'static str> {
    // Characters, not bytes: the unit JSON Schema's `maxLength` counts in.
    if name.is_empty() || name.chars().count() > MAX_FILE_NAME_CHARS {
        return Err("file name must be 1 to 255 characters");
    }
    if name.starts_with('/') || name.contains('\\') || name.contains('\0') {
        return Err("must be a relative path with '/' separators");
    }
    if name
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err("must not contain empty, '.' or '..' segments");
    }
    Ok(())
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
