//! `TestApp`: the real gateway on in-memory stand-ins for Docker and the image builder.

use std::sync::Arc;
use std::time::Duration;

use faas_gateway::app::App;
use faas_gateway::config::{Config, Flags};
use faas_gateway::executor::Backends;
use faas_gateway::testing::{FakeBuilder, FakeExecutor};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// A running gateway and the stand-ins it runs on.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// The backend: tests kill, remove or cut off its instances through it.
    pub docker: FakeExecutor,
    pub builder: Arc<FakeBuilder>,
    shutdown: CancellationToken,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
    flags: Flags,
    _dir: Arc<tempfile::TempDir>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestApp {
    /// A gateway with default settings.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// A gateway whose flags `tweak` may change.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Flags)) -> TestApp {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("none.toml"), "").expect("config");
        let mut flags = Flags {
            listen: Some("127.0.0.1:0".parse().expect("addr")),
            db: Some(dir.path().join("faas.db")),
            config: Some(dir.path().join("none.toml")),
            kubernetes: Some(false),
            ..Flags::default()
        };
        tweak(&mut flags);
        let docker = FakeExecutor::default();
        let builder = Arc::new(FakeBuilder::default());
        Self::start(flags, docker, builder, Arc::new(dir)).await
    }

    async fn start(
        flags: Flags,
        docker: FakeExecutor,
        builder: Arc<FakeBuilder>,
        dir: Arc<tempfile::TempDir>,
    ) -> TestApp {
        let config = Config::resolve(flags.clone()).expect("config");
        let backends = Backends::new(Arc::new(docker.clone()), None);
        let app = App::build_with(config, backends, Arc::clone(&builder) as _)
            .await
            .expect("app");
        let base = format!("http://{}", app.local_addr().expect("addr"));
        let shutdown = CancellationToken::new();
        let served = tokio::spawn(app.run(shutdown.clone()));
        TestApp {
            base,
            client: faas_gateway::tls::client_builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
            docker,
            builder,
            shutdown,
            served,
            flags,
            _dir: dir,
        }
    }

    /// Stops this gateway (its instances stay, as a real one's containers do) and starts
    /// another on the same database and backend, as a restart does.
    pub async fn restart(self) -> TestApp {
        self.shutdown.cancel();
        let (flags, docker, builder, dir) = (
            self.flags.clone(),
            self.docker.clone(),
            Arc::clone(&self.builder),
            Arc::clone(&self._dir),
        );
        let served = {
            let mut this = self;
            std::mem::replace(&mut this.served, tokio::spawn(async { Ok(()) }))
        };
        served.await.expect("join").expect("served");
        Self::start(flags, docker, builder, dir).await
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
        let (status, _, text) = self
            .request(Method::POST, "/callback/deploy", Some(body.clone()))
            .await;
        (status, parse(&text))
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

    /// A call to `/api/<path><rest>`: status, headers and body text.
    pub async fn call(
        &self,
        path: &str,
        rest: &str,
    ) -> (StatusCode, reqwest::header::HeaderMap, String) {
        self.request(Method::GET, &format!("/api/{path}{rest}"), None)
            .await
    }

    /// Polls `GET /callbacks/<path>` until `done` holds (bounded: the condition is the
    /// assertion).
    pub async fn wait_for(&self, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let mut cb = Value::Null;
        for _ in 0..300 {
            cb = self.callback(path).await;
            if done(&cb) {
                return cb;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{what} never happened; last: {cb:#}");
    }
}

/// A unique callback path.
pub fn unique(name: &str) -> String {
    format!("{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// A deploy body for a Python handler (the stand-in backend runs any code the same way).
pub fn python(path: &str, code: &str) -> Value {
    json!({"path": path, "runtime": "python", "code": code})
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

/// A handler that returns something.
pub const CODE: &str = "def handle(e, c):\n    return 'hi'\n";

/// Parses a JSON body, or wraps non-JSON text for assertion messages.
pub fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| json!({ "text": text }))
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
