//! Image builds on the Docker daemon (the classic builder: no BuildKit session needed).

use std::collections::HashMap;

use async_trait::async_trait;
use bollard::query_parameters::{
    BuildImageOptionsBuilder, ListImagesOptionsBuilder, PushImageOptionsBuilder,
    RemoveImageOptionsBuilder,
};
use futures::StreamExt;

use super::{BuildContext, BuildError, ImageBuilder};
use crate::daemon::{self, DaemonError, DockerConn, is_not_found};

/// Lines of build output kept for `details.log`.
const LOG_TAIL_LINES: usize = 60;

/// Builds images with the Docker daemon.
pub struct DockerBuilder {
    conn: DockerConn,
}

impl DockerBuilder {
    /// A builder on `conn`.
    pub fn new(conn: DockerConn) -> Self {
        DockerBuilder { conn }
    }
}

fn unavailable(e: DaemonError) -> BuildError {
    BuildError::Unavailable(e.to_string())
}

/// Keeps the last lines of a streamed log.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

#[async_trait]
impl ImageBuilder for DockerBuilder {
    async fn exists(&self, image: &str) -> Result<bool, BuildError> {
        let docker = self.conn.client().await.map_err(unavailable)?;
        match docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(unavailable(daemon::map_err(e))),
        }
    }

    // No build-time labels: each one costs the classic builder an extra committed step; the
    // repository name `<repository>/<path>` already says whose image it is.
    async fn build(&self, ctx: &BuildContext) -> Result<(), BuildError> {
        let docker = self.conn.client().await.map_err(unavailable)?;
        let args = HashMap::from([("BASE_IMAGE", ctx.base_image.as_str())]);
        let options = BuildImageOptionsBuilder::new()
            .t(&ctx.image)
            .buildargs(&args)
            .rm(true)
            .forcerm(true)
            .build();
        let body = bollard::body_full(ctx.tar.clone().into());
        let mut stream = docker.build_image(options, None, Some(body));
        let mut log = String::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(s) = info.stream {
                        log.push_str(&s);
                    }
                    if let Some(detail) = info.error_detail {
                        let reason = detail.message.unwrap_or_else(|| "unknown error".into());
                        return Err(failed(reason, &log, &ctx.base_image));
                    }
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    return Err(failed(error, &log, &ctx.base_image));
                }
                Err(e) => {
                    return Err(match daemon::map_err(e) {
                        e @ DaemonError::Unreachable(_) => unavailable(e),
                        e => failed(e.to_string(), &log, &ctx.base_image),
                    });
                }
            }
        }
        Ok(())
    }

    async fn push(&self, image: &str) -> Result<(), BuildError> {
        let docker = self.conn.client().await.map_err(unavailable)?;
        let (name, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
        let options = PushImageOptionsBuilder::new().tag(tag).build();
        let mut stream = docker.push_image(name, Some(options), None);
        let mut log = String::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(status) = info.status {
                        log.push_str(&status);
                        log.push('\n');
                    }
                    if let Some(detail) = info.error_detail {
                        let reason = detail.message.unwrap_or_else(|| "unknown error".into());
                        return Err(push_failed(image, reason, &log));
                    }
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    return Err(push_failed(image, error, &log));
                }
                Err(e) => {
                    return Err(match daemon::map_err(e) {
                        e @ DaemonError::Unreachable(_) => unavailable(e),
                        e => push_failed(image, e.to_string(), &log),
                    });
                }
            }
        }
        Ok(())
    }

    async fn prune(&self, repository: &str, keep: &[String]) -> Result<Vec<String>, BuildError> {
        let docker = self.conn.client().await.map_err(unavailable)?;
        let filters = HashMap::from([("reference", vec![repository.to_owned()])]);
        let options = ListImagesOptionsBuilder::new().filters(&filters).build();
        let images = self
            .conn
            .call(docker.list_images(Some(options)))
            .await
            .map_err(unavailable)?;
        let mut removed = Vec::new();
        for tag in images.into_iter().flat_map(|i| i.repo_tags) {
            if keep.contains(&tag) {
                continue;
            }
            // `noprune`: the untagged parent layers are the build cache shared by every
            // function of a runtime; deleting them under a concurrent build breaks it.
            let options = RemoveImageOptionsBuilder::new().noprune(true).build();
            // An image still used by a draining container stays until the next prune.
            if docker.remove_image(&tag, Some(options), None).await.is_ok() {
                removed.push(tag);
            }
        }
        Ok(removed)
    }
}

fn push_failed(image: &str, reason: String, log: &str) -> BuildError {
    let reason = format!("pushing {image} failed: {reason} (check FAAS_REGISTRY)");
    BuildError::Failed {
        log: format!("{}{reason}", tail(log)),
        reason,
    }
}

fn failed(reason: String, log: &str, base_image: &str) -> BuildError {
    let reason = if reason.contains("pull access denied") || reason.contains("No such image") {
        format!(
            "{reason} (the base image {base_image} is not available: run docker/base-images.sh \
             or set FAAS_PYTHON_BASE_IMAGE / FAAS_NODE_BASE_IMAGE)"
        )
    } else {
        reason
    };
    let mut log = tail(log);
    if !log.is_empty() {
        log.push('\n');
    }
    log.push_str(&reason);
    BuildError::Failed { reason, log }
}
