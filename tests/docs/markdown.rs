//! Reading Markdown the way the checks need it: prose outside code fences, headings, table
//! rows, the anchors GitHub gives headings, relative links, and flags named in text.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;

/// A regular expression of the checks (a bad one is a bug of the test).
pub fn pattern(p: &str) -> Regex {
    Regex::new(p).unwrap_or_else(|e| panic!("pattern {p}: {e}"))
}

/// The lines of a Markdown text outside fenced code blocks.
pub fn prose(text: &str) -> Vec<&str> {
    let mut in_fence = false;
    text.lines()
        .filter(|line| {
            if line.trim_start().starts_with("```") {
                in_fence = !in_fence;
                return false;
            }
            !in_fence
        })
        .collect()
}

/// The headings' texts, without their `#`s.
pub fn headings(text: &str) -> Vec<String> {
    prose(text)
        .into_iter()
        .filter(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim().to_owned())
        .collect()
}

/// The cells of the table rows (`| a | b |` → `["a", "b"]`).
pub fn table_rows(text: &str) -> Vec<Vec<String>> {
    prose(text)
        .into_iter()
        .filter(|l| l.trim_start().starts_with('|'))
        .map(|l| {
            let inner = l.trim().trim_start_matches('|').trim_end_matches('|');
            inner.split('|').map(|c| c.trim().to_owned()).collect()
        })
        .collect()
}

/// The first table row whose first cell is `` `name` ``.
pub fn row_of<'a>(rows: &'a [Vec<String>], name: &str) -> Option<&'a Vec<String>> {
    let cell = format!("`{name}`");
    rows.iter().find(|r| r.first() == Some(&cell))
}

/// `--long` appears in `doc`, not as the start of a longer flag.
pub fn names_flag(doc: &str, long: &str) -> bool {
    let flag = format!("--{long}");
    doc.match_indices(&flag).any(|(i, _)| {
        doc[i + flag.len()..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-'))
    })
}

/// The anchors GitHub gives the headings of a Markdown text.
pub fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for heading in headings(text) {
        let slug: String = heading
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let n = seen.entry(slug.clone()).or_insert(0);
        out.insert(if *n == 0 {
            slug.clone()
        } else {
            format!("{slug}-{n}")
        });
        *n += 1;
    }
    out
}

/// The relative link targets of a Markdown text (outside code).
pub fn relative_links(text: &str) -> Vec<String> {
    let code_span = pattern("`[^`]*`");
    let link = pattern(r#"\]\(([^)\s]+)(?:\s+"[^"]*")?\)"#);
    let mut out = Vec::new();
    for line in prose(text) {
        let line = code_span.replace_all(line, "");
        for c in link.captures_iter(&line) {
            let target = c[1].to_owned();
            let external = ["http://", "https://", "mailto:"]
                .iter()
                .any(|s| target.starts_with(s));
            if !external {
                out.push(target);
            }
        }
    }
    out
}

#[test]
fn headings_rows_anchors_and_flags_are_read_as_intended() {
    let text = "# Title\n```sh\n# not a heading\n```\n### Run /a/{b}\n| `X` | 1 |\n## Same\n## Same\n[a](x.md#y) `[b](z.md)`\n";
    assert_eq!(headings(text), ["Title", "Run /a/{b}", "Same", "Same"]);
    assert!(row_of(&table_rows(text), "X").is_some_and(|r| r[1] == "1"));
    let a = anchors(text);
    assert!(
        a.contains("run-ab") && a.contains("same") && a.contains("same-1"),
        "{a:?}"
    );
    assert_eq!(relative_links(text), ["x.md#y"]);
    assert!(names_flag("use --json.", "json") && !names_flag("--jsonl", "json"));
}
