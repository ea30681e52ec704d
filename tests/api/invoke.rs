//! Calling functions on `/api/<path>`: what a Python or Node handler sees (event, context), what
//! the caller gets back (return conventions, errors, headers), bodies of every shape and size.
//! Real gateway, real images, real containers.
//!
//! Deploys are amortised: one "echo" function per runtime answers many requests, switching on
//! `event.path` to exercise each return convention and echoing `{event, context}` otherwise.

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, assert_error, node, parse, python, unique, with};

// ---------------------------------------------------------------------------------------------
// The functions under test

const PYTHON_ECHO: &str = r#"
import base64
import os
import time

ALL_BYTES = bytes(range(256))


def handle(event, context):
    path = event["path"]
    if path == "/return/str":
        return "h\u00e9llo \u2713"
    if path == "/return/bytes":
        return ALL_BYTES
    if path == "/return/dict":
        return {"a": 1, "nested": {"b": [True, None]}}
    if path == "/return/list":
        return [1, "two", 3.5]
    if path == "/return/number":
        return 42
    if path == "/return/none":
        return None
    if path == "/return/custom":
        return {"statusCode": 201,
                "headers": {"X-One": "1", "X-Multi": ["a", "b"],
                            "Connection": "x-hop-out", "X-Hop-Out": "1"},
                "body": "created"}
    if path == "/return/base64":
        return {"statusCode": 200, "headers": {"Content-Type": "image/png"},
                "body": base64.b64encode(ALL_BYTES).decode("ascii"), "is_base64": True}
    if path == "/own/503":
        return {"statusCode": 503, "headers": {"Retry-After": "7"}, "body": "down for maintenance"}
    if path == "/own/204":
        return {"statusCode": 204, "headers": {"X-Deleted": "yes"}}
    if path == "/own/404":
        return {"statusCode": 404, "body": {"missing": True}}
    if path == "/own/500":
        return {"statusCode": 500, "body": "my own failure"}
    if path == "/raise":
        raise ValueError("boom")
    if path == "/type-error":
        return None + 1
    if path == "/env":
        return {"GREETING": os.environ.get("GREETING")}
    if path == "/hold":
        time.sleep(4)  # holds its instance slot; then echoes like any other path
    if path == "/body":
        if event["is_base64"]:
            return base64.b64decode(event["body"])
        return event["body"].encode("utf-8")
    return {"event": event, "context": context}
"#;

const NODE_ECHO: &str = r#"'use strict';
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

exports.handle = async (event, context) => {
  switch (event.path) {
    case '/return/str': return 'h\u00e9llo \u2713';
    case '/return/bytes': return ALL_BYTES;
    case '/return/dict': return { a: 1, nested: { b: [true, null] } };
    case '/return/list': return [1, 'two', 3.5];
    case '/return/number': return 42;
    case '/return/none': return null;
    case '/return/custom':
      return {
        statusCode: 201,
        headers: { 'X-One': '1', 'X-Multi': ['a', 'b'], Connection: 'x-hop-out', 'X-Hop-Out': '1' },
        body: 'created',
      };
    case '/return/base64':
      return {
        statusCode: 200,
        headers: { 'Content-Type': 'image/png' },
        body: ALL_BYTES.toString('base64'),
        is_base64: true,
      };
    case '/own/503':
      return { statusCode: 503, headers: { 'Retry-After': '7' }, body: 'down for maintenance' };
    case '/own/204': return { statusCode: 204, headers: { 'X-Deleted': 'yes' } };
    case '/own/404': return { statusCode: 404, body: { missing: true } };
    case '/own/500': return { statusCode: 500, body: 'my own failure' };
    case '/raise': throw new Error('boom');
    case '/type-error': { const nothing = null; return nothing.field; }
    case '/env': return { GREETING: process.env.GREETING };
    case '/body': return Buffer.from(event.body, event.is_base64 ? 'base64' : 'utf8');
    default: return { event, context };
  }
};
"#;

/// The language templates.
#[derive(Clone, Copy, Debug)]
enum Runtime {
    Python,
    Node,
}

impl Runtime {
    fn short(self) -> &'static str {
        match self {
            Runtime::Python => "py",
            Runtime::Node => "node",
        }
    }

    fn echo_code(self) -> &'static str {
        match self {
            Runtime::Python => PYTHON_ECHO,
            Runtime::Node => NODE_ECHO,
        }
    }

    fn body(self, path: &str, code: &str) -> Value {
        match self {
            Runtime::Python => python(path, code),
            Runtime::Node => node(path, code),
        }
    }

    /// How an uncaught `boom` and a type error are named in FUNCTION_ERROR messages.
    fn boom_message(self) -> &'static str {
        match self {
            Runtime::Python => "ValueError: boom",
            Runtime::Node => "Error: boom",
        }
    }
}

/// Deploys `rt`'s echo function with `extra` settings; returns its path.
async fn deploy_echo(app: &TestApp, rt: Runtime, extra: Value) -> String {
    let path = unique(&format!("{}-echo", rt.short()));
    app.deploy_ok(&with(rt.body(&path, rt.echo_code()), extra))
        .await;
    path
}

// ---------------------------------------------------------------------------------------------
// Requests and replies

/// What a caller got back.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .expect("header is text")
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().expect("header is text"))
            .collect()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    /// Asserts the headers the gateway adds to every function response.
    fn assert_gateway_headers(&self) {
        assert!(!self.header("x-request-id").is_empty());
        self.header("x-faas-revision")
            .parse::<u64>()
            .expect("X-Faas-Revision is an integer");
        let cold = self.header("x-faas-cold-start");
        assert!(
            cold == "true" || cold == "false",
            "X-Faas-Cold-Start: {cold}"
        );
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.text();
        let shown: String = text.chars().take(400).collect();
        let more = if shown.len() < text.len() { " …" } else { "" };
        write!(f, "{} {:?} {shown}{more}", self.status, self.headers)
    }
}

async fn send(req: RequestBuilder) -> Reply {
    let resp = req.send().await.expect("request reaches the gateway");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.expect("response body");
    Reply {
        status,
        headers,
        body,
    }
}

/// Sends a request that the echo function answers with `{event, context}`.
async fn echo(req: RequestBuilder) -> (Reply, Value, Value) {
    let reply = send(req).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.assert_gateway_headers();
    let doc = reply.json();
    let (event, context) = (doc["event"].clone(), doc["context"].clone());
    assert!(event.is_object() && context.is_object(), "{doc:#}");
    (reply, event, context)
}

/// A body that streams in `n` chunks (no Content-Length: chunked transfer encoding).
fn chunked(data: &[u8], n: usize) -> reqwest::Body {
    let size = data.len().div_ceil(n).max(1);
    let chunks: Vec<Result<Bytes, std::io::Error>> = data
        .chunks(size)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    reqwest::Body::wrap_stream(futures::stream::iter(chunks))
}

/// `len` deterministic bytes that are not valid UTF-8.
fn binary(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    let mut out: Vec<u8> = (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect();
    if let Some(first) = out.first_mut() {
        *first = 0xff; // never valid in UTF-8
    }
    out
}

fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis(),
    )
    .expect("fits")
}

// ---------------------------------------------------------------------------------------------
// Event and context

async fn handlers_see_every_event_and_context_field(rt: Runtime) {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = deploy_echo(&app, rt, json!({"memory_mb": 192, "timeout_ms": 20000})).await;
    let api = app.url(&format!("/api/{path}"));

    // method
    for method in [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::from_bytes(b"PURGE").expect("an extension method"),
    ] {
        let (_, event, _) = echo(app.client.request(method.clone(), &api)).await;
        assert_eq!(event["method"], method.as_str(), "{event:#}");
    }
    let head = send(app.client.head(&api)).await;
    assert_eq!(head.status, StatusCode::OK, "{head:?}");
    head.assert_gateway_headers();
    assert!(
        head.header("content-type").starts_with("application/json"),
        "{head:?}"
    );
    assert!(head.body.is_empty(), "HEAD has no body: {head:?}");

    // path: `/` when bare, the rest otherwise, percent-encoding as sent
    for (suffix, want) in [
        ("", "/"),
        ("/a/b", "/a/b"),
        ("/a%20b/c%2Fd", "/a%20b/c%2Fd"),
        ("/with/trailing/", "/with/trailing/"),
    ] {
        let (_, event, _) = echo(app.client.get(format!("{api}{suffix}"))).await;
        assert_eq!(event["path"], want, "/api/{path}{suffix}: {event:#}");
    }

    // query: a key once is a string, repeated a list
    let (_, event, _) = echo(app.client.get(format!(
        "{api}/q?one=1&many=a&many=b&many=c&blank=&spaced=x%20y"
    )))
    .await;
    assert_eq!(event["path"], "/q");
    assert_eq!(
        event["query"],
        json!({"one": "1", "many": ["a", "b", "c"], "blank": "", "spaced": "x y"}),
        "{event:#}"
    );
    let (_, event, _) = echo(app.client.get(&api)).await;
    assert_eq!(event["query"], json!({}), "{event:#}");

    // headers
    let rid = format!("trace-{}", unique("rid"));
    let (reply, event, context) = echo(
        app.client
            .get(&api)
            .header("Host", "functions.example.test:8443")
            .header("X-Mixed-Case", "Kept As Is")
            .header("X-Multi", "a")
            .header("X-Multi", "b")
            .header("Cookie", "a=1")
            .header("Cookie", "b=2")
            .header("X-Forwarded-For", "203.0.113.9")
            .header("X-Request-Id", &rid)
            .header("X-Faas-Deadline-Ms", "1")
            .header("Connection", "x-drop-me")
            .header("X-Drop-Me", "1")
            .header("Keep-Alive", "timeout=5")
            .header("TE", "trailers")
            .header("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
    )
    .await;
    let headers = &event["headers"];
    for name in headers.as_object().expect("headers object").keys() {
        assert_eq!(name, &name.to_lowercase(), "{event:#}");
    }
    assert_eq!(headers["x-mixed-case"], "Kept As Is", "{event:#}");
    assert_eq!(headers["x-multi"], "a, b", "{event:#}");
    assert_eq!(headers["cookie"], "a=1; b=2", "{event:#}");
    assert_eq!(
        headers["x-forwarded-for"], "203.0.113.9, 127.0.0.1",
        "{event:#}"
    );
    assert_eq!(
        headers["x-forwarded-host"], "functions.example.test:8443",
        "{event:#}"
    );
    assert_eq!(headers["x-forwarded-proto"], "http", "{event:#}");
    assert_eq!(headers["x-request-id"], rid.as_str(), "{event:#}");
    for gone in [
        "x-faas-deadline-ms",
        "x-drop-me",
        "connection",
        "keep-alive",
        "te",
        "proxy-authorization",
    ] {
        assert!(
            headers.get(gone).is_none(),
            "{gone} reached the function: {event:#}"
        );
    }
    assert_eq!(reply.header("x-request-id"), rid);
    assert_eq!(context["request_id"], rid.as_str(), "{context:#}");
    let deadline = context["deadline_ms"]
        .as_i64()
        .expect("deadline_ms integer");
    assert_ne!(
        deadline, 1,
        "the client's X-Faas-Deadline-Ms must not be trusted"
    );

    // a plain request: forwarded headers from the connection itself, a generated request id
    let before = now_ms();
    let (reply, event, context) = echo(app.client.get(&api)).await;
    let after = now_ms();
    let headers = &event["headers"];
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1", "{event:#}");
    let authority = app.base.trim_start_matches("http://");
    assert_eq!(headers["x-forwarded-host"], authority, "{event:#}");
    assert_eq!(headers["x-forwarded-proto"], "http", "{event:#}");
    assert_eq!(headers["x-request-id"], reply.header("x-request-id"));

    // every context field
    assert_eq!(
        context["request_id"],
        reply.header("x-request-id"),
        "{context:#}"
    );
    assert_eq!(context["function"], path.as_str(), "{context:#}");
    let revision = context["revision"]
        .as_u64()
        .unwrap_or_else(|| panic!("revision is an integer: {context:#}"));
    assert_eq!(
        revision.to_string(),
        reply.header("x-faas-revision"),
        "{context:#}"
    );
    let deadline = context["deadline_ms"]
        .as_i64()
        .unwrap_or_else(|| panic!("deadline_ms is an integer: {context:#}"));
    assert!(
        deadline >= before + 10_000 && deadline <= after + 30_000,
        "deadline_ms {deadline} is not about now ({before}..{after}) + timeout_ms 20000"
    );
    assert_eq!(context["memory_mb"], 192, "{context:#}");

    // a UTF-8 body is text; no body is ""
    assert_eq!(event["body"], "", "{event:#}");
    assert_eq!(event["is_base64"], false, "{event:#}");
    let text = "h\u{e9}llo w\u{f6}rld \u{2713} {\"not\": \"parsed\"}";
    let (_, event, _) = echo(
        app.client
            .post(&api)
            .header("content-type", "application/octet-stream")
            .body(text),
    )
    .await;
    assert_eq!(event["body"], text, "{event:#}");
    assert_eq!(event["is_base64"], false, "{event:#}");
}

#[tokio::test]
async fn python_handlers_see_every_event_and_context_field() {
    handlers_see_every_event_and_context_field(Runtime::Python).await;
}

#[tokio::test]
async fn node_handlers_see_every_event_and_context_field() {
    handlers_see_every_event_and_context_field(Runtime::Node).await;
}

#[tokio::test]
async fn a_trailing_slash_after_the_callback_path_reaches_the_function_as_root() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = deploy_echo(&app, Runtime::Python, json!({})).await;
    for method in [Method::GET, Method::POST] {
        let (_, event, _) = echo(
            app.client
                .request(method.clone(), app.url(&format!("/api/{path}/?k=v")))
                .body("x"),
        )
        .await;
        assert_eq!(event["method"], method.as_str(), "{event:#}");
        assert_eq!(event["path"], "/", "{event:#}");
        assert_eq!(event["query"], json!({"k": "v"}), "{event:#}");
    }
}

#[tokio::test]
async fn a_queued_call_sees_a_deadline_counted_from_its_arrival() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let timeout_ms = 20_000;
    let path = deploy_echo(
        &app,
        Runtime::Python,
        json!({"concurrency": 1, "max_instances": 1, "timeout_ms": timeout_ms}),
    )
    .await;
    let api = app.url(&format!("/api/{path}"));
    // The first call holds the only slot for 4 s; the second arrives meanwhile and queues.
    let hold = tokio::spawn(send(app.client.get(format!("{api}/hold"))));
    wait_for_in_flight(&app, &path, 1).await;
    let arrived = now_ms();
    let (_, _, context) = echo(app.client.get(&api)).await;
    let held = hold.await.expect("first call finishes");
    assert_eq!(held.status, StatusCode::OK, "{held:?}");
    let deadline = context["deadline_ms"]
        .as_i64()
        .unwrap_or_else(|| panic!("deadline_ms is an integer: {context:#}"));
    // Generous: the call queued for ~4 s, so a deadline counted from the end of the queue is
    // ~4 s late; one counted from arrival (SPEC 2.3) is within 1.5 s of it.
    assert!(
        deadline >= arrived - 1 + timeout_ms && deadline <= arrived + timeout_ms + 1_500,
        "deadline_ms {deadline} is {} ms after arrival ({arrived}); want timeout_ms {timeout_ms} \
         (queue time counts toward timeout_ms)",
        deadline - arrived
    );
}

/// Polls `GET /callbacks/<path>` until its instances have `n` calls in flight in total.
async fn wait_for_in_flight(app: &TestApp, path: &str, n: u64) {
    let mut last = Value::Null;
    for _ in 0..500 {
        last = app.callback(path).await;
        let in_flight: u64 = last["instances"]
            .as_array()
            .map(|is| is.iter().filter_map(|i| i["in_flight"].as_u64()).sum())
            .unwrap_or(0);
        if in_flight == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{path} never had {n} calls in flight: {last:#}");
}

// ---------------------------------------------------------------------------------------------
// Bodies

async fn bodies_arrive_whole_binary_chunked_or_large(rt: Runtime) {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = deploy_echo(&app, rt, json!({})).await;
    let api = app.url(&format!("/api/{path}"));

    // not UTF-8 → base64, whatever the content type says
    let bytes = binary(4096);
    let (_, event, _) = echo(
        app.client
            .post(&api)
            .header("content-type", "application/json")
            .body(bytes.clone()),
    )
    .await;
    assert_eq!(event["is_base64"], true, "{event:#}");
    let decoded = B64
        .decode(event["body"].as_str().expect("body is a string"))
        .expect("body is base64");
    assert_eq!(decoded, bytes);

    // a chunked request body arrives whole
    let text = "first chunk,second chunk,third chunk \u{2713}".repeat(50);
    let (_, event, _) = echo(app.client.put(&api).body(chunked(text.as_bytes(), 7))).await;
    assert_eq!(event["method"], "PUT");
    assert_eq!(event["body"], text.as_str(), "{event:#}");
    assert_eq!(event["is_base64"], false, "{event:#}");

    // 3 MiB both ways, with a Content-Length and streamed
    let big = binary(3 << 20);
    for (how, body) in [
        ("content-length", reqwest::Body::from(big.clone())),
        ("chunked", chunked(&big, 48)),
    ] {
        let reply = send(app.client.post(format!("{api}/body")).body(body)).await;
        assert_eq!(reply.status, StatusCode::OK, "{how}: {}", reply.status);
        reply.assert_gateway_headers();
        assert_eq!(reply.header("content-type"), "application/octet-stream");
        assert_eq!(reply.body.len(), big.len(), "{how}: length");
        assert_eq!(sha256(&reply.body), sha256(&big), "{how}: bytes differ");
    }
}

#[tokio::test]
async fn python_bodies_arrive_whole_binary_chunked_or_large() {
    bodies_arrive_whole_binary_chunked_or_large(Runtime::Python).await;
}

#[tokio::test]
async fn node_bodies_arrive_whole_binary_chunked_or_large() {
    bodies_arrive_whole_binary_chunked_or_large(Runtime::Node).await;
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_and_bodies_at_the_limit_pass() {
    let Some(app) = TestApp::spawn_with(|f| f.max_body_bytes = Some(1024)).await else {
        return;
    };
    let (py, nd) = tokio::join!(
        deploy_echo(&app, Runtime::Python, json!({})),
        deploy_echo(&app, Runtime::Node, json!({}))
    );
    for path in [py, nd] {
        let url = app.url(&format!("/api/{path}/body"));
        let over = binary(2048);
        let at = binary(1024);
        for (how, body) in [
            ("content-length", reqwest::Body::from(over.clone())),
            ("chunked", chunked(&over, 8)),
        ] {
            let reply = send(app.client.post(&url).body(body)).await;
            assert_error(
                reply.status,
                &parse(&reply.text()),
                413,
                "PAYLOAD_TOO_LARGE",
            );
            assert!(
                !reply.headers.contains_key("x-faas-error"),
                "{path} {how}: {reply:?}"
            );
            // The instance is still fine: a body at the limit passes, both ways.
            for (how, body) in [
                ("content-length", reqwest::Body::from(at.clone())),
                ("chunked", chunked(&at, 4)),
            ] {
                let reply = send(app.client.post(&url).body(body)).await;
                assert_eq!(reply.status, StatusCode::OK, "{path} {how}: {reply:?}");
                assert_eq!(reply.body.as_ref(), at.as_slice(), "{path} {how}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Return values and errors

async fn return_values_and_errors_become_responses(rt: Runtime) {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = deploy_echo(&app, rt, json!({})).await;
    let get = |suffix: &str| send(app.client.get(app.url(&format!("/api/{path}{suffix}"))));
    let all_bytes: Vec<u8> = (0..=255).collect();

    let r = get("/return/str").await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.assert_gateway_headers();
    assert_eq!(r.header("x-faas-revision"), "1");
    assert!(r.header("content-type").starts_with("text/plain"), "{r:?}");
    assert_eq!(r.text(), "h\u{e9}llo \u{2713}");

    let r = get("/return/bytes").await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.assert_gateway_headers();
    assert_eq!(r.header("content-type"), "application/octet-stream");
    assert_eq!(r.body.as_ref(), all_bytes.as_slice());

    for (suffix, want) in [
        (
            "/return/dict",
            json!({"a": 1, "nested": {"b": [true, null]}}),
        ),
        ("/return/list", json!([1, "two", 3.5])),
        ("/return/number", json!(42)),
        ("/return/none", Value::Null),
    ] {
        let r = get(suffix).await;
        assert_eq!(r.status, StatusCode::OK, "{suffix}: {r:?}");
        r.assert_gateway_headers();
        assert!(
            r.header("content-type").starts_with("application/json"),
            "{suffix}: {r:?}"
        );
        assert_eq!(r.json(), want, "{suffix}");
    }

    // {statusCode, headers, body}: a list value is a repeated header; hop-by-hop ones dropped
    let r = get("/return/custom").await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    r.assert_gateway_headers();
    assert_eq!(r.header("x-one"), "1");
    assert_eq!(r.all("x-multi"), ["a", "b"], "{r:?}");
    assert!(!r.headers.contains_key("x-hop-out"), "{r:?}");
    assert_eq!(r.text(), "created");

    let r = get("/return/base64").await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.header("content-type"), "image/png");
    assert_eq!(r.body.as_ref(), all_bytes.as_slice());

    // a handler's own error responses pass through untouched
    let r = get("/own/503").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{r:?}");
    r.assert_gateway_headers();
    assert_eq!(r.header("retry-after"), "7");
    assert_eq!(r.text(), "down for maintenance");
    assert!(!r.headers.contains_key("x-faas-error"), "{r:?}");
    let r = get("/own/204").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    r.assert_gateway_headers();
    assert_eq!(r.header("x-deleted"), "yes");
    assert!(r.body.is_empty(), "{r:?}");
    let r = get("/own/404").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
    assert!(r.header("content-type").starts_with("application/json"));
    assert_eq!(r.json(), json!({"missing": true}));
    assert!(!r.headers.contains_key("x-faas-error"), "{r:?}");
    let r = get("/own/500").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{r:?}");
    assert_eq!(r.text(), "my own failure");
    assert!(!r.headers.contains_key("x-faas-error"), "{r:?}");

    // an exception is a FUNCTION_ERROR naming its type, and the next call is served
    let r = get("/raise").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{r:?}");
    r.assert_gateway_headers();
    assert_eq!(r.header("x-faas-error"), "FUNCTION_ERROR");
    assert_eq!(
        r.json(),
        json!({"error": {"code": "FUNCTION_ERROR", "message": rt.boom_message()}})
    );
    let r = get("/type-error").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{r:?}");
    assert_eq!(r.header("x-faas-error"), "FUNCTION_ERROR");
    let body = r.json();
    assert_eq!(body["error"]["code"], "FUNCTION_ERROR", "{body:#}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("TypeError: ") && m.len() > "TypeError: ".len()),
        "{body:#}"
    );
    let r = get("/return/str").await;
    assert_eq!(r.status, StatusCode::OK, "after errors: {r:?}");
    assert!(!r.headers.contains_key("x-faas-error"), "{r:?}");
}

#[tokio::test]
async fn python_return_values_and_errors_become_responses() {
    return_values_and_errors_become_responses(Runtime::Python).await;
}

#[tokio::test]
async fn node_return_values_and_errors_become_responses() {
    return_values_and_errors_become_responses(Runtime::Node).await;
}

// ---------------------------------------------------------------------------------------------
// Multi-file code, env, async handlers, concurrency

/// Deploys `files` with handler `pkg.mod.handle` and two env vars, then calls it.
async fn multi_file_handlers_import_siblings_and_read_env(rt: Runtime, files: Value) {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique(&format!("{}-multi", rt.short()));
    let runtime = match rt {
        Runtime::Python => "python",
        Runtime::Node => "node",
    };
    app.deploy_ok(&json!({
        "path": path, "runtime": runtime, "files": files, "handler": "pkg.mod.handle",
        "env": {"GREETING": "hi from env", "EMPTY_OK": ""}
    }))
    .await;
    let r = send(app.client.get(app.url(&format!("/api/{path}?word=hey")))).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.assert_gateway_headers();
    assert_eq!(
        r.json(),
        json!({
            "shout": "HEY!", "greeting": "hi from env", "empty": "",
            "data": "from a data file", "awaited": true
        })
    );
}

#[tokio::test]
async fn python_async_handlers_in_packages_import_siblings_and_read_env() {
    let files = json!({
        "handler.py": "def handle(event, context):\n    return 'the wrong module'\n",
        "pkg/helper.py": "def shout(word):\n    return word.upper() + '!'\n",
        "pkg/data.txt": "from a data file\n",
        "pkg/mod.py": r#"import asyncio
import os

from . import helper


async def handle(event, context):
    await asyncio.sleep(0.01)
    with open("pkg/data.txt", encoding="utf-8") as f:
        data = f.read().strip()
    return {"shout": helper.shout(event["query"]["word"]), "greeting": os.environ["GREETING"],
            "empty": os.environ["EMPTY_OK"], "data": data, "awaited": True}
"#,
    });
    multi_file_handlers_import_siblings_and_read_env(Runtime::Python, files).await;
}

#[tokio::test]
async fn node_handlers_in_packages_import_siblings_and_read_env() {
    let files = json!({
        "handler.js": "exports.handle = () => 'the wrong module';\n",
        "pkg/helper.js": "exports.shout = (word) => word.toUpperCase() + '!';\n",
        "pkg/data.txt": "from a data file\n",
        "pkg/mod.js": r#"'use strict';
const fs = require('fs');
const helper = require('./helper');

// A plain (not async) function: the echo functions cover async ones.
exports.handle = function handle(event, context) {
  return {
    shout: helper.shout(event.query.word),
    greeting: process.env.GREETING,
    empty: process.env.EMPTY_OK,
    data: fs.readFileSync('pkg/data.txt', 'utf8').trim(),
    awaited: true,
  };
};
"#,
    });
    multi_file_handlers_import_siblings_and_read_env(Runtime::Node, files).await;
}

#[tokio::test]
async fn python_sync_handlers_serve_calls_concurrently() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("py-conc");
    // Each call waits at a barrier for all four: it only opens if the calls overlap, so
    // serialised calls fail (BrokenBarrierError → 500) rather than merely run slowly.
    let code = r#"import threading

barrier = threading.Barrier(4)


def handle(event, context):
    barrier.wait(timeout=15)
    return {"thread": threading.get_ident()}
"#;
    app.deploy_ok(&with(
        python(&path, code),
        json!({"concurrency": 4, "max_instances": 1}),
    ))
    .await;
    let url = app.url(&format!("/api/{path}"));
    let calls = (0..4).map(|_| send(app.client.get(&url).timeout(Duration::from_secs(60))));
    let replies = futures::future::join_all(calls).await;
    let mut threads = HashSet::new();
    let mut cold = 0;
    for r in &replies {
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        r.assert_gateway_headers();
        threads.insert(r.json()["thread"].to_string());
        if r.header("x-faas-cold-start") == "true" {
            cold += 1;
        }
    }
    assert_eq!(threads.len(), 4, "four calls, four threads: {replies:?}");
    assert!(
        cold <= 1,
        "{cold} cold starts for one warm instance: {replies:?}"
    );
}
