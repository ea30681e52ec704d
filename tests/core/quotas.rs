//! Namespace quotas (SPEC 10) exceeded for real on the stand-in backend — by one deploy too
//! many, by deploys and cold starts in parallel, by job runs — each refusal answered with
//! `403 QUOTA_EXCEEDED` naming the quota, and usage never over the limit.

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{CODE, TestApp, assert_error, python, unique, with};
use crate::namespaces::{create_namespace, send};

/// A namespace on an open gateway, with `quota`.
async fn namespace(app: &TestApp, quota: Value) -> String {
    let name = unique("quota");
    create_namespace(app, None, &name, quota).await;
    name
}

async fn usage(app: &TestApp, ns: &str) -> Value {
    let (status, body) = app.get_json(&format!("/namespaces/{ns}")).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    body["usage"].clone()
}

fn in_ns(path: &str, ns: &str, extra: Value) -> Value {
    with(with(python(path, CODE), json!({"namespace": ns})), extra)
}

fn assert_quota(
    status: StatusCode,
    body: &Value,
    quota: &str,
    limit: u64,
    used: u64,
    requested: u64,
) {
    assert_error(status, body, 403, "QUOTA_EXCEEDED");
    assert_eq!(
        body["error"]["details"],
        json!({"quota": quota, "limit": limit, "used": used, "requested": requested}),
        "{body:#}"
    );
}

#[tokio::test]
async fn callbacks_over_the_limit_are_refused_even_when_deployed_all_at_once() {
    let app = TestApp::spawn().await;
    let ns = namespace(&app, json!({"max_callbacks": 3})).await;
    let bodies: Vec<Value> = (0..8)
        .map(|_| in_ns(&unique("many"), &ns, json!({})))
        .collect();
    let answers = join_all(bodies.iter().map(|b| app.deploy(b))).await;
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 3, "{answers:#?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert_quota(*status, body, "max_callbacks", 3, 3, 1);
    }
    assert_eq!(usage(&app, &ns).await["callbacks"], 3);
    // The refused left nothing behind; a deleted one makes room again.
    let (_, list) = app.get_json(&format!("/callbacks?namespace={ns}")).await;
    let listed: Vec<String> = list["callbacks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["path"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(listed.len(), 3, "{list:#}");
    let (status, _, _) = app
        .request(Method::DELETE, &format!("/callbacks/{}", listed[0]), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.deploy_ok(&in_ns(&unique("again"), &ns, json!({})))
        .await;
    let (status, body) = app.deploy(&in_ns(&unique("over"), &ns, json!({}))).await;
    assert_quota(status, &body, "max_callbacks", 3, 3, 1);
}

#[tokio::test]
async fn a_revision_that_could_outgrow_the_memory_quota_is_refused_at_deploy() {
    let app = TestApp::spawn().await;
    let ns = namespace(&app, json!({"max_memory_mb": 512})).await;
    let path = unique("big");
    let (status, body) = app
        .deploy(&in_ns(
            &path,
            &ns,
            json!({"memory_mb": 256, "max_instances": 3}),
        ))
        .await;
    assert_quota(status, &body, "max_memory_mb", 512, 0, 768);
    let (status, _) = app.get_json(&format!("/callbacks/{path}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no record is left");
    let cb = app
        .deploy_ok(&in_ns(
            &path,
            &ns,
            json!({"memory_mb": 256, "max_instances": 2}),
        ))
        .await;
    assert_eq!(cb["namespace"], ns.as_str());
    assert_eq!(
        usage(&app, &ns).await,
        json!({"callbacks": 1, "instances": 1, "memory_mb": 256})
    );
}

#[tokio::test]
async fn a_deploy_whose_first_instances_do_not_fit_is_refused_and_leaves_none_running() {
    let app = TestApp::spawn().await;
    let ns = namespace(&app, json!({"max_instances": 2})).await;
    let first = unique("first");
    app.deploy_ok(&in_ns(&first, &ns, json!({}))).await;
    let path = unique("wide");
    let (status, body) = app
        .deploy(&in_ns(
            &path,
            &ns,
            json!({"min_instances": 2, "max_instances": 2}),
        ))
        .await;
    assert_quota(status, &body, "max_instances", 2, 2, 1);
    let cb = app.callback(&path).await;
    assert_eq!(cb["state"], "failed");
    assert_eq!(cb["last_error"]["code"], "QUOTA_EXCEEDED");
    assert!(
        app.docker.running(&path).is_empty(),
        "its instances were removed"
    );
    assert_eq!(usage(&app, &ns).await["instances"], 1);
}

#[tokio::test]
async fn parallel_cold_starts_beyond_the_instance_quota_answer_quota_exceeded() {
    let app = TestApp::spawn().await;
    let ns = namespace(&app, json!({})).await;
    let paths: Vec<String> = (0..5).map(|_| unique("cold")).collect();
    for p in &paths {
        app.deploy_ok(&in_ns(
            p,
            &ns,
            json!({"idle_timeout_s": 1, "keep_paused_s": 0}),
        ))
        .await;
    }
    for p in &paths {
        app.wait_for(p, "scale to zero", |cb| {
            cb["instances"].as_array().is_some_and(Vec::is_empty)
        })
        .await;
    }
    assert_eq!(usage(&app, &ns).await["instances"], 0);
    let (status, _, body) = send(
        &app,
        Method::PATCH,
        &format!("/namespaces/{ns}"),
        None,
        Some(&json!({"quota": {"max_instances": 2}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let answers = join_all(paths.iter().map(|p| app.call(p, "/"))).await;
    let served = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::OK)
        .count();
    assert_eq!(served, 2, "{answers:#?}");
    for (status, _, text) in answers.iter().filter(|(s, _, _)| *s != StatusCode::OK) {
        let body = crate::helpers::parse(text);
        assert_quota(*status, &body, "max_instances", 2, 2, 1);
    }
    assert_eq!(usage(&app, &ns).await["instances"], 2);
}

#[tokio::test]
async fn job_runs_count_as_instances_while_they_run() {
    let app = TestApp::spawn().await;
    let ns = namespace(&app, json!({"max_instances": 2, "max_memory_mb": 4096})).await;
    let path = unique("jobs");
    app.deploy_ok(&in_ns(
        &path,
        &ns,
        json!({"mode": "job", "max_instances": 4, "memory_mb": 128, "env": {"FAKE_JOB_SLEEP_MS": "3000"}}),
    ))
    .await;
    assert_eq!(
        usage(&app, &ns).await["instances"],
        0,
        "the deploy's check job is over"
    );
    let answers = join_all((0..4).map(|_| app.call(&path, "/"))).await;
    let ran = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::OK)
        .count();
    assert_eq!(ran, 2, "{answers:#?}");
    for (status, _, text) in answers.iter().filter(|(s, _, _)| *s != StatusCode::OK) {
        assert_quota(
            *status,
            &crate::helpers::parse(text),
            "max_instances",
            2,
            2,
            1,
        );
    }
    assert_eq!(
        usage(&app, &ns).await["instances"],
        0,
        "finished jobs give their room back"
    );
}

#[tokio::test]
async fn a_quota_never_goes_below_what_is_in_use() {
    let app = TestApp::spawn().await;
    let ns = namespace(&app, json!({"max_callbacks": 5})).await;
    for _ in 0..2 {
        app.deploy_ok(&in_ns(&unique("used"), &ns, json!({"memory_mb": 128})))
            .await;
    }
    let patch = |quota: Value| {
        let body = json!({ "quota": quota });
        let ns = ns.clone();
        let app = &app;
        async move {
            send(
                app,
                Method::PATCH,
                &format!("/namespaces/{ns}"),
                None,
                Some(&body),
            )
            .await
        }
    };
    for (quota, field, used) in [
        (json!({"max_callbacks": 1}), "max_callbacks", 2),
        (json!({"max_instances": 1}), "max_instances", 2),
        (json!({"max_memory_mb": 200}), "max_memory_mb", 256),
    ] {
        let (status, _, body) = patch(quota.clone()).await;
        assert_error(status, &body, 409, "NAMESPACE_EXISTS");
        assert_eq!(body["error"]["details"]["quota"], field, "{body:#}");
        assert_eq!(body["error"]["details"]["used"], used, "{body:#}");
        assert!(
            body["error"]["details"]["fields"][format!("quota.{field}")].is_string(),
            "{body:#}"
        );
    }
    let (status, _, body) = patch(json!({"max_instances": 2, "max_callbacks": null})).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["quota"], json!({"max_instances": 2}));
    let (status, _, body) = patch(json!({"max_gpus": 1})).await;
    assert_error(status, &body, 422, "VALIDATION_FAILED");
    let (status, _, body) = send(
        &app,
        Method::PATCH,
        "/namespaces/default",
        None,
        Some(&json!({"quota": {}})),
    )
    .await;
    assert_error(status, &body, 409, "NAMESPACE_EXISTS");
}

#[tokio::test]
async fn metrics_show_each_namespaces_usage_and_quota() {
    let app = TestApp::spawn().await;
    let ns = namespace(&app, json!({"max_callbacks": 4, "max_memory_mb": 1024})).await;
    app.deploy_ok(&in_ns(&unique("metered"), &ns, json!({"memory_mb": 128})))
        .await;
    let (_, _, text) = app.request(Method::GET, "/metrics", None).await;
    let line = |name: &str, resource: &str| {
        let start = format!("{name}{{namespace=\"{ns}\",resource=\"{resource}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&start))
            .map(str::to_owned)
    };
    assert_eq!(
        line("faas_namespace_usage", "callbacks").as_deref(),
        Some("1"),
        "{text}"
    );
    assert_eq!(
        line("faas_namespace_usage", "instances").as_deref(),
        Some("1")
    );
    assert_eq!(
        line("faas_namespace_usage", "memory_mb").as_deref(),
        Some("128")
    );
    assert_eq!(
        line("faas_namespace_quota", "callbacks").as_deref(),
        Some("4")
    );
    assert_eq!(
        line("faas_namespace_quota", "memory_mb").as_deref(),
        Some("1024")
    );
    assert_eq!(
        line("faas_namespace_quota", "instances"),
        None,
        "unlimited: no line"
    );
}
