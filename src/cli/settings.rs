//! The deploy body: `faas.json` beside the code, overridden by flags, plus the source and what
//! can be inferred from it (runtime, handler, path).

use std::path::Path;

use serde_json::{Map, Value, json};

use super::args::DeploySettings;
use super::error::CliError;
use super::source::{self, SETTINGS_FILE, Source};
use crate::model::Runtime;

/// Keys `faas.json` may not set: the source comes from the files, the action from the command.
const NOT_SETTINGS: [&str; 3] = ["code", "files", "action"];

/// `faas.json` in `dir` as a JSON object; empty when there is none.
pub fn read_settings(dir: &Path) -> Result<Map<String, Value>, CliError> {
    let path = dir.join(SETTINGS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(e) => {
            return Err(CliError::Usage(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(CliError::Usage(format!(
            "{} must hold a JSON object of deploy settings",
            path.display()
        ))),
        Err(e) => Err(CliError::Usage(format!(
            "{} is not valid JSON: {e}",
            path.display()
        ))),
    }
}

/// The `POST /callback/deploy` body for `source`: `file` settings, then `flags` over them,
/// then the source with the runtime, handler and path it implies when none was given.
pub fn deploy_body(
    source: &Source,
    file: Map<String, Value>,
    flags: &DeploySettings,
    namespace: Option<&str>,
) -> Result<Map<String, Value>, CliError> {
    if let Some(key) = NOT_SETTINGS.iter().find(|k| file.contains_key(**k)) {
        return Err(CliError::Usage(format!(
            "{SETTINGS_FILE} may not set {key:?}: the source comes from the files deployed"
        )));
    }
    let mut body = file;
    overlay(&mut body, flags)?;
    if let Some(ns) = namespace.filter(|n| !n.is_empty()) {
        body.insert("namespace".into(), json!(ns));
    }
    let runtime = runtime(source, &body)?;
    add_source(&mut body, source, runtime)?;
    if !body.contains_key("path") {
        let path = source::dns_label(&source.name).ok_or_else(|| {
            CliError::Usage(format!(
                "cannot make a callback path of {:?}: pass --path",
                source.name
            ))
        })?;
        body.insert("path".into(), json!(path));
    }
    Ok(body)
}

/// Every flag that was given replaces the file's value; `--env` adds to the file's `env`.
fn overlay(body: &mut Map<String, Value>, flags: &DeploySettings) -> Result<(), CliError> {
    let strings = [
        ("path", &flags.path),
        ("runtime", &flags.runtime),
        ("handler", &flags.handler),
        ("backend", &flags.backend),
        ("mode", &flags.mode),
    ];
    for (key, value) in strings {
        if let Some(v) = value {
            body.insert(key.into(), json!(v));
        }
    }
    let numbers = [
        ("memory_mb", flags.memory.map(|v| json!(v))),
        ("cpu", flags.cpu.map(|v| json!(v))),
        ("timeout_ms", flags.timeout.map(|v| json!(v))),
        ("concurrency", flags.concurrency.map(|v| json!(v))),
        ("min_instances", flags.min.map(|v| json!(v))),
        ("max_instances", flags.max.map(|v| json!(v))),
        ("idle_timeout_s", flags.idle_timeout.map(|v| json!(v))),
        ("keep_paused_s", flags.keep_paused.map(|v| json!(v))),
    ];
    for (key, value) in numbers {
        if let Some(v) = value {
            body.insert(key.into(), v);
        }
    }
    if flags.env.is_empty() {
        return Ok(());
    }
    let env = body.entry("env").or_insert_with(|| json!({}));
    let Some(env) = env.as_object_mut() else {
        return Err(CliError::Usage(format!(
            "\"env\" in {SETTINGS_FILE} must be an object to add --env to it"
        )));
    };
    for (name, value) in &flags.env {
        env.insert(name.clone(), json!(value));
    }
    Ok(())
}

/// The runtime named in the settings, else the one the source implies. `None` when the
/// settings name one the gateway will judge (it answers 422 for an unknown one).
fn runtime(source: &Source, body: &Map<String, Value>) -> Result<Option<Runtime>, CliError> {
    if let Some(named) = body.get("runtime") {
        return Ok(named.as_str().and_then(Runtime::parse));
    }
    let handler = body.get("handler").and_then(Value::as_str);
    let inferred = if source.single_file {
        source
            .files
            .keys()
            .next()
            .and_then(|f| source::runtime_of_file(f))
    } else {
        source::infer_runtime(&source.files, handler)
    };
    inferred.map(Some).ok_or_else(|| {
        CliError::Usage(format!(
            "cannot tell the runtime of {}: pass --runtime python|node",
            source_label(source)
        ))
    })
}

/// Adds `runtime` and `code` or `files` (and the handler a lone file implies).
fn add_source(
    body: &mut Map<String, Value>,
    source: &Source,
    runtime: Option<Runtime>,
) -> Result<(), CliError> {
    if let Some(rt) = runtime {
        body.insert("runtime".into(), json!(rt.as_str()));
    }
    let has_handler = body.contains_key("handler");
    if source.single_file {
        let Some((name, text)) = source.files.iter().next() else {
            return Err(CliError::Usage("no file to deploy".into()));
        };
        let stem = source::file_stem(name);
        if source::is_identifier(stem) {
            body.insert("files".into(), json!({ name: text }));
            if !has_handler && stem != "handler" {
                body.insert("handler".into(), json!(format!("{stem}.handle")));
            }
        } else {
            // `my-func.py` cannot be imported by that name: it is sent as the handler module.
            body.insert("code".into(), json!(text));
        }
        return Ok(());
    }
    if let (Some(rt), false) = (runtime, has_handler) {
        let default_file = format!("handler.{}", rt.extension());
        if !source.files.contains_key(&default_file) {
            return Err(CliError::Usage(format!(
                "{} has no {default_file}: name the handler with --handler module.function \
                 (or \"handler\" in {SETTINGS_FILE})",
                source_label(source)
            )));
        }
    }
    body.insert("files".into(), json!(source.files));
    Ok(())
}

fn source_label(source: &Source) -> String {
    if source.single_file {
        source.files.keys().next().cloned().unwrap_or_default()
    } else {
        source.settings_dir.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;

    fn folder(names: &[&str]) -> Source {
        Source {
            files: names
                .iter()
                .map(|n| ((*n).to_owned(), format!("# {n}\n")))
                .collect::<BTreeMap<_, _>>(),
            single_file: false,
            name: "Word Count".into(),
            settings_dir: PathBuf::from("word-count"),
            skipped: Vec::new(),
        }
    }

    fn file(name: &str) -> Source {
        Source {
            single_file: true,
            name: source::file_stem(name).to_owned(),
            ..folder(&[name])
        }
    }

    fn object(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn a_folder_gets_its_runtime_path_and_files_inferred() {
        let body = deploy_body(
            &folder(&["handler.py", "requirements.txt"]),
            Map::new(),
            &DeploySettings::default(),
            None,
        )
        .expect("body");
        assert_eq!(body["path"], "word-count");
        assert_eq!(body["runtime"], "python");
        assert_eq!(body["files"]["requirements.txt"], "# requirements.txt\n");
        assert!(
            !body.contains_key("handler"),
            "the gateway's default applies"
        );
        assert!(!body.contains_key("namespace"));
    }

    #[test]
    fn flags_win_over_faas_json_and_env_is_merged() {
        let file = object(json!({
            "path": "from-file", "memory_mb": 512, "timeout_ms": 1000,
            "env": {"A": "file", "B": "file"}, "max_instances": 2
        }));
        let flags = DeploySettings {
            memory: Some(128),
            env: vec![("B".into(), "flag".into()), ("C".into(), "flag".into())],
            keep_paused: Some(0),
            ..DeploySettings::default()
        };
        let body =
            deploy_body(&folder(&["handler.js"]), file, &flags, Some("team-a")).expect("body");
        assert_eq!(body["path"], "from-file");
        assert_eq!(body["memory_mb"], 128);
        assert_eq!(body["timeout_ms"], 1000);
        assert_eq!(body["max_instances"], 2);
        assert_eq!(body["keep_paused_s"], 0);
        assert_eq!(body["env"], json!({"A": "file", "B": "flag", "C": "flag"}));
        assert_eq!(body["runtime"], "node");
        assert_eq!(body["namespace"], "team-a");
    }

    #[test]
    fn faas_json_cannot_carry_source() {
        let file = object(json!({"code": "x"}));
        let e = deploy_body(
            &folder(&["handler.py"]),
            file,
            &DeploySettings::default(),
            None,
        )
        .expect_err("code in faas.json");
        assert!(e.to_string().contains("\"code\""), "{e}");
    }

    #[test]
    fn a_folder_without_a_handler_file_needs_a_handler() {
        let src = folder(&["app/main.py", "requirements.txt"]);
        let e = deploy_body(&src, Map::new(), &DeploySettings::default(), None)
            .expect_err("no handler.py");
        assert!(e.to_string().contains("--handler"), "{e}");
        let flags = DeploySettings {
            handler: Some("app.main.handle".into()),
            ..DeploySettings::default()
        };
        let body = deploy_body(&src, Map::new(), &flags, None).expect("named handler");
        assert_eq!(body["handler"], "app.main.handle");
        assert_eq!(body["runtime"], "python");
    }

    #[test]
    fn an_ambiguous_folder_needs_a_runtime() {
        let src = folder(&["a.py", "b.js"]);
        let e =
            deploy_body(&src, Map::new(), &DeploySettings::default(), None).expect_err("ambiguous");
        assert!(e.to_string().contains("--runtime"), "{e}");
        let file = object(json!({"runtime": "node", "handler": "b.handle"}));
        let body = deploy_body(&src, file, &DeploySettings::default(), None).expect("named");
        assert_eq!(body["runtime"], "node");
    }

    #[test]
    fn a_lone_file_is_its_own_module() {
        let body = deploy_body(
            &file("resize.py"),
            Map::new(),
            &DeploySettings::default(),
            None,
        )
        .expect("body");
        assert_eq!(body["files"], json!({"resize.py": "# resize.py\n"}));
        assert_eq!(body["handler"], "resize.handle");
        assert_eq!(body["path"], "resize");
        assert_eq!(body["runtime"], "python");
    }

    #[test]
    fn a_lone_file_that_is_no_module_name_is_sent_as_code() {
        let body = deploy_body(
            &file("my-fn.js"),
            Map::new(),
            &DeploySettings::default(),
            None,
        )
        .expect("body");
        assert_eq!(body["code"], "# my-fn.js\n");
        assert!(!body.contains_key("files") && !body.contains_key("handler"));
        assert_eq!(body["path"], "my-fn");
        assert_eq!(body["runtime"], "node");
    }

    #[test]
    fn a_lone_file_of_unknown_language_needs_a_runtime() {
        let e = deploy_body(&file("fn.rb"), Map::new(), &DeploySettings::default(), None)
            .expect_err("ruby");
        assert!(matches!(e, CliError::Usage(_)));
    }

    #[test]
    fn faas_json_is_read_as_an_object() {
        let tmp = tempfile::tempdir().expect("tmp");
        assert!(read_settings(tmp.path()).expect("absent").is_empty());
        std::fs::write(tmp.path().join(SETTINGS_FILE), r#"{"memory_mb": 64}"#).expect("write");
        assert_eq!(read_settings(tmp.path()).expect("read")["memory_mb"], 64);
        std::fs::write(tmp.path().join(SETTINGS_FILE), "[1]").expect("write");
        assert!(read_settings(tmp.path()).is_err());
        std::fs::write(tmp.path().join(SETTINGS_FILE), "{").expect("write");
        assert!(read_settings(tmp.path()).is_err());
    }
}
