//! POSTing a finished invocation to its `X-Callback-Url`, with retries and back-off.

use std::time::Duration;

use super::Invocations;
use crate::model::Invocation;

/// Pauses between delivery attempts: five attempts over about 15 s.
const BACKOFF: [Duration; 4] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
];

impl Invocations {
    /// Delivers `inv` to `url` until a 2xx answer or the attempts run out.
    pub(super) async fn deliver(&self, inv: &Invocation, url: &str) {
        for attempt in 0..=BACKOFF.len() {
            let answer = self.http.post(url).json(inv).send().await;
            let ok = answer.as_ref().is_ok_and(|r| r.status().is_success());
            if let Err(e) = self.store.record_delivery(&inv.id, ok).await {
                tracing::warn!(invocation.id = %inv.id, error = %e, "cannot record a delivery");
            }
            if ok {
                return;
            }
            let why = match answer {
                Ok(r) => format!("answered {}", r.status()),
                Err(e) => e.to_string(),
            };
            tracing::warn!(invocation.id = %inv.id, attempt = attempt + 1, reason = %why, "callback delivery failed");
            if let Some(pause) = BACKOFF.get(attempt) {
                tokio::time::sleep(*pause).await;
            }
        }
    }
}
