//! Reading and deleting callbacks.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorEnvelope};
use super::state::AppState;
use crate::executor::LogLine;
use crate::model::{CallbackView, Revision};

/// `GET /callbacks` body.
#[derive(Serialize, ToSchema)]
pub struct CallbackList {
    pub callbacks: Vec<CallbackView>,
}

/// `GET /callbacks/<path>/revisions` body.
#[derive(Serialize, ToSchema)]
pub struct RevisionList {
    pub revisions: Vec<Revision>,
}

/// `GET /callbacks/<path>/logs` body.
#[derive(Serialize, ToSchema)]
pub struct LogList {
    pub lines: Vec<LogLine>,
}

/// Lists every callback.
#[utoipa::path(get, path = "/callbacks", responses((status = 200, body = CallbackList, description = "every callback")), tag = "callbacks")]
pub async fn list(State(app): State<AppState>) -> Result<Json<CallbackList>, ApiError> {
    Ok(Json(CallbackList {
        callbacks: app.queries.list().await?,
    }))
}

/// One callback with its live instances.
#[utoipa::path(get, path = "/callbacks/{path}", params(("path" = String, Path)),
    responses((status = 200, body = CallbackView, description = "the callback with its live instances"), (status = 404, body = ErrorEnvelope, description = "CALLBACK_NOT_FOUND")), tag = "callbacks")]
pub async fn get(
    State(app): State<AppState>,
    Path(path): Path<String>,
) -> Result<Json<CallbackView>, ApiError> {
    Ok(Json(app.queries.get(&path).await?))
}

/// A callback's revisions, newest first.
#[utoipa::path(get, path = "/callbacks/{path}/revisions", params(("path" = String, Path)),
    responses((status = 200, body = RevisionList, description = "revisions, newest first"), (status = 404, body = ErrorEnvelope, description = "CALLBACK_NOT_FOUND")), tag = "callbacks")]
pub async fn revisions(
    State(app): State<AppState>,
    Path(path): Path<String>,
) -> Result<Json<RevisionList>, ApiError> {
    Ok(Json(RevisionList {
        revisions: app.queries.revisions(&path).await?,
    }))
}

/// The last lines of the current revision's instances.
#[utoipa::path(get, path = "/callbacks/{path}/logs",
    params(("path" = String, Path), ("tail" = Option<usize>, Query, description = "lines, default 200")),
    responses((status = 200, body = LogList, description = "the last lines, merged by time"), (status = 404, body = ErrorEnvelope, description = "CALLBACK_NOT_FOUND"), (status = 422, body = ErrorEnvelope, description = "VALIDATION_FAILED: tail")), tag = "callbacks")]
pub async fn logs(
    State(app): State<AppState>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<LogList>, ApiError> {
    let tail = tail_param(query.as_deref())?;
    Ok(Json(LogList {
        lines: app.queries.logs(&path, tail).await?,
    }))
}

/// Undeploys a callback and deletes its definition and history.
#[utoipa::path(delete, path = "/callbacks/{path}", params(("path" = String, Path)),
    responses((status = 204, description = "undeployed and deleted"), (status = 404, body = ErrorEnvelope, description = "CALLBACK_NOT_FOUND")), tag = "callbacks")]
pub async fn delete(
    State(app): State<AppState>,
    Path(path): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.deployer.delete(&path).await?;
    Ok(StatusCode::NO_CONTENT)
}

const MAX_TAIL: usize = 10_000;

fn tail_param(query: Option<&str>) -> Result<usize, ApiError> {
    let raw = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "tail")
        .map(|(_, v)| v);
    match raw.map(str::parse::<usize>) {
        None => Ok(200),
        Some(Ok(n)) if (1..=MAX_TAIL).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::fields(
            [(
                "tail".to_owned(),
                format!("must be an integer in 1..={MAX_TAIL}"),
            )]
            .into(),
        )),
    }
}
