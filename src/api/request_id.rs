//! `X-Request-Id`: taken from the request when it sent a sane one, else generated; echoed on
//! every response, carried by the request's tracing span and by error bodies.

use std::sync::Arc;

use axum::extract::Request;

tokio::task_local! {
    static REQUEST_ID: Arc<str>;
}

/// The request id of the request being served (empty outside a request).
pub fn current() -> String {
    REQUEST_ID.try_with(|id| id.to_string()).unwrap_or_default()
}

/// Runs `f` as the request whose id is `id` (what [`current`] answers inside it).
pub async fn scope<F: Future>(id: Arc<str>, f: F) -> F::Output {
    REQUEST_ID.scope(id, f).await
}

/// The request id, as a request extension for handlers (one allocation shared by the
/// extension, the task-local and the call).
#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);

/// The id a request goes by: its own `X-Request-Id` when acceptable, else a new one.
pub fn of(req: &Request) -> Arc<str> {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map_or_else(|| generate().into(), Arc::from)
}

/// A fresh id: this process's random prefix and a counter. Unique without a random number
/// per request (a syscall with some generators) and cheap to format.
fn generate() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..16].to_owned());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{n:08x}")
}

fn acceptable(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_differ_and_are_acceptable() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(acceptable(&a) && acceptable(&b), "{a} {b}");
    }

    #[test]
    fn only_printable_bounded_ids_are_taken() {
        assert!(acceptable("abc-123"));
        assert!(!acceptable(""));
        assert!(!acceptable("has space"));
        assert!(!acceptable(&"x".repeat(129)));
    }

    #[test]
    fn a_sane_id_sent_by_the_client_is_kept() {
        let req = |v: &str| {
            Request::builder()
                .header("x-request-id", v)
                .body(axum::body::Body::empty())
                .expect("request")
        };
        assert_eq!(&*of(&req("from-client-1")), "from-client-1");
        assert_ne!(&*of(&req("has space")), "has space");
    }
}
