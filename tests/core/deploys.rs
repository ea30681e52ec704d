//! What a deploy answers and what it leaves (SPEC 2.1), on the stand-in backend: status
//! codes, revisions, no-op and settings-only redeploys, failed first deploys, `wait=false`.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{CODE, TestApp, assert_error, python, unique, with};

#[tokio::test]
async fn first_deploy_is_201_then_200_and_revisions_count_up() {
    let app = TestApp::spawn().await;
    let path = unique("counting");
    let (status, cb) = app.deploy(&python(&path, CODE)).await;
    assert_eq!(status, StatusCode::CREATED, "{cb:#}");
    assert_eq!(
        (cb["revision"].as_u64(), cb["state"].as_str()),
        (Some(1), Some("ready"))
    );
    assert_eq!(cb["instances"].as_array().map(Vec::len), Some(1));
    let (status, cb) = app
        .deploy(&python(&path, "def handle(e, c):\n    return 'two'\n"))
        .await;
    assert_eq!((status, cb["revision"].as_u64()), (StatusCode::OK, Some(2)));
    let (_, revisions) = app.get_json(&format!("/callbacks/{path}/revisions")).await;
    let numbers: Vec<u64> = revisions["revisions"]
        .as_array()
        .expect("revisions")
        .iter()
        .filter_map(|r| r["revision"].as_u64())
        .collect();
    assert_eq!(numbers, [2, 1], "newest first");
}

#[tokio::test]
async fn an_identical_redeploy_builds_and_starts_nothing() {
    let app = TestApp::spawn().await;
    let path = unique("same");
    let first = app.deploy_ok(&python(&path, CODE)).await;
    let (builds, starts) = (app.builder.builds().len(), app.docker.starts());
    let (status, again) = app.deploy(&python(&path, CODE)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["revision"], first["revision"]);
    assert_eq!(again["instances"][0]["id"], first["instances"][0]["id"]);
    assert_eq!(app.builder.builds().len(), builds, "no build");
    assert_eq!(app.docker.starts(), starts, "no start");
}

#[tokio::test]
async fn changed_settings_make_a_new_revision_on_the_same_image() {
    let app = TestApp::spawn().await;
    let path = unique("settings");
    let first = app.deploy_ok(&python(&path, CODE)).await;
    let builds = app.builder.builds().len();
    let second = app
        .deploy_ok(&with(python(&path, CODE), json!({"memory_mb": 512})))
        .await;
    assert_eq!(second["revision"], 2);
    assert_eq!(second["image"], first["image"], "the same image");
    assert_eq!(app.builder.builds().len(), builds, "no build");
    assert_eq!(second["memory_mb"], 512);
}

#[tokio::test]
async fn a_failed_first_deploy_keeps_revision_0_and_calls_answer_not_ready() {
    let app = TestApp::spawn().await;
    let path = unique("broken");
    let body = with(
        python(&path, CODE),
        json!({"env": {"FAKE_START_EXIT": "1"}}),
    );
    let (status, body) = app.deploy(&body).await;
    assert_error(status, &body, 422, "STARTUP_FAILED");
    assert!(
        body["error"]["details"]["log"]
            .as_str()
            .is_some_and(|l| l.contains("Traceback")),
        "{body:#}"
    );
    let cb = app.callback(&path).await;
    assert_eq!(
        (cb["revision"].as_u64(), cb["state"].as_str()),
        (Some(0), Some("failed"))
    );
    assert_eq!(cb["last_error"]["code"], "STARTUP_FAILED");
    let (_, revisions) = app.get_json(&format!("/callbacks/{path}/revisions")).await;
    assert_eq!(revisions["revisions"], json!([]));
    let (status, _, text) = app.call(&path, "/").await;
    assert_error(
        status,
        &crate::helpers::parse(&text),
        503,
        "CALLBACK_NOT_READY",
    );
    assert!(
        app.docker.running(&path).is_empty(),
        "its instance was removed"
    );
}

#[tokio::test]
async fn a_failing_build_is_build_failed_with_its_log() {
    let app = TestApp::spawn().await;
    app.builder
        .fail_builds(Some(faas_gateway::builder::BuildError::Failed {
            reason: "pip could not install six".into(),
            log: "ERROR: No matching distribution found for six".into(),
        }));
    let (status, body) = app.deploy(&python(&unique("nobuild"), CODE)).await;
    assert_error(status, &body, 422, "BUILD_FAILED");
    assert!(
        body["error"]["details"]["log"]
            .as_str()
            .is_some_and(|l| l.contains("No matching distribution")),
        "{body:#}"
    );
}

#[tokio::test]
async fn wait_false_answers_202_and_the_deploy_finishes_in_the_background() {
    let app = TestApp::spawn().await;
    let path = unique("later");
    let (status, _, body) = app
        .request(
            reqwest::Method::POST,
            "/callback/deploy?wait=false",
            Some(python(&path, CODE)),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    app.wait_for(&path, "the deploy", |cb| cb["state"] == "ready")
        .await;
    assert_eq!(app.call(&path, "/").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_second_deploy_of_a_path_in_progress_is_409() {
    let app = TestApp::spawn().await;
    let path = unique("busy");
    // A start that takes a while keeps the first deploy in progress.
    let slow = with(
        python(&path, CODE),
        json!({"env": {"FAKE_START_DELAY_MS": "1500"}}),
    );
    let first = app.deploy(&slow);
    let second = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        app.deploy(&python(&path, CODE)).await
    };
    let ((s1, b1), (s2, b2)) = tokio::join!(first, second);
    assert_eq!(s1, StatusCode::CREATED, "{b1:#}");
    assert_error(s2, &b2, 409, "DEPLOY_IN_PROGRESS");
}

#[tokio::test]
async fn undeploy_removes_every_instance_and_a_later_deploy_continues_revisions() {
    let app = TestApp::spawn().await;
    let path = unique("gone");
    app.deploy_ok(&with(python(&path, CODE), json!({"min_instances": 2})))
        .await;
    assert_eq!(app.docker.running(&path).len(), 2);
    let (status, cb) = app
        .deploy(&json!({"path": path, "action": "undeploy"}))
        .await;
    assert_eq!(
        (status, cb["state"].as_str()),
        (StatusCode::OK, Some("undeployed"))
    );
    assert!(app.docker.all().iter().all(|id| !id.contains(&path)));
    let (status, _, text) = app.call(&path, "/").await;
    assert_error(
        status,
        &crate::helpers::parse(&text),
        404,
        "CALLBACK_NOT_DEPLOYED",
    );
    let cb = app.deploy_ok(&python(&path, CODE)).await;
    assert_eq!(cb["revision"], 2);
    let (status, _, _) = app
        .request(reqwest::Method::DELETE, &format!("/callbacks/{path}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.get_json(&format!("/callbacks/{path}")).await;
    assert_error(status, &body, 404, "CALLBACK_NOT_FOUND");
}

#[tokio::test]
async fn logs_follow_streams_ndjson_lines_as_they_are_written() {
    use futures::StreamExt;
    let app = TestApp::spawn().await;
    let path = unique("followed");
    app.deploy_ok(&python(&path, CODE)).await;
    let resp = app
        .client
        .get(app.url(&format!("/callbacks/{path}/logs?follow=true&tail=10")))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let mut body = resp.bytes_stream();
    let mut text = String::new();
    let mut called = false;
    let lines = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.expect("a chunk")));
            if !called && text.contains("starting") {
                // Written after the stream began: it must arrive too.
                called = true;
                app.call(&path, "/a-line-written-later").await;
            }
            if text.contains("/a-line-written-later") {
                break;
            }
        }
        text.lines().map(crate::helpers::parse).collect::<Vec<_>>()
    })
    .await
    .expect("the new line arrives");
    assert!(
        lines
            .iter()
            .all(|l| l["instance"].is_string() && l["ts"].is_string())
    );
    let texts: Vec<&str> = lines.iter().filter_map(|l| l["line"].as_str()).collect();
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.contains("/a-line-written-later"))
            .count(),
        1,
        "each line once: {texts:?}"
    );
}
