//! Every command against a real gateway with real Docker: deploy, ls, get, invoke, logs,
//! revisions, undeploy, rm, and how failures are reported.

use serde_json::Value;
use tokio::io::AsyncBufReadExt;

use crate::helpers::{Gateway, cli_command, unique, wait_for_line, write_tree};

const WORD_COUNT: &str = r#"import os
from lib.count import words

def handle(event, context):
    print("counted", event["body"], flush=True)
    return {"words": words(event["body"]), "greeting": os.environ.get("GREETING"), "extra": os.environ.get("EXTRA")}
"#;

/// The value of a `key: value` line of a summary.
fn value_of<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(str::trim)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_folder_is_deployed_read_called_redeployed_undeployed_and_removed() {
    // No command at all: the binary serves.
    let Some(gw) = Gateway::start(&[]).await else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let path = unique("wc");
    let dir = tmp.path().join(&path);
    write_tree(
        &dir,
        &[
            ("handler.py", WORD_COUNT),
            ("lib/__init__.py", ""),
            (
                "lib/count.py",
                "def words(text):\n    return len(text.split())\n",
            ),
            ("lib/__pycache__/count.cpython-312.pyc", "stale"),
            (
                "faas.json",
                r#"{"memory_mb": 128, "timeout_ms": 9000, "max_instances": 2, "env": {"GREETING": "hi"}}"#,
            ),
        ],
    );
    gw.track(&path);
    let dir_arg = dir.to_string_lossy().into_owned();

    let deploy = gw
        .cli(&["deploy", &dir_arg, "--timeout", "5000", "--env", "EXTRA=1"])
        .await;
    let out = deploy.ok();
    assert_eq!(value_of(out, "revision"), Some("1"), "{deploy:#?}");
    let url = format!("{}/api/{path}", gw.url);
    assert_eq!(value_of(out, "url"), Some(url.as_str()), "{deploy:#?}");

    // Settings: faas.json, with the flags winning; runtime inferred from handler.py.
    let cb = gw.cli(&["get", &path, "--json"]).await.json();
    assert_eq!(cb["state"], "ready", "{cb:#}");
    assert_eq!(cb["runtime"], "python");
    assert_eq!(cb["memory_mb"], 128);
    assert_eq!(cb["timeout_ms"], 5000);
    assert_eq!(cb["max_instances"], 2);
    assert_eq!(cb["env"]["GREETING"], "hi");
    assert_eq!(cb["env"]["EXTRA"], "1");

    let get = gw.cli(&["get", &path]).await;
    assert!(get.ok().contains("memory 128 MiB"), "{get:#?}");
    assert_eq!(
        value_of(&get.stdout, "path"),
        Some(path.as_str()),
        "{get:#?}"
    );
    assert_eq!(value_of(&get.stdout, "state"), Some("ready"), "{get:#?}");

    let ls = gw.cli(&["ls"]).await;
    let row = ls
        .ok()
        .lines()
        .find(|l| l.starts_with(&path))
        .unwrap_or_else(|| panic!("no row for {path}: {ls:#?}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cells[1..6],
        ["ready", "1", "python", "docker", "service"],
        "{row}"
    );
    let listed = gw.cli(&["ls", "--json"]).await.json();
    assert!(
        listed["callbacks"]
            .as_array()
            .is_some_and(|cbs| cbs.iter().any(|c| c["path"] == path.as_str())),
        "{listed:#}"
    );

    // Calls: --data, stdin, and -i for the status line and headers.
    let called = gw.cli(&["invoke", &path, "--data", "a b c"]).await;
    let body: Value = serde_json::from_str(called.ok()).expect("json body");
    assert_eq!(body["words"], 3);
    assert_eq!(body["greeting"], "hi");
    assert_eq!(body["extra"], "1");
    let piped = gw.cli_with_stdin(&["invoke", &path], b"one two").await;
    let body: Value = serde_json::from_str(piped.ok()).expect("json body");
    assert_eq!(body["words"], 2, "stdin is the body");
    let included = gw.cli(&["invoke", &path, "-i", "--data", "x"]).await;
    let text = included.ok();
    assert!(text.starts_with("HTTP 200 OK\n"), "{included:#?}");
    assert!(text.contains("x-faas-revision: 1\n"), "{included:#?}");
    assert!(
        text.contains("\n\n{"),
        "headers, a blank line, the body: {included:#?}"
    );

    // A settings change is a new revision.
    gw.cli(&["deploy", &dir_arg, "--memory", "64"]).await.ok();
    let revisions = gw.cli(&["revisions", &path, "--json"]).await.json();
    let numbers: Vec<&Value> = revisions["revisions"]
        .as_array()
        .expect("revisions")
        .iter()
        .map(|r| &r["revision"])
        .collect();
    assert_eq!(numbers, [2, 1], "newest first: {revisions:#}");
    let table = gw.cli(&["revisions", &path]).await;
    assert_eq!(
        table.ok().lines().count(),
        3,
        "header and two rows: {table:#?}"
    );
    assert!(table.stdout.starts_with("REVISION"), "{table:#?}");

    let undeployed = gw.cli(&["undeploy", &path]).await;
    assert!(undeployed.ok().contains("undeployed"), "{undeployed:#?}");
    let cb = gw.cli(&["get", &path, "--json"]).await.json();
    assert_eq!(cb["state"], "undeployed");
    gw.cli(&["invoke", &path])
        .await
        .failed_with(1, "CALLBACK_NOT_DEPLOYED");

    gw.cli(&["rm", &path]).await.ok();
    gw.cli(&["get", &path])
        .await
        .failed_with(1, "CALLBACK_NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_file_is_called_in_the_background_and_its_logs_are_read_and_followed() {
    let Some(gw) = Gateway::start(&[]).await else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let stem = format!("echo_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let file = tmp.path().join(format!("{stem}.js"));
    std::fs::write(
        &file,
        "exports.handle = async (event) => {\n  console.log(`seen ${event.body}`);\n  \
         return {statusCode: 200, headers: {'content-type': 'text/plain'}, body: `echo:${event.body}`};\n};\n",
    )
    .expect("write");
    // The path derives from the file's name; the handler is the file's module.
    let path = stem.replace('_', "-");
    gw.track(&path);
    let deployed = gw
        .cli(&["deploy", &file.to_string_lossy(), "--json"])
        .await
        .json();
    assert_eq!(deployed["path"], path.as_str());
    assert_eq!(deployed["runtime"], "node");
    assert_eq!(deployed["handler"], format!("{stem}.handle"));

    let waited = gw
        .cli(&["invoke", &path, "--async", "--data", "later"])
        .await;
    assert_eq!(waited.ok(), "echo:later", "{waited:#?}");
    let doc = gw
        .cli(&["invoke", &path, "--async", "--json", "--data", "doc"])
        .await
        .json();
    assert_eq!(doc["status"], "succeeded", "{doc:#}");
    assert_eq!(doc["response"]["body"], "echo:doc");
    let queued = gw
        .cli(&["invoke", &path, "--async", "--no-wait", "--data", "queued"])
        .await;
    let id = queued.ok().trim().to_owned();
    assert!(
        !id.is_empty() && !id.contains(char::is_whitespace),
        "{queued:#?}"
    );
    let stored: Value = reqwest::get(format!("{}/invocations/{id}", gw.url))
        .await
        .expect("get invocation")
        .json()
        .await
        .expect("json");
    assert_eq!(
        stored["id"],
        id.as_str(),
        "the printed id is the invocation's"
    );

    // The function's output: printed once present, then followed as new lines come.
    let mut found = false;
    for _ in 0..100 {
        let logs = gw.cli(&["logs", &path, "--tail", "50"]).await;
        if logs.ok().contains("seen later") {
            found = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(found, "`logs` never showed the call's line");
    let as_json = gw.cli(&["logs", &path, "--json"]).await;
    let first: Value = serde_json::from_str(as_json.ok().lines().next().unwrap_or_default())
        .unwrap_or_else(|e| panic!("NDJSON expected ({e}): {as_json:#?}"));
    assert!(
        first["ts"].is_string() && first["instance"].is_string(),
        "{first:#}"
    );

    let mut follow = cli_command(&gw.url, &["logs", &path, "--follow"])
        .spawn()
        .expect("logs --follow");
    let stdout = follow.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    assert!(wait_for_line(&mut lines, "seen later").await.is_some());
    gw.cli(&["invoke", &path, "--data", "afterwards"])
        .await
        .ok();
    let line = wait_for_line(&mut lines, "seen afterwards").await;
    assert!(line.is_some(), "--follow printed the new line");
    let _ = follow.kill().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_print_the_contract_code_and_the_traceback_and_exit_non_zero() {
    // `serve` explicitly: the same server as no command.
    let Some(gw) = Gateway::start(&["serve"]).await else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let path = unique("broken");
    let dir = tmp.path().join("src");
    write_tree(
        &dir,
        &[("handler.py", "def handle(event, context:\n    return 1\n")],
    );
    gw.track(&path);
    let failed = gw
        .cli(&["deploy", &dir.to_string_lossy(), "--path", &path])
        .await;
    failed.failed_with(1, "STARTUP_FAILED");
    assert!(
        failed.stderr.contains("SyntaxError"),
        "the startup log's tail is printed: {failed:#?}"
    );
    assert!(failed.stdout.is_empty(), "{failed:#?}");
    let cb = gw.cli(&["get", &path, "--json"]).await.json();
    assert_eq!(cb["state"], "failed");

    let missing = unique("missing");
    gw.cli(&["get", &missing])
        .await
        .failed_with(1, "CALLBACK_NOT_FOUND");
    gw.cli(&["invoke", &missing])
        .await
        .failed_with(1, "CALLBACK_NOT_FOUND");
    gw.cli(&["logs", &missing])
        .await
        .failed_with(1, "CALLBACK_NOT_FOUND");
    gw.cli(&["rm", &missing])
        .await
        .failed_with(1, "CALLBACK_NOT_FOUND");

    let invalid = gw
        .cli(&[
            "deploy",
            &dir.to_string_lossy(),
            "--path",
            &path,
            "--memory",
            "1",
        ])
        .await;
    invalid.failed_with(1, "VALIDATION_FAILED");
    assert!(invalid.stderr.contains("  memory_mb: "), "{invalid:#?}");
}
