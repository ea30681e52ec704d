//! What every test needs: an emulated cluster with its API server, a stand-in for the pods'
//! HTTP servers, an executor connected over real HTTP, bounded polling.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
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
    /// The port every pod's stand-in runtime answers on, at the pod's own IP.
    pub pod_port: u16,
}

impl Env {
    /// A cluster whose Deployment pods follow `service` and Job pods `job`. A pod's runtime
    /// answers HTTP at its IP while its container runs, as on a cluster.
    pub async fn start(service: ServiceScenario, job: JobScenario) -> Env {
        let cluster = Cluster::new(NAMESPACE);
        {
            let mut s = cluster.settings();
            s.service = service;
            s.job = job;
        }
        let pod_port = pod_network(Arc::clone(&cluster)).await.port();
        let api = ApiServer::start(cluster).await;
        let executor = Arc::new(connect(&api, pod_port, GATEWAY));
        Env {
            api,
            executor,
            pod_port,
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

/// A kube client talking to `api` over HTTP, as in production but without TLS.
pub fn client(api: &ApiServer) -> kube::Client {
    let config = kube::Config::new(api.url().parse().expect("a URL"));
    kube::Client::try_from(config).expect("a client")
}

/// An executor talking to `api`.
pub fn connect(api: &ApiServer, pod_port: u16, gateway: &str) -> KubeExecutor {
    KubeExecutor::new(client(api), NAMESPACE, gateway)
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
        namespace: "default".into(),
    }
}

/// The pods' runtimes: one server on every loopback address, answering for the pod whose IP
/// was dialled while its container runs (`/_/health` names the pod, as the runtime names its
/// host), refusing otherwise; anything else is echoed.
async fn pod_network(cluster: Arc<Cluster>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new()
        .route("/_/health", get(health))
        .fallback(echo)
        .with_state(cluster);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// The pod the request was sent to, if its container runs.
fn dialled(cluster: &Cluster, headers: &axum::http::HeaderMap) -> Option<String> {
    let host = headers.get("host")?.to_str().ok()?;
    let ip = host.rsplit_once(':').map_or(host, |(ip, _)| ip);
    cluster.running_pod_at(ip)
}

async fn health(
    State(cluster): State<Arc<Cluster>>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match dialled(&cluster, &headers) {
        Some(pod) => ([("x-faas-instance", pod)], "ok").into_response(),
        None => axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

async fn echo(State(cluster): State<Arc<Cluster>>, req: Request) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Some(pod) = dialled(&cluster, req.headers()) else {
        return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    axum::Json(json!({"method": req.method().as_str(), "path": req.uri().path(), "pod": pod}))
        .into_response()
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

/// The labels SPEC 5 and 10 put on everything of `spec(callback)` for `role`.
pub fn labels(callback: &str, role: &str) -> Value {
    json!({"faas.managed-by": "faas-gateway", "faas.gateway": GATEWAY,
        "faas.callback": callback, "faas.revision": "1", "faas.role": role,
        "faas.namespace": "default"})
}
