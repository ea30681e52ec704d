//! `invoke`: call a function (or queue the call with `--async` and wait for its result) and
//! print its response.

use std::io::IsTerminal;
use std::time::Duration;

use base64::Engine;
use serde_json::Value;
use tokio::io::AsyncReadExt;

use super::args::InvokeArgs;
use super::client::{Client, Reply, segment, status_line};
use super::error::CliError;
use super::output::{emit, emit_bytes, emit_json};

/// First and longest pause between reads of an async invocation.
const POLL_FIRST: Duration = Duration::from_millis(200);
const POLL_MAX: Duration = Duration::from_secs(1);

/// Runs `invoke`.
pub async fn run(args: InvokeArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let body = request_body(args.data.as_deref(), args.ignore_stdin).await?;
    let method = args
        .method
        .clone()
        .unwrap_or_else(|| if body.is_some() { "POST" } else { "GET" }.to_owned());
    let mut headers = args.headers.clone();
    if args.background {
        headers.push(("Prefer".into(), "respond-async".into()));
    }
    let target = target(&args.path, args.rest.as_deref());
    let reply = client.call(&method, &target, &headers, body).await?;
    if !args.background || reply.status != 202 {
        return show(&reply, args.include);
    }
    let accepted: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    let Some(id) = accepted["id"].as_str() else {
        return Err(CliError::Http {
            status: status_line(reply.status),
            body: String::from_utf8_lossy(&reply.body).into_owned(),
        });
    };
    if args.no_wait {
        return if args.json {
            emit_json(&accepted)
        } else {
            emit(&format!("{id}\n"))
        };
    }
    let done = wait_for(&client, id).await?;
    if args.json {
        emit_json(&done)?;
    }
    finished(&done, args.include, !args.json)
}

/// `/api/<path>`, then `rest` as a sub-path, or as the query when it starts with `?`.
pub fn target(path: &str, rest: Option<&str>) -> String {
    let mut target = format!("/api/{}", segment(path));
    match rest.map(|r| r.trim_start_matches('/')) {
        Some(r) if r.starts_with('?') => target.push_str(r),
        Some(r) if !r.is_empty() => {
            target.push('/');
            target.push_str(r);
        }
        _ => {}
    }
    target
}

/// The request body: `--data` text, `--data @file` (`@-` is stdin), else stdin when it is
/// not a terminal and not ignored. An empty stdin is no body.
async fn request_body(data: Option<&str>, ignore_stdin: bool) -> Result<Option<Vec<u8>>, CliError> {
    match data.map(|d| (d, d.strip_prefix('@'))) {
        Some((_, Some("-"))) => read_stdin().await.map(Some),
        Some((_, Some(file))) => std::fs::read(file)
            .map(Some)
            .map_err(|e| CliError::Usage(format!("cannot read {file}: {e}"))),
        Some((text, None)) => Ok(Some(text.as_bytes().to_vec())),
        None if ignore_stdin || std::io::stdin().is_terminal() => Ok(None),
        None => Ok(Some(read_stdin().await?).filter(|b| !b.is_empty())),
    }
}

async fn read_stdin() -> Result<Vec<u8>, CliError> {
    let mut bytes = Vec::new();
    tokio::io::stdin()
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| CliError::Usage(format!("cannot read stdin: {e}")))?;
    Ok(bytes)
}

/// Prints a response: with `include` its status line and headers first. A gateway-made error
/// is reported as such; a function's own error status prints its body and fails the command.
fn show(reply: &Reply, include: bool) -> Result<(), CliError> {
    let failed = reply.status >= 400;
    let gateway_error = failed
        .then(|| CliError::from_envelope(&reply.body))
        .flatten();
    if include {
        let mut head = format!("HTTP {}\n", status_line(reply.status));
        for (k, v) in &reply.headers {
            head.push_str(&format!("{k}: {v}\n"));
        }
        head.push('\n');
        emit(&head)?;
    }
    if include || gateway_error.is_none() {
        emit_bytes(&reply.body)?;
        if std::io::stdout().is_terminal() && !reply.body.is_empty() && !reply.body.ends_with(b"\n")
        {
            emit("\n")?;
        }
    }
    match gateway_error {
        Some(e) => Err(e),
        None if failed => Err(CliError::Function(status_line(reply.status))),
        None => Ok(()),
    }
}

/// Reads `GET /invocations/<id>` until it succeeded or failed.
async fn wait_for(client: &Client, id: &str) -> Result<Value, CliError> {
    let url = format!("/invocations/{}", segment(id));
    let mut pause = POLL_FIRST;
    loop {
        let doc = client.get(&url).await?;
        if matches!(doc["status"].as_str(), Some("succeeded" | "failed")) {
            return Ok(doc);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(POLL_MAX);
    }
}

/// The outcome of a finished invocation; its response is printed when `print` is set.
fn finished(doc: &Value, include: bool, print: bool) -> Result<(), CliError> {
    if doc["status"] == "failed" {
        return Err(
            CliError::from_error_object(&doc["error"]).unwrap_or_else(|| {
                CliError::Function(format!("invocation failed: {}", doc["error"]))
            }),
        );
    }
    let reply = stored_reply(&doc["response"]);
    if print {
        return show(&reply, include);
    }
    if reply.status >= 400 {
        return Err(CliError::Function(status_line(reply.status)));
    }
    Ok(())
}

/// A stored `response` (`{"status","headers","body","body_encoding"}`) as a reply.
pub fn stored_reply(response: &Value) -> Reply {
    let text = response["body"].as_str().unwrap_or_default();
    let body = if response["body_encoding"] == "base64" {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap_or_else(|_| text.as_bytes().to_vec())
    } else {
        text.as_bytes().to_vec()
    };
    let headers = response["headers"]
        .as_object()
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    Reply {
        status: response["status"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or(0),
        headers,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_target_takes_a_sub_path_or_a_query() {
        assert_eq!(target("hello", None), "/api/hello");
        assert_eq!(
            target("hello", Some("/users/7?full=1")),
            "/api/hello/users/7?full=1"
        );
        assert_eq!(target("hello", Some("?name=dev")), "/api/hello?name=dev");
        assert_eq!(target("hello", Some("")), "/api/hello");
    }

    #[test]
    fn stored_responses_decode_base64_bodies() {
        let reply = stored_reply(&json!({
            "status": 201, "headers": {"x-a": "1"}, "body": "/w==", "body_encoding": "base64"
        }));
        assert_eq!(reply.status, 201);
        assert_eq!(reply.body, vec![0xff]);
        assert_eq!(reply.headers, vec![("x-a".to_owned(), "1".to_owned())]);
        let text = stored_reply(&json!({"status": 200, "body": "hi", "body_encoding": "utf8"}));
        assert_eq!(text.body, b"hi");
    }

    #[test]
    fn a_failed_invocation_reports_its_error_code() {
        let doc = json!({"status": "failed", "error": {"code": "FUNCTION_TIMEOUT", "message": "too slow", "details": {}}});
        let e = finished(&doc, false, false).expect_err("failed");
        assert_eq!(e.to_string(), "FUNCTION_TIMEOUT: too slow");
        let own_error = json!({"status": "succeeded", "response": {"status": 418, "body": ""}});
        assert!(matches!(
            finished(&own_error, false, false),
            Err(CliError::Function(_))
        ));
        let ok = json!({"status": "succeeded", "response": {"status": 200, "body": ""}});
        assert!(finished(&ok, false, false).is_ok());
    }
}
