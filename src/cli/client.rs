//! The command line's one HTTP client: every request to a gateway goes through here, so the
//! transport (TLS, timeouts, tokens) is decided in this file alone.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

use super::args::ClientArgs;
use super::error::CliError;

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Reads answer at once; deploys, deletes, calls and followed logs may legitimately take
/// minutes, so only reads are bounded.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A gateway at a base URL, with the tokens to present.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    admin_token: Option<String>,
    invoke_token: Option<String>,
}

/// A function's (or the gateway's) answer to a call, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What `GET /callbacks/<path>/logs` answered.
pub enum Logs {
    /// The whole `{"lines": [...]}` document.
    Document(Value),
    /// An open NDJSON stream (`follow=true` on a gateway that streams).
    Stream(LogStream),
}

/// An open response body read chunk by chunk.
pub struct LogStream {
    response: Response,
    url: String,
}

impl LogStream {
    /// The next bytes of the body; `None` when the gateway closed it.
    pub async fn chunk(&mut self) -> Result<Option<Vec<u8>>, CliError> {
        match self.response.chunk().await {
            Ok(bytes) => Ok(bytes.map(|b| b.to_vec())),
            Err(e) => Err(unreachable(&self.url, &e)),
        }
    }
}

impl Client {
    /// A client for the gateway `args` names; the URL must be absolute http(s).
    pub fn new(args: &ClientArgs) -> Result<Self, CliError> {
        let base = args.url.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base).map_err(|e| {
            CliError::Usage(format!("FAAS_URL / --url {:?} is not a URL: {e}", args.url))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(CliError::Usage(format!(
                "FAAS_URL / --url must be an http:// or https:// URL, not {:?}",
                args.url
            )));
        }
        let http = crate::tls::client_builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("faas-gateway-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Usage(format!("cannot set up HTTP: {}", chain(&e))))?;
        let token = |t: &Option<String>| t.clone().filter(|t| !t.is_empty());
        let admin_token = token(&args.admin_token);
        // A namespace's admin token also calls its callbacks; the gateway's admin token is
        // never sent to a function.
        let invoke_token = token(&args.invoke_token).or_else(|| {
            admin_token
                .clone()
                .filter(|t| t.starts_with(crate::namespaces::tokens::PREFIX))
        });
        Ok(Client {
            http,
            base,
            admin_token,
            invoke_token,
        })
    }

    /// The absolute URL of a gateway path (`/api/hello` → `http://…/api/hello`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn admin(&self, method: Method, path: &str) -> RequestBuilder {
        let req = self.http.request(method, self.url(path));
        match &self.admin_token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// GET an admin resource as JSON.
    pub async fn get(&self, path: &str) -> Result<Value, CliError> {
        let req = self.admin(Method::GET, path).timeout(READ_TIMEOUT);
        let (_, body) = self.json(req).await?;
        Ok(body)
    }

    /// POST a JSON body to an admin route; the status and the JSON answer.
    pub async fn post(&self, path: &str, body: &Value) -> Result<(u16, Value), CliError> {
        self.json(self.admin(Method::POST, path).json(body)).await
    }

    /// PATCH an admin resource with a JSON body; the JSON answer.
    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        let (_, answer) = self
            .json(self.admin(Method::PATCH, path).json(body))
            .await?;
        Ok(answer)
    }

    /// DELETE an admin resource.
    pub async fn delete(&self, path: &str) -> Result<(), CliError> {
        let response = self.send(self.admin(Method::DELETE, path)).await?;
        let status = response.status();
        let body = self.bytes(response).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(failure(status, &body))
        }
    }

    /// Calls a function: `target` is `/api/<path>…`. Any status is a reply; only transport
    /// failures are errors. The invoke token goes in `Authorization` unless a header names one.
    pub async fn call(
        &self,
        method: &str,
        target: &str,
        headers: &[(String, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Reply, CliError> {
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| CliError::Usage(format!("{method:?} is not an HTTP method")))?;
        let mut req = self.http.request(method, self.url(target));
        let has_auth = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
        if let (Some(t), false) = (&self.invoke_token, has_auth) {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(k, v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let response = self.send(req).await?;
        let status = response.status().as_u16();
        let headers = header_pairs(response.headers());
        let body = self.bytes(response).await?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// Opens a callback's logs (`query` as in `tail=5&follow=true`): a stream when the
    /// gateway answers NDJSON, else the JSON document.
    pub async fn logs(&self, path: &str, query: &str) -> Result<Logs, CliError> {
        let url = format!("/callbacks/{}/logs?{query}", segment(path));
        let response = self.send(self.admin(Method::GET, &url)).await?;
        let status = response.status();
        let ndjson = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-ndjson"));
        if status.is_success() && ndjson {
            return Ok(Logs::Stream(LogStream {
                response,
                url: self.base.clone(),
            }));
        }
        let body = self.bytes(response).await?;
        if !status.is_success() {
            return Err(failure(status, &body));
        }
        Ok(Logs::Document(parse_json(status, &body)?))
    }

    async fn send(&self, req: RequestBuilder) -> Result<Response, CliError> {
        req.send().await.map_err(|e| unreachable(&self.base, &e))
    }

    async fn bytes(&self, response: Response) -> Result<Vec<u8>, CliError> {
        match response.bytes().await {
            Ok(b) => Ok(b.to_vec()),
            Err(e) => Err(unreachable(&self.base, &e)),
        }
    }

    async fn json(&self, req: RequestBuilder) -> Result<(u16, Value), CliError> {
        let response = self.send(req).await?;
        let status = response.status();
        let body = self.bytes(response).await?;
        if !status.is_success() {
            return Err(failure(status, &body));
        }
        Ok((status.as_u16(), parse_json(status, &body)?))
    }
}

/// A path segment, percent-encoded so a typo cannot reach another route.
pub fn segment(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `200 OK`, `404 Not Found`: a status as people read it.
pub fn status_line(status: u16) -> String {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("{status} {reason}").trim_end().to_owned()
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (k.as_str().to_owned(), value)
        })
        .collect()
}

fn parse_json(status: StatusCode, body: &[u8]) -> Result<Value, CliError> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|_| CliError::Http {
        status: status_line(status.as_u16()),
        body: preview(body),
    })
}

/// An error answer: the contract's envelope when it is one.
fn failure(status: StatusCode, body: &[u8]) -> CliError {
    CliError::from_envelope(body).unwrap_or_else(|| CliError::Http {
        status: status_line(status.as_u16()),
        body: preview(body),
    })
}

/// The start of a body that is not the contract's JSON, for an error message.
fn preview(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

fn unreachable(url: &str, e: &reqwest::Error) -> CliError {
    CliError::Unreachable {
        url: url.to_owned(),
        reason: chain(e),
    }
}

/// An error with its causes (`error sending request: connection refused`).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(url: &str) -> ClientArgs {
        ClientArgs {
            url: url.to_owned(),
            admin_token: Some(String::new()),
            invoke_token: None,
        }
    }

    #[test]
    fn the_base_url_must_be_http_and_loses_its_trailing_slash() {
        let c = Client::new(&args("http://127.0.0.1:8000/")).expect("valid");
        assert_eq!(c.url("/callbacks"), "http://127.0.0.1:8000/callbacks");
        assert!(c.admin_token.is_none(), "an empty token is no token");
        assert!(matches!(
            Client::new(&args("ftp://host")),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(
            Client::new(&args("not a url")),
            Err(CliError::Usage(_))
        ));
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("hello-1"), "hello-1");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn statuses_read_with_their_reason() {
        assert_eq!(status_line(404), "404 Not Found");
        assert_eq!(status_line(599), "599");
    }

    #[test]
    fn an_error_that_is_not_the_envelope_keeps_its_status_and_text() {
        let e = failure(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
        assert_eq!(
            e.to_string(),
            "the gateway answered 502 Bad Gateway: <html>bad gateway</html>"
        );
    }
}
