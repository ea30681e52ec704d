//! Callbacks and their revisions.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::{Store, StoreError};
use crate::model::{CallbackRecord, CallbackSpec, CallbackState, LastError, Revision};

const RECORD_COLUMNS: &str =
    "spec, revision, image, state, last_error, created_at, updated_at FROM callbacks";

fn time(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp {s:?}: {e}")))
}

/// Raw columns of a `callbacks` row, decoded outside rusqlite's closure so JSON errors surface.
struct RawRecord {
    spec: String,
    revision: i64,
    image: Option<String>,
    state: String,
    last_error: Option<String>,
    created_at: String,
    updated_at: String,
}

impl RawRecord {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawRecord {
            spec: r.get(0)?,
            revision: r.get(1)?,
            image: r.get(2)?,
            state: r.get(3)?,
            last_error: r.get(4)?,
            created_at: r.get(5)?,
            updated_at: r.get(6)?,
        })
    }

    fn decode(self) -> Result<CallbackRecord, StoreError> {
        Ok(CallbackRecord {
            spec: serde_json::from_str(&self.spec)?,
            revision: u64::try_from(self.revision).unwrap_or_default(),
            image: self.image,
            state: CallbackState::parse(&self.state)
                .ok_or_else(|| StoreError::Corrupt(format!("state {:?}", self.state)))?,
            last_error: self
                .last_error
                .as_deref()
                .map(serde_json::from_str)
                .transpose()?,
            created_at: time(&self.created_at)?,
            updated_at: time(&self.updated_at)?,
        })
    }
}

fn json_error(e: Option<&LastError>) -> Result<Option<String>, StoreError> {
    Ok(e.map(serde_json::to_string).transpose()?)
}

impl Store {
    /// The callback stored under `path`.
    pub async fn callback(&self, path: &str) -> Result<Option<CallbackRecord>, StoreError> {
        let path = path.to_owned();
        self.call(move |c| {
            c.query_row(
                &format!("SELECT {RECORD_COLUMNS} WHERE path = ?1"),
                [path],
                RawRecord::from_row,
            )
            .optional()?
            .map(RawRecord::decode)
            .transpose()
        })
        .await
    }

    /// Every stored callback, by path.
    pub async fn callbacks(&self) -> Result<Vec<CallbackRecord>, StoreError> {
        self.call(|c| {
            let mut stmt = c.prepare(&format!("SELECT {RECORD_COLUMNS} ORDER BY path"))?;
            let raw = stmt
                .query_map([], RawRecord::from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            raw.into_iter().map(RawRecord::decode).collect()
        })
        .await
    }

    /// Records a first deploy attempt (revision 0) unless the callback exists. Returns whether
    /// this call created the record.
    pub async fn create_callback(
        &self,
        spec: &CallbackSpec,
        state: CallbackState,
    ) -> Result<bool, StoreError> {
        let spec_json = serde_json::to_string(spec)?;
        let (path, sha) = (spec.path.clone(), spec.code_sha256());
        let namespace = spec.namespace.clone();
        let now = Utc::now().to_rfc3339();
        self.call(move |c| {
            let n = c.execute(
                "INSERT OR IGNORE INTO callbacks
                   (path, spec, code_sha256, state, created_at, updated_at, namespace)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
                params![path, spec_json, sha, state.as_str(), now, namespace],
            )?;
            Ok(n == 1)
        })
        .await
    }

    /// Replaces the definition of a callback that has no revision yet (a retried first deploy).
    pub async fn replace_attempt(&self, spec: &CallbackSpec) -> Result<(), StoreError> {
        let spec_json = serde_json::to_string(spec)?;
        let (path, sha) = (spec.path.clone(), spec.code_sha256());
        let now = Utc::now().to_rfc3339();
        self.call(move |c| {
            c.execute(
                "UPDATE callbacks SET spec = ?2, code_sha256 = ?3, updated_at = ?4
                 WHERE path = ?1 AND revision = 0",
                params![path, spec_json, sha, now],
            )?;
            Ok(())
        })
        .await
    }

    /// Sets a callback's state, and its last error when `last_error` is `Some`.
    pub async fn set_state(
        &self,
        path: &str,
        state: CallbackState,
        last_error: Option<&LastError>,
    ) -> Result<(), StoreError> {
        let path = path.to_owned();
        let err = json_error(last_error)?;
        let now = Utc::now().to_rfc3339();
        self.call(move |c| {
            c.execute(
                "UPDATE callbacks SET state = ?2, last_error = COALESCE(?3, last_error), updated_at = ?4
                 WHERE path = ?1",
                params![path, state.as_str(), err, now],
            )?;
            Ok(())
        })
        .await
    }

    /// Records what happened to a serving revision's instances (a crash, a crash loop, a
    /// recovery), unless a deploy or undeploy has moved the record on meanwhile.
    pub async fn record_runtime_state(
        &self,
        path: &str,
        revision: u64,
        state: CallbackState,
        last_error: Option<&LastError>,
    ) -> Result<(), StoreError> {
        let path = path.to_owned();
        let err = json_error(last_error)?;
        let rev = i64::try_from(revision).unwrap_or(i64::MAX);
        let now = Utc::now().to_rfc3339();
        self.call(move |c| {
            c.execute(
                "UPDATE callbacks SET state = ?3, last_error = COALESCE(?4, last_error), updated_at = ?5
                 WHERE path = ?1 AND revision = ?2 AND state IN ('ready', 'idle', 'crash_loop')",
                params![path, rev, state.as_str(), err, now],
            )?;
            Ok(())
        })
        .await
    }

    /// Commits a successful deploy: the next revision becomes current and the last error clears.
    pub async fn commit_revision(
        &self,
        spec: &CallbackSpec,
        image: &str,
        state: CallbackState,
    ) -> Result<CallbackRecord, StoreError> {
        let spec_json = serde_json::to_string(spec)?;
        let (path, sha, image) = (spec.path.clone(), spec.code_sha256(), image.to_owned());
        let now = Utc::now().to_rfc3339();
        self.call(move |c| {
            let tx = c.transaction()?;
            // Revisions continue after the highest ever committed, even across undeploys.
            let next: i64 = tx.query_row(
                "SELECT COALESCE(MAX(revision), 0) + 1 FROM revisions WHERE path = ?1",
                [&path],
                |r| r.get(0),
            )?;
            tx.execute(
                "INSERT INTO revisions (path, revision, spec, code_sha256, image, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![path, next, spec_json, sha, image, now],
            )?;
            tx.execute(
                "UPDATE callbacks SET spec = ?2, code_sha256 = ?3, revision = ?4, image = ?5,
                   state = ?6, last_error = NULL, updated_at = ?7 WHERE path = ?1",
                params![path, spec_json, sha, next, image, state.as_str(), now],
            )?;
            let raw = tx.query_row(
                &format!("SELECT {RECORD_COLUMNS} WHERE path = ?1"),
                [&path],
                RawRecord::from_row,
            )?;
            tx.commit()?;
            raw.decode()
        })
        .await
    }

    /// The number the next committed revision of `path` will carry.
    pub async fn next_revision(&self, path: &str) -> Result<u64, StoreError> {
        let path = path.to_owned();
        self.call(move |c| {
            let next: i64 = c.query_row(
                "SELECT COALESCE(MAX(revision), 0) + 1 FROM revisions WHERE path = ?1",
                [path],
                |r| r.get(0),
            )?;
            Ok(u64::try_from(next).unwrap_or(1))
        })
        .await
    }

    /// A callback's revisions, newest first.
    pub async fn revisions(&self, path: &str) -> Result<Vec<Revision>, StoreError> {
        let path = path.to_owned();
        self.call(move |c| {
            let mut stmt = c.prepare(
                "SELECT revision, code_sha256, image, created_at FROM revisions
                 WHERE path = ?1 ORDER BY revision DESC",
            )?;
            let rows = stmt
                .query_map([path], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(revision, code_sha256, image, at)| {
                    Ok(Revision {
                        revision: u64::try_from(revision).unwrap_or_default(),
                        code_sha256,
                        image,
                        created_at: time(&at)?,
                    })
                })
                .collect()
        })
        .await
    }

    /// The definition of one stored revision (to rebuild its image).
    pub async fn revision_spec(
        &self,
        path: &str,
        revision: u64,
    ) -> Result<Option<CallbackSpec>, StoreError> {
        let path = path.to_owned();
        let rev = i64::try_from(revision).unwrap_or(i64::MAX);
        self.call(move |c| {
            let json: Option<String> = c
                .query_row(
                    "SELECT spec FROM revisions WHERE path = ?1 AND revision = ?2",
                    params![path, rev],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(json.as_deref().map(serde_json::from_str).transpose()?)
        })
        .await
    }

    /// Deletes a callback and its history.
    pub async fn delete_callback(&self, path: &str) -> Result<bool, StoreError> {
        let path = path.to_owned();
        self.call(move |c| Ok(c.execute("DELETE FROM callbacks WHERE path = ?1", [path])? == 1))
            .await
    }
}

#[cfg(test)]
#[path = "callbacks_tests.rs"]
mod tests;
