//! Namespaces (SPEC 10) on the stand-in backend: who may do what with whose callbacks, as one
//! table of every route against every kind of caller; tokens shown once and rotated; the
//! namespace a deploy lands in; and the namespace routes themselves.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{CODE, TestApp, assert_error, parse, python, unique, with};

/// The gateway's own tokens in these tests.
pub const GATEWAY_ADMIN: &str = "gateway-admin-token";
pub const GATEWAY_INVOKE: &str = "gateway-invoke-token";

/// Any request with an optional bearer token: status, headers and JSON (or wrapped text).
pub async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = app.client.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await.expect("request");
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, parse(&resp.text().await.expect("body")))
}

/// A namespace created by the gateway's admin (`admin`: its token, if the gateway has one);
/// the creation's answer, tokens included.
pub async fn create_namespace(
    app: &TestApp,
    admin: Option<&str>,
    name: &str,
    quota: Value,
) -> Value {
    let body = json!({"name": name, "quota": quota});
    let (status, _, created) = send(app, Method::POST, "/namespaces", admin, Some(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created:#}");
    created
}

/// The `admin` and `invoke` tokens of a creation's (or rotation's) answer.
pub fn tokens_of(created: &Value) -> (String, String) {
    let token = |role: &str| {
        created["tokens"][role]
            .as_str()
            .unwrap_or_else(|| panic!("no {role} token in {created:#}"))
            .to_owned()
    };
    (token("admin"), token("invoke"))
}

/// A deploy with `token`: status and body.
pub async fn deploy_as(app: &TestApp, token: Option<&str>, body: &Value) -> (StatusCode, Value) {
    let (status, _, json) = send(app, Method::POST, "/callback/deploy", token, Some(body)).await;
    (status, json)
}

/// Who asks, in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// The admin token of the namespace owning the callback.
    OwnAdmin,
    /// The admin token of another namespace.
    OtherAdmin,
    /// The invoke token of the owning namespace.
    OwnInvoke,
    /// No token at all.
    Nobody,
    /// The gateway's token for the route (admin for management, invoke for `/api/*`).
    Gateway,
}

const EVERYONE: [Who; 5] = [
    Who::OtherAdmin,
    Who::OwnInvoke,
    Who::Nobody,
    Who::OwnAdmin,
    Who::Gateway,
];

/// What a caller must get: a status, and the error code when it is an error.
#[derive(Debug, Clone, Copy)]
struct Want(u16, Option<&'static str>);

const OK: Want = Want(200, None);
const UNAUTHORIZED: Want = Want(401, Some("UNAUTHORIZED"));
const NOT_FOUND: Want = Want(404, Some("CALLBACK_NOT_FOUND"));

/// One route of the table: the request, and the answer for each caller in [`EVERYONE`]'s
/// order (other admin, own invoke, nobody, own admin, gateway).
struct Row {
    what: &'static str,
    method: Method,
    /// `{cb}` is the callback's path, `{inv}` an async invocation of it, `{ns}` the owning
    /// namespace, `{spare}` a namespace nobody calls, `{new}` a fresh name.
    path: &'static str,
    body: Option<Value>,
    headers: &'static [(&'static str, &'static str)],
    /// Each caller acts on a callback of its own made for it (destructive routes).
    fresh: bool,
    want: [Want; 5],
}

struct World {
    app: TestApp,
    own: (String, String),
    other_admin: String,
    ns: String,
    spare: String,
    cb: String,
    inv: String,
}

impl World {
    fn token(&self, who: Who, api: bool) -> Option<String> {
        match who {
            Who::OwnAdmin => Some(self.own.0.clone()),
            Who::OtherAdmin => Some(self.other_admin.clone()),
            Who::OwnInvoke => Some(self.own.1.clone()),
            Who::Nobody => None,
            Who::Gateway if api => Some(GATEWAY_INVOKE.to_owned()),
            Who::Gateway => Some(GATEWAY_ADMIN.to_owned()),
        }
    }

    /// A callback of the owning namespace, deployed with its admin token.
    async fn callback(&self, name: &str) -> String {
        let path = unique(name);
        let (status, body) = deploy_as(&self.app, Some(&self.own.0), &python(&path, CODE)).await;
        assert_eq!(status, StatusCode::CREATED, "{body:#}");
        assert_eq!(body["namespace"], self.ns.as_str());
        path
    }
}

async fn world() -> World {
    let app = TestApp::spawn_with(|f| {
        f.admin_token = Some(GATEWAY_ADMIN.into());
        f.invoke_token = Some(GATEWAY_INVOKE.into());
    })
    .await;
    let (ns, other, spare) = (unique("own"), unique("other"), unique("spare"));
    let own = tokens_of(&create_namespace(&app, Some(GATEWAY_ADMIN), &ns, json!({})).await);
    let other_admin =
        tokens_of(&create_namespace(&app, Some(GATEWAY_ADMIN), &other, json!({})).await).0;
    create_namespace(&app, Some(GATEWAY_ADMIN), &spare, json!({})).await;
    let mut w = World {
        app,
        own,
        other_admin,
        ns,
        spare,
        cb: String::new(),
        inv: String::new(),
    };
    w.cb = w.callback("owned").await;
    let (status, _, accepted) = send(
        &w.app,
        Method::POST,
        &format!("/api/{}/", w.cb),
        Some(&w.own.1),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "a plain call first: {accepted:#}");
    let resp = w
        .app
        .client
        .post(w.app.url(&format!("/api/{}/", w.cb)))
        .bearer_auth(&w.own.1)
        .header("prefer", "respond-async")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    w.inv = parse(&resp.text().await.expect("text"))["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    w
}

fn rows() -> Vec<Row> {
    let row = |what, method, path, want| Row {
        what,
        method,
        path,
        body: None,
        headers: &[],
        fresh: false,
        want,
    };
    let ns_admin_only = [UNAUTHORIZED, UNAUTHORIZED, UNAUTHORIZED, UNAUTHORIZED, OK];
    vec![
        row(
            "list callbacks",
            Method::GET,
            "/callbacks",
            [OK, UNAUTHORIZED, UNAUTHORIZED, OK, OK],
        ),
        row(
            "get a callback",
            Method::GET,
            "/callbacks/{cb}",
            [NOT_FOUND, UNAUTHORIZED, UNAUTHORIZED, OK, OK],
        ),
        row(
            "its revisions",
            Method::GET,
            "/callbacks/{cb}/revisions",
            [NOT_FOUND, UNAUTHORIZED, UNAUTHORIZED, OK, OK],
        ),
        row(
            "its logs",
            Method::GET,
            "/callbacks/{cb}/logs",
            [NOT_FOUND, UNAUTHORIZED, UNAUTHORIZED, OK, OK],
        ),
        row(
            "its logs, followed",
            Method::GET,
            "/callbacks/{cb}/logs?follow=true&tail=1",
            [NOT_FOUND, UNAUTHORIZED, UNAUTHORIZED, OK, OK],
        ),
        row(
            "an async invocation",
            Method::GET,
            "/invocations/{inv}",
            [
                Want(404, Some("INVOCATION_NOT_FOUND")),
                UNAUTHORIZED,
                UNAUTHORIZED,
                OK,
                OK,
            ],
        ),
        row(
            "a call",
            Method::GET,
            "/api/{cb}/",
            [NOT_FOUND, OK, UNAUTHORIZED, OK, OK],
        ),
        Row {
            headers: &[("prefer", "respond-async")],
            ..row(
                "an async call",
                Method::POST,
                "/api/{cb}/",
                [
                    NOT_FOUND,
                    Want(202, None),
                    UNAUTHORIZED,
                    Want(202, None),
                    Want(202, None),
                ],
            )
        },
        Row {
            body: Some(
                json!({"path": "{cb}", "runtime": "python", "code": CODE, "namespace": "{ns}"}),
            ),
            ..row(
                "a redeploy naming the namespace",
                Method::POST,
                "/callback/deploy",
                [
                    Want(404, Some("NAMESPACE_NOT_FOUND")),
                    UNAUTHORIZED,
                    UNAUTHORIZED,
                    OK,
                    OK,
                ],
            )
        },
        Row {
            body: Some(json!({"path": "{cb}", "runtime": "python", "code": CODE})),
            ..row(
                "a redeploy naming none",
                Method::POST,
                "/callback/deploy",
                [
                    Want(409, Some("PATH_TAKEN")),
                    UNAUTHORIZED,
                    UNAUTHORIZED,
                    OK,
                    Want(422, Some("VALIDATION_FAILED")),
                ],
            )
        },
        Row {
            body: Some(json!({"path": "{cb}", "action": "undeploy"})),
            fresh: true,
            ..row(
                "an undeploy",
                Method::POST,
                "/callback/deploy",
                [NOT_FOUND, UNAUTHORIZED, UNAUTHORIZED, OK, OK],
            )
        },
        Row {
            fresh: true,
            ..row(
                "a delete",
                Method::DELETE,
                "/callbacks/{cb}",
                [
                    NOT_FOUND,
                    UNAUTHORIZED,
                    UNAUTHORIZED,
                    Want(204, None),
                    Want(204, None),
                ],
            )
        },
        row("list namespaces", Method::GET, "/namespaces", ns_admin_only),
        row(
            "read the own namespace",
            Method::GET,
            "/namespaces/{ns}",
            [
                Want(404, Some("NAMESPACE_NOT_FOUND")),
                UNAUTHORIZED,
                UNAUTHORIZED,
                OK,
                OK,
            ],
        ),
        Row {
            body: Some(json!({"quota": {"max_callbacks": 1000}})),
            ..row(
                "change its quota",
                Method::PATCH,
                "/namespaces/{ns}",
                ns_admin_only,
            )
        },
        Row {
            body: Some(json!({"name": "{new}"})),
            ..row(
                "create a namespace",
                Method::POST,
                "/namespaces",
                [
                    UNAUTHORIZED,
                    UNAUTHORIZED,
                    UNAUTHORIZED,
                    UNAUTHORIZED,
                    Want(201, None),
                ],
            )
        },
        row(
            "rotate tokens",
            Method::POST,
            "/namespaces/{spare}/tokens",
            ns_admin_only,
        ),
        row(
            "delete a namespace",
            Method::DELETE,
            "/namespaces/{spare}",
            [
                UNAUTHORIZED,
                UNAUTHORIZED,
                UNAUTHORIZED,
                UNAUTHORIZED,
                Want(204, None),
            ],
        ),
    ]
}

fn fill(text: &str, w: &World, cb: &str) -> String {
    text.replace("{cb}", cb)
        .replace("{inv}", &w.inv)
        .replace("{ns}", &w.ns)
        .replace("{spare}", &w.spare)
        .replace("{new}", &unique("made"))
}

#[tokio::test]
async fn every_route_answers_each_kind_of_caller_as_the_contract_says() {
    let w = world().await;
    let mut failures = Vec::new();
    for row in rows() {
        for (who, want) in EVERYONE.into_iter().zip(row.want) {
            let cb = if row.fresh {
                w.callback("fresh").await
            } else {
                w.cb.clone()
            };
            let path = fill(row.path, &w, &cb);
            let api = path.starts_with("/api/");
            let mut req = w.app.client.request(row.method.clone(), w.app.url(&path));
            if let Some(t) = w.token(who, api) {
                req = req.bearer_auth(t);
            }
            for (k, v) in row.headers {
                req = req.header(*k, *v);
            }
            if let Some(body) = &row.body {
                req = req.json(&parse(&fill(&body.to_string(), &w, &cb)));
            }
            let resp = req.send().await.expect("send");
            let status = resp.status().as_u16();
            // A followed log stays open: its status is the answer.
            let body = if path.contains("follow=true") && status == 200 {
                Value::Null
            } else {
                parse(&resp.text().await.unwrap_or_default())
            };
            let code_ok = want.1.is_none_or(|c| body["error"]["code"] == c);
            if status != want.0 || !code_ok {
                failures.push(format!(
                    "{} as {who:?}: want {} {:?}, got {status} {body}",
                    row.what, want.0, want.1
                ));
            }
            if row.what == "list callbacks" && status == 200 {
                let listed: Vec<&str> = body["callbacks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["path"].as_str())
                    .collect();
                let sees = listed.contains(&w.cb.as_str());
                if sees != (who != Who::OtherAdmin) {
                    failures.push(format!("{who:?} lists {listed:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn with_no_gateway_token_routes_stay_open_and_a_namespace_token_still_restricts() {
    let app = TestApp::spawn().await;
    let ns = unique("open");
    let (admin, invoke) = tokens_of(&create_namespace(&app, None, &ns, json!({})).await);
    let theirs = unique("theirs");
    app.deploy_ok(&with(python(&theirs, CODE), json!({"namespace": ns})))
        .await;
    let plain = unique("plain");
    let cb = app.deploy_ok(&python(&plain, CODE)).await;
    assert_eq!(cb["namespace"], "default");
    // No token: everything, as before namespaces.
    let (status, _, list) = send(&app, Method::GET, "/callbacks", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["callbacks"].as_array().map(Vec::len), Some(2));
    // A namespace's token: its own only.
    let (_, _, list) = send(&app, Method::GET, "/callbacks", Some(&admin), None).await;
    let paths: Vec<&str> = list["callbacks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["path"].as_str())
        .collect();
    assert_eq!(paths, [theirs.as_str()]);
    let (status, _, body) = send(
        &app,
        Method::GET,
        &format!("/api/{plain}/"),
        Some(&invoke),
        None,
    )
    .await;
    assert_error(status, &body, 404, "CALLBACK_NOT_FOUND");
    let (status, _, echoed) = send(
        &app,
        Method::GET,
        &format!("/api/{theirs}/"),
        Some(&invoke),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        echoed["headers"].get("authorization").is_none(),
        "a namespace token is not passed to the function: {echoed:#}"
    );
    // A token that looks like a namespace's but opens nothing is refused, not ignored.
    let stale = format!("fns_{}", "0".repeat(64));
    let (status, _, body) = send(&app, Method::GET, "/callbacks", Some(&stale), None).await;
    assert_error(status, &body, 401, "UNAUTHORIZED");
    let (status, _, body) = send(
        &app,
        Method::GET,
        &format!("/api/{plain}/"),
        Some(&stale),
        None,
    )
    .await;
    assert_error(status, &body, 401, "UNAUTHORIZED");
    // The function's own credentials still reach it.
    let (status, _, echoed) = send(
        &app,
        Method::GET,
        &format!("/api/{plain}/"),
        Some("its-own"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(echoed["headers"]["authorization"], "Bearer its-own");
}

#[tokio::test]
async fn tokens_are_shown_once_and_a_rotation_stops_the_old_ones_at_once() {
    let app = TestApp::spawn_with(|f| f.admin_token = Some(GATEWAY_ADMIN.into())).await;
    let ns = unique("rotating");
    let created =
        create_namespace(&app, Some(GATEWAY_ADMIN), &ns, json!({"max_callbacks": 3})).await;
    assert_eq!(created["name"], ns.as_str());
    assert_eq!(created["quota"], json!({"max_callbacks": 3}));
    assert_eq!(
        created["usage"],
        json!({"callbacks": 0, "instances": 0, "memory_mb": 0})
    );
    assert!(created["created_at"].is_string());
    let (old_admin, old_invoke) = tokens_of(&created);
    assert_ne!(old_admin, old_invoke);
    let path = unique("rot");
    let (status, body) = deploy_as(&app, Some(&old_admin), &python(&path, CODE)).await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");
    // Reads never show tokens again.
    for read in [format!("/namespaces/{ns}"), "/namespaces".to_owned()] {
        let (_, _, body) = send(&app, Method::GET, &read, Some(GATEWAY_ADMIN), None).await;
        assert!(!body.to_string().contains(&old_admin), "{read}: {body:#}");
        assert!(!body.to_string().contains("tokens"), "{read}: {body:#}");
    }
    let (status, _, rotated) = send(
        &app,
        Method::POST,
        &format!("/namespaces/{ns}/tokens"),
        Some(GATEWAY_ADMIN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rotated:#}");
    assert_eq!(rotated["name"], ns.as_str());
    let (new_admin, new_invoke) = tokens_of(&rotated);
    assert_ne!(new_admin, old_admin);
    let (status, _, body) = send(&app, Method::GET, "/callbacks", Some(&old_admin), None).await;
    assert_error(status, &body, 401, "UNAUTHORIZED");
    let (status, _, body) = send(
        &app,
        Method::GET,
        &format!("/api/{path}/"),
        Some(&old_invoke),
        None,
    )
    .await;
    assert_error(status, &body, 401, "UNAUTHORIZED");
    let (status, _, _) = send(
        &app,
        Method::GET,
        &format!("/callbacks/{path}"),
        Some(&new_admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = send(
        &app,
        Method::GET,
        &format!("/api/{path}/"),
        Some(&new_invoke),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_deploy_lands_in_its_namespace_and_a_callback_cannot_change_namespace() {
    let app = TestApp::spawn().await;
    let (a, b) = (unique("ns-a"), unique("ns-b"));
    let a_admin = tokens_of(&create_namespace(&app, None, &a, json!({})).await).0;
    create_namespace(&app, None, &b, json!({})).await;
    let path = unique("moving");
    let cb = app
        .deploy_ok(&with(python(&path, CODE), json!({"namespace": a})))
        .await;
    assert_eq!(cb["namespace"], a.as_str());
    // The gateway's admin sees the owner: naming another namespace is a wrong field.
    let (status, body) = app
        .deploy(&with(python(&path, CODE), json!({"namespace": b})))
        .await;
    assert_error(status, &body, 422, "VALIDATION_FAILED");
    assert!(
        body["error"]["details"]["fields"]["namespace"].is_string(),
        "{body:#}"
    );
    // A namespace nobody made, and names that are no DNS label.
    let (status, body) = app
        .deploy(&with(
            python(&unique("x"), CODE),
            json!({"namespace": "nobody-made-me"}),
        ))
        .await;
    assert_error(status, &body, 404, "NAMESPACE_NOT_FOUND");
    let (status, body) = app
        .deploy(&with(
            python(&unique("x"), CODE),
            json!({"namespace": "Not_A_Label"}),
        ))
        .await;
    assert_error(status, &body, 422, "VALIDATION_FAILED");
    // With a's token the namespace defaults to a; a path of the default namespace is taken.
    let plain = unique("plain");
    app.deploy_ok(&python(&plain, CODE)).await;
    let (status, body) = deploy_as(&app, Some(&a_admin), &python(&plain, CODE)).await;
    assert_error(status, &body, 409, "PATH_TAKEN");
    let (status, body) = deploy_as(&app, Some(&a_admin), &python(&unique("own"), CODE)).await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");
    assert_eq!(body["namespace"], a.as_str());
    let (_, list) = app.get_json(&format!("/callbacks?namespace={a}")).await;
    assert_eq!(
        list["callbacks"].as_array().map(Vec::len),
        Some(2),
        "{list:#}"
    );
}

#[tokio::test]
async fn namespace_routes_validate_refuse_duplicates_and_protect_the_default() {
    let app = TestApp::spawn().await;
    let (status, _, body) = send(
        &app,
        Method::POST,
        "/namespaces",
        None,
        Some(&json!({"name": "Bad Name", "quota": {"max_instances": -2}})),
    )
    .await;
    assert_error(status, &body, 422, "VALIDATION_FAILED");
    for field in ["name", "quota.max_instances"] {
        assert!(
            body["error"]["details"]["fields"][field].is_string(),
            "{field}: {body:#}"
        );
    }
    let (status, _, body) =
        send(&app, Method::POST, "/namespaces", None, Some(&json!(["x"]))).await;
    assert_error(status, &body, 400, "INVALID_REQUEST");
    let name = unique("dup");
    create_namespace(&app, None, &name, json!({})).await;
    for taken in [name.as_str(), "default"] {
        let (status, _, body) = send(
            &app,
            Method::POST,
            "/namespaces",
            None,
            Some(&json!({"name": taken})),
        )
        .await;
        assert_error(status, &body, 409, "NAMESPACE_EXISTS");
    }
    let (status, _, body) = send(&app, Method::DELETE, "/namespaces/default", None, None).await;
    assert_error(status, &body, 409, "NAMESPACE_EXISTS");
    let (status, _, body) = send(&app, Method::GET, "/namespaces/nobody", None, None).await;
    assert_error(status, &body, 404, "NAMESPACE_NOT_FOUND");
    let (status, _, body) = send(&app, Method::DELETE, "/namespaces/nobody", None, None).await;
    assert_error(status, &body, 404, "NAMESPACE_NOT_FOUND");
    let (status, _, list) = send(&app, Method::GET, "/namespaces", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = list["namespaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert!(
        names.contains(&"default") && names.contains(&name.as_str()),
        "{names:?}"
    );
    let (status, _, default) = send(&app, Method::GET, "/namespaces/default", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(default["quota"], json!({}));
    // Deleted: gone, and its name free again.
    let (status, _, _) = send(
        &app,
        Method::DELETE,
        &format!("/namespaces/{name}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = send(
        &app,
        Method::GET,
        &format!("/namespaces/{name}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    create_namespace(&app, None, &name, json!({})).await;
}

#[tokio::test]
async fn the_openapi_document_declares_the_namespace_routes() {
    let app = TestApp::spawn().await;
    let (_, doc) = app.get_json("/openapi.json").await;
    for (route, method, status) in [
        ("/namespaces", "post", "201"),
        ("/namespaces", "get", "200"),
        ("/namespaces/{name}", "get", "404"),
        ("/namespaces/{name}", "patch", "409"),
        ("/namespaces/{name}", "delete", "204"),
        ("/namespaces/{name}/tokens", "post", "200"),
        ("/callback/deploy", "post", "403"),
        ("/api/{path}/{rest}", "get", "403"),
    ] {
        assert!(
            doc["paths"][route][method]["responses"]
                .get(status)
                .is_some(),
            "{method} {route} does not declare {status}"
        );
    }
    let created = &doc["components"]["schemas"]["NamespaceCreated"];
    assert!(created.to_string().contains("tokens"), "{created:#}");
    let view = &doc["components"]["schemas"]["NamespaceView"];
    let required: Vec<&str> = view["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for field in ["name", "quota", "usage", "created_at"] {
        assert!(required.contains(&field), "{field} not required: {view:#}");
    }
}
