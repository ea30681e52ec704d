//! Keeps the reference in `docs/` true to the code. Each test takes its list from the code
//! (the OpenAPI document, the error codes, a rendered `/metrics`, the clap definitions, the
//! `"FAAS_…"` literals of `src/`) and names every item the documentation lacks:
//!
//! - `docs/api.md` has a heading naming each operation of the OpenAPI document: its methods in
//!   capitals and its path as the document writes it (`### GET, DELETE /callbacks/{path}`);
//!   a `GET` heading covers the `HEAD` of the same path, which the page documents once for all;
//! - `docs/errors.md` has a table row per error code, with the code's HTTP status;
//! - `docs/observability.md` has a table row per metric, naming each of its labels;
//! - `docs/configuration.md` names every flag and environment variable of the binary, and every
//!   `FAAS_*` variable the sources mention; `docs/cli.md` every client command and its flags;
//! - `docs/docker.md` and `docs/kubernetes.md` name every label of `src/executor/labels.rs`;
//! - every relative link of `README.md` and `docs/*.md` reaches a file (and heading) that
//!   exists, and `docs/README.md` links every page of `docs/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use faas_gateway::api::ApiDoc;
use faas_gateway::cli::Cli;
use faas_gateway::config::Flags;
use faas_gateway::metrics::{CallbackGauges, Metrics, NamespaceGauges};
use faas_gateway::model::ErrorCode;
use utoipa::OpenApi;

#[path = "docs/markdown.rs"]
mod markdown;

use markdown::{anchors, headings, names_flag, pattern, relative_links, row_of, table_rows};

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn report(what: &str, missing: &[String]) {
    assert!(missing.is_empty(), "{what}:\n  {}", missing.join("\n  "));
}

// ---------------------------------------------------------------------------------------------
// The API reference

/// `(METHOD, path)` of every operation of the OpenAPI document.
fn openapi_operations() -> BTreeSet<(String, String)> {
    let doc = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises");
    let paths = doc["paths"].as_object().expect("the document has paths");
    let mut ops = BTreeSet::new();
    for (path, item) in paths {
        for method in HTTP_METHODS {
            if item.get(method).is_some() {
                ops.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// `(METHOD, path)` named by the headings of `text`: every method in capitals times every
/// token starting with `/` (`### GET, DELETE /callbacks/{path}`). `GET` implies `HEAD`: the
/// page says once that every `GET` route answers `HEAD`.
fn documented_operations(text: &str) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for heading in headings(text) {
        let plain = heading.replace('`', "");
        let tokens: Vec<&str> = plain
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|t| !t.is_empty())
            .collect();
        let methods = tokens
            .iter()
            .filter(|t| HTTP_METHODS.contains(&t.to_ascii_lowercase().as_str()))
            .filter(|t| t.chars().all(|c| c.is_ascii_uppercase()));
        let methods = methods.flat_map(|m| match *m {
            "GET" => vec!["GET", "HEAD"],
            other => vec![other],
        });
        for method in methods {
            for path in tokens.iter().filter(|t| t.starts_with('/')) {
                ops.insert((method.to_owned(), (*path).to_owned()));
            }
        }
    }
    ops
}

#[test]
fn every_operation_of_the_openapi_document_has_a_heading_in_the_api_reference() {
    let ops = openapi_operations();
    assert!(!ops.is_empty(), "the OpenAPI document lists no operation");
    let documented = documented_operations(&read("docs/api.md"));
    let missing: Vec<String> = ops
        .difference(&documented)
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    report(
        "docs/api.md has no heading such as `### GET, POST /path/{param}` for these operations of GET /openapi.json",
        &missing,
    );
}

// ---------------------------------------------------------------------------------------------
// Error codes

/// The variant names of `enum ErrorCode` as written in its source, in wire form.
fn declared_error_codes() -> Vec<String> {
    let source = read("src/model/error_code.rs");
    let start = source
        .find("pub enum ErrorCode {")
        .expect("src/model/error_code.rs declares the enum");
    let body = &source[start..];
    let body = &body[body.find('{').unwrap_or(0) + 1..body.find('}').unwrap_or(body.len())];
    body.split(',')
        .map(|v| {
            // A variant's doc comments and attributes are not its name.
            v.lines()
                .map(str::trim)
                .filter(|l| !l.starts_with("//") && !l.starts_with('#'))
                .collect::<String>()
        })
        .filter(|v| !v.is_empty())
        .map(|v| screaming_snake(&v))
        .collect()
}

fn screaming_snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[test]
fn the_list_of_all_error_codes_holds_every_variant() {
    let listed: BTreeSet<String> = ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    let declared = declared_error_codes();
    assert!(!declared.is_empty(), "no variant read from the enum");
    let missing: Vec<String> = declared
        .into_iter()
        .filter(|c| !listed.contains(c))
        .collect();
    report("ErrorCode::ALL lacks these variants", &missing);
}

#[test]
fn every_error_code_has_a_row_with_its_status_in_the_error_reference() {
    let rows = table_rows(&read("docs/errors.md"));
    let mut wrong = Vec::new();
    for code in ErrorCode::ALL {
        let wire = serde_json::to_value(code).expect("a code serialises");
        let name = wire.as_str().expect("a code is a string").to_owned();
        match row_of(&rows, &name) {
            None => wrong.push(format!("{name}: no table row starting with `{name}`")),
            Some(row) if row.get(1) != Some(&code.status().to_string()) => wrong.push(format!(
                "{name}: the row's status is {:?}, the code answers {}",
                row.get(1),
                code.status()
            )),
            Some(_) => {}
        }
    }
    report("docs/errors.md", &wrong);
}

// ---------------------------------------------------------------------------------------------
// Metrics

/// `/metrics` as a gateway renders it with every family holding a sample (where the public
/// interface can make one).
fn rendered_metrics() -> String {
    let m = Metrics::default();
    m.invocation("hello", 502, 0.01, Some("FUNCTION_CRASHED"));
    m.cold_start("hello", 0.5);
    m.resume("hello", 0.02);
    m.build(true, 3.0);
    m.http_request("/callbacks/{path}", 200);
    m.set_namespaces(&[NamespaceGauges {
        namespace: "team".into(),
        ..NamespaceGauges::default()
    }]);
    m.render(&[CallbackGauges {
        path: "hello".into(),
        ready: 1,
        queued: 1,
        ..CallbackGauges::default()
    }])
}

/// Each metric as a user queries it (counters with `_total`) and the labels its samples have.
fn metric_families(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let type_line = pattern(r"^# TYPE (\S+) (\S+)$");
    let sample = pattern(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ");
    let label = pattern(r#"([a-zA-Z_][a-zA-Z0-9_]*)="#);
    let mut families: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut bases: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(c) = type_line.captures(line) {
            let (name, kind) = (&c[1], &c[2]);
            let shown = if kind == "counter" && !name.ends_with("_total") {
                format!("{name}_total")
            } else {
                name.to_owned()
            };
            families.entry(shown.clone()).or_default();
            bases.push((name.to_owned(), shown));
        } else if let Some(c) = sample.captures(line) {
            let series = &c[1];
            let family = bases.iter().find(|(base, _)| {
                ["", "_total", "_bucket", "_sum", "_count", "_created"]
                    .iter()
                    .any(|suffix| *series == format!("{base}{suffix}"))
            });
            if let (Some((_, shown)), Some(labels)) = (family, c.get(2)) {
                let entry = families.entry(shown.clone()).or_default();
                for l in label.captures_iter(labels.as_str()) {
                    if &l[1] != "le" {
                        entry.insert(l[1].to_owned());
                    }
                }
            }
        }
    }
    families
}

#[test]
fn every_metric_has_a_row_naming_its_labels_in_the_observability_reference() {
    let families = metric_families(&rendered_metrics());
    assert!(
        !families.is_empty(),
        "no metric found in the rendered /metrics"
    );
    let rows = table_rows(&read("docs/observability.md"));
    let mut missing = Vec::new();
    for (name, labels) in &families {
        let Some(row) = row_of(&rows, name) else {
            missing.push(format!("{name}: no table row starting with `{name}`"));
            continue;
        };
        let text = row.join(" | ");
        for l in labels.iter().filter(|l| !text.contains(&format!("`{l}`"))) {
            missing.push(format!("{name}: the row does not name the label `{l}`"));
        }
    }
    report("docs/observability.md", &missing);
}

// ---------------------------------------------------------------------------------------------
// Settings and the command line

/// Every `.rs` file under `dir`, except test modules kept in files of their own.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            sources(&path, out);
        } else if name.ends_with(".rs") && name != "tests.rs" && !name.ends_with("_tests.rs") {
            out.push(path);
        }
    }
}

/// The `"FAAS_…"` string literals of `src/` outside test modules.
fn faas_variables_in_sources() -> BTreeSet<String> {
    let literal = pattern(r#""(FAAS_[A-Z0-9_]*[A-Z0-9])""#);
    let mut files = Vec::new();
    sources(&root().join("src"), &mut files);
    let mut found = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a source file");
        // A file's own tests come last, after `#[cfg(test)] mod tests {`.
        let code = text
            .find("#[cfg(test)]\nmod tests {")
            .map_or(text.as_str(), |end| &text[..end]);
        found.extend(literal.captures_iter(code).map(|c| c[1].to_owned()));
    }
    found
}

#[test]
fn every_faas_variable_of_the_sources_is_in_the_configuration_reference() {
    let variables = faas_variables_in_sources();
    assert!(!variables.is_empty(), "no \"FAAS_…\" literal found in src/");
    let doc = read("docs/configuration.md");
    let missing: Vec<String> = variables
        .into_iter()
        .filter(|v| !doc.contains(&format!("`{v}`")))
        .collect();
    report(
        "docs/configuration.md does not name these variables (as `NAME`)",
        &missing,
    );
}

#[test]
fn every_flag_and_variable_of_the_binary_is_in_the_configuration_reference() {
    let doc = read("docs/configuration.md");
    let server = Flags::command();
    let mut missing = Vec::new();
    for arg in server.get_arguments() {
        if let Some(long) = arg.get_long().filter(|l| !names_flag(&doc, l)) {
            missing.push(format!("--{long}"));
        }
    }
    let cli = Cli::command();
    let commands = std::iter::once(&cli).chain(cli.get_subcommands());
    let env: BTreeSet<String> = commands
        .flat_map(|c| c.get_arguments())
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect();
    assert!(!env.is_empty(), "no argument reads the environment");
    missing.extend(
        env.into_iter()
            .filter(|e| !doc.contains(&format!("`{e}`")))
            .map(|e| format!("`{e}`")),
    );
    report("docs/configuration.md does not name", &missing);
}

#[test]
fn every_client_command_and_its_flags_are_in_the_command_line_reference() {
    let doc = read("docs/cli.md");
    let cli = Cli::command();
    let mut missing = Vec::new();
    let clients: Vec<_> = cli
        .get_subcommands()
        .filter(|c| c.get_name() != "serve")
        .collect();
    assert!(
        !clients.is_empty(),
        "the command line has no client command"
    );
    for command in clients {
        let name = command.get_name();
        if !doc.contains(&format!("`{name}")) {
            missing.push(format!("the command `{name}`"));
        }
        for long in command.get_arguments().filter_map(|a| a.get_long()) {
            if !names_flag(&doc, long) {
                missing.push(format!("{name} --{long}"));
            }
        }
    }
    report("docs/cli.md does not name", &missing);
}

// ---------------------------------------------------------------------------------------------
// Labels

#[test]
fn every_label_the_gateway_puts_on_its_objects_is_in_both_backend_references() {
    let literal = pattern(r#""(faas\.[a-z0-9.-]+)""#);
    let source = read("src/executor/labels.rs");
    let labels: BTreeSet<String> = literal
        .captures_iter(&source)
        .map(|c| c[1].to_owned())
        .collect();
    assert!(
        !labels.is_empty(),
        "no label found in src/executor/labels.rs"
    );
    let mut missing = Vec::new();
    for page in ["docs/docker.md", "docs/kubernetes.md"] {
        let doc = read(page);
        missing.extend(
            labels
                .iter()
                .filter(|l| !doc.contains(&format!("`{l}`")) && !doc.contains(&format!("`{l}=")))
                .map(|l| format!("{page}: {l}")),
        );
    }
    report("labels not named (as `label` or `label=value`)", &missing);
}

// ---------------------------------------------------------------------------------------------
// Links

fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let docs = std::fs::read_dir(root().join("docs")).expect("docs/ exists");
    let mut pages: Vec<PathBuf> = docs
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    files.extend(pages);
    files
}

/// Why `target`, linked from `from`, leads nowhere.
fn broken(from: &Path, target: &str) -> Option<String> {
    let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
    let dest = if file.is_empty() {
        from.to_path_buf()
    } else {
        from.parent().unwrap_or(Path::new(".")).join(file)
    };
    if !dest.exists() {
        return Some("no such file".into());
    }
    let is_markdown = dest.extension().is_some_and(|e| e == "md");
    if anchor.is_empty() || !is_markdown {
        return None;
    }
    let text = std::fs::read_to_string(&dest).unwrap_or_default();
    (!anchors(&text).contains(anchor)).then(|| "no such heading".into())
}

#[test]
fn every_relative_link_of_the_readme_and_the_docs_leads_somewhere() {
    let files = markdown_files();
    assert!(files.len() > 1, "docs/ holds no page");
    let mut dead = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a page");
        for target in relative_links(&text) {
            if let Some(why) = broken(file, &target) {
                let shown = file.strip_prefix(root()).unwrap_or(file).display();
                dead.push(format!("{shown}: ({target}): {why}"));
            }
        }
    }
    report("dead links", &dead);
}

#[test]
fn the_docs_index_links_every_page() {
    let index = read("docs/README.md");
    let linked: BTreeSet<String> = relative_links(&index)
        .into_iter()
        .map(|t| t.split('#').next().unwrap_or_default().to_owned())
        .collect();
    let missing: Vec<String> = markdown_files()
        .iter()
        .filter(|p| p.parent().is_some_and(|d| d.ends_with("docs")))
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|n| n != "README.md" && !linked.contains(n))
        .collect();
    report("docs/README.md does not link these pages", &missing);
}

#[test]
fn headings_name_operations_and_variants_become_wire_names() {
    let ops = documented_operations("# Title\n### GET, DELETE /a/{b}\n```\n# POST /c\n```\n");
    let expected: BTreeSet<(String, String)> =
        [("GET", "/a/{b}"), ("HEAD", "/a/{b}"), ("DELETE", "/a/{b}")]
            .into_iter()
            .map(|(m, p)| (m.to_owned(), p.to_owned()))
            .collect();
    assert_eq!(ops, expected);
    assert_eq!(screaming_snake("FunctionOomKilled"), "FUNCTION_OOM_KILLED");
}
