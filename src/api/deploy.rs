//! `POST /callback/deploy`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::{ApiError, ErrorEnvelope};
use super::extract::{Json, Query};
use super::params::DeployParams;
use super::state::AppState;
use crate::deployer::DeployOutcome;
use crate::model::{CallbackView, DeployAction, ErrorCode, SpecError, parse_deploy};

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
        (status = 409, body = ErrorEnvelope, description = "DEPLOY_IN_PROGRESS"),
        (status = 413, body = ErrorEnvelope, description = "PAYLOAD_TOO_LARGE"),
        (status = 422, body = ErrorEnvelope, description = "VALIDATION_FAILED, BUILD_FAILED or STARTUP_FAILED"),
        (status = 503, body = ErrorEnvelope, description = "BACKEND_UNAVAILABLE"),
    ),
    tag = "callbacks"
)]
pub async fn deploy(
    State(app): State<AppState>,
    Query(params): Query<DeployParams>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let wait = params.wait()?;
    let action = parse_deploy(&body, app.spec_defaults()).map_err(|e| match e {
        SpecError::NotAnObject => {
            ApiError::new(ErrorCode::InvalidRequest, "the body must be a JSON object")
        }
        SpecError::Fields(f) => ApiError::fields(f),
    })?;
    match action {
        DeployAction::Undeploy { path } => {
            tracing::Span::current().record("callback.path", path.as_str());
            let rec = app.deployer.undeploy(&path).await?;
            Ok((StatusCode::OK, axum::Json(app.queries.view(&rec))).into_response())
        }
        DeployAction::Deploy(spec) => {
            tracing::Span::current().record("callback.path", spec.path.as_str());
            let (rec, outcome) = app.deployer.deploy(*spec, wait).await?;
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
