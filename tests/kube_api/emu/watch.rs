//! `?watch=true`: newline-delimited `{"type","object"}` events. Without a resourceVersion
//! (or with "0") the stream starts with an `ADDED` per existing object; with one, it replays
//! every change after it, then follows new ones until `timeoutSeconds`.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use super::cluster::Cluster;
use super::server::{DEFAULT_WATCH, streaming};
use super::store::{Res, matches_fields, matches_labels};

struct Watch {
    cluster: Arc<Cluster>,
    res: Res,
    labels: Option<String>,
    fields: Option<String>,
    cursor: u64,
    pending: VecDeque<Bytes>,
    changed: watch::Receiver<u64>,
    until: Instant,
}

impl Watch {
    fn matches(&self, o: &Value) -> bool {
        matches_labels(o, self.labels.as_deref()) && matches_fields(o, self.fields.as_deref())
    }

    /// Queues the changes after the cursor.
    fn catch_up(&mut self) {
        self.changed.borrow_and_update();
        let cluster = Arc::clone(&self.cluster);
        let (lines, rv) = cluster.read(|s| {
            let lines: Vec<Bytes> = s
                .log
                .iter()
                .filter(|c| c.rv > self.cursor && c.res == self.res && self.matches(&c.object))
                .map(|c| line(c.kind, &c.object))
                .collect();
            (lines, s.rv())
        });
        self.cursor = rv;
        self.pending.extend(lines);
    }
}

fn line(kind: &str, object: &Value) -> Bytes {
    Bytes::from(format!("{}\n", json!({"type": kind, "object": object})))
}

/// Answers one watch request.
pub fn stream(c: &Arc<Cluster>, res: Res, query: &HashMap<String, String>) -> Response {
    let from = query
        .get("resourceVersion")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|v| *v > 0);
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .map_or(DEFAULT_WATCH, Duration::from_secs);
    let mut w = Watch {
        cluster: Arc::clone(c),
        res,
        labels: query.get("labelSelector").cloned(),
        fields: query.get("fieldSelector").cloned(),
        cursor: 0,
        pending: VecDeque::new(),
        changed: c.subscribe(),
        until: Instant::now() + timeout,
    };
    w.changed.borrow_and_update();
    match from {
        Some(rv) => w.cursor = rv,
        None => {
            let (initial, rv) = c.read(|s| (s.list(res), s.rv()));
            let added: Vec<Bytes> = initial
                .iter()
                .filter(|o| w.matches(o))
                .map(|o| line("ADDED", o))
                .collect();
            w.pending.extend(added);
            w.cursor = rv;
        }
    }
    let events = futures::stream::unfold(w, |mut w| async move {
        loop {
            if let Some(next) = w.pending.pop_front() {
                return Some((Ok::<_, Infallible>(next), w));
            }
            w.catch_up();
            if !w.pending.is_empty() {
                continue;
            }
            tokio::select! {
                changed = w.changed.changed() => if changed.is_err() { return None },
                () = tokio::time::sleep_until(w.until) => return None,
            }
        }
    });
    streaming(Body::from_stream(events))
}
