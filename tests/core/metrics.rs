//! `/metrics` counts what happened, with the contract's labels.

use reqwest::{Method, StatusCode};

use crate::helpers::{CODE, TestApp, python, unique};

/// The value of the first line of `text` starting with `line_start`.
fn metric(text: &str, line_start: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_count_known_traffic() {
    let app = TestApp::spawn().await;
    let path = unique("counted");
    app.deploy_ok(&python(&path, CODE)).await;
    for _ in 0..3 {
        assert_eq!(app.call(&path, "/").await.0, StatusCode::OK);
    }
    assert_eq!(
        app.call(&path, "/raise").await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        app.call(&path, "/status/503").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let (status, _, text) = app.request(Method::GET, "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    let p = format!("path=\"{path}\"");
    let count = |name: &str| metric(&text, &format!("{name}{{{p}"));
    assert_eq!(
        metric(
            &text,
            &format!("faas_invocations_total{{{p},status=\"200\"}}")
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            &format!("faas_invocations_total{{{p},status=\"500\"}}")
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &text,
            &format!("faas_invocation_errors_total{{{p},code=\"FUNCTION_ERROR\"}}")
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, &format!("faas_invocation_errors_total{{{p},code=\"")),
        Some(1.0),
        "a function's own 503 is no error"
    );
    assert_eq!(count("faas_invocation_duration_seconds_count"), Some(5.0));
    assert_eq!(
        metric(&text, &format!("faas_instances{{{p},state=\"ready\"}}")),
        Some(1.0)
    );
    assert_eq!(count("faas_queue_depth"), Some(0.0));
    assert_eq!(
        metric(
            &text,
            "faas_http_requests_total{route=\"/callback/deploy\",status=\"201\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, "faas_builds_total{result=\"success\"}"),
        Some(1.0)
    );
}
