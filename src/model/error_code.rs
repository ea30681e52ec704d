//! The contract's error codes (SPEC section 3) and their HTTP statuses.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every gateway-made error code of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    InvalidRequest,
    ValidationFailed,
    Unauthorized,
    CallbackNotFound,
    CallbackNotDeployed,
    InvocationNotFound,
    CallbackNotReady,
    DeployInProgress,
    PayloadTooLarge,
    BuildFailed,
    StartupFailed,
    TooManyRequests,
    FunctionCrashed,
    FunctionOomKilled,
    ImagePullFailed,
    FunctionCrashLoop,
    BackendUnavailable,
    BackendForbidden,
    FunctionTimeout,
    InsufficientCapacity,
    RouteNotFound,
    MethodNotAllowed,
    NamespaceNotFound,
    NamespaceExists,
    PathTaken,
    QuotaExceeded,
    InternalError,
}

impl ErrorCode {
    /// Every code, in the order of the contract's table.
    pub const ALL: [ErrorCode; 27] = {
        use ErrorCode::*;
        [
            InvalidRequest,
            ValidationFailed,
            Unauthorized,
            CallbackNotFound,
            CallbackNotDeployed,
            InvocationNotFound,
            CallbackNotReady,
            DeployInProgress,
            PayloadTooLarge,
            BuildFailed,
            StartupFailed,
            TooManyRequests,
            FunctionCrashed,
            FunctionOomKilled,
            ImagePullFailed,
            FunctionCrashLoop,
            BackendUnavailable,
            InsufficientCapacity,
            BackendForbidden,
            FunctionTimeout,
            RouteNotFound,
            MethodNotAllowed,
            NamespaceNotFound,
            NamespaceExists,
            PathTaken,
            QuotaExceeded,
            InternalError,
        ]
    };

    /// The HTTP status the contract assigns to this code.
    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            InvalidRequest => 400,
            Unauthorized => 401,
            QuotaExceeded => 403,
            CallbackNotFound | CallbackNotDeployed | InvocationNotFound | RouteNotFound
            | NamespaceNotFound => 404,
            MethodNotAllowed => 405,
            DeployInProgress | NamespaceExists | PathTaken => 409,
            PayloadTooLarge => 413,
            ValidationFailed | BuildFailed | StartupFailed => 422,
            TooManyRequests => 429,
            InternalError => 500,
            FunctionCrashed | FunctionOomKilled | ImagePullFailed | BackendForbidden => 502,
            CallbackNotReady | FunctionCrashLoop | BackendUnavailable | InsufficientCapacity => 503,
            FunctionTimeout => 504,
        }
    }

    /// The code as written on the wire, e.g. `FUNCTION_OOM_KILLED`.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidRequest => "INVALID_REQUEST",
            ValidationFailed => "VALIDATION_FAILED",
            Unauthorized => "UNAUTHORIZED",
            CallbackNotFound => "CALLBACK_NOT_FOUND",
            CallbackNotDeployed => "CALLBACK_NOT_DEPLOYED",
            InvocationNotFound => "INVOCATION_NOT_FOUND",
            CallbackNotReady => "CALLBACK_NOT_READY",
            DeployInProgress => "DEPLOY_IN_PROGRESS",
            PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            BuildFailed => "BUILD_FAILED",
            StartupFailed => "STARTUP_FAILED",
            TooManyRequests => "TOO_MANY_REQUESTS",
            FunctionCrashed => "FUNCTION_CRASHED",
            FunctionOomKilled => "FUNCTION_OOM_KILLED",
            ImagePullFailed => "IMAGE_PULL_FAILED",
            FunctionCrashLoop => "FUNCTION_CRASH_LOOP",
            BackendUnavailable => "BACKEND_UNAVAILABLE",
            BackendForbidden => "BACKEND_FORBIDDEN",
            FunctionTimeout => "FUNCTION_TIMEOUT",
            InsufficientCapacity => "INSUFFICIENT_CAPACITY",
            RouteNotFound => "ROUTE_NOT_FOUND",
            MethodNotAllowed => "METHOD_NOT_ALLOWED",
            NamespaceNotFound => "NAMESPACE_NOT_FOUND",
            NamespaceExists => "NAMESPACE_EXISTS",
            PathTaken => "PATH_TAKEN",
            QuotaExceeded => "QUOTA_EXCEEDED",
            InternalError => "INTERNAL_ERROR",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde_names() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).expect("serialises");
            assert_eq!(json, serde_json::Value::from(code.as_str()));
        }
    }

    /// `ALL` is written by hand: every variant of the enum (read from this file) is in it.
    #[test]
    fn all_holds_every_variant() {
        let source = include_str!("error_code.rs");
        let body = source
            .split_once("pub enum ErrorCode {")
            .and_then(|(_, rest)| rest.split_once('}'))
            .map(|(body, _)| body)
            .expect("the enum");
        let variants: Vec<&str> = body
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("//") && !l.starts_with('#') && l.ends_with(','))
            .map(|l| l.trim_end_matches(','))
            .collect();
        let listed: Vec<String> = ErrorCode::ALL.iter().map(|c| format!("{c:?}")).collect();
        assert_eq!(variants.len(), listed.len(), "{variants:?} vs {listed:?}");
        for v in variants {
            assert!(listed.iter().any(|l| l == v), "{v} is missing from ALL");
        }
    }

    #[test]
    fn statuses_follow_the_contract_table() {
        assert_eq!(ErrorCode::FunctionTimeout.status(), 504);
        assert_eq!(ErrorCode::StartupFailed.status(), 422);
        assert_eq!(ErrorCode::BackendForbidden.status(), 502);
        assert_eq!(ErrorCode::FunctionCrashLoop.status(), 503);
    }
}
