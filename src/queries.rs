//! The read side: callbacks as the API shows them (the stored record with the live instances
//! of its serving revision), their revisions and their output. A caller sees the callbacks of
//! its scope only; any other is not found.

use std::sync::Arc;

use crate::executor::{Backends, ExecutorError, LogLine};
use crate::model::{CallbackRecord, CallbackState, CallbackView, Mode, Revision, Scope};
use crate::routes::RouteTable;
use crate::store::{Store, StoreError};

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("no callback is deployed at {0}")]
    NotFound(String),
    #[error(transparent)]
    Backend(#[from] ExecutorError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Answers reads about callbacks.
pub struct Queries {
    store: Store,
    routes: Arc<RouteTable>,
    backends: Backends,
}

impl Queries {
    /// Reads over the given parts.
    pub fn new(store: Store, routes: Arc<RouteTable>, backends: Backends) -> Self {
        Queries {
            store,
            routes,
            backends,
        }
    }

    async fn record(&self, path: &str, scope: &Scope) -> Result<CallbackRecord, QueryError> {
        self.store
            .callback(path)
            .await?
            .filter(|rec| scope.sees(&rec.spec.namespace))
            .ok_or_else(|| QueryError::NotFound(path.to_owned()))
    }

    /// One callback's resource.
    pub async fn get(&self, path: &str, scope: &Scope) -> Result<CallbackView, QueryError> {
        Ok(self.view(&self.record(path, scope).await?))
    }

    /// The resources of the callbacks `scope` sees, of `namespace` only when given.
    pub async fn list(
        &self,
        scope: &Scope,
        namespace: Option<&str>,
    ) -> Result<Vec<CallbackView>, QueryError> {
        let records = self.store.callbacks().await?;
        Ok(records
            .iter()
            .filter(|r| scope.sees(&r.spec.namespace))
            .filter(|r| namespace.is_none_or(|n| r.spec.namespace == n))
            .map(|r| self.view(r))
            .collect())
    }

    /// The revisions of `path`, newest first.
    pub async fn revisions(&self, path: &str, scope: &Scope) -> Result<Vec<Revision>, QueryError> {
        self.record(path, scope).await?;
        Ok(self.store.revisions(path).await?)
    }

    /// The last `tail` lines of the current revision's instances, running or exited.
    pub async fn logs(
        &self,
        path: &str,
        tail: usize,
        scope: &Scope,
    ) -> Result<Vec<LogLine>, QueryError> {
        let rec = self.record(path, scope).await?;
        let Some(executor) = self.backends.get(rec.spec.backend) else {
            return Ok(Vec::new());
        };
        let ids: Vec<String> = executor
            .list()
            .await?
            .into_iter()
            .filter(|o| o.callback == path && o.revision == rec.revision)
            .map(|o| o.instance.id)
            .collect();
        Ok(executor.logs(&ids, tail).await?)
    }

    /// The API resource of a record, with live instances.
    pub fn view(&self, rec: &CallbackRecord) -> CallbackView {
        let pool = self
            .routes
            .revision(&rec.spec.path)
            .filter(|r| r.number == rec.revision)
            .and_then(|r| r.pool().cloned());
        let looping = pool.as_ref().is_some_and(|p| p.crash_looping());
        let starting = pool.as_ref().is_some_and(|p| p.starting());
        let instances = pool.map(|p| p.instances()).unwrap_or_default();
        let mut view = CallbackView::new(rec, instances);
        if looping && view.state.is_serving() {
            view.state = CallbackState::CrashLoop;
        }
        let serving = view
            .instances
            .iter()
            .any(|i| i.state != crate::model::InstanceState::Paused);
        if view.state == CallbackState::Ready && !serving && rec.spec.mode == Mode::Service {
            // No running instance (paused ones aside) is idle, unless one is on its way (a
            // cold start, a replacement).
            view.state = if starting {
                CallbackState::Starting
            } else {
                CallbackState::Idle
            };
        }
        view
    }
}

/// How often a followed log is read again.
const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// What a log follower has sent: lines at or after `since`, so one read again is not sent
/// twice.
struct Followed {
    since: Option<chrono::DateTime<chrono::Utc>>,
    sent: std::collections::HashSet<(String, chrono::DateTime<chrono::Utc>, String)>,
}

impl Followed {
    /// The lines of `read` not sent yet, oldest first.
    fn news(&mut self, read: Vec<LogLine>) -> Vec<LogLine> {
        let mut news = Vec::new();
        for l in read {
            if self.since.is_some_and(|s| l.ts < s) {
                continue;
            }
            let key = (l.instance.clone(), l.ts, l.line.clone());
            if self.sent.insert(key) {
                news.push(l);
            }
        }
        if let Some(latest) = news.iter().map(|l| l.ts).max() {
            self.since = Some(self.since.map_or(latest, |s| s.max(latest)));
        }
        let since = self.since;
        self.sent
            .retain(|(_, ts, _)| since.is_none_or(|s| *ts >= s));
        news
    }
}

impl Queries {
    /// The last `tail` lines, then every new line of the current revision's instances as it
    /// is written (read again every half second, instances started later included), until
    /// the stream is dropped or the callback goes away (or out of `scope`).
    pub fn follow(
        self: &Arc<Self>,
        path: String,
        tail: usize,
        scope: Scope,
    ) -> impl futures::Stream<Item = LogLine> + Send + 'static {
        let state = (
            (Arc::clone(self), scope),
            path,
            Followed {
                since: None,
                sent: std::collections::HashSet::new(),
            },
            std::collections::VecDeque::new(),
            true,
        );
        futures::stream::unfold(state, move |(q, path, mut followed, mut queue, first)| {
            async move {
                let mut first = first;
                loop {
                    if let Some(line) = queue.pop_front() {
                        return Some((line, (q, path, followed, queue, first)));
                    }
                    if !first {
                        tokio::time::sleep(FOLLOW_EVERY).await;
                    }
                    let want = if first { tail } else { 1000 };
                    first = false;
                    match q.0.logs(&path, want, &q.1).await {
                        Ok(read) => queue.extend(followed.news(read)),
                        Err(QueryError::NotFound(_)) => return None,
                        // The backend is away for a moment: try again on the next round.
                        Err(e) => {
                            tracing::debug!(callback.path = %path, error = %e, "log follow read failed");
                        }
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::LogStream;

    fn line(instance: &str, second: i64, text: &str) -> LogLine {
        LogLine {
            instance: instance.into(),
            stream: LogStream::Stdout,
            ts: chrono::DateTime::from_timestamp(second, 0).expect("a time"),
            line: text.into(),
        }
    }

    #[test]
    fn a_follower_sends_each_line_once_even_when_read_again() {
        let mut f = Followed {
            since: None,
            sent: std::collections::HashSet::new(),
        };
        let first = f.news(vec![line("a", 1, "one"), line("a", 2, "two")]);
        assert_eq!(first.len(), 2);
        let again = f.news(vec![
            line("a", 1, "one"),
            line("a", 2, "two"),
            line("b", 2, "two on b"),
            line("a", 3, "three"),
        ]);
        let texts: Vec<&str> = again.iter().map(|l| l.line.as_str()).collect();
        assert_eq!(texts, ["two on b", "three"]);
        assert!(f.news(vec![line("a", 3, "three")]).is_empty());
    }
}
