//! Liveness, readiness and the OpenAPI document.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::state::AppState;

/// `GET /health` body.
#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
}

/// One readiness check.
#[derive(Serialize, ToSchema)]
pub struct Check {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /ready` body.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    pub status: &'static str,
    pub checks: BTreeMap<&'static str, Check>,
}

/// The process serves.
#[utoipa::path(method(get, head), path = "/health", operation_id = "health",
    responses((status = 200, body = super::openapi::Health, description = "the process serves")), tag = "operations")]
pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// The database and every configured backend answer.
#[utoipa::path(method(get, head), path = "/ready", operation_id = "ready",
    responses(
        (status = 200, body = super::openapi::Readiness, description = "the database and every configured backend answer"),
        (status = 503, body = super::openapi::Readiness, description = "a check failed")),
    tag = "operations")]
pub async fn ready(State(app): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let backends = app.backends.all();
    let pings = futures::future::join_all(backends.iter().map(|(_, e)| e.ping()));
    let (db, pings) = tokio::join!(app.store.ping(), pings);
    let mut checks = BTreeMap::new();
    checks.insert(
        "database",
        Check {
            ok: db.is_ok(),
            version: None,
            error: db.err().map(|e| e.to_string()),
        },
    );
    // A backend that is not configured is not listed.
    for ((backend, _), ping) in backends.iter().zip(pings) {
        let (ok, version, error) = match ping {
            Ok(v) => (true, Some(v), None),
            Err(e) => (false, None, Some(e.to_string())),
        };
        checks.insert(backend.as_str(), Check { ok, version, error });
    }
    let all = checks.values().all(|c| c.ok);
    let status = if all {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        status: if all { "ready" } else { "not_ready" },
        checks,
    };
    (status, Json(body))
}

/// This API as an OpenAPI 3 document.
#[utoipa::path(method(get, head), path = "/openapi.json", operation_id = "openapi",
    responses((status = 200, body = Object, description = "this document")), tag = "operations")]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(super::openapi::ApiDoc::openapi())
}

/// Prometheus text exposition of the gateway's metrics.
#[utoipa::path(method(get, head), path = "/metrics", operation_id = "metrics",
    responses((status = 200, content_type = "text/plain", body = String, description = "Prometheus text format, version 0.0.4")), tag = "operations")]
pub async fn metrics(State(app): State<AppState>) -> impl axum::response::IntoResponse {
    app.metrics.set_namespaces(&app.namespaces.gauges());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(&app.gauges()),
    )
}
