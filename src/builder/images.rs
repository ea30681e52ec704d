//! Function images of callbacks: which base they build on, their names, building or reusing
//! them, rebuilding a lost one from its stored definition, pruning old ones.

use std::sync::Arc;

use super::{BuildContext, BuildError, ImageBuilder, build_context};
use crate::model::{CallbackSpec, Runtime};

/// Where function images come from and what they are called.
#[derive(Debug, Clone)]
pub struct ImageConfig {
    pub python_base_image: String,
    pub node_base_image: String,
    /// Repository prefix: images are `<prefix>/<path>:<hash>`.
    pub repository: String,
}

/// Function images, on top of an [`ImageBuilder`].
#[derive(Clone)]
pub struct Images {
    builder: Arc<dyn ImageBuilder>,
    config: ImageConfig,
}

impl Images {
    /// Images built by `builder` as `config` says.
    pub fn new(builder: Arc<dyn ImageBuilder>, config: ImageConfig) -> Self {
        Images { builder, config }
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
            let started = std::time::Instant::now();
            self.builder.build(&ctx).await?;
            tracing::info!(callback.path = %spec.path, image = %ctx.image,
                duration_ms = started.elapsed().as_millis() as u64, "image built");
        }
        Ok(ctx.image)
    }

    /// Builds `image` again from the definition it was made from (it was removed by hand).
    pub async fn rebuild(&self, spec: &CallbackSpec, image: &str) -> Result<(), BuildError> {
        let mut ctx = self.context(spec);
        // Keep the name the revision refers to, even if the base image setting changed since.
        ctx.image = image.to_owned();
        tracing::warn!(callback.path = %spec.path, image = %image, "image missing: rebuilding it");
        self.builder.build(&ctx).await
    }

    /// Removes the callback's images other than `keep`.
    pub async fn prune(&self, path: &str, keep: &[String]) {
        if let Err(e) = self.builder.prune(&self.repository_of(path), keep).await {
            tracing::warn!(callback.path = %path, error = %e, "cannot remove images");
        }
    }
}
