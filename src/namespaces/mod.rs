//! Namespaces (SPEC 10): the owners of callbacks, each with its own tokens and quota.
//!
//! The database holds them; this service keeps what the hot paths need in memory — the
//! hashes of the tokens (read on every authenticated request, no SQLite on `/api/*`), which
//! namespaces are being deleted, and the usage against each quota (`ledger.rs`), where every
//! instance start and every new callback reserves its room atomically. It is also the quota
//! the launcher asks before each start ([`InstanceQuota`]).

mod ledger;
pub mod tokens;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use ledger::CallbackHold;
pub use tokens::Role;

use crate::launcher::{Admission, InstanceQuota};
use crate::metrics::NamespaceGauges;
use crate::model::{
    CallbackSpec, DEFAULT_NAMESPACE, FieldErrors, NamespaceBodyError, NamespaceCreated,
    NamespaceTokens, NamespaceView, QuotaExceeded, QuotaField, parse_new_namespace, patch_quota,
};
use crate::store::{NamespaceRow, Store, StoreError};
use ledger::Ledger;
use tokens::Hash;

/// Errors of managing namespaces.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error("no namespace is named {0}")]
    NotFound(String),
    #[error("namespace {0} is being deleted")]
    Deleting(String),
    #[error("a namespace named {0} exists already; pick another name")]
    Exists(String),
    /// `default` cannot be deleted, nor given tokens or a quota; what was asked.
    #[error("the default namespace always exists, without tokens or quota: it cannot be {0}")]
    Default(&'static str),
    #[error("the body must be a JSON object")]
    NotAnObject,
    #[error("the request has invalid fields")]
    Invalid(FieldErrors),
    #[error(
        "namespace {namespace} uses {used} of {}, more than the {asked} asked for; free some first",
        field.resource()
    )]
    BelowUsage {
        namespace: String,
        field: QuotaField,
        used: u64,
        asked: u64,
    },
    #[error(transparent)]
    NoRandomness(#[from] tokens::NoRandomness),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<NamespaceBodyError> for NamespaceError {
    fn from(e: NamespaceBodyError) -> Self {
        match e {
            NamespaceBodyError::NotAnObject => NamespaceError::NotAnObject,
            NamespaceBodyError::Fields(f) => NamespaceError::Invalid(f),
        }
    }
}

/// What is kept in memory of one namespace besides its usage.
#[derive(Debug, Clone)]
struct Entry {
    created_at: DateTime<Utc>,
    admin: Option<Hash>,
    invoke: Option<Hash>,
    deleting: bool,
}

/// The namespaces of the gateway.
pub struct Namespaces {
    store: Store,
    ledger: Arc<Ledger>,
    entries: RwLock<BTreeMap<String, Entry>>,
    /// How many namespaces are being deleted (the invoke path skips a lookup when none).
    deleting: AtomicUsize,
    /// One change (create, quota, tokens, delete) at a time, so the database and the memory
    /// move together.
    changes: tokio::sync::Mutex<()>,
}

impl Namespaces {
    /// Loads every namespace, and how many callbacks each owns, from the database.
    pub async fn load(store: Store) -> Result<Arc<Self>, StoreError> {
        let rows = store.namespaces().await?;
        let counts = store.callback_counts().await?;
        let ledger = Arc::new(Ledger::default());
        let mut entries = BTreeMap::new();
        for row in rows {
            ledger.open(
                &row.name,
                row.quota,
                counts.get(&row.name).copied().unwrap_or(0),
            );
            entries.insert(row.name.clone(), entry_of(&row)?);
        }
        let deleting = entries.values().filter(|e| e.deleting).count();
        Ok(Arc::new(Namespaces {
            store,
            ledger,
            entries: RwLock::new(entries),
            deleting: AtomicUsize::new(deleting),
            changes: tokio::sync::Mutex::new(()),
        }))
    }

    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<String, Entry>> {
        // Writers replace whole entries: nothing is left half-written by a panic.
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<String, Entry>> {
        self.entries.write().unwrap_or_else(|p| p.into_inner())
    }

    fn view(&self, name: &str, entry: &Entry) -> NamespaceView {
        let (quota, usage) = self.ledger.quota_and_usage(name);
        NamespaceView {
            name: name.to_owned(),
            quota,
            usage,
            created_at: entry.created_at,
        }
    }

    /// Creates a namespace from a `POST /namespaces` body; its tokens are in the answer only.
    pub async fn create(&self, body: &Value) -> Result<NamespaceCreated, NamespaceError> {
        let new = parse_new_namespace(body)?;
        let _one = self.changes.lock().await;
        let (tokens, admin, invoke) = new_tokens()?;
        let row = NamespaceRow {
            name: new.name.clone(),
            quota: new.quota,
            admin_sha256: Some(hex::encode(admin)),
            invoke_sha256: Some(hex::encode(invoke)),
            deleting: false,
            created_at: Utc::now(),
        };
        if !self.store.create_namespace(&row).await? {
            return Err(NamespaceError::Exists(new.name));
        }
        self.ledger.open(&row.name, row.quota, 0);
        let entry = Entry {
            created_at: row.created_at,
            admin: Some(admin),
            invoke: Some(invoke),
            deleting: false,
        };
        let namespace = self.view(&row.name, &entry);
        self.write().insert(row.name, entry);
        tracing::info!(namespace = %namespace.name, "namespace created");
        Ok(NamespaceCreated { namespace, tokens })
    }

    /// Every namespace, by name.
    pub fn list(&self) -> Vec<NamespaceView> {
        self.read().iter().map(|(n, e)| self.view(n, e)).collect()
    }

    /// One namespace.
    pub fn get(&self, name: &str) -> Result<NamespaceView, NamespaceError> {
        self.read()
            .get(name)
            .map(|e| self.view(name, e))
            .ok_or_else(|| NamespaceError::NotFound(name.to_owned()))
    }

    /// Applies a `PATCH /namespaces/<name>` body to the quota; no limit may fall below what
    /// the namespace uses now.
    pub async fn set_quota(
        &self,
        name: &str,
        body: &Value,
    ) -> Result<NamespaceView, NamespaceError> {
        if name == DEFAULT_NAMESPACE {
            return Err(NamespaceError::Default("given a quota"));
        }
        let _one = self.changes.lock().await;
        self.get(name)?;
        let current = self.ledger.quota_and_usage(name).0;
        let quota = patch_quota(&current, body)?;
        // Set in memory first, under the ledger's lock, so no start slips in between the check
        // and the new limit; put back if the database refuses.
        let old = self
            .ledger
            .set_quota(name, quota)
            .map_err(|(field, used)| NamespaceError::BelowUsage {
                namespace: name.to_owned(),
                field,
                used,
                asked: field.limit(&quota).unwrap_or(used),
            })?;
        match self.store.set_namespace_quota(name, &quota).await {
            Ok(true) => self.get(name),
            Ok(false) => {
                self.ledger.force_quota(name, old);
                Err(NamespaceError::NotFound(name.to_owned()))
            }
            Err(e) => {
                self.ledger.force_quota(name, old);
                Err(e.into())
            }
        }
    }

    /// New tokens for `name`; the old ones stop working at once.
    pub async fn rotate(&self, name: &str) -> Result<NamespaceCreated, NamespaceError> {
        if name == DEFAULT_NAMESPACE {
            return Err(NamespaceError::Default("given tokens"));
        }
        let _one = self.changes.lock().await;
        self.accepts(name)?;
        let (tokens, admin, invoke) = new_tokens()?;
        // Forgotten in memory first: from here on, the old tokens open nothing.
        if let Some(e) = self.write().get_mut(name) {
            e.admin = Some(admin);
            e.invoke = Some(invoke);
        }
        let stored = self
            .store
            .set_namespace_tokens(name, &hex::encode(admin), &hex::encode(invoke))
            .await?;
        if !stored {
            return Err(NamespaceError::NotFound(name.to_owned()));
        }
        tracing::info!(namespace = %name, "namespace tokens rotated");
        Ok(NamespaceCreated {
            namespace: self.get(name)?,
            tokens,
        })
    }

    /// The namespace and role of a namespace token, if `token` is one that works.
    pub fn identify(&self, token: &str) -> Option<(String, Role)> {
        if !tokens::looks_like_one(token) {
            return None;
        }
        let given = tokens::hash(token);
        let entries = self.read();
        for (name, e) in entries.iter() {
            for (stored, role) in [(e.admin, Role::Admin), (e.invoke, Role::Invoke)] {
                if stored.is_some_and(|s| tokens::matches(&given, &s)) {
                    return Some((name.clone(), role));
                }
            }
        }
        None
    }

    /// Whether `name` is being deleted.
    pub fn is_deleting(&self, name: &str) -> bool {
        self.deleting.load(Ordering::Acquire) > 0
            && self.read().get(name).is_some_and(|e| e.deleting)
    }

    /// Whether any namespace is being deleted.
    pub fn any_deleting(&self) -> bool {
        self.deleting.load(Ordering::Acquire) > 0
    }

    /// The namespaces whose delete began and did not finish (a restart finishes them).
    pub fn deleting_names(&self) -> Vec<String> {
        self.read()
            .iter()
            .filter(|(_, e)| e.deleting)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Whether `name` exists and is not being deleted (it takes deploys and token changes).
    pub fn accepts(&self, name: &str) -> Result<(), NamespaceError> {
        match self.read().get(name) {
            None => Err(NamespaceError::NotFound(name.to_owned())),
            Some(e) if e.deleting => Err(NamespaceError::Deleting(name.to_owned())),
            Some(_) => Ok(()),
        }
    }

    /// Counts one more callback of `namespace`, if its quota allows.
    pub fn reserve_callback(&self, namespace: &str) -> Result<CallbackHold, QuotaExceeded> {
        self.ledger.reserve_callback(namespace)
    }

    /// A callback of `namespace` was deleted.
    pub fn callback_gone(&self, namespace: &str) {
        self.ledger.callback_gone(namespace);
    }

    /// Checks a new revision against its namespace's memory limit: `max_instances ×
    /// memory_mb` must fit in `max_memory_mb`.
    pub fn check_revision(&self, spec: &CallbackSpec) -> Result<(), QuotaExceeded> {
        self.ledger.check_revision(
            &spec.namespace,
            u64::from(spec.max_instances),
            u64::from(spec.memory_mb),
        )
    }

    /// Marks `name` as being deleted: its calls answer 404 and its deploys are refused from
    /// now on, also after a restart. Marking one already being deleted is fine.
    pub async fn begin_delete(&self, name: &str) -> Result<(), NamespaceError> {
        if name == DEFAULT_NAMESPACE {
            return Err(NamespaceError::Default("deleted"));
        }
        let _one = self.changes.lock().await;
        if !self.read().contains_key(name) {
            return Err(NamespaceError::NotFound(name.to_owned()));
        }
        if !self.store.mark_namespace_deleting(name).await? {
            return Err(NamespaceError::NotFound(name.to_owned()));
        }
        if let Some(e) = self.write().get_mut(name)
            && !e.deleting
        {
            e.deleting = true;
            self.deleting.fetch_add(1, Ordering::AcqRel);
        }
        Ok(())
    }

    /// Forgets `name` once everything it owned is gone.
    pub async fn forget(&self, name: &str) -> Result<(), NamespaceError> {
        let _one = self.changes.lock().await;
        self.store.delete_namespace(name).await?;
        if self.write().remove(name).is_some_and(|e| e.deleting) {
            self.deleting.fetch_sub(1, Ordering::AcqRel);
        }
        self.ledger.close(name);
        tracing::info!(namespace = %name, "namespace deleted");
        Ok(())
    }

    /// Usage and quota of every namespace, for the metrics.
    pub fn gauges(&self) -> Vec<NamespaceGauges> {
        self.ledger
            .all()
            .into_iter()
            .map(|(namespace, usage, quota)| NamespaceGauges {
                namespace,
                usage,
                quota,
            })
            .collect()
    }
}

impl InstanceQuota for Namespaces {
    fn admit(&self, spec: &CallbackSpec) -> Result<Admission, QuotaExceeded> {
        self.ledger
            .admit(&spec.namespace, u64::from(spec.memory_mb))
            .map(Admission::new)
    }

    fn count(&self, spec: &CallbackSpec) -> Admission {
        Admission::new(
            self.ledger
                .count(&spec.namespace, u64::from(spec.memory_mb)),
        )
    }
}

fn entry_of(row: &NamespaceRow) -> Result<Entry, StoreError> {
    let hash = |h: &Option<String>| {
        h.as_deref()
            .map(|text| {
                tokens::parse_hash(text)
                    .ok_or_else(|| StoreError::Corrupt(format!("token hash of {}", row.name)))
            })
            .transpose()
    };
    Ok(Entry {
        created_at: row.created_at,
        admin: hash(&row.admin_sha256)?,
        invoke: hash(&row.invoke_sha256)?,
        deleting: row.deleting,
    })
}

fn new_tokens() -> Result<(NamespaceTokens, Hash, Hash), NamespaceError> {
    let tokens = NamespaceTokens {
        admin: tokens::generate()?,
        invoke: tokens::generate()?,
    };
    let (admin, invoke) = (tokens::hash(&tokens.admin), tokens::hash(&tokens.invoke));
    Ok((tokens, admin, invoke))
}
