//! Application state, built once; `App::build_with` lets tests inject another executor.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::api::auth::Tokens;
use crate::builder::docker::DockerBuilder;
use crate::builder::{ImageBuilder, ImageConfig, Images};
use crate::config::Config;
use crate::deployer::Deployer;
use crate::executor::docker::{DockerConn, DockerExecutor, DockerSettings};
use crate::executor::kubernetes::KubeExecutor;
use crate::executor::{Backends, Executor};
use crate::invocations::{AsyncConfig, Invocations};
use crate::invoker::{Invoker, http_client};
use crate::metrics::Metrics;
use crate::model::Backend;
use crate::model::SpecDefaults;
use crate::pool::registry::Registry;
use crate::pool::{PoolDeps, PoolEvent, PoolLimits, scaler, supervisor};
use crate::store::Store;

/// Limits the API enforces itself.
#[derive(Debug, Clone, Copy)]
pub struct ApiLimits {
    pub max_code_bytes: usize,
}

/// Shared state of every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub invocations: Arc<Invocations>,
    pub metrics: Arc<Metrics>,
    /// The routes, for gauges read at scrape time.
    pub registry: Arc<Registry>,
    pub store: Store,
    pub deployer: Arc<Deployer>,
    pub invoker: Arc<Invoker>,
    pub backends: Backends,
    pub limits: ApiLimits,
    config: Arc<Config>,
    tokens: Arc<Tokens>,
}

impl AppState {
    /// The bearer tokens in force.
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// Defaults for deploy bodies.
    pub fn spec_defaults(&self) -> SpecDefaults {
        SpecDefaults {
            backend: self.config.backend,
            mode: self.config.mode,
            max_code_bytes: self.config.max_code_bytes,
        }
    }
}

/// A built gateway, bound to its port, not yet serving.
pub struct App {
    listener: TcpListener,
    state: AppState,
    registry: Arc<Registry>,
    pool_events: mpsc::UnboundedReceiver<PoolEvent>,
    shutdown_grace: Duration,
}

/// Errors while building the app.
#[derive(Debug, thiserror::Error)]
pub enum BuildAppError {
    #[error("cannot open the database: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot set up Docker: {0}")]
    Docker(#[from] crate::executor::ExecutorError),
    #[error("cannot set up Kubernetes: {0}")]
    Kubernetes(crate::executor::ExecutorError),
    #[error("the Docker backend is required (images are built with it)")]
    NoBackend,
}

/// The Kubernetes executor: required with `kubernetes = true`, else used when a cluster is
/// configured (`KUBECONFIG`, in-cluster) and answers.
async fn kubernetes(config: &Config) -> Result<Option<Arc<dyn Executor>>, BuildAppError> {
    let configured = std::env::var_os("KUBECONFIG").is_some()
        || std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
    let wanted = config
        .kubernetes
        .unwrap_or(configured || config.backend == Backend::Kubernetes);
    if !wanted {
        return Ok(None);
    }
    match KubeExecutor::from_env(&config.kube_namespace, &config.gateway_id).await {
        Ok(kube) => Ok(Some(Arc::new(
            kube.with_start_timeout(config.startup_timeout),
        ))),
        Err(e) if config.kubernetes == Some(true) => Err(BuildAppError::Kubernetes(e)),
        Err(e) => {
            tracing::warn!(error = %e, "Kubernetes is configured but unusable; serving Docker only");
            Ok(None)
        }
    }
}

impl App {
    /// Builds the gateway on Docker, and on Kubernetes when a cluster is configured (in-cluster
    /// or through `KUBECONFIG`).
    pub async fn build(config: Config) -> Result<App, BuildAppError> {
        let conn = DockerConn::connect(config.docker_host.as_deref());
        let executor = Arc::new(DockerExecutor::new(
            conn.clone(),
            DockerSettings {
                network: config.network.clone(),
                address: config.instance_address,
                gateway_id: config.gateway_id.clone(),
            },
        ));
        let builder = Arc::new(DockerBuilder::new(conn));
        let kubernetes = kubernetes(&config).await?;
        let backends = Backends::new(executor, kubernetes);
        Self::build_with(config, backends, builder).await
    }

    /// Builds the gateway on the given backend parts.
    pub async fn build_with(
        config: Config,
        backends: Backends,
        builder: Arc<dyn ImageBuilder>,
    ) -> Result<App, BuildAppError> {
        let executor = Arc::clone(
            backends
                .get(Backend::Docker)
                .ok_or(BuildAppError::NoBackend)?,
        );
        let store = Store::open(&config.db)?;
        let registry = Arc::new(Registry::default());
        let client = http_client();
        let metrics = Arc::new(Metrics::default());
        let images = Images::new(
            builder,
            ImageConfig {
                python_base_image: config.python_base_image.clone(),
                node_base_image: config.node_base_image.clone(),
                repository: config.registry.clone().unwrap_or_else(|| "faas-fn".into()),
                push: config.registry.is_some(),
            },
            Arc::clone(&metrics),
        );
        let (events, pool_events) = mpsc::unbounded_channel();
        let pool_deps = PoolDeps {
            executor: Arc::clone(&executor),
            client: client.clone(),
            limits: PoolLimits {
                queue_len: config.queue_len,
                startup_timeout: config.startup_timeout,
            },
            images,
            events,
            metrics: Arc::clone(&metrics),
        };
        let deployer = Deployer::new(
            store.clone(),
            Arc::clone(&registry),
            backends.clone(),
            pool_deps,
        );
        let invoker = Arc::new(Invoker::new(
            Arc::clone(&registry),
            client,
            config.max_body_bytes,
            config.queue_len,
        ));
        let invocations = Invocations::new(
            store.clone(),
            Arc::clone(&invoker),
            AsyncConfig {
                workers: config.async_workers,
                retention: config.invocation_retention,
                max_body_bytes: config.max_body_bytes,
            },
        );
        let shutdown_grace = config.shutdown_grace;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| BuildAppError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let state = AppState {
            invocations,
            metrics,
            registry: Arc::clone(&registry),
            store,
            deployer,
            invoker,
            backends,
            limits: ApiLimits {
                max_code_bytes: config.max_code_bytes,
            },
            tokens: Arc::new(Tokens {
                admin: config.admin_token.clone(),
                invoke: config.invoke_token.clone(),
            }),
            config: Arc::new(config),
        };
        Ok(App {
            listener,
            state,
            registry,
            pool_events,
            shutdown_grace,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Re-adopts instances, starts the scaler and serves until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) -> std::io::Result<()> {
        if let Err(e) = self.state.deployer.reconcile().await {
            // The backend may be down: serve anyway; calls report it, /ready shows it.
            tracing::warn!(error = %e, "cannot reconcile instances at start");
        }
        let scaler = tokio::spawn(scaler::run(
            Arc::clone(&self.registry),
            Duration::from_secs(1),
            shutdown.clone(),
        ));
        let mut supervisors = tokio::task::JoinSet::new();
        for (_, executor) in self.state.backends.all() {
            supervisors.spawn(supervisor::run(
                executor,
                Arc::clone(&self.registry),
                shutdown.clone(),
            ));
        }
        let workers = tokio::spawn(Arc::clone(&self.state.invocations).run(shutdown.clone()));
        let deployer = Arc::clone(&self.state.deployer);
        let recorder =
            tokio::spawn(async move { deployer.record_pool_events(self.pool_events).await });
        let router = crate::api::router(self.state);
        let served = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await;
        shutdown.cancel();
        // Running async invocations may finish within the grace; what does not stays
        // `running` in SQLite and runs again after the next start.
        let grace = self.shutdown_grace;
        if tokio::time::timeout(grace, workers).await.is_err() {
            tracing::warn!(
                grace_s = grace.as_secs(),
                "async invocations still running at shutdown"
            );
        }
        let _ = scaler.await;
        supervisors.join_all().await;
        recorder.abort();
        served
    }
}
