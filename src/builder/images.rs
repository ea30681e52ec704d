//! Function images of callbacks: which base they build on, their names, building or reusing
//! them, rebuilding a lost one from its stored definition, pruning old ones.

use std::sync::Arc;

use super::context::runs_npm;
use super::{BuildContext, BuildError, ImageBuilder, build_context};
use crate::metrics::Metrics;
use crate::model::{CallbackSpec, Runtime};

/// Where function images come from and what they are called.
#[derive(Debug, Clone)]
pub struct ImageConfig {
    pub python_base_image: String,
    pub node_base_image: String,
    /// Base of Node images whose `package.json` declares dependencies: it has npm.
    pub node_deps_base_image: String,
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

    /// The base image `spec` builds on: Node functions that install dependencies need npm.
    fn base_of(&self, spec: &CallbackSpec) -> &str {
        match spec.runtime {
            Runtime::Python => &self.config.python_base_image,
            Runtime::Node if runs_npm(spec) => &self.config.node_deps_base_image,
            Runtime::Node => &self.config.node_base_image,
        }
    }

    fn context(&self, spec: &CallbackSpec) -> BuildContext {
        build_context(spec, self.base_of(spec), &self.config.repository)
    }

    /// A dedicated npm base image is usually built on demand, minutes after the first start
    /// (`docker/base-images.sh --runtime node-deps`): while it is missing, say so and what to
    /// do, rather than letting Docker try to pull a name that exists nowhere else.
    async fn check_base(&self, ctx: &BuildContext) -> Result<(), BuildError> {
        let npm_base = &self.config.node_deps_base_image;
        if ctx.base_image != *npm_base
            || *npm_base == self.config.node_base_image
            || self.builder.exists(npm_base).await?
        {
            return Ok(());
        }
        let reason = format!(
            "package.json declares dependencies, so the image builds on {npm_base} (the Node \
             base image with npm, FAAS_NODE_DEPS_BASE_IMAGE), and that image is not there yet. \
             If ./start.sh is building it in the background, wait until it is done; otherwise \
             build it with `docker/base-images.sh --runtime node-deps` (a few minutes), or set \
             FAAS_NODE_DEPS_BASE_IMAGE to a Node image that has npm. Then deploy again"
        );
        Err(BuildError::Failed {
            log: reason.clone(),
            reason,
        })
    }

    /// The image of `spec`, built unless an image of identical content exists.
    pub async fn ensure(&self, spec: &CallbackSpec) -> Result<String, BuildError> {
        let ctx = self.context(spec);
        if !self.builder.exists(&ctx.image).await? {
            self.check_base(&ctx).await?;
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
        self.check_base(&ctx).await?;
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

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::model::{Backend, Files, Mode};

    /// A builder whose images are names in a set; a build adds its image.
    #[derive(Default)]
    struct FakeBuilder {
        images: Mutex<HashSet<String>>,
        /// `(image, base image)` of every build, in order.
        builds: Mutex<Vec<(String, String)>>,
    }

    #[async_trait]
    impl ImageBuilder for FakeBuilder {
        async fn exists(&self, image: &str) -> Result<bool, BuildError> {
            Ok(self.images.lock().expect("lock").contains(image))
        }
        async fn build(&self, ctx: &BuildContext) -> Result<(), BuildError> {
            self.images.lock().expect("lock").insert(ctx.image.clone());
            let build = (ctx.image.clone(), ctx.base_image.clone());
            self.builds.lock().expect("lock").push(build);
            Ok(())
        }
        async fn push(&self, _image: &str) -> Result<(), BuildError> {
            Ok(())
        }
        async fn prune(&self, _repo: &str, _keep: &[String]) -> Result<Vec<String>, BuildError> {
            Ok(Vec::new())
        }
    }

    fn images(npm_base: &str, present: &[&str]) -> (Images, Arc<FakeBuilder>) {
        let builder = Arc::new(FakeBuilder::default());
        builder
            .images
            .lock()
            .expect("lock")
            .extend(present.iter().map(|s| (*s).to_owned()));
        let config = ImageConfig {
            python_base_image: "py-base".into(),
            node_base_image: "node-base".into(),
            node_deps_base_image: npm_base.into(),
            repository: "faas-fn".into(),
            push: false,
        };
        let dyn_builder: Arc<dyn ImageBuilder> = builder.clone();
        let images = Images::new(dyn_builder, config, Arc::new(Metrics::default()));
        (images, builder)
    }

    fn spec(path: &str, runtime: Runtime, files: &[(&str, &str)]) -> CallbackSpec {
        CallbackSpec {
            path: path.into(),
            runtime,
            files: files
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect::<Files>(),
            handler: "handler.handle".into(),
            backend: Backend::Docker,
            mode: Mode::Service,
            env: BTreeMap::new(),
            memory_mb: 128,
            cpu: 1.0,
            timeout_ms: 1000,
            concurrency: 8,
            min_instances: 0,
            max_instances: 1,
            idle_timeout_s: 60,
            keep_paused_s: 600,
            namespace: "default".into(),
        }
    }

    const WITH_DEPS: &str = r#"{"dependencies": {"left-pad": "1.3.0"}}"#;

    fn bases(builder: &FakeBuilder) -> Vec<String> {
        let builds = builder.builds.lock().expect("lock");
        builds.iter().map(|(_, base)| base.clone()).collect()
    }

    #[tokio::test]
    async fn only_node_functions_with_dependencies_build_on_the_npm_base() {
        let (images, builder) = images("npm-base", &["npm-base"]);
        let deps = spec("a", Runtime::Node, &[("package.json", WITH_DEPS)]);
        let plain = spec("b", Runtime::Node, &[("package.json", "{}")]);
        let python = spec("c", Runtime::Python, &[("requirements.txt", "six\n")]);
        for s in [&deps, &plain, &python] {
            images.ensure(s).await.expect("built");
        }
        assert_eq!(bases(&builder), ["npm-base", "node-base", "py-base"]);
    }

    #[tokio::test]
    async fn a_missing_npm_base_fails_with_what_to_do_and_builds_nothing() {
        let (images, builder) = images("faas-local/node-deps-base:bookworm-0123456789ab", &[]);
        let deps = spec("a", Runtime::Node, &[("package.json", WITH_DEPS)]);
        let Err(BuildError::Failed { reason, log }) = images.ensure(&deps).await else {
            panic!("the build must fail while the npm base is missing");
        };
        for needed in [
            "faas-local/node-deps-base:bookworm-0123456789ab",
            "docker/base-images.sh --runtime node-deps",
            "FAAS_NODE_DEPS_BASE_IMAGE",
            "deploy again",
        ] {
            assert!(reason.contains(needed), "{needed:?} missing from: {reason}");
        }
        assert_eq!(log, reason);
        assert!(builder.builds.lock().expect("lock").is_empty());
        // Functions without dependencies do not need it.
        let plain = spec("b", Runtime::Node, &[("handler.js", "X")]);
        images.ensure(&plain).await.expect("built");
        assert_eq!(bases(&builder), ["node-base"]);
    }

    #[tokio::test]
    async fn a_rebuild_of_a_lost_image_checks_the_npm_base_too() {
        let (images, builder) = images("npm-base", &[]);
        let deps = spec("a", Runtime::Node, &[("package.json", WITH_DEPS)]);
        let rebuilt = images.rebuild(&deps, "faas-fn/a:0123456789ab").await;
        assert!(matches!(rebuilt, Err(BuildError::Failed { .. })));
        builder
            .images
            .lock()
            .expect("lock")
            .insert("npm-base".into());
        images
            .rebuild(&deps, "faas-fn/a:0123456789ab")
            .await
            .expect("rebuilt");
        let builds = builder.builds.lock().expect("lock").clone();
        assert_eq!(
            builds,
            [("faas-fn/a:0123456789ab".to_owned(), "npm-base".to_owned())]
        );
    }

    #[tokio::test]
    async fn with_the_node_base_as_npm_base_nothing_is_checked_before_the_build() {
        // The default: the official node image has npm, and Docker pulls it when needed.
        let (images, builder) = images("node-base", &[]);
        let deps = spec("a", Runtime::Node, &[("package.json", WITH_DEPS)]);
        images.ensure(&deps).await.expect("built");
        assert_eq!(bases(&builder), ["node-base"]);
    }
}
