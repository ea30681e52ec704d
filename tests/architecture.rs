//! The dependencies between the crate's top-level modules point one way: no module reaches,
//! directly or through others, back into one that uses it. Read from the sources (`crate::x`
//! paths, including grouped `use crate::{x, y}`), so a new cycle fails here with its path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module → the top-level modules its files name.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = BTreeMap::new();
    for entry in std::fs::read_dir(&src).expect("src/") {
        let path = entry.expect("an entry").path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a name")
            .to_owned();
        if name == "lib" || name == "main" {
            continue;
        }
        let mut deps = BTreeSet::new();
        for file in rust_files(&path) {
            let text = std::fs::read_to_string(&file).expect("a source file");
            deps.extend(crate_paths(&text));
        }
        deps.remove(&name);
        graph.entry(name).or_insert_with(BTreeSet::new).extend(deps);
    }
    graph
}

fn rust_files(path: &Path) -> Vec<std::path::PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).expect("a folder") {
        files.extend(rust_files(&entry.expect("an entry").path()));
    }
    files
}

/// The first segment of every `crate::` path in `text`.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.extend(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 || c != '{' {
                    item.push(c);
                }
            }
            found.extend(first_segment(&item));
        } else {
            found.extend(first_segment(rest));
        }
    }
    found
}

fn first_segment(path: &str) -> Option<String> {
    let ident: String = path
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!ident.is_empty() && ident.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
        .then_some(ident)
}

/// A cycle through `node`, if any.
fn cycle(
    graph: &BTreeMap<String, BTreeSet<String>>,
    node: &str,
    stack: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if let Some(at) = stack.iter().position(|n| n == node) {
        let mut c = stack[at..].to_vec();
        c.push(node.to_owned());
        return Some(c);
    }
    if done.contains(node) {
        return None;
    }
    stack.push(node.to_owned());
    for next in graph.get(node).into_iter().flatten() {
        if let Some(c) = cycle(graph, next, stack, done) {
            return Some(c);
        }
    }
    stack.pop();
    done.insert(node.to_owned());
    None
}

#[test]
fn top_level_modules_depend_on_each_other_one_way() {
    let graph = graph();
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(c) = cycle(&graph, node, &mut Vec::new(), &mut done) {
            let edges: Vec<String> = graph
                .iter()
                .map(|(m, d)| {
                    format!(
                        "{m} -> {}",
                        d.iter().cloned().collect::<Vec<_>>().join(", ")
                    )
                })
                .collect();
            panic!(
                "modules depend on each other in a cycle: {}\n\n{}",
                c.join(" -> "),
                edges.join("\n")
            );
        }
    }
}

#[test]
fn grouped_and_nested_paths_are_read() {
    let text = "use crate::{api::x, model::{A, B}, store};\nlet a = crate::pool::Pool::new();";
    let found: Vec<String> = crate_paths(text).into_iter().collect();
    assert_eq!(found, ["api", "model", "pool", "store"]);
}
