//! What each namespace uses against its quota, kept in memory and changed under one lock, so
//! a reservation is checked and taken at once: concurrent deploys and starts never overshoot.
//! Room for an instance is held by a [`Held`] that gives it back when dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::model::{Quota, QuotaExceeded, QuotaField, Usage, fits};

#[derive(Debug, Default, Clone, Copy)]
struct Account {
    quota: Quota,
    usage: Usage,
}

/// Usage and quota of every namespace.
#[derive(Debug, Default)]
pub struct Ledger {
    accounts: Mutex<HashMap<String, Account>>,
}

/// Room for one instance, held until dropped.
#[derive(Debug)]
pub struct Held {
    ledger: Arc<Ledger>,
    namespace: String,
    memory_mb: u64,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut accounts = self.ledger.lock();
        if let Some(a) = accounts.get_mut(&self.namespace) {
            a.usage.instances = a.usage.instances.saturating_sub(1);
            a.usage.memory_mb = a.usage.memory_mb.saturating_sub(self.memory_mb);
        }
    }
}

/// A callback counted before its record is made; uncounted when dropped unless kept.
#[derive(Debug)]
pub struct CallbackHold {
    ledger: Arc<Ledger>,
    namespace: String,
    kept: bool,
}

impl CallbackHold {
    /// The record exists: the callback stays counted until it is deleted.
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for CallbackHold {
    fn drop(&mut self) {
        if !self.kept {
            self.ledger.callback_gone(&self.namespace);
        }
    }
}

impl Ledger {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Account>> {
        // Every critical section is a few integer updates: nothing panics half-way.
        self.accounts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts keeping `namespace` with `quota` and `callbacks` already owned.
    pub fn open(&self, namespace: &str, quota: Quota, callbacks: u64) {
        let mut accounts = self.lock();
        let a = accounts.entry(namespace.to_owned()).or_default();
        a.quota = quota;
        a.usage.callbacks = callbacks;
    }

    /// Stops keeping `namespace`.
    pub fn close(&self, namespace: &str) {
        self.lock().remove(namespace);
    }

    /// The usage of `namespace` now.
    #[cfg(test)]
    pub fn usage(&self, namespace: &str) -> Usage {
        self.quota_and_usage(namespace).1
    }

    /// The quota and usage of `namespace` now.
    pub fn quota_and_usage(&self, namespace: &str) -> (Quota, Usage) {
        self.lock()
            .get(namespace)
            .map(|a| (a.quota, a.usage))
            .unwrap_or_default()
    }

    /// Puts a quota back as it was, whatever is used.
    pub fn force_quota(&self, namespace: &str, quota: Quota) {
        if let Some(a) = self.lock().get_mut(namespace) {
            a.quota = quota;
        }
    }

    /// Usage and quota of every namespace kept.
    pub fn all(&self) -> Vec<(String, Usage, Quota)> {
        self.lock()
            .iter()
            .map(|(n, a)| (n.clone(), a.usage, a.quota))
            .collect()
    }

    /// Reserves one instance of `memory_mb` in `namespace`.
    pub fn admit(self: &Arc<Self>, namespace: &str, memory_mb: u64) -> Result<Held, QuotaExceeded> {
        let mut accounts = self.lock();
        let a = accounts.entry(namespace.to_owned()).or_default();
        fits(
            namespace,
            &a.quota,
            QuotaField::MaxInstances,
            a.usage.instances,
            1,
        )?;
        fits(
            namespace,
            &a.quota,
            QuotaField::MaxMemoryMb,
            a.usage.memory_mb,
            memory_mb,
        )?;
        a.usage.instances += 1;
        a.usage.memory_mb += memory_mb;
        Ok(self.held(namespace, memory_mb))
    }

    /// Counts one instance of `memory_mb` in `namespace` whatever the quota says.
    pub fn count(self: &Arc<Self>, namespace: &str, memory_mb: u64) -> Held {
        let mut accounts = self.lock();
        let a = accounts.entry(namespace.to_owned()).or_default();
        a.usage.instances += 1;
        a.usage.memory_mb += memory_mb;
        self.held(namespace, memory_mb)
    }

    fn held(self: &Arc<Self>, namespace: &str, memory_mb: u64) -> Held {
        Held {
            ledger: Arc::clone(self),
            namespace: namespace.to_owned(),
            memory_mb,
        }
    }

    /// Counts one more callback in `namespace`, if its quota allows.
    pub fn reserve_callback(
        self: &Arc<Self>,
        namespace: &str,
    ) -> Result<CallbackHold, QuotaExceeded> {
        let mut accounts = self.lock();
        let a = accounts.entry(namespace.to_owned()).or_default();
        fits(
            namespace,
            &a.quota,
            QuotaField::MaxCallbacks,
            a.usage.callbacks,
            1,
        )?;
        a.usage.callbacks += 1;
        Ok(CallbackHold {
            ledger: Arc::clone(self),
            namespace: namespace.to_owned(),
            kept: false,
        })
    }

    /// A callback of `namespace` was deleted.
    pub fn callback_gone(&self, namespace: &str) {
        if let Some(a) = self.lock().get_mut(namespace) {
            a.usage.callbacks = a.usage.callbacks.saturating_sub(1);
        }
    }

    /// Checks that a revision that may run `instances` of `memory_mb` each fits the memory
    /// limit of `namespace` at all.
    pub fn check_revision(
        &self,
        namespace: &str,
        instances: u64,
        memory_mb: u64,
    ) -> Result<(), QuotaExceeded> {
        let accounts = self.lock();
        let Some(a) = accounts.get(namespace) else {
            return Ok(());
        };
        match a.quota.max_memory_mb {
            Some(limit) if instances.saturating_mul(memory_mb) > limit => Err(QuotaExceeded {
                namespace: namespace.to_owned(),
                quota: QuotaField::MaxMemoryMb,
                limit,
                used: a.usage.memory_mb,
                requested: instances.saturating_mul(memory_mb),
            }),
            _ => Ok(()),
        }
    }

    /// Replaces the quota of `namespace` unless a limit would fall below what is used now;
    /// then the first such field and its usage. Returns the quota it replaced.
    pub fn set_quota(&self, namespace: &str, quota: Quota) -> Result<Quota, (QuotaField, u64)> {
        let mut accounts = self.lock();
        let a = accounts.entry(namespace.to_owned()).or_default();
        for field in QuotaField::ALL {
            let used = field.used(&a.usage);
            if field.limit(&quota).is_some_and(|limit| limit < used) {
                return Err((field, used));
            }
        }
        Ok(std::mem::replace(&mut a.quota, quota))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger(quota: Quota) -> Arc<Ledger> {
        let l = Arc::new(Ledger::default());
        l.open("team", quota, 0);
        l
    }

    #[test]
    fn instances_are_admitted_up_to_the_limit_and_released_when_dropped() {
        let l = ledger(Quota {
            max_instances: Some(2),
            ..Quota::default()
        });
        let a = l.admit("team", 128).expect("first");
        let _b = l.admit("team", 128).expect("second");
        let e = l.admit("team", 128).expect_err("third");
        assert_eq!(
            (e.quota, e.limit, e.used, e.requested),
            (QuotaField::MaxInstances, 2, 2, 1)
        );
        assert_eq!(l.usage("team").memory_mb, 256);
        drop(a);
        assert_eq!(l.usage("team").instances, 1);
        l.admit("team", 128).expect("room again");
    }

    #[test]
    fn memory_counts_each_instance_and_counted_ones_pass_the_limit() {
        let l = ledger(Quota {
            max_memory_mb: Some(300),
            ..Quota::default()
        });
        let _a = l.admit("team", 256).expect("fits");
        let e = l.admit("team", 64).expect_err("over");
        assert_eq!(
            (e.quota, e.used, e.requested),
            (QuotaField::MaxMemoryMb, 256, 64)
        );
        let _adopted = l.count("team", 256);
        assert_eq!(l.usage("team").memory_mb, 512);
        assert!(l.check_revision("team", 2, 150).is_ok());
        let e = l
            .check_revision("team", 2, 151)
            .expect_err("revision too big");
        assert_eq!(e.requested, 302);
    }

    #[test]
    fn a_callback_reservation_is_undone_unless_kept() {
        let l = ledger(Quota {
            max_callbacks: Some(1),
            ..Quota::default()
        });
        drop(l.reserve_callback("team").expect("room"));
        assert_eq!(l.usage("team").callbacks, 0);
        l.reserve_callback("team").expect("room").keep();
        assert_eq!(l.usage("team").callbacks, 1);
        assert!(l.reserve_callback("team").is_err());
        l.callback_gone("team");
        assert!(l.reserve_callback("team").is_ok());
    }

    #[test]
    fn a_quota_never_falls_below_what_is_used() {
        let l = ledger(Quota::default());
        let _a = l.admit("team", 100).expect("unlimited");
        let lower = Quota {
            max_instances: Some(0),
            ..Quota::default()
        };
        assert_eq!(
            l.set_quota("team", lower),
            Err((QuotaField::MaxInstances, 1))
        );
        let ok = Quota {
            max_instances: Some(1),
            max_memory_mb: Some(100),
            ..Quota::default()
        };
        assert_eq!(l.set_quota("team", ok), Ok(Quota::default()));
        assert!(l.admit("team", 1).is_err());
    }
}
