//! An image builder that keeps a set of image names and records what it was asked to do.

use std::collections::BTreeSet;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::builder::{BuildContext, BuildError, ImageBuilder};

/// Builds images by remembering their names; a build can be made to fail.
#[derive(Default)]
pub struct FakeBuilder {
    images: Mutex<BTreeSet<String>>,
    builds: Mutex<Vec<String>>,
    fail_with: Mutex<Option<BuildError>>,
}

impl FakeBuilder {
    /// The images built so far, in order.
    pub fn builds(&self) -> Vec<String> {
        lock(&self.builds).clone()
    }

    /// Makes every later build fail with `error` (`None`: succeed again).
    pub fn fail_builds(&self, error: Option<BuildError>) {
        *lock(&self.fail_with) = error;
    }

    /// Forgets an image, as if removed behind the gateway's back.
    pub fn lose(&self, image: &str) {
        lock(&self.images).remove(image);
    }

    /// Whether the image exists.
    pub fn has(&self, image: &str) -> bool {
        lock(&self.images).contains(image)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl ImageBuilder for FakeBuilder {
    async fn exists(&self, image: &str) -> Result<bool, BuildError> {
        Ok(self.has(image))
    }

    async fn build(&self, ctx: &BuildContext) -> Result<(), BuildError> {
        lock(&self.builds).push(ctx.image.clone());
        if let Some(e) = lock(&self.fail_with).clone() {
            return Err(e);
        }
        lock(&self.images).insert(ctx.image.clone());
        Ok(())
    }

    async fn push(&self, _image: &str) -> Result<(), BuildError> {
        Ok(())
    }

    async fn prune(&self, repository: &str, keep: &[String]) -> Result<Vec<String>, BuildError> {
        let mut images = lock(&self.images);
        let prefix = format!("{repository}:");
        let gone: Vec<String> = images
            .iter()
            .filter(|i| i.starts_with(&prefix) && !keep.contains(i))
            .cloned()
            .collect();
        for i in &gone {
            images.remove(i);
        }
        Ok(gone)
    }
}
