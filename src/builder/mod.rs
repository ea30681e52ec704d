//! Function images: the build context (pure) and the image builder behind a small trait.

mod context;
pub mod docker;
mod images;

use async_trait::async_trait;

pub use context::{BuildContext, build_context};
pub use images::{ImageConfig, Images};

/// Errors of an image build.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BuildError {
    /// The build ran and failed; `log` is the tail of its output.
    #[error("the image build failed: {reason}")]
    Failed { reason: String, log: String },
    /// The builder cannot be reached.
    #[error("the image builder is unreachable: {0}")]
    Unavailable(String),
}

/// Builds and removes function images.
#[async_trait]
pub trait ImageBuilder: Send + Sync + 'static {
    /// Whether `image` exists locally.
    async fn exists(&self, image: &str) -> Result<bool, BuildError>;
    /// Builds `ctx.image` from its context.
    async fn build(&self, ctx: &BuildContext) -> Result<(), BuildError>;
    /// Pushes `image` (`<registry>/<path>:<tag>`) to its registry.
    async fn push(&self, image: &str) -> Result<(), BuildError>;
    /// Removes the images of `repository` (all tags) other than `keep`; returns the removed
    /// tags. An image still used by a container stays.
    async fn prune(&self, repository: &str, keep: &[String]) -> Result<Vec<String>, BuildError>;
}
