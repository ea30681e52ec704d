//! Paused instances (SPEC 2.1): idleness pauses a callback's last instance instead of stopping
//! it; a call resumes it; it is stopped after `keep_paused_s`, removed with the callback, gone
//! when it disappears behind the gateway's back, and adopted by a restarted gateway.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{CODE, TestApp, python, unique, with};

/// `keep_paused_s` aside, what makes a callback scale to zero as soon as the scaler looks.
fn scales_to_zero(path: &str, keep_paused_s: u64) -> Value {
    with(
        python(path, CODE),
        json!({"min_instances": 0, "idle_timeout_s": 1, "keep_paused_s": keep_paused_s}),
    )
}

fn states(cb: &Value) -> Vec<String> {
    cb["instances"]
        .as_array()
        .map(|is| {
            is.iter()
                .map(|i| i["state"].as_str().unwrap_or("?").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn paused_only(cb: &Value) -> bool {
    cb["state"] == "idle" && states(cb) == ["paused"]
}

/// A deployed callback whose one instance has been called, then paused for idleness; the
/// paused instance's id.
async fn paused(app: &TestApp, path: &str) -> String {
    app.deploy_ok(&scales_to_zero(path, 600)).await;
    assert_eq!(app.call(path, "/").await.0, StatusCode::OK);
    let cb = app.wait_for(path, "pause on idle", paused_only).await;
    cb["instances"][0]["id"]
        .as_str()
        .expect("an instance id")
        .to_owned()
}

async fn metric(app: &TestApp, line_start: &str) -> Option<f64> {
    let (status, _, text) = app.request(Method::GET, "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn an_idle_callbacks_last_instance_is_paused_not_stopped_and_shown_so() {
    let app = TestApp::spawn().await;
    let path = unique("pause");
    let id = paused(&app, &path).await;
    assert_eq!(
        app.docker.paused(&path),
        std::slice::from_ref(&id),
        "frozen in the backend"
    );
    assert_eq!(app.docker.running(&path), [id], "kept, not stopped");
    let gauge = format!("faas_instances{{path=\"{path}\",state=\"paused\"}}");
    assert_eq!(metric(&app, &gauge).await, Some(1.0));
}

#[tokio::test]
async fn a_call_resumes_the_paused_instance_instead_of_starting_one() {
    let app = TestApp::spawn().await;
    let path = unique("resume");
    let id = paused(&app, &path).await;
    let starts = app.docker.starts();

    let (status, headers, body) = app.call(&path, "/").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["x-faas-resumed"], "true");
    assert_eq!(headers["x-faas-cold-start"], "false");
    assert_eq!(app.docker.starts(), starts, "no new instance");
    assert!(app.docker.paused(&path).is_empty(), "unpaused");
    let cb = app.callback(&path).await;
    assert_eq!(cb["instances"][0]["id"], id.as_str());
    assert_ne!(cb["instances"][0]["state"], "paused");
    let resumes = format!("faas_resumes_total{{path=\"{path}\"}}");
    assert_eq!(metric(&app, &resumes).await, Some(1.0));

    // A warm call after that is neither a resume nor a cold start.
    let (_, headers, _) = app.call(&path, "/").await;
    assert!(headers.get("x-faas-resumed").is_none_or(|v| v == "false"));
    assert_eq!(headers["x-faas-cold-start"], "false");
}

/// Calls `path` while its last instance is being paused (the backend's pause held until the
/// call waits in the queue); the call's answer.
async fn call_during_the_pause(
    app: &TestApp,
    path: &str,
) -> (StatusCode, reqwest::header::HeaderMap) {
    app.docker.hold_pauses(true);
    app.deploy_ok(&scales_to_zero(path, 600)).await;
    assert_eq!(app.call(path, "/").await.0, StatusCode::OK);
    // Shown paused from the moment the pause begins.
    app.wait_for(path, "the pause begun", paused_only).await;
    let queued = format!("faas_queue_depth{{path=\"{path}\"}}");
    let release = async {
        while metric(app, &queued).await != Some(1.0) {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        app.docker.hold_pauses(false);
    };
    let ((status, headers, body), ()) = tokio::join!(app.call(path, "/"), release);
    assert_eq!(status, StatusCode::OK, "{body}");
    (status, headers)
}

#[tokio::test]
async fn a_call_during_the_pause_waits_for_it_and_resumes_the_instance() {
    let app = TestApp::spawn().await;
    let path = unique("midpause");
    let (_, headers) = call_during_the_pause(&app, &path).await;
    assert_eq!(headers["x-faas-resumed"], "true");
    assert_eq!(headers["x-faas-cold-start"], "false");
    assert_eq!(app.docker.starts(), 1, "no second instance was started");
    assert_eq!(app.docker.running(&path).len(), 1);
}

#[tokio::test]
async fn a_pause_that_fails_while_a_call_waits_gives_the_call_a_new_instance() {
    let app = TestApp::spawn().await;
    let path = unique("badpause");
    app.docker.refuse_pauses(true);
    let (_, headers) = call_during_the_pause(&app, &path).await;
    assert_eq!(headers["x-faas-cold-start"], "true");
    assert_eq!(
        app.docker.starts(),
        2,
        "the unpausable instance was replaced"
    );
    assert!(app.docker.paused(&path).is_empty());
}

#[tokio::test]
async fn a_paused_instance_removed_behind_the_gateways_back_is_simply_gone() {
    let app = TestApp::spawn().await;
    let path = unique("vanish");
    let id = paused(&app, &path).await;
    app.docker.vanish(&id);
    app.wait_for(&path, "the vanished instance forgotten", |cb| {
        cb["state"] == "idle" && states(cb).is_empty()
    })
    .await;

    let (status, headers, _) = app.call(&path, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-faas-cold-start"], "true", "a new instance");
    let cb = app.callback(&path).await;
    assert_ne!(cb["instances"][0]["id"], id.as_str());
    assert!(cb["last_error"].is_null(), "no error to report: {cb:#}");
}

#[tokio::test]
async fn a_restarted_gateway_adopts_paused_instances_and_resumes_them() {
    let app = TestApp::spawn().await;
    let path = unique("adopt");
    let id = paused(&app, &path).await;
    let app = app.restart().await;

    let cb = app.callback(&path).await;
    assert!(paused_only(&cb), "adopted as paused: {cb:#}");
    assert_eq!(cb["instances"][0]["id"], id.as_str());
    let starts = app.docker.starts();
    let (status, headers, _) = app.call(&path, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-faas-resumed"], "true");
    assert_eq!(app.docker.starts(), starts);
    assert_eq!(app.docker.running(&path), [id]);
}

#[tokio::test]
async fn undeploy_delete_and_redeploy_remove_paused_instances() {
    let app = TestApp::spawn().await;

    let path = unique("undeploy");
    let id = paused(&app, &path).await;
    let (status, body) = app
        .deploy(&json!({"path": path, "action": "undeploy"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert!(app.docker.running(&path).is_empty(), "{id} still there");

    let path = unique("delete");
    paused(&app, &path).await;
    let (status, _, _) = app
        .request(Method::DELETE, &format!("/callbacks/{path}"), None)
        .await;
    assert!(status.is_success(), "{status}");
    assert!(app.docker.running(&path).is_empty());

    let path = unique("redeploy");
    let old = paused(&app, &path).await;
    let changed = with(scales_to_zero(&path, 600), json!({"memory_mb": 128}));
    let cb = app.deploy_ok(&changed).await;
    assert_eq!(cb["revision"], 2);
    app.wait_for(&path, "the old revision's paused instance removed", |_| {
        !app.docker.all().contains(&old)
    })
    .await;
}

#[tokio::test]
async fn a_paused_instance_is_stopped_after_keep_paused_s() {
    let app = TestApp::spawn().await;
    let path = unique("expire");
    app.deploy_ok(&scales_to_zero(&path, 1)).await;
    assert_eq!(app.call(&path, "/").await.0, StatusCode::OK);
    app.wait_for(&path, "paused", paused_only).await;
    app.wait_for(&path, "stopped", |cb| {
        cb["state"] == "idle" && states(cb).is_empty()
    })
    .await;
    assert!(app.docker.running(&path).is_empty());
    let (_, headers, _) = app.call(&path, "/").await;
    assert_eq!(headers["x-faas-cold-start"], "true");
}

#[tokio::test]
async fn keep_paused_s_zero_stops_instead_of_pausing() {
    let app = TestApp::spawn().await;
    let path = unique("nopause");
    app.deploy_ok(&scales_to_zero(&path, 0)).await;
    assert_eq!(app.call(&path, "/").await.0, StatusCode::OK);
    app.wait_for(&path, "scale to zero", |cb| {
        cb["state"] == "idle" && states(cb).is_empty()
    })
    .await;
    assert!(app.docker.running(&path).is_empty());
    assert!(app.docker.paused(&path).is_empty());
    let cb = app.callback(&path).await;
    assert_eq!(cb["keep_paused_s"], 0);
}
