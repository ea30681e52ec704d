//! `ANY /api/<path>[/<rest>]`: the proxy. A callback the caller's token may not call (of
//! another namespace, or of one being deleted) is not found, checked in memory.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ErrorEnvelope};
use super::request_id::RequestId;
use super::state::AppState;
use crate::model::DEFAULT_NAMESPACE;
use crate::proxy::{CallMeta, InvokeError};

/// Calls a callback's function: every method; the function sees `/<rest>`, the query, the
/// headers and the body, streamed, and its response comes back unchanged.
#[utoipa::path(
    method(get, post, put, patch, delete, head, options, trace), path = "/api/{path}/{rest}",
    operation_id = "invoke",
    params(
        ("path" = String, Path, description = "the callback"),
        ("rest" = String, Path, description = "the path the function sees, /{rest}; /api/{path} and /api/{path}/ call it with /"),
        ("Prefer" = Option<String>, Header, description = "respond-async (RFC 7240): answer 202 at once and run the call in the background; other preferences are ignored"),
        ("X-Callback-Url" = Option<String>, Header, description = "with respond-async: an absolute http(s) URL the finished invocation is POSTed to; one that is not, or whose host is in FAAS_CALLBACK_DENY, answers 400 before anything is queued; ignored without respond-async"),
    ),
    responses(
        (status = "default", description = "the function's own answer, whatever its status, headers (hop-by-hop ones aside) and body; a function may also answer the statuses listed here itself",
            content(("*/*"))),
        (status = 202, body = super::openapi::InvokeAccepted, description = "Prefer: respond-async: stored, to be run; read it at the Location"),
        (status = 400, body = ErrorEnvelope, description = "INVALID_REQUEST: with respond-async, an X-Callback-Url that is not an absolute http(s) URL or reaches a denied address (details.header)"),
        (status = 403, body = ErrorEnvelope, description = "QUOTA_EXCEEDED: the instance the call needed would pass its namespace's quota"),
        (status = 404, body = ErrorEnvelope, description = "CALLBACK_NOT_FOUND (also one of another namespace, or of one being deleted) or CALLBACK_NOT_DEPLOYED"),
        (status = 413, body = ErrorEnvelope, description = "PAYLOAD_TOO_LARGE: the body is over FAAS_MAX_BODY_BYTES (details.limit_bytes)"),
        (status = 429, body = ErrorEnvelope, description = "TOO_MANY_REQUESTS: the callback's queue is full"),
        (status = 500, description = "FUNCTION_ERROR: an unhandled exception in the handler, answered by the runtime with X-Faas-Error; or INTERNAL_ERROR",
            content((super::openapi::FunctionErrorOrEnvelope = "application/json"))),
        (status = 502, body = ErrorEnvelope, description = "FUNCTION_CRASHED (details.exit_code), FUNCTION_OOM_KILLED, IMAGE_PULL_FAILED or BACKEND_FORBIDDEN"),
        (status = 503, body = ErrorEnvelope, description = "CALLBACK_NOT_READY, FUNCTION_CRASH_LOOP (Retry-After), INSUFFICIENT_CAPACITY (Retry-After) or BACKEND_UNAVAILABLE"),
        (status = 504, body = ErrorEnvelope, description = "FUNCTION_TIMEOUT: the call took longer than the callback's timeout_ms"),
    ),
    tag = "invoke"
)]
pub async fn invoke(State(app): State<AppState>, mut req: Request) -> Response {
    let scope = match super::auth::invoke_scope(&app, &mut req) {
        Ok(scope) => scope,
        Err(refused) => return refused.into_response(),
    };
    let path = callback_of(req.uri().path()).to_owned();
    let meta = CallMeta {
        request_id: req
            .extensions()
            .get::<RequestId>()
            .map_or_else(|| Arc::from(""), |r| Arc::clone(&r.0)),
        client_ip: req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip()),
    };
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

/// The callback a `/api/<path>[/<rest>]` call names. Taken from the URI rather than a `Path`
/// extractor: callback names are DNS labels, so the raw segment is the name.
pub(super) fn callback_of(uri_path: &str) -> &str {
    let rest = uri_path.strip_prefix("/api/").unwrap_or_default();
    rest.split('/').next().unwrap_or_default()
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_callback_is_the_first_segment_after_api() {
        assert_eq!(super::callback_of("/api/hello"), "hello");
        assert_eq!(super::callback_of("/api/hello/a/b"), "hello");
        assert_eq!(super::callback_of("/api/"), "");
    }
}
