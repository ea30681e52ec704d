//! `POST /callback/deploy`. A namespace's admin token deploys into its own namespace: the
//! body's `namespace` defaults to it, and naming another answers as if that one did not
//! exist (404 NAMESPACE_NOT_FOUND).

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::{ApiError, ErrorEnvelope};
use super::extract::{Json, Query};
use super::params::DeployParams;
use super::state::AppState;
use crate::deployer::DeployOutcome;
use crate::model::{CallbackView, DeployAction, ErrorCode, Scope, SpecError, parse_deploy};
use crate::namespaces::NamespaceError;

/// Deploys, redeploys or undeploys a callback.
#[utoipa::path(
    post, path = "/callback/deploy",
    params(("wait" = Option<bool>, Query, description = "false: answer 202 at once")),
    request_body(content = Object, description = "The callback definition (SPEC 2.1)"),
    responses(
        (status = 201, body = CallbackView, description = "first deploy"),
        (status = 200, body = CallbackView, description = "redeploy, no-op, or undeploy"),
        (status = 202, body = CallbackView, description = "accepted (wait=false)"),
        (status = 400, body = ErrorEnvelope, description = "INVALID_REQUEST: not a JSON object"),
        (status = 401, body = ErrorEnvelope, description = "UNAUTHORIZED"),
        (status = 403, body = ErrorEnvelope, description = "QUOTA_EXCEEDED: details name the quota, its limit, what is used and what was asked for"),
        (status = 404, body = ErrorEnvelope, description = "NAMESPACE_NOT_FOUND (also while it is being deleted); CALLBACK_NOT_FOUND (undeploy)"),
        (status = 409, body = ErrorEnvelope, description = "DEPLOY_IN_PROGRESS, or PATH_TAKEN by another namespace"),
        (status = 413, body = ErrorEnvelope, description = "PAYLOAD_TOO_LARGE"),
        (status = 422, body = ErrorEnvelope, description = "VALIDATION_FAILED, BUILD_FAILED or STARTUP_FAILED"),
        (status = 503, body = ErrorEnvelope, description = "BACKEND_UNAVAILABLE"),
    ),
    tag = "callbacks"
)]
pub async fn deploy(
    State(app): State<AppState>,
    Extension(scope): Extension<Scope>,
    Query(params): Query<DeployParams>,
    Json(mut body): Json<Value>,
) -> Result<Response, ApiError> {
    let wait = params.wait()?;
    if let Scope::Namespace(own) = &scope {
        into_own_namespace(&mut body, own)?;
    }
    let action = parse_deploy(&body, app.spec_defaults()).map_err(|e| match e {
        SpecError::NotAnObject => {
            ApiError::new(ErrorCode::InvalidRequest, "the body must be a JSON object")
        }
        SpecError::Fields(f) => ApiError::fields(f),
    })?;
    match action {
        DeployAction::Undeploy { path } => {
            tracing::Span::current().record("callback.path", path.as_str());
            let rec = app.deployer.undeploy(&path, &scope).await?;
            Ok((StatusCode::OK, axum::Json(app.queries.view(&rec))).into_response())
        }
        DeployAction::Deploy(spec) => {
            tracing::Span::current().record("callback.path", spec.path.as_str());
            let (rec, outcome) = app.deployer.deploy(*spec, wait, &scope).await?;
            let view = app.queries.view(&rec);
            let status = match outcome {
                DeployOutcome::Created => StatusCode::CREATED,
                DeployOutcome::Updated => StatusCode::OK,
                DeployOutcome::Accepted => StatusCode::ACCEPTED,
            };
            Ok((status, axum::Json(view)).into_response())
        }
    }
}

/// Points a namespace token's deploy at its own namespace; another one is not found.
fn into_own_namespace(body: &mut Value, own: &str) -> Result<(), ApiError> {
    // Anything but an object is refused by the parser.
    let Some(obj) = body.as_object_mut() else {
        return Ok(());
    };
    match obj.get("namespace") {
        None | Some(Value::Null) => {
            obj.insert("namespace".into(), Value::from(own));
            Ok(())
        }
        Some(Value::String(named)) if named != own => {
            Err(NamespaceError::NotFound(named.clone()).into())
        }
        // Its own, or a wrong type the parser names.
        Some(_) => Ok(()),
    }
}
