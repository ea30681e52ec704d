//! `namespaces …` and the other commands with a namespace's tokens, against a real gateway.

use crate::helpers::{Gateway, unique, write_tree};

#[tokio::test(flavor = "multi_thread")]
async fn a_namespace_is_created_used_with_its_tokens_rotated_and_removed() {
    let Some(gw) = Gateway::start(&[]).await else {
        return;
    };
    let ns = unique("cli-ns");
    let created = gw
        .cli(&[
            "namespaces",
            "create",
            &ns,
            "--max-callbacks",
            "2",
            "--json",
        ])
        .await
        .json();
    assert_eq!(created["quota"]["max_callbacks"], 2, "{created:#}");
    let admin = created["tokens"]["admin"]
        .as_str()
        .expect("admin")
        .to_owned();
    gw.cli(&["ns", "create", &ns])
        .await
        .failed_with(1, "NAMESPACE_EXISTS");

    let tmp = tempfile::tempdir().expect("tmp");
    let path = unique("nsfn");
    write_tree(
        tmp.path(),
        &[(
            "handler.py",
            "def handle(event, context):\n    return 'from a namespace'\n",
        )],
    );
    gw.track(&path);
    let file = tmp.path().join("handler.py").to_string_lossy().into_owned();
    gw.cli(&["deploy", &file, "--path", &path, "--admin-token", &admin])
        .await
        .ok();
    let other = unique("plain");
    gw.track(&other);
    gw.cli(&["deploy", &file, "--path", &other]).await.ok();

    // The namespace's admin token sees its own callbacks only, and calls them.
    let mine = gw
        .cli(&["ls", "--json", "--admin-token", &admin])
        .await
        .json();
    let paths: Vec<&str> = mine["callbacks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["path"].as_str())
        .collect();
    assert_eq!(paths, [path.as_str()]);
    let filtered = gw.cli(&["ls", "--namespace", &ns]).await;
    assert!(filtered.ok().contains(&path), "{filtered:#?}");
    assert!(!filtered.stdout.contains(&other), "{filtered:#?}");
    let called = gw.cli(&["invoke", &path, "--admin-token", &admin]).await;
    assert_eq!(called.ok().trim(), "from a namespace");
    gw.cli(&["get", &other, "--admin-token", &admin])
        .await
        .failed_with(1, "CALLBACK_NOT_FOUND");

    let got = gw.cli(&["namespaces", "get", &ns]).await;
    assert!(got.ok().contains("callbacks: 1/2"), "{got:#?}");
    let changed = gw
        .cli(&[
            "namespaces",
            "quota",
            &ns,
            "--max-callbacks",
            "none",
            "--max-instances",
            "5",
            "--json",
        ])
        .await
        .json();
    assert_eq!(changed["quota"], serde_json::json!({"max_instances": 5}));
    let listed = gw.cli(&["namespaces", "ls"]).await;
    let row = listed
        .ok()
        .lines()
        .find(|l| l.starts_with(&ns))
        .unwrap_or_else(|| panic!("no row for {ns}: {listed:#?}"));
    assert!(row.contains("1/5"), "{row}");

    let rotated = gw.cli(&["namespaces", "tokens", &ns]).await;
    assert!(rotated.ok().contains("admin token:"), "{rotated:#?}");
    gw.cli(&["ls", "--admin-token", &admin])
        .await
        .failed_with(1, "UNAUTHORIZED");

    gw.cli(&["namespaces", "rm", &ns]).await.ok();
    gw.cli(&["get", &path])
        .await
        .failed_with(1, "CALLBACK_NOT_FOUND");
    gw.cli(&["namespaces", "get", &ns])
        .await
        .failed_with(1, "NAMESPACE_NOT_FOUND");
}
