//! `mode: job`: one fresh container per call, run to completion, removed afterwards.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_error, node, parse, python, unique, wait_for_containers, with,
};

const JOB_PY: &str = r#"import os, time

def handle(event, context):
    p = event["path"]
    if p == "/exit":
        os._exit(3)
    if p == "/raise":
        raise ValueError("bad input")
    if p == "/oom":
        return len(bytearray(512 * 1024 * 1024))
    if p == "/slow":
        time.sleep(60)
    if p == "/size":
        return {"bytes": len(event["body"])}
    return {"event": event, "context": context, "pid": os.getpid()}
"#;

fn job(body: Value) -> Value {
    with(
        body,
        json!({"mode": "job", "timeout_ms": 8000, "memory_mb": 64}),
    )
}

#[tokio::test]
async fn a_python_job_runs_in_a_fresh_container_per_call_and_sees_the_full_event() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("pyjob");
    let cb = app.deploy_ok(&job(python(&path, JOB_PY))).await;
    assert_eq!(
        (cb["state"].as_str(), cb["mode"].as_str()),
        (Some("ready"), Some("job"))
    );
    assert_eq!(cb["instances"], json!([]));
    assert!(
        app.containers().is_empty(),
        "the deploy check leaves nothing running"
    );

    let resp = app
        .client
        .post(app.url(&format!("/api/{path}/a/b?x=1&x=2&y=z")))
        .header("x-request-id", "job-req-1")
        .header("cookie", "a=1")
        .header("x-multi", "one")
        .body("héllo")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-faas-cold-start"], "true");
    assert_eq!(resp.headers()["x-faas-revision"], "1");
    assert_eq!(resp.headers()["x-request-id"], "job-req-1");
    let body: Value = resp.json().await.expect("json");
    let event = &body["event"];
    assert_eq!(event["method"], "POST");
    assert_eq!(event["path"], "/a/b");
    assert_eq!(event["query"], json!({"x": ["1", "2"], "y": "z"}));
    assert_eq!(event["body"], "héllo");
    assert_eq!(event["is_base64"], false);
    assert_eq!(event["headers"]["cookie"], "a=1");
    assert_eq!(event["headers"]["x-request-id"], "job-req-1");
    assert!(event["headers"].get("x-faas-deadline-ms").is_none());
    let ctx = &body["context"];
    assert_eq!(
        (ctx["request_id"].as_str(), ctx["function"].as_str()),
        (Some("job-req-1"), Some(path.as_str()))
    );
    assert_eq!(
        (ctx["revision"].as_u64(), ctx["memory_mb"].as_u64()),
        (Some(1), Some(64))
    );
    assert!(
        ctx["deadline_ms"]
            .as_i64()
            .is_some_and(|d| d > chrono::Utc::now().timestamp_millis())
    );

    let bin = app
        .client
        .put(app.url(&format!("/api/{path}")))
        .body(vec![0xffu8, 0, 1])
        .send()
        .await
        .expect("send");
    let body: Value = bin.json().await.expect("json");
    assert_eq!(
        (
            body["event"]["body"].as_str(),
            body["event"]["is_base64"].as_bool()
        ),
        (Some("/wAB"), Some(true))
    );
    assert_eq!(body["event"]["path"], "/");
    wait_for_containers(&app, 0).await;
    assert_eq!(
        app.callback(&path).await["state"],
        "ready",
        "job callbacks are never idle"
    );
}

#[tokio::test]
async fn a_node_job_returns_its_status_headers_and_binary_body() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("nodejob");
    let code = "exports.handle = async (event) => ({statusCode: 202, headers: {'x-kind': 'job'}, body: Buffer.from([0, 255, 7]).toString('base64'), is_base64: true});\n";
    app.deploy_ok(&job(node(&path, code))).await;
    let resp = app
        .client
        .get(app.url(&format!("/api/{path}")))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(resp.headers()["x-kind"], "job");
    assert_eq!(resp.bytes().await.expect("bytes").as_ref(), &[0u8, 255, 7]);
}

#[tokio::test]
async fn job_failures_map_to_the_same_codes_as_services() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("jobfail");
    app.deploy_ok(&job(python(&path, JOB_PY))).await;
    let call = |rest: &'static str| {
        let app = &app;
        let path = path.clone();
        async move {
            let (status, headers, text) = app
                .request(Method::GET, &format!("/api/{path}{rest}"), None)
                .await;
            (status, headers, parse(&text))
        }
    };
    let (status, headers, body) = call("/raise").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(headers["x-faas-error"], "FUNCTION_ERROR");
    assert_eq!(body["error"]["code"], "FUNCTION_ERROR");
    assert_eq!(body["error"]["message"], "ValueError: bad input");

    let (status, _, body) = call("/exit").await;
    assert_error(status, &body, 502, "FUNCTION_CRASHED");
    assert_eq!(body["error"]["details"]["exit_code"], 3);

    let (status, _, body) = call("/oom").await;
    assert_error(status, &body, 502, "FUNCTION_OOM_KILLED");

    let (status, _, body) = call("/").await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    wait_for_containers(&app, 0).await;
}

#[tokio::test]
async fn a_job_past_its_timeout_is_504_and_its_container_is_removed() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("jobslow");
    app.deploy_ok(&with(
        job(python(&path, JOB_PY)),
        json!({"timeout_ms": 3000}),
    ))
    .await;
    let (status, _, text) = app
        .request(Method::GET, &format!("/api/{path}/slow"), None)
        .await;
    assert_error(status, &parse(&text), 504, "FUNCTION_TIMEOUT");
    wait_for_containers(&app, 0).await;
}

#[tokio::test]
async fn a_large_job_event_travels_in_a_file() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("jobbig");
    app.deploy_ok(&job(python(&path, JOB_PY))).await;
    let big = "x".repeat(300 * 1024);
    let resp = app
        .client
        .post(app.url(&format!("/api/{path}/size")))
        .body(big.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["bytes"], big.len());
}

#[tokio::test]
async fn a_job_whose_handler_does_not_import_fails_its_deploy() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("jobbad");
    let (status, body) = app
        .deploy(&job(python(
            &path,
            "import no_such_module\n\ndef handle(e, c):\n    return 1\n",
        )))
        .await;
    assert_error(status, &body, 422, "STARTUP_FAILED");
    assert!(
        body["error"]["details"]["log"]
            .as_str()
            .expect("log")
            .contains("ModuleNotFoundError"),
        "{body:#}"
    );
    assert!(app.containers().is_empty());
}
