//! The build context of a function image: runtime template + the user's files, as a tar.
//! Pure: no Docker here, so layout and tagging are unit-tested.

use include_dir::{Dir, include_dir};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::{CallbackSpec, Runtime};

/// The runtime templates, embedded so the binary builds images wherever it runs.
static RUNTIMES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/runtimes");

/// A build context ready to send, with the tag it must carry.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// `<repository>/<path>:<hash>`; the hash covers every byte that reaches the image.
    pub image: String,
    pub base_image: String,
    pub tar: Vec<u8>,
}

/// Paths and contents of the context, in a stable order.
fn entries(spec: &CallbackSpec) -> Vec<(String, Vec<u8>)> {
    let mut entries = Vec::new();
    if let Some(template) = RUNTIMES.get_dir(spec.runtime.as_str()) {
        for file in template.files() {
            let name = file.path().strip_prefix(spec.runtime.as_str()).map_or_else(
                |_| file.path().to_string_lossy().into_owned(),
                |p| p.to_string_lossy().into_owned(),
            );
            let target = if name == "Dockerfile" {
                name
            } else {
                format!("runtime/{name}")
            };
            entries.push((target, file.contents().to_vec()));
        }
    }
    let manifest = spec.runtime.manifest();
    let deps = spec
        .files
        .get(manifest)
        .cloned()
        .unwrap_or_else(|| match spec.runtime {
            Runtime::Python => String::new(),
            Runtime::Node => "{}".into(),
        });
    entries.push((format!("deps/{manifest}"), deps.into_bytes()));
    for (name, text) in &spec.files {
        entries.push((format!("function/{name}"), text.clone().into_bytes()));
    }
    entries.sort();
    entries
}

/// Whether building `spec` runs npm, decided as the Node Dockerfile decides it: its
/// `package.json` has at least one entry under `dependencies` or `optionalDependencies`.
/// Such a build needs a base image with npm; every other Node build does not.
///
/// A `package.json` that does not parse counts as none: the build on the plain base then
/// fails on it with the parser's own message.
pub fn runs_npm(spec: &CallbackSpec) -> bool {
    if spec.runtime != Runtime::Node {
        return false;
    }
    let Some(text) = spec.files.get(Runtime::Node.manifest()) else {
        return false;
    };
    // Node's `require` skips a byte-order mark; serde_json does not.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Ok(Value::Object(manifest)) = serde_json::from_str::<Value>(text) else {
        return false;
    };
    // `Object.assign({}, deps, optionalDeps)` in the Dockerfile counts the keys of objects,
    // and the indices of arrays and strings.
    ["dependencies", "optionalDependencies"]
        .iter()
        .any(|key| match manifest.get(*key) {
            Some(Value::Object(entries)) => !entries.is_empty(),
            Some(Value::Array(items)) => !items.is_empty(),
            Some(Value::String(text)) => !text.is_empty(),
            _ => false,
        })
}

/// Builds the context for `spec` on `base_image`, tagged under `repository`.
pub fn build_context(spec: &CallbackSpec, base_image: &str, repository: &str) -> BuildContext {
    let entries = entries(spec);
    let mut hash = Sha256::new();
    hash.update(base_image);
    for (name, data) in &entries {
        hash.update((name.len() as u64).to_le_bytes());
        hash.update(name);
        hash.update((data.len() as u64).to_le_bytes());
        hash.update(data);
    }
    let digest = hex::encode(hash.finalize());
    BuildContext {
        image: format!("{repository}/{}:{}", spec.path, &digest[..12]),
        base_image: base_image.to_owned(),
        tar: tar_of(&entries),
    }
}

fn tar_of(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        // Writing into a Vec cannot fail; names were validated as relative paths.
        if let Err(e) = builder.append_data(&mut header, name, data.as_slice()) {
            tracing::error!(file = %name, error = %e, "cannot add a file to the build context");
        }
    }
    builder.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Read;

    use super::*;
    use crate::model::{Backend, Files, Mode};

    fn spec(runtime: Runtime, files: &[(&str, &str)]) -> CallbackSpec {
        CallbackSpec {
            path: "hello".into(),
            runtime,
            files: files
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect::<Files>(),
            handler: "handler.handle".into(),
            backend: Backend::Docker,
            mode: Mode::Service,
            env: BTreeMap::new(),
            memory_mb: 128,
            cpu: 1.0,
            timeout_ms: 1000,
            concurrency: 8,
            min_instances: 0,
            max_instances: 1,
            idle_timeout_s: 60,
            keep_paused_s: 600,
            namespace: "default".into(),
        }
    }

    fn read(ctx: &BuildContext) -> BTreeMap<String, String> {
        let mut archive = tar::Archive::new(ctx.tar.as_slice());
        let mut out = BTreeMap::new();
        for entry in archive.entries().expect("entries") {
            let mut entry = entry.expect("entry");
            let name = entry.path().expect("path").to_string_lossy().into_owned();
            let mut text = String::new();
            entry.read_to_string(&mut text).expect("utf8");
            out.insert(name, text);
        }
        out
    }

    #[test]
    fn the_context_holds_dockerfile_runtime_deps_and_function() {
        let ctx = build_context(
            &spec(
                Runtime::Python,
                &[("handler.py", "X"), ("requirements.txt", "six\n")],
            ),
            "base:1",
            "faas-fn",
        );
        let files = read(&ctx);
        assert!(files["Dockerfile"].contains("ARG BASE_IMAGE"));
        assert!(files.keys().any(|k| k.starts_with("runtime/")));
        assert_eq!(files["deps/requirements.txt"], "six\n");
        assert_eq!(files["function/handler.py"], "X");
        assert!(ctx.image.starts_with("faas-fn/hello:"));
    }

    #[test]
    fn node_without_a_manifest_gets_an_empty_package_json() {
        let files = read(&build_context(
            &spec(Runtime::Node, &[("handler.js", "X")]),
            "b",
            "r",
        ));
        assert_eq!(files["deps/package.json"], "{}");
        assert!(!files.contains_key("deps/requirements.txt"));
    }

    #[test]
    fn node_runs_npm_only_when_package_json_declares_dependencies() {
        let node = |manifest: &str| spec(Runtime::Node, &[("package.json", manifest)]);
        assert!(runs_npm(&node(
            r#"{"dependencies": {"left-pad": "1.3.0"}}"#
        )));
        assert!(runs_npm(&node(r#"{"optionalDependencies": {"x": "1"}}"#)));
        assert!(runs_npm(&node(
            "\u{feff}{\"dependencies\": {\"x\": \"1\"}}"
        )));
        assert!(!runs_npm(&node("{}")));
        assert!(!runs_npm(&node(r#"{"name": "f", "dependencies": {}}"#)));
        assert!(!runs_npm(&node(
            r#"{"devDependencies": {"jest": "29"}, "peerDependencies": {"x": "1"}}"#
        )));
        assert!(!runs_npm(&node(r#"{"dependencies": null}"#)));
        assert!(!runs_npm(&spec(Runtime::Node, &[("handler.js", "X")])));
    }

    #[test]
    fn an_unparsable_package_json_runs_no_npm_so_the_build_reports_the_parse_error() {
        let broken = spec(Runtime::Node, &[("package.json", "{\"dependencies\": {")]);
        assert!(!runs_npm(&broken));
    }

    #[test]
    fn python_never_runs_npm_even_with_a_file_named_package_json() {
        let python = spec(
            Runtime::Python,
            &[("package.json", r#"{"dependencies": {"x": "1"}}"#)],
        );
        assert!(!runs_npm(&python));
    }

    #[test]
    fn the_tag_depends_on_content_and_base_only() {
        let a = spec(Runtime::Python, &[("handler.py", "X")]);
        let mut settings_changed = a.clone();
        settings_changed.memory_mb = 512;
        let mut code_changed = a.clone();
        code_changed.files.insert("handler.py".into(), "Y".into());
        let tag = |s: &CallbackSpec, base: &str| build_context(s, base, "r").image;
        assert_eq!(tag(&a, "b"), tag(&a, "b"));
        assert_eq!(tag(&a, "b"), tag(&settings_changed, "b"));
        assert_ne!(tag(&a, "b"), tag(&code_changed, "b"));
        assert_ne!(tag(&a, "b"), tag(&a, "other-base"));
    }
}
