//! Checks of the manifests in `k8s/` that run the gateway in a cluster (SPEC section 8).
//!
//! Every file is parsed into the typed `k8s-openapi` object its `kind` names. Serde silently
//! drops a field it does not know, so each object is also re-serialised and compared with the
//! YAML it came from: a misspelt or misplaced field shows up as a difference. The other tests
//! check what the gateway relies on: the RBAC verb set its code uses, the probes, the security
//! context, the database volume, the Service and the labels.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use faas_gateway::executor::kubernetes::permissions::PERMISSIONS;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, PersistentVolumeClaim, Service, ServiceAccount,
};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;
use serde_json::Value;

const NAME_LABEL: &str = "app.kubernetes.io/name";
const NAME: &str = "faas-gateway";
const GATEWAY_NAMESPACE: &str = "faas-system";
const FUNCTIONS_NAMESPACE: &str = "faas-functions";

/// One typed object of `k8s/`.
// A few objects parsed once per test: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Object {
    Namespace(Namespace),
    ServiceAccount(ServiceAccount),
    Role(Role),
    RoleBinding(RoleBinding),
    ConfigMap(ConfigMap),
    Deployment(Deployment),
    Service(Service),
    PersistentVolumeClaim(PersistentVolumeClaim),
}

impl Object {
    fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::Namespace(o) => &o.metadata,
            Object::ServiceAccount(o) => &o.metadata,
            Object::Role(o) => &o.metadata,
            Object::RoleBinding(o) => &o.metadata,
            Object::ConfigMap(o) => &o.metadata,
            Object::Deployment(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::PersistentVolumeClaim(o) => &o.metadata,
        }
    }

    fn as_namespace(&self) -> Option<&Namespace> {
        match self {
            Object::Namespace(n) => Some(n),
            _ => None,
        }
    }
}

/// An object and the file it came from.
#[derive(Debug)]
struct Manifest {
    file: String,
    kind: String,
    object: Object,
}

fn k8s_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("k8s")
}

/// The YAML files of `k8s/` that hold objects (the kustomization is not one).
fn manifest_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(k8s_dir())
        .expect("k8s/ is readable")
        .map(|entry| entry.expect("a k8s/ entry is readable").path())
        .filter(|path| {
            let ext = path.extension().and_then(|e| e.to_str());
            let stem = path.file_stem().and_then(|s| s.to_str());
            matches!(ext, Some("yaml" | "yml")) && stem != Some("kustomization")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "k8s/ holds no manifests");
    files
}

/// Every YAML document of `path` as a JSON value tree (empty documents skipped).
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("manifest is readable");
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
        .into_iter()
        .filter(|value| !value.is_null())
        .collect()
}

/// Where `parsed` (the typed object, re-serialised) differs from `original` (the YAML).
fn differences(original: &Value, parsed: &Value, at: &str, out: &mut Vec<String>) {
    match (original, parsed) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let here = format!("{at}.{key}");
                match b.get(key) {
                    Some(other) => differences(value, other, &here, out),
                    None => out.push(format!("{here} is not a field here (dropped when parsed)")),
                }
            }
            for key in b.keys().filter(|key| !a.contains_key(*key)) {
                out.push(format!("{at}.{key} appeared when re-serialised"));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(x, y, &format!("{at}[{i}]"), out);
            }
        }
        _ if original == parsed => {}
        _ => out.push(format!("{at}: {original} was read as {parsed}")),
    }
}

/// Parses `value` as `T` and fails when the typed object does not hold all of it.
fn typed<T: DeserializeOwned + serde::Serialize>(file: &str, value: &Value) -> T {
    let object: T = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("{file}: not a valid object of its kind: {e}"));
    let round_trip = serde_json::to_value(&object).expect("a typed object serialises");
    let mut diffs = Vec::new();
    differences(value, &round_trip, "", &mut diffs);
    assert!(
        diffs.is_empty(),
        "{file}: fields lost or changed by typed parsing (misspelt or misplaced?):\n  {}",
        diffs.join("\n  ")
    );
    object
}

/// Every object of every manifest file, typed by its `kind`.
fn manifests() -> Vec<Manifest> {
    let mut all = Vec::new();
    for path in manifest_files() {
        let file = format!(
            "k8s/{}",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("?")
        );
        for value in documents(&path) {
            let kind = value["kind"].as_str().unwrap_or_default().to_owned();
            let object = match kind.as_str() {
                "Namespace" => Object::Namespace(typed(&file, &value)),
                "ServiceAccount" => Object::ServiceAccount(typed(&file, &value)),
                "Role" => Object::Role(typed(&file, &value)),
                "RoleBinding" => Object::RoleBinding(typed(&file, &value)),
                "ConfigMap" => Object::ConfigMap(typed(&file, &value)),
                "Deployment" => Object::Deployment(typed(&file, &value)),
                "Service" => Object::Service(typed(&file, &value)),
                "PersistentVolumeClaim" => Object::PersistentVolumeClaim(typed(&file, &value)),
                other => panic!("{file}: unexpected kind {other:?}"),
            };
            all.push(Manifest {
                file: file.clone(),
                kind,
                object,
            });
        }
    }
    all
}

/// The only object that `pick` selects; fails unless there is exactly one.
fn only<T>(all: &[Manifest], what: &str, pick: impl Fn(&Object) -> Option<&T>) -> T
where
    T: Clone,
{
    let found: Vec<&T> = all.iter().filter_map(|m| pick(&m.object)).collect();
    assert_eq!(found.len(), 1, "expected exactly one {what} in k8s/");
    found[0].clone()
}

fn deployment(all: &[Manifest]) -> Deployment {
    only(all, "Deployment", |o| match o {
        Object::Deployment(d) => Some(d),
        _ => None,
    })
}

fn gateway_container(deployment: &Deployment) -> Container {
    let pod = deployment
        .spec
        .template
        .spec
        .as_ref()
        .expect("the Deployment has a pod template spec");
    assert_eq!(pod.containers.len(), 1, "one container: the gateway");
    pod.containers[0].clone()
}

/// The container port (name, number) that `port` refers to, by number or by name.
fn resolve_port(container: &Container, port: &IntOrString) -> Option<(Option<String>, i32)> {
    container.ports.iter().flatten().find_map(|p| {
        let matches = match port {
            IntOrString::Int(n) => p.container_port == *n,
            IntOrString::String(name) => p.name.as_deref() == Some(name.as_str()),
        };
        matches.then(|| (p.name.clone(), p.container_port))
    })
}

fn config_map(all: &[Manifest]) -> ConfigMap {
    only(all, "ConfigMap", |o| match o {
        Object::ConfigMap(c) => Some(c),
        _ => None,
    })
}

fn setting(config: &ConfigMap, name: &str) -> String {
    config
        .data
        .as_ref()
        .and_then(|d| d.get(name))
        .unwrap_or_else(|| panic!("the ConfigMap sets {name}"))
        .clone()
}

#[test]
fn every_manifest_parses_into_its_typed_kubernetes_object_without_unknown_fields() {
    let all = manifests();
    let kinds: BTreeSet<&str> = all.iter().map(|m| m.kind.as_str()).collect();
    let wanted: BTreeSet<&str> = [
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "Deployment",
        "Service",
        "PersistentVolumeClaim",
    ]
    .into();
    assert_eq!(kinds, wanted, "the kinds k8s/ declares");
}

#[test]
fn the_round_trip_check_catches_a_misspelt_field() {
    let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  ports: [{port: 80, targetPrt: 8080}]\n";
    let value: Value = serde_saphyr::from_str(yaml).expect("valid YAML");
    let caught = std::panic::catch_unwind(|| typed::<Service>("test.yaml", &value));
    let message = caught
        .expect_err("a misspelt field must fail")
        .downcast::<String>()
        .map(|s| *s)
        .unwrap_or_default();
    assert!(
        message.contains(".spec.ports[0].targetPrt is not a field here"),
        "{message}"
    );
}

#[test]
fn the_kustomization_lists_every_manifest_file_once() {
    let path = k8s_dir().join("kustomization.yaml");
    let docs = documents(&path);
    assert_eq!(docs.len(), 1, "kustomization.yaml is one document");
    assert_eq!(docs[0]["kind"], "Kustomization");
    let listed: Vec<&str> = docs[0]["resources"]
        .as_array()
        .expect("kustomization.yaml lists resources")
        .iter()
        .map(|r| r.as_str().expect("a resource is a file name"))
        .collect();
    let unique: BTreeSet<&str> = listed.iter().copied().collect();
    assert_eq!(
        unique.len(),
        listed.len(),
        "a file is listed twice: {listed:?}"
    );
    let files: BTreeSet<String> = manifest_files()
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .collect();
    let unique: BTreeSet<String> = unique.into_iter().map(str::to_owned).collect();
    assert_eq!(
        unique, files,
        "kustomization resources vs the files in k8s/"
    );
}

#[test]
fn every_object_carries_the_app_name_label_and_each_file_holds_one_kind() {
    let all = manifests();
    for m in &all {
        let labels = m.object.metadata().labels.clone().unwrap_or_default();
        assert_eq!(
            labels.get(NAME_LABEL).map(String::as_str),
            Some(NAME),
            "{} ({} {:?}) lacks {NAME_LABEL}: {NAME}",
            m.file,
            m.kind,
            m.object.metadata().name
        );
    }
    let mut kinds_per_file: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for m in &all {
        kinds_per_file.entry(&m.file).or_default().insert(&m.kind);
    }
    for (file, kinds) in kinds_per_file {
        assert_eq!(kinds.len(), 1, "{file} mixes kinds: {kinds:?}");
    }
}

#[test]
fn the_gateway_and_function_namespaces_exist_and_namespaced_objects_use_them() {
    let all = manifests();
    let namespaces: BTreeSet<String> = all
        .iter()
        .filter_map(|m| m.object.as_namespace()?.metadata.name.clone())
        .collect();
    assert_eq!(
        namespaces,
        [GATEWAY_NAMESPACE, FUNCTIONS_NAMESPACE]
            .map(str::to_owned)
            .into(),
    );
    for m in all.iter().filter(|m| m.object.as_namespace().is_none()) {
        let want = match m.object {
            Object::Role(_) | Object::RoleBinding(_) => FUNCTIONS_NAMESPACE,
            _ => GATEWAY_NAMESPACE,
        };
        assert_eq!(
            m.object.metadata().namespace.as_deref(),
            Some(want),
            "{} ({})",
            m.file,
            m.kind
        );
    }
}

#[test]
fn the_role_binding_binds_the_role_to_the_gateway_service_account() {
    let all = manifests();
    let binding = only(&all, "RoleBinding", |o| match o {
        Object::RoleBinding(b) => Some(b),
        _ => None,
    });
    let role = only(&all, "Role", |o| match o {
        Object::Role(r) => Some(r),
        _ => None,
    });
    let account = only(&all, "ServiceAccount", |o| match o {
        Object::ServiceAccount(a) => Some(a),
        _ => None,
    });
    let deployment = deployment(&all);

    assert_eq!(
        role.metadata.namespace.as_deref(),
        Some(FUNCTIONS_NAMESPACE)
    );
    assert_eq!(
        binding.metadata.namespace, role.metadata.namespace,
        "a RoleBinding grants a Role of its own namespace"
    );
    assert_eq!(binding.role_ref.kind, "Role");
    assert_eq!(
        binding.role_ref.api_group.as_deref(),
        Some("rbac.authorization.k8s.io")
    );
    assert_eq!(Some(&binding.role_ref.name), role.metadata.name.as_ref());

    let subjects = binding.subjects.clone().unwrap_or_default();
    assert_eq!(subjects.len(), 1, "only the gateway is bound: {subjects:?}");
    assert_eq!(subjects[0].kind, "ServiceAccount");
    assert_eq!(Some(&subjects[0].name), account.metadata.name.as_ref());
    assert_eq!(subjects[0].namespace, account.metadata.namespace);
    assert_eq!(
        account.metadata.namespace.as_deref(),
        Some(GATEWAY_NAMESPACE)
    );

    let pod = deployment.spec.template.spec.as_ref().expect("pod spec");
    assert_eq!(
        pod.service_account_name, account.metadata.name,
        "the gateway's pods run as the bound ServiceAccount"
    );
    assert_ne!(pod.automount_service_account_token, Some(false));
}

#[test]
fn the_role_grants_exactly_the_verbs_the_gateway_uses_per_resource() {
    let all = manifests();
    let role = only(&all, "Role", |o| match o {
        Object::Role(r) => Some(r),
        _ => None,
    });
    let mut granted: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for rule in role.rules.iter().flatten() {
        assert!(
            rule.resource_names.is_none() && rule.non_resource_urls.is_none(),
            "rules name resources by type only: {rule:?}"
        );
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                assert!(group != "*" && resource != "*", "no wildcards: {rule:?}");
                granted
                    .entry((group.clone(), resource.clone()))
                    .or_default()
                    .extend(rule.verbs.iter().cloned());
            }
        }
    }
    let expected: BTreeMap<(String, String), BTreeSet<String>> = PERMISSIONS
        .iter()
        .map(|(group, resource, verbs)| {
            (
                ((*group).to_owned(), (*resource).to_owned()),
                verbs.iter().map(|v| (*v).to_owned()).collect(),
            )
        })
        .collect();
    assert_eq!(granted, expected, "(apiGroup, resource) -> verbs");
}

#[test]
fn the_deployment_probes_hit_health_and_ready_on_the_container_port() {
    let all = manifests();
    let container = gateway_container(&deployment(&all));
    for (probe, path) in [
        (&container.liveness_probe, "/health"),
        (&container.readiness_probe, "/ready"),
    ] {
        let get = probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .unwrap_or_else(|| panic!("an HTTP GET probe on {path}"));
        assert_eq!(get.path.as_deref(), Some(path));
        assert_ne!(
            get.scheme.as_deref(),
            Some("HTTPS"),
            "the gateway serves HTTP"
        );
        let (_, port) = resolve_port(&container, &get.port)
            .unwrap_or_else(|| panic!("probe on {path}: {:?} is not a container port", get.port));
        assert_eq!(port, 8000, "probe on {path}");
    }
    let listen = setting(&config_map(&all), "FAAS_LISTEN");
    assert_eq!(
        listen, "0.0.0.0:8000",
        "the probes reach what the gateway listens on"
    );
}

#[test]
fn the_container_runs_non_root_with_a_read_only_root_filesystem_and_no_capabilities() {
    let all = manifests();
    let deployment = deployment(&all);
    let container = gateway_container(&deployment);
    let context = container
        .security_context
        .as_ref()
        .expect("the container has a securityContext");
    assert_eq!(context.run_as_non_root, Some(true));
    assert!(
        context.run_as_user.is_some_and(|uid| uid > 0),
        "a numeric non-root UID"
    );
    assert_eq!(context.read_only_root_filesystem, Some(true));
    assert_eq!(context.allow_privilege_escalation, Some(false));
    assert_ne!(context.privileged, Some(true));
    let capabilities = context.capabilities.as_ref().expect("capabilities");
    assert_eq!(capabilities.drop.as_deref(), Some(&["ALL".to_owned()][..]));
    assert!(capabilities.add.as_ref().is_none_or(Vec::is_empty));
    assert!(
        container.resources.as_ref().is_some_and(|r| {
            r.limits.as_ref().is_some_and(|l| l.contains_key("memory"))
                && r.requests.as_ref().is_some_and(|q| q.contains_key("cpu"))
        }),
        "the container declares requests and a memory limit"
    );
}

#[test]
fn the_deployment_runs_one_replica_replaced_with_recreate_because_of_sqlite() {
    let all = manifests();
    let spec = deployment(&all).spec;
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(
        spec.strategy.and_then(|s| s.type_).as_deref(),
        Some("Recreate")
    );
}

#[test]
fn the_volume_claim_is_mounted_at_the_folder_of_faas_db() {
    let all = manifests();
    let claim = only(&all, "PersistentVolumeClaim", |o| match o {
        Object::PersistentVolumeClaim(c) => Some(c),
        _ => None,
    });
    let claim_spec = claim.spec.as_ref().expect("a claim spec");
    assert_eq!(
        claim_spec.access_modes.as_deref(),
        Some(&["ReadWriteOnce".to_owned()][..])
    );
    let db = setting(&config_map(&all), "FAAS_DB");
    let folder = Path::new(&db)
        .parent()
        .and_then(Path::to_str)
        .expect("FAAS_DB is a file in a folder");
    assert!(Path::new(&db).is_absolute(), "FAAS_DB is absolute: {db}");

    let deployment = deployment(&all);
    let pod = deployment.spec.template.spec.as_ref().expect("pod spec");
    let volume = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| {
            v.persistent_volume_claim.as_ref().map(|c| &c.claim_name)
                == claim.metadata.name.as_ref()
        })
        .expect("a pod volume from the claim");
    let mount = gateway_container(&deployment)
        .volume_mounts
        .into_iter()
        .flatten()
        .find(|m| m.name == volume.name)
        .expect("the gateway mounts the claim's volume");
    assert_eq!(mount.mount_path, folder, "the claim holds FAAS_DB={db}");
    assert_ne!(mount.read_only, Some(true));
    assert!(mount.sub_path.is_none());
}

#[test]
fn the_service_targets_the_container_port_and_selects_the_gateway_pods() {
    let all = manifests();
    let service = only(&all, "Service", |o| match o {
        Object::Service(s) => Some(s),
        _ => None,
    });
    let deployment = deployment(&all);
    let container = gateway_container(&deployment);
    let spec = service.spec.as_ref().expect("a Service spec");
    assert_eq!(spec.type_.as_deref().unwrap_or("ClusterIP"), "ClusterIP");
    let ports = spec.ports.clone().unwrap_or_default();
    assert_eq!(ports.len(), 1, "one port");
    assert_eq!(ports[0].port, 8000);
    let target = ports[0]
        .target_port
        .clone()
        .unwrap_or(IntOrString::Int(ports[0].port));
    let (_, port) = resolve_port(&container, &target)
        .unwrap_or_else(|| panic!("targetPort {target:?} is not a container port"));
    assert_eq!(port, 8000);

    let selector = spec.selector.clone().unwrap_or_default();
    assert!(!selector.is_empty(), "the Service selects pods");
    let dspec = &deployment.spec;
    let pod_labels = dspec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    for (key, value) in &selector {
        assert_eq!(
            pod_labels.get(key),
            Some(value),
            "Service selector {key}={value}"
        );
    }
    for (key, value) in dspec.selector.match_labels.iter().flatten() {
        assert_eq!(
            pod_labels.get(key),
            Some(value),
            "Deployment selector {key}={value}"
        );
    }
}

#[test]
fn the_settings_come_from_the_config_map_and_the_tokens_from_an_optional_secret() {
    let all = manifests();
    let config = config_map(&all);
    for (name, value) in [
        ("FAAS_LISTEN", "0.0.0.0:8000"),
        ("FAAS_DB", "/data/faas.db"),
        ("FAAS_BACKEND", "kubernetes"),
        ("FAAS_KUBE_NAMESPACE", FUNCTIONS_NAMESPACE),
        ("FAAS_LOG_FORMAT", "json"),
        ("FAAS_KUBE_CPU_REQUEST", "0.1"),
    ] {
        assert_eq!(setting(&config, name), value, "{name}");
    }
    assert!(!setting(&config, "FAAS_REGISTRY").is_empty());

    let container = gateway_container(&deployment(&all));
    let from_config = container
        .env_from
        .iter()
        .flatten()
        .filter_map(|e| e.config_map_ref.as_ref())
        .any(|c| Some(&c.name) == config.metadata.name.as_ref());
    assert!(from_config, "envFrom the ConfigMap");
    for name in ["FAAS_ADMIN_TOKEN", "FAAS_INVOKE_TOKEN"] {
        let var = container
            .env
            .iter()
            .flatten()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("{name} is set from the Secret"));
        assert!(var.value.is_none(), "{name} is not written in the manifest");
        let key = var
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref())
            .unwrap_or_else(|| panic!("{name} comes from a secretKeyRef"));
        assert_eq!(key.name, "faas-gateway-tokens", "{name}");
        assert_eq!(key.optional, Some(true), "{name}");
    }
    let data = config.data.unwrap_or_default();
    assert!(
        !data.keys().any(|k| k.contains("TOKEN")),
        "no token in the ConfigMap"
    );
}
