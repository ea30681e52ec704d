//! Asynchronous invocations (SPEC 2.3, `Prefer: respond-async`).

use std::collections::BTreeMap;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Where an invocation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InvocationStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl InvocationStatus {
    /// Name stored in SQLite and shown by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            InvocationStatus::Queued => "queued",
            InvocationStatus::Running => "running",
            InvocationStatus::Succeeded => "succeeded",
            InvocationStatus::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        use InvocationStatus::*;
        [Queued, Running, Succeeded, Failed]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

/// A body as stored: UTF-8 text as is, anything else base64.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StoredBody {
    pub body: String,
    /// `utf8` or `base64`.
    #[schema(value_type = BodyEncoding)]
    pub body_encoding: String,
}

/// How a stored body is written (the values of [`StoredBody::body_encoding`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BodyEncoding {
    /// UTF-8 text, as is.
    Utf8,
    /// Anything else, base64 (standard alphabet, padded).
    Base64,
}

/// Why an invocation failed, shaped like the error envelope's `error`: a gateway error code
/// (or the runtime's `FUNCTION_ERROR`), a message, and `details`, always present.
#[derive(Debug, Clone, PartialEq, ToSchema)]
pub struct InvocationFailure {
    #[schema(required = false)]
    pub code: String,
    #[schema(required = false)]
    pub message: String,
    #[schema(value_type = Object)]
    pub details: Value,
}

impl StoredBody {
    /// Stores `bytes` as text when they are UTF-8.
    pub fn new(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => StoredBody {
                body: text.to_owned(),
                body_encoding: "utf8".into(),
            },
            Err(_) => StoredBody {
                body: base64::engine::general_purpose::STANDARD.encode(bytes),
                body_encoding: "base64".into(),
            },
        }
    }

    /// The original bytes.
    pub fn bytes(&self) -> Vec<u8> {
        if self.body_encoding == "base64" {
            base64::engine::general_purpose::STANDARD
                .decode(self.body.as_bytes())
                .unwrap_or_default()
        } else {
            self.body.clone().into_bytes()
        }
    }
}

/// An accepted call, as it will be replayed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRequest {
    pub method: String,
    /// The request's path and query, as received (`/api/<path>/<rest>?q`).
    pub uri: String,
    /// Header name and value pairs, in order, repeated names repeated.
    pub headers: Vec<(String, String)>,
    #[serde(flatten)]
    pub body: StoredBody,
    pub request_id: String,
    pub client_ip: Option<String>,
}

/// The function's response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    #[serde(flatten)]
    pub body: StoredBody,
}

/// One invocation as `GET /invocations/<id>` shows it (and as an `X-Callback-Url` receives it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Invocation {
    pub id: String,
    pub path: String,
    pub status: InvocationStatus,
    /// The function's response once it answered (the invocation `succeeded`).
    #[schema(required = true)]
    pub response: Option<StoredResponse>,
    /// Why it `failed`, shaped like the error envelope's `error` (code, message, details).
    #[schema(value_type = Option<InvocationFailure>, required = true)]
    pub error: Option<Value>,
    /// How many times it was started (2 when a gateway restart interrupted the first run).
    pub attempts: u32,
    /// Whether a gateway restart interrupted it and it ran again.
    pub retried: bool,
    pub created_at: DateTime<Utc>,
    #[schema(required = true)]
    pub started_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub finished_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_as_text_or_base64() {
        let text = StoredBody::new("héllo".as_bytes());
        assert_eq!(
            (text.body.as_str(), text.body_encoding.as_str()),
            ("héllo", "utf8")
        );
        let bin = StoredBody::new(&[0xff, 0]);
        assert_eq!(bin.body_encoding, "base64");
        assert_eq!(bin.bytes(), vec![0xff, 0]);
    }
}
