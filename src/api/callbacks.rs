//! Reading and deleting callbacks, those of the caller's scope only: any other is not found.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorEnvelope};
use super::extract::Query;
use super::params::{ListParams, LogsParams};
use super::state::AppState;
use crate::executor::LogLine;
use crate::model::{CallbackView, Revision, Scope};

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

/// Lists the callbacks the caller sees (a namespace's token: its own).
#[utoipa::path(method(get, head), path = "/callbacks", operation_id = "list_callbacks",
    params(("namespace" = Option<String>, Query, description = "only this namespace's callbacks (empty: all)")),
    responses(
        (status = 200, body = CallbackList, description = "every callback the caller sees"),
        (status = 400, body = ErrorEnvelope, description = "INVALID_REQUEST: the query string cannot be read (a parameter given twice)"),
        (status = 500, body = ErrorEnvelope, description = "INTERNAL_ERROR")),
    tag = "callbacks")]
pub async fn list(
    State(app): State<AppState>,
    Extension(scope): Extension<Scope>,
    Query(params): Query<ListParams>,
) -> Result<Json<CallbackList>, ApiError> {
    Ok(Json(CallbackList {
        callbacks: app.queries.list(&scope, params.namespace()).await?,
    }))
}

/// One callback with its live instances.
#[utoipa::path(method(get, head), path = "/callbacks/{path}", operation_id = "get_callback",
    params(("path" = String, Path, description = "the callback")),
    responses(
        (status = 200, body = CallbackView, description = "the callback with its live instances"),
        (status = 404, body = ErrorEnvelope, description = "CALLBACK_NOT_FOUND (also one of another namespace)"),
        (status = 500, body = ErrorEnvelope, description = "INTERNAL_ERROR")),
    tag = "callbacks")]
pub async fn get(
    State(app): State<AppState>,
    Extension(scope): Extension<Scope>,
    Path(path): Path<String>,
) -> Result<Json<CallbackView>, ApiError> {
    Ok(Json(app.queries.get(&path, &scope).await?))
}

/// A callback's revisions, newest first.
#[utoipa::path(method(get, head), path = "/callbacks/{path}/revisions", operation_id = "list_revisions",
    params(("path" = String, Path, description = "the callback")),
    responses(
        (status = 200, body = RevisionList, description = "revisions, newest first, the serving one included; empty before a deploy succeeded"),
        (status = 404, body = ErrorEnvelope, description = "CALLBACK_NOT_FOUND (also one of another namespace)"),
        (status = 500, body = ErrorEnvelope, description = "INTERNAL_ERROR")),
    tag = "callbacks")]
pub async fn revisions(
    State(app): State<AppState>,
    Extension(scope): Extension<Scope>,
    Path(path): Path<String>,
) -> Result<Json<RevisionList>, ApiError> {
    Ok(Json(RevisionList {
        revisions: app.queries.revisions(&path, &scope).await?,
    }))
}

/// The last lines of the current revision's instances; with `follow=true`, then every new
/// line as NDJSON until the client disconnects.
#[utoipa::path(method(get, head), path = "/callbacks/{path}/logs", operation_id = "read_logs",
    params(("path" = String, Path, description = "the callback"),
        ("tail" = Option<u32>, Query, minimum = 1, maximum = 10000, description = "how many of the last lines, in total; default 200"),
        ("follow" = Option<super::openapi::Switch>, Query, description = "true or 1 (or empty): keep the response open and stream new lines as application/x-ndjson; default false")),
    responses(
        (status = 200, description = "the last lines, merged by time; with follow, the same lines and then every new one, one LogLine per line, until the client disconnects",
            content(
                (LogList = "application/json"),
                (String = "application/x-ndjson"),
            )),
        (status = 400, body = ErrorEnvelope, description = "INVALID_REQUEST: the query string cannot be read (a parameter given twice)"),
        (status = 404, body = ErrorEnvelope, description = "CALLBACK_NOT_FOUND (also one of another namespace)"),
        (status = 422, body = ErrorEnvelope, description = "VALIDATION_FAILED: tail or follow"),
        (status = 500, body = ErrorEnvelope, description = "INTERNAL_ERROR"),
        (status = 502, body = ErrorEnvelope, description = "BACKEND_FORBIDDEN"),
        (status = 503, body = ErrorEnvelope, description = "BACKEND_UNAVAILABLE")),
    tag = "callbacks")]
pub async fn logs(
    State(app): State<AppState>,
    Extension(scope): Extension<Scope>,
    Path(path): Path<String>,
    Query(params): Query<LogsParams>,
) -> Result<Response, ApiError> {
    let tail = params.tail()?;
    if !params.follow()? {
        let lines = app.queries.logs(&path, tail, &scope).await?;
        return Ok(Json(LogList { lines }).into_response());
    }
    // Unknown callbacks answer 404 before the stream starts.
    app.queries.get(&path, &scope).await?;
    let lines = app.queries.follow(path, tail, scope).map(|line| {
        let mut text = serde_json::to_vec(&line).unwrap_or_default();
        text.push(b'\n');
        Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(text))
    });
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        axum::body::Body::from_stream(lines),
    )
        .into_response())
}

/// Undeploys a callback and deletes its definition and history.
#[utoipa::path(delete, path = "/callbacks/{path}", operation_id = "delete_callback",
    params(("path" = String, Path, description = "the callback")),
    responses(
        (status = 204, description = "undeployed, then deleted with its history"),
        (status = 404, body = ErrorEnvelope, description = "CALLBACK_NOT_FOUND (also one of another namespace)"),
        (status = 409, body = ErrorEnvelope, description = "DEPLOY_IN_PROGRESS"),
        (status = 500, body = ErrorEnvelope, description = "INTERNAL_ERROR"),
        (status = 502, body = ErrorEnvelope, description = "BACKEND_FORBIDDEN"),
        (status = 503, body = ErrorEnvelope, description = "BACKEND_UNAVAILABLE")),
    tag = "callbacks")]
pub async fn delete(
    State(app): State<AppState>,
    Extension(scope): Extension<Scope>,
    Path(path): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.deployer.delete(&path, &scope).await?;
    Ok(StatusCode::NO_CONTENT)
}
