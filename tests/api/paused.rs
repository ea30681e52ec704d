//! Paused instances on real Docker (SPEC 2.1): the container is frozen with `docker pause`
//! when idleness takes the last instance, thawed by the next call, gone when removed behind
//! the gateway's back, adopted paused by a restarted gateway and removed by undeploy.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, docker_lines, python, unique, wait_for, with};

const CODE: &str = "import os\n\ndef handle(event, context):\n    return os.environ['HOSTNAME']\n";

fn paused_only(cb: &Value) -> bool {
    cb["state"] == "idle"
        && cb["instances"]
            .as_array()
            .is_some_and(|is| is.len() == 1 && is[0]["state"] == "paused")
}

/// Docker's own view of a container: `running`, `paused`, … or `gone`.
fn docker_state(id: &str) -> String {
    let lines = docker_lines(&["inspect", "-f", "{{.State.Status}}", id]);
    lines.first().cloned().unwrap_or_else(|| "gone".to_owned())
}

/// Deploys, calls once and waits until the one instance is paused; its container id.
async fn deployed_and_paused(app: &TestApp, path: &str) -> String {
    let body = with(
        python(path, CODE),
        json!({"min_instances": 0, "idle_timeout_s": 1}),
    );
    app.deploy_ok(&body).await;
    let (status, _, _) = app
        .request(Method::GET, &format!("/api/{path}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let cb = wait_for(app, path, "pause on idle", paused_only).await;
    let id = cb["instances"][0]["id"].as_str().expect("id").to_owned();
    assert_eq!(docker_state(&id), "paused", "frozen by Docker");
    id
}

#[tokio::test]
async fn an_idle_instance_is_paused_then_resumed_by_the_next_call() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("thaw");
    let id = deployed_and_paused(&app, &path).await;

    let (status, headers, text) = app
        .request(Method::GET, &format!("/api/{path}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(headers["x-faas-resumed"], "true");
    assert_eq!(headers["x-faas-cold-start"], "false");
    let hostname = docker_lines(&["inspect", "-f", "{{.Config.Hostname}}", &id]);
    assert_eq!(
        hostname.first().map(String::as_str),
        Some(text.trim_matches('"')),
        "answered by the same container"
    );
    let (_, _, metrics) = app.request(Method::GET, "/metrics", None).await;
    assert!(
        metrics.contains(&format!("faas_resumes_total{{path=\"{path}\"}} 1")),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_paused_container_removed_behind_the_gateways_back_means_a_cold_start() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("gone");
    let id = deployed_and_paused(&app, &path).await;
    docker_lines(&["rm", "-f", &id]);
    wait_for(&app, &path, "the removed container forgotten", |cb| {
        cb["instances"].as_array().is_some_and(Vec::is_empty)
    })
    .await;
    let (status, headers, _) = app
        .request(Method::GET, &format!("/api/{path}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-faas-cold-start"], "true");
    assert!(app.callback(&path).await["last_error"].is_null());
}

#[tokio::test]
async fn a_restarted_gateway_adopts_a_paused_container_and_undeploy_removes_it() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("keep");
    let id = deployed_and_paused(&app, &path).await;
    let app = TestApp::restart(app.stop().await).await;

    let cb = app.callback(&path).await;
    assert!(paused_only(&cb), "adopted as paused: {cb:#}");
    assert_eq!(cb["instances"][0]["id"], id.as_str());

    let (status, body) = app
        .deploy(&json!({"path": path, "action": "undeploy"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(docker_state(&id), "gone", "the paused container is removed");
}
