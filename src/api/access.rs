//! What every request goes through, in one middleware: its id, its count in the metrics and
//! its access-log line. What a call learned on its way (revision, instance, cold start)
//! reaches the log line as a response extension, `CallFacts`.
//!
//! Management requests run inside a `request` span (request id, callback path), so what a
//! deploy logs names the request. Calls on `/api/*`, the hot path, have no span (creating,
//! entering and closing one costs more than the rest of the log line): their line carries the
//! request id and the callback's path itself, as do the few warnings the proxy writes.

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::request_id::{self, RequestId};
use super::state::AppState;
use crate::proxy::CallFacts;

/// The middleware.
pub async fn layer(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let id = request_id::of(&req);
    req.extensions_mut().insert(RequestId(id.clone()));
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let uri = req.uri().clone();
    let started = std::time::Instant::now();
    let call = uri.path().starts_with("/api/");
    let span = if call {
        tracing::Span::none()
    } else {
        tracing::info_span!(
            "request",
            request_id = %id,
            callback.path = tracing::field::Empty,
        )
    };
    let served = request_id::scope(id.clone(), next.run(req));
    let mut resp = if call {
        served.await
    } else {
        served.instrument(span.clone()).await
    };
    let status = resp.status().as_u16();
    app.metrics.http_request(
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        status,
    );
    let facts = resp.extensions_mut().remove::<CallFacts>();
    let facts = facts.as_ref();
    span.in_scope(|| {
        tracing::info!(
            request_id = call.then_some(&*id),
            callback.path = call.then(|| super::invoke::callback_of(uri.path())),
            method = %method,
            path = uri.path(),
            status,
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            revision = facts.map(|f| f.revision),
            instance = facts.map(|f| f.instance.as_str()),
            cold_start = facts.map(|f| f.cold_start),
            resumed = facts.and_then(|f| f.resumed.then_some(true)),
            "request served"
        );
    });
    // A proxied call's response has it already (the proxy sets it, for stored async results too).
    if !resp.headers().contains_key("x-request-id")
        && let Ok(v) = HeaderValue::from_str(&id)
    {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}
