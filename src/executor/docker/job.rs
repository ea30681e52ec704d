//! Job mode on Docker: one fresh container per invocation, run to completion, then removed.

use std::time::Duration;

use bollard::query_parameters::{LogsOptionsBuilder, UploadToContainerOptionsBuilder};
use futures::StreamExt;

use super::{DockerExecutor, Role};
use crate::daemon::{self as conn, is_not_found};
use crate::executor::{ExecutorError, InstanceSpec, InstanceStatus, JobOutcome};

/// Folder of the event file for events too large for the environment.
pub const EVENT_DIR: &str = "/faas-event";
/// Largest event passed in the environment (one variable may hold 128 KiB on Linux).
const MAX_ENV_EVENT: usize = 96 * 1024;
/// Lines of output kept for error details.
const LOG_LINES: usize = 50;

impl DockerExecutor {
    /// Creates, feeds, starts, awaits and removes one job container.
    pub(super) async fn run_job_container(
        &self,
        spec: &InstanceSpec,
        event: &str,
        timeout: Duration,
    ) -> Result<JobOutcome, ExecutorError> {
        let docker = self.conn.client().await?;
        let mut spec = spec.clone();
        let role = if event.len() > MAX_ENV_EVENT {
            spec.env
                .insert("FAAS_EVENT_FILE".into(), format!("{EVENT_DIR}/event.json"));
            Role::JobWithEventVolume
        } else {
            spec.env.insert("FAAS_EVENT".into(), event.to_owned());
            Role::Job
        };
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let name = format!("faas-{}-job-{suffix}", spec.callback);
        let id = self.create(&name, &spec, role).await?;
        let outcome = self.feed_and_run(&docker, &id, event, role, timeout).await;
        if let Err(e) = crate::executor::Executor::remove(self, &id).await {
            tracing::warn!(instance.id = %id, error = %e, "cannot remove a job container");
        }
        outcome
    }

    async fn feed_and_run(
        &self,
        docker: &bollard::Docker,
        id: &str,
        event: &str,
        role: Role,
        timeout: Duration,
    ) -> Result<JobOutcome, ExecutorError> {
        if role == Role::JobWithEventVolume {
            let options = UploadToContainerOptionsBuilder::new()
                .path(EVENT_DIR)
                .build();
            let tar = event_tar(event);
            let upload =
                docker.upload_to_container(id, Some(options), bollard::body_full(tar.into()));
            self.conn.call(upload).await?;
        }
        self.conn.call(docker.start_container(id, None)).await?;
        let mut wait = docker.wait_container(id, None);
        // The daemon answers a wait when the container stops; a non-zero exit arrives as an
        // error item, which is fine: the status below is read from the container itself.
        let timed_out = tokio::time::timeout(timeout, wait.next()).await.is_err();
        if timed_out {
            crate::executor::Executor::stop(self, id).await?;
        }
        let (exit_code, oom_killed) = match crate::executor::Executor::status(self, id).await? {
            InstanceStatus::Exited(exit) => (exit.exit_code, exit.oom_killed),
            InstanceStatus::Running | InstanceStatus::Restarted(_) | InstanceStatus::Gone => {
                (-1, false)
            }
        };
        let (document, log) = output(docker, id).await?;
        Ok(JobOutcome {
            exit_code,
            oom_killed,
            timed_out,
            document,
            log,
        })
    }
}

/// The job's stdout (raw, so a long document line split by the log driver joins up again)
/// and the tail of everything it printed.
async fn output(
    docker: &bollard::Docker,
    id: &str,
) -> Result<(Option<String>, String), ExecutorError> {
    let options = LogsOptionsBuilder::new().stdout(true).stderr(true).build();
    let mut stream = docker.logs(id, Some(options));
    let (mut stdout, mut all) = (Vec::new(), Vec::new());
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(out @ bollard::container::LogOutput::StdOut { .. }) => {
                stdout.extend_from_slice(out.as_ref());
                all.extend_from_slice(out.as_ref());
            }
            Ok(out) => all.extend_from_slice(out.as_ref()),
            Err(e) if is_not_found(&e) => break,
            Err(e) => return Err(conn::map_err(e).into()),
        }
    }
    let stdout = String::from_utf8_lossy(&stdout);
    let document = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::to_owned);
    let all = String::from_utf8_lossy(&all);
    let lines: Vec<&str> = all.lines().collect();
    let log = lines[lines.len().saturating_sub(LOG_LINES)..].join("\n");
    Ok((document, log))
}

fn event_tar(event: &str) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    header.set_size(event.len() as u64);
    header.set_mode(0o444);
    header.set_mtime(0);
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    // Appending to an in-memory archive cannot fail.
    let _ = builder.append_data(&mut header, "event.json", event.as_bytes());
    builder.into_inner().unwrap_or_default()
}
