//! Namespaces: their quota, the hashes of their tokens, and whether a delete is under way;
//! and what each owns (callbacks, async invocations).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::model::Quota;

/// A `namespaces` row.
#[derive(Debug, Clone, PartialEq)]
pub struct NamespaceRow {
    pub name: String,
    pub quota: Quota,
    /// SHA-256 of the admin token, hex; `None` for `default`.
    pub admin_sha256: Option<String>,
    /// SHA-256 of the invoke token, hex.
    pub invoke_sha256: Option<String>,
    /// A delete began and has not finished.
    pub deleting: bool,
    pub created_at: DateTime<Utc>,
}

type RawRow = (String, String, Option<String>, Option<String>, bool, String);

fn decode(raw: RawRow) -> Result<NamespaceRow, StoreError> {
    let (name, quota, admin_sha256, invoke_sha256, deleting, created_at) = raw;
    Ok(NamespaceRow {
        name,
        quota: serde_json::from_str(&quota)?,
        admin_sha256,
        invoke_sha256,
        deleting,
        created_at: DateTime::parse_from_rfc3339(&created_at)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| StoreError::Corrupt(format!("timestamp {created_at:?}: {e}")))?,
    })
}

impl Store {
    /// Every namespace, by name.
    pub async fn namespaces(&self) -> Result<Vec<NamespaceRow>, StoreError> {
        self.call(|c| {
            let mut stmt = c.prepare(
                "SELECT name, quota, admin_token_sha256, invoke_token_sha256, deleting, created_at
                 FROM namespaces ORDER BY name",
            )?;
            let raw = stmt
                .query_map([], |r| RawRow::try_from(r))?
                .collect::<Result<Vec<RawRow>, _>>()?;
            raw.into_iter().map(decode).collect()
        })
        .await
    }

    /// How many callbacks each namespace owns (namespaces without any are absent).
    pub async fn callback_counts(&self) -> Result<HashMap<String, u64>, StoreError> {
        self.call(|c| {
            let mut stmt =
                c.prepare("SELECT namespace, count(*) FROM callbacks GROUP BY namespace")?;
            let counts = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(counts
                .into_iter()
                .map(|(n, count)| (n, u64::try_from(count).unwrap_or_default()))
                .collect())
        })
        .await
    }

    /// Stores a new namespace; `false` when the name is taken.
    pub async fn create_namespace(&self, row: &NamespaceRow) -> Result<bool, StoreError> {
        let quota = serde_json::to_string(&row.quota)?;
        let row = row.clone();
        self.call(move |c| {
            let n = c.execute(
                "INSERT OR IGNORE INTO namespaces
                   (name, quota, admin_token_sha256, invoke_token_sha256, deleting, created_at)
                 VALUES (?1, ?2, ?3, ?4, 0, ?5)",
                params![
                    row.name,
                    quota,
                    row.admin_sha256,
                    row.invoke_sha256,
                    row.created_at.to_rfc3339()
                ],
            )?;
            Ok(n == 1)
        })
        .await
    }

    /// Replaces a namespace's quota; `false` when it does not exist.
    pub async fn set_namespace_quota(&self, name: &str, quota: &Quota) -> Result<bool, StoreError> {
        let (name, quota) = (name.to_owned(), serde_json::to_string(quota)?);
        self.call(move |c| {
            Ok(c.execute(
                "UPDATE namespaces SET quota = ?2 WHERE name = ?1",
                params![name, quota],
            )? == 1)
        })
        .await
    }

    /// Replaces the hashes of a namespace's tokens; `false` when it does not exist.
    pub async fn set_namespace_tokens(
        &self,
        name: &str,
        admin_sha256: &str,
        invoke_sha256: &str,
    ) -> Result<bool, StoreError> {
        let (name, admin, invoke) = (
            name.to_owned(),
            admin_sha256.to_owned(),
            invoke_sha256.to_owned(),
        );
        self.call(move |c| {
            Ok(c.execute(
                "UPDATE namespaces SET admin_token_sha256 = ?2, invoke_token_sha256 = ?3
                 WHERE name = ?1",
                params![name, admin, invoke],
            )? == 1)
        })
        .await
    }

    /// Marks a namespace as being deleted (a restart finishes the delete); `false` when it
    /// does not exist.
    pub async fn mark_namespace_deleting(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.call(move |c| {
            Ok(c.execute("UPDATE namespaces SET deleting = 1 WHERE name = ?1", [name])? == 1)
        })
        .await
    }

    /// Forgets a namespace; `false` when it did not exist.
    pub async fn delete_namespace(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.call(move |c| Ok(c.execute("DELETE FROM namespaces WHERE name = ?1", [name])? == 1))
            .await
    }

    /// The paths of the callbacks a namespace owns.
    pub async fn callbacks_in(&self, namespace: &str) -> Result<Vec<String>, StoreError> {
        let namespace = namespace.to_owned();
        self.call(move |c| {
            let mut stmt =
                c.prepare("SELECT path FROM callbacks WHERE namespace = ?1 ORDER BY path")?;
            let paths = stmt
                .query_map([namespace], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(paths)
        })
        .await
    }

    /// Deletes a namespace's async invocations (only those not started yet when
    /// `queued_only`); returns how many.
    pub async fn delete_invocations_of(
        &self,
        namespace: &str,
        queued_only: bool,
    ) -> Result<usize, StoreError> {
        let namespace = namespace.to_owned();
        self.call(move |c| {
            let sql = if queued_only {
                "DELETE FROM invocations WHERE namespace = ?1 AND status = 'queued'"
            } else {
                "DELETE FROM invocations WHERE namespace = ?1"
            };
            Ok(c.execute(sql, [namespace])?)
        })
        .await
    }

    /// The namespace an async invocation belongs to.
    pub async fn invocation_namespace(&self, id: &str) -> Result<Option<String>, StoreError> {
        let id = id.to_owned();
        self.call(move |c| {
            Ok(c.query_row(
                "SELECT namespace FROM invocations WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str) -> NamespaceRow {
        NamespaceRow {
            name: name.into(),
            quota: Quota {
                max_callbacks: Some(2),
                ..Quota::default()
            },
            admin_sha256: Some("aa".into()),
            invoke_sha256: Some("bb".into()),
            deleting: false,
            created_at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn namespaces_are_created_once_changed_marked_and_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("faas.db")).expect("open");
        let names = |rows: Vec<NamespaceRow>| rows.into_iter().map(|r| r.name).collect::<Vec<_>>();
        assert_eq!(names(store.namespaces().await.expect("list")), ["default"]);
        assert!(store.create_namespace(&row("team")).await.expect("create"));
        assert!(!store.create_namespace(&row("team")).await.expect("again"));
        let quota = Quota {
            max_instances: Some(3),
            ..Quota::default()
        };
        assert!(
            store
                .set_namespace_quota("team", &quota)
                .await
                .expect("quota")
        );
        assert!(
            store
                .set_namespace_tokens("team", "cc", "dd")
                .await
                .expect("tokens")
        );
        assert!(store.mark_namespace_deleting("team").await.expect("mark"));
        let team = store
            .namespaces()
            .await
            .expect("list")
            .into_iter()
            .find(|r| r.name == "team")
            .expect("team");
        assert_eq!(team.quota, quota);
        assert_eq!(team.admin_sha256.as_deref(), Some("cc"));
        assert!(team.deleting);
        assert!(store.delete_namespace("team").await.expect("delete"));
        assert!(
            !store
                .set_namespace_quota("team", &quota)
                .await
                .expect("gone")
        );
        assert_eq!(names(store.namespaces().await.expect("list")), ["default"]);
    }
}
