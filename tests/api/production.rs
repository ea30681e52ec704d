//! Async invocations through real functions: accepted at once, run, read later, delivered.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, parse, python, unique, with};

const WORK_PY: &str = r#"import time

def handle(event, context):
    p = event["path"]
    if p == "/raise":
        raise KeyError("missing")
    if p == "/busy":
        return {"statusCode": 503, "body": "come back later"}
    if p == "/slow":
        time.sleep(30)
    return {"echo": event["body"], "auth": event["headers"].get("authorization")}
"#;

async fn call_async(
    app: &TestApp,
    path: &str,
    rest: &str,
    body: &str,
    callback: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = app
        .client
        .post(app.url(&format!("/api/{path}{rest}")))
        .header("prefer", "respond-async")
        .body(body.to_owned());
    if let Some(url) = callback {
        req = req.header("x-callback-url", url);
    }
    let resp = req.send().await.expect("send");
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, parse(&resp.text().await.expect("text")))
}

async fn finished(app: &TestApp, id: &str) -> Value {
    let mut inv = Value::Null;
    for _ in 0..300 {
        let (status, body) = app.get_json(&format!("/invocations/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body:#}");
        inv = body;
        if inv["status"] == "succeeded" || inv["status"] == "failed" {
            return inv;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("invocation never finished: {inv:#}");
}

#[tokio::test]
async fn an_async_call_is_accepted_at_once_and_its_result_read_later() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("later");
    app.deploy_ok(&with(python(&path, WORK_PY), json!({"timeout_ms": 2000})))
        .await;
    let (status, headers, body) = call_async(&app, &path, "/", "payload", None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body:#}");
    let id = body["id"].as_str().expect("id").to_owned();
    assert_eq!(body["status"], "queued");
    assert_eq!(headers["location"], format!("/invocations/{id}"));
    let inv = finished(&app, &id).await;
    assert_eq!(inv["status"], "succeeded", "{inv:#}");
    assert_eq!(inv["response"]["status"], 200);
    assert_eq!(inv["response"]["body_encoding"], "utf8");
    let echoed: Value =
        serde_json::from_str(inv["response"]["body"].as_str().expect("body")).expect("json");
    assert_eq!(echoed["echo"], "payload");
    assert_eq!(
        (inv["attempts"].as_u64(), inv["retried"].as_bool()),
        (Some(1), Some(false))
    );
    assert!(inv["finished_at"].is_string() && inv["started_at"].is_string());

    // A response the function chose is a success, even a 5xx; an exception or a timeout fails.
    let (_, _, busy) = call_async(&app, &path, "/busy", "", None).await;
    let (_, _, raised) = call_async(&app, &path, "/raise", "", None).await;
    let (_, _, slow) = call_async(&app, &path, "/slow", "", None).await;
    let busy = finished(&app, busy["id"].as_str().expect("id")).await;
    assert_eq!(
        (busy["status"].as_str(), busy["response"]["status"].as_u64()),
        (Some("succeeded"), Some(503))
    );
    let raised = finished(&app, raised["id"].as_str().expect("id")).await;
    assert_eq!(raised["status"], "failed");
    assert_eq!(raised["error"]["code"], "FUNCTION_ERROR");
    assert_eq!(raised["error"]["message"], "KeyError: 'missing'");
    let slow = finished(&app, slow["id"].as_str().expect("id")).await;
    assert_eq!(
        (slow["status"].as_str(), slow["error"]["code"].as_str()),
        (Some("failed"), Some("FUNCTION_TIMEOUT"))
    );
}

#[tokio::test]
async fn async_calls_to_callbacks_that_cannot_take_them_fail_before_queueing() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let ghost = unique("ghost");
    let (status, _, body) = call_async(&app, &ghost, "/", "", None).await;
    assert_error(status, &body, 404, "CALLBACK_NOT_FOUND");
    let path = unique("gone");
    app.deploy_ok(&python(&path, WORK_PY)).await;
    app.deploy_ok(&json!({"path": path, "action": "undeploy"}))
        .await;
    let (status, _, body) = call_async(&app, &path, "/", "", None).await;
    assert_error(status, &body, 404, "CALLBACK_NOT_DEPLOYED");
    let (status, body) = app
        .get_json("/invocations/00000000-0000-0000-0000-000000000000")
        .await;
    assert_error(status, &body, 404, "INVOCATION_NOT_FOUND");
}

/// A receiver that fails its first `failures` deliveries, recording every body it gets.
async fn receiver(failures: usize) -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state = Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let state = Arc::clone(&state);
            async move {
                let mut seen = state.lock().expect("lock");
                seen.push(body);
                if seen.len() <= failures {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), seen)
}

#[tokio::test]
async fn the_result_is_posted_to_the_callback_url_with_retries() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("hook");
    app.deploy_ok(&python(&path, WORK_PY)).await;
    let (url, seen) = receiver(2).await;
    let (status, _, body) = call_async(&app, &path, "/", "for the hook", Some(&url)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = body["id"].as_str().expect("id").to_owned();
    finished(&app, &id).await;
    for _ in 0..200 {
        if seen.lock().expect("lock").len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(
        seen.len(),
        3,
        "two failures, then delivered once: {seen:#?}"
    );
    for doc in &seen {
        assert_eq!(
            (doc["id"].as_str(), doc["status"].as_str()),
            (Some(id.as_str()), Some("succeeded"))
        );
    }
}
