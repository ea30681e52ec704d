//! Undeploy, delete, zero-downtime redeploy, scale to zero, queueing, restart adoption, logs.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{
    TestApp, assert_error, parse, python, unique, wait_for, wait_for_containers, with,
};

const ECHO_REV: &str =
    "import os\n\ndef handle(event, context):\n    return str(context['revision'])\n";

#[tokio::test]
async fn undeploy_removes_every_container_and_a_later_deploy_continues_revisions() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("bye");
    app.deploy_ok(&with(python(&path, ECHO_REV), json!({"min_instances": 2})))
        .await;
    assert_eq!(app.containers().len(), 2);

    let (status, cb) = app
        .deploy(&json!({"path": path, "action": "undeploy"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{cb:#}");
    assert_eq!(cb["state"], "undeployed");
    assert_eq!(cb["instances"], json!([]));
    assert!(
        app.containers().is_empty(),
        "left behind: {:?}",
        app.containers()
    );
    let (status, _, text) = app
        .request(Method::POST, &format!("/api/{path}"), None)
        .await;
    assert_error(status, &parse(&text), 404, "CALLBACK_NOT_DEPLOYED");
    // Undeploying again is a no-op.
    let (status, _) = app
        .deploy(&json!({"path": path, "action": "undeploy"}))
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, cb) = app.deploy(&python(&path, ECHO_REV)).await;
    assert_eq!(status, StatusCode::OK, "{cb:#}");
    assert_eq!(cb["revision"], 2, "the history stays");
    let (status, _, text) = app
        .request(Method::GET, &format!("/api/{path}"), None)
        .await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "2"));
}

#[tokio::test]
async fn delete_removes_containers_images_and_the_definition() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("gone");
    let cb = app.deploy_ok(&python(&path, ECHO_REV)).await;
    let image = cb["image"].as_str().expect("image").to_owned();
    let (status, _, _) = app
        .request(Method::DELETE, &format!("/callbacks/{path}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(app.containers().is_empty());
    assert!(
        crate::helpers::docker_lines(&["images", "-q", &image]).is_empty(),
        "{image} kept"
    );
    let (status, body) = app.get_json(&format!("/callbacks/{path}")).await;
    assert_error(status, &body, 404, "CALLBACK_NOT_FOUND");
}

#[tokio::test]
async fn a_redeploy_under_concurrent_traffic_fails_no_request() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("bluegreen");
    app.deploy_ok(&with(python(&path, ECHO_REV), json!({"min_instances": 1})))
        .await;
    let stop = tokio_util::sync::CancellationToken::new();
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (client, url, stop) = (
            app.client.clone(),
            app.url(&format!("/api/{path}")),
            stop.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.is_cancelled() {
                let resp = client.get(&url).send().await.expect("request");
                let status = resp.status();
                let text = resp.text().await.expect("body");
                seen.push((status, text));
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let body = with(
        python(&path, &format!("{ECHO_REV}# v2\n")),
        json!({"min_instances": 1}),
    );
    assert_eq!(app.deploy_ok(&body).await["revision"], 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.expect("worker"));
    }
    let failed: Vec<_> = all.iter().filter(|(s, _)| *s != StatusCode::OK).collect();
    assert!(
        failed.is_empty(),
        "{} of {} failed: {:?}",
        failed.len(),
        all.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(
        all.iter().any(|(_, t)| t == "1") && all.iter().any(|(_, t)| t == "2"),
        "traffic moved"
    );
    // The old revision drains and goes away.
    let cb = wait_for(&app, &path, "the condition", |cb| {
        cb["instances"].as_array().is_some_and(|i| i.len() == 1)
    })
    .await;
    assert_eq!(cb["revision"], 2);
    wait_for_containers(&app, 1).await;
}

#[tokio::test]
async fn an_idle_callback_scales_to_zero_and_the_next_call_is_a_cold_start() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("sleepy");
    app.deploy_ok(&with(
        python(&path, ECHO_REV),
        json!({"idle_timeout_s": 1, "keep_paused_s": 0}),
    ))
    .await;
    let (_, headers, _) = app
        .request(Method::GET, &format!("/api/{path}"), None)
        .await;
    assert_eq!(headers["x-faas-cold-start"], "false");
    let cb = wait_for(&app, &path, "the condition", |cb| cb["state"] == "idle").await;
    assert_eq!(cb["instances"], json!([]));
    wait_for_containers(&app, 0).await;
    let (status, headers, text) = app
        .request(Method::GET, &format!("/api/{path}"), None)
        .await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "1"));
    assert_eq!(headers["x-faas-cold-start"], "true");
    assert_eq!(app.callback(&path).await["state"], "ready");
}

#[tokio::test]
async fn a_burst_on_a_cold_callback_starts_one_instance_per_concurrency_slots() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("burst");
    let code = "import time\n\ndef handle(event, context):\n    time.sleep(0.3)\n    return 'ok'\n";
    app.deploy_ok(&with(
        python(&path, code),
        json!({"idle_timeout_s": 1, "keep_paused_s": 0, "concurrency": 8, "max_instances": 4}),
    ))
    .await;
    wait_for(&app, &path, "the condition", |cb| cb["state"] == "idle").await;
    let url = format!("/api/{path}");
    let calls = (0..6).map(|_| app.request(Method::GET, &url, None));
    let results = futures::future::join_all(calls).await;
    assert!(
        results
            .iter()
            .all(|(s, _, t)| *s == StatusCode::OK && t == "ok")
    );
    assert_eq!(
        app.callback(&path).await["instances"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn a_full_queue_answers_429_with_retry_after() {
    let Some(app) = TestApp::spawn_with(|f| f.queue_len = Some(1)).await else {
        return;
    };
    let path = unique("busy");
    let code =
        "import time\n\ndef handle(event, context):\n    time.sleep(1.5)\n    return 'done'\n";
    app.deploy_ok(&with(
        python(&path, code),
        json!({"concurrency": 1, "max_instances": 1}),
    ))
    .await;
    let url = format!("/api/{path}");
    let calls = (0..4).map(|_| app.request(Method::GET, &url, None));
    let results = futures::future::join_all(calls).await;
    let ok = results
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::OK)
        .count();
    let rejected: Vec<_> = results
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(
        (ok, rejected.len()),
        (2, 2),
        "one runs, one queues, the rest are refused"
    );
    for (status, headers, text) in rejected {
        assert!(headers.contains_key("retry-after"));
        assert_error(*status, &parse(text), 429, "TOO_MANY_REQUESTS");
    }
    let (status, _, text) = app
        .request(Method::GET, &format!("/api/{path}"), None)
        .await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::OK, "done"),
        "serves again afterwards"
    );
}

#[tokio::test]
async fn a_restarted_gateway_adopts_running_instances_and_removes_orphans() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let kept = unique("kept");
    let cb = app.deploy_ok(&python(&kept, ECHO_REV)).await;
    let ids = cb["instances"].clone();
    let persisted = app.stop().await;

    // An orphan: a container labelled for this gateway whose callback the database lacks.
    let image = cb["image"].as_str().expect("image");
    let gateway_label = format!("faas.gateway={}", persisted.gateway_id());
    let orphan = crate::helpers::docker_lines(&[
        "run",
        "-d",
        "--label",
        "faas.managed-by=faas-gateway",
        "--label",
        &gateway_label,
        "--label",
        "faas.callback=nobody",
        "--label",
        "faas.revision=1",
        image,
    ]);
    assert_eq!(orphan.len(), 1, "orphan started");

    let app = TestApp::restart(persisted).await;
    let cb = wait_for(&app, &kept, "readiness", |cb| cb["state"] == "ready").await;
    assert_eq!(cb["instances"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        cb["instances"][0]["id"], ids[0]["id"],
        "the same container serves"
    );
    let (status, headers, text) = app
        .request(Method::GET, &format!("/api/{kept}"), None)
        .await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "1"));
    assert_eq!(headers["x-faas-cold-start"], "false");
    wait_for_containers(&app, 1).await;
}

#[tokio::test]
async fn logs_hold_the_function_output_merged_by_time() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("chatty");
    let code = "import sys\n\ndef handle(event, context):\n    print('to stdout', event['path'])\n    print('to stderr', file=sys.stderr)\n    return 'ok'\n";
    app.deploy_ok(&python(&path, code)).await;
    app.request(Method::GET, &format!("/api/{path}/first"), None)
        .await;
    app.request(Method::GET, &format!("/api/{path}/second"), None)
        .await;
    let mut lines = Vec::new();
    for _ in 0..50 {
        let (status, body) = app
            .get_json(&format!("/callbacks/{path}/logs?tail=3"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body:#}");
        lines = body["lines"].as_array().cloned().unwrap_or_default();
        if lines.iter().any(|l| l["line"] == "to stdout /second") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let last = lines.last().expect("line");
    assert!(
        lines
            .iter()
            .any(|l| l["line"] == "to stdout /second" && l["stream"] == "stdout")
    );
    assert!(lines.iter().any(|l| l["stream"] == "stderr"));
    assert!(last["ts"].as_str().is_some() && last["instance"].as_str().is_some());
    let (status, body) = app
        .get_json(&format!("/callbacks/{path}/logs?tail=zero"))
        .await;
    assert_error(status, &body, 422, "VALIDATION_FAILED");
}
