//! Deploying through the dashboard's form, watching the callback become ready, calling it and
//! seeing its output in the live log; redeploy, undeploy and delete; a function that fails to
//! start.

use fantoccini::key::Key;
use serde_json::json;

use crate::browser::Browser;
use crate::gateway::{Gateway, unique};

/// Waiting for a first build (pip layers, image export) on a busy machine.
const DEPLOY_S: u64 = 300;
/// Waiting for something the page polls every few seconds.
const PAGE_S: u64 = 60;

/// The handler, typed line by line without indentation: the editor indents after `:`.
const TYPED: [&str; 3] = [
    "def handle(event, context):",
    r#"print("probe " + event["query"].get("id", "?"), flush=True)"#,
    r#"return {"id": event["query"].get("id")}"#,
];

/// What the editor must hold after typing `TYPED`, Enter between lines.
fn expected_source() -> String {
    format!("{}\n    {}\n    {}", TYPED[0], TYPED[1], TYPED[2])
}

#[tokio::test]
async fn a_function_deployed_through_the_form_serves_and_its_output_shows_in_the_live_log() {
    let Some(gateway) = Gateway::spawn(None).await else {
        return;
    };
    let Some(mut browser) = Browser::start("deploy", false).await else {
        return;
    };
    let path = unique("ui");
    gateway.owns(&path);

    browser.goto(&gateway.url("/ui")).await;
    browser
        .text_contains(".empty", "No callbacks yet", PAGE_S)
        .await;
    browser.shot("callbacks-empty").await;

    // The empty state leads to the form.
    browser.click(".empty a.button").await;
    browser.fill("#f-path", &path).await;
    let editor = browser.find("#f-code", 10).await;
    editor.clear().await.expect("clear the template");
    let enter = char::from(Key::Enter).to_string();
    for (i, line) in TYPED.iter().enumerate() {
        if i > 0 {
            editor.send_keys(&enter).await.expect("enter");
        }
        editor.send_keys(line).await.expect("type");
    }
    assert_eq!(
        browser.prop("#f-code", "value").await,
        expected_source(),
        "the editor's indentation"
    );
    browser.click("#limits summary").await;
    browser.fill("#f-memory_mb", "128").await;
    browser.click("#environment summary").await;
    browser.click("#f-env + .field-error + button").await;
    browser
        .fill("#f-env .env-row input:nth-child(1)", "GREETING")
        .await;
    browser
        .fill("#f-env .env-row input:nth-child(2)", "from-the-form")
        .await;
    browser.shot("deploy-form").await;

    browser.click("#f-submit").await;
    browser.shot("deploying").await;
    browser
        .holds(
            "the page shows the callback ready",
            DEPLOY_S,
            "return location.hash === '#/callbacks/' + arguments[0] && \
             document.querySelector('.detail-head .badge')?.dataset.state === 'ready';",
            vec![json!(path)],
        )
        .await;

    // The form sent the source and the settings.
    let (status, cb) = gateway.get_json(&format!("/callbacks/{path}")).await;
    assert_eq!(status, 200, "{cb:#}");
    assert_eq!(cb["memory_mb"], 128, "{cb:#}");
    assert_eq!(cb["env"]["GREETING"], "from-the-form", "{cb:#}");
    assert_eq!(cb["revision"], 1, "{cb:#}");

    // A call from outside shows in the live log.
    let marker = uuid::Uuid::new_v4().simple().to_string();
    let resp = gateway
        .client
        .get(gateway.url(&format!("/api/{path}?id={marker}")))
        .send()
        .await
        .expect("invoke");
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["id"], marker.as_str());
    browser
        .text_contains(".log-lines", &format!("probe {marker}"), PAGE_S)
        .await;

    // So does a call made with the page's own form, whose answer the page shows.
    let second = uuid::Uuid::new_v4().simple().to_string();
    browser.fill("#try-rest", &format!("?id={second}")).await;
    browser.click("#try-send").await;
    browser
        .text_contains("#try-response", &second, PAGE_S)
        .await;
    browser
        .text_contains(".log-lines", &format!("probe {second}"), PAGE_S)
        .await;
    browser.shot("callback").await;

    browser.go_hash("#/").await;
    browser
        .find(
            &format!("tr[data-path='{path}'] .badge[data-state='ready']"),
            PAGE_S,
        )
        .await;
    browser.shot("callbacks").await;

    redeploy_form_is_prefilled(&mut browser, &path).await;
    undeploy_keeps_the_callback(&mut browser, &gateway, &path).await;
    delete_with_confirmation(&mut browser, &gateway, &path).await;
}

/// Undeploy asks first; the callback stays, undeployed, with its revision.
async fn undeploy_keeps_the_callback(browser: &mut Browser, gateway: &Gateway, path: &str) {
    browser.go_hash(&format!("#/callbacks/{path}")).await;
    browser.click("#undeploy").await;
    browser.click("#confirm-ok").await;
    browser
        .find(".detail-head .badge[data-state='undeployed']", PAGE_S)
        .await;
    browser
        .text_contains("#redeploy", "Deploy again", PAGE_S)
        .await;
    browser.shot("undeployed").await;
    let (status, cb) = gateway.get_json(&format!("/callbacks/{path}")).await;
    assert_eq!(status, 200, "{cb:#}");
    assert_eq!(cb["state"], "undeployed", "{cb:#}");
    assert_eq!(cb["revision"], 1, "{cb:#}");
}

/// The redeploy form holds the running source (this browser deployed it) and settings.
async fn redeploy_form_is_prefilled(browser: &mut Browser, path: &str) {
    browser.go_hash(&format!("#/callbacks/{path}")).await;
    browser.click("#redeploy").await;
    browser.find("#f-code", PAGE_S).await;
    assert_eq!(browser.prop("#f-code", "value").await, expected_source());
    assert_eq!(browser.prop("#f-memory_mb", "value").await, "128");
    assert_eq!(browser.prop("#f-path", "value").await, path);
    assert_eq!(browser.prop("#f-path", "readOnly").await, "true");
    browser.shot("redeploy-form").await;
}

/// Delete asks for the path to be typed, then the callback is gone.
async fn delete_with_confirmation(browser: &mut Browser, gateway: &Gateway, path: &str) {
    browser.go_hash(&format!("#/callbacks/{path}")).await;
    browser.click("#delete").await;
    let confirm = browser.find("#confirm-ok", 10).await;
    assert!(
        !confirm.is_enabled().await.expect("enabled"),
        "before typing"
    );
    browser.fill("#confirm-text", path).await;
    browser.shot("delete-confirmation").await;
    browser.click("#confirm-ok").await;
    browser
        .text_contains(".empty", "No callbacks yet", PAGE_S)
        .await;
    let (status, body) = gateway.get_json(&format!("/callbacks/{path}")).await;
    assert_eq!(status, 404, "{body:#}");
}

#[tokio::test]
async fn a_function_that_cannot_start_shows_its_error_code_and_traceback() {
    let Some(gateway) = Gateway::spawn(None).await else {
        return;
    };
    let Some(mut browser) = Browser::start("failure", false).await else {
        return;
    };
    let path = unique("ui-broken");
    gateway.owns(&path);
    browser.goto(&gateway.url("/ui#/deploy")).await;
    browser.fill("#f-path", &path).await;
    // Set rather than typed: the editor would fix the missing colon's indentation.
    browser
        .run(
            "const a = document.getElementById('f-code'); a.value = arguments[0]; \
             a.dispatchEvent(new Event('input')); return null;",
            vec![json!("def handle(event, context)\n    return 1\n")],
        )
        .await;
    browser.click("#f-submit").await;
    let error = ".error-box[data-code='STARTUP_FAILED']";
    browser.find(error, DEPLOY_S).await;
    browser
        .text_contains(&format!("{error} pre.log-pre"), "SyntaxError", 10)
        .await;
    browser
        .text_contains(&format!("{error} .error-message"), &path, 10)
        .await;
    browser.shot("startup-failed").await;
    // The failed first deploy is listed as failed, with its last error.
    browser.go_hash("#/").await;
    browser
        .find(
            &format!("tr[data-path='{path}'] .badge[data-state='failed']"),
            PAGE_S,
        )
        .await;
    browser
        .text_contains(&format!("tr[data-path='{path}']"), "STARTUP_FAILED", 10)
        .await;
    browser.shot("callbacks-with-a-failure").await;
}
