//! HTTP routes. Handlers extract, call one service method and map the result; `error.rs` is
//! the only place errors become responses.

pub mod access;
pub mod auth;
mod callbacks;
mod deploy;
pub mod error;
mod extract;
mod invocations;
mod invoke;
mod namespaces;
mod openapi;
mod ops;
mod params;
pub mod request_id;
pub mod state;
mod ui;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get, post};

use crate::model::ErrorCode;
use error::ApiError;
use state::AppState;

pub use openapi::ApiDoc;

/// Every route of the gateway.
pub fn router(state: AppState) -> Router {
    // A deploy body may carry the source limit twice over (JSON escaping, settings).
    let deploy_limit = state.limits.max_code_bytes.saturating_mul(2);
    let admin = Router::new()
        .route(
            "/callback/deploy",
            post(deploy::deploy).layer(DefaultBodyLimit::max(deploy_limit)),
        )
        .route("/callbacks", get(callbacks::list))
        .route(
            "/callbacks/{path}",
            get(callbacks::get).delete(callbacks::delete),
        )
        .route("/callbacks/{path}/revisions", get(callbacks::revisions))
        .route("/callbacks/{path}/logs", get(callbacks::logs))
        .route("/invocations/{id}", get(invocations::get))
        .route(
            "/namespaces",
            get(namespaces::list).post(namespaces::create),
        )
        .route(
            "/namespaces/{name}",
            get(namespaces::get)
                .patch(namespaces::patch)
                .delete(namespaces::delete),
        )
        .route("/namespaces/{name}/tokens", post(namespaces::rotate))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::admin,
        ));
    // Its tokens are checked by the handler itself.
    let invoke = Router::new()
        .route("/api/{path}", any(invoke::invoke))
        .route("/api/{path}/", any(invoke::invoke))
        .route("/api/{path}/{*rest}", any(invoke::invoke));
    Router::new()
        .merge(admin)
        .merge(invoke)
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .route("/openapi.json", get(ops::openapi))
        .route("/metrics", get(ops::metrics))
        .merge(ui::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::layer,
        ))
        .with_state(state)
}

/// A route that exists, asked with another method. The router sets `Allow` on the answer.
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!(
            "{} does not take {method}; see the Allow header",
            uri.path()
        ),
    )
}

async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::RouteNotFound,
        format!("no route for {method} {}", uri.path()),
    )
}
