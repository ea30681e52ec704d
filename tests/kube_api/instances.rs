//! Service instances: starting (Deployment, Service, replicas, the new pod's IP), removing,
//! scaling to zero, concurrent starts, a restarted gateway.

use std::time::Duration;

use faas_gateway::executor::{Executor, ExecutorError, InstanceStatus};
use faas_gateway::launcher::{OnFailure, start_instance};
use faas_gateway::upstream::{HttpProbe, http_client};
use serde_json::json;

use crate::emu::{JobScenario, Res, ServiceScenario};
use crate::support::{Env, bounded, eventually, labels, spec};

const STARTUP: Duration = Duration::from_secs(20);

async fn ready_env() -> Env {
    Env::start(ServiceScenario::Ready, JobScenario::Complete).await
}

#[tokio::test]
async fn starting_an_instance_creates_the_revision_deployment_and_hands_out_its_new_pod() {
    let env = ready_env().await;
    let client = HttpProbe::new(http_client());
    let s = spec("hello");
    let start = start_instance(
        env.executor.as_ref(),
        &client,
        &s,
        STARTUP,
        OnFailure::Remove,
    );
    let instance = bounded("the start", start)
        .await
        .expect("the instance starts");

    assert!(instance.id.starts_with("faas-hello-r1-"), "{}", instance.id);
    let ip = env.cluster().pod_ip(&instance.id);
    assert_eq!(
        instance.endpoint.to_string(),
        format!("{ip}:{}", env.pod_port),
        "the pod's own IP"
    );
    let echoed: serde_json::Value = reqwest::get(format!("http://{}/hi", instance.endpoint))
        .await
        .expect("the pod answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(echoed["path"], "/hi");
    assert_eq!(echoed["pod"], instance.id.as_str());

    let created = &env.requests("POST", "/apis/apps/v1/namespaces/faas-test/deployments")[0].body;
    assert_eq!(created["metadata"]["name"], "faas-hello-r1");
    assert_eq!(created["metadata"]["labels"], labels("hello", "service"));
    assert_eq!(
        created["spec"]["template"]["metadata"]["labels"],
        labels("hello", "service")
    );
    let c = &created["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "local.test/faas-fn/hello:1");
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(
        c["resources"]["limits"],
        json!({"memory": "64Mi", "cpu": "250m"})
    );
    assert_eq!(
        c["resources"]["requests"],
        json!({"memory": "64Mi", "cpu": "25m"})
    );
    assert_eq!(c["securityContext"]["runAsNonRoot"], true);
    assert_eq!(c["securityContext"]["runAsUser"], 10001);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/_/health");
    assert!(
        c["env"]
            .as_array()
            .expect("env")
            .contains(&json!({"name": "GREETING", "value": "hi"}))
    );

    let service = &env.requests("POST", "/api/v1/namespaces/faas-test/services")[0].body;
    assert_eq!(service["metadata"]["name"], "faas-hello-r1");
    assert_eq!(service["spec"]["type"], "ClusterIP");
    assert_eq!(service["spec"]["selector"], labels("hello", "service"));

    let scaled = env.requests("PATCH", "/deployments/faas-hello-r1");
    assert_eq!(scaled.len(), 1);
    assert_eq!(scaled[0].body["spec"]["replicas"], 1);
    assert_eq!(
        scaled[0].content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(env.replicas("faas-hello-r1"), Some(1));
}

#[tokio::test]
async fn concurrent_starts_each_claim_a_different_pod() {
    let env = ready_env().await;
    let s = spec("hello");
    let starts = (0..8).map(|_| env.executor.start(&s));
    let started = bounded("eight starts", futures::future::join_all(starts)).await;
    let mut ids: Vec<String> = started.into_iter().map(|r| r.expect("starts").id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 8, "{ids:?}");
    assert_eq!(env.replicas("faas-hello-r1"), Some(8));
}

#[tokio::test]
async fn removing_an_instance_marks_its_pod_cheapest_then_drops_a_replica_and_the_pod_goes() {
    let env = ready_env().await;
    let s = spec("hello");
    let keep = bounded("a start", env.executor.start(&s))
        .await
        .expect("starts");
    let gone = bounded("a start", env.executor.start(&s))
        .await
        .expect("starts");

    bounded("the removal", env.executor.remove(&gone.id))
        .await
        .expect("removes");

    let marked = env.requests("PATCH", &format!("/pods/{}", gone.id));
    assert_eq!(
        marked[0].body["metadata"]["annotations"],
        json!({"controller.kubernetes.io/pod-deletion-cost": "-1000"})
    );
    assert_eq!(env.replicas("faas-hello-r1"), Some(1));
    let pods = env.pod_names();
    assert!(!pods.contains(&gone.id), "{pods:?}");
    assert!(
        pods.contains(&keep.id),
        "the ReplicaSet deleted the wrong pod: {pods:?}"
    );
    assert_eq!(
        env.executor.status(&gone.id).await.expect("status"),
        InstanceStatus::Gone
    );
    assert_eq!(
        env.executor.status(&keep.id).await.expect("status"),
        InstanceStatus::Running
    );
}

#[tokio::test]
async fn scaling_to_zero_keeps_the_deployment_and_its_service_for_the_next_start() {
    let env = ready_env().await;
    let s = spec("hello");
    let first = bounded("a start", env.executor.start(&s))
        .await
        .expect("starts");
    env.executor.remove(&first.id).await.expect("removes");

    assert_eq!(env.replicas("faas-hello-r1"), Some(0));
    assert!(
        env.cluster()
            .object(Res::Services, "faas-hello-r1")
            .is_some()
    );
    eventually("the pods to go", || {
        env.pod_names().is_empty().then_some(())
    })
    .await;

    let again = bounded("a start from zero", env.executor.start(&s))
        .await
        .expect("starts");
    assert_ne!(again.id, first.id);
    assert_eq!(env.replicas("faas-hello-r1"), Some(1));
    assert_eq!(
        env.requests("POST", "/deployments").len(),
        1,
        "created once"
    );
}

#[tokio::test]
async fn removing_the_same_instance_twice_drops_only_one_replica() {
    let env = ready_env().await;
    let s = spec("hello");
    let _a = bounded("a start", env.executor.start(&s))
        .await
        .expect("starts");
    let b = bounded("a start", env.executor.start(&s))
        .await
        .expect("starts");
    let (r1, r2) = tokio::join!(env.executor.remove(&b.id), env.executor.remove(&b.id));
    r1.expect("first removal");
    r2.expect("second removal");
    env.executor
        .remove(&b.id)
        .await
        .expect("a removal of a gone pod is fine");
    assert_eq!(env.replicas("faas-hello-r1"), Some(1));
}

#[tokio::test]
async fn a_restarted_gateway_does_not_hand_out_a_pod_it_adopted() {
    let env = ready_env().await;
    let s = spec("hello");
    let before = bounded("a start", env.executor.start(&s))
        .await
        .expect("starts");

    let restarted = env.restarted_executor();
    let found = restarted.list().await.expect("lists");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].instance.id, before.id);
    assert!(found[0].running);
    let after = bounded("a start", restarted.start(&s))
        .await
        .expect("starts");
    assert_ne!(after.id, before.id);
}

#[tokio::test]
async fn a_pod_no_node_can_take_fails_the_start_as_soon_as_the_scheduler_says_so() {
    let env = ready_env().await;
    // Room for less than one pod: each requests a tenth of its 0.25 CPU, 25m.
    env.cluster().settings().node_cpu_millis = 20;
    let err = bounded("the start", env.executor.start(&spec("hello")))
        .await
        .expect_err("nothing starts");
    let ExecutorError::Unschedulable { reason } = &err else {
        panic!("not unschedulable: {err:?}");
    };
    assert!(
        reason.starts_with("0/1 nodes are available: 1 Insufficient cpu."),
        "the scheduler's own words: {reason}"
    );
    assert_eq!(
        env.replicas("faas-hello-r1"),
        Some(0),
        "the replica is given back"
    );
    eventually("the pod to go", || env.pod_names().is_empty().then_some(())).await;
}

#[tokio::test]
async fn pods_request_a_fraction_of_their_cpu_so_a_node_holds_more_of_them() {
    let env = ready_env().await;
    // 100m of CPU: four pods of 0.25 CPU at a 0.1 request (25m) fit; at requests equal to
    // limits (250m) not even one would.
    env.cluster().settings().node_cpu_millis = 100;
    let s = spec("hello");
    let mut started = Vec::new();
    for _ in 0..4 {
        started.push(
            bounded("a start", env.executor.start(&s))
                .await
                .expect("fits"),
        );
    }
    let err = bounded("a fifth", env.executor.start(&s))
        .await
        .expect_err("the node is full");
    assert!(
        matches!(err, ExecutorError::Unschedulable { .. }),
        "{err:?}"
    );
    assert_eq!(env.replicas("faas-hello-r1"), Some(4));
    // Room again: the next start is placed.
    env.executor.remove(&started[0].id).await.expect("removes");
    bounded("a start after room freed", env.executor.start(&s))
        .await
        .expect("placed");
}

#[tokio::test]
async fn a_pod_that_never_starts_fails_at_its_bound_and_gives_the_replica_back() {
    let env = Env::start(ServiceScenario::StuckPending, JobScenario::Complete).await;
    let executor = env
        .restarted_executor()
        .with_start_timeout(Duration::from_millis(300));
    let err = bounded("the start", executor.start(&spec("hello")))
        .await
        .expect_err("nothing starts");
    assert!(
        matches!(&err, ExecutorError::NotStarted { reason } if reason.contains("faas-hello-r1")),
        "not the API server's fault, so no BACKEND_UNAVAILABLE: {err:?}"
    );
    assert_eq!(env.replicas("faas-hello-r1"), Some(0));
}

#[tokio::test]
async fn a_start_abandoned_by_its_caller_gives_its_replica_back() {
    let env = Env::start(ServiceScenario::StuckPending, JobScenario::Complete).await;
    let executor = std::sync::Arc::clone(&env.executor);
    let start = tokio::spawn(async move { executor.start(&spec("hello")).await });
    eventually("the replica to be added", || {
        (env.replicas("faas-hello-r1") == Some(1)).then_some(())
    })
    .await;

    start.abort();

    eventually("the replica to be given back", || {
        (env.replicas("faas-hello-r1") == Some(0)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_revision_whose_pods_carry_another_namespace_label_still_hands_them_out() {
    // A Deployment made before namespaces existed has pods without `faas.namespace`; one
    // made under another label value stands for it: its pods must still be found.
    let env = ready_env().await;
    let mut before = spec("hello");
    before.namespace = "labelled-otherwise".into();
    let first = bounded("a start", env.executor.start(&before))
        .await
        .expect("starts");
    let second = bounded(
        "a start of the same revision",
        env.executor.start(&spec("hello")),
    )
    .await
    .expect("the pod of the existing template is handed out");
    assert_ne!(first.id, second.id);
    assert_eq!(env.replicas("faas-hello-r1"), Some(2));
}
