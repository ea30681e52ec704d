//! The emulated API server's storage: objects by resource and name, a global resourceVersion,
//! and the log of every change that watches replay from a resourceVersion.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// The resources the executor uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Res {
    Pods,
    Services,
    ConfigMaps,
    Deployments,
    Jobs,
}

impl Res {
    pub fn parse(plural: &str) -> Option<Res> {
        Some(match plural {
            "pods" => Res::Pods,
            "services" => Res::Services,
            "configmaps" => Res::ConfigMaps,
            "deployments" => Res::Deployments,
            "jobs" => Res::Jobs,
            _ => return None,
        })
    }

    pub fn plural(self) -> &'static str {
        match self {
            Res::Pods => "pods",
            Res::Services => "services",
            Res::ConfigMaps => "configmaps",
            Res::Deployments => "deployments",
            Res::Jobs => "jobs",
        }
    }

    /// `(apiVersion, kind)` of one object.
    pub fn kind(self) -> (&'static str, &'static str) {
        match self {
            Res::Pods => ("v1", "Pod"),
            Res::Services => ("v1", "Service"),
            Res::ConfigMaps => ("v1", "ConfigMap"),
            Res::Deployments => ("apps/v1", "Deployment"),
            Res::Jobs => ("batch/v1", "Job"),
        }
    }

    /// The API group, as error messages name it (`jobs.batch`).
    pub fn group(self) -> &'static str {
        match self {
            Res::Deployments => "apps",
            Res::Jobs => "batch",
            _ => "",
        }
    }
}

/// One change, as a watch sends it.
#[derive(Debug, Clone)]
pub struct Change {
    pub rv: u64,
    pub res: Res,
    pub kind: &'static str,
    pub object: Value,
}

/// Every object of the one namespace, and their history.
#[derive(Default)]
pub struct Store {
    rv: u64,
    objects: BTreeMap<(Res, String), Value>,
    pub log: Vec<Change>,
    uids: u64,
}

impl Store {
    pub fn rv(&self) -> u64 {
        self.rv
    }

    pub fn get(&self, res: Res, name: &str) -> Option<&Value> {
        self.objects.get(&(res, name.to_owned()))
    }

    pub fn list(&self, res: Res) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|((r, _), _)| *r == res)
            .map(|(_, o)| o.clone())
            .collect()
    }

    /// Stores a new object, filling the metadata the server owns; `None` when the name is
    /// taken.
    pub fn create(&mut self, res: Res, namespace: &str, mut object: Value) -> Option<Value> {
        let name = name_of(&object);
        if self.get(res, &name).is_some() {
            return None;
        }
        self.uids += 1;
        let (api_version, kind) = res.kind();
        object["apiVersion"] = json!(api_version);
        object["kind"] = json!(kind);
        let meta = &mut object["metadata"];
        meta["namespace"] = json!(namespace);
        meta["uid"] = json!(format!("00000000-0000-4000-8000-{:012}", self.uids));
        meta["creationTimestamp"] = json!(now());
        meta["generation"] = json!(1);
        Some(self.put(res, object, "ADDED"))
    }

    /// Replaces an existing object (a new resourceVersion).
    pub fn update(&mut self, res: Res, object: Value) -> Value {
        self.put(res, object, "MODIFIED")
    }

    pub fn delete(&mut self, res: Res, name: &str) -> Option<Value> {
        let mut object = self.objects.remove(&(res, name.to_owned()))?;
        self.rv += 1;
        object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.log.push(Change {
            rv: self.rv,
            res,
            kind: "DELETED",
            object: object.clone(),
        });
        Some(object)
    }

    fn put(&mut self, res: Res, mut object: Value, kind: &'static str) -> Value {
        self.rv += 1;
        object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let name = name_of(&object);
        self.objects.insert((res, name), object.clone());
        self.log.push(Change {
            rv: self.rv,
            res,
            kind,
            object: object.clone(),
        });
        object
    }
}

pub fn name_of(object: &Value) -> String {
    object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// RFC 7386 JSON merge patch (strategic merge patches of maps and scalars merge alike).
pub fn merge(target: &mut Value, patch: &Value) {
    let Some(patch) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let Some(map) = target.as_object_mut() else {
        return;
    };
    for (k, v) in patch {
        if v.is_null() {
            map.remove(k);
        } else {
            merge(map.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// Whether `object` matches an equality-based label selector (`a=b,c!=d,e`).
pub fn matches_labels(object: &Value, selector: Option<&str>) -> bool {
    let labels = &object["metadata"]["labels"];
    selector
        .unwrap_or_default()
        .split(',')
        .filter(|r| !r.is_empty())
        .all(|req| {
            if let Some((k, v)) = req.split_once("!=") {
                labels[k].as_str() != Some(v)
            } else if let Some((k, v)) = req.split_once("==").or_else(|| req.split_once('=')) {
                labels[k].as_str() == Some(v)
            } else {
                labels.get(req).is_some()
            }
        })
}

/// Whether `object` matches a field selector; only `metadata.name` (and `metadata.namespace`)
/// are supported, as the executor sends no other.
pub fn matches_fields(object: &Value, selector: Option<&str>) -> bool {
    selector
        .unwrap_or_default()
        .split(',')
        .filter(|r| !r.is_empty())
        .all(|req| match req.split_once('=') {
            Some(("metadata.name", v)) => object["metadata"]["name"].as_str() == Some(v),
            Some(("metadata.namespace", v)) => object["metadata"]["namespace"].as_str() == Some(v),
            _ => false,
        })
}

/// Whether every label of `wanted` is on `object`.
pub fn has_labels(object: &Value, wanted: &Value) -> bool {
    wanted.as_object().is_some_and(|w| {
        w.iter()
            .all(|(k, v)| object["metadata"]["labels"].get(k) == Some(v))
    })
}
