//! `GET /invocations/<id>`: asynchronous invocations, of the caller's scope only.

use axum::extract::{Path, State};
use axum::{Extension, Json};

use super::error::{ApiError, ErrorEnvelope};
use super::state::AppState;
use crate::model::{Invocation, Scope};

/// One asynchronous invocation: its status and, once finished, its response or error.
#[utoipa::path(method(get, head), path = "/invocations/{id}", operation_id = "get_invocation",
    params(("id" = String, Path, description = "the id the 202 answer gave", format = "uuid")),
    responses(
        (status = 200, body = Invocation, description = "the invocation"),
        (status = 404, body = ErrorEnvelope, description = "INVOCATION_NOT_FOUND (also one of another namespace)"),
        (status = 500, body = ErrorEnvelope, description = "INTERNAL_ERROR")),
    tag = "invocations")]
pub async fn get(
    State(app): State<AppState>,
    Extension(scope): Extension<Scope>,
    Path(id): Path<String>,
) -> Result<Json<Invocation>, ApiError> {
    Ok(Json(app.invocations.get(&id, &scope).await?))
}
