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
    match app.invoker.invoke(&path, req, meta).await {
        Ok(resp) => resp,
        Err(e) => ApiError::from(e).into_response(),
    }
}
