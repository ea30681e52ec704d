//! Bad input gets a clear 4xx naming the field; unknown things their 404s; the operations
//! routes answer.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, assert_error, parse, python, unique};

#[tokio::test]
async fn each_invalid_field_is_named_in_a_422() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .deploy(&json!({
            "path": "Not_A_Label", "runtime": "cobol", "code": "x", "memory_mb": 1,
            "env": {"FAAS_SECRET": "x"}, "surprise": true
        }))
        .await;
    assert_error(status, &body, 422, "VALIDATION_FAILED");
    let fields = body["error"]["details"]["fields"]
        .as_object()
        .expect("fields");
    for f in [
        "path",
        "runtime",
        "memory_mb",
        "env.FAAS_SECRET",
        "surprise",
    ] {
        assert!(fields.contains_key(f), "{f} not named: {body:#}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_or_not_an_object_is_a_400() {
    let app = TestApp::spawn().await;
    let resp = app
        .client
        .post(app.url("/callback/deploy"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    let status = resp.status();
    assert_error(
        status,
        &parse(&resp.text().await.expect("text")),
        400,
        "INVALID_REQUEST",
    );
    let (status, body) = app.deploy(&json!(["a"])).await;
    assert_error(status, &body, 400, "INVALID_REQUEST");
    let resp = app
        .client
        .post(app.url("/callback/deploy"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_deploy_body_over_twice_the_source_limit_is_a_413() {
    let app = TestApp::spawn_with(|f| f.max_code_bytes = Some(1000)).await;
    let (status, body) = app.deploy(&python("big", &"#".repeat(2500))).await;
    assert_error(status, &body, 413, "PAYLOAD_TOO_LARGE");
    let (status, body) = app.deploy(&python("big", &"#".repeat(1500))).await;
    assert_error(status, &body, 422, "VALIDATION_FAILED");
    assert!(
        body["error"]["details"]["fields"]["code"].is_string(),
        "{body:#}"
    );
}

#[tokio::test]
async fn unknown_callbacks_and_routes_are_404s_with_their_codes() {
    let app = TestApp::spawn().await;
    let path = unique("ghost");
    let (status, body) = app.get_json(&format!("/callbacks/{path}")).await;
    assert_error(status, &body, 404, "CALLBACK_NOT_FOUND");
    let (status, _, text) = app
        .request(Method::GET, &format!("/api/{path}"), None)
        .await;
    assert_error(status, &parse(&text), 404, "CALLBACK_NOT_FOUND");
    let (status, _, text) = app
        .request(Method::DELETE, &format!("/callbacks/{path}"), None)
        .await;
    assert_error(status, &parse(&text), 404, "CALLBACK_NOT_FOUND");
    let (status, body) = app.get_json("/no/such/route").await;
    assert_error(status, &body, 404, "ROUTE_NOT_FOUND");
    let (status, body) = app
        .deploy(&json!({"path": path, "action": "undeploy"}))
        .await;
    assert_error(status, &body, 404, "CALLBACK_NOT_FOUND");
}

#[tokio::test]
async fn every_response_carries_the_request_id_it_was_given() {
    let app = TestApp::spawn().await;
    let resp = app
        .client
        .get(app.url("/callbacks/nope"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.headers()["x-request-id"], "trace-me-42");
    let body = parse(&resp.text().await.expect("text"));
    assert_eq!(body["request_id"], "trace-me-42");
    let resp = app
        .client
        .get(app.url("/health"))
        .send()
        .await
        .expect("send");
    assert!(resp.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn health_ready_and_openapi_answer() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get_json("/health").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, body) = app.get_json("/ready").await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["checks"]["database"]["ok"], true);
    assert_eq!(body["checks"]["docker"]["ok"], true);
    assert!(
        body["checks"].get("kubernetes").is_none(),
        "unconfigured backends are omitted"
    );
    let (status, doc) = app.get_json("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for route in [
        "/callback/deploy",
        "/callbacks",
        "/callbacks/{path}",
        "/health",
        "/ready",
    ] {
        assert!(
            doc["paths"].get(route).is_some(),
            "{route} missing from the document"
        );
    }
}

#[tokio::test]
async fn ready_is_503_naming_docker_when_the_daemon_is_unreachable() {
    let app = TestApp::spawn().await;
    app.docker.set_unavailable(true);
    let (status, body) = app.get_json("/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body:#}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"]["docker"]["ok"], false);
    assert!(body["checks"]["docker"]["error"].is_string());
    let (status, body) = app
        .deploy(&python(
            &unique("nodaemon"),
            "def handle(e, c):\n    return 1\n",
        ))
        .await;
    assert_error(status, &body, 503, "BACKEND_UNAVAILABLE");
}

#[tokio::test]
async fn a_kubernetes_deploy_without_a_configured_cluster_names_the_backend_field() {
    let app = TestApp::spawn_with(|f| f.kubernetes = Some(false)).await;
    let mut body = python(&unique("nocluster"), "def handle(e, c):\n    return 1\n");
    body["backend"] = json!("kubernetes");
    let (status, body) = app.deploy(&body).await;
    assert_error(status, &body, 422, "VALIDATION_FAILED");
    let reason = body["error"]["details"]["fields"]["backend"]
        .as_str()
        .expect("backend named");
    assert!(reason.contains("kubernetes"), "{reason}");
}

#[tokio::test]
async fn a_route_asked_with_another_method_is_405_listing_the_methods_it_takes() {
    let app = TestApp::spawn().await;
    for (method, path, allowed) in [
        ("TRACE", "/ready", "GET"),
        ("DELETE", "/health", "GET"),
        ("PUT", "/callback/deploy", "POST"),
        ("POST", "/callbacks/x", "GET"),
    ] {
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        let resp = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .expect("send");
        let status = resp.status();
        let allow = resp
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = parse(&resp.text().await.expect("text"));
        assert_error(status, &body, 405, "METHOD_NOT_ALLOWED");
        assert!(allow.contains(allowed), "{method} {path}: Allow: {allow:?}");
    }
}
