//! The Docker daemon going away and coming back: the gateway is reached through a socket
//! relay of the test's own that can be cut and restored.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

use crate::helpers::{
    TestApp, assert_error, docker_available, docker_required, parse, python, unique, with,
};

const DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// A relay from a socket of ours to the daemon's; dropping it cuts every connection.
struct Relay {
    task: JoinHandle<()>,
}

impl Relay {
    fn start(path: &Path) -> Relay {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).expect("bind relay");
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                conns.spawn(async move {
                    if let Ok(mut daemon) = UnixStream::connect(DOCKER_SOCKET).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut daemon).await;
                    }
                });
            }
        });
        Relay { task }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // Aborting the accept loop drops the JoinSet, which aborts every relayed connection.
        self.task.abort();
    }
}

fn socket(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("docker.sock")
}

#[tokio::test]
async fn calls_answer_backend_unavailable_while_the_daemon_is_gone_and_serve_once_it_returns() {
    if !docker_available() {
        return;
    }
    if !Path::new(DOCKER_SOCKET).exists() {
        // The relay stands between the gateway and the daemon's local socket.
        assert!(
            !docker_required(),
            "this test needs the daemon on {DOCKER_SOCKET}"
        );
        eprintln!("SKIPPED: the daemon is not on {DOCKER_SOCKET}");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let sock = socket(&dir);
    let relay = Relay::start(&sock);
    let host = format!("unix://{}", sock.display());
    let Some(app) = TestApp::spawn_with(|f| f.docker_host = Some(host)).await else {
        return;
    };
    let path = unique("daemon");
    let code = "def handle(e, c):\n    return 'up'\n";
    app.deploy_ok(&with(
        python(&path, code),
        json!({"idle_timeout_s": 1, "keep_paused_s": 0}),
    ))
    .await;
    for _ in 0..100 {
        if app.callback(&path).await["state"] == "idle" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    drop(relay);
    let _ = std::fs::remove_file(&sock);
    let (status, _, text) = app
        .request(Method::GET, &format!("/api/{path}"), None)
        .await;
    let body = parse(&text);
    assert_error(status, &body, 503, "BACKEND_UNAVAILABLE");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("docker"),
        "{body:#}"
    );
    let (status, ready) = app.get_json("/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready["checks"]["docker"]["ok"], false, "{ready:#}");
    let (status, body) = app.deploy(&python(&unique("later"), code)).await;
    assert_error(status, &body, 503, "BACKEND_UNAVAILABLE");

    let _relay = Relay::start(&sock);
    let (status, ready) = app.get_json("/ready").await;
    assert_eq!(status, StatusCode::OK, "{ready:#}");
    let (status, headers, text) = app
        .request(Method::GET, &format!("/api/{path}"), None)
        .await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "up"));
    assert_eq!(headers["x-faas-cold-start"], "true");
}
