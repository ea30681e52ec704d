//! Workers: claim the oldest queued invocation, replay it through the proxy, store the
//! result; and the pruner of old results.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::Invocations;
use crate::failure::Failure;
use crate::model::{StoredBody, StoredResponse};
use crate::proxy::CallMeta;
use crate::store::Claimed;

/// How often idle workers look for work they were not woken for (e.g. requeued at start).
const POLL: Duration = Duration::from_secs(1);

impl Invocations {
    /// One worker, until `cancel` (an invocation it is running finishes first).
    pub(super) async fn work(self: Arc<Self>, cancel: CancellationToken) {
        while !cancel.is_cancelled() {
            match self.store.claim_invocation().await {
                Ok(Some(claimed)) => self.execute(claimed).await,
                Ok(None) => {
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = self.wake.notified() => {}
                        () = tokio::time::sleep(POLL) => {}
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot claim an invocation");
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    }

    async fn execute(self: &Arc<Self>, c: Claimed) {
        let span = tracing::info_span!("invocation", invocation.id = %c.id, request_id = %c.request.request_id, callback.path = %c.path);
        self.execute_in_span(c).instrument(span).await;
    }

    async fn execute_in_span(self: &Arc<Self>, c: Claimed) {
        let (response, error) = self.replay(&c).await;
        let finished = self
            .store
            .finish_invocation(&c.id, response.as_ref(), error.as_ref())
            .await;
        match finished {
            Ok(None) => tracing::info!("invocation finished after its namespace was deleted"),
            Ok(Some(inv)) => {
                tracing::info!(status = inv.status.as_str(), "invocation finished");
                if let Some(url) = c.callback_url {
                    let this = Arc::clone(self);
                    let span = tracing::Span::current();
                    self.tasks
                        .spawn(async move { this.deliver(&inv, &url).await }.instrument(span));
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot store an invocation's result"),
        }
    }

    /// Runs the stored request; a response the function chose is a success, a gateway-made
    /// error or an unhandled exception a failure.
    async fn replay(&self, c: &Claimed) -> (Option<StoredResponse>, Option<Value>) {
        let r = &c.request;
        let mut builder = Request::builder()
            .method(r.method.as_str())
            .uri(r.uri.as_str());
        for (name, value) in &r.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let req = match builder.body(Body::from(r.body.bytes())) {
            Ok(req) => req,
            Err(e) => return (None, Some(Failure::internal(&e).error_object())),
        };
        let meta = CallMeta {
            request_id: r.request_id.as_str().into(),
            client_ip: r.client_ip.as_deref().and_then(|ip| ip.parse().ok()),
        };
        let resp = match self.proxy.invoke(&c.path, req, meta).await {
            Ok(resp) => resp,
            Err(e) => return (None, Some(Failure::from(e).error_object())),
        };
        let (parts, body) = resp.into_parts();
        let bytes = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return (None, Some(Failure::internal(&e).error_object())),
        };
        if parts.headers.contains_key("x-faas-error") {
            return (None, Some(function_error(&bytes)));
        }
        let mut headers = std::collections::BTreeMap::new();
        for name in parts.headers.keys() {
            let joined = parts
                .headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect::<Vec<_>>()
                .join(", ");
            headers.insert(name.as_str().to_owned(), joined);
        }
        let response = StoredResponse {
            status: parts.status.as_u16(),
            headers,
            body: StoredBody::new(&bytes),
        };
        (Some(response), None)
    }

    /// Deletes finished invocations past the retention period, every minute.
    pub(super) async fn prune(self: Arc<Self>, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let retention = chrono::Duration::from_std(self.config.retention)
                .unwrap_or(chrono::Duration::days(1));
            match self
                .store
                .prune_invocations(chrono::Utc::now() - retention)
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(count = n, "old invocation results pruned"),
                Err(e) => tracing::warn!(error = %e, "cannot prune invocations"),
            }
        }
    }
}

/// The runtime's FUNCTION_ERROR document as the invocation's `error`, always with `details`.
fn function_error(body: &[u8]) -> Value {
    let mut error = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").cloned())
        .filter(Value::is_object)
        .unwrap_or_else(
            || serde_json::json!({"code": "FUNCTION_ERROR", "message": "the function raised"}),
        );
    if let Some(e) = error.as_object_mut() {
        e.entry("details").or_insert_with(|| serde_json::json!({}));
    }
    error
}

#[cfg(test)]
mod tests {
    use super::function_error;

    #[test]
    fn a_function_error_always_has_details() {
        let e = function_error(br#"{"error":{"code":"FUNCTION_ERROR","message":"ValueError: x"}}"#);
        assert_eq!(e["details"], serde_json::json!({}));
        assert_eq!(e["message"], "ValueError: x");
        let e = function_error(b"not json");
        assert_eq!(e["code"], "FUNCTION_ERROR");
        assert!(e["details"].is_object());
    }
}
