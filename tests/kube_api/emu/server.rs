//! The emulated API server's HTTP side: the REST paths of the resources the executor uses,
//! list and `?watch=true` streams with resourceVersions, `pods/log`, `/version`, and errors as
//! `Status` objects. It runs its own accept loop so stopping it closes every connection, as a
//! dead API server would.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use super::cluster::{Cluster, Recorded};
use super::status::{forbidden, json_response, not_found, qualified, status};
use super::store::{Res, matches_fields, matches_labels, merge};

/// A running emulated API server.
pub struct ApiServer {
    pub addr: SocketAddr,
    pub cluster: Arc<Cluster>,
    task: JoinHandle<()>,
    reserved: Option<tokio::net::TcpSocket>,
}

impl ApiServer {
    /// Serves `cluster` on 127.0.0.1, on a free port.
    pub async fn start(cluster: Arc<Cluster>) -> ApiServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&cluster));
        let task = tokio::spawn(async move {
            // Owned here, so aborting this task drops (and closes) every connection.
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let service = hyper_util::service::TowerToHyperService::new(router.clone());
                connections.spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
                while connections.try_join_next().is_some() {}
            }
        });
        ApiServer {
            addr,
            cluster,
            task,
            reserved: None,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops answering: the listener and every open connection close, and the port stays
    /// reserved (bound, not listening) so that no other test's server can take it over and
    /// answer in its place: connections are refused, as by a dead API server.
    pub async fn stop(&mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket
            .bind(self.addr)
            .expect("the stopped server's port is free to reserve");
        self.reserved = Some(socket);
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A request's target.
struct Target {
    res: Res,
    name: Option<String>,
    log: bool,
}

fn parse(path: &str) -> Option<Target> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest = match segments.as_slice() {
        ["api", "v1", "namespaces", _, rest @ ..] => rest,
        ["apis", _, "v1", "namespaces", _, rest @ ..] => rest,
        _ => return None,
    };
    let res = Res::parse(rest.first()?)?;
    Some(Target {
        res,
        name: rest.get(1).map(|n| (*n).to_owned()),
        log: rest.get(2) == Some(&"log"),
    })
}

async fn handle(
    State(c): State<Arc<Cluster>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query: HashMap<String, String> =
        form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    c.record(Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        content_type,
        body: body_json.clone(),
    });
    if uri.path() == "/version" {
        return json_response(StatusCode::OK, version());
    }
    let Some(t) = parse(uri.path()) else {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource",
            json!({}),
        );
    };
    let watching = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    let verb = match (&method, &t.name) {
        (&Method::GET, Some(_)) => "get",
        (&Method::GET, None) if watching => "watch",
        (&Method::GET, None) => "list",
        (&Method::POST, _) => "create",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, _) => "delete",
        _ => return status(405, "MethodNotAllowed", "method not allowed", json!({})),
    };
    let resource = if t.log { "pods/log" } else { t.res.plural() };
    if c.settings()
        .forbidden
        .iter()
        .any(|(v, r)| v == verb && r == resource)
    {
        return forbidden(&c, verb, t.res, resource);
    }
    match (verb, t.name) {
        ("get", Some(name)) if t.log => pod_log(&c, &name, &query),
        ("get", Some(name)) => match c.object(t.res, &name) {
            Some(o) => json_response(StatusCode::OK, o),
            None => not_found(t.res, &name),
        },
        ("watch", _) => super::watch::stream(&c, t.res, &query),
        ("list", _) => list(&c, t.res, &query),
        ("create", _) => create(&c, t.res, body_json),
        ("patch", Some(name)) => patch(&c, t.res, &name, &body_json),
        ("delete", Some(name)) => delete(&c, t.res, &name),
        _ => status(405, "MethodNotAllowed", "method not allowed", json!({})),
    }
}

fn version() -> Value {
    json!({"major": "1", "minor": "32", "gitVersion": "v1.32.0", "gitCommit": "emulated",
        "gitTreeState": "clean", "buildDate": "2026-11-22T00:00:00Z", "goVersion": "go1.23",
        "compiler": "gc", "platform": "linux/amd64"})
}

fn list(c: &Cluster, res: Res, query: &HashMap<String, String>) -> Response {
    let (items, rv) = c.read(|s| {
        let items: Vec<Value> = s
            .list(res)
            .into_iter()
            .filter(|o| matches_labels(o, query.get("labelSelector").map(String::as_str)))
            .filter(|o| matches_fields(o, query.get("fieldSelector").map(String::as_str)))
            .collect();
        (items, s.rv())
    });
    let (api_version, kind) = res.kind();
    json_response(
        StatusCode::OK,
        json!({"apiVersion": api_version, "kind": format!("{kind}List"),
            "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
    )
}

fn create(c: &Arc<Cluster>, res: Res, object: Value) -> Response {
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let ns = c.namespace.clone();
    match c.write(|s| s.create(res, &ns, object)) {
        Some(o) => json_response(StatusCode::CREATED, o),
        None => status(
            409,
            "AlreadyExists",
            &format!("{} \"{name}\" already exists", qualified(res)),
            json!({"name": name, "group": res.group(), "kind": res.plural()}),
        ),
    }
}

fn patch(c: &Arc<Cluster>, res: Res, name: &str, body: &Value) -> Response {
    let result = c.write(|s| {
        let mut current = s.get(res, name)?.clone();
        // A resourceVersion in the patch is a precondition.
        let wanted = body["metadata"]["resourceVersion"].as_str();
        if wanted.is_some_and(|w| Some(w) != current["metadata"]["resourceVersion"].as_str()) {
            return Some(Err(()));
        }
        merge(&mut current, body);
        Some(Ok(s.update(res, current)))
    });
    match result {
        Some(Ok(o)) => json_response(StatusCode::OK, o),
        Some(Err(())) => status(
            409,
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                qualified(res)
            ),
            json!({"name": name, "group": res.group(), "kind": res.plural()}),
        ),
        None => not_found(res, name),
    }
}

fn delete(c: &Arc<Cluster>, res: Res, name: &str) -> Response {
    // Pods of a deleted Job or Deployment go with it (the garbage collector runs on every
    // write), whatever the propagation policy.
    match c.write(|s| s.delete(res, name)) {
        Some(o) => json_response(StatusCode::OK, o),
        None => not_found(res, name),
    }
}

fn pod_log(c: &Cluster, name: &str, query: &HashMap<String, String>) -> Response {
    let Some(pod) = c.object(Res::Pods, name) else {
        return not_found(Res::Pods, name);
    };
    let previous = query.get("previous").is_some_and(|p| p == "true");
    let cs = &pod["status"]["containerStatuses"][0];
    let container = cs["name"].as_str().unwrap_or("fn");
    let waiting = cs["state"].get("waiting").is_some();
    let restarted = cs["restartCount"].as_i64().unwrap_or(0) > 0;
    if previous && !restarted {
        let msg =
            format!("previous terminated container \"{container}\" in pod \"{name}\" not found");
        return status(400, "BadRequest", &msg, json!({}));
    }
    if !previous && waiting {
        let reason = cs["state"]["waiting"]["reason"]
            .as_str()
            .unwrap_or("ContainerCreating");
        let msg =
            format!("container \"{container}\" in pod \"{name}\" is waiting to start: {reason}");
        return status(400, "BadRequest", &msg, json!({}));
    }
    let logs = c.logs(name).unwrap_or_default();
    let lines = if previous {
        logs.previous
    } else {
        logs.current
    };
    let tail = query
        .get("tailLines")
        .and_then(|t| t.parse().ok())
        .unwrap_or(usize::MAX);
    let timestamps = query.get("timestamps").is_some_and(|t| t == "true");
    let text: String = lines[lines.len().saturating_sub(tail)..]
        .iter()
        .map(|(ts, l)| {
            if timestamps {
                format!("{ts} {l}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    (StatusCode::OK, [("content-type", "text/plain")], text).into_response()
}

/// How long a watch lasts when the client names no `timeoutSeconds`.
pub const DEFAULT_WATCH: Duration = Duration::from_secs(1800);

/// Streamed bodies.
pub fn streaming(body: Body) -> Response {
    (StatusCode::OK, [("content-type", "application/json")], body).into_response()
}
