//! Asynchronous invocations: stored before the 202 is sent, claimed by workers, finished once.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};
use serde_json::Value;

use super::{Store, StoreError};
use crate::model::{Invocation, InvocationStatus, StoredRequest, StoredResponse};

/// An invocation a worker has claimed.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: String,
    pub path: String,
    pub request: StoredRequest,
    pub callback_url: Option<String>,
}

const COLUMNS: &str =
    "id, path, status, response, error, attempts, retried, created_at, started_at, finished_at";

fn time(s: Option<String>) -> Result<Option<DateTime<Utc>>, StoreError> {
    s.map(|s| {
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| StoreError::Corrupt(format!("timestamp {s:?}: {e}")))
    })
    .transpose()
}

type Raw = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
    String,
    Option<String>,
    Option<String>,
);

fn raw(r: &Row<'_>) -> rusqlite::Result<Raw> {
    Raw::try_from(r)
}

fn decode(r: Raw) -> Result<Invocation, StoreError> {
    let (id, path, status, response, error, attempts, retried, created, started, finished) = r;
    Ok(Invocation {
        id,
        path,
        status: InvocationStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("invocation status {status:?}")))?,
        response: response.as_deref().map(serde_json::from_str).transpose()?,
        error: error.as_deref().map(serde_json::from_str).transpose()?,
        attempts: u32::try_from(attempts).unwrap_or_default(),
        retried: retried != 0,
        created_at: time(Some(created))?.unwrap_or_else(Utc::now),
        started_at: time(started)?,
        finished_at: time(finished)?,
    })
}

impl Store {
    /// Stores an accepted invocation as `queued`.
    pub async fn enqueue_invocation(
        &self,
        id: &str,
        (namespace, path): (&str, &str),
        request: &StoredRequest,
        callback_url: Option<&str>,
    ) -> Result<(), StoreError> {
        let (id, path, namespace) = (id.to_owned(), path.to_owned(), namespace.to_owned());
        let request = serde_json::to_string(request)?;
        let callback_url = callback_url.map(str::to_owned);
        let now = Utc::now().to_rfc3339();
        self.call(move |c| {
            c.execute(
                "INSERT INTO invocations (id, path, status, request, callback_url, created_at, namespace)
                 VALUES (?1, ?2, 'queued', ?3, ?4, ?5, ?6)",
                params![id, path, request, callback_url, now, namespace],
            )?;
            Ok(())
        })
        .await
    }

    /// Takes the oldest queued invocation and marks it running.
    pub async fn claim_invocation(&self) -> Result<Option<Claimed>, StoreError> {
        let now = Utc::now().to_rfc3339();
        self.call(move |c| {
            let row = c
                .query_row(
                    "UPDATE invocations SET status = 'running', attempts = attempts + 1, started_at = ?1
                     WHERE id = (SELECT id FROM invocations WHERE status = 'queued'
                                 ORDER BY created_at, rowid LIMIT 1)
                     RETURNING id, path, request, callback_url",
                    [now],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, Option<String>>(3)?)),
                )
                .optional()?;
            row.map(|(id, path, request, callback_url)| {
                Ok(Claimed {
                    id,
                    path,
                    request: serde_json::from_str(&request)?,
                    callback_url,
                })
            })
            .transpose()
        })
        .await
    }

    /// Records how an invocation ended; `None` when it is no longer stored (its namespace
    /// was deleted while it ran).
    pub async fn finish_invocation(
        &self,
        id: &str,
        response: Option<&StoredResponse>,
        error: Option<&Value>,
    ) -> Result<Option<Invocation>, StoreError> {
        let id = id.to_owned();
        let status = if error.is_some() {
            InvocationStatus::Failed
        } else {
            InvocationStatus::Succeeded
        };
        let response = response.map(serde_json::to_string).transpose()?;
        let error = error.map(serde_json::to_string).transpose()?;
        let now = Utc::now().to_rfc3339();
        self.call(move |c| {
            let r = c
                .query_row(
                    &format!(
                    "UPDATE invocations SET status = ?2, response = ?3, error = ?4, finished_at = ?5
                     WHERE id = ?1 RETURNING {COLUMNS}"
                ),
                    params![id, status.as_str(), response, error, now],
                    raw,
                )
                .optional()?;
            r.map(decode).transpose()
        })
        .await
    }

    /// Records an attempt to deliver the result to the callback URL.
    pub async fn record_delivery(&self, id: &str, delivered: bool) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.call(move |c| {
            c.execute(
                "UPDATE invocations SET callback_attempts = callback_attempts + 1,
                   callback_delivered = ?2 WHERE id = ?1",
                params![id, delivered],
            )?;
            Ok(())
        })
        .await
    }

    /// One invocation.
    pub async fn invocation(&self, id: &str) -> Result<Option<Invocation>, StoreError> {
        let id = id.to_owned();
        self.call(move |c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM invocations WHERE id = ?1"),
                [id],
                raw,
            )
            .optional()?
            .map(decode)
            .transpose()
        })
        .await
    }

    /// After a restart: invocations that were running when the gateway stopped run once more
    /// (and say so); one interrupted twice fails. Returns how many were requeued.
    pub async fn requeue_interrupted(&self, failure: &Value) -> Result<usize, StoreError> {
        let failure = serde_json::to_string(failure)?;
        let now = Utc::now().to_rfc3339();
        self.call(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE invocations SET status = 'failed', error = ?1, finished_at = ?2
                 WHERE status = 'running' AND attempts >= 2",
                params![failure, now],
            )?;
            let n = tx.execute(
                "UPDATE invocations SET status = 'queued', retried = 1 WHERE status = 'running'",
                [],
            )?;
            tx.commit()?;
            Ok(n)
        })
        .await
    }

    /// Deletes finished invocations older than `before`.
    pub async fn prune_invocations(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        let before = before.to_rfc3339();
        self.call(move |c| {
            Ok(c.execute(
                "DELETE FROM invocations WHERE status IN ('succeeded', 'failed') AND finished_at < ?1",
                [before],
            )?)
        })
        .await
    }
}

#[cfg(test)]
#[path = "invocations_tests.rs"]
mod tests;
