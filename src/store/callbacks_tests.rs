use serde_json::json;

use super::*;
use crate::model::{Backend, DeployAction, ErrorCode, Mode, SpecDefaults, parse_deploy};

fn spec(code: &str) -> CallbackSpec {
    let defaults = SpecDefaults {
        backend: Backend::Docker,
        mode: Mode::Service,
        max_code_bytes: 1 << 20,
    };
    match parse_deploy(
        &json!({"path": "hello", "runtime": "python", "code": code}),
        defaults,
    ) {
        Ok(DeployAction::Deploy(s)) => *s,
        other => panic!("{other:?}"),
    }
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("sub/faas.db")).expect("open");
    (dir, store)
}

#[tokio::test]
async fn a_first_attempt_is_revision_zero_and_commits_count_up() {
    let (_dir, store) = store();
    assert!(
        store
            .create_callback(&spec("a"), CallbackState::Building)
            .await
            .expect("create")
    );
    assert!(
        !store
            .create_callback(&spec("a"), CallbackState::Building)
            .await
            .expect("again")
    );
    let rec = store.callback("hello").await.expect("get").expect("exists");
    assert_eq!((rec.revision, rec.state), (0, CallbackState::Building));
    assert!(store.revisions("hello").await.expect("revs").is_empty());

    let r1 = store
        .commit_revision(&spec("a"), "img:1", CallbackState::Ready)
        .await
        .expect("c1");
    let r2 = store
        .commit_revision(&spec("b"), "img:2", CallbackState::Ready)
        .await
        .expect("c2");
    assert_eq!((r1.revision, r2.revision), (1, 2));
    assert_eq!(r2.spec, spec("b"));
    let revs = store.revisions("hello").await.expect("revs");
    assert_eq!(revs.iter().map(|r| r.revision).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(
        store.revision_spec("hello", 1).await.expect("spec"),
        Some(spec("a"))
    );
}

#[tokio::test]
async fn last_error_is_kept_by_state_changes_and_cleared_by_a_commit() {
    let (_dir, store) = store();
    store
        .create_callback(&spec("a"), CallbackState::Building)
        .await
        .expect("create");
    let err = LastError {
        details: serde_json::json!({"exit_code": 7, "log": "Traceback"}),
        ..LastError::now(ErrorCode::StartupFailed, "boom")
    };
    store
        .set_state("hello", CallbackState::Failed, Some(&err))
        .await
        .expect("fail");
    store
        .set_state("hello", CallbackState::Building, None)
        .await
        .expect("retry");
    let rec = store.callback("hello").await.expect("get").expect("exists");
    assert_eq!(
        rec.last_error.map(|e| e.code),
        Some(ErrorCode::StartupFailed)
    );
    let rec = store
        .commit_revision(&spec("a"), "i", CallbackState::Ready)
        .await
        .expect("commit");
    assert_eq!(rec.last_error, None);
}

#[tokio::test]
async fn delete_removes_the_callback_and_its_history() {
    let (_dir, store) = store();
    store
        .create_callback(&spec("a"), CallbackState::Building)
        .await
        .expect("create");
    store
        .commit_revision(&spec("a"), "i", CallbackState::Ready)
        .await
        .expect("commit");
    assert!(store.delete_callback("hello").await.expect("delete"));
    assert!(store.callback("hello").await.expect("get").is_none());
    assert!(store.revisions("hello").await.expect("revs").is_empty());
    assert!(!store.delete_callback("hello").await.expect("again"));
}

#[tokio::test]
async fn a_reopened_database_keeps_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("faas.db");
    {
        let store = Store::open(&path).expect("open");
        store
            .create_callback(&spec("a"), CallbackState::Building)
            .await
            .expect("create");
        store
            .commit_revision(&spec("a"), "i", CallbackState::Ready)
            .await
            .expect("commit");
    }
    let store = Store::open(&path).expect("reopen");
    let all = store.callbacks().await.expect("list");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].revision, 1);
}
