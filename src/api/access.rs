//! What every request goes through, in one middleware: its id, its tracing span, its count in
//! the metrics and its access-log line. What a call learned on its way (revision, instance,
//! cold start) reaches the log line as a response extension, `CallFacts`.

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
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        callback.path = tracing::field::Empty,
    );
    let started = std::time::Instant::now();
    let mut resp = request_id::scope(id.clone(), next.run(req).instrument(span.clone())).await;
    let status = resp.status().as_u16();
    app.metrics.http_request(
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        status,
    );
    let facts = resp.extensions_mut().remove::<CallFacts>();
    let facts = facts.as_ref();
    span.in_scope(|| {
        tracing::info!(
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
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}
