//! A gateway with an admin token: the dashboard asks for it, keeps it for the session, sends
//! it, and forgets it on request. The namespaces view shows only where the gateway has them.

use serde_json::json;

use crate::browser::Browser;
use crate::gateway::Gateway;

const PAGE_S: u64 = 60;

#[tokio::test]
async fn with_an_admin_token_the_dashboard_asks_for_it_keeps_it_and_forgets_it() {
    let token = uuid::Uuid::new_v4().simple().to_string();
    let Some(gateway) = Gateway::spawn(Some(&token)).await else {
        return;
    };
    let Some(mut browser) = Browser::start("token", true).await else {
        return;
    };
    // The page and its assets load without the token.
    browser.goto(&gateway.url("/ui")).await;
    browser.find("#auth #token", PAGE_S).await;
    browser.shot("token-prompt").await;

    browser.fill("#token", "not-the-token").await;
    browser.click("#auth button[type='submit']").await;
    browser
        .text_contains("#token-error", "refused", PAGE_S)
        .await;

    browser.fill("#token", &token).await;
    browser.click("#auth button[type='submit']").await;
    browser
        .text_contains(".empty", "No callbacks yet", PAGE_S)
        .await;
    let kept = browser
        .run("return sessionStorage.getItem('faas.token');", vec![])
        .await;
    assert_eq!(kept, json!(token));
    browser.find("#forget", 10).await;
    browser.shot("signed-in").await;

    namespaces_view_matches_the_gateway(&mut browser, &gateway).await;

    browser.click("#forget").await;
    browser.find("#auth #token", PAGE_S).await;
    let kept = browser
        .run("return sessionStorage.getItem('faas.token');", vec![])
        .await;
    assert_eq!(kept, serde_json::Value::Null);
}

/// Where the gateway answers `/namespaces`, the admin sees the view and a new namespace's
/// tokens; where the route does not exist, the link stays hidden.
async fn namespaces_view_matches_the_gateway(browser: &mut Browser, gateway: &Gateway) {
    let (status, body) = gateway.get_json("/namespaces").await;
    let link = "[data-nav='namespaces']";
    if status == 404 && body["error"]["code"] == "ROUTE_NOT_FOUND" {
        let hidden = browser
            .run(
                "return document.querySelector(arguments[0]).hidden;",
                vec![json!(link)],
            )
            .await;
        assert_eq!(hidden, json!(true), "no namespaces here, so no link");
        return;
    }
    assert_eq!(status, 200, "{body:#}");
    browser.click(link).await;
    let name = crate::gateway::unique("ui-ns");
    browser.fill("#f-name", &name).await;
    browser.fill("#f-max_callbacks", "3").await;
    browser.click(".ns-create button[type='submit']").await;
    browser
        .text_contains("#new-tokens", &format!("Tokens of {name}"), PAGE_S)
        .await;
    let tokens = browser
        .run(
            "return [...document.querySelectorAll('#new-tokens code.token')].map(c => c.textContent);",
            vec![],
        )
        .await;
    let tokens = tokens.as_array().cloned().unwrap_or_default();
    assert_eq!(tokens.len(), 2, "an admin and an invoke token: {tokens:?}");
    assert!(
        tokens
            .iter()
            .all(|t| t.as_str().is_some_and(|t| !t.is_empty())),
        "{tokens:?}"
    );
    browser
        .find(
            &format!("#namespaces a[href='#/namespaces/{name}']"),
            PAGE_S,
        )
        .await;
    browser.shot("namespaces").await;
    let deleted = gateway
        .client
        .delete(gateway.url(&format!("/namespaces/{name}")))
        .bearer_auth(gateway_token(browser).await)
        .send()
        .await
        .expect("delete the namespace");
    assert_eq!(deleted.status(), 204);
}

async fn gateway_token(browser: &Browser) -> String {
    browser
        .run("return sessionStorage.getItem('faas.token');", vec![])
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
