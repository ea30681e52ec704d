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
fn bearer(req: &Request) -> Option<&str> {
    req.headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
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

/// The two APIs the tokens guard.
#[derive(Clone, Copy)]
enum Api {
    Management,
    Invoke,
}

impl Api {
    fn configured(self, tokens: &Tokens) -> Option<&SecretString> {
        match self {
            Api::Management => tokens.admin.as_ref(),
            Api::Invoke => tokens.invoke.as_ref(),
        }
    }

    fn what(self) -> &'static str {
        match self {
            Api::Management => "the management API",
            Api::Invoke => "calling a function",
        }
    }
}

/// Who a request presenting `given` on `api` speaks for, and whether `given` was one of the
/// gateway's tokens (so not the function's own credentials).
fn scope_for(app: &AppState, api: Api, given: Option<&str>) -> Result<(Scope, bool), ApiError> {
    let configured = api.configured(app.tokens());
    let Some(given) = given else {
        return match configured {
            Some(_) => Err(unauthorized(api.what())),
            None => Ok((Scope::All, false)),
        };
    };
    if is(given, configured) {
        return Ok((Scope::All, true));
    }
    match (app.namespaces.identify(given), api) {
        (Some((_, Role::Invoke)), Api::Management) => Err(unauthorized(
            "the management API (a namespace's invoke token only calls its functions)",
        )),
        (Some((namespace, _)), _) => Ok((Scope::Namespace(namespace), true)),
        (None, _) if configured.is_some() || tokens::looks_like_one(given) => {
            Err(unauthorized(api.what()))
        }
        // Open routes, and on `/api/*` the function's own credentials.
        (None, _) => Ok((Scope::All, false)),
    }
}

/// Guards the management routes: the gateway's admin token sees everything, a namespace's
/// admin token its own namespace; without a gateway admin token the routes are open.
pub async fn admin(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    match scope_for(&app, Api::Management, bearer(&req)) {
        Ok((scope, _)) => {
            req.extensions_mut().insert(scope);
            next.run(req).await
        }
        Err(refused) => refused.into_response(),
    }
}

/// Who a call on `/api/*` speaks for: the gateway's invoke token calls everything, a
/// namespace's token its own callbacks; without a gateway invoke token the routes are open. A
/// recognised token is kept from the function. Called by the invoke handler itself (one layer
/// less on the hottest path).
pub fn invoke_scope(app: &AppState, req: &mut Request) -> Result<Scope, ApiError> {
    let (scope, ours) = scope_for(app, Api::Invoke, bearer(req))?;
    if ours {
        req.headers_mut().remove(AUTHORIZATION);
    }
    Ok(scope)
}

/// The configured tokens, kept out of logs and `Debug` output.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    pub admin: Option<SecretString>,
    pub invoke: Option<SecretString>,
}
