//! Every way a function dies, produced for real: the code, the message, `last_error`, and that
//! the callback recovers.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_error, docker_lines, node, parse, python, unique, wait_for,
    wait_for_containers, with,
};

/// A Python function that misbehaves on request: `/oom`, `/exit`, `/slow`, else answers.
const TROUBLE_PY: &str = r#"import os, sys, time

def handle(event, context):
    path = event["path"]
    if path == "/oom":
        hog = bytearray(512 * 1024 * 1024)
        return str(len(hog))
    if path == "/exit":
        print("exiting on purpose", flush=True)
        os._exit(3)
    if path == "/slow":
        time.sleep(60)
    return "fine"
"#;

const TROUBLE_JS: &str = r#"exports.handle = async (event) => {
  if (event.path === "/exit") { console.log("exiting on purpose"); process.exit(3); }
  if (event.path === "/oom") { const a = []; for (;;) { a.push(Buffer.alloc(16 * 1024 * 1024, 1)); } }
  return "fine";
};
"#;

async fn call(
    app: &TestApp,
    path: &str,
    rest: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let (status, headers, text) = app
        .request(Method::GET, &format!("/api/{path}{rest}"), None)
        .await;
    let body = if status.is_success() {
        json!(text)
    } else {
        parse(&text)
    };
    (status, headers, body)
}

#[tokio::test]
async fn a_function_exhausting_its_memory_is_oom_killed_and_the_callback_recovers() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("oom");
    app.deploy_ok(&with(python(&path, TROUBLE_PY), json!({"memory_mb": 64})))
        .await;
    let (status, _, body) = call(&app, &path, "/oom").await;
    assert_error(status, &body, 502, "FUNCTION_OOM_KILLED");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("64 MB"),
        "{body:#}"
    );
    let cb = app.callback(&path).await;
    assert_eq!(cb["last_error"]["code"], "FUNCTION_OOM_KILLED");
    let (status, headers, body) = call(&app, &path, "/").await;
    assert_eq!((status, body), (StatusCode::OK, json!("fine")));
    assert_eq!(
        headers["x-faas-cold-start"], "true",
        "a fresh instance replaced the dead one"
    );
}

#[tokio::test]
async fn a_node_function_exhausting_its_memory_is_oom_killed() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("nodeoom");
    app.deploy_ok(&with(node(&path, TROUBLE_JS), json!({"memory_mb": 96})))
        .await;
    let (status, _, body) = call(&app, &path, "/oom").await;
    assert_error(status, &body, 502, "FUNCTION_OOM_KILLED");
    assert_eq!(call(&app, &path, "/").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_function_that_exits_is_reported_crashed_with_its_exit_code_and_its_output_kept() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("exit");
    app.deploy_ok(&python(&path, TROUBLE_PY)).await;
    let (status, _, body) = call(&app, &path, "/exit").await;
    assert_error(status, &body, 502, "FUNCTION_CRASHED");
    assert_eq!(body["error"]["details"]["exit_code"], 3, "{body:#}");
    let cb = app.callback(&path).await;
    assert_eq!(cb["last_error"]["code"], "FUNCTION_CRASHED");
    assert!(
        cb["last_error"]["message"]
            .as_str()
            .expect("msg")
            .contains("code 3")
    );
    let (_, logs) = app.get_json(&format!("/callbacks/{path}/logs")).await;
    let lines = logs["lines"].as_array().expect("lines");
    assert!(
        lines.iter().any(|l| l["line"] == "exiting on purpose"),
        "{logs:#}"
    );
    assert_eq!(call(&app, &path, "/").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_node_function_that_exits_is_reported_crashed() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("nodeexit");
    app.deploy_ok(&node(&path, TROUBLE_JS)).await;
    let (status, _, body) = call(&app, &path, "/exit").await;
    assert_error(status, &body, 502, "FUNCTION_CRASHED");
    assert_eq!(body["error"]["details"]["exit_code"], 3);
    assert_eq!(call(&app, &path, "/").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_call_past_its_timeout_is_504_and_the_stuck_instance_is_replaced() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("slow");
    let cb = app
        .deploy_ok(&with(
            python(&path, TROUBLE_PY),
            json!({"timeout_ms": 4000, "max_instances": 1}),
        ))
        .await;
    let stuck = cb["instances"][0]["id"].clone();
    let (status, _, body) = call(&app, &path, "/slow").await;
    assert_error(status, &body, 504, "FUNCTION_TIMEOUT");
    assert_eq!(body["error"]["details"]["timeout_ms"], 4000);
    // With max_instances 1 the next call can only succeed on a replacement.
    let (status, headers, body) = call(&app, &path, "/").await;
    assert_eq!((status, body), (StatusCode::OK, json!("fine")));
    assert_eq!(headers["x-faas-cold-start"], "true");
    let cb = app.callback(&path).await;
    assert_ne!(
        cb["instances"][0]["id"], stuck,
        "the stuck instance no longer serves"
    );
}

#[tokio::test]
async fn repeated_crashes_put_the_callback_in_a_crash_loop_until_a_redeploy() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("loop");
    app.deploy_ok(&python(&path, TROUBLE_PY)).await;
    for _ in 0..3 {
        let (status, _, body) = call(&app, &path, "/exit").await;
        assert_error(status, &body, 502, "FUNCTION_CRASHED");
    }
    let (status, headers, body) = call(&app, &path, "/").await;
    assert_error(status, &body, 503, "FUNCTION_CRASH_LOOP");
    let retry: u64 = headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=30).contains(&retry), "Retry-After {retry}");
    let cb = app.callback(&path).await;
    assert_eq!(cb["state"], "crash_loop");
    assert_eq!(cb["last_error"]["code"], "FUNCTION_CRASHED");

    let cb = app
        .deploy_ok(&python(&path, "def handle(e, c):\n    return 'fixed'\n"))
        .await;
    assert_eq!(
        (cb["state"].as_str(), cb["last_error"].is_null()),
        (Some("ready"), true)
    );
    assert_eq!(call(&app, &path, "/").await.2, json!("fixed"));
}

#[tokio::test]
async fn a_function_that_starts_crashing_at_import_ends_in_a_crash_loop_and_recovers() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("rot");
    // Imports fine for a few seconds after the deploy, then every start crashes at import.
    let code = "import os, time\nif time.time() > float(os.environ['BROKEN_AFTER']):\n    raise RuntimeError('the config went missing')\n\ndef handle(e, c):\n    return 'ok'\n";
    let settings = |t: i64| json!({"idle_timeout_s": 1, "keep_paused_s": 0, "env": {"BROKEN_AFTER": t.to_string()}});
    // The first deploy builds the image; the second only changes settings, so it starts at once.
    app.deploy_ok(&with(python(&path, code), settings(i64::from(i32::MAX))))
        .await;
    let born = chrono::Utc::now().timestamp() + 3;
    app.deploy_ok(&with(python(&path, code), settings(born)))
        .await;
    wait_for(&app, &path, "scale to zero", |cb| cb["state"] == "idle").await;
    while chrono::Utc::now().timestamp() <= born {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for _ in 0..3 {
        let (status, _, body) = call(&app, &path, "/").await;
        assert_error(status, &body, 502, "FUNCTION_CRASHED");
    }
    let (status, _, body) = call(&app, &path, "/").await;
    assert_error(status, &body, 503, "FUNCTION_CRASH_LOOP");
    let (_, logs) = app
        .get_json(&format!("/callbacks/{path}/logs?tail=100"))
        .await;
    let text = logs["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter_map(|l| l["line"].as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        text.contains("RuntimeError: the config went missing"),
        "{text}"
    );

    let fixed = with(
        python(&path, "def handle(e, c):\n    return 'ok again'\n"),
        json!({"idle_timeout_s": 1}),
    );
    app.deploy_ok(&fixed).await;
    assert_eq!(call(&app, &path, "/").await.2, json!("ok again"));
}

#[tokio::test]
async fn a_container_killed_while_idle_is_noticed_at_once_and_replaced() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("killed");
    let cb = app
        .deploy_ok(&with(
            python(&path, TROUBLE_PY),
            json!({"min_instances": 1}),
        ))
        .await;
    let first = cb["instances"][0]["id"].as_str().expect("id").to_owned();
    docker_lines(&["kill", &first]);
    let cb = wait_for(&app, &path, "the death to be recorded", |cb| {
        !cb["last_error"].is_null()
    })
    .await;
    assert_eq!(cb["last_error"]["code"], "FUNCTION_CRASHED");
    let cb = wait_for(&app, &path, "a replacement", |cb| {
        cb["instances"]
            .as_array()
            .is_some_and(|i| i.len() == 1 && i[0]["id"] != first.as_str())
    })
    .await;
    assert_eq!(cb["state"], "ready");
    let (status, headers, _) = call(&app, &path, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers["x-faas-cold-start"], "false",
        "the replacement was already warm"
    );
}

/// Deploys the trouble function, waits until it has no instance left, returns its image.
async fn deploy_and_scale_to_zero(app: &TestApp, path: &str) -> String {
    let body = with(
        python(path, TROUBLE_PY),
        json!({"idle_timeout_s": 1, "keep_paused_s": 0}),
    );
    let cb = app.deploy_ok(&body).await;
    wait_for(app, path, "scale to zero", |cb| cb["state"] == "idle").await;
    wait_for_containers(app, 0).await;
    cb["image"].as_str().expect("image").to_owned()
}

#[tokio::test]
async fn a_removed_image_is_rebuilt_from_the_stored_source_on_the_next_cold_start() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("pruned");
    let image = deploy_and_scale_to_zero(&app, &path).await;
    docker_lines(&["rmi", "-f", "--no-prune", &image]);
    assert!(docker_lines(&["images", "-q", &image]).is_empty());
    let (status, headers, body) = call(&app, &path, "/").await;
    assert_eq!((status, body), (StatusCode::OK, json!("fine")));
    assert_eq!(headers["x-faas-cold-start"], "true");
    assert_eq!(
        docker_lines(&["images", "-q", &image]).len(),
        1,
        "rebuilt under its old name"
    );
}

#[tokio::test]
async fn an_image_that_cannot_be_rebuilt_is_image_pull_failed_at_once() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("lost");
    let image = deploy_and_scale_to_zero(&app, &path).await;
    let persisted = app.stop().await;
    docker_lines(&["rmi", "-f", "--no-prune", &image]);
    // Restarted with a base image that does not exist, the lost image cannot be rebuilt.
    let app = TestApp::restart_with(persisted, |f| {
        f.python_base_image = Some("faas-local/no-such-base:1".into());
    })
    .await;
    let (status, _, body) = call(&app, &path, "/").await;
    assert_error(status, &body, 502, "IMAGE_PULL_FAILED");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains(&image),
        "{body:#}"
    );
    assert_eq!(
        app.callback(&path).await["last_error"]["code"],
        "IMAGE_PULL_FAILED"
    );

    let persisted = app.stop().await;
    let app = TestApp::restart(persisted).await;
    assert_eq!(
        call(&app, &path, "/").await.0,
        StatusCode::OK,
        "recovers with a usable base"
    );
}
