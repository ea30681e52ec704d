//! Errors as responses: the contract's envelope with the status its code carries and
//! `Retry-After`, for every [`Failure`] (the error table is `crate::failure`), plus the
//! errors only the HTTP edge has.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::request_id;
pub use crate::failure::ApiError;
use crate::invocations::InvocationError;
use crate::model::ErrorCode;

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

impl From<InvocationError> for ApiError {
    fn from(e: InvocationError) -> Self {
        let message = e.to_string();
        match e {
            InvocationError::NotFound(_) => ApiError::new(ErrorCode::InvocationNotFound, message),
            InvocationError::BadCallbackUrl(_) => ApiError::new(ErrorCode::InvalidRequest, message)
                .with_details(json!({ "header": "X-Callback-Url" })),
            InvocationError::Invoke(e) => e.into(),
            InvocationError::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::InvokeError;

    #[test]
    fn a_full_queue_answers_429_with_retry_after() {
        let e: ApiError = InvokeError::QueueFull {
            path: "p".into(),
            queue_len: 1,
        }
        .into();
        let resp = e.into_response();
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()["retry-after"], "1");
    }
}
