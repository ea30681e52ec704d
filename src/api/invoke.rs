//! `ANY /api/<path>[/<rest>]`: the proxy.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::request_id::RequestId;
use crate::app::AppState;
use crate::invoker::CallMeta;

/// Forwards a call to the callback's function.
pub async fn invoke(
    State(app): State<AppState>,
    Path(params): Path<Vec<(String, String)>>,
    req: Request,
) -> Response {
    let Some((_, path)) = params.into_iter().find(|(k, _)| k == "path") else {
        return ApiError::new(crate::model::ErrorCode::RouteNotFound, "no such route")
            .into_response();
    };
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
    let started = std::time::Instant::now();
    let (resp, code) = match app.invoker.invoke(&path, req, meta).await {
        Ok(resp) => {
            // The runtime marks an unhandled exception; a function's own 5xx is no error.
            let code = resp.headers().contains_key("x-faas-error").then_some("FUNCTION_ERROR");
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
    let label = if code == Some("CALLBACK_NOT_FOUND") { "_unknown" } else { path.as_str() };
    app.metrics.invocation(label, resp.status().as_u16(), seconds, code);
    resp
}
