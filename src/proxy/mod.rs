//! The invoke path: resolve the callback → acquire an instance slot → forward the request
//! (streaming both ways) → release the slot when the response body ends.

mod body;
mod event;
pub mod headers;
mod job;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use http::{Request, Response, Uri};
use tokio::time::Instant;

use crate::executor::{ExecutorError, Exit, InstanceStatus};
use crate::launcher::{DiedError, StartError};
use crate::model::CallbackSpec;
use crate::pool::{Lease, Pool, PoolError};
use crate::routes::{Revision, Route, RouteTable, Runner};
use crate::upstream::HttpClient;

/// How long a broken call waits for the backend to record its instance's exit.
const DEATH_CONFIRMATION: Duration = Duration::from_secs(2);

/// Why a call got no response from its function.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("no callback is deployed at /api/{0}")]
    NotFound(String),
    #[error("callback {0} is undeployed")]
    NotDeployed(String),
    #[error("callback {0} has no revision serving yet")]
    NotReady(String),
    #[error("the request body is over the {0}-byte limit")]
    TooLarge(u64),
    #[error("callback {path} has {queue_len} calls queued already")]
    QueueFull { path: String, queue_len: usize },
    #[error("callback {path} did not answer within its timeout of {timeout_ms} ms")]
    Timeout { path: String, timeout_ms: u64 },
    #[error("an instance of callback {path} exited with code {exit_code} while serving")]
    Crashed { path: String, exit_code: i64 },
    #[error("an instance of callback {path} exited with code {exit_code} while starting")]
    CrashedStarting { path: String, exit_code: i64 },
    #[error(
        "an instance of callback {path} was killed for exceeding its memory limit of {memory_mb} MB"
    )]
    OomKilled { path: String, memory_mb: u32 },
    #[error("callback {path} keeps crashing; the next start is in {retry_after_s} s")]
    CrashLoop { path: String, retry_after_s: u64 },
    #[error("image {image} of callback {path} is missing and could not be rebuilt: {reason}")]
    ImageUnavailable {
        path: String,
        image: String,
        reason: String,
    },
    /// The namespace's quota had no room for the instance the call needed.
    #[error(transparent)]
    Quota(#[from] crate::model::QuotaExceeded),
    #[error(transparent)]
    Backend(#[from] ExecutorError),
}

/// How a proxied call was served, for its access-log line (a response extension).
#[derive(Debug, Clone)]
pub struct CallFacts {
    pub revision: u64,
    /// The instance's id, shortened to 12 characters.
    pub instance: String,
    pub cold_start: bool,
    pub resumed: bool,
}

/// Per-call facts the API layer extracts.
pub struct CallMeta {
    pub request_id: Arc<str>,
    pub client_ip: Option<IpAddr>,
}

/// Forwards calls to instances.
pub struct Proxy {
    routes: Arc<RouteTable>,
    client: HttpClient,
    max_body_bytes: u64,
    queue_len: usize,
}

impl Proxy {
    /// An proxy over `routes`.
    pub fn new(
        routes: Arc<RouteTable>,
        client: HttpClient,
        max_body_bytes: u64,
        queue_len: usize,
    ) -> Self {
        Proxy {
            routes,
            client,
            max_body_bytes,
            queue_len,
        }
    }

    /// Whether `path` can take calls now (the errors a call would get at once otherwise).
    pub fn check_route(&self, path: &str) -> Result<(), InvokeError> {
        self.route(path).map(|_| ())
    }

    fn route(&self, path: &str) -> Result<Arc<Revision>, InvokeError> {
        match self.routes.get(path) {
            Some(Route::Serving(revision)) => Ok(revision),
            Some(Route::NotReady) => Err(InvokeError::NotReady(path.into())),
            Some(Route::Undeployed) => Err(InvokeError::NotDeployed(path.into())),
            None => Err(InvokeError::NotFound(path.into())),
        }
    }

    /// Calls `path` with `req`, whose URI path is `/api/<path>[/<rest>]`.
    pub async fn invoke(
        &self,
        path: &str,
        req: Request<Body>,
        meta: CallMeta,
    ) -> Result<Response<Body>, InvokeError> {
        let arrival = Instant::now();
        let mut revision = self.route(path)?;
        let declared_length = content_length(&req);
        if let Some(len) = declared_length
            && len > self.max_body_bytes
        {
            return Err(InvokeError::TooLarge(self.max_body_bytes));
        }
        let timeout = Duration::from_millis(revision.spec.timeout_ms);
        let deadline = arrival + timeout;
        let deadline_ms = chrono::Utc::now().timestamp_millis()
            + i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
        let (pool, lease) = loop {
            let pool = match &revision.runner {
                Runner::Warm(pool) => Arc::clone(pool),
                Runner::Jobs(jobs) => {
                    let rest = rest_of(req.uri().path(), path).to_owned();
                    let jobs = Arc::clone(jobs);
                    return self
                        .invoke_job(&jobs, &rest, req, &meta, deadline, deadline_ms)
                        .await;
                }
            };
            match pool.acquire(deadline).await {
                Ok(lease) => break (pool, lease),
                // Redeployed while we looked: the new revision takes the call.
                Err(PoolError::Draining) => revision = self.route(path)?,
                Err(e) => return Err(self.pool_error(&pool.spec, e)),
            }
        };
        let (mut parts, body) = req.into_parts();
        parts.uri = upstream_uri(&parts.uri, path, lease.endpoint())?;
        headers::to_function(
            &mut parts.headers,
            &headers::Forwarded {
                request_id: &meta.request_id,
                client_ip: meta.client_ip,
                deadline_ms,
            },
        );
        // A body of a declared length was checked above, and the server ends it at that
        // length; only a chunked one is counted as it streams.
        let capped = declared_length.is_none() && !http_body::Body::is_end_stream(&body);
        let tripped = capped.then(|| Arc::new(AtomicBool::new(false)));
        let body = match &tripped {
            Some(tripped) => Body::new(body::Capped::new(
                body,
                self.max_body_bytes,
                Arc::clone(tripped),
            )),
            None => body,
        };
        let sent = self.client.request(Request::from_parts(parts, body));
        let resp = match tokio::time::timeout_at(deadline, sent).await {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) if tripped.as_ref().is_some_and(|t| t.load(Ordering::Acquire)) => {
                tracing::debug!(error = %e, "request body over the limit");
                return Err(InvokeError::TooLarge(self.max_body_bytes));
            }
            Ok(Err(e)) => {
                tracing::warn!(request_id = %meta.request_id, callback.path = %path, instance.id = %lease.instance_id(), error = %e, "forwarding failed");
                return Err(self.instance_failed(&pool, &lease).await);
            }
            Err(_) => {
                // A handler past its deadline may be stuck for good (an endless loop holds its
                // thread): replace the instance before it gets another call.
                pool.evict(lease.instance_id());
                return Err(InvokeError::Timeout {
                    path: path.into(),
                    timeout_ms: pool.spec.timeout_ms,
                });
            }
        };
        let (mut parts, incoming) = resp.into_parts();
        let arrival = headers::Arrival {
            cold: lease.cold(),
            resumed: lease.resumed(),
        };
        headers::to_client(&mut parts.headers, &meta.request_id, pool.revision, arrival);
        let id = lease.instance_id();
        parts.extensions.insert(CallFacts {
            revision: pool.revision,
            instance: id[..id.len().min(12)].to_owned(),
            cold_start: arrival.cold,
            resumed: arrival.resumed,
        });
        Ok(Response::from_parts(
            parts,
            Body::new(body::Leased::new(incoming, lease)),
        ))
    }

    /// The connection to an instance broke: find out how it died (the backend may take a
    /// moment to record the exit) and take it out of service.
    async fn instance_failed(&self, pool: &Arc<Pool>, lease: &Lease) -> InvokeError {
        let path = pool.spec.path.clone();
        let id = lease.instance_id();
        let executor = Arc::clone(pool.executor());
        let deadline = Instant::now() + DEATH_CONFIRMATION;
        let exit = loop {
            match executor.status(id).await {
                Ok(InstanceStatus::Exited(exit)) => break Some(exit),
                // Restarted in place since the call began: it died under the call.
                Ok(InstanceStatus::Restarted(exit)) if exit.restarts >= lease.restarts() => {
                    break Some(exit);
                }
                Ok(InstanceStatus::Gone) => break Some(Exit::for_good(-1, false)),
                Ok(_) if Instant::now() >= deadline => break None,
                Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(e) => return InvokeError::Backend(e),
            }
        };
        let Some(exit) = exit else {
            // Alive but it dropped the connection: not to be trusted with another call.
            pool.evict(id);
            return InvokeError::Crashed {
                path,
                exit_code: -1,
            };
        };
        pool.instance_exited(id, &exit);
        if exit.oom_killed {
            InvokeError::OomKilled {
                path,
                memory_mb: pool.spec.memory_mb,
            }
        } else {
            InvokeError::Crashed {
                path,
                exit_code: exit.exit_code,
            }
        }
    }

    fn pool_error(&self, spec: &CallbackSpec, e: PoolError) -> InvokeError {
        let path = spec.path.clone();
        match e {
            PoolError::QueueFull => InvokeError::QueueFull {
                path,
                queue_len: self.queue_len,
            },
            PoolError::Timeout | PoolError::Start(StartError::Timeout { .. }) => {
                InvokeError::Timeout {
                    path,
                    timeout_ms: spec.timeout_ms,
                }
            }
            PoolError::Draining => InvokeError::NotReady(path),
            // The instance the call waited for died before it could serve.
            PoolError::Start(StartError::Exited { exit, .. })
            | PoolError::Died(DiedError { exit, .. }) => {
                if exit.oom_killed {
                    InvokeError::OomKilled {
                        path,
                        memory_mb: spec.memory_mb,
                    }
                } else {
                    InvokeError::CrashedStarting {
                        path,
                        exit_code: exit.exit_code,
                    }
                }
            }
            PoolError::Start(StartError::Backend(e)) => InvokeError::Backend(e),
            PoolError::Start(StartError::Quota(q)) => InvokeError::Quota(q),
            PoolError::Start(StartError::ImageUnavailable { image, reason }) => {
                InvokeError::ImageUnavailable {
                    path,
                    image,
                    reason,
                }
            }
            PoolError::CrashLoop { retry_after } => InvokeError::CrashLoop {
                path,
                retry_after_s: retry_after.as_secs_f64().ceil().max(1.0) as u64,
            },
        }
    }
}

fn content_length(req: &Request<Body>) -> Option<u64> {
    req.headers()
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// The path the function sees: `/<rest>` of `/api/<path>/<rest>`, `/` for a bare call.
fn rest_of<'a>(full: &'a str, path: &str) -> &'a str {
    let rest = full
        .strip_prefix("/api/")
        .and_then(|p| p.strip_prefix(path))
        .unwrap_or("");
    if rest.is_empty() { "/" } else { rest }
}

/// `/api/<path>/<rest>?q` → `http://<endpoint>/<rest>?q`, keeping the client's encoding.
fn upstream_uri(uri: &Uri, path: &str, endpoint: std::net::SocketAddr) -> Result<Uri, InvokeError> {
    let rest = rest_of(uri.path(), path);
    let target = match uri.query() {
        Some(q) => format!("http://{endpoint}{rest}?{q}"),
        None => format!("http://{endpoint}{rest}"),
    };
    target
        .parse()
        .map_err(|e| InvokeError::Backend(ExecutorError::Other(format!("bad upstream URI: {e}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_function_sees_the_rest_of_the_path_and_the_raw_query() {
        let ep: std::net::SocketAddr = "127.0.0.1:9".parse().expect("addr");
        let u = |s: &str| upstream_uri(&s.parse().expect("uri"), "hello", ep).expect("ok");
        assert_eq!(u("/api/hello").to_string(), "http://127.0.0.1:9/");
        assert_eq!(u("/api/hello/").to_string(), "http://127.0.0.1:9/");
        assert_eq!(
            u("/api/hello/a/b%20c?x=1&x=2").to_string(),
            "http://127.0.0.1:9/a/b%20c?x=1&x=2"
        );
        assert_eq!(
            u("/api/hello?q=%2F").to_string(),
            "http://127.0.0.1:9/?q=%2F"
        );
    }
}
