//! One stand-in instance: an HTTP server in this process that speaks the runtime protocol
//! (`/_/health` naming itself, every other request answered by the "function"), with a
//! function whose behaviour the request path picks:
//! - `/exit/<code>`: the process dies with that exit code, dropping the connection;
//! - `/oom`: it is killed for its memory (exit 137), dropping the connection;
//! - `/sleep/<ms>`: it answers after that long;
//! - `/raise`: an unhandled exception (500 with `X-Faas-Error: FUNCTION_ERROR`);
//! - `/status/<code>`: the function's own answer with that status;
//! - `/env/<NAME>`: the value of an environment variable the instance got;
//! - anything else: a JSON echo of the request (method, path, query, headers, body).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::executor::{Exit, LogLine, LogStream};

/// How a stand-in instance ends when its function makes it die.
pub(super) type OnDeath = Arc<dyn Fn(&str, Exit) + Send + Sync>;

/// What the server shares with its handlers.
pub(super) struct Shared {
    pub id: String,
    /// Health answers 200 from this moment on (`None`: never).
    pub healthy_from: Option<tokio::time::Instant>,
    pub logs: Mutex<Vec<LogLine>>,
    pub on_death: OnDeath,
    /// The environment it was started with.
    pub env: std::collections::BTreeMap<String, String>,
    /// Frozen: it answers nothing until thawed.
    pub paused: std::sync::atomic::AtomicBool,
}

impl Shared {
    /// Waits while the instance is frozen, as a paused process would.
    async fn thawed(&self) {
        while self.paused.load(std::sync::atomic::Ordering::Acquire) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

impl Shared {
    pub fn log(&self, line: String) {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        logs.push(LogLine {
            instance: self.id.clone(),
            stream: LogStream::Stdout,
            ts: Utc::now(),
            line,
        });
    }
}

/// A running stand-in server.
pub(super) struct Server {
    pub endpoint: SocketAddr,
    pub task: JoinHandle<()>,
}

/// Serves `shared` on a free port of 127.0.0.1.
pub(super) async fn serve(shared: Arc<Shared>) -> std::io::Result<Server> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = listener.local_addr()?;
    let app = Router::new()
        .route("/_/health", get(health))
        .fallback(function)
        .with_state(shared);
    // Its own accept loop owning every connection: stopping the server (a death) drops them
    // all, as a dead process's connections drop.
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper_util::service::TowerToHyperService::new(app.clone());
            connections.spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
            while connections.try_join_next().is_some() {}
        }
    });
    Ok(Server { endpoint, task })
}

async fn health(State(s): State<Arc<Shared>>) -> Response {
    s.thawed().await;
    let ready = s
        .healthy_from
        .is_some_and(|t| tokio::time::Instant::now() >= t);
    if !ready {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    (StatusCode::OK, [("x-faas-instance", s.id.clone())], "ok").into_response()
}

async fn function(State(s): State<Arc<Shared>>, req: Request) -> Response {
    s.thawed().await;
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    s.log(format!("{} {path}", parts.method));
    let mut words = path.trim_start_matches('/').split('/');
    match (words.next(), words.next()) {
        (Some("exit"), Some(code)) => {
            die(&s, Exit::for_good(code.parse().unwrap_or(1), false)).await
        }
        (Some("oom"), _) => die(&s, Exit::for_good(137, true)).await,
        (Some("sleep"), Some(ms)) => {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
            "slept".into_response()
        }
        (Some("status"), Some(code)) => {
            let status = code
                .parse()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::OK);
            (status, "as the function chose").into_response()
        }
        (Some("env"), Some(name)) => s.env.get(name).cloned().unwrap_or_default().into_response(),
        (Some("raise"), _) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [("x-faas-error", "FUNCTION_ERROR")],
            axum::Json(
                json!({"error": {"code": "FUNCTION_ERROR", "message": "ValueError: raised"}}),
            ),
        )
            .into_response(),
        _ => echo(&s.id, &parts.method, &parts.uri, &parts.headers, &body),
    }
}

/// The process dies: the death is recorded (which stops the server) and the connection of
/// the call that caused it drops without an answer.
async fn die(s: &Arc<Shared>, exit: Exit) -> Response {
    s.log(format!("exiting with code {}", exit.exit_code));
    (s.on_death)(&s.id, exit);
    std::future::pending::<Response>().await
}

fn echo(
    id: &str,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let headers: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(k, v)| {
            let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (k.as_str().to_owned(), v.into())
        })
        .collect();
    axum::Json(json!({
        "instance": id,
        "method": method.as_str(),
        "path": uri.path(),
        "query": uri.query().unwrap_or(""),
        "headers": headers,
        "body": String::from_utf8_lossy(body),
    }))
    .into_response()
}
