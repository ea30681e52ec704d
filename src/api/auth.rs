//! Bearer tokens (SPEC 2.5): the admin token guards the management API, the invoke token
//! `/api/*`. Compared in constant time; a matched invoke token is not passed to the function.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::state::AppState;
use crate::model::ErrorCode;

/// Whether the request's `Authorization: Bearer …` equals `token`.
fn carries(req: &Request, token: &str) -> bool {
    let Some(given) = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    // `ct_eq` on slices of different lengths is false without looking at the bytes; the
    // length of a token is not the secret.
    bool::from(given.trim().as_bytes().ct_eq(token.as_bytes()))
}

fn unauthorized(what: &str) -> Response {
    ApiError::new(
        ErrorCode::Unauthorized,
        format!("{what} needs Authorization: Bearer <token>; the token given is missing or wrong"),
    )
    .into_response()
}

/// Guards the management routes with the admin token, when one is set.
pub async fn admin(State(app): State<AppState>, req: Request, next: Next) -> Response {
    match app.tokens().admin.as_ref().map(ExposeSecret::expose_secret) {
        Some(token) if !carries(&req, token) => unauthorized("the management API"),
        _ => next.run(req).await,
    }
}

/// Guards `/api/*` with the invoke token, when one is set, and keeps it from the function.
pub async fn invoke(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    match app.tokens().invoke.as_ref().map(ExposeSecret::expose_secret) {
        Some(token) if !carries(&req, token) => unauthorized("calling a function"),
        Some(_) => {
            req.headers_mut().remove(AUTHORIZATION);
            next.run(req).await
        }
        None => next.run(req).await,
    }
}

/// The configured tokens, kept out of logs and `Debug` output.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    pub admin: Option<SecretString>,
    pub invoke: Option<SecretString>,
}
