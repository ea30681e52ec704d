//! Async invocations on the stand-in backend: what is refused before anything is queued
//! (where the result may be POSTed), and the failed invocation's error.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{CODE, TestApp, assert_error, parse, python, unique};

async fn call_async(
    app: &TestApp,
    path: &str,
    rest: &str,
    callback_url: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .post(app.url(&format!("/api/{path}{rest}")))
        .header("prefer", "respond-async")
        .body("payload");
    if let Some(url) = callback_url {
        req = req.header("x-callback-url", url);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status();
    (status, parse(&resp.text().await.expect("text")))
}

async fn finished(app: &TestApp, id: &str) -> Value {
    for _ in 0..200 {
        let (_, inv) = app.get_json(&format!("/invocations/{id}")).await;
        if matches!(inv["status"].as_str(), Some("succeeded" | "failed")) {
            return inv;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("invocation {id} never finished");
}

#[tokio::test]
async fn callback_urls_that_are_not_http_or_reach_denied_addresses_are_refused_before_queueing() {
    let app = TestApp::spawn().await;
    let path = unique("hooks");
    app.deploy_ok(&python(&path, CODE)).await;
    for bad in [
        "ftp://example.com/hook",
        "not a url",
        "http://169.254.169.254/latest/meta-data",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:169.254.169.254]/",
    ] {
        let (status, body) = call_async(&app, &path, "/", Some(bad)).await;
        assert_error(status, &body, 400, "INVALID_REQUEST");
        assert_eq!(
            body["error"]["details"]["header"], "X-Callback-Url",
            "{bad}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("X-Callback-Url")),
            "{body:#}"
        );
    }
}

#[tokio::test]
async fn a_name_that_resolves_to_a_denied_address_is_refused_too() {
    let app = TestApp::spawn_with(|f| f.callback_deny = Some("127.0.0.0/8,::1/128".into())).await;
    let path = unique("resolved");
    app.deploy_ok(&python(&path, CODE)).await;
    let (status, body) = call_async(&app, &path, "/", Some("http://localhost:9/hook")).await;
    assert_error(status, &body, 400, "INVALID_REQUEST");
}

#[tokio::test]
async fn a_failed_invocation_always_has_error_details() {
    let app = TestApp::spawn().await;
    let path = unique("raises");
    app.deploy_ok(&python(&path, CODE)).await;
    let (status, accepted) = call_async(&app, &path, "/raise", None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted:#}");
    let inv = finished(&app, accepted["id"].as_str().expect("an id")).await;
    assert_eq!(inv["status"], "failed", "{inv:#}");
    assert_eq!(inv["error"]["code"], "FUNCTION_ERROR");
    assert!(inv["error"]["details"].is_object(), "{inv:#}");

    let (_, accepted) = call_async(&app, &path, "/exit/4", None).await;
    let inv = finished(&app, accepted["id"].as_str().expect("an id")).await;
    assert_eq!(inv["error"]["code"], "FUNCTION_CRASHED", "{inv:#}");
    assert_eq!(inv["error"]["details"]["exit_code"], 4);
}

#[tokio::test]
async fn a_callback_url_that_redirects_is_not_followed() {
    use axum::routing::post;
    let app = TestApp::spawn_with(|f| f.callback_deny = Some("169.254.0.0/16".into())).await;
    let path = unique("redirected");
    app.deploy_ok(&python(&path, CODE)).await;
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let counted = std::sync::Arc::clone(&hits);
    let router = axum::Router::new()
        .route(
            "/hook",
            post(|| async { (StatusCode::TEMPORARY_REDIRECT, [("location", "/elsewhere")]) }),
        )
        .route(
            "/elsewhere",
            post(move || {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async { StatusCode::OK }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });
    let url = format!("http://{addr}/hook");
    let (status, accepted) = call_async(&app, &path, "/", Some(&url)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = accepted["id"].as_str().expect("an id").to_owned();
    finished(&app, &id).await;
    // The first delivery attempt has had time to be made and answered with the redirect.
    for _ in 0..100 {
        let (_, inv) = app.get_json(&format!("/invocations/{id}")).await;
        if inv["callback_attempts"].as_u64().unwrap_or(0) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the redirect's target was never called"
    );
}
