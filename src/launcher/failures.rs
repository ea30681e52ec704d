//! What goes wrong with instances, in the callback's terms: the events the pools report for
//! the callback's record (`state`, `last_error`), and the failures behind them.

use serde_json::json;

use super::StartError;
use crate::executor::{ExecutorError, Exit};
use crate::model::{ErrorCode, LastError};

/// What a revision reports for the callback's record (its state and `last_error`).
#[derive(Debug, Clone)]
pub enum RuntimeEvent {
    /// An instance failed to start or died.
    Failed {
        path: String,
        revision: u64,
        error: LastError,
        /// The instance it happened to: its output's tail completes `last_error`.
        instance: Option<String>,
        crash_loop: bool,
    },
    /// The backend backs off restarting a crashing instance: the revision crash-loops.
    CrashLoop { path: String, revision: u64 },
    /// An instance started after a crash loop: the loop is over.
    Recovered { path: String, revision: u64 },
}

/// A failure for the callback's record.
#[derive(Debug, Clone)]
pub struct Failure {
    pub error: LastError,
    /// The instance it happened to, whose output tail completes the record.
    pub instance: Option<String>,
    /// Whether it counts toward a crash loop.
    pub crash: bool,
}

/// An instance died while calls waited for it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DiedError {
    pub exit: Exit,
    pub message: String,
}

fn last_error(code: ErrorCode, message: String, details: serde_json::Value) -> LastError {
    LastError {
        details,
        ..LastError::now(code, message)
    }
}

/// The record of a serving instance's death.
pub fn death(path: &str, memory_mb: u32, id: &str, exit: &Exit) -> Failure {
    let again = if exit.restarting {
        "; it is being restarted in place"
    } else {
        ""
    };
    let (code, what) = if exit.oom_killed {
        (
            ErrorCode::FunctionOomKilled,
            format!("was killed for exceeding its memory limit of {memory_mb} MB"),
        )
    } else {
        (
            ErrorCode::FunctionCrashed,
            format!("exited with code {}", exit.exit_code),
        )
    };
    Failure {
        error: last_error(
            code,
            format!("an instance of {path} {what}{again}"),
            json!({"exit_code": exit.exit_code, "oom_killed": exit.oom_killed}),
        ),
        instance: Some(id.to_owned()),
        crash: true,
    }
}

/// The record a failed start leaves; `None` when the backend, not the function, failed, or
/// when the namespace's quota refused the start.
pub fn start_failure(path: &str, memory_mb: u32, e: &StartError) -> Option<Failure> {
    let crash = |code, message: String| {
        Some(Failure {
            error: last_error(code, message, e.details()),
            instance: None,
            crash: true,
        })
    };
    match e {
        StartError::Exited { exit, .. } if exit.oom_killed => crash(
            ErrorCode::FunctionOomKilled,
            format!(
                "an instance of {path} was killed for exceeding its memory limit of {memory_mb} MB while starting"
            ),
        ),
        StartError::Exited { exit, .. } => crash(
            ErrorCode::FunctionCrashed,
            format!(
                "an instance of {path} exited with code {} while starting",
                exit.exit_code
            ),
        ),
        StartError::Timeout { timeout_ms, .. } => crash(
            ErrorCode::StartupFailed,
            format!("an instance of {path} did not answer its health check within {timeout_ms} ms"),
        ),
        StartError::ImageUnavailable { image, reason } => crash(
            ErrorCode::ImagePullFailed,
            format!("image {image} of {path} is missing and rebuilding it failed: {reason}"),
        ),
        // Neither the function nor its record is at fault: the caller hears of it.
        StartError::Backend(ExecutorError::Unavailable { .. }) | StartError::Quota(_) => None,
        StartError::Backend(b) => Some(Failure {
            error: last_error(
                b.code(),
                format!("an instance of {path} could not start: {b}"),
                json!({}),
            ),
            instance: None,
            // No node for it, no permission: the function did not crash.
            crash: matches!(b, ExecutorError::ImagePull { .. }),
        }),
    }
}
