//! `logs`: the last lines of a callback's instances, and with `--follow` every new line: read
//! from the gateway's NDJSON stream, or by polling when the gateway answers a JSON document.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use super::args::LogsArgs;
use super::client::{Client, LogStream, Logs};
use super::error::CliError;
use super::output::{Paint, emit};

/// Pause between reads when the gateway cannot stream.
const POLL: Duration = Duration::from_secs(1);
/// Lines read per poll: more than a second's output of any sane function.
const POLL_TAIL: u32 = 1000;

/// Runs `logs`.
pub async fn run(args: LogsArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let mut query: Vec<String> = args.tail.map(|t| format!("tail={t}")).into_iter().collect();
    if args.follow {
        query.push("follow=true".into());
    }
    let printer = Printer {
        json: args.json,
        paint: Paint::stdout(),
    };
    match client.logs(&args.path, &query.join("&")).await? {
        Logs::Stream(stream) => stream_lines(stream, &printer).await,
        Logs::Document(doc) => {
            let lines = lines_of(&doc);
            let mut seen = Seen::default();
            for line in seen.fresh(lines) {
                printer.print(&line)?;
            }
            if args.follow {
                poll_lines(&client, &args.path, seen, &printer).await
            } else {
                Ok(())
            }
        }
    }
}

/// Prints every object of an NDJSON stream until the gateway ends it.
async fn stream_lines(mut stream: LogStream, printer: &Printer) -> Result<(), CliError> {
    let mut buffer = NdjsonBuffer::default();
    while let Some(chunk) = stream.chunk().await? {
        for line in buffer.push(&chunk) {
            printer.print(&line)?;
        }
    }
    if let Some(line) = buffer.finish() {
        printer.print(&line)?;
    }
    Ok(())
}

/// Reads the document again and again, printing the lines not printed yet. Ends with the
/// gateway's error (e.g. CALLBACK_NOT_FOUND once the callback is deleted).
async fn poll_lines(
    client: &Client,
    path: &str,
    mut seen: Seen,
    printer: &Printer,
) -> Result<(), CliError> {
    loop {
        tokio::time::sleep(POLL).await;
        let doc = match client.logs(path, &format!("tail={POLL_TAIL}")).await? {
            Logs::Document(doc) => doc,
            // A gateway upgraded meanwhile: take its stream from here.
            Logs::Stream(stream) => return stream_lines(stream, printer).await,
        };
        for line in seen.fresh(lines_of(&doc)) {
            printer.print(&line)?;
        }
    }
}

fn lines_of(doc: &Value) -> Vec<Value> {
    doc["lines"].as_array().cloned().unwrap_or_default()
}

/// How a line is printed.
struct Printer {
    json: bool,
    paint: Paint,
}

impl Printer {
    fn print(&self, line: &Value) -> Result<(), CliError> {
        if self.json {
            return emit(&format!("{line}\n"));
        }
        emit(&format!("{}\n", format_line(line, &self.paint)))
    }
}

/// `<ts>  <instance, 12 characters>  <stream>  <text>`.
pub fn format_line(line: &Value, paint: &Paint) -> String {
    let Some(obj) = line.as_object() else {
        return line
            .as_str()
            .map_or_else(|| line.to_string(), str::to_owned);
    };
    let field = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or("-");
    let instance: String = field("instance").chars().take(12).collect();
    let stream = match field("stream") {
        "stderr" => paint.yellow("stderr"),
        other => other.to_owned(),
    };
    format!(
        "{}  {instance:<12}  {stream:<6}  {}",
        field("ts"),
        field("line")
    )
}

/// Splits NDJSON chunks into objects; a line that is not JSON is kept as text.
#[derive(Debug, Default)]
pub struct NdjsonBuffer {
    pending: Vec<u8>,
}

impl NdjsonBuffer {
    /// The complete lines `chunk` ends.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Value> {
        self.pending.extend_from_slice(chunk);
        let Some(end) = self.pending.iter().rposition(|b| *b == b'\n') else {
            return Vec::new();
        };
        let complete: Vec<u8> = self.pending.drain(..=end).collect();
        complete
            .split(|b| *b == b'\n')
            .filter_map(parse_line)
            .collect()
    }

    /// What is left when the stream ended without a final newline.
    pub fn finish(self) -> Option<Value> {
        parse_line(&self.pending)
    }
}

fn parse_line(bytes: &[u8]) -> Option<Value> {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())))
}

/// Which polled lines were printed already: everything up to the newest timestamp printed,
/// and, at that timestamp, the lines themselves.
#[derive(Debug, Default)]
pub struct Seen {
    newest: Option<DateTime<FixedOffset>>,
    at_newest: HashSet<String>,
}

impl Seen {
    /// The lines of `lines` (in time order) not printed yet; remembers them as printed.
    pub fn fresh(&mut self, lines: Vec<Value>) -> Vec<Value> {
        let mut out = Vec::new();
        for line in lines {
            let ts = line["ts"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
            let key = line.to_string();
            let older = matches!((ts, self.newest), (Some(ts), Some(newest)) if ts < newest);
            if older || self.at_newest.contains(&key) {
                continue;
            }
            if let Some(ts) = ts
                && self.newest.is_none_or(|n| ts > n)
            {
                self.newest = Some(ts);
                self.at_newest.clear();
            }
            self.at_newest.insert(key);
            out.push(line);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(ts: &str, text: &str) -> Value {
        json!({"instance": "0123456789abcdef", "stream": "stdout", "ts": ts, "line": text})
    }

    #[test]
    fn ndjson_lines_split_across_chunks_are_joined() {
        let mut buf = NdjsonBuffer::default();
        assert!(buf.push(br#"{"line":"a"}"#).is_empty());
        let got = buf.push(b"\n{\"line\":\"b\"}\n{\"li");
        assert_eq!(got, vec![json!({"line": "a"}), json!({"line": "b"})]);
        assert!(buf.push(b"ne\":\"c\"}").is_empty());
        assert_eq!(buf.finish(), Some(json!({"line": "c"})));
    }

    #[test]
    fn a_line_that_is_not_json_is_kept_as_text() {
        let mut buf = NdjsonBuffer::default();
        assert_eq!(buf.push(b"oops\n\n"), vec![json!("oops")]);
        assert_eq!(buf.finish(), None);
    }

    #[test]
    fn polling_prints_each_line_once() {
        let mut seen = Seen::default();
        let first = vec![
            line("2026-01-01T00:00:01Z", "a"),
            line("2026-01-01T00:00:02Z", "b"),
        ];
        assert_eq!(seen.fresh(first.clone()).len(), 2);
        let second = vec![
            first[1].clone(),
            line("2026-01-01T00:00:02Z", "c"),
            line("2026-01-01T00:00:03Z", "d"),
        ];
        let texts: Vec<Value> = seen
            .fresh(second)
            .into_iter()
            .map(|l| l["line"].clone())
            .collect();
        assert_eq!(texts, vec![json!("c"), json!("d")]);
        assert!(
            seen.fresh(vec![first[0].clone()]).is_empty(),
            "older lines are old"
        );
    }

    #[test]
    fn lines_print_time_instance_stream_and_text() {
        let text = format_line(&line("2026-01-01T00:00:01Z", "hi"), &Paint::default());
        assert_eq!(text, "2026-01-01T00:00:01Z  0123456789ab  stdout  hi");
    }
}
