//! What a user sees over HTTP of what a real kubelet and scheduler do: the whole gateway on
//! the emulated cluster (images from an in-memory builder, Docker's place taken by an
//! in-memory backend), answering with the contract's codes.

use std::sync::Arc;
use std::time::Duration;

use faas_gateway::app::App;
use faas_gateway::config::{Config, Flags};
use faas_gateway::executor::{Backends, Executor};
use faas_gateway::testing::{FakeBuilder, FakeExecutor};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::emu::{JobScenario, ServiceScenario};
use crate::support::{Env, GATEWAY};

/// A gateway whose Kubernetes backend is the emulated cluster.
struct Gateway {
    base: String,
    http: reqwest::Client,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Gateway {
    async fn start(env: &Env) -> Gateway {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("none.toml"), "").expect("config");
        let flags = Flags {
            listen: Some("127.0.0.1:0".parse().expect("addr")),
            db: Some(dir.path().join("faas.db")),
            gateway_id: Some(GATEWAY.into()),
            config: Some(dir.path().join("none.toml")),
            ..Flags::default()
        };
        let config = Config::resolve(flags).expect("config");
        let kube: Arc<dyn Executor> = Arc::clone(&env.executor) as Arc<dyn Executor>;
        let backends = Backends::new(Arc::new(FakeExecutor::default()), Some(kube));
        let app = App::build_with(config, backends, Arc::new(FakeBuilder::default()))
            .await
            .expect("app");
        let base = format!("http://{}", app.local_addr().expect("addr"));
        let stop = CancellationToken::new();
        tokio::spawn(app.run(stop.clone()));
        Gateway {
            base,
            http: faas_gateway::tls::client(),
            stop,
            _dir: dir,
        }
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let resp = req.send().await.expect("the gateway answers");
        let (status, headers) = (resp.status(), resp.headers().clone());
        let text = resp.text().await.expect("a body");
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn deploy(&self, body: Value) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let url = format!("{}/callback/deploy", self.base);
        self.send(self.http.post(url).json(&body)).await
    }

    async fn call(&self, path: &str) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        self.send(self.http.get(format!("{}/api/{path}", self.base)))
            .await
    }

    async fn callback(&self, path: &str) -> Value {
        let url = format!("{}/callbacks/{path}", self.base);
        self.send(self.http.get(url)).await.2
    }
}

fn kube(path: &str, extra: Value) -> Value {
    let mut body = json!({"path": path, "runtime": "python", "backend": "kubernetes",
        "code": "def handle(e, c):\n    return 'hi'\n", "cpu": 0.25, "memory_mb": 64});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("-")
}

#[tokio::test]
async fn a_deploy_no_node_can_take_answers_insufficient_capacity_and_recovers() {
    let env = Env::start(ServiceScenario::Ready, JobScenario::Complete).await;
    env.cluster().settings().node_cpu_millis = 10;
    let gw = Gateway::start(&env).await;

    let (status, headers, body) = gw.deploy(kube("tight", json!({}))).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::SERVICE_UNAVAILABLE, "INSUFFICIENT_CAPACITY"),
        "{body:#}"
    );
    assert!(headers.contains_key("retry-after"), "{headers:?}");
    let reason = body["error"]["details"]["reason"]
        .as_str()
        .expect("the reason");
    assert!(
        reason.contains("Insufficient cpu"),
        "the scheduler's words: {reason}"
    );
    let cb = gw.callback("tight").await;
    assert_eq!(cb["state"], "failed");
    assert_eq!(cb["last_error"]["code"], "INSUFFICIENT_CAPACITY");

    env.cluster().settings().node_cpu_millis = 2000;
    let (status, _, body) = gw.deploy(kube("tight", json!({}))).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "with room the same deploy works: {body:#}"
    );
    assert_eq!(body["state"], "ready");
}

#[tokio::test]
async fn a_job_call_no_node_can_take_answers_insufficient_capacity() {
    let env = Env::start(ServiceScenario::Ready, JobScenario::Complete).await;
    let gw = Gateway::start(&env).await;
    let (status, _, body) = gw.deploy(kube("batch", json!({"mode": "job"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");

    env.cluster().settings().node_cpu_millis = 10;
    let (status, headers, body) = gw.call("batch").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::SERVICE_UNAVAILABLE, "INSUFFICIENT_CAPACITY"),
        "{body:#}"
    );
    assert!(headers.contains_key("retry-after"));
    let last = eventually_json(&gw, "batch", |cb| {
        cb["last_error"]["code"] == "INSUFFICIENT_CAPACITY"
    })
    .await;
    assert!(
        last["last_error"]["message"]
            .as_str()
            .expect("message")
            .contains("batch")
    );
}

#[tokio::test]
async fn a_job_that_outlives_its_timeout_answers_function_timeout() {
    let env = Env::start(ServiceScenario::Ready, JobScenario::Complete).await;
    let gw = Gateway::start(&env).await;
    let (status, _, body) = gw
        .deploy(kube("slow", json!({"mode": "job", "timeout_ms": 1000})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");
    env.cluster().settings().job = JobScenario::Runs;
    let (status, _, body) = gw.call("slow").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::GATEWAY_TIMEOUT, "FUNCTION_TIMEOUT"),
        "{body:#}"
    );
}

#[tokio::test]
async fn cold_starts_that_crash_in_place_become_function_crash_loop_with_no_new_replica() {
    let env = Env::start(ServiceScenario::Ready, JobScenario::Complete).await;
    let gw = Gateway::start(&env).await;
    let (status, _, body) = gw
        .deploy(kube(
            "bomb",
            json!({"min_instances": 0, "idle_timeout_s": 1}),
        ))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");
    let pod = body["instances"][0]["id"]
        .as_str()
        .expect("an instance")
        .to_owned();
    assert_eq!(
        env.pod_names(),
        vec![pod],
        "the instance id is the pod's name"
    );
    eventually_json(&gw, "bomb", |cb| cb["state"] == "idle").await;

    // From now on every start of the function crashes at import.
    env.cluster().settings().service = ServiceScenario::CrashLoopInPlace;
    let (status, _, body) = gw.call("bomb").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_GATEWAY, "FUNCTION_CRASHED"),
        "{body:#}"
    );
    assert_eq!(
        body["error"]["details"]["exit_code"], 3,
        "the function's own exit code"
    );
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("while starting"), "{message}");

    let mut answers = Vec::new();
    let looped = loop {
        let (status, headers, body) = gw.call("bomb").await;
        answers.push(format!("{} {}", status.as_u16(), code(&body)));
        match (status.as_u16(), code(&body)) {
            (503, "FUNCTION_CRASH_LOOP") => break headers,
            (502, "FUNCTION_CRASHED") | (200, _) => {}
            _ => panic!("on the way to a crash loop: {answers:?}"),
        }
        assert!(answers.len() < 200, "never a crash loop: {answers:?}");
        assert!(
            env.replicas("faas-bomb-r1").unwrap_or(0) <= 1,
            "no replica added"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let retry: u64 = looped["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!(retry >= 1);
    let cb = gw.callback("bomb").await;
    assert_eq!(cb["state"], "crash_loop", "{cb:#}");
    assert_eq!(cb["last_error"]["details"]["exit_code"], 3, "{cb:#}");
    assert_eq!(env.pod_names().len(), 1, "one pod, restarted in place");
}

/// Polls the callback until `ok` holds of it.
async fn eventually_json(gw: &Gateway, path: &str, ok: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        let cb = gw.callback(path).await;
        if ok(&cb) {
            return cb;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{path} never reached the state: {:#}",
        gw.callback(path).await
    );
}
