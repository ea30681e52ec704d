use serde_json::json;

use super::*;
use crate::model::StoredBody;

fn request() -> StoredRequest {
    StoredRequest {
        method: "POST".into(),
        uri: "/api/hello/x?y=1".into(),
        headers: vec![("x-a".into(), "1".into())],
        body: StoredBody::new(b"hi"),
        request_id: "rid".into(),
        client_ip: Some("127.0.0.1".into()),
    }
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("faas.db")).expect("open");
    (dir, store)
}

#[tokio::test]
async fn invocations_are_claimed_once_in_arrival_order() {
    let (_dir, store) = store();
    store
        .enqueue_invocation("a", ("default", "hello"), &request(), None)
        .await
        .expect("a");
    store
        .enqueue_invocation(
            "b",
            ("default", "hello"),
            &request(),
            Some("http://127.0.0.1:9/cb"),
        )
        .await
        .expect("b");
    let first = store.claim_invocation().await.expect("claim").expect("a");
    assert_eq!((first.id.as_str(), first.request), ("a", request()));
    let second = store.claim_invocation().await.expect("claim").expect("b");
    assert_eq!(
        second.callback_url.as_deref(),
        Some("http://127.0.0.1:9/cb")
    );
    assert!(store.claim_invocation().await.expect("claim").is_none());
    let inv = store.invocation("a").await.expect("get").expect("a");
    assert_eq!((inv.status, inv.attempts), (InvocationStatus::Running, 1));
}

#[tokio::test]
async fn a_finished_invocation_keeps_its_response_or_error() {
    let (_dir, store) = store();
    store
        .enqueue_invocation("a", ("default", "hello"), &request(), None)
        .await
        .expect("a");
    store.claim_invocation().await.expect("claim");
    let resp = StoredResponse {
        status: 503,
        headers: Default::default(),
        body: StoredBody::new(b"busy"),
    };
    let inv = store
        .finish_invocation("a", Some(&resp), None)
        .await
        .expect("finish")
        .expect("stored");
    assert_eq!(
        inv.status,
        InvocationStatus::Succeeded,
        "a function's own 5xx is a success"
    );
    assert_eq!(inv.response, Some(resp));
    store
        .enqueue_invocation("b", ("default", "hello"), &request(), None)
        .await
        .expect("b");
    store.claim_invocation().await.expect("claim");
    let err = json!({"code": "FUNCTION_TIMEOUT", "message": "m", "details": {}});
    let inv = store
        .finish_invocation("b", None, Some(&err))
        .await
        .expect("finish")
        .expect("stored");
    assert_eq!(
        (inv.status, inv.error),
        (InvocationStatus::Failed, Some(err))
    );
}

#[tokio::test]
async fn a_restart_requeues_running_invocations_once_and_fails_the_twice_interrupted() {
    let (_dir, store) = store();
    store
        .enqueue_invocation("a", ("default", "hello"), &request(), None)
        .await
        .expect("a");
    store.claim_invocation().await.expect("claim");
    let failure = json!({"code": "INTERNAL_ERROR"});
    assert_eq!(
        store.requeue_interrupted(&failure).await.expect("requeue"),
        1
    );
    let inv = store.invocation("a").await.expect("get").expect("a");
    assert_eq!((inv.status, inv.retried), (InvocationStatus::Queued, true));
    store.claim_invocation().await.expect("claim again");
    assert_eq!(
        store.requeue_interrupted(&failure).await.expect("requeue"),
        0
    );
    let inv = store.invocation("a").await.expect("get").expect("a");
    assert_eq!((inv.status, inv.attempts), (InvocationStatus::Failed, 2));
}

#[tokio::test]
async fn pruning_removes_only_old_finished_invocations() {
    let (_dir, store) = store();
    store
        .enqueue_invocation("done", ("default", "hello"), &request(), None)
        .await
        .expect("a");
    store.claim_invocation().await.expect("claim");
    store
        .finish_invocation("done", None, Some(&json!({})))
        .await
        .expect("finish");
    store
        .enqueue_invocation("waiting", ("default", "hello"), &request(), None)
        .await
        .expect("b");
    let n = store
        .prune_invocations(Utc::now() + chrono::Duration::seconds(1))
        .await
        .expect("prune");
    assert_eq!(n, 1);
    assert!(store.invocation("done").await.expect("get").is_none());
    assert!(store.invocation("waiting").await.expect("get").is_some());
}
