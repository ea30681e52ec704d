//! `TestApp`: the real gateway on port 0 with a temporary SQLite file, driven over HTTP.

use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use faas_gateway::app::App;
use faas_gateway::config::{Config, Flags};
pub use faas_gateway::testing::{docker_available, docker_required};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Base images for function builds: from the environment, else made by docker/base-images.sh.
struct BaseImages {
    python: String,
    node: String,
}

fn base_images() -> &'static BaseImages {
    static IMAGES: OnceLock<BaseImages> = OnceLock::new();
    IMAGES.get_or_init(|| {
        if let (Ok(python), Ok(node)) = (
            std::env::var("FAAS_PYTHON_BASE_IMAGE"),
            std::env::var("FAAS_NODE_BASE_IMAGE"),
        ) {
            return BaseImages { python, node };
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/docker/base-images.sh");
        let out = Command::new("bash")
            .arg(script)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
        assert!(
            out.status.success(),
            "{script} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let find = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .unwrap_or_else(|| panic!("{script} printed no {key}"))
                .to_owned()
        };
        BaseImages {
            python: find("FAAS_PYTHON_BASE_IMAGE="),
            node: find("FAAS_NODE_BASE_IMAGE="),
        }
    })
}

/// The base-image settings, as environment for a gateway process.
pub fn base_image_env() -> [(&'static str, String); 2] {
    let images = base_images();
    [
        ("FAAS_PYTHON_BASE_IMAGE", images.python.clone()),
        ("FAAS_NODE_BASE_IMAGE", images.node.clone()),
    ]
}

/// A unique callback path, so parallel tests never share containers or images.
pub fn unique(name: &str) -> String {
    format!("{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// A deploy body for a Python handler.
pub fn python(path: &str, code: &str) -> Value {
    json!({"path": path, "runtime": "python", "code": code})
}

/// A deploy body for a Node handler.
pub fn node(path: &str, code: &str) -> Value {
    json!({"path": path, "runtime": "node", "code": code})
}

/// Merges `extra` into a deploy body.
pub fn with(mut body: Value, extra: Value) -> Value {
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    body
}

/// What survives a gateway restart: its database and its name.
pub struct Persisted {
    db_dir: tempfile::TempDir,
    gateway_id: String,
    paths: Vec<String>,
}

impl Persisted {
    /// The stopped gateway's name (its containers' `faas.gateway` label).
    pub fn gateway_id(&self) -> &str {
        &self.gateway_id
    }
}

/// A running gateway.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub gateway_id: String,
    db_dir: Option<tempfile::TempDir>,
    shutdown: CancellationToken,
    handle: Option<JoinHandle<std::io::Result<()>>>,
    paths: Mutex<Vec<String>>,
    /// Cleared by `stop`: a restarted gateway takes over the cleanup.
    cleanup: bool,
}

impl TestApp {
    /// A gateway with default settings, or `None` (after saying so) when Docker is missing.
    pub async fn spawn() -> Option<TestApp> {
        Self::spawn_with(|_| {}).await
    }

    /// A gateway whose flags `tweak` may change.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Flags)) -> Option<TestApp> {
        if !docker_available() {
            return None;
        }
        let persisted = Persisted {
            db_dir: tempfile::tempdir().expect("tempdir"),
            gateway_id: format!("test-{}", uuid::Uuid::new_v4().simple()),
            paths: Vec::new(),
        };
        Some(Self::start(persisted, tweak).await)
    }

    /// Starts a gateway on a database that already exists (a restart).
    pub async fn restart(persisted: Persisted) -> TestApp {
        Self::start(persisted, |_| {}).await
    }

    /// A restart with other flags.
    pub async fn restart_with(persisted: Persisted, tweak: impl FnOnce(&mut Flags)) -> TestApp {
        Self::start(persisted, tweak).await
    }

    async fn start(persisted: Persisted, tweak: impl FnOnce(&mut Flags)) -> TestApp {
        let images = base_images();
        let mut flags = Flags {
            listen: Some("127.0.0.1:0".parse().expect("addr")),
            db: Some(persisted.db_dir.path().join("faas.db")),
            python_base_image: Some(images.python.clone()),
            node_base_image: Some(images.node.clone()),
            gateway_id: Some(persisted.gateway_id.clone()),
            config: Some(persisted.db_dir.path().join("none.toml")),
            ..Flags::default()
        };
        std::fs::write(flags.config.as_ref().expect("set"), "").expect("empty config");
        tweak(&mut flags);
        let config = Config::resolve(flags).expect("config");
        let app = App::build(config).await.expect("build app");
        let base = format!("http://{}", app.local_addr().expect("addr"));
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(app.run(shutdown.clone()));
        TestApp {
            base,
            client: faas_gateway::tls::client_builder()
                .timeout(Duration::from_secs(300))
                .build()
                .expect("client"),
            gateway_id: persisted.gateway_id,
            db_dir: Some(persisted.db_dir),
            shutdown,
            handle: Some(handle),
            paths: Mutex::new(persisted.paths),
            cleanup: true,
        }
    }

    /// Stops serving (instances keep running) and hands back what a restart needs.
    pub async fn stop(mut self) -> Persisted {
        self.shutdown.cancel();
        self.cleanup = false;
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
        Persisted {
            db_dir: self.db_dir.take().expect("db"),
            gateway_id: self.gateway_id.clone(),
            paths: std::mem::take(&mut *self.paths.lock().expect("paths")),
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Any request; returns status, headers and body text.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        (status, headers, resp.text().await.expect("body"))
    }

    /// POST /callback/deploy; returns status and JSON body.
    pub async fn deploy(&self, body: &Value) -> (StatusCode, Value) {
        if let Some(p) = body["path"].as_str() {
            self.paths.lock().expect("paths").push(p.to_owned());
        }
        let (status, _, text) = self
            .request(Method::POST, "/callback/deploy", Some(body.clone()))
            .await;
        (status, parse(&text))
    }

    /// Remembers a callback deployed some other way, so its images go with this gateway.
    pub fn remember(&self, path: &str) {
        self.paths.lock().expect("paths").push(path.to_owned());
    }

    /// A deploy that must succeed with `201` or `200`.
    pub async fn deploy_ok(&self, body: &Value) -> Value {
        let (status, json) = self.deploy(body).await;
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "deploy answered {status}: {json:#}"
        );
        json
    }

    /// GET a JSON resource.
    pub async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let (status, _, text) = self.request(Method::GET, path, None).await;
        (status, parse(&text))
    }

    /// GET /callbacks/<path>, which must exist.
    pub async fn callback(&self, path: &str) -> Value {
        let (status, json) = self.get_json(&format!("/callbacks/{path}")).await;
        assert_eq!(status, StatusCode::OK, "{json:#}");
        json
    }

    /// Names of this gateway's containers (running or not), from `docker ps`.
    pub fn containers(&self) -> Vec<String> {
        docker_lines(&[
            "ps",
            "-a",
            "--filter",
            &format!("label=faas.gateway={}", self.gateway_id),
            "--format",
            "{{.Names}}",
        ])
    }
}

/// Parses a JSON body, or wraps non-JSON text for assertion messages.
pub fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| json!({ "text": text }))
}

/// Lines printed by a docker command.
pub fn docker_lines(args: &[&str]) -> Vec<String> {
    let out = Command::new("docker").args(args).output().expect("docker");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Asserts the contract's error envelope.
pub fn assert_error(status: StatusCode, body: &Value, want_status: u16, code: &str) {
    assert_eq!(status.as_u16(), want_status, "{body:#}");
    assert_eq!(body["error"]["code"], code, "{body:#}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body:#}"
    );
    assert!(body["error"]["details"].is_object(), "{body:#}");
    assert!(
        body["request_id"].as_str().is_some_and(|r| !r.is_empty()),
        "{body:#}"
    );
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if !self.cleanup {
            return;
        }
        // Leave nothing behind: this gateway's containers, then its callbacks' images.
        let ids = docker_lines(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=faas.gateway={}", self.gateway_id),
        ]);
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.iter().map(String::as_str));
            let _ = Command::new("docker").args(&args).output();
        }
        let paths = self.paths.lock().map(|p| p.clone()).unwrap_or_default();
        for path in paths {
            // By tag, not id: identical code deployed by another test shares the image id,
            // and the shared build cache (untagged parents) stays.
            let repo = format!("faas-fn/{path}");
            let images = docker_lines(&["images", "--format", "{{.Repository}}:{{.Tag}}", &repo]);
            if !images.is_empty() {
                let mut args = vec!["rmi", "--no-prune"];
                args.extend(images.iter().map(String::as_str));
                let _ = Command::new("docker").args(&args).output();
            }
        }
    }
}

/// Polls `GET /callbacks/<path>` until `done` holds (bounded: the condition is the assertion).
pub async fn wait_for(
    app: &TestApp,
    path: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let mut cb = Value::Null;
    for _ in 0..300 {
        cb = app.callback(path).await;
        if done(&cb) {
            return cb;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} never happened; last: {cb:#}");
}

/// Polls `docker ps` until this gateway has exactly `n` containers (removal runs in the
/// background once an instance is out of service).
pub async fn wait_for_containers(app: &TestApp, n: usize) {
    for _ in 0..100 {
        if app.containers().len() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.containers().len(), n, "{:?}", app.containers());
}
