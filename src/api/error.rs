//! The one place where errors of every layer become the contract's error envelope.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::request_id;
use crate::deployer::DeployError;
use crate::executor::ExecutorError;
use crate::invocations::InvocationError;
use crate::invoker::InvokeError;
use crate::model::{ErrorCode, FieldErrors};
use crate::pool::StartError;
use crate::store::StoreError;

/// A gateway-made error response.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Value,
    pub retry_after_s: Option<u64>,
}

/// The error envelope as documented in the OpenAPI document.
#[derive(Serialize, ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
    pub request_id: String,
}

/// The `error` member of the envelope.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    #[schema(value_type = Object)]
    pub details: Value,
}

impl ApiError {
    /// An error with empty details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            details: json!({}),
            retry_after_s: None,
        }
    }

    /// Adds `details`.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// A 422 naming each wrong field.
    pub fn fields(fields: FieldErrors) -> Self {
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        ApiError::new(
            ErrorCode::ValidationFailed,
            format!("the request has invalid fields: {}", names.join(", ")),
        )
        .with_details(json!({ "fields": fields }))
    }

    /// The envelope's `error` member: `{code, message, details}`.
    pub fn error_object(&self) -> Value {
        json!({"code": self.code, "message": self.message, "details": self.details})
    }

    /// A 500 whose cause is logged, never sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(
            ErrorCode::InternalError,
            "the gateway hit an internal error; it has been logged",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({
            "error": {"code": self.code, "message": self.message, "details": self.details},
            "request_id": request_id::current(),
        });
        let mut resp = (status, Json(body)).into_response();
        if let Some(s) = self.retry_after_s {
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from(s));
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(&e)
    }
}

impl From<ExecutorError> for ApiError {
    fn from(e: ExecutorError) -> Self {
        match e {
            ExecutorError::Unavailable { backend, reason } => ApiError::new(
                ErrorCode::BackendUnavailable,
                format!("the {backend} backend is unreachable ({reason}); retry when it is back"),
            ),
            ExecutorError::ImageMissing { image } => ApiError::new(
                ErrorCode::ImagePullFailed,
                format!("image {image} is missing and could not be rebuilt; redeploy the callback"),
            )
            .with_details(json!({ "image": image })),
            ExecutorError::ImagePull { image, message } => ApiError::new(
                ErrorCode::ImagePullFailed,
                format!("image {image} cannot be pulled ({message}); check the image and the registry's credentials, then redeploy"),
            )
            .with_details(json!({ "image": image, "message": message })),
            ExecutorError::Forbidden {
                verb,
                resource,
                message,
            } => ApiError::new(
                ErrorCode::BackendForbidden,
                format!("Kubernetes does not allow the gateway to {verb} {resource}; grant its ServiceAccount that permission (see k8s/)"),
            )
            .with_details(json!({ "verb": verb, "resource": resource, "message": message })),
            ExecutorError::Other(reason) => ApiError::internal(&reason),
        }
    }
}

fn start_failure(path: &str, e: StartError) -> ApiError {
    match e {
        StartError::Exited {
            exit_code,
            oom_killed,
            log,
        } => {
            let why = if oom_killed {
                "was killed for exceeding its memory limit".to_owned()
            } else {
                format!("exited with code {exit_code}")
            };
            ApiError::new(
                ErrorCode::StartupFailed,
                format!("{path} did not become healthy: the instance {why} while starting; see details.log"),
            )
            .with_details(json!({ "log": log, "exit_code": exit_code, "oom_killed": oom_killed }))
        }
        StartError::Timeout { timeout_ms, log } => ApiError::new(
            ErrorCode::StartupFailed,
            format!(
                "{path} did not answer its health check within {timeout_ms} ms; see details.log"
            ),
        )
        .with_details(json!({ "log": log })),
        StartError::ImageUnavailable { image, reason } => ApiError::new(
            ErrorCode::ImagePullFailed,
            format!("{path}: image {image} is missing and could not be rebuilt: {reason}"),
        )
        .with_details(json!({ "image": image })),
        StartError::Backend(e) => e.into(),
    }
}

impl From<DeployError> for ApiError {
    fn from(e: DeployError) -> Self {
        let message = e.to_string();
        match e {
            DeployError::NotFound(_) => ApiError::new(ErrorCode::CallbackNotFound, message),
            DeployError::InProgress(_) => ApiError::new(ErrorCode::DeployInProgress, message),
            DeployError::Invalid(fields) => ApiError::fields(fields),
            DeployError::Build { log, .. } => ApiError::new(
                ErrorCode::BuildFailed,
                format!("{message}; see details.log"),
            )
            .with_details(json!({ "log": log })),
            DeployError::Startup { path, source } => start_failure(&path, source),
            DeployError::Backend(e) => e.into(),
            DeployError::Store(e) => e.into(),
        }
    }
}

impl From<InvocationError> for ApiError {
    fn from(e: InvocationError) -> Self {
        let message = e.to_string();
        match e {
            InvocationError::NotFound(_) => ApiError::new(ErrorCode::InvocationNotFound, message),
            InvocationError::BadCallbackUrl => {
                ApiError::fields([("X-Callback-Url".to_owned(), message)].into())
            }
            InvocationError::Invoke(e) => e.into(),
            InvocationError::Store(e) => e.into(),
        }
    }
}

impl From<InvokeError> for ApiError {
    fn from(e: InvokeError) -> Self {
        let message = e.to_string();
        match e {
            InvokeError::NotFound(_) => ApiError::new(ErrorCode::CallbackNotFound, message),
            InvokeError::NotDeployed(_) => ApiError::new(
                ErrorCode::CallbackNotDeployed,
                format!("{message}; deploy it again to serve calls"),
            ),
            InvokeError::NotReady(_) => ApiError::new(
                ErrorCode::CallbackNotReady,
                format!("{message}; see GET /callbacks/<path> for its state"),
            ),
            InvokeError::TooLarge(limit) => ApiError::new(ErrorCode::PayloadTooLarge, message)
                .with_details(json!({ "limit_bytes": limit })),
            InvokeError::QueueFull { .. } => ApiError {
                retry_after_s: Some(1),
                ..ApiError::new(
                    ErrorCode::TooManyRequests,
                    format!("{message}; retry later"),
                )
            },
            InvokeError::Timeout { timeout_ms, .. } => {
                ApiError::new(ErrorCode::FunctionTimeout, message)
                    .with_details(json!({ "timeout_ms": timeout_ms }))
            }
            InvokeError::Crashed { exit_code, .. } => {
                ApiError::new(ErrorCode::FunctionCrashed, message)
                    .with_details(json!({ "exit_code": exit_code }))
            }
            InvokeError::OomKilled { memory_mb, .. } => {
                ApiError::new(ErrorCode::FunctionOomKilled, message)
                    .with_details(json!({ "memory_mb": memory_mb }))
            }
            InvokeError::CrashLoop { retry_after_s, .. } => ApiError {
                retry_after_s: Some(retry_after_s),
                ..ApiError::new(
                    ErrorCode::FunctionCrashLoop,
                    format!("{message}; see last_error and the logs of GET /callbacks/<path>"),
                )
            },
            InvokeError::ImageUnavailable { image, .. } => {
                ApiError::new(ErrorCode::ImagePullFailed, message)
                    .with_details(json!({ "image": image }))
            }
            InvokeError::Backend(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_full_sets_retry_after() {
        let e: ApiError = InvokeError::QueueFull {
            path: "p".into(),
            queue_len: 1,
        }
        .into();
        assert_eq!(e.code, ErrorCode::TooManyRequests);
        let resp = e.into_response();
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()["retry-after"], "1");
    }

    #[test]
    fn startup_failures_carry_the_log() {
        let e: ApiError = DeployError::Startup {
            path: "p".into(),
            source: StartError::Exited {
                exit_code: 1,
                oom_killed: false,
                log: "SyntaxError".into(),
            },
        }
        .into();
        assert_eq!(e.code, ErrorCode::StartupFailed);
        assert_eq!(e.details["log"], "SyntaxError");
    }

    #[test]
    fn a_kubernetes_403_names_the_missing_permission() {
        let e: ApiError = ExecutorError::Forbidden {
            verb: "create".into(),
            resource: "jobs".into(),
            message: "jobs.batch is forbidden".into(),
        }
        .into();
        assert_eq!(e.code, ErrorCode::BackendForbidden);
        assert_eq!(e.details["verb"], "create");
        assert_eq!(e.details["resource"], "jobs");
        assert_eq!(e.into_response().status(), 502);
    }

    #[test]
    fn internal_causes_are_not_sent() {
        let e = ApiError::internal(&"secret path /var/x");
        assert!(!e.message.contains("/var/x"));
    }
}
