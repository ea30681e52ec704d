//! The whole gateway with both backends: Docker (real) builds images, the emulated cluster runs
//! a callback deployed with `backend: kubernetes`, and a redeploy moves it between them.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use faas_gateway::app::App;
use faas_gateway::builder::docker::DockerBuilder;
use faas_gateway::config::{Config, Flags};
use faas_gateway::daemon::DockerConn;
use faas_gateway::executor::docker::{DockerExecutor, DockerSettings, InstanceAddress};
use faas_gateway::executor::{Backends, Executor};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::emu::{JobScenario, Res, ServiceScenario};
use crate::support::{Env, GATEWAY};

fn docker_available() -> bool {
    let ok = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "CI needs a Docker daemon"
    );
    if !ok {
        eprintln!("SKIPPED: no Docker daemon answers `docker info`");
    }
    ok
}

fn base_image(var: &str, runtime: &str) -> String {
    if let Ok(image) = std::env::var(var) {
        return image;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/docker/base-images.sh");
    let out = Command::new("bash")
        .args([script, "--runtime", runtime])
        .output()
        .expect("base images");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{var}=")))
        .expect("the script names an image")
        .to_owned()
}

/// A gateway on Docker (real) and the emulated cluster; its address, its stop token, and its
/// Docker executor for inspection.
async fn gateway(
    env: &Env,
) -> (
    tempfile::TempDir,
    String,
    CancellationToken,
    Arc<DockerExecutor>,
) {
    let dir = tempfile::tempdir().expect("tmp");
    let (base, stop, docker, _served) = gateway_in(env, dir.path()).await;
    (dir, base, stop, docker)
}

/// A gateway like [`gateway`] whose database is in `dir` (another one on the same `dir` is
/// a restart); also the task serving it.
async fn gateway_in(
    env: &Env,
    dir: &std::path::Path,
) -> (
    String,
    CancellationToken,
    Arc<DockerExecutor>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let flags = Flags {
        listen: Some("127.0.0.1:0".parse().expect("addr")),
        db: Some(dir.join("faas.db")),
        python_base_image: Some(base_image("FAAS_PYTHON_BASE_IMAGE", "python")),
        gateway_id: Some(GATEWAY.into()),
        config: Some(dir.join("none.toml")),
        ..Flags::default()
    };
    std::fs::write(dir.join("none.toml"), "").expect("config");
    let config = Config::resolve(flags).expect("config");
    let conn = DockerConn::connect(None);
    let docker = Arc::new(DockerExecutor::new(
        conn.clone(),
        DockerSettings {
            network: config.network.clone(),
            address: InstanceAddress::Network,
            // Its own name on Docker: parallel tests must not reconcile each other away.
            gateway_id: format!("{GATEWAY}-{}", uuid::Uuid::new_v4().simple()),
        },
    ));
    let kube: Arc<dyn Executor> = Arc::clone(&env.executor) as Arc<dyn Executor>;
    let backends = Backends::new(Arc::clone(&docker) as Arc<dyn Executor>, Some(kube));
    let app = App::build_with(config, backends, Arc::new(DockerBuilder::new(conn)))
        .await
        .expect("app");
    let base = format!("http://{}", app.local_addr().expect("addr"));
    let stop = CancellationToken::new();
    let served = tokio::spawn(app.run(stop.clone()));
    (base, stop, docker, served)
}

#[tokio::test]
async fn a_restarted_gateway_deletes_kubernetes_objects_no_callback_owns() {
    if !docker_available() {
        return;
    }
    let env = Env::start(ServiceScenario::Ready, JobScenario::Complete).await;
    // A revision of a callback the database does not know, as a crashed gateway leaves it.
    env.executor
        .start(&crate::support::spec("orphan"))
        .await
        .expect("orphan started");
    let orphan = "faas-orphan-r1";
    assert!(env.cluster().object(Res::Deployments, orphan).is_some());
    let (_dir, base, stop, _docker) = gateway(&env).await;
    let client = faas_gateway::tls::client();
    let mut gone = false;
    for _ in 0..100 {
        let _ = client.get(format!("{base}/health")).send().await;
        let c = env.cluster();
        if c.object(Res::Deployments, orphan).is_none()
            && c.object(Res::Services, orphan).is_none()
            && c.objects(Res::Pods).is_empty()
        {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        gone,
        "the orphan's Deployment, Service and pod are removed at start"
    );
    stop.cancel();
}

#[tokio::test]
async fn a_callback_deployed_on_kubernetes_serves_and_moves_to_docker_and_back() {
    if !docker_available() {
        return;
    }
    let env = Env::start(ServiceScenario::Ready, JobScenario::Complete).await;
    let (_dir, base, stop, docker) = gateway(&env).await;
    let client = faas_gateway::tls::client();
    let path = format!("moving-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let body = |backend: &str| {
        json!({"path": path, "runtime": "python", "backend": backend,
               "code": "def handle(e, c):\n    return 'served by docker'\n"})
    };
    let deploy = |b: Value| {
        client
            .post(format!("{base}/callback/deploy"))
            .json(&b)
            .send()
    };

    let resp = deploy(body("kubernetes")).await.expect("deploy");
    assert_eq!(resp.status(), 201);
    let cb: Value = resp.json().await.expect("json");
    assert_eq!(
        (cb["backend"].as_str(), cb["state"].as_str()),
        (Some("kubernetes"), Some("ready"))
    );
    let deployment = format!("faas-{path}-r1");
    assert_eq!(env.replicas(&deployment), Some(1));
    // The emulated pod's stand-in runtime echoes what it was asked.
    let echoed: Value = client
        .get(format!("{base}/api/{path}/x"))
        .send()
        .await
        .expect("call")
        .json()
        .await
        .expect("json");
    assert_eq!(echoed["path"], "/x");
    let ready: Value = client
        .get(format!("{base}/ready"))
        .send()
        .await
        .expect("ready")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["checks"]["kubernetes"]["ok"], true, "{ready:#}");

    let resp = deploy(body("docker")).await.expect("redeploy");
    assert_eq!(resp.status(), 200);
    let text = client
        .get(format!("{base}/api/{path}"))
        .send()
        .await
        .expect("call")
        .text()
        .await
        .expect("text");
    assert_eq!(text, "served by docker");
    let mut drained = false;
    for _ in 0..100 {
        let c = env.cluster();
        if c.object(Res::Deployments, &deployment).is_none()
            && c.object(Res::Services, &deployment).is_none()
            && c.objects(Res::Pods).is_empty()
        {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        drained,
        "the Kubernetes revision is scaled to zero after the move"
    );

    let resp = deploy(body("kubernetes")).await.expect("back");
    assert_eq!(resp.status(), 200);
    let echoed: Value = client
        .get(format!("{base}/api/{path}/back"))
        .send()
        .await
        .expect("call")
        .json()
        .await
        .expect("json");
    assert_eq!(echoed["path"], "/back");
    let mut docker_left = 1;
    for _ in 0..100 {
        docker_left = docker
            .list()
            .await
            .expect("list")
            .iter()
            .filter(|o| o.callback == path)
            .count();
        if docker_left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(docker_left, 0, "nothing of the callback stays on Docker");

    let resp = client
        .delete(format!("{base}/callbacks/{path}"))
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status(), 204);
    assert!(
        env.cluster().objects(Res::Pods).is_empty(),
        "no pod left after delete"
    );
    stop.cancel();
    let _ = Command::new("docker")
        .args(["rmi", "-f", "--no-prune", &format!("faas-fn/{path}")])
        .output();
}

/// Objects of any kind labelled `faas.namespace=<ns>`, as `kind/name`.
fn labelled(env: &Env, ns: &str) -> Vec<String> {
    [
        Res::Pods,
        Res::Services,
        Res::ConfigMaps,
        Res::Deployments,
        Res::Jobs,
    ]
    .into_iter()
    .flat_map(|res| {
        env.cluster()
            .objects(res)
            .into_iter()
            .filter(|o| o["metadata"]["labels"]["faas.namespace"] == ns)
            .map(move |o| format!("{}/{}", res.plural(), o["metadata"]["name"]))
    })
    .collect()
}

#[tokio::test]
async fn deleting_a_namespace_leaves_no_object_labelled_with_it_on_the_cluster() {
    if !docker_available() {
        return;
    }
    let env = Env::start(ServiceScenario::Ready, JobScenario::Complete).await;
    let (_dir, base, stop, _docker) = gateway(&env).await;
    let client = faas_gateway::tls::client();
    let ns = format!(
        "kube-ns-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let resp = client
        .post(format!("{base}/namespaces"))
        .json(&json!({"name": ns}))
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status(), 201);
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let (service, job) = (format!("svc-{suffix}"), format!("job-{suffix}"));
    for (path, mode) in [(&service, "service"), (&job, "job")] {
        let resp = client
            .post(format!("{base}/callback/deploy"))
            .json(
                &json!({"path": path, "runtime": "python", "backend": "kubernetes",
                "mode": mode, "namespace": ns, "code": "def handle(e, c):\n    return 'hi'\n"}),
            )
            .send()
            .await
            .expect("deploy");
        assert_eq!(
            resp.status(),
            201,
            "{}",
            resp.text().await.unwrap_or_default()
        );
    }
    let deployment = format!("faas-{service}-r1");
    let d = env
        .cluster()
        .object(Res::Deployments, &deployment)
        .expect("the Deployment");
    assert_eq!(d["metadata"]["labels"]["faas.namespace"], ns.as_str());
    assert_eq!(
        d["spec"]["template"]["metadata"]["labels"]["faas.namespace"],
        ns.as_str()
    );
    // A job call that keeps running, its event too large for the environment: a Job, its
    // pod and a ConfigMap stay while it runs.
    env.cluster().settings().job = JobScenario::Runs;
    let running = {
        let (client, url) = (client.clone(), format!("{base}/api/{job}"));
        tokio::spawn(async move { client.post(url).body("x".repeat(100 * 1024)).send().await })
    };
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = labelled(&env, &ns);
        if seen.iter().any(|o| o.starts_with("jobs/"))
            && seen.iter().any(|o| o.starts_with("configmaps/"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for kind in ["deployments/", "services/", "pods/", "jobs/", "configmaps/"] {
        assert!(
            seen.iter().any(|o| o.starts_with(kind)),
            "no {kind} labelled: {seen:?}"
        );
    }
    let resp = client
        .delete(format!("{base}/namespaces/{ns}"))
        .send()
        .await
        .expect("delete");
    assert_eq!(
        resp.status(),
        204,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    assert_eq!(labelled(&env, &ns), Vec::<String>::new(), "objects left");
    let call = running.await.expect("join").expect("the job call answers");
    assert_ne!(call.status(), 200, "the job went with its namespace");
    stop.cancel();
    for path in [&service, &job] {
        let _ = Command::new("docker")
            .args(["rmi", "-f", "--no-prune", &format!("faas-fn/{path}")])
            .output();
    }
}

#[tokio::test]
async fn a_namespace_delete_cut_short_on_the_cluster_is_finished_by_the_next_start() {
    if !docker_available() {
        return;
    }
    let env = Env::start(ServiceScenario::Ready, JobScenario::Complete).await;
    let dir = tempfile::tempdir().expect("tmp");
    let (base, stop, _docker, served) = gateway_in(&env, dir.path()).await;
    let client = reqwest::Client::new();
    let ns = format!(
        "kube-cut-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let resp = client
        .post(format!("{base}/namespaces"))
        .json(&json!({"name": ns}))
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status(), 201);
    let path = format!("cut-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let resp = client
        .post(format!("{base}/callback/deploy"))
        .json(
            &json!({"path": path, "runtime": "python", "backend": "kubernetes",
            "namespace": ns, "code": "def handle(e, c):\n    return 'hi'\n"}),
        )
        .send()
        .await
        .expect("deploy");
    assert_eq!(
        resp.status(),
        201,
        "{}",
        resp.text().await.unwrap_or_default()
    );

    // The delete stops half-way: the cluster refuses to delete Deployments.
    env.cluster()
        .settings()
        .forbidden
        .push(("delete".into(), "deployments".into()));
    let resp = client
        .delete(format!("{base}/namespaces/{ns}"))
        .send()
        .await
        .expect("delete");
    assert_eq!(
        resp.status(),
        502,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    assert!(
        labelled(&env, &ns)
            .iter()
            .any(|o| o.starts_with("deployments/")),
        "the Deployment is still there: {:?}",
        labelled(&env, &ns)
    );
    let call = client
        .get(format!("{base}/api/{path}"))
        .send()
        .await
        .expect("call");
    assert_eq!(
        call.status(),
        404,
        "a namespace being deleted serves no call"
    );
    stop.cancel();
    served.await.expect("join").expect("served");

    env.cluster().settings().forbidden.clear();
    let (base, stop, _docker, _served) = gateway_in(&env, dir.path()).await;
    let mut gone = false;
    for _ in 0..200 {
        let status = client
            .get(format!("{base}/namespaces/{ns}"))
            .send()
            .await
            .expect("get")
            .status();
        if status == 404 && labelled(&env, &ns).is_empty() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        gone,
        "the restarted gateway did not finish the delete: {:?}",
        labelled(&env, &ns)
    );
    stop.cancel();
    let _ = Command::new("docker")
        .args(["rmi", "-f", "--no-prune", &format!("faas-fn/{path}")])
        .output();
}
