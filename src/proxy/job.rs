//! Job-mode calls: collect the request, run it in a fresh instance, answer with the response
//! document the runtime printed.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use base64::Engine;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use tokio::time::Instant;

use super::{CallMeta, InvokeError, Proxy, event, headers};
use crate::executor::JobOutcome;
use crate::jobs::Jobs;
use crate::model::CallbackSpec;

/// The runtime's response document (SPEC 4, job mode).
#[derive(Debug, Deserialize)]
struct Document {
    #[serde(rename = "statusCode")]
    status_code: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: String,
    #[serde(default)]
    is_base64: bool,
}

impl Proxy {
    /// Runs one call of a job-mode callback.
    pub(super) async fn invoke_job(
        &self,
        jobs: &Arc<Jobs>,
        rest: &str,
        req: Request<Body>,
        meta: &CallMeta,
        deadline: Instant,
        deadline_ms: i64,
    ) -> Result<Response<Body>, InvokeError> {
        let spec = &jobs.spec;
        let _permit = jobs
            .acquire(deadline)
            .await
            .map_err(|e| self.pool_error(spec, e))?;
        let (mut parts, body) = req.into_parts();
        headers::to_function(
            &mut parts.headers,
            &headers::Forwarded {
                request_id: &meta.request_id,
                client_ip: meta.client_ip,
                deadline_ms,
            },
        );
        let limit = usize::try_from(self.max_body_bytes).unwrap_or(usize::MAX);
        let bytes = http_body_util::Limited::new(body, limit)
            .collect()
            .await
            .map_err(|_| InvokeError::TooLarge(self.max_body_bytes))?
            .to_bytes();
        let event = event::build(
            parts.method.as_str(),
            rest,
            parts.uri.query(),
            &parts.headers,
            &bytes,
        );
        let env = [
            ("FAAS_REQUEST_ID", meta.request_id.to_string()),
            ("FAAS_DEADLINE_MS", deadline_ms.to_string()),
        ];
        let remaining = deadline.saturating_duration_since(Instant::now());
        let outcome = jobs
            .run(&env, &event.to_string(), remaining)
            .await
            .map_err(|e| self.pool_error(spec, crate::pool::PoolError::Start(e)))?;
        let mut resp = respond(spec, outcome)?;
        let arrival = headers::Arrival {
            cold: true,
            resumed: false,
        };
        headers::to_client(resp.headers_mut(), &meta.request_id, jobs.revision, arrival);
        Ok(resp)
    }
}

/// Turns how the job ended into the caller's response or the contract's error.
fn respond(spec: &CallbackSpec, o: JobOutcome) -> Result<Response<Body>, InvokeError> {
    let path = spec.path.as_str();
    if o.timed_out {
        return Err(InvokeError::Timeout {
            path: path.into(),
            timeout_ms: spec.timeout_ms,
        });
    }
    if o.oom_killed {
        return Err(InvokeError::OomKilled {
            path: path.into(),
            memory_mb: spec.memory_mb,
        });
    }
    let document = o
        .document
        .as_deref()
        .filter(|_| o.exit_code == 0 || o.exit_code == 1)
        .and_then(|line| serde_json::from_str::<Document>(line).ok());
    let Some(doc) = document else {
        tracing::warn!(callback.path = %path, exit_code = o.exit_code, log = %o.log, "job ended without a response");
        return Err(InvokeError::Crashed {
            path: path.into(),
            exit_code: o.exit_code,
        });
    };
    let body = if doc.is_base64 {
        base64::engine::general_purpose::STANDARD
            .decode(doc.body.as_bytes())
            .map_err(|_| InvokeError::Crashed {
                path: path.into(),
                exit_code: o.exit_code,
            })?
    } else {
        doc.body.into_bytes()
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(doc.status_code).unwrap_or(StatusCode::OK);
    for (k, v) in doc.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            resp.headers_mut().append(k, v);
        }
    }
    // The length is that of the decoded body, whatever the document claimed.
    resp.headers_mut().remove(http::header::CONTENT_LENGTH);
    Ok(resp)
}
