//! Why a command failed, how that is printed, and the exit code it gives.

use std::io::Write;

use serde_json::Value;

use super::output::Paint;

/// Exit code of a command the gateway (or the function) answered with an error.
pub const EXIT_API: i32 = 1;
/// Exit code of a command line or local input that cannot be used (clap uses it too).
pub const EXIT_USAGE: i32 = 2;
/// Exit code when no gateway answers at the URL.
pub const EXIT_UNREACHABLE: i32 = 3;

/// A command's failure.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line or a local file cannot be used.
    #[error("{0}")]
    Usage(String),
    /// The gateway answered with the contract's error envelope (or an async invocation failed
    /// with one).
    #[error("{code}: {message}")]
    Api {
        code: String,
        message: String,
        details: Value,
    },
    /// The gateway answered an error that is not the contract's envelope.
    #[error("the gateway answered {status}: {body}")]
    Http { status: String, body: String },
    /// The function answered with an error status of its own (its body was printed).
    #[error("the function answered {0}")]
    Function(String),
    /// Nothing answered at the URL, or the connection broke.
    #[error("cannot reach the gateway at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// Writing the output failed (a closed pipe is not reported).
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

impl CliError {
    /// The contract's error envelope (`{"error": {"code", "message", "details"}}`) in `body`,
    /// or `None` when the body is something else.
    pub fn from_envelope(body: &[u8]) -> Option<Self> {
        let value: Value = serde_json::from_slice(body).ok()?;
        Self::from_error_object(value.get("error")?)
    }

    /// The envelope's `error` member (also what a failed async invocation holds).
    pub fn from_error_object(error: &Value) -> Option<Self> {
        Some(CliError::Api {
            code: error.get("code")?.as_str()?.to_owned(),
            message: error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            details: error.get("details").cloned().unwrap_or(Value::Null),
        })
    }

    /// The process's exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Unreachable { .. } => EXIT_UNREACHABLE,
            CliError::Api { .. }
            | CliError::Http { .. }
            | CliError::Function(_)
            | CliError::Output(_) => EXIT_API,
        }
    }

    /// Prints the failure on stderr: the code and message, then the details a user acts on
    /// (invalid fields, the build or startup log's tail, anything else on one line).
    pub fn report(&self, paint: &Paint) {
        if let CliError::Output(e) = self
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            return;
        }
        let text = format!("{} {self}\n{}", paint.red("error:"), self.details_text());
        // Nothing sensible is left to do when stderr itself is gone.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }

    /// The lines printed under the error line.
    fn details_text(&self) -> String {
        let CliError::Api { details, .. } = self else {
            return String::new();
        };
        details_lines(details)
    }
}

/// `details` as text: `fields` one per line, `log` verbatim under a header, the rest as JSON.
pub fn details_lines(details: &Value) -> String {
    let Some(map) = details.as_object() else {
        return String::new();
    };
    let mut out = String::new();
    if let Some(fields) = map.get("fields").and_then(Value::as_object) {
        for (field, reason) in fields {
            let reason = reason
                .as_str()
                .map_or_else(|| reason.to_string(), str::to_owned);
            out.push_str(&format!("  {field}: {reason}\n"));
        }
    }
    let rest: serde_json::Map<String, Value> = map
        .iter()
        .filter(|(k, _)| *k != "fields" && *k != "log")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !rest.is_empty() {
        out.push_str(&format!("  details: {}\n", Value::Object(rest)));
    }
    if let Some(log) = map.get("log").and_then(Value::as_str)
        && !log.trim().is_empty()
    {
        out.push_str("--- log (tail) ---\n");
        out.push_str(log.trim_end_matches('\n'));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn usage_api_and_connection_failures_exit_differently() {
        let api = CliError::Api {
            code: "CALLBACK_NOT_FOUND".into(),
            message: "no callback".into(),
            details: json!({}),
        };
        let usage = CliError::Usage("bad".into());
        let gone = CliError::Unreachable {
            url: "http://x".into(),
            reason: "refused".into(),
        };
        let codes = [api.exit_code(), usage.exit_code(), gone.exit_code()];
        assert_eq!(codes, [EXIT_API, EXIT_USAGE, EXIT_UNREACHABLE]);
        assert!(codes.iter().all(|c| *c != 0));
        assert_eq!(api.to_string(), "CALLBACK_NOT_FOUND: no callback");
    }

    #[test]
    fn the_envelope_is_recognised_and_other_bodies_are_not() {
        let body = br#"{"error":{"code":"CALLBACK_NOT_FOUND","message":"no callback named x","details":{}},"request_id":"r"}"#;
        let e = CliError::from_envelope(body).expect("envelope");
        assert_eq!(e.to_string(), "CALLBACK_NOT_FOUND: no callback named x");
        let function_error = br#"{"error":{"code":"FUNCTION_ERROR","message":"ValueError: x"}}"#;
        assert!(CliError::from_envelope(function_error).is_some());
        assert!(CliError::from_envelope(br#"{"error":"plain"}"#).is_none());
        assert!(CliError::from_envelope(b"not json").is_none());
    }

    #[test]
    fn details_show_fields_then_other_keys_then_the_log() {
        let text = details_lines(&json!({
            "fields": {"memory_mb": "must be in 16..=16384"},
            "exit_code": 1,
            "log": "Traceback (most recent call last):\nSyntaxError: invalid syntax\n"
        }));
        assert_eq!(
            text,
            "  memory_mb: must be in 16..=16384\n  details: {\"exit_code\":1}\n\
             --- log (tail) ---\nTraceback (most recent call last):\nSyntaxError: invalid syntax\n"
        );
        assert_eq!(details_lines(&json!({})), "");
    }
}
