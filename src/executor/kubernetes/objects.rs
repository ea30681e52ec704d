//! Pure builders of the objects the gateway creates (SPEC 8): per revision a Deployment and a
//! ClusterIP Service; per job-mode call a Job (and a ConfigMap for a large event). Every object
//! and pod template carries the labels of SPEC 5 (`names.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource,
    EnvVar, HTTPGetAction, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SeccompProfile, SecurityContext, Service, ServicePort, ServiceSpec,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::names::{Role, deployment_name, labels};
use crate::executor::InstanceSpec;

/// Name of the function's container in every pod.
pub const CONTAINER: &str = "fn";
/// Port the runtime listens on (`$PORT`).
pub const RUNTIME_PORT: u16 = 8080;
/// Annotation that tells the ReplicaSet controller which pod to delete first on a scale-down.
pub const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";
/// Its value on a pod the gateway is removing.
pub const DELETION_COST_REMOVE: &str = "-1000";
/// Folder where a large job event's ConfigMap is mounted.
pub const EVENT_DIR: &str = "/faas-event";
/// Key (and file name) of the event in that ConfigMap.
pub const EVENT_KEY: &str = "event.json";
/// How long a finished Job stays for inspection before Kubernetes deletes it (the gateway
/// deletes its own at once; this catches those a crash left behind).
const JOB_TTL_S: i32 = 300;
/// The user the runtime runs as (SPEC 4: non-root), as on Docker.
const RUN_AS: i64 = 10001;

/// How a job receives its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSource<'a> {
    /// In `FAAS_EVENT`.
    Env(&'a str),
    /// In a file from the ConfigMap of the Job's name, named by `FAAS_EVENT_FILE`.
    ConfigMap,
}

/// What every pod of this gateway shares besides the revision's own settings.
#[derive(Debug, Clone, Copy)]
pub struct PodShape<'a> {
    /// Value of the `faas.gateway` label.
    pub gateway_id: &'a str,
    /// A pod's CPU request as a fraction of its CPU limit (`FAAS_KUBE_CPU_REQUEST`).
    pub cpu_request: f64,
}

/// The revision's Deployment, created with no replicas: the gateway scales it itself.
pub fn deployment(shape: PodShape<'_>, spec: &InstanceSpec) -> Deployment {
    let labels = labels(shape.gateway_id, spec, Role::Service);
    let mut container = container(spec, spec_env(spec), shape.cpu_request);
    container.ports = Some(vec![ContainerPort {
        name: Some("http".into()),
        container_port: i32::from(RUNTIME_PORT),
        ..Default::default()
    }]);
    container.readiness_probe = Some(Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/_/health".into()),
            port: IntOrString::Int(i32::from(RUNTIME_PORT)),
            ..Default::default()
        }),
        period_seconds: Some(1),
        timeout_seconds: Some(1),
        failure_threshold: Some(3),
        ..Default::default()
    });
    Deployment {
        metadata: meta(deployment_name(&spec.callback, spec.revision), &labels),
        spec: DeploymentSpec {
            replicas: Some(0),
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                ..Default::default()
            },
            // Each revision has its own Deployment whose template never changes: no history.
            revision_history_limit: Some(0),
            template: template(&labels, container, "Always", Vec::new()),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The revision's ClusterIP Service (port 8080), for in-cluster clients and tooling; the
/// gateway itself dials pod IPs.
pub fn service(gateway_id: &str, spec: &InstanceSpec) -> Service {
    let labels = labels(gateway_id, spec, Role::Service);
    Service {
        metadata: meta(deployment_name(&spec.callback, spec.revision), &labels),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(labels),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: i32::from(RUNTIME_PORT),
                target_port: Some(IntOrString::Int(i32::from(RUNTIME_PORT))),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One job run: never retried, killed at `timeout`, its result in the termination message.
pub fn job(
    shape: PodShape<'_>,
    name: &str,
    spec: &InstanceSpec,
    event: EventSource<'_>,
    timeout: Duration,
) -> Job {
    let labels = labels(shape.gateway_id, spec, Role::Job);
    let mut env = spec_env(spec);
    let mut volumes = Vec::new();
    match event {
        EventSource::Env(event) => env.push(env_var("FAAS_EVENT", event)),
        EventSource::ConfigMap => {
            env.push(env_var(
                "FAAS_EVENT_FILE",
                &format!("{EVENT_DIR}/{EVENT_KEY}"),
            ));
            volumes.push(Volume {
                name: "event".into(),
                config_map: Some(ConfigMapVolumeSource {
                    name: name.into(),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
    }
    let mut container = container(spec, env, shape.cpu_request);
    if event == EventSource::ConfigMap {
        container
            .volume_mounts
            .get_or_insert_with(Vec::new)
            .push(VolumeMount {
                name: "event".into(),
                mount_path: EVENT_DIR.into(),
                read_only: Some(true),
                ..Default::default()
            });
    }
    // Whole seconds, rounded up, plus one: the Job controller counts from `status.startTime`,
    // which is cut to the second, so a job is never killed before `timeout`.
    let deadline = i64::try_from(timeout.as_millis().div_ceil(1000))
        .unwrap_or(i64::MAX)
        .saturating_add(1);
    Job {
        metadata: meta(name.into(), &labels),
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            active_deadline_seconds: Some(deadline),
            ttl_seconds_after_finished: Some(JOB_TTL_S),
            template: template(&labels, container, "Never", volumes),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The ConfigMap holding an event too large for the environment; named like its Job.
pub fn event_config_map(
    gateway_id: &str,
    name: &str,
    spec: &InstanceSpec,
    event: &str,
) -> ConfigMap {
    ConfigMap {
        metadata: meta(name.into(), &labels(gateway_id, spec, Role::Job)),
        data: Some(BTreeMap::from([(EVENT_KEY.into(), event.into())])),
        ..Default::default()
    }
}

fn meta(name: String, labels: &BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        labels: Some(labels.clone()),
        ..Default::default()
    }
}

fn template(
    labels: &BTreeMap<String, String>,
    container: Container,
    restart_policy: &str,
    mut volumes: Vec<Volume>,
) -> PodTemplateSpec {
    volumes.push(Volume {
        name: "tmp".into(),
        empty_dir: Some(EmptyDirVolumeSource {
            size_limit: Some(Quantity("64Mi".into())),
            ..Default::default()
        }),
        ..Default::default()
    });
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels.clone()),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![container],
            restart_policy: Some(restart_policy.into()),
            // A function has no business talking to the Kubernetes API.
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(RUN_AS),
                run_as_group: Some(RUN_AS),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            volumes: Some(volumes),
            ..Default::default()
        }),
    }
}

/// Millicores, at least 1m (the API rejects a zero CPU quantity).
fn millicores(cpu: f64) -> Quantity {
    Quantity(format!("{}m", ((cpu * 1000.0).round() as u64).max(1)))
}

fn container(spec: &InstanceSpec, env: Vec<EnvVar>, cpu_request: f64) -> Container {
    let memory = Quantity(format!("{}Mi", spec.memory_mb));
    let limits = BTreeMap::from([
        ("memory".to_owned(), memory.clone()),
        ("cpu".to_owned(), millicores(spec.cpu)),
    ]);
    // Memory is requested in full, so an OOM kill means the function passed its own limit;
    // CPU only in part, so functions that idle most of the time do not fill a node.
    let requests = BTreeMap::from([
        ("memory".to_owned(), memory),
        ("cpu".to_owned(), millicores(spec.cpu * cpu_request)),
    ]);
    Container {
        name: CONTAINER.into(),
        image: Some(spec.image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        env: Some(env),
        resources: Some(ResourceRequirements {
            requests: Some(requests),
            limits: Some(limits),
            ..Default::default()
        }),
        security_context: Some(SecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(RUN_AS),
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Default::default()
            }),
            read_only_root_filesystem: Some(true),
            ..Default::default()
        }),
        termination_message_policy: Some("File".into()),
        volume_mounts: Some(vec![VolumeMount {
            name: "tmp".into(),
            mount_path: "/tmp".into(),
            ..Default::default()
        }]),
        ..Default::default()
    }
}

fn spec_env(spec: &InstanceSpec) -> Vec<EnvVar> {
    spec.env.iter().map(|(k, v)| env_var(k, v)).collect()
}

fn env_var(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..Default::default()
    }
}

#[cfg(test)]
#[path = "objects_tests.rs"]
mod tests;
