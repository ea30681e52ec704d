//! Asynchronous invocations: a call with `Prefer: respond-async` is committed to SQLite before
//! its `202`, run by a pool of workers with the callback's normal limits, and its result kept
//! for a retention period (and POSTed to `X-Callback-Url` when given).

mod callback_url;
mod delivery;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::model::{Invocation, Scope, StoredBody, StoredRequest};
use crate::proxy::{CallMeta, InvokeError, Proxy};
use crate::store::{Store, StoreError};

/// Header naming where to POST the finished invocation.
pub const CALLBACK_URL_HEADER: &str = "x-callback-url";

/// Whether a request asks to be answered asynchronously (RFC 7240 `Prefer: respond-async`).
pub fn wants_async(req: &Request<Body>) -> bool {
    req.headers()
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
}

/// Errors of accepting or reading invocations.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error("no invocation {0}")]
    NotFound(String),
    #[error("X-Callback-Url {0}")]
    BadCallbackUrl(String),
    #[error(transparent)]
    Invoke(#[from] InvokeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub use callback_url::Deny as CallbackDeny;

/// Settings of the async machinery.
#[derive(Debug, Clone)]
pub struct AsyncConfig {
    /// Where callbacks may not go (`FAAS_CALLBACK_DENY`).
    pub deny: CallbackDeny,
    pub workers: usize,
    pub retention: Duration,
    pub max_body_bytes: u64,
}

/// Accepts, runs and reports asynchronous invocations.
pub struct Invocations {
    store: Store,
    proxy: Arc<Proxy>,
    config: AsyncConfig,
    wake: Notify,
    http: reqwest::Client,
    /// Where deliveries run, so shutdown can wait for them.
    tasks: TaskTracker,
}

impl Invocations {
    /// The service over `store` and `proxy`.
    pub fn new(
        store: Store,
        proxy: Arc<Proxy>,
        config: AsyncConfig,
        tasks: TaskTracker,
    ) -> Arc<Self> {
        Arc::new(Invocations {
            store,
            proxy,
            config: config.clone(),
            wake: Notify::new(),
            // No redirect is followed, and only addresses the deny list allows are dialled.
            http: crate::tls::client_builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .dns_resolver(Arc::new(callback_url::DenyingResolver::new(
                    config.deny.clone(),
                )))
                .build()
                .unwrap_or_default(),
            tasks,
        })
    }

    /// Stores the call to `path` of `namespace` (after checking the callback can take it)
    /// and returns the stored invocation; the `202` may be sent once this returns.
    pub async fn accept(
        &self,
        (namespace, path): (&str, &str),
        req: Request<Body>,
        meta: &CallMeta,
    ) -> Result<Invocation, InvocationError> {
        // Unknown, undeployed or not-ready callbacks answer at once, before anything is queued.
        self.proxy.check_route(path)?;
        let callback_url = match req.headers().get(CALLBACK_URL_HEADER) {
            None => None,
            Some(v) => {
                let text = v
                    .to_str()
                    .map_err(|_| InvocationError::BadCallbackUrl("is not readable text".into()))?;
                let url = self
                    .config
                    .deny
                    .check(text)
                    .await
                    .map_err(InvocationError::BadCallbackUrl)?;
                Some(url.to_string())
            }
        };
        let (parts, body) = req.into_parts();
        let limit = usize::try_from(self.config.max_body_bytes).unwrap_or(usize::MAX);
        let bytes = http_body_util::Limited::new(body, limit)
            .collect()
            .await
            .map_err(|_| InvokeError::TooLarge(self.config.max_body_bytes))?
            .to_bytes();
        let headers = parts
            .headers
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "prefer" | CALLBACK_URL_HEADER))
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let request = StoredRequest {
            method: parts.method.to_string(),
            uri: parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned(),
            headers,
            body: StoredBody::new(&bytes),
            request_id: meta.request_id.to_string(),
            client_ip: meta.client_ip.map(|ip| ip.to_string()),
        };
        let id = uuid::Uuid::new_v4().to_string();
        self.store
            .enqueue_invocation(&id, (namespace, path), &request, callback_url.as_deref())
            .await?;
        self.wake.notify_one();
        self.get(&id, &Scope::All).await
    }

    /// One invocation, if `scope` sees its callback's namespace.
    pub async fn get(&self, id: &str, scope: &Scope) -> Result<Invocation, InvocationError> {
        if let Some(own) = scope.namespace()
            && self.store.invocation_namespace(id).await?.as_deref() != Some(own)
        {
            return Err(InvocationError::NotFound(id.to_owned()));
        }
        self.store
            .invocation(id)
            .await?
            .ok_or_else(|| InvocationError::NotFound(id.to_owned()))
    }

    /// Requeues what a restart interrupted, then runs the workers and the pruner until
    /// `cancel`; a running invocation finishes (or is left `running`, to be retried after the
    /// next start, if the process dies first).
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let failure = serde_json::json!({
            "code": "INTERNAL_ERROR",
            "message": "the invocation was interrupted by two gateway restarts and was not run again",
            "details": {},
        });
        match self.store.requeue_interrupted(&failure).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(count = n, "invocations interrupted by a restart run again"),
            Err(e) => tracing::error!(error = %e, "cannot requeue interrupted invocations"),
        }
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..self.config.workers.max(1) {
            tasks.spawn(Arc::clone(&self).work(cancel.clone()));
        }
        tasks.spawn(Arc::clone(&self).prune(cancel.clone()));
        while tasks.join_next().await.is_some() {}
    }
}
