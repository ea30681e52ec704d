//! Bearer tokens (SPEC 2.5, 10): who a request speaks for, as the [`Scope`] of callbacks it
//! may see, put into the request's extensions for the handlers.
//!
//! - The gateway's admin token manages everything; its invoke token calls everything.
//! - A namespace's admin token manages that namespace's callbacks and invocations and calls
//!   them; its invoke token calls them. Other namespaces' callbacks are not found for it.
//! - With no gateway token set, requests without one stay open as before, and a namespace
//!   token still restricts whoever presents one.
//!
//! Tokens are compared in constant time; a token recognised on `/api/*` is not passed to the
//! function, any other `Authorization` is.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::state::AppState;
use crate::model::{ErrorCode, Scope};
use crate::namespaces::{Role, tokens};

/// The token of the request's `Authorization: Bearer …`.
fn bearer(req: &Request) -> Option<String> {
    req.headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
}

/// Whether `given` is the configured `token`.
fn is(given: &str, token: Option<&SecretString>) -> bool {
    // `ct_eq` on slices of different lengths is false without looking at the bytes; the
    // length of a token is not the secret.
    token.is_some_and(|t| bool::from(given.as_bytes().ct_eq(t.expose_secret().as_bytes())))
}

fn unauthorized(what: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Unauthorized,
        format!("{what} needs Authorization: Bearer <token>; the token given is missing or wrong"),
    )
}

/// Guards the management routes: the gateway's admin token sees everything, a namespace's
/// admin token its own namespace; without a gateway admin token the routes are open.
pub async fn admin(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let configured = app.tokens().admin.as_ref();
    let scope = match bearer(&req) {
        Some(given) if is(&given, configured) => Scope::All,
        Some(given) => match app.namespaces.identify(&given) {
            Some((namespace, Role::Admin)) => Scope::Namespace(namespace),
            Some((_, Role::Invoke)) => {
                return unauthorized(
                    "the management API (a namespace's invoke token only calls its functions)",
                )
                .into_response();
            }
            None if configured.is_some() || tokens::looks_like_one(&given) => {
                return unauthorized("the management API").into_response();
            }
            None => Scope::All,
        },
        None if configured.is_some() => return unauthorized("the management API").into_response(),
        None => Scope::All,
    };
    req.extensions_mut().insert(scope);
    next.run(req).await
}

/// Who a call on `/api/*` speaks for: the gateway's invoke token calls everything, a
/// namespace's token its own callbacks; without a gateway invoke token the routes are open. A
/// recognised token is kept from the function. Called by the invoke handler itself (one layer
/// less on the hottest path).
pub fn invoke_scope(app: &AppState, req: &mut Request) -> Result<Scope, ApiError> {
    let configured = app.tokens().invoke.as_ref();
    let scope = match bearer(req) {
        Some(given) if is(&given, configured) => {
            req.headers_mut().remove(AUTHORIZATION);
            Scope::All
        }
        Some(given) => match app.namespaces.identify(&given) {
            Some((namespace, _)) => {
                req.headers_mut().remove(AUTHORIZATION);
                Scope::Namespace(namespace)
            }
            None if configured.is_some() || tokens::looks_like_one(&given) => {
                return Err(unauthorized("calling a function"));
            }
            // The function's own credentials: they reach it.
            None => Scope::All,
        },
        None if configured.is_some() => return Err(unauthorized("calling a function")),
        None => Scope::All,
    };
    Ok(scope)
}

/// The configured tokens, kept out of logs and `Debug` output.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    pub admin: Option<SecretString>,
    pub invoke: Option<SecretString>,
}
