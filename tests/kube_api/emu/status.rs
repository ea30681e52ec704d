//! Error answers as the API server gives them: `Status` objects shaped like the captured 404
//! and 403 (the captured denial itself for `create jobs`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::cluster::Cluster;
use super::fixtures;
use super::store::Res;

pub fn qualified(res: Res) -> String {
    match res.group() {
        "" => res.plural().to_owned(),
        g => format!("{}.{g}", res.plural()),
    }
}

pub fn forbidden(c: &Cluster, verb: &str, res: Res, resource: &str) -> Response {
    if (verb, resource) == ("create", "jobs") {
        // The captured denial, unchanged.
        return json_response(
            StatusCode::FORBIDDEN,
            fixtures::object("status-403-forbidden.json"),
        );
    }
    let msg = format!(
        "{} is forbidden: User \"system:serviceaccount:{ns}:limited\" cannot {verb} resource \"{resource}\" in API group \"{}\" in the namespace \"{ns}\"",
        qualified(res),
        res.group(),
        ns = c.namespace
    );
    status(
        403,
        "Forbidden",
        &msg,
        json!({"group": res.group(), "kind": res.plural()}),
    )
}

pub fn not_found(res: Res, name: &str) -> Response {
    // Shaped like the captured 404.
    let mut s = fixtures::object("status-404-notfound.json");
    s["message"] = json!(format!("{} \"{name}\" not found", qualified(res)));
    s["details"] = json!({"name": name, "group": res.group(), "kind": res.plural()});
    if res.group().is_empty() {
        s["details"].as_object_mut().map(|d| d.remove("group"));
    }
    json_response(StatusCode::NOT_FOUND, s)
}

pub fn status(code: u16, reason: &str, message: &str, details: Value) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "details": details, "code": code});
    json_response(
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    )
}

pub fn json_response(code: StatusCode, body: Value) -> Response {
    (
        code,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}
