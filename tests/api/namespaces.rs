//! Namespaces on real Docker: containers carry `faas.namespace`, and deleting a namespace
//! leaves no container (running, job-mode), image or async invocation of it, while the
//! namespace's calls answer 404 and its deploys are refused during the delete.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, docker_lines, parse, python, unique, with};

const ADMIN: &str = "gateway-admin-for-namespaces";

/// Sleeps `?s=` seconds, then answers.
pub const NAPPING_PY: &str = "import time\n\ndef handle(event, context):\n    time.sleep(float(event['query'].get('s', '0')))\n    return 'ok'\n";

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut req = app.client.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status();
    (status, parse(&resp.text().await.unwrap_or_default()))
}

/// Containers (running, stopped or paused) labelled with namespace `ns`.
pub fn containers_of(ns: &str) -> Vec<String> {
    docker_lines(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=faas.namespace={ns}"),
    ])
}

/// Tags of a callback's images.
pub fn images_of(path: &str) -> Vec<String> {
    docker_lines(&[
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
        &format!("faas-fn/{path}"),
    ])
}

#[tokio::test]
async fn deleting_a_namespace_leaves_nothing_of_it_and_refuses_it_meanwhile() {
    let Some(app) = TestApp::spawn_with(|f| {
        f.admin_token = Some(ADMIN.into());
        f.async_workers = Some(1);
    })
    .await
    else {
        return;
    };
    let ns = unique("team");
    let (status, created) = send(
        &app,
        Method::POST,
        "/namespaces",
        Some(ADMIN),
        Some(&json!({"name": ns})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created:#}");
    let token = created["tokens"]["admin"]
        .as_str()
        .expect("admin token")
        .to_owned();
    let invoke = created["tokens"]["invoke"]
        .as_str()
        .expect("invoke token")
        .to_owned();

    // Sorted by path, the service goes first: its drain keeps the delete busy a while.
    let service = format!("a-{}", unique("svc"));
    let job = format!("b-{}", unique("job"));
    let idle = format!("c-{}", unique("idle"));
    let bodies = [
        python(&service, NAPPING_PY),
        with(
            python(&job, NAPPING_PY),
            json!({"mode": "job", "memory_mb": 64}),
        ),
        with(
            python(&idle, NAPPING_PY),
            json!({"idle_timeout_s": 1, "keep_paused_s": 600}),
        ),
    ];
    for body in &bodies {
        app.remember(body["path"].as_str().expect("a path"));
        let (status, cb) = send(
            &app,
            Method::POST,
            "/callback/deploy",
            Some(&token),
            Some(body),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{cb:#}");
        assert_eq!(cb["namespace"], ns.as_str());
    }
    let outsider = unique("outsider");
    app.remember(&outsider);
    let (status, cb) = send(
        &app,
        Method::POST,
        "/callback/deploy",
        Some(ADMIN),
        Some(&python(&outsider, NAPPING_PY)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{cb:#}");
    for path in [&service, &job] {
        let (status, _) = send(
            &app,
            Method::GET,
            &format!("/api/{path}"),
            Some(&invoke),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(!images_of(path).is_empty(), "{path} has an image");
    }
    let labelled = containers_of(&ns);
    assert!(
        !labelled.is_empty(),
        "the service's instance carries faas.namespace"
    );
    // The idle one's instance is paused (frozen, kept): it goes with the namespace too.
    let mut paused = false;
    for _ in 0..100 {
        let (_, cb) = send(
            &app,
            Method::GET,
            &format!("/callbacks/{idle}"),
            Some(&token),
            None,
        )
        .await;
        if cb["instances"][0]["state"] == "paused" {
            paused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(paused, "the idle callback's instance was never paused");

    // One async call keeps the only worker busy; the others stay queued.
    let mut invocations = Vec::new();
    for s in ["40", "0", "0"] {
        let resp = app
            .client
            .post(app.url(&format!("/api/{service}?s={s}")))
            .bearer_auth(&invoke)
            .header("prefer", "respond-async")
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        let body: Value = resp.json().await.expect("json");
        invocations.push(body["id"].as_str().expect("id").to_owned());
    }
    let (_, queued) = send(
        &app,
        Method::GET,
        &format!("/invocations/{}", invocations[2]),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(queued["status"], "queued", "{queued:#}");

    let deleting = {
        let (client, url) = (app.client.clone(), app.url(&format!("/namespaces/{ns}")));
        tokio::spawn(async move { client.delete(url).bearer_auth(ADMIN).send().await })
    };
    // While it runs: the namespace's calls are not found, its deploys are refused.
    let mut refused = false;
    for _ in 0..100 {
        let (status, body) = send(
            &app,
            Method::GET,
            &format!("/api/{job}"),
            Some(&invoke),
            None,
        )
        .await;
        if status == StatusCode::NOT_FOUND {
            assert_error(status, &body, 404, "CALLBACK_NOT_FOUND");
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused, "calls kept working during the delete");
    let (status, body) = send(
        &app,
        Method::POST,
        "/callback/deploy",
        Some(ADMIN),
        Some(&with(
            python(&unique("late"), NAPPING_PY),
            json!({"namespace": ns}),
        )),
    )
    .await;
    assert_error(status, &body, 404, "NAMESPACE_NOT_FOUND");

    let done = deleting.await.expect("join").expect("delete");
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    assert_eq!(containers_of(&ns), Vec::<String>::new(), "containers left");
    for path in [&service, &job, &idle] {
        assert_eq!(
            images_of(path),
            Vec::<String>::new(),
            "images of {path} left"
        );
        let (status, _) = send(
            &app,
            Method::GET,
            &format!("/callbacks/{path}"),
            Some(ADMIN),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    for id in &invocations {
        let (status, body) = send(
            &app,
            Method::GET,
            &format!("/invocations/{id}"),
            Some(ADMIN),
            None,
        )
        .await;
        assert_error(status, &body, 404, "INVOCATION_NOT_FOUND");
    }
    let (status, body) = send(
        &app,
        Method::GET,
        &format!("/namespaces/{ns}"),
        Some(ADMIN),
        None,
    )
    .await;
    assert_error(status, &body, 404, "NAMESPACE_NOT_FOUND");
    let (status, _) = send(&app, Method::GET, "/callbacks", Some(&token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "its tokens went with it");
    // Another namespace's callback is untouched.
    let (status, _) = send(&app, Method::GET, &format!("/api/{outsider}"), None, None).await;
    assert_eq!(status, StatusCode::OK);
}
