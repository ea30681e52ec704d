//! The gateway, built once from its configuration: the services wired together, the listener
//! bound; `run` serves until shutdown, then drains every task it started within the grace.
//! `App::build_with` takes the outside world (backends, image builder) as parts, so tests can
//! put in-memory ones in.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::auth::Tokens;
use crate::api::state::{ApiLimits, AppState, Services};
use crate::builder::docker::DockerBuilder;
use crate::builder::{ImageBuilder, ImageConfig, Images};
use crate::config::Config;
use crate::daemon::DockerConn;
use crate::deployer::{Deployer, DeployerParts};
use crate::executor::docker::{DockerExecutor, DockerSettings};
use crate::executor::kubernetes::KubeExecutor;
use crate::executor::{Backends, Executor};
use crate::invocations::{AsyncConfig, Invocations};
use crate::launcher::{Launcher, LauncherParts, Limits, RuntimeEvent};
use crate::metrics::Metrics;
use crate::model::{Backend, SpecDefaults};
use crate::namespaces::Namespaces;
use crate::proxy::Proxy;
use crate::queries::Queries;
use crate::routes::RouteTable;
use crate::store::Store;
use crate::upstream::{HttpProbe, http_client};

/// A built gateway, bound to its port, not yet serving.
pub struct App {
    listener: TcpListener,
    state: AppState,
    runtime_events: mpsc::UnboundedReceiver<RuntimeEvent>,
    tasks: TaskTracker,
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
async fn kubernetes(
    config: &Config,
    tasks: &TaskTracker,
) -> Result<Option<Arc<dyn Executor>>, BuildAppError> {
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
            kube.with_start_timeout(config.startup_timeout)
                .with_cpu_request(config.kube_cpu_request)
                .with_tasks(tasks.clone()),
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
        let tasks = TaskTracker::new();
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
        let kubernetes = kubernetes(&config, &tasks).await?;
        let backends = Backends::new(executor, kubernetes);
        Self::assemble(config, backends, builder, tasks).await
    }

    /// Builds the gateway on the given backends and image builder.
    pub async fn build_with(
        config: Config,
        backends: Backends,
        builder: Arc<dyn ImageBuilder>,
    ) -> Result<App, BuildAppError> {
        Self::assemble(config, backends, builder, TaskTracker::new()).await
    }

    async fn assemble(
        config: Config,
        backends: Backends,
        builder: Arc<dyn ImageBuilder>,
        tasks: TaskTracker,
    ) -> Result<App, BuildAppError> {
        let docker = Arc::clone(
            backends
                .get(Backend::Docker)
                .ok_or(BuildAppError::NoBackend)?,
        );
        let store = Store::open(&config.db)?;
        let namespaces = Namespaces::load(store.clone()).await?;
        let routes = Arc::new(RouteTable::default());
        let client = http_client();
        let metrics = Arc::new(Metrics::default());
        let images = Images::new(builder, image_config(&config), Arc::clone(&metrics));
        let (events, runtime_events) = mpsc::unbounded_channel();
        let launcher = Launcher::new(LauncherParts {
            executor: docker,
            probe: Arc::new(HttpProbe::new(client.clone())),
            images: images.clone(),
            limits: Limits {
                queue_len: config.queue_len,
                startup_timeout: config.startup_timeout,
            },
            events,
            metrics: Arc::clone(&metrics),
            tasks: tasks.clone(),
            quota: Arc::clone(&namespaces) as Arc<dyn crate::launcher::InstanceQuota>,
        });
        let deployer = Deployer::new(DeployerParts {
            store: store.clone(),
            routes: Arc::clone(&routes),
            backends: backends.clone(),
            images,
            launcher,
            namespaces: Arc::clone(&namespaces),
            tasks: tasks.clone(),
        });
        let proxy = Arc::new(Proxy::new(
            Arc::clone(&routes),
            client,
            config.max_body_bytes,
            config.queue_len,
        ));
        let invocations = Invocations::new(
            store.clone(),
            Arc::clone(&proxy),
            AsyncConfig {
                deny: crate::invocations::CallbackDeny::new(config.callback_deny.clone()),
                workers: config.async_workers,
                retention: config.invocation_retention,
                max_body_bytes: config.max_body_bytes,
            },
            tasks.clone(),
        );
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| BuildAppError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let state = AppState::from(Services {
            invocations,
            metrics,
            routes: Arc::clone(&routes),
            queries: Arc::new(Queries::new(
                store.clone(),
                Arc::clone(&routes),
                backends.clone(),
            )),
            store,
            deployer,
            proxy,
            backends,
            limits: ApiLimits {
                max_code_bytes: config.max_code_bytes,
            },
            defaults: SpecDefaults {
                backend: config.backend,
                mode: config.mode,
                max_code_bytes: config.max_code_bytes,
            },
            tokens: Arc::new(Tokens {
                admin: config.admin_token.clone(),
                invoke: config.invoke_token.clone(),
            }),
            namespaces,
        });
        Ok(App {
            listener,
            state,
            runtime_events,
            tasks,
            shutdown_grace: config.shutdown_grace,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Re-adopts instances, starts the background loops and serves until `shutdown` is
    /// cancelled; then calls in flight and every task get the shutdown grace to finish.
    /// Async invocations that do not finish stay `running` in SQLite and run again after the
    /// next start; instances stay for the next start to adopt.
    pub async fn run(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let App {
            listener,
            state,
            runtime_events,
            tasks,
            shutdown_grace,
        } = self;
        if let Err(e) = state.deployer.reconcile().await {
            // The backend may be down: serve anyway; calls report it, /ready shows it.
            tracing::warn!(error = %e, "cannot reconcile instances at start");
        }
        tasks.spawn(crate::supervise::scale(
            Arc::clone(&state.routes),
            Duration::from_secs(1),
            shutdown.clone(),
        ));
        for (_, executor) in state.backends.all() {
            tasks.spawn(crate::supervise::run(
                executor,
                Arc::clone(&state.routes),
                shutdown.clone(),
            ));
        }
        tasks.spawn(Arc::clone(&state.invocations).run(shutdown.clone()));
        let deployer = Arc::clone(&state.deployer);
        let recording = shutdown.clone();
        tasks.spawn(async move {
            deployer
                .record_runtime_events(runtime_events, recording)
                .await;
        });
        let router = crate::api::router(state);
        // No Nagle delay: a streamed response goes out as its head, then its body.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY not set");
            }
        });
        let serve = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
        // One grace from the moment shutdown begins, for calls in flight and tasks alike.
        let stopping_since = std::sync::OnceLock::new();
        let grace_over = async {
            shutdown.cancelled().await;
            let _ = stopping_since.set(tokio::time::Instant::now());
            tokio::time::sleep(shutdown_grace).await;
        };
        let served = tokio::select! {
            served = serve => served,
            () = grace_over => {
                tracing::warn!(grace_s = shutdown_grace.as_secs(), "shutdown grace expired with calls in flight");
                Ok(())
            }
        };
        shutdown.cancel();
        tasks.close();
        let since = stopping_since
            .get()
            .copied()
            .unwrap_or_else(tokio::time::Instant::now);
        if tokio::time::timeout_at(since + shutdown_grace, tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                grace_s = shutdown_grace.as_secs(),
                tasks = tasks.len(),
                "background work still running at shutdown"
            );
        }
        served
    }
}

fn image_config(config: &Config) -> ImageConfig {
    ImageConfig {
        python_base_image: config.python_base_image.clone(),
        node_base_image: config.node_base_image.clone(),
        node_deps_base_image: config.node_deps_base_image.clone(),
        repository: config.registry.clone().unwrap_or_else(|| "faas-fn".into()),
        push: config.registry.is_some(),
    }
}
