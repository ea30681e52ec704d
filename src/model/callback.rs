//! A callback's stored record and the resource the API returns for it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error_code::ErrorCode;
use super::runtime::{Backend, Mode, Runtime};
use super::spec::CallbackSpec;

/// Lifecycle of a callback as the API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallbackState {
    Building,
    Starting,
    Ready,
    /// Ready with zero instances (scaled to zero).
    Idle,
    Failed,
    CrashLoop,
    Undeployed,
}

impl CallbackState {
    /// Name stored in SQLite and shown by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackState::Building => "building",
            CallbackState::Starting => "starting",
            CallbackState::Ready => "ready",
            CallbackState::Idle => "idle",
            CallbackState::Failed => "failed",
            CallbackState::CrashLoop => "crash_loop",
            CallbackState::Undeployed => "undeployed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        use CallbackState::*;
        [
            Building, Starting, Ready, Idle, Failed, CrashLoop, Undeployed,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// Whether an identical redeploy in this state is a no-op.
    pub fn is_serving(self) -> bool {
        matches!(self, CallbackState::Ready | CallbackState::Idle)
    }
}

/// The most recent failure of a callback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LastError {
    pub code: ErrorCode,
    pub message: String,
    /// What is known of it: an instance's `exit_code` and the tail of its output (`log`), …
    #[serde(default = "empty_details")]
    #[schema(value_type = Object, required = true)]
    pub details: serde_json::Value,
    pub at: DateTime<Utc>,
}

fn empty_details() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

impl LastError {
    /// A failure now, with nothing more to say than `message`.
    pub fn now(code: ErrorCode, message: impl Into<String>) -> Self {
        LastError {
            code,
            message: message.into(),
            details: empty_details(),
            at: Utc::now(),
        }
    }
}

/// A callback as stored: its current definition and where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackRecord {
    /// The serving revision's definition (for a never-deployed callback, the attempted one).
    pub spec: CallbackSpec,
    pub revision: u64,
    pub image: Option<String>,
    pub state: CallbackState,
    pub last_error: Option<LastError>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One stored revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Revision {
    pub revision: u64,
    pub code_sha256: String,
    pub image: String,
    pub created_at: DateTime<Utc>,
}

/// Lifecycle of one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InstanceState {
    Starting,
    Ready,
    Draining,
    /// Frozen while idle (Docker): resumed in milliseconds by the next call.
    Paused,
}

/// One running instance as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InstanceView {
    pub id: String,
    pub state: InstanceState,
    pub started_at: DateTime<Utc>,
    pub in_flight: u32,
    pub restarts: u32,
}

/// What `GET /callbacks` shows instead of a secret-looking variable's value.
pub const SECRET_SHOWN: &str = "(set)";

/// Whether an environment variable's name says it holds a secret: it contains SECRET, TOKEN,
/// PASSWORD, PASSWD, PASSPHRASE, CREDENTIAL, PRIVATE or AUTH, or ends in KEY (API_KEY,
/// ACCESS_KEY …), in any case. Such values are stored (the function needs them) but never
/// shown by the API.
pub fn looks_secret(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    const WORDS: [&str; 8] = [
        "SECRET",
        "TOKEN",
        "PASSWORD",
        "PASSWD",
        "PASSPHRASE",
        "CREDENTIAL",
        "PRIVATE",
        "AUTH",
    ];
    WORDS.iter().any(|w| n.contains(w)) || n.ends_with("KEY")
}

/// The callback resource of the API.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CallbackView {
    pub path: String,
    pub runtime: Runtime,
    pub backend: Backend,
    pub mode: Mode,
    pub revision: u64,
    pub state: CallbackState,
    /// The revision's image; `null` before one was built.
    #[schema(required = true)]
    pub image: Option<String>,
    pub code_sha256: String,
    pub handler: String,
    pub env: BTreeMap<String, String>,
    pub memory_mb: u32,
    pub cpu: f64,
    pub timeout_ms: u64,
    pub concurrency: u32,
    pub min_instances: u32,
    pub max_instances: u32,
    pub idle_timeout_s: u64,
    pub keep_paused_s: u64,
    /// The namespace that owns it.
    pub namespace: String,
    pub instances: Vec<InstanceView>,
    /// The latest failure, until the next successful deploy; `null` when none.
    #[schema(required = true)]
    pub last_error: Option<LastError>,
    pub url: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl CallbackView {
    /// Builds the resource from a record and the live instances.
    pub fn new(record: &CallbackRecord, instances: Vec<InstanceView>) -> Self {
        let spec = &record.spec;
        CallbackView {
            path: spec.path.clone(),
            runtime: spec.runtime,
            backend: spec.backend,
            mode: spec.mode,
            revision: record.revision,
            state: record.state,
            image: record.image.clone(),
            code_sha256: spec.code_sha256(),
            handler: spec.handler.clone(),
            env: spec
                .env
                .iter()
                .map(|(k, v)| {
                    let shown = if looks_secret(k) {
                        SECRET_SHOWN.to_owned()
                    } else {
                        v.clone()
                    };
                    (k.clone(), shown)
                })
                .collect(),
            memory_mb: spec.memory_mb,
            cpu: spec.cpu,
            timeout_ms: spec.timeout_ms,
            concurrency: spec.concurrency,
            min_instances: spec.min_instances,
            max_instances: spec.max_instances,
            idle_timeout_s: spec.idle_timeout_s,
            keep_paused_s: spec.keep_paused_s,
            namespace: spec.namespace.clone(),
            instances,
            last_error: record.last_error.clone(),
            url: format!("/api/{}", spec.path),
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::looks_secret;

    #[test]
    fn secret_looking_names_are_recognised() {
        for name in [
            "DB_PASSWORD",
            "api_key",
            "GITHUB_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "AuthHeader",
        ] {
            assert!(looks_secret(name), "{name}");
        }
        for name in ["GREETING", "KEYBOARD_LAYOUT", "REGION"] {
            assert!(!looks_secret(name), "{name}");
        }
    }
}
