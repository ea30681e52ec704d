//! What commands print: aligned tables, `key: value` summaries, JSON, and colour only on a
//! terminal.

use std::io::{IsTerminal, Write};

use serde_json::Value;

use super::error::CliError;

/// Whether to colour text, decided once per stream.
#[derive(Debug, Clone, Copy, Default)]
pub struct Paint {
    pub color: bool,
}

impl Paint {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset.
    pub fn stdout() -> Self {
        Paint {
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    /// Colour when stderr is a terminal and `NO_COLOR` is unset.
    pub fn stderr() -> Self {
        Paint {
            color: std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    fn wrap(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Red, bold: errors.
    pub fn red(&self, text: &str) -> String {
        self.wrap("1;31", text)
    }

    /// Yellow: the stderr stream.
    pub fn yellow(&self, text: &str) -> String {
        self.wrap("33", text)
    }

    /// Bold: headers.
    pub fn bold(&self, text: &str) -> String {
        self.wrap("1", text)
    }

    /// A callback's, instance's or invocation's state in its colour.
    pub fn state(&self, state: &str) -> String {
        let code = match state {
            "ready" | "succeeded" => "32",
            "building" | "starting" | "idle" | "paused" | "draining" | "queued" | "running" => "33",
            "failed" | "crash_loop" => "31",
            "undeployed" => "2",
            _ => return state.to_owned(),
        };
        self.wrap(code, state)
    }
}

/// Rows under upper-case headers, columns aligned with three spaces between them (as kubectl
/// prints). Cells of the column headed `STATE` are coloured by state.
pub fn table(headers: &[&str], rows: &[Vec<String>], paint: &Paint) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let state_col = headers.iter().position(|h| *h == "STATE");
    let mut out = String::new();
    let header_cells: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    push_row(&mut out, &header_cells, &widths, |_, s| paint.bold(s));
    for row in rows {
        push_row(&mut out, row, &widths, |col, s| {
            if Some(col) == state_col {
                paint.state(s)
            } else {
                s.to_owned()
            }
        });
    }
    out
}

fn push_row(
    out: &mut String,
    cells: &[String],
    widths: &[usize],
    paint: impl Fn(usize, &str) -> String,
) {
    let last = cells.len().saturating_sub(1);
    for (col, cell) in cells.iter().enumerate() {
        out.push_str(&paint(col, cell));
        if col < last {
            let width = widths.get(col).copied().unwrap_or(0);
            let pad = width.saturating_sub(cell.chars().count());
            out.push_str(&" ".repeat(pad + 3));
        }
    }
    out.push('\n');
}

/// `key: value` lines with the values aligned.
pub fn pairs(rows: &[(&str, String)]) -> String {
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k}:{}{v}\n", " ".repeat(width - k.chars().count() + 1)))
        .collect()
}

/// A JSON value as a table cell: strings unquoted, null as `-`.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Writes `text` to stdout.
pub fn emit(text: &str) -> Result<(), CliError> {
    emit_bytes(text.as_bytes())
}

/// Writes bytes to stdout and flushes (log lines appear as they come).
pub fn emit_bytes(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

/// Prints a JSON document, indented.
pub fn emit_json(value: &Value) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    emit(&format!("{text}\n"))
}

/// A line on stderr (notes and progress), never failing the command.
pub fn note(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_columns_and_leave_no_trailing_space() {
        let rows = vec![
            vec!["hello".to_owned(), "ready".to_owned(), "1".to_owned()],
            vec![
                "a-longer-path".to_owned(),
                "failed".to_owned(),
                "12".to_owned(),
            ],
        ];
        let text = table(&["PATH", "STATE", "REVISION"], &rows, &Paint::default());
        assert_eq!(
            text,
            "PATH            STATE    REVISION\n\
             hello           ready    1\n\
             a-longer-path   failed   12\n"
        );
    }

    #[test]
    fn colour_is_added_only_when_asked_and_does_not_break_alignment() {
        let rows = vec![vec!["x".to_owned(), "ready".to_owned(), "1".to_owned()]];
        let plain = table(&["PATH", "STATE", "N"], &rows, &Paint::default());
        let coloured = table(&["PATH", "STATE", "N"], &rows, &Paint { color: true });
        assert!(!plain.contains('\x1b'));
        assert!(coloured.contains("\x1b[32mready\x1b[0m"));
        let strip = |s: &str| {
            s.replace("\x1b[32m", "")
                .replace("\x1b[1m", "")
                .replace("\x1b[0m", "")
        };
        assert_eq!(strip(&coloured), plain);
    }

    #[test]
    fn pairs_align_values() {
        let text = pairs(&[("path", "hello".into()), ("revision", "3".into())]);
        assert_eq!(text, "path:     hello\nrevision: 3\n");
    }

    #[test]
    fn cells_show_strings_bare_and_null_as_a_dash() {
        assert_eq!(cell(&json!("a")), "a");
        assert_eq!(cell(&json!(3)), "3");
        assert_eq!(cell(&Value::Null), "-");
    }
}
