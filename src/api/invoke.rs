//! `ANY /api/<path>[/<rest>]`: the proxy. A callback the caller's token may not call (of
//! another namespace, or of one being deleted) is not found, checked in memory.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ErrorEnvelope};
use super::request_id::RequestId;
use super::state::AppState;
use crate::model::{DEFAULT_NAMESPACE, Scope};
use crate::proxy::{CallMeta, InvokeError};

/// Calls a callback's function: every method; the function sees `/<rest>`, the query, the
/// headers and the body, streamed, and its response comes back unchanged.
#[utoipa::path(
    method(get, post, put, patch, delete, head, options), path = "/api/{path}/{rest}",
    params(
        ("path" = String, Path, description = "the callback"),
        ("rest" = String, Path, description = "the path the function sees (may be empty: /api/{path})"),
        ("Prefer" = Option<String>, Header, description = "respond-async: answer 202 and run in the background"),
        ("X-Callback-Url" = Option<String>, Header, description = "with respond-async: where the result is POSTed"),
    ),
    responses(
        (status = 200, description = "the function's own response (any status), with X-Request-Id, X-Faas-Revision, X-Faas-Cold-Start"),
        (status = 202, body = Object, description = "Prefer: respond-async: {id, status}, Location: /invocations/{id}"),
        (status = 401, body = ErrorEnvelope, description = "UNAUTHORIZED"),
        (status = 403, body = ErrorEnvelope, description = "QUOTA_EXCEEDED: the instance the call needed would pass its namespace's quota"),
        (status = 404, body = ErrorEnvelope, description = "CALLBACK_NOT_FOUND (also one of another namespace, or of one being deleted) or CALLBACK_NOT_DEPLOYED"),
        (status = 413, body = ErrorEnvelope, description = "PAYLOAD_TOO_LARGE"),
        (status = 429, body = ErrorEnvelope, description = "TOO_MANY_REQUESTS, with Retry-After"),
        (status = 500, body = ErrorEnvelope, description = "FUNCTION_ERROR (X-Faas-Error) or INTERNAL_ERROR"),
        (status = 502, body = ErrorEnvelope, description = "FUNCTION_CRASHED, FUNCTION_OOM_KILLED, IMAGE_PULL_FAILED or BACKEND_FORBIDDEN"),
        (status = 503, body = ErrorEnvelope, description = "CALLBACK_NOT_READY, FUNCTION_CRASH_LOOP (Retry-After) or BACKEND_UNAVAILABLE"),
        (status = 504, body = ErrorEnvelope, description = "FUNCTION_TIMEOUT"),
    ),
    tag = "invoke"
)]
pub async fn invoke(State(app): State<AppState>, req: Request) -> Response {
    // Taken from the URI rather than a `Path` extractor: callback names are DNS labels, so
    // the raw segment is the name.
    let path = req
        .uri()
        .path()
        .trim_start_matches("/api/")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    tracing::Span::current().record("callback.path", path.as_str());
    let meta = CallMeta {
        request_id: req
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default(),
        client_ip: req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip()),
    };
    let scope = req
        .extensions()
        .get::<Scope>()
        .cloned()
        .unwrap_or(Scope::All);
    let callable = app.callable(&scope, &path);
    if callable && crate::invocations::wants_async(&req) {
        return accept_async(&app, &path, req, &meta).await;
    }
    let started = std::time::Instant::now();
    let called = if callable {
        app.proxy.invoke(&path, req, meta).await
    } else {
        Err(InvokeError::NotFound(path.clone()))
    };
    let (resp, code) = match called {
        Ok(resp) => {
            // The runtime marks an unhandled exception; a function's own 5xx is no error.
            let code = resp
                .headers()
                .contains_key("x-faas-error")
                .then_some("FUNCTION_ERROR");
            (resp, code)
        }
        Err(e) => {
            let e = ApiError::from(e);
            let code = e.code.as_str();
            (e.into_response(), Some(code))
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    // Unknown paths share one label, so random URLs cannot grow the metrics without bound.
    let label = if code == Some("CALLBACK_NOT_FOUND") {
        "_unknown"
    } else {
        path.as_str()
    };
    app.metrics
        .invocation(label, resp.status().as_u16(), seconds, code);
    resp
}

/// `Prefer: respond-async`: stored first, then `202` with where to read the result.
async fn accept_async(app: &AppState, path: &str, req: Request, meta: &CallMeta) -> Response {
    let owner = app.routes.owner(path);
    let namespace = owner.as_deref().unwrap_or(DEFAULT_NAMESPACE);
    match app.invocations.accept((namespace, path), req, meta).await {
        Ok(inv) => {
            let location = format!("/invocations/{}", inv.id);
            let body = serde_json::json!({"id": inv.id, "status": inv.status});
            (
                axum::http::StatusCode::ACCEPTED,
                [(axum::http::header::LOCATION, location)],
                axum::Json(body),
            )
                .into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}
