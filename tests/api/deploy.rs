//! Deploy and redeploy: statuses, revisions, image reuse, build and startup failures.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, node, parse, python, unique, with};

const HELLO_PY: &str = "def handle(event, context):\n    return 'hello v1'\n";

async fn call_text(app: &TestApp, path: &str) -> (StatusCode, String) {
    let (status, _, text) = app
        .request(Method::GET, &format!("/api/{path}"), None)
        .await;
    (status, text)
}

fn instance_ids(cb: &Value) -> Vec<String> {
    cb["instances"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn first_deploy_is_201_and_redeploys_count_revisions_up() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("hello");
    let (status, cb) = app.deploy(&python(&path, HELLO_PY)).await;
    assert_eq!(status, StatusCode::CREATED, "{cb:#}");
    assert_eq!(
        (cb["revision"].as_u64(), cb["state"].as_str()),
        (Some(1), Some("ready"))
    );
    assert_eq!(cb["url"], format!("/api/{path}"));
    assert_eq!(
        call_text(&app, &path).await,
        (StatusCode::OK, "hello v1".into())
    );

    let (status, cb) = app
        .deploy(&python(
            &path,
            "def handle(event, context):\n    return 'hello v2'\n",
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{cb:#}");
    assert_eq!(cb["revision"], 2);
    assert_eq!(
        call_text(&app, &path).await,
        (StatusCode::OK, "hello v2".into())
    );

    let (status, revs) = app.get_json(&format!("/callbacks/{path}/revisions")).await;
    assert_eq!(status, StatusCode::OK);
    let numbers: Vec<u64> = revs["revisions"]
        .as_array()
        .expect("revisions")
        .iter()
        .filter_map(|r| r["revision"].as_u64())
        .collect();
    assert_eq!(numbers, [2, 1]);
    let (_, list) = app.get_json("/callbacks").await;
    assert!(
        list["callbacks"]
            .as_array()
            .expect("list")
            .iter()
            .any(|c| c["path"] == path.as_str())
    );
}

#[tokio::test]
async fn an_identical_redeploy_changes_nothing_and_restarts_nothing() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("same");
    let first = app.deploy_ok(&python(&path, HELLO_PY)).await;
    // `code` and the equivalent `files` are the same deploy.
    let (status, again) = app
        .deploy(&json!({"path": path, "runtime": "python", "files": {"handler.py": HELLO_PY}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{again:#}");
    assert_eq!(again["revision"], first["revision"]);
    assert_eq!(
        instance_ids(&again),
        instance_ids(&first),
        "nothing restarted"
    );
    let (status, _, text) = app
        .request(
            Method::POST,
            "/callback/deploy?wait=false",
            Some(python(&path, HELLO_PY)),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a no-op answers 200 even with wait=false: {text}"
    );
}

#[tokio::test]
async fn changed_settings_make_a_new_revision_on_the_same_image() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("settings");
    let first = app.deploy_ok(&python(&path, HELLO_PY)).await;
    let second = app
        .deploy_ok(&with(
            python(&path, HELLO_PY),
            json!({"memory_mb": 200, "env": {"A": "b"}}),
        ))
        .await;
    assert_eq!(second["revision"], 2);
    assert_eq!(
        second["image"], first["image"],
        "no rebuild for a settings change"
    );
    assert_eq!(second["memory_mb"], 200);
    assert_eq!(call_text(&app, &path).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_syntax_error_fails_the_first_deploy_with_the_traceback() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("broken");
    let (status, body) = app
        .deploy(&python(&path, "def handle(event, context)\n    return 1\n"))
        .await;
    assert_error(status, &body, 422, "STARTUP_FAILED");
    let log = body["error"]["details"]["log"].as_str().expect("log");
    assert!(log.contains("SyntaxError"), "traceback missing: {log}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains(&path)
    );

    let cb = app.callback(&path).await;
    assert_eq!(
        (cb["revision"].as_u64(), cb["state"].as_str()),
        (Some(0), Some("failed"))
    );
    assert_eq!(cb["last_error"]["code"], "STARTUP_FAILED");
    let (_, revs) = app.get_json(&format!("/callbacks/{path}/revisions")).await;
    assert_eq!(revs["revisions"], json!([]));
    let (status, _, text) = app
        .request(Method::GET, &format!("/api/{path}"), None)
        .await;
    assert_error(status, &parse(&text), 503, "CALLBACK_NOT_READY");
    assert!(
        app.containers().is_empty(),
        "the failed instance is removed"
    );

    // The record was created by the failed deploy, so the fix answers 200.
    let (status, cb) = app.deploy(&python(&path, HELLO_PY)).await;
    assert_eq!(status, StatusCode::OK, "{cb:#}");
    assert_eq!(cb["revision"], 1);
    assert_eq!(cb["last_error"], Value::Null);
    assert_eq!(
        call_text(&app, &path).await,
        (StatusCode::OK, "hello v1".into())
    );
}

#[tokio::test]
async fn a_node_import_error_fails_with_its_stack_and_the_old_revision_keeps_serving() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("nodebad");
    app.deploy_ok(&node(&path, "exports.handle = async () => 'good';\n"))
        .await;
    let (status, body) = app
        .deploy(&node(
            &path,
            "require('no-such-module');\nexports.handle = () => 1;\n",
        ))
        .await;
    assert_error(status, &body, 422, "STARTUP_FAILED");
    let log = body["error"]["details"]["log"].as_str().expect("log");
    assert!(log.contains("no-such-module"), "{log}");
    let cb = app.callback(&path).await;
    assert_eq!(
        (cb["revision"].as_u64(), cb["state"].as_str()),
        (Some(1), Some("ready"))
    );
    assert_eq!(cb["last_error"]["code"], "STARTUP_FAILED");
    assert_eq!(
        call_text(&app, &path).await,
        (StatusCode::OK, "good".into())
    );
}

#[tokio::test]
async fn requirements_are_installed_and_a_failing_install_is_build_failed() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("deps");
    let good = json!({"path": path, "runtime": "python", "files": {
        "handler.py": "import six\n\ndef handle(event, context):\n    return six.__name__\n",
        "requirements.txt": "six\n",
    }});
    app.deploy_ok(&good).await;
    assert_eq!(call_text(&app, &path).await, (StatusCode::OK, "six".into()));

    let bad = unique("nodeps");
    let (status, body) = app
        .deploy(&json!({"path": bad, "runtime": "python", "files": {
            "handler.py": "def handle(e, c):\n    return 1\n",
            "requirements.txt": "faas-gateway-no-such-package-4711==0.0.1\n",
        }}))
        .await;
    assert_error(status, &body, 422, "BUILD_FAILED");
    let log = body["error"]["details"]["log"].as_str().expect("log");
    assert!(log.contains("faas-gateway-no-such-package-4711"), "{log}");
    assert_eq!(app.callback(&bad).await["state"], "failed");
}

#[tokio::test]
async fn wait_false_answers_202_and_the_deploy_finishes_in_the_background() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let path = unique("async");
    let (status, _, text) = app
        .request(
            Method::POST,
            "/callback/deploy?wait=false",
            Some(python(&path, HELLO_PY)),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    assert_eq!(parse(&text)["state"], "building");
    // A second deploy while the first runs is refused.
    let (status, body) = app.deploy(&python(&path, HELLO_PY)).await;
    assert_error(status, &body, 409, "DEPLOY_IN_PROGRESS");
    let mut state = String::new();
    for _ in 0..600 {
        state = app.callback(&path).await["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if state == "ready" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(state, "ready");
    assert_eq!(
        call_text(&app, &path).await,
        (StatusCode::OK, "hello v1".into())
    );
}
