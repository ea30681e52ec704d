//! Namespaces (SPEC 10): who owns which callbacks, with what quota. Names, quotas and usage,
//! the refusal a quota gives, and the scope a caller may see.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::spec::{FieldErrors, whole_number};

/// The namespace every callback belongs to unless its deploy names another. It always
/// exists, has no tokens and no quota.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Largest value a quota field takes.
pub const MAX_QUOTA: u64 = i32::MAX as u64;

static NAME_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(super::deploy_rules::DNS_LABEL).unwrap_or_else(|e| panic!("static regex: {e}"))
});

/// Whether `name` is a valid namespace name (a DNS label, like a callback's path).
pub fn valid_namespace_name(name: &str) -> bool {
    NAME_RE.is_match(name)
}

/// Why a namespace name is refused, for `details.fields`.
pub const NAME_RULE: &str = "must be a DNS label: lower-case letters, digits and '-', starting with a letter, at most 63 characters";

/// What a namespace may use at most; a limit that is absent is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Quota {
    /// Callbacks it may own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 2147483647, nullable = false)]
    pub max_callbacks: Option<u64>,
    /// Instances (containers, pods, running jobs) of its callbacks at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 2147483647, nullable = false)]
    pub max_instances: Option<u64>,
    /// Memory of those instances together, in MB; also bounds one revision's
    /// `max_instances × memory_mb` at deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 2147483647, nullable = false)]
    pub max_memory_mb: Option<u64>,
}

/// What a namespace uses now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    pub callbacks: u64,
    /// Instances starting, running or paused, and jobs running.
    pub instances: u64,
    pub memory_mb: u64,
}

/// One field of a [`Quota`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaField {
    MaxCallbacks,
    MaxInstances,
    MaxMemoryMb,
}

impl QuotaField {
    /// Every field, in the order of the API.
    pub const ALL: [QuotaField; 3] = [
        QuotaField::MaxCallbacks,
        QuotaField::MaxInstances,
        QuotaField::MaxMemoryMb,
    ];

    /// The field's name in the API (`max_instances`).
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaField::MaxCallbacks => "max_callbacks",
            QuotaField::MaxInstances => "max_instances",
            QuotaField::MaxMemoryMb => "max_memory_mb",
        }
    }

    /// The usage it bounds, as the metrics name it (`instances`).
    pub fn resource(self) -> &'static str {
        match self {
            QuotaField::MaxCallbacks => "callbacks",
            QuotaField::MaxInstances => "instances",
            QuotaField::MaxMemoryMb => "memory_mb",
        }
    }

    /// The limit `quota` sets on this field.
    pub fn limit(self, quota: &Quota) -> Option<u64> {
        match self {
            QuotaField::MaxCallbacks => quota.max_callbacks,
            QuotaField::MaxInstances => quota.max_instances,
            QuotaField::MaxMemoryMb => quota.max_memory_mb,
        }
    }

    /// What `usage` counts against this field.
    pub fn used(self, usage: &Usage) -> u64 {
        match self {
            QuotaField::MaxCallbacks => usage.callbacks,
            QuotaField::MaxInstances => usage.instances,
            QuotaField::MaxMemoryMb => usage.memory_mb,
        }
    }

    fn slot(self, quota: &mut Quota) -> &mut Option<u64> {
        match self {
            QuotaField::MaxCallbacks => &mut quota.max_callbacks,
            QuotaField::MaxInstances => &mut quota.max_instances,
            QuotaField::MaxMemoryMb => &mut quota.max_memory_mb,
        }
    }
}

/// A refusal: taking `requested` more would put `namespace` over one of its limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "namespace {namespace} is at its {} quota: {used} of {limit} used, {requested} more asked for; \
     free some, or ask for a higher quota",
    quota.as_str()
)]
pub struct QuotaExceeded {
    pub namespace: String,
    pub quota: QuotaField,
    pub limit: u64,
    pub used: u64,
    pub requested: u64,
}

impl QuotaExceeded {
    /// The contract's `details`: `{"quota", "limit", "used", "requested"}`.
    pub fn details(&self) -> Value {
        serde_json::json!({
            "quota": self.quota.as_str(),
            "limit": self.limit,
            "used": self.used,
            "requested": self.requested,
        })
    }
}

/// Checks that `requested` more of `field` fits `quota` given `used`.
pub fn fits(
    namespace: &str,
    quota: &Quota,
    field: QuotaField,
    used: u64,
    requested: u64,
) -> Result<(), QuotaExceeded> {
    match field.limit(quota) {
        Some(limit) if used.saturating_add(requested) > limit => Err(QuotaExceeded {
            namespace: namespace.to_owned(),
            quota: field,
            limit,
            used,
            requested,
        }),
        _ => Ok(()),
    }
}

/// Which callbacks a caller may see and act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace's (the gateway-wide admin, or an open gateway).
    All,
    /// Those of one namespace (a namespace's token).
    Namespace(String),
}

impl Scope {
    /// Whether a callback of `namespace` is visible in this scope.
    pub fn sees(&self, namespace: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Namespace(own) => own == namespace,
        }
    }

    /// The one namespace this scope is limited to.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Scope::All => None,
            Scope::Namespace(own) => Some(own),
        }
    }
}

/// A namespace as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NamespaceView {
    pub name: String,
    pub quota: Quota,
    pub usage: Usage,
    pub created_at: DateTime<Utc>,
}

/// A namespace's bearer tokens, shown once (at creation and rotation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NamespaceTokens {
    /// Manages the namespace's callbacks and invocations, and calls them.
    pub admin: String,
    /// Calls the namespace's callbacks.
    pub invoke: String,
}

/// A namespace with its new tokens: the answer to its creation and to a rotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NamespaceCreated {
    #[serde(flatten)]
    pub namespace: NamespaceView,
    pub tokens: NamespaceTokens,
}

/// A `POST /namespaces` body, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNamespace {
    pub name: String,
    pub quota: Quota,
}

/// Why a namespace body was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum NamespaceBodyError {
    /// Not a JSON object.
    NotAnObject,
    /// Fields are wrong (`details.fields`).
    Fields(FieldErrors),
}

/// Parses a `POST /namespaces` body: `{"name", "quota"?}`.
pub fn parse_new_namespace(body: &Value) -> Result<NewNamespace, NamespaceBodyError> {
    let obj = body.as_object().ok_or(NamespaceBodyError::NotAnObject)?;
    let mut errors = FieldErrors::new();
    unknown_fields(obj, &["name", "quota"], "", &mut errors);
    let name = match obj.get("name") {
        Some(Value::String(n)) if valid_namespace_name(n) => Some(n.clone()),
        Some(Value::String(_)) => fail(&mut errors, "name", NAME_RULE),
        Some(_) => fail(&mut errors, "name", "must be a string"),
        None => fail(&mut errors, "name", "is required"),
    };
    let mut quota = Quota::default();
    match obj.get("quota") {
        None | Some(Value::Null) => {}
        Some(Value::Object(q)) => apply_quota(&mut quota, q, &mut errors),
        Some(_) => {
            fail::<()>(&mut errors, "quota", "must be an object of limits");
        }
    }
    match name {
        Some(name) if errors.is_empty() => Ok(NewNamespace { name, quota }),
        _ => Err(NamespaceBodyError::Fields(errors)),
    }
}

/// Applies a `PATCH /namespaces/<name>` body (`{"quota": {...}}`) to `current`, as a JSON
/// merge patch: a field given sets its limit, `null` lifts it, an absent one stays.
pub fn patch_quota(current: &Quota, body: &Value) -> Result<Quota, NamespaceBodyError> {
    let obj = body.as_object().ok_or(NamespaceBodyError::NotAnObject)?;
    let mut errors = FieldErrors::new();
    unknown_fields(obj, &["quota"], "", &mut errors);
    let mut quota = *current;
    match obj.get("quota") {
        Some(Value::Object(q)) => apply_quota(&mut quota, q, &mut errors),
        None => {
            fail::<()>(&mut errors, "quota", "is required");
        }
        Some(_) => {
            fail::<()>(&mut errors, "quota", "must be an object of limits");
        }
    }
    if errors.is_empty() {
        Ok(quota)
    } else {
        Err(NamespaceBodyError::Fields(errors))
    }
}

fn apply_quota(quota: &mut Quota, given: &Map<String, Value>, errors: &mut FieldErrors) {
    let names: Vec<&str> = QuotaField::ALL.iter().map(|f| f.as_str()).collect();
    unknown_fields(given, &names, "quota.", errors);
    for field in QuotaField::ALL {
        let key = format!("quota.{}", field.as_str());
        match given.get(field.as_str()) {
            None => {}
            Some(Value::Null) => *field.slot(quota) = None,
            Some(v) => match whole_number(v) {
                Some(n) if n <= MAX_QUOTA => *field.slot(quota) = Some(n),
                _ if v.is_number() => {
                    fail::<()>(
                        errors,
                        &key,
                        &format!("must be an integer in 0..={MAX_QUOTA}"),
                    );
                }
                _ => {
                    fail::<()>(errors, &key, "must be an integer, or null for no limit");
                }
            },
        }
    }
}

fn unknown_fields(
    obj: &Map<String, Value>,
    known: &[&str],
    prefix: &str,
    errors: &mut FieldErrors,
) {
    for key in obj.keys() {
        if !known.contains(&key.as_str()) {
            fail::<()>(errors, &format!("{prefix}{key}"), "unknown field");
        }
    }
}

fn fail<T>(errors: &mut FieldErrors, field: &str, reason: &str) -> Option<T> {
    errors
        .entry(field.to_owned())
        .or_insert_with(|| reason.to_owned());
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(r: Result<impl std::fmt::Debug, NamespaceBodyError>) -> FieldErrors {
        match r {
            Err(NamespaceBodyError::Fields(f)) => f,
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    #[test]
    fn a_new_namespace_needs_a_dns_label_and_takes_optional_limits() {
        let ns = parse_new_namespace(&json!({"name": "team-a", "quota": {"max_callbacks": 3}}))
            .expect("valid");
        assert_eq!(ns.name, "team-a");
        assert_eq!(ns.quota.max_callbacks, Some(3));
        assert_eq!(ns.quota.max_instances, None);
        let bare = parse_new_namespace(&json!({"name": "b"})).expect("valid");
        assert_eq!(bare.quota, Quota::default());
        let f = fields(parse_new_namespace(&json!({
            "name": "Team_A", "quota": {"max_instances": -1, "max_memory_mb": "x", "cpus": 1}, "x": 1
        })));
        for key in [
            "name",
            "quota.max_instances",
            "quota.max_memory_mb",
            "quota.cpus",
            "x",
        ] {
            assert!(f.contains_key(key), "{key}: {f:?}");
        }
        assert_eq!(
            parse_new_namespace(&json!([1])),
            Err(NamespaceBodyError::NotAnObject)
        );
    }

    #[test]
    fn a_quota_patch_sets_lifts_or_keeps_each_limit() {
        let current = Quota {
            max_callbacks: Some(5),
            max_instances: Some(10),
            max_memory_mb: Some(1024),
        };
        let q = patch_quota(
            &current,
            &json!({"quota": {"max_callbacks": 7, "max_instances": null}}),
        )
        .expect("valid");
        assert_eq!(q.max_callbacks, Some(7));
        assert_eq!(q.max_instances, None);
        assert_eq!(q.max_memory_mb, Some(1024));
        let whole = patch_quota(&current, &json!({"quota": {"max_callbacks": 3.0}}));
        assert_eq!(whole.expect("3.0 is a whole number").max_callbacks, Some(3));
        let f = fields(patch_quota(
            &current,
            &json!({"quota": {"max_callbacks": 1.5}}),
        ));
        assert!(f.contains_key("quota.max_callbacks"), "{f:?}");
        let f = fields(patch_quota(&current, &json!({})));
        assert!(f.contains_key("quota"), "{f:?}");
    }

    #[test]
    fn a_limit_refuses_what_would_pass_it_and_says_by_how_much() {
        let quota = Quota {
            max_instances: Some(4),
            ..Quota::default()
        };
        assert!(fits("a", &quota, QuotaField::MaxInstances, 3, 1).is_ok());
        let e = fits("a", &quota, QuotaField::MaxInstances, 4, 1).expect_err("over");
        assert_eq!(
            e.details(),
            json!({"quota": "max_instances", "limit": 4, "used": 4, "requested": 1})
        );
        assert!(fits("a", &quota, QuotaField::MaxMemoryMb, 1 << 40, 1).is_ok());
    }

    #[test]
    fn a_namespace_scope_sees_only_its_own() {
        assert!(Scope::All.sees("x"));
        let own = Scope::Namespace("a".into());
        assert!(own.sees("a"));
        assert!(!own.sees("b"));
        assert_eq!(own.namespace(), Some("a"));
    }
}
