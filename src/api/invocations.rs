//! `GET /invocations/<id>`: asynchronous invocations.

use axum::Json;
use axum::extract::{Path, State};

use super::error::{ApiError, ErrorEnvelope};
use super::state::AppState;
use crate::model::Invocation;

/// One asynchronous invocation: its status and, once finished, its response or error.
#[utoipa::path(get, path = "/invocations/{id}", params(("id" = String, Path)),
    responses((status = 200, body = Invocation, description = "the invocation"), (status = 404, body = ErrorEnvelope, description = "INVOCATION_NOT_FOUND")), tag = "invocations")]
pub async fn get(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Invocation>, ApiError> {
    Ok(Json(app.invocations.get(&id).await?))
}
