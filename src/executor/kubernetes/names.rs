//! Names and labels of what the gateway creates: `faas-<path>-r<rev>` per revision, and the
//! labels of SPEC 5 by which the gateway finds its own objects again.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::executor::{
    CALLBACK_LABEL, GATEWAY_LABEL, InstanceSpec, MANAGED_BY_LABEL, MANAGED_BY_VALUE,
    NAMESPACE_LABEL, REVISION_LABEL, ROLE_LABEL,
};

/// Longest name for a Service or a Job (a DNS label, and a Job's name is a label value).
const MAX_NAME: usize = 63;

/// What a pod is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Service,
    Job,
}

impl Role {
    /// Value of the `faas.role` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Service => "service",
            Role::Job => "job",
        }
    }
}

/// Name of a revision's Deployment and Service: `faas-<path>-r<rev>`, shortened with a hash
/// when a long path would pass 63 characters.
pub fn deployment_name(callback: &str, revision: u64) -> String {
    fit(&format!("faas-{callback}"), &format!("-r{revision}"))
}

/// Name of one job run: `faas-<path>-job-<suffix>`, shortened like [`deployment_name`].
pub fn job_name(callback: &str, suffix: &str) -> String {
    fit(&format!("faas-{callback}"), &format!("-job-{suffix}"))
}

fn fit(base: &str, tail: &str) -> String {
    if base.len() + tail.len() <= MAX_NAME {
        return format!("{base}{tail}");
    }
    let hash = &hex::encode(Sha256::digest(base.as_bytes()))[..6];
    // Names are ASCII (the path is a DNS label), so byte slicing is safe.
    let keep = MAX_NAME - tail.len() - hash.len() - 1;
    format!("{}-{hash}{tail}", base[..keep].trim_end_matches('-'))
}

/// The labels of SPEC 5 and 10 on an object of `spec`'s revision.
pub fn labels(gateway_id: &str, spec: &InstanceSpec, role: Role) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY_LABEL.into(), MANAGED_BY_VALUE.into()),
        (GATEWAY_LABEL.into(), gateway_id.into()),
        (CALLBACK_LABEL.into(), spec.callback.clone()),
        (REVISION_LABEL.into(), spec.revision.to_string()),
        (ROLE_LABEL.into(), role.as_str().into()),
        (NAMESPACE_LABEL.into(), spec.namespace.clone()),
    ])
}

/// A label selector (`k=v,…`) matching exactly `labels`.
pub fn selector(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The selector of every pod of one gateway.
pub fn gateway_selector(gateway_id: &str) -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{GATEWAY_LABEL}={gateway_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_paths_are_shortened_to_a_valid_name_that_stays_distinct() {
        let long = "a".repeat(63);
        let other = format!("{}b", "a".repeat(62));
        let a = deployment_name(&long, 12);
        let b = deployment_name(&other, 12);
        assert!(a.len() <= 63, "{a}");
        assert!(a.ends_with("-r12"), "{a}");
        assert_ne!(a, b);
        assert!(job_name(&long, "0123abcd").len() <= 63);
        assert_eq!(deployment_name("hello", 1), "faas-hello-r1");
    }
}
