//! kube's errors in the gateway's terms: an unreachable API server is `Unavailable`, a 403
//! is `Forbidden` naming the verb and resource the gateway's account lacks.

use std::time::Duration;

use kube::core::Status;

use crate::executor::ExecutorError;

/// Bound on one control call (create, get, patch …); watches and log reads are not bound.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);
const BACKEND: &str = "kubernetes";

/// Runs one API call within [`CALL_TIMEOUT`], handing the server's own answers (404, 409 …)
/// back unmapped; only a timeout becomes an error here.
pub async fn raw<T>(
    fut: impl Future<Output = kube::Result<T>>,
) -> Result<kube::Result<T>, ExecutorError> {
    tokio::time::timeout(CALL_TIMEOUT, fut).await.map_err(|_| {
        unavailable(format!(
            "the API server did not answer within {} s",
            CALL_TIMEOUT.as_secs()
        ))
    })
}

/// Like [`raw`], mapping every failure; `verb` and `resource` name the call for a 403 whose
/// message cannot be read.
pub async fn call<T>(
    fut: impl Future<Output = kube::Result<T>>,
    verb: &str,
    resource: &str,
) -> Result<T, ExecutorError> {
    raw(fut).await?.map_err(|e| map(e, verb, resource))
}

/// Whether the server answered 404.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Whether the server answered 409 (the object exists, or a precondition failed).
pub fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// Maps a kube error from a call that tried to `verb` `resource`.
pub fn map(e: kube::Error, verb: &str, resource: &str) -> ExecutorError {
    use kube::Error as E;
    match e {
        E::Api(status) => from_status(&status, verb, resource),
        e @ (E::HyperError(_) | E::Service(_) | E::ReadEvents(_) | E::Auth(_)) => {
            unavailable(e.to_string())
        }
        e @ (E::InferConfig(_) | E::InferKubeconfig(_)) => unavailable(e.to_string()),
        other => ExecutorError::Other(format!("Kubernetes API call failed: {other}")),
    }
}

/// Maps a watcher's error; `resource` is what it watched.
pub fn map_watch(e: kube::runtime::watcher::Error, resource: &str) -> ExecutorError {
    use kube::runtime::watcher::Error as W;
    match e {
        W::InitialListFailed(e) => map(e, "list", resource),
        W::WatchStartFailed(e) | W::WatchFailed(e) => map(e, "watch", resource),
        W::WatchError(status) => from_status(&status, "watch", resource),
        W::NoResourceVersion => ExecutorError::Other(format!(
            "the API server's list of {resource} carries no resourceVersion"
        )),
    }
}

/// Whether a watcher error only means "relist": the watcher recovers on its own.
pub fn is_transient_watch_error(e: &kube::runtime::watcher::Error) -> bool {
    matches!(e, kube::runtime::watcher::Error::WatchError(s) if s.code == 410)
}

fn from_status(s: &Status, verb: &str, resource: &str) -> ExecutorError {
    match s.code {
        403 => {
            let (verb, resource) = forbidden_permission(&s.message).unwrap_or_else(|| {
                let kind = s.details.as_ref().map(|d| d.kind.clone());
                let resource = kind.filter(|k| !k.is_empty()).unwrap_or(resource.into());
                (verb.into(), resource)
            });
            ExecutorError::Forbidden {
                verb,
                resource,
                message: s.message.clone(),
            }
        }
        401 => unavailable(format!(
            "the API server rejected the gateway's credentials: {}",
            s.message
        )),
        429 | 502 | 503 | 504 => unavailable(format!("{} ({})", s.message, s.code)),
        code => ExecutorError::Other(format!(
            "Kubernetes refused to {verb} {resource} ({code} {}): {}",
            s.reason, s.message
        )),
    }
}

/// The verb and resource named by an RBAC denial: `… cannot create resource "jobs" in API
/// group "batch" …` (a subresource reads `"pods/log"`).
fn forbidden_permission(message: &str) -> Option<(String, String)> {
    let rest = message.split_once(" cannot ")?.1;
    let (verb, rest) = rest.split_once(' ')?;
    let rest = rest.strip_prefix("resource \"")?;
    let resource = rest.split('"').next().filter(|r| !r.is_empty())?;
    Some((verb.to_owned(), resource.to_owned()))
}

fn unavailable(reason: String) -> ExecutorError {
    ExecutorError::Unavailable {
        backend: BACKEND,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(file: &str) -> Status {
        serde_json::from_str(file).expect("a Status")
    }

    #[test]
    fn a_403_names_the_verb_and_resource_from_the_message() {
        let s = status(include_str!(
            "../../../tests/kube_api/fixtures/status-403-forbidden.json"
        ));
        let e = map(kube::Error::Api(Box::new(s)), "get", "pods");
        let ExecutorError::Forbidden {
            verb,
            resource,
            message,
        } = e
        else {
            panic!("not forbidden: {e:?}");
        };
        assert_eq!((verb.as_str(), resource.as_str()), ("create", "jobs"));
        assert!(message.contains("system:serviceaccount:faas-test:limited"));
    }

    #[test]
    fn a_403_without_a_readable_message_falls_back_to_the_call() {
        let mut s = status(include_str!(
            "../../../tests/kube_api/fixtures/status-403-forbidden.json"
        ));
        s.message = "forbidden".into();
        let e = map(kube::Error::Api(Box::new(s)), "create", "configmaps");
        assert!(
            matches!(&e, ExecutorError::Forbidden { verb, resource, .. } if verb == "create" && resource == "jobs"),
            "{e:?}"
        );
    }

    #[test]
    fn a_subresource_denial_keeps_the_subresource() {
        let msg = r#"pods "p" is forbidden: User "u" cannot get resource "pods/log" in API group "" in the namespace "n""#;
        assert_eq!(
            forbidden_permission(msg),
            Some(("get".into(), "pods/log".into()))
        );
    }

    #[test]
    fn a_404_is_recognised_and_not_unavailable() {
        let s = status(include_str!(
            "../../../tests/kube_api/fixtures/status-404-notfound.json"
        ));
        let e = kube::Error::Api(Box::new(s));
        assert!(is_not_found(&e));
        assert!(matches!(map(e, "get", "pods"), ExecutorError::Other(_)));
    }

    #[test]
    fn a_503_from_the_server_is_unavailable() {
        let s = Status::failure("etcd is down", "ServiceUnavailable").with_code(503);
        assert!(matches!(
            map(kube::Error::Api(Box::new(s)), "get", "pods"),
            ExecutorError::Unavailable {
                backend: "kubernetes",
                ..
            }
        ));
    }
}
