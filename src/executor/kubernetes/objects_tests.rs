//! The builders checked on the JSON the API server receives.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;

fn spec() -> InstanceSpec {
    InstanceSpec {
        callback: "hello".into(),
        revision: 3,
        image: "registry.test/faas-fn/hello:abc".into(),
        env: BTreeMap::from([
            ("GREETING".into(), "hi".into()),
            ("FAAS_MODE".into(), "service".into()),
        ]),
        memory_mb: 128,
        cpu: 0.5,
        namespace: "team-a".into(),
    }
}

const SHAPE: PodShape<'static> = PodShape {
    gateway_id: "gw1",
    cpu_request: 0.1,
};

fn to_json<T: serde::Serialize>(o: &T) -> Value {
    serde_json::to_value(o).expect("serialisable")
}

fn expected_labels(role: &str) -> Value {
    json!({
        "faas.managed-by": "faas-gateway",
        "faas.gateway": "gw1",
        "faas.callback": "hello",
        "faas.revision": "3",
        "faas.role": role,
        "faas.namespace": "team-a",
    })
}

#[test]
fn a_deployment_is_named_after_the_revision_and_labelled_on_object_and_template() {
    let d = to_json(&deployment(SHAPE, &spec()));
    assert_eq!(d["metadata"]["name"], "faas-hello-r3");
    assert_eq!(d["metadata"]["labels"], expected_labels("service"));
    assert_eq!(
        d["spec"]["selector"]["matchLabels"],
        expected_labels("service")
    );
    assert_eq!(
        d["spec"]["template"]["metadata"]["labels"],
        expected_labels("service")
    );
    assert_eq!(d["spec"]["replicas"], 0);
}

#[test]
fn a_deployment_pod_is_hardened_limited_and_probed() {
    let d = to_json(&deployment(SHAPE, &spec()));
    let pod = &d["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(c["name"], "fn");
    assert_eq!(c["image"], "registry.test/faas-fn/hello:abc");
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(
        c["resources"]["limits"],
        json!({"memory": "128Mi", "cpu": "500m"})
    );
    // All the memory, a tenth of the CPU (FAAS_KUBE_CPU_REQUEST): idle functions do not
    // fill a node, and an OOM kill means the function passed its own limit.
    assert_eq!(
        c["resources"]["requests"],
        json!({"memory": "128Mi", "cpu": "50m"})
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["runAsUser"], 10001);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(
        c["volumeMounts"],
        json!([{"name": "tmp", "mountPath": "/tmp"}])
    );
    assert_eq!(pod["volumes"][0]["name"], "tmp");
    assert!(pod["volumes"][0]["emptyDir"].is_object());
    assert_eq!(
        c["readinessProbe"]["httpGet"],
        json!({"path": "/_/health", "port": 8080})
    );
    assert_eq!(c["ports"][0]["containerPort"], 8080);
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["restartPolicy"], "Always");
}

#[test]
fn the_environment_comes_from_the_spec() {
    let d = to_json(&deployment(SHAPE, &spec()));
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["env"],
        json!([
            {"name": "FAAS_MODE", "value": "service"},
            {"name": "GREETING", "value": "hi"},
        ])
    );
}

#[test]
fn a_service_selects_the_revision_pods_on_port_8080() {
    let s = to_json(&service("gw1", &spec()));
    assert_eq!(s["metadata"]["name"], "faas-hello-r3");
    assert_eq!(s["metadata"]["labels"], expected_labels("service"));
    assert_eq!(s["spec"]["type"], "ClusterIP");
    assert_eq!(s["spec"]["selector"], expected_labels("service"));
    assert_eq!(s["spec"]["ports"][0]["port"], 8080);
    assert_eq!(s["spec"]["ports"][0]["targetPort"], 8080);
}

#[test]
fn a_job_runs_once_within_its_deadline_with_the_event_in_the_environment() {
    let j = to_json(&job(
        SHAPE,
        "faas-hello-job-1",
        &spec(),
        EventSource::Env(r#"{"method":"GET"}"#),
        Duration::from_millis(2500),
    ));
    assert_eq!(j["metadata"]["labels"], expected_labels("job"));
    assert_eq!(j["spec"]["backoffLimit"], 0);
    // Rounded up, plus the second `status.startTime` (whole seconds) may lose.
    assert_eq!(j["spec"]["activeDeadlineSeconds"], 4);
    assert_eq!(j["spec"]["ttlSecondsAfterFinished"], 300);
    let pod = &j["spec"]["template"];
    assert_eq!(pod["metadata"]["labels"], expected_labels("job"));
    assert_eq!(pod["spec"]["restartPolicy"], "Never");
    let env = &pod["spec"]["containers"][0]["env"];
    assert!(
        env.as_array()
            .expect("env")
            .contains(&json!({"name": "FAAS_EVENT", "value": r#"{"method":"GET"}"#}))
    );
    assert!(pod["spec"]["containers"][0]["readinessProbe"].is_null());
}

#[test]
fn a_large_event_is_mounted_from_a_config_map_named_like_the_job() {
    let j = to_json(&job(
        SHAPE,
        "faas-hello-job-1",
        &spec(),
        EventSource::ConfigMap,
        Duration::from_secs(30),
    ));
    let pod = &j["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert!(
        c["env"]
            .as_array()
            .expect("env")
            .contains(&json!({"name": "FAAS_EVENT_FILE", "value": "/faas-event/event.json"}))
    );
    assert!(
        c["volumeMounts"]
            .as_array()
            .expect("mounts")
            .contains(&json!({"name": "event", "mountPath": "/faas-event", "readOnly": true}))
    );
    assert!(
        pod["volumes"]
            .as_array()
            .expect("volumes")
            .contains(&json!({"name": "event", "configMap": {"name": "faas-hello-job-1"}}))
    );
    let cm = to_json(&event_config_map("gw1", "faas-hello-job-1", &spec(), "{}"));
    assert_eq!(cm["metadata"]["name"], "faas-hello-job-1");
    assert_eq!(cm["data"]["event.json"], "{}");
    assert_eq!(cm["metadata"]["labels"], expected_labels("job"));
}

#[test]
fn a_tiny_cpu_share_is_still_a_valid_quantity() {
    let mut s = spec();
    s.cpu = 0.0001;
    let d = to_json(&deployment(SHAPE, &s));
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"],
        "1m"
    );
}

#[test]
fn the_cpu_request_follows_the_configured_fraction() {
    let shape = PodShape {
        cpu_request: 1.0,
        ..SHAPE
    };
    let d = to_json(&deployment(shape, &spec()));
    let r = &d["spec"]["template"]["spec"]["containers"][0]["resources"];
    assert_eq!(r["requests"], r["limits"]);
}
