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
    post, path = "/callback/deploy", operation_id = "deploy",
    params(("wait" = Option<super::openapi::Switch>, Query,
        description = "false or 0: answer 202 at once and deploy in the background; true, 1 or empty (the default): answer when done")),
    request_body(content = super::openapi::DeployBody, description = "A callback definition, or an undeploy"),
    responses(
        (status = 201, body = CallbackView, description = "a synchronous deploy that created the callback's record"),
        (status = 200, body = CallbackView, description = "any other successful synchronous deploy (a redeploy, a deploy after an undeploy, a no-op), and every undeploy"),
        (status = 202, body = CallbackView, description = "wait=false: accepted, the deploy goes on in the background"),
        (status = 400, body = ErrorEnvelope, description = "INVALID_REQUEST: the body is not JSON, not an object, or not sent as application/json; or the query string cannot be read (a parameter given twice)"),
        (status = 403, body = ErrorEnvelope, description = "QUOTA_EXCEEDED: details name the quota, its limit, what is used and what was asked for"),
        (status = 404, body = ErrorEnvelope, description = "NAMESPACE_NOT_FOUND (also while it is being deleted, or another namespace than a namespace token's own); CALLBACK_NOT_FOUND: undeploy of an unknown path"),
        (status = 409, body = ErrorEnvelope, description = "DEPLOY_IN_PROGRESS, or PATH_TAKEN by another namespace"),
        (status = 413, body = ErrorEnvelope, description = "PAYLOAD_TOO_LARGE: the body is over twice FAAS_MAX_CODE_BYTES"),
        (status = 422, body = ErrorEnvelope, description = "VALIDATION_FAILED (details.fields maps each wrong field to a reason, also for the rules across fields), BUILD_FAILED or STARTUP_FAILED (details.log)"),
        (status = 500, body = ErrorEnvelope, description = "INTERNAL_ERROR"),
        (status = 502, body = ErrorEnvelope, description = "IMAGE_PULL_FAILED or BACKEND_FORBIDDEN"),
        (status = 503, body = ErrorEnvelope, description = "BACKEND_UNAVAILABLE, or INSUFFICIENT_CAPACITY (Retry-After)"),
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
