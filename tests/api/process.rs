//! The real gateway binary as an operator runs it: killed with SIGKILL, stopped with SIGTERM,
//! logging JSON lines.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{base_image_env, docker_available, docker_lines, unique};

/// A gateway process on a free loopback port.
struct Gateway {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Gateway {
    fn start(dir: &Path, gateway_id: &str, extra: &[(&str, &str)]) -> Gateway {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let log = dir.join(format!("gateway-{port}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_faas-gateway"));
        cmd.env("FAAS_LISTEN", format!("127.0.0.1:{port}"))
            .env("FAAS_DB", dir.join("faas.db"))
            .env("FAAS_GATEWAY_ID", gateway_id)
            .env("FAAS_CONFIG", dir.join("none.toml"))
            .envs(base_image_env())
            .envs(extra.iter().copied())
            .stdout(Stdio::from(out.try_clone().expect("dup")))
            .stderr(Stdio::from(out));
        std::fs::write(dir.join("none.toml"), "").expect("config");
        let child = cmd.spawn().expect("spawn gateway");
        Gateway {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    async fn ready(&self, client: &reqwest::Client) {
        for _ in 0..200 {
            if client
                .get(format!("{}/health", self.base))
                .send()
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the gateway never answered: {}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// GET a JSON resource of this gateway.
    async fn get_json(&self, client: &reqwest::Client, path: &str) -> Value {
        let resp = client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("get");
        resp.json().await.expect("json")
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cleanup(gateway_id: &str) {
    let ids = docker_lines(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=faas.gateway={gateway_id}"),
    ]);
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(ids.iter().map(String::as_str));
        let _ = Command::new("docker").args(&args).output();
    }
}

async fn deploy(client: &reqwest::Client, base: &str, body: &Value) {
    let resp = client
        .post(format!("{base}/callback/deploy"))
        .json(body)
        .send()
        .await
        .expect("deploy");
    assert!(
        resp.status().is_success(),
        "deploy: {}",
        resp.text().await.unwrap_or_default()
    );
}

const SLOW_PY: &str =
    "import time\n\ndef handle(event, context):\n    time.sleep(2)\n    return event['body']\n";

#[tokio::test]
async fn accepted_invocations_survive_a_sigkill_and_none_is_lost() {
    if !docker_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let id = format!("test-{}", unique("kill"));
    let client = faas_gateway::tls::client();
    let g = Gateway::start(dir.path(), &id, &[("FAAS_ASYNC_WORKERS", "2")]);
    g.ready(&client).await;
    let path = unique("durable");
    deploy(&client, &g.base, &json!({"path": path, "runtime": "python", "code": SLOW_PY, "concurrency": 2, "max_instances": 1})).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let resp = client
            .post(format!("{}/api/{path}", g.base))
            .header("prefer", "respond-async")
            .body(format!("job {i}"))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        let body: Value = resp.json().await.expect("json");
        ids.push(body["id"].as_str().expect("id").to_owned());
    }
    let running = |inv: &Value| inv["status"] == "running";
    let mut seen_running = false;
    for _ in 0..100 {
        let inv: Value = g
            .get_json(&client, &format!("/invocations/{}", ids[0]))
            .await;
        if running(&inv) {
            seen_running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen_running, "the first invocation never started");
    g.signal("-KILL");
    drop(g);

    let g = Gateway::start(dir.path(), &id, &[("FAAS_ASYNC_WORKERS", "2")]);
    g.ready(&client).await;
    let mut retried = 0;
    for (i, inv_id) in ids.iter().enumerate() {
        let mut inv = Value::Null;
        for _ in 0..400 {
            inv = g.get_json(&client, &format!("/invocations/{inv_id}")).await;
            if inv["status"] == "succeeded" || inv["status"] == "failed" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(inv["status"], "succeeded", "{inv:#}");
        assert_eq!(inv["response"]["body"], format!("job {i}"));
        if inv["retried"] == true {
            retried += 1;
            assert_eq!(inv["attempts"], 2, "a retried invocation says so: {inv:#}");
        } else {
            assert_eq!(inv["attempts"], 1, "{inv:#}");
        }
    }
    assert!(
        (1..=2).contains(&retried),
        "only those running at the kill ran again ({retried})"
    );
    drop(g);
    cleanup(&id);
}

#[tokio::test]
async fn sigterm_finishes_calls_in_flight_exits_zero_and_leaves_instances_for_the_next_start() {
    if !docker_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let id = format!("test-{}", unique("term"));
    let client = faas_gateway::tls::client();
    let mut g = Gateway::start(dir.path(), &id, &[]);
    g.ready(&client).await;
    let path = unique("draining");
    deploy(
        &client,
        &g.base,
        &json!({"path": path, "runtime": "python", "code": SLOW_PY}),
    )
    .await;
    let call = tokio::spawn(
        client
            .post(format!("{}/api/{path}", g.base))
            .body("in flight")
            .send(),
    );
    for _ in 0..100 {
        let cb: Value = g.get_json(&client, &format!("/callbacks/{path}")).await;
        if cb["instances"][0]["in_flight"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    g.signal("-TERM");
    let resp = call
        .await
        .expect("join")
        .expect("the call in flight completes");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.expect("text"), "in flight");
    let mut status = None;
    for _ in 0..200 {
        if let Some(s) = g.child.try_wait().expect("wait") {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status.and_then(|s| s.code()), Some(0), "SIGTERM exits 0");
    let running = docker_lines(&["ps", "-q", "--filter", &format!("label=faas.gateway={id}")]);
    assert_eq!(running.len(), 1, "the instance keeps running");
    drop(g);

    let g = Gateway::start(dir.path(), &id, &[]);
    g.ready(&client).await;
    let cb: Value = g.get_json(&client, &format!("/callbacks/{path}")).await;
    assert_eq!(
        cb["instances"].as_array().map(Vec::len),
        Some(1),
        "re-adopted: {cb:#}"
    );
    assert!(running[0].starts_with(cb["instances"][0]["id"].as_str().expect("id")));
    drop(g);
    cleanup(&id);
}

#[tokio::test]
async fn json_logs_carry_the_request_id_and_callback_path_on_every_request_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let id = format!("test-{}", unique("json"));
    let client = faas_gateway::tls::client();
    let g = Gateway::start(dir.path(), &id, &[("FAAS_LOG_FORMAT", "json")]);
    g.ready(&client).await;
    let resp = client
        .get(format!("{}/api/nowhere-to-be-found", g.base))
        .header("x-request-id", "trace-json-4242")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let mut found = None;
    for _ in 0..50 {
        let text = std::fs::read_to_string(&g.log).expect("log");
        found = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v.to_string().contains("trace-json-4242"));
        if found.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let line = found.expect("a JSON log line with the request id");
    // Calls on /api/* are logged without a span (the hot path): the access line itself
    // carries the request id and the callback.
    assert_eq!(line["message"], "request served", "{line:#}");
    assert_eq!(line["request_id"], "trace-json-4242", "{line:#}");
    assert_eq!(line["callback.path"], "nowhere-to-be-found", "{line:#}");
    assert!(
        line["level"].is_string() && line["timestamp"].is_string(),
        "{line:#}"
    );
}

#[tokio::test]
async fn a_namespace_delete_cut_short_by_sigkill_is_finished_by_the_next_start() {
    use crate::namespaces::{NAPPING_PY, containers_of, images_of};
    if !docker_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let id = format!("test-{}", unique("nskill"));
    let client = faas_gateway::tls::client();
    let g = Gateway::start(dir.path(), &id, &[]);
    g.ready(&client).await;
    let ns = unique("doomed");
    let resp = client
        .post(format!("{}/namespaces", g.base))
        .json(&json!({"name": ns}))
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status(), StatusCode::CREATED);
    // Sorted by path, the service goes first: a call in flight holds its drain.
    let (service, job) = (
        format!("a-{}", unique("svc")),
        format!("b-{}", unique("job")),
    );
    deploy(
        &client,
        &g.base,
        &json!({"path": service, "runtime": "python", "code": NAPPING_PY, "namespace": ns}),
    )
    .await;
    deploy(&client, &g.base, &json!({"path": job, "runtime": "python", "code": NAPPING_PY, "namespace": ns, "mode": "job", "memory_mb": 64})).await;
    let slow = {
        let url = format!("{}/api/{service}?s=60", g.base);
        let client = client.clone();
        tokio::spawn(async move { client.get(url).send().await })
    };
    let deleting = {
        let url = format!("{}/namespaces/{ns}", g.base);
        let client = client.clone();
        tokio::spawn(async move { client.delete(url).send().await })
    };
    let mut begun = false;
    for _ in 0..100 {
        let resp = client
            .get(format!("{}/api/{job}", g.base))
            .send()
            .await
            .expect("call");
        if resp.status() == StatusCode::NOT_FOUND {
            begun = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(begun, "the delete never began");
    g.signal("-KILL");
    drop(g);
    let _ = (slow.await, deleting.await);
    assert!(
        !containers_of(&ns).is_empty(),
        "the kill came before the delete removed the service's instance"
    );

    let g = Gateway::start(dir.path(), &id, &[]);
    g.ready(&client).await;
    let mut gone = false;
    for _ in 0..600 {
        let status = client
            .get(format!("{}/namespaces/{ns}", g.base))
            .send()
            .await
            .expect("get")
            .status();
        if status == StatusCode::NOT_FOUND {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the restarted gateway did not finish the delete");
    assert_eq!(containers_of(&ns), Vec::<String>::new(), "containers left");
    for path in [&service, &job] {
        assert_eq!(
            images_of(path),
            Vec::<String>::new(),
            "images of {path} left"
        );
        let status = client
            .get(format!("{}/callbacks/{path}", g.base))
            .send()
            .await
            .expect("get")
            .status();
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    drop(g);
    cleanup(&id);
}
