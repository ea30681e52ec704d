//! `POST /callback/deploy`.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::{ApiError, ErrorEnvelope};
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
pub async fn deploy(State(app): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let wait = wait_param(req.uri().query())?;
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            let m = m.trim();
            m.eq_ignore_ascii_case("application/json") || m.ends_with("+json")
        });
    if !is_json {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "the deploy body must be JSON: send Content-Type: application/json",
        ));
    }
    let limit = app.limits.max_code_bytes.saturating_mul(2);
    let bytes = axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the deploy body is over the {limit}-byte limit"),
            )
        })?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
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
            Ok((StatusCode::OK, Json(app.queries.view(&rec))).into_response())
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
            Ok((status, Json(view)).into_response())
        }
    }
}

fn wait_param(query: Option<&str>) -> Result<bool, ApiError> {
    let value = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == "wait")
        .map(|(_, v)| v);
    match value {
        None | Some("true" | "1" | "") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(_) => Err(ApiError::fields(
            [("wait".to_owned(), "must be true or false".to_owned())].into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_defaults_to_true_and_accepts_false() {
        assert!(wait_param(None).expect("none"));
        assert!(wait_param(Some("x=1")).expect("other"));
        assert!(!wait_param(Some("wait=false")).expect("false"));
        assert!(wait_param(Some("wait=maybe")).is_err());
    }
}
