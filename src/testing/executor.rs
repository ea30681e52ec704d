//! A backend whose instances are HTTP servers in this process (`instance.rs`). What the
//! instance does at start comes from its environment, as a function's code would decide it:
//! - `FAKE_START_EXIT=<code>`: the process exits with that code before it is healthy;
//! - `FAKE_START_DELAY_MS=<ms>`: it becomes healthy after that long;
//! - `FAKE_JOB_SLEEP_MS=<ms>`: in job mode, the run takes that long.
//!
//! Tests play the outside world through it: kill an instance, remove one behind the gateway's
//! back, make the whole backend unreachable.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::instance::{self, Server, Shared};
use crate::executor::{
    Executor, ExecutorError, Exit, Instance, InstanceEvent, InstanceSpec, InstanceStatus,
    JobOutcome, LogLine, ObservedInstance,
};
use crate::upstream::Probe;

/// What the backend knows of one instance.
struct Record {
    callback: String,
    revision: u64,
    started_at: DateTime<Utc>,
    endpoint: std::net::SocketAddr,
    server: Option<Server>,
    exit: Option<(Exit, DateTime<Utc>)>,
    shared: Arc<Shared>,
}

impl Record {
    fn paused(&self) -> bool {
        self.shared.paused.load(Ordering::Acquire)
    }
}

#[derive(Default)]
struct State {
    instances: BTreeMap<String, Record>,
    watchers: Vec<mpsc::Sender<InstanceEvent>>,
    /// Callbacks whose next starts exit at once with this code (their code broke).
    crashing: BTreeMap<String, i64>,
}

/// What a test makes of `pause`: held until released, or refused.
struct Pauses {
    held: tokio::sync::watch::Sender<bool>,
    refused: AtomicBool,
}

impl Default for Pauses {
    fn default() -> Self {
        Pauses {
            held: tokio::sync::watch::channel(false).0,
            refused: AtomicBool::new(false),
        }
    }
}

/// An in-memory backend; cheap to share behind an `Arc`.
#[derive(Clone, Default)]
pub struct FakeExecutor {
    state: Arc<Mutex<State>>,
    unavailable: Arc<AtomicBool>,
    next: Arc<AtomicU64>,
    starts: Arc<AtomicU64>,
    pauses: Arc<Pauses>,
}

impl FakeExecutor {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check(&self) -> Result<(), ExecutorError> {
        if self.unavailable.load(Ordering::Acquire) {
            return Err(ExecutorError::Unavailable {
                backend: "docker",
                reason: "the fake daemon is down".into(),
            });
        }
        Ok(())
    }

    /// Makes pauses wait until released (`false`), as a slow `docker pause` would.
    pub fn hold_pauses(&self, hold: bool) {
        self.pauses.held.send_replace(hold);
    }

    /// Makes pauses fail (`false`: they work again).
    pub fn refuse_pauses(&self, refuse: bool) {
        self.pauses.refused.store(refuse, Ordering::Release);
    }

    /// Makes every call fail as an unreachable backend would (`false`: back again).
    pub fn set_unavailable(&self, down: bool) {
        self.unavailable.store(down, Ordering::Release);
    }

    /// A health probe that asks this backend rather than the instance's HTTP server: with
    /// paused time (no real waiting) a start is judged by the clock alone.
    pub fn probe(&self) -> Arc<dyn Probe> {
        Arc::new(FakeProbe {
            state: Arc::clone(&self.state),
        })
    }

    fn set_paused(&self, id: &str, paused: bool) -> Result<(), ExecutorError> {
        match self.lock().instances.get(id) {
            Some(r) if r.exit.is_none() => {
                r.shared.paused.store(paused, Ordering::Release);
                Ok(())
            }
            _ => Err(ExecutorError::Other(format!("no running instance {id}"))),
        }
    }

    /// Ids of the paused instances of `callback`.
    pub fn paused(&self, callback: &str) -> Vec<String> {
        self.lock()
            .instances
            .iter()
            .filter(|(_, r)| r.callback == callback && r.exit.is_none() && r.paused())
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// How many instances were started so far.
    pub fn starts(&self) -> u64 {
        self.starts.load(Ordering::Acquire)
    }

    /// Ids of the instances of `callback` that run.
    pub fn running(&self, callback: &str) -> Vec<String> {
        self.lock()
            .instances
            .iter()
            .filter(|(_, r)| r.callback == callback && r.exit.is_none())
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Ids of every instance the backend still has, running or not.
    pub fn all(&self) -> Vec<String> {
        self.lock().instances.keys().cloned().collect()
    }

    /// From now on every start of `callback` exits at once with `exit_code` (`None`: starts
    /// work again), as if its code broke (a missing configuration, a bad deploy).
    pub fn crash_starts(&self, callback: &str, exit_code: Option<i64>) {
        let mut st = self.lock();
        match exit_code {
            Some(code) => st.crashing.insert(callback.to_owned(), code),
            None => st.crashing.remove(callback),
        };
    }

    /// The instance dies (`docker kill`, an OOM kill): its server stops, the watch hears of it.
    pub fn kill(&self, id: &str, exit: Exit) {
        record_death(&self.state, id, exit);
    }

    /// The instance disappears behind the gateway's back (`docker rm -f`).
    pub fn vanish(&self, id: &str) {
        let removed = self.lock().instances.remove(id);
        if let Some(r) = removed {
            if let Some(s) = r.server {
                s.task.abort();
            }
            broadcast(
                &self.state,
                InstanceEvent::Exited {
                    id: id.to_owned(),
                    exit: Exit::for_good(-1, false),
                },
            );
        }
    }

    async fn spawn(&self, spec: &InstanceSpec) -> Result<Instance, ExecutorError> {
        let n = self.next.fetch_add(1, Ordering::AcqRel);
        let id = format!("fake-{}-r{}-{n}", spec.callback, spec.revision);
        let delay = env_ms(spec, "FAKE_START_DELAY_MS").unwrap_or(0);
        let crashing = self.lock().crashing.get(&spec.callback).copied();
        let exits_at_start = env_ms(spec, "FAKE_START_EXIT")
            .map(|c| c as i64)
            .or(crashing);
        let state = Arc::clone(&self.state);
        let shared = Arc::new(Shared {
            id: id.clone(),
            healthy_from: exits_at_start
                .is_none()
                .then(|| tokio::time::Instant::now() + Duration::from_millis(delay)),
            logs: Mutex::new(Vec::new()),
            on_death: Arc::new(move |id: &str, exit: Exit| record_death(&state, id, exit)),
            env: spec.env.clone(),
            paused: std::sync::atomic::AtomicBool::new(false),
        });
        shared.log("starting".into());
        let server = instance::serve(Arc::clone(&shared))
            .await
            .map_err(|e| ExecutorError::Other(format!("cannot serve a fake instance: {e}")))?;
        let started_at = Utc::now();
        self.lock().instances.insert(
            id.clone(),
            Record {
                callback: spec.callback.clone(),
                revision: spec.revision,
                started_at,
                endpoint: server.endpoint,
                server: Some(server),
                exit: None,
                shared: Arc::clone(&shared),
            },
        );
        let endpoint = self.lock().instances[&id].endpoint;
        if let Some(code) = exits_at_start {
            shared.log(format!(
                "Traceback: the function exits with code {code} at import"
            ));
            record_death(&self.state, &id, Exit::for_good(code, false));
        }
        Ok(Instance {
            id,
            endpoint,
            started_at,
        })
    }
}

/// See [`FakeExecutor::probe`].
struct FakeProbe {
    state: Arc<Mutex<State>>,
}

#[async_trait]
impl Probe for FakeProbe {
    async fn healthy(&self, instance: &Instance) -> bool {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.instances.get(&instance.id).is_some_and(|r| {
            r.exit.is_none()
                && !r.paused()
                && r.shared
                    .healthy_from
                    .is_some_and(|t| tokio::time::Instant::now() >= t)
        })
    }
}

fn env_ms(spec: &InstanceSpec, name: &str) -> Option<u64> {
    spec.env.get(name).and_then(|v| v.parse().ok())
}

/// Records an instance's death, stops its server and tells the watchers.
fn record_death(state: &Arc<Mutex<State>>, id: &str, exit: Exit) {
    {
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(r) = st.instances.get_mut(id) else {
            return;
        };
        if r.exit.is_some() {
            return;
        }
        r.exit = Some((exit, Utc::now()));
        if let Some(s) = r.server.take() {
            s.task.abort();
        }
    }
    broadcast(
        state,
        InstanceEvent::Exited {
            id: id.to_owned(),
            exit,
        },
    );
}

fn broadcast(state: &Arc<Mutex<State>>, event: InstanceEvent) {
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    st.watchers.retain(|w| !w.is_closed());
    for w in &st.watchers {
        let _ = w.try_send(event.clone());
    }
}

#[async_trait]
impl Executor for FakeExecutor {
    async fn ping(&self) -> Result<String, ExecutorError> {
        self.check()?;
        Ok("fake".into())
    }

    async fn start(&self, spec: &InstanceSpec) -> Result<Instance, ExecutorError> {
        self.check()?;
        self.starts.fetch_add(1, Ordering::AcqRel);
        self.spawn(spec).await
    }

    async fn remove(&self, id: &str) -> Result<(), ExecutorError> {
        self.check()?;
        if let Some(r) = self.lock().instances.remove(id)
            && let Some(s) = r.server
        {
            s.task.abort();
        }
        Ok(())
    }

    async fn stop(&self, id: &str) -> Result<(), ExecutorError> {
        self.check()?;
        record_death(&self.state, id, Exit::for_good(137, false));
        Ok(())
    }

    async fn watch(&self, tx: mpsc::Sender<InstanceEvent>) -> Result<(), ExecutorError> {
        self.check()?;
        self.lock().watchers.push(tx.clone());
        tx.closed().await;
        Ok(())
    }

    async fn status(&self, id: &str) -> Result<InstanceStatus, ExecutorError> {
        self.check()?;
        Ok(match self.lock().instances.get(id) {
            None => InstanceStatus::Gone,
            Some(Record {
                exit: Some((exit, _)),
                ..
            }) => InstanceStatus::Exited(*exit),
            Some(_) => InstanceStatus::Running,
        })
    }

    async fn list(&self) -> Result<Vec<ObservedInstance>, ExecutorError> {
        self.check()?;
        Ok(self
            .lock()
            .instances
            .iter()
            .map(|(id, r)| ObservedInstance {
                instance: Instance {
                    id: id.clone(),
                    endpoint: r.endpoint,
                    started_at: r.started_at,
                },
                callback: r.callback.clone(),
                revision: r.revision,
                running: r.exit.is_none(),
                finished_at: r.exit.map(|(_, at)| at),
                restarting: false,
                job: false,
                paused: r.paused(),
            })
            .collect())
    }

    async fn run_job(
        &self,
        spec: &InstanceSpec,
        event: &str,
        timeout: Duration,
    ) -> Result<JobOutcome, ExecutorError> {
        self.check()?;
        self.starts.fetch_add(1, Ordering::AcqRel);
        if let Some(code) = env_ms(spec, "FAKE_START_EXIT") {
            return Ok(job_outcome(code as i64, None, "Traceback: exit at import"));
        }
        let sleep = Duration::from_millis(env_ms(spec, "FAKE_JOB_SLEEP_MS").unwrap_or(0));
        if sleep > timeout {
            tokio::time::sleep(timeout).await;
            return Ok(JobOutcome {
                timed_out: true,
                ..job_outcome(-1, None, "still running")
            });
        }
        tokio::time::sleep(sleep).await;
        let document = serde_json::json!({
            "statusCode": 200,
            "headers": {"content-type": "application/json"},
            "body": event,
        });
        Ok(job_outcome(0, Some(document.to_string()), "ran once"))
    }

    fn can_pause(&self) -> bool {
        true
    }

    async fn pause(&self, id: &str) -> Result<(), ExecutorError> {
        self.check()?;
        // Dropped only with the executor, which this call holds.
        let _ = self.pauses.held.subscribe().wait_for(|held| !held).await;
        if self.pauses.refused.load(Ordering::Acquire) {
            return Err(ExecutorError::Other(
                "the fake daemon refused to pause".into(),
            ));
        }
        self.set_paused(id, true)
    }

    async fn resume(&self, id: &str) -> Result<(), ExecutorError> {
        self.check()?;
        self.set_paused(id, false)
    }

    async fn logs(&self, ids: &[String], tail: usize) -> Result<Vec<LogLine>, ExecutorError> {
        self.check()?;
        let st = self.lock();
        let mut lines: Vec<LogLine> = ids
            .iter()
            .filter_map(|id| st.instances.get(id))
            .flat_map(|r| {
                r.shared
                    .logs
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone()
            })
            .collect();
        lines.sort_by_key(|l| l.ts);
        let skip = lines.len().saturating_sub(tail);
        Ok(lines.split_off(skip))
    }
}

fn job_outcome(exit_code: i64, document: Option<String>, log: &str) -> JobOutcome {
    JobOutcome {
        exit_code,
        oom_killed: false,
        timed_out: false,
        document,
        log: log.into(),
    }
}
