//! The callbacks' records kept true to what their revisions report: deaths, failed starts,
//! crash loops and recoveries become `state` and `last_error` (with the dead instance's
//! output tail); and what a failed deploy leaves there.

use super::{DeployError, Deployer};
use crate::launcher::{RuntimeEvent, output_tail};
use crate::model::{CallbackState, ErrorCode, LastError};

/// The callback's `last_error` after a failed deploy.
pub fn last_error_of(e: &DeployError) -> LastError {
    let (code, details) = match e {
        DeployError::Build { log, .. } => {
            (ErrorCode::BuildFailed, serde_json::json!({ "log": log }))
        }
        DeployError::Startup { source, .. } => (ErrorCode::StartupFailed, source.details()),
        DeployError::Quota(q) => (ErrorCode::QuotaExceeded, q.details()),
        DeployError::Backend(e) => (e.code(), serde_json::json!({})),
        _ => (ErrorCode::InternalError, serde_json::json!({})),
    };
    LastError {
        details,
        ..LastError::now(code, e.to_string())
    }
}

impl Deployer {
    /// Writes what revisions report into the records until `shutdown`, then what is still
    /// queued.
    pub async fn record_runtime_events(
        &self,
        mut events: tokio::sync::mpsc::UnboundedReceiver<RuntimeEvent>,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        loop {
            let event = tokio::select! {
                event = events.recv() => event,
                () = shutdown.cancelled() => break,
            };
            let Some(event) = event else { return };
            self.note(event).await;
        }
        while let Ok(event) = events.try_recv() {
            self.note(event).await;
        }
    }

    async fn note(&self, event: RuntimeEvent) {
        if let Err(e) = self.record_event(event.clone()).await {
            tracing::error!(error = %e, ?event, "cannot record a revision's event");
        }
    }

    async fn record_event(&self, event: RuntimeEvent) -> Result<(), crate::store::StoreError> {
        match event {
            RuntimeEvent::Failed {
                path,
                revision,
                mut error,
                instance,
                crash_loop,
            } => {
                let state = if crash_loop {
                    CallbackState::CrashLoop
                } else {
                    CallbackState::Ready
                };
                // Recorded at once; the output's tail (a backend call) follows.
                self.store
                    .record_runtime_state(&path, revision, state, Some(&error))
                    .await?;
                if let Some(id) = instance {
                    self.add_output_tail(&path, &id, &mut error).await;
                    self.store
                        .record_runtime_state(&path, revision, state, Some(&error))
                        .await?;
                }
                Ok(())
            }
            RuntimeEvent::CrashLoop { path, revision } => {
                self.store
                    .record_runtime_state(&path, revision, CallbackState::CrashLoop, None)
                    .await
            }
            RuntimeEvent::Recovered { path, revision } => {
                self.store
                    .record_runtime_state(&path, revision, CallbackState::Ready, None)
                    .await
            }
        }
    }

    /// Puts the last lines a dead instance printed into `details.log`.
    async fn add_output_tail(&self, path: &str, id: &str, error: &mut LastError) {
        let Some(revision) = self.routes.revision(path) else {
            return;
        };
        let tail = output_tail(revision.executor().as_ref(), id).await;
        if let Some(details) = error.details.as_object_mut() {
            details.insert("log".into(), tail.into());
        }
    }
}
