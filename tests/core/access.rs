//! Who may do what (SPEC 2.5), and secrets that reach the function but are never shown.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{CODE, TestApp, assert_error, parse, python, unique, with};

#[tokio::test]
async fn tokens_guard_the_admin_and_invoke_apis_and_never_reach_the_function() {
    let app = TestApp::spawn_with(|f| {
        f.admin_token = Some("admin-secret".into());
        f.invoke_token = Some("invoke-secret".into());
    })
    .await;
    let path = unique("guarded");
    let deploy = |token: Option<&'static str>| {
        let mut req = app
            .client
            .post(app.url("/callback/deploy"))
            .json(&python(&path, CODE));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    for token in [None, Some("wrong"), Some("invoke-secret")] {
        let resp = deploy(token).await.expect("send");
        let status = resp.status();
        assert_error(
            status,
            &parse(&resp.text().await.expect("text")),
            401,
            "UNAUTHORIZED",
        );
    }
    assert_eq!(
        deploy(Some("admin-secret")).await.expect("send").status(),
        StatusCode::CREATED
    );
    let list = app
        .client
        .get(app.url("/callbacks"))
        .send()
        .await
        .expect("send");
    assert_eq!(list.status(), StatusCode::UNAUTHORIZED);
    for open in ["/health", "/ready", "/metrics", "/openapi.json"] {
        let status = app
            .client
            .get(app.url(open))
            .send()
            .await
            .expect("send")
            .status();
        assert_eq!(status, StatusCode::OK, "{open}");
    }
    let url = app.url(&format!("/api/{path}/echo"));
    assert_eq!(
        app.client.get(&url).send().await.expect("send").status(),
        StatusCode::UNAUTHORIZED
    );
    let with_admin = app.client.get(&url).bearer_auth("admin-secret").send();
    assert_eq!(
        with_admin.await.expect("send").status(),
        StatusCode::UNAUTHORIZED
    );
    let ok = app
        .client
        .get(&url)
        .bearer_auth("invoke-secret")
        .send()
        .await
        .expect("send");
    assert_eq!(ok.status(), StatusCode::OK);
    let echoed: Value = ok.json().await.expect("json");
    assert_eq!(echoed["path"], "/echo");
    assert!(
        echoed["headers"].get("authorization").is_none(),
        "the invoke token is not passed to the function: {echoed:#}"
    );
}

#[tokio::test]
async fn an_authorization_header_that_is_not_the_invoke_token_reaches_the_function() {
    let app = TestApp::spawn().await;
    let path = unique("auth");
    app.deploy_ok(&python(&path, CODE)).await;
    let echoed: Value = app
        .client
        .get(app.url(&format!("/api/{path}")))
        .bearer_auth("the-functions-own")
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(
        echoed["headers"]["authorization"],
        "Bearer the-functions-own"
    );
}

#[tokio::test]
async fn secret_looking_env_values_are_not_shown_but_reach_the_function() {
    let app = TestApp::spawn().await;
    let path = unique("secretive");
    let cb = app
        .deploy_ok(&with(
            python(&path, CODE),
            json!({"env": {"DB_PASSWORD": "hunter2", "GREETING": "hi"}}),
        ))
        .await;
    assert_eq!(cb["env"], json!({"DB_PASSWORD": "(set)", "GREETING": "hi"}));
    let (_, list) = app.get_json("/callbacks").await;
    assert!(!list.to_string().contains("hunter2"));
    let (status, _, text) = app
        .request(Method::GET, &format!("/api/{path}/env/DB_PASSWORD"), None)
        .await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "hunter2"));
}
