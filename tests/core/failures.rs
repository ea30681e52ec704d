//! What goes wrong with instances, as calls and the record see it (SPEC 3), on the stand-in
//! backend: crashes at start and while serving, crash loops, full queues, timeouts, a backend
//! that is gone.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{CODE, TestApp, assert_error, parse, python, unique, with};

/// A serving callback with `extra` settings, and its first instance's id.
async fn serving(app: &TestApp, name: &str, extra: serde_json::Value) -> (String, String) {
    let path = unique(name);
    let cb = app.deploy_ok(&with(python(&path, CODE), extra)).await;
    let id = app.docker.running(&path).pop().expect("an instance");
    assert_eq!(cb["instances"][0]["id"], id.as_str());
    (path, id)
}

#[tokio::test]
async fn an_instance_that_exits_under_a_call_is_function_crashed_with_its_code_and_replaced() {
    let app = TestApp::spawn().await;
    let (path, _) = serving(&app, "exits", json!({})).await;
    let (status, _, text) = app.call(&path, "/exit/3").await;
    let body = parse(&text);
    assert_error(status, &body, 502, "FUNCTION_CRASHED");
    assert_eq!(body["error"]["details"]["exit_code"], 3);
    assert!(text.contains("while serving"), "{text}");
    let cb = app
        .wait_for(&path, "last_error", |cb| {
            cb["last_error"]["details"]["log"].is_string()
        })
        .await;
    assert_eq!(cb["last_error"]["code"], "FUNCTION_CRASHED");
    assert_eq!(cb["last_error"]["details"]["exit_code"], 3);
    let (status, headers, _) = app.call(&path, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers["x-faas-cold-start"], "true",
        "a new instance took over"
    );
}

#[tokio::test]
async fn an_instance_killed_for_its_memory_is_function_oom_killed() {
    let app = TestApp::spawn().await;
    let (path, _) = serving(&app, "oom", json!({"memory_mb": 64})).await;
    let (status, _, text) = app.call(&path, "/oom").await;
    let body = parse(&text);
    assert_error(status, &body, 502, "FUNCTION_OOM_KILLED");
    assert!(text.contains("64 MB"), "{text}");
}

#[tokio::test]
async fn a_cold_start_that_exits_reports_the_functions_own_code_while_starting() {
    let app = TestApp::spawn().await;
    let (path, _) = serving(
        &app,
        "cold",
        json!({"idle_timeout_s": 1, "keep_paused_s": 0}),
    )
    .await;
    app.wait_for(&path, "scale to zero", |cb| cb["state"] == "idle")
        .await;
    // Its code now exits with 7 at import (`sys.exit(7)`).
    app.docker.crash_starts(&path, Some(7));
    let (status, _, text) = app.call(&path, "/").await;
    let body = parse(&text);
    assert_error(status, &body, 502, "FUNCTION_CRASHED");
    assert_eq!(body["error"]["details"]["exit_code"], 7, "{body:#}");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("while starting"), "{message}");
    let cb = app.callback(&path).await;
    assert_eq!(cb["last_error"]["details"]["exit_code"], 7, "{cb:#}");

    // A deploy whose start exits says the same, as STARTUP_FAILED.
    let (status, body) = app
        .deploy(&with(python(&path, CODE), json!({"memory_mb": 128})))
        .await;
    assert_error(status, &body, 422, "STARTUP_FAILED");
    assert_eq!(body["error"]["details"]["exit_code"], 7);
}

#[tokio::test]
async fn three_crashes_within_a_minute_are_a_crash_loop_answered_at_once() {
    let app = TestApp::spawn().await;
    let (path, _) = serving(&app, "looping", json!({"max_instances": 1})).await;
    for _ in 0..3 {
        let (status, _, text) = app.call(&path, "/exit/1").await;
        let body = parse(&text);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert_error(status, &body, 503, "FUNCTION_CRASH_LOOP");
            break;
        }
        assert_error(status, &body, 502, "FUNCTION_CRASHED");
    }
    let (status, headers, text) = app.call(&path, "/exit/1").await;
    assert_error(status, &parse(&text), 503, "FUNCTION_CRASH_LOOP");
    let retry: u64 = headers["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!(retry >= 1);
    let cb = app.callback(&path).await;
    assert_eq!(cb["state"], "crash_loop");
    // The back-off passes and a start succeeds: the loop is over.
    tokio::time::sleep(Duration::from_secs(retry)).await;
    let mut ok = false;
    for _ in 0..100 {
        if app.call(&path, "/").await.0 == StatusCode::OK {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "the callback serves again after its back-off");
    app.wait_for(&path, "the loop to end", |cb| cb["state"] == "ready")
        .await;
}

#[tokio::test]
async fn a_full_queue_answers_429_with_retry_after() {
    let app = TestApp::spawn_with(|f| f.queue_len = Some(1)).await;
    let (path, _) = serving(
        &app,
        "queue",
        json!({"concurrency": 1, "max_instances": 1, "timeout_ms": 5000}),
    )
    .await;
    let busy = app.call(&path, "/sleep/1500");
    let queued = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        app.call(&path, "/sleep/10").await
    };
    let refused = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        app.call(&path, "/").await
    };
    let ((s1, _, _), (s2, _, _), (s3, headers, text)) = tokio::join!(busy, queued, refused);
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_error(s3, &parse(&text), 429, "TOO_MANY_REQUESTS");
    assert!(headers.contains_key("retry-after"));
}

#[tokio::test]
async fn a_call_past_its_timeout_is_504_and_the_instance_is_replaced() {
    let app = TestApp::spawn().await;
    let (path, id) = serving(&app, "slow", json!({"timeout_ms": 300})).await;
    let (status, _, text) = app.call(&path, "/sleep/5000").await;
    let body = parse(&text);
    assert_error(status, &body, 504, "FUNCTION_TIMEOUT");
    assert_eq!(body["error"]["details"]["timeout_ms"], 300);
    let (status, _, echoed) = app.call(&path, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!echoed.contains(&id), "another instance answered: {echoed}");
}

#[tokio::test]
async fn calls_and_deploys_answer_backend_unavailable_while_it_is_gone() {
    let app = TestApp::spawn().await;
    let (path, _) = serving(&app, "cut", json!({"idle_timeout_s": 1})).await;
    app.wait_for(&path, "scale to zero", |cb| cb["state"] == "idle")
        .await;
    app.docker.set_unavailable(true);
    let (status, _, text) = app.call(&path, "/").await;
    assert_error(status, &parse(&text), 503, "BACKEND_UNAVAILABLE");
    app.docker.set_unavailable(false);
    let (status, headers, _) = app.call(&path, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-faas-cold-start"], "true");
}
