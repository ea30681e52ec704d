//! The Kubernetes API calls the gateway makes, as RBAC permissions: the one table that
//! `k8s/role.yaml` grants (checked by `tests/manifests.rs`) and that the code here uses
//! (checked below, from the sources).

/// `(API group, resource, verbs)` the gateway uses in the functions' namespace.
pub const PERMISSIONS: &[(&str, &str, &[&str])] = &[
    // The revision's Deployment: created on its first start, read and patched to change its
    // replicas, listed and deleted when a revision retires.
    (
        "apps",
        "deployments",
        &["create", "get", "list", "patch", "delete"],
    ),
    // The revision's ClusterIP Service: created with its Deployment, deleted with it.
    ("", "services", &["create", "delete"]),
    // Instances: watched as they start and die, read for their state, listed to re-adopt
    // them, patched with the deletion-cost mark before a scale-down, deleted.
    ("", "pods", &["get", "list", "watch", "patch", "delete"]),
    // `GET /callbacks/<path>/logs` and the output tail of a crash.
    ("", "pods/log", &["get"]),
    // Job mode: one Job per call, watched to its end, read once, deleted.
    (
        "batch",
        "jobs",
        &["create", "get", "list", "watch", "delete"],
    ),
    // A large job event, mounted from a ConfigMap named like its Job.
    ("", "configmaps", &["create", "delete"]),
];

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::PERMISSIONS;

    /// The resource behind each accessor of `KubeExecutor`, and the Api type of its handles.
    const ACCESSORS: [(&str, &str, &str); 5] = [
        ("pods()", "pods", "Api<Pod>"),
        ("deployments()", "deployments", "Api<Deployment>"),
        ("services()", "services", "Api<Service>"),
        ("jobs()", "jobs", "Api<Job>"),
        ("config_maps()", "configmaps", "Api<ConfigMap>"),
    ];

    /// The verb an `Api` method is.
    fn verb(method: &str) -> Option<&'static str> {
        Some(match method {
            "create" => "create",
            "get" | "get_opt" => "get",
            "list" => "list",
            "patch" => "patch",
            "delete" => "delete",
            _ => return None,
        })
    }

    /// `(resource, verb)` of every API call in the executor's sources: calls on an accessor
    /// (`self.pods().delete(`), on a handle bound to one (`let api = self.pods();`, a
    /// parameter `api: &Api<Deployment>`), watchers (`watcher(self.jobs()`: list and watch)
    /// and log reads (`.logs(`).
    fn used() -> BTreeSet<(String, String)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/executor/kubernetes");
        let mut found = BTreeSet::new();
        // A chained call split over lines (`self.deployments()\n    .delete(`) is one.
        let split_chain = regex::Regex::new(r"\)\s*\n\s*\.").expect("a pattern");
        for entry in std::fs::read_dir(dir).expect("the executor's sources") {
            let path = entry.expect("an entry").path();
            let raw = std::fs::read_to_string(&path).expect("a source");
            let text = split_chain.replace_all(&raw, ").");
            let mut handles: BTreeMap<String, &str> = BTreeMap::new();
            for line in text.lines() {
                for (accessor, resource, api_type) in ACCESSORS {
                    // Handles: `let api = self.pods();`, `api: &Api<Deployment>`, `jobs: kube::Api<Job>`.
                    if let Some((name, _)) = line
                        .trim()
                        .strip_prefix("let ")
                        .and_then(|l| l.split_once(&format!(" = self.{accessor};")))
                    {
                        handles.insert(name.trim().to_owned(), resource);
                    }
                    if let Some((name, _)) = line.split_once(&format!(": &{api_type}")) {
                        handles
                            .insert(name.trim().trim_start_matches("api: ").to_owned(), resource);
                    }
                    if line.contains(&format!("watcher(self.{accessor}")) {
                        found.insert((resource.to_owned(), "list".to_owned()));
                        found.insert((resource.to_owned(), "watch".to_owned()));
                    }
                    for (i, _) in line.match_indices(&format!("self.{accessor}.")) {
                        let rest = &line[i + accessor.len() + 6..];
                        let method: String = rest
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        if method == "logs" {
                            found.insert(("pods/log".to_owned(), "get".to_owned()));
                        } else if let Some(v) = verb(&method) {
                            found.insert((resource.to_owned(), v.to_owned()));
                        }
                    }
                }
                for (name, resource) in &handles {
                    for (i, _) in line.match_indices(&format!("{name}.")) {
                        let before = line[..i].chars().last();
                        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                        {
                            continue;
                        }
                        let rest = &line[i + name.len() + 1..];
                        let method: String = rest
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        if let Some(v) = verb(&method) {
                            found.insert(((*resource).to_owned(), v.to_owned()));
                        }
                    }
                }
            }
        }
        found
    }

    fn table() -> BTreeSet<(String, String)> {
        PERMISSIONS
            .iter()
            .flat_map(|(_, resource, verbs)| {
                verbs
                    .iter()
                    .map(|v| ((*resource).to_owned(), (*v).to_owned()))
            })
            .collect()
    }

    #[test]
    fn the_table_lists_exactly_the_calls_the_executor_makes() {
        let (used, table) = (used(), table());
        let missing: Vec<_> = used.difference(&table).collect();
        assert!(
            missing.is_empty(),
            "the code calls but the table does not grant: {missing:?}"
        );
        let unused: Vec<_> = table.difference(&used).collect();
        assert!(
            unused.is_empty(),
            "the table grants but the code never calls: {unused:?}"
        );
    }
}
