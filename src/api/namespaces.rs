//! Namespaces (SPEC 10): create, list, read (usage against quota), change the quota, rotate
//! the tokens, delete with everything they own. Managing them takes the gateway's admin
//! token; a namespace's admin token may only read its own namespace.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorEnvelope};
use super::extract::Json as JsonBody;
use super::state::AppState;
use crate::model::{ErrorCode, NamespaceCreated, NamespaceView, Scope};
use crate::namespaces::NamespaceError;

/// `GET /namespaces` body.
#[derive(Serialize, ToSchema)]
pub struct NamespaceList {
    pub namespaces: Vec<NamespaceView>,
}

/// Namespaces are managed with the gateway's admin token only.
fn gateway_admin(scope: &Scope) -> Result<(), ApiError> {
    match scope {
        Scope::All => Ok(()),
        Scope::Namespace(_) => Err(ApiError::new(
            ErrorCode::Unauthorized,
            "managing namespaces needs the gateway's admin token; a namespace's token only reads its own namespace",
        )),
    }
}

/// Creates a namespace; its tokens are shown in this answer only.
#[utoipa::path(post, path = "/namespaces", operation_id = "create_namespace",
    request_body(content = super::openapi::NewNamespace, description = "the namespace's name and, optionally, its quota"),
    responses(
        (status = 201, body = NamespaceCreated, description = "created, with its tokens (shown once)"),
        (status = 400, body = ErrorEnvelope, description = "INVALID_REQUEST: the body is not JSON, not an object, or not sent as application/json"),
        (status = 401, body = ErrorEnvelope, description = "UNAUTHORIZED: not the gateway's admin token"),
        (status = 409, body = ErrorEnvelope, description = "NAMESPACE_EXISTS"),
        (status = 413, body = ErrorEnvelope, description = "PAYLOAD_TOO_LARGE"),
        (status = 422, body = ErrorEnvelope, description = "VALIDATION_FAILED: name or quota"),
        (status = 500, body = ErrorEnvelope, description = "INTERNAL_ERROR"),
    ),
    tag = "namespaces")]
pub async fn create(
    State(app): State<AppState>,
    Extension(scope): Extension<Scope>,
    JsonBody(body): JsonBody<Value>,
) -> Result<(StatusCode, Json<NamespaceCreated>), ApiError> {
    gateway_admin(&scope)?;
    let created = app.namespaces.create(&body).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Every namespace with its usage and quota.
#[utoipa::path(method(get, head), path = "/namespaces", operation_id = "list_namespaces",
    responses(
        (status = 200, body = NamespaceList, description = "every namespace with its quota and usage"),
        (status = 401, body = ErrorEnvelope, description = "UNAUTHORIZED: not the gateway's admin token"),
    ),
    tag = "namespaces")]
pub async fn list(
    State(app): State<AppState>,
    Extension(scope): Extension<Scope>,
) -> Result<Json<NamespaceList>, ApiError> {
    gateway_admin(&scope)?;
    Ok(Json(NamespaceList {
        namespaces: app.namespaces.list(),
    }))
}

/// One namespace: its usage against its quota. A namespace's admin token reads its own.
#[utoipa::path(method(get, head), path = "/namespaces/{name}", operation_id = "get_namespace",
    params(("name" = String, Path, description = "the namespace")),
    responses(
        (status = 200, body = NamespaceView, description = "the namespace, its usage against its quota"),
        (status = 404, body = ErrorEnvelope, description = "NAMESPACE_NOT_FOUND (also another than a namespace token's own)"),
    ),
    tag = "namespaces")]
pub async fn get(
    State(app): State<AppState>,
    Extension(scope): Extension<Scope>,
    Path(name): Path<String>,
) -> Result<Json<NamespaceView>, ApiError> {
    if !scope.sees(&name) {
        return Err(NamespaceError::NotFound(name).into());
    }
    Ok(Json(app.namespaces.get(&name)?))
}

/// Changes the quota, as a JSON merge patch of `quota` (a limit set to `null` is lifted); no
/// limit may fall below what is in use.
#[utoipa::path(patch, path = "/namespaces/{name}", operation_id = "patch_namespace",
    params(("name" = String, Path, description = "the namespace")),
    request_body(content = super::openapi::QuotaPatch, description = "the quota's changes"),
    responses(
        (status = 200, body = NamespaceView, description = "the namespace with its new quota"),
        (status = 400, body = ErrorEnvelope, description = "INVALID_REQUEST: the body is not JSON, not an object, or not sent as application/json"),
        (status = 401, body = ErrorEnvelope, description = "UNAUTHORIZED: not the gateway's admin token"),
        (status = 404, body = ErrorEnvelope, description = "NAMESPACE_NOT_FOUND"),
        (status = 409, body = ErrorEnvelope, description = "NAMESPACE_EXISTS: a limit below what is in use (details.quota names it), or the default namespace, which has no quota"),
        (status = 413, body = ErrorEnvelope, description = "PAYLOAD_TOO_LARGE"),
        (status = 422, body = ErrorEnvelope, description = "VALIDATION_FAILED"),
        (status = 500, body = ErrorEnvelope, description = "INTERNAL_ERROR"),
    ),
    tag = "namespaces")]
pub async fn patch(
    State(app): State<AppState>,
    Extension(scope): Extension<Scope>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<NamespaceView>, ApiError> {
    gateway_admin(&scope)?;
    Ok(Json(app.namespaces.set_quota(&name, &body).await?))
}

/// New tokens; the old ones stop working at once.
#[utoipa::path(post, path = "/namespaces/{name}/tokens", operation_id = "rotate_tokens",
    params(("name" = String, Path, description = "the namespace")),
    responses(
        (status = 200, body = NamespaceCreated, description = "the namespace with its new tokens (shown once)"),
        (status = 401, body = ErrorEnvelope, description = "UNAUTHORIZED: not the gateway's admin token"),
        (status = 404, body = ErrorEnvelope, description = "NAMESPACE_NOT_FOUND (also while it is being deleted)"),
        (status = 409, body = ErrorEnvelope, description = "NAMESPACE_EXISTS: the default namespace has no tokens"),
        (status = 500, body = ErrorEnvelope, description = "INTERNAL_ERROR"),
    ),
    tag = "namespaces")]
pub async fn rotate(
    State(app): State<AppState>,
    Extension(scope): Extension<Scope>,
    Path(name): Path<String>,
) -> Result<Json<NamespaceCreated>, ApiError> {
    gateway_admin(&scope)?;
    Ok(Json(app.namespaces.rotate(&name).await?))
}

/// Deletes the namespace with every callback (as `DELETE /callbacks/<path>`) and async
/// invocation it owns; answers when nothing of it is left.
#[utoipa::path(delete, path = "/namespaces/{name}", operation_id = "delete_namespace",
    params(("name" = String, Path, description = "the namespace")),
    responses(
        (status = 204, description = "deleted, with everything it owned"),
        (status = 401, body = ErrorEnvelope, description = "UNAUTHORIZED: not the gateway's admin token"),
        (status = 404, body = ErrorEnvelope, description = "NAMESPACE_NOT_FOUND"),
        (status = 409, body = ErrorEnvelope, description = "NAMESPACE_EXISTS: the default namespace cannot be deleted; DEPLOY_IN_PROGRESS"),
        (status = 500, body = ErrorEnvelope, description = "INTERNAL_ERROR"),
        (status = 502, body = ErrorEnvelope, description = "BACKEND_FORBIDDEN: the delete stopped half-way and resumes when asked again or at the next start"),
        (status = 503, body = ErrorEnvelope, description = "BACKEND_UNAVAILABLE: the delete stopped half-way and resumes when asked again or at the next start"),
    ),
    tag = "namespaces")]
pub async fn delete(
    State(app): State<AppState>,
    Extension(scope): Extension<Scope>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    gateway_admin(&scope)?;
    app.deployer.delete_namespace(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
