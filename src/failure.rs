//! The contract's error table: every layer's errors as the error envelope's `error` member
//! (code, a message that says what to do next, details) and a `Retry-After`, in one place.
//! `api::error` turns a [`Failure`] into a response; async invocations store it as it is.

use serde_json::{Value, json};

use crate::deployer::DeployError;
use crate::executor::ExecutorError;
use crate::launcher::StartError;
use crate::model::{DEFAULT_NAMESPACE, ErrorCode, FieldErrors, QuotaExceeded};
use crate::namespaces::NamespaceError;
use crate::proxy::InvokeError;
use crate::queries::QueryError;
use crate::store::StoreError;

/// A gateway-made error, as the contract shapes it.
#[derive(Debug)]
pub struct Failure {
    pub code: ErrorCode,
    pub message: String,
    pub details: Value,
    pub retry_after_s: Option<u64>,
}

/// The name the API layer knows it by.
pub type ApiError = Failure;

impl Failure {
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

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(&e)
    }
}

/// Seconds a client should wait before retrying a call no node could take.
const CAPACITY_RETRY_S: u64 = 10;

impl From<ExecutorError> for ApiError {
    fn from(e: ExecutorError) -> Self {
        let code = e.code();
        match e {
            ExecutorError::Unavailable { backend, reason } => ApiError::new(
                code,
                format!("the {backend} backend is unreachable ({reason}); retry when it is back"),
            ),
            ExecutorError::ImageMissing { image } => ApiError::new(
                code,
                format!("image {image} is missing and could not be rebuilt; redeploy the callback"),
            )
            .with_details(json!({ "image": image })),
            ExecutorError::ImagePull { image, message } => ApiError::new(
                code,
                format!("image {image} cannot be pulled ({message}); check the image and the registry's credentials, then redeploy"),
            )
            .with_details(json!({ "image": image, "message": message })),
            ExecutorError::Forbidden {
                verb,
                resource,
                message,
            } => ApiError::new(
                code,
                format!("Kubernetes does not allow the gateway to {verb} {resource}; grant its ServiceAccount that permission (see k8s/)"),
            )
            .with_details(json!({ "verb": verb, "resource": resource, "message": message })),
            ExecutorError::Unschedulable { reason } => ApiError {
                retry_after_s: Some(CAPACITY_RETRY_S),
                ..ApiError::new(
                    code,
                    format!("Kubernetes has no node that can run the instance ({reason}); free capacity, lower memory_mb or cpu, or retry later"),
                )
                .with_details(json!({ "reason": reason }))
            },
            ExecutorError::NotStarted { reason } => ApiError::new(
                code,
                format!("the instance did not start in time: {reason}"),
            )
            .with_details(json!({ "log": reason })),
            ExecutorError::Other(reason) => ApiError::internal(&reason),
        }
    }
}

impl From<QuotaExceeded> for ApiError {
    fn from(e: QuotaExceeded) -> Self {
        ApiError::new(ErrorCode::QuotaExceeded, e.to_string()).with_details(e.details())
    }
}

impl From<NamespaceError> for ApiError {
    fn from(e: NamespaceError) -> Self {
        let message = e.to_string();
        match e {
            NamespaceError::NotFound(name) | NamespaceError::Deleting(name) => {
                ApiError::new(ErrorCode::NamespaceNotFound, message)
                    .with_details(json!({ "namespace": name }))
            }
            NamespaceError::Exists(name) => ApiError::new(ErrorCode::NamespaceExists, message)
                .with_details(json!({ "namespace": name })),
            NamespaceError::Default(_) => ApiError::new(ErrorCode::NamespaceExists, message)
                .with_details(json!({ "namespace": DEFAULT_NAMESPACE })),
            NamespaceError::NotAnObject => ApiError::new(ErrorCode::InvalidRequest, message),
            NamespaceError::Invalid(fields) => ApiError::fields(fields),
            NamespaceError::BelowUsage {
                field, used, asked, ..
            } => ApiError::new(ErrorCode::NamespaceExists, message)
                .with_details(json!({
                    "fields": { format!("quota.{}", field.as_str()): format!("must not be below the {used} in use") },
                    "quota": field.as_str(),
                    "limit": asked,
                    "used": used,
                })),
            NamespaceError::NoRandomness(e) => ApiError::internal(&e),
            NamespaceError::Store(e) => e.into(),
        }
    }
}

fn start_failure(path: &str, e: StartError) -> ApiError {
    match &e {
        StartError::Exited { exit, .. } => {
            let why = if exit.oom_killed {
                "was killed for exceeding its memory limit".to_owned()
            } else {
                format!("exited with code {}", exit.exit_code)
            };
            ApiError::new(
                ErrorCode::StartupFailed,
                format!("{path} did not become healthy: the instance {why} while starting; see details.log"),
            )
            .with_details(e.details())
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
        StartError::Backend(b) => b.clone().into(),
        StartError::Quota(q) => q.clone().into(),
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
            DeployError::PathTaken(path) => {
                ApiError::new(ErrorCode::PathTaken, message).with_details(json!({ "path": path }))
            }
            DeployError::Quota(q) => q.into(),
            DeployError::Namespace(e) => e.into(),
            DeployError::Backend(e) => e.into(),
            DeployError::Store(e) => e.into(),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        let message = e.to_string();
        match e {
            QueryError::NotFound(_) => ApiError::new(ErrorCode::CallbackNotFound, message),
            QueryError::Backend(e) => e.into(),
            QueryError::Store(e) => e.into(),
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
            InvokeError::Crashed { exit_code, .. }
            | InvokeError::CrashedStarting { exit_code, .. } => {
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
            InvokeError::Quota(q) => q.into(),
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
        assert_eq!(e.retry_after_s, Some(1));
    }

    #[test]
    fn startup_failures_carry_the_log() {
        let e: ApiError = DeployError::Startup {
            path: "p".into(),
            source: StartError::Exited {
                exit: crate::executor::Exit::for_good(1, false),
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
        assert_eq!(e.code.status(), 502);
    }

    #[test]
    fn internal_causes_are_not_sent() {
        let e = ApiError::internal(&"secret path /var/x");
        assert!(!e.message.contains("/var/x"));
    }
}
