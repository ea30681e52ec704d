//! Function images of callbacks: which base they build on, their names, building or reusing
//! them, rebuilding a lost one from its stored definition, pruning old ones.

use std::sync::Arc;

use super::{BuildContext, BuildError, ImageBuilder, build_context};
use crate::metrics::Metrics;
use crate::model::{CallbackSpec, Runtime};

/// Where function images come from and what they are called.
#[derive(Debug, Clone)]
pub struct ImageConfig {
    pub python_base_image: String,
    pub node_base_image: String,
    /// Repository prefix: images are `<prefix>/<path>:<hash>`.
    pub repository: String,
    /// Push every built image (the prefix is a registry: `FAAS_REGISTRY`).
    pub push: bool,
}

/// Function images, on top of an [`ImageBuilder`].
#[derive(Clone)]
pub struct Images {
    builder: Arc<dyn ImageBuilder>,
    config: ImageConfig,
    metrics: Arc<Metrics>,
}

impl Images {
    /// Images built by `builder` as `config` says.
    pub fn new(builder: Arc<dyn ImageBuilder>, config: ImageConfig, metrics: Arc<Metrics>) -> Self {
        Images {
            builder,
            config,
            metrics,
        }
    }

    async fn build(&self, ctx: &BuildContext) -> Result<(), BuildError> {
        let started = std::time::Instant::now();
        let result = self.builder.build(ctx).await;
        let seconds = started.elapsed().as_secs_f64();
        // An unreachable builder built nothing: not a build result.
        if !matches!(result, Err(BuildError::Unavailable(_))) {
            self.metrics.build(result.is_ok(), seconds);
        }
        if result.is_ok() {
            tracing::info!(image = %ctx.image, duration_ms = (seconds * 1000.0) as u64, "image built");
        }
        result
    }

    /// The repository of one callback's images.
    pub fn repository_of(&self, path: &str) -> String {
        format!("{}/{path}", self.config.repository)
    }

    fn context(&self, spec: &CallbackSpec) -> BuildContext {
        let base = match spec.runtime {
            Runtime::Python => &self.config.python_base_image,
            Runtime::Node => &self.config.node_base_image,
        };
        build_context(spec, base, &self.config.repository)
    }

    /// The image of `spec`, built unless an image of identical content exists.
    pub async fn ensure(&self, spec: &CallbackSpec) -> Result<String, BuildError> {
        let ctx = self.context(spec);
        if !self.builder.exists(&ctx.image).await? {
            self.build(&ctx).await?;
            if self.config.push {
                self.builder.push(&ctx.image).await?;
                tracing::info!(image = %ctx.image, "image pushed");
            }
        }
        Ok(ctx.image)
    }

    /// Builds `image` again from the definition it was made from (it was removed by hand).
    pub async fn rebuild(&self, spec: &CallbackSpec, image: &str) -> Result<(), BuildError> {
        let mut ctx = self.context(spec);
        // Keep the name the revision refers to, even if the base image setting changed since.
        ctx.image = image.to_owned();
        tracing::warn!(callback.path = %spec.path, image = %image, "image missing: rebuilding it");
        self.build(&ctx).await?;
        if self.config.push {
            self.builder.push(image).await?;
        }
        Ok(())
    }

    /// Removes the callback's images other than `keep`.
    pub async fn prune(&self, path: &str, keep: &[String]) {
        if let Err(e) = self.builder.prune(&self.repository_of(path), keep).await {
            tracing::warn!(callback.path = %path, error = %e, "cannot remove images");
        }
    }
}
