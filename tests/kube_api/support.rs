//! What every test needs: an emulated cluster with its API server, a stand-in for the pods'
//! HTTP servers, an executor connected over real HTTP, bounded polling.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::routing::get;
use faas_gateway::executor::InstanceSpec;
use faas_gateway::executor::kubernetes::KubeExecutor;
use serde_json::{Value, json};

use crate::emu::{ApiServer, Cluster, JobScenario, Res, ServiceScenario};

pub const NAMESPACE: &str = "faas-test";
pub const GATEWAY: &str = "gw-test";

/// A test's world.
pub struct Env {
    pub api: ApiServer,
    pub executor: Arc<KubeExecutor>,
    /// Where the pods' stand-in HTTP server listens (on the pod IP, 127.0.0.1).
    pub pod_port: u16,
    /// Holds the pod port when nothing may answer on it.
    _reserved: Option<tokio::net::TcpSocket>,
}

impl Env {
    /// A cluster whose Deployment pods follow `service` and Job pods `job`. Pods that become
    /// ready answer HTTP; pods that fail have nothing listening, as on a cluster.
    pub async fn start(service: ServiceScenario, job: JobScenario) -> Env {
        let cluster = Cluster::new(NAMESPACE);
        {
            let mut s = cluster.settings();
            s.service = service;
            s.job = job;
        }
        let api = ApiServer::start(cluster).await;
        let (pod_port, reserved) = match service {
            ServiceScenario::Ready => (function_server().await.port(), None),
            _ => {
                let (port, socket) = closed_port();
                (port, Some(socket))
            }
        };
        let executor = Arc::new(connect(&api, pod_port, GATEWAY));
        Env {
            api,
            executor,
            pod_port,
            _reserved: reserved,
        }
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.api.cluster
    }

    /// Another executor (a restarted gateway) on the same cluster.
    pub fn restarted_executor(&self) -> KubeExecutor {
        connect(&self.api, self.pod_port, GATEWAY)
    }

    /// The requests received so far with `method` on paths containing `path`.
    pub fn requests(&self, method: &str, path: &str) -> Vec<crate::emu::cluster::Recorded> {
        self.cluster()
            .requests()
            .into_iter()
            .filter(|r| r.method == method && r.path.contains(path))
            .collect()
    }

    /// The replicas a Deployment asks for.
    pub fn replicas(&self, deployment: &str) -> Option<i64> {
        let d = self.cluster().object(Res::Deployments, deployment)?;
        d["spec"]["replicas"].as_i64()
    }

    /// Names of the pods that exist.
    pub fn pod_names(&self) -> Vec<String> {
        self.cluster()
            .objects(Res::Pods)
            .iter()
            .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_owned))
            .collect()
    }
}

/// An executor talking to `api` over HTTP, as in production but without TLS.
pub fn connect(api: &ApiServer, pod_port: u16, gateway: &str) -> KubeExecutor {
    let config = kube::Config::new(api.url().parse().expect("a URL"));
    let client = kube::Client::try_from(config).expect("a client");
    KubeExecutor::new(client, NAMESPACE, gateway)
        .with_pod_port(pod_port)
        .with_start_timeout(Duration::from_secs(30))
}

/// A revision of a callback.
pub fn spec(callback: &str) -> InstanceSpec {
    InstanceSpec {
        callback: callback.into(),
        revision: 1,
        image: format!("local.test/faas-fn/{callback}:1"),
        env: BTreeMap::from([
            ("FAAS_HANDLER".into(), "handler.handle".into()),
            ("GREETING".into(), "hi".into()),
        ]),
        memory_mb: 64,
        cpu: 0.25,
    }
}

/// The stand-in for a ready pod's runtime: `/_/health` answers 200, anything else is echoed.
async fn function_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new()
        .route("/_/health", get(|| async { "ok" }))
        .fallback(|req: Request| async move {
            axum::Json(json!({"method": req.method().as_str(), "path": req.uri().path()}))
        });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// A port that refuses connections, as a dead pod's does: bound (so no other test takes it)
/// but never listening.
fn closed_port() -> (u16, tokio::net::TcpSocket) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind("127.0.0.1:0".parse().expect("an address"))
        .expect("bind");
    let port = socket.local_addr().expect("addr").port();
    (port, socket)
}

/// Polls `f` until it gives a value; fails the test, naming `what`, after 10 s.
pub async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Bounds a future that must finish (a hang fails the test instead of blocking the run).
pub async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish"))
}

/// The labels SPEC 5 puts on everything of `spec(callback)` for `role`.
pub fn labels(callback: &str, role: &str) -> Value {
    json!({"faas.managed-by": "faas-gateway", "faas.gateway": GATEWAY,
        "faas.callback": callback, "faas.revision": "1", "faas.role": role})
}
