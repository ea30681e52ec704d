//! The namespaces pages against the gateway's namespace routes: one namespace's usage, its
//! quota changed (a blank limit lifts it), its tokens rotated and shown once; and the
//! dashboard signed in with a namespace's own admin token.

use serde_json::{Value, json};

use crate::browser::Browser;
use crate::gateway::{Gateway, unique};

const PAGE_S: u64 = 60;

async fn api(
    gateway: &Gateway,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = gateway
        .client
        .request(method, gateway.url(path))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

/// Clicks the element at `css` as soon as it exists, found and clicked in one script.
async fn click_now(browser: &Browser, css: &str) {
    browser
        .holds(
            &format!("{css} is clicked"),
            PAGE_S,
            "const el = document.querySelector(arguments[0]); if (!el) return false; el.click(); return true;",
            vec![json!(css)],
        )
        .await;
}

#[tokio::test]
async fn a_namespace_page_changes_its_quota_rotates_its_tokens_and_its_token_signs_in() {
    let admin = uuid::Uuid::new_v4().simple().to_string();
    let Some(gateway) = Gateway::spawn(Some(&admin)).await else {
        return;
    };
    let Some(mut browser) = Browser::start("namespace", false).await else {
        return;
    };
    let ns = unique("ui-team");
    let (status, created) = api(
        &gateway,
        reqwest::Method::POST,
        "/namespaces",
        &admin,
        Some(json!({"name": ns, "quota": {"max_callbacks": 3, "max_instances": 5}})),
    )
    .await;
    assert_eq!(status, 201, "{created:#}");

    browser.goto(&gateway.url("/ui")).await;
    browser.fill("#auth #token", &admin).await;
    browser.click("#auth button[type='submit']").await;
    browser.find("[data-nav='namespaces']", PAGE_S).await;
    browser.go_hash(&format!("#/namespaces/{ns}")).await;
    browser.text_contains("h1", &ns, PAGE_S).await;
    assert_eq!(browser.prop("#f-max_callbacks", "value").await, "3");
    browser.shot("namespace").await;

    // A blank limit lifts it; a new one is set; the one not touched stays.
    browser.fill("#f-max_callbacks", "").await;
    browser.fill("#f-max_memory_mb", "2048").await;
    click_now(&browser, "form button[type='submit']").await;
    let mut quota = Value::Null;
    for _ in 0..50 {
        quota = api(
            &gateway,
            reqwest::Method::GET,
            &format!("/namespaces/{ns}"),
            &admin,
            None,
        )
        .await
        .1["quota"]
            .clone();
        if quota == json!({"max_instances": 5, "max_memory_mb": 2048}) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(quota, json!({"max_instances": 5, "max_memory_mb": 2048}));

    browser
        .click(".detail-head .actions button:first-child")
        .await;
    browser.click("#confirm-ok").await;
    browser
        .text_contains("#new-tokens", &format!("Tokens of {ns}"), PAGE_S)
        .await;
    browser.shot("rotated").await;
    let shown = browser
        .run(
            "return [...document.querySelectorAll('#new-tokens code.token')].map(c => c.textContent);",
            vec![],
        )
        .await;
    let shown: Vec<String> = serde_json::from_value(shown).expect("two tokens");
    assert_eq!(shown.len(), 2, "{shown:?}");
    let old = created["tokens"]["admin"].as_str().expect("old token");
    assert_ne!(shown[0], old);
    let (status, _) = api(&gateway, reqwest::Method::GET, "/callbacks", old, None).await;
    assert_eq!(status, 401, "the old admin token stopped working");

    // Signed in with the namespace's new admin token: its own callbacks, no namespaces view.
    browser.go_hash("#/").await;
    click_now(&browser, "#forget").await;
    browser.find("#auth #token", PAGE_S).await;
    browser.fill("#auth #token", &shown[0]).await;
    click_now(&browser, "#auth button[type='submit']").await;
    browser
        .text_contains(".empty", "No callbacks yet", PAGE_S)
        .await;
    let hidden = browser
        .run(
            "return document.querySelector(\"[data-nav='namespaces']\").hidden;",
            vec![],
        )
        .await;
    assert_eq!(
        hidden,
        json!(true),
        "a namespace's token does not manage namespaces"
    );
    browser.shot("namespace-token").await;
}
