//! The OpenAPI document against the gateway it describes. The real gateway runs on port 0 with
//! a temporary SQLite file, both backends in-memory stand-ins (`faas_gateway::testing`) and
//! both tokens set; Schemathesis reads `GET /openapi.json` and sends every operation valid and
//! invalid requests, with every check it has: a request the document calls valid must be
//! accepted, one it calls invalid refused, and every answer (status, headers, content type,
//! body) must be one the document declares.
//!
//! Schemathesis is a Python program: the test runs `$SCHEMATHESIS` when set, else
//! `target/schemathesis/bin/schemathesis` (the virtualenv `tests/run.sh` installs). Its
//! settings, and the few exceptions the document cannot express, are in
//! `tests/openapi/schemathesis.toml`.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use faas_gateway::app::App;
use faas_gateway::config::{Config, Flags};
use faas_gateway::executor::Backends;
use faas_gateway::testing::{FakeBuilder, FakeExecutor};
use tokio_util::sync::CancellationToken;

/// The tokens the gateway under test requires; Schemathesis sends them (see the config file).
const ADMIN_TOKEN: &str = "openapi-test-admin";
const INVOKE_TOKEN: &str = "openapi-test-invoke";

/// Fixed, so a failure found once is found again.
const SEED: &str = "20240601";

/// A bound on the whole run, so a hung request cannot hang the suite; the run itself takes a
/// fraction of it.
const RUN_BOUND: Duration = Duration::from_secs(600);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Schemathesis executable, or a failure saying how to install it.
fn schemathesis() -> PathBuf {
    if let Some(given) = std::env::var_os("SCHEMATHESIS") {
        let given = PathBuf::from(given);
        assert!(
            given.is_file(),
            "SCHEMATHESIS names {}, which is not a file",
            given.display()
        );
        return given;
    }
    let venv = root().join("target/schemathesis/bin/schemathesis");
    assert!(
        venv.is_file(),
        "Schemathesis is not installed. Install it with\n  \
         python3 -m venv target/schemathesis && \
         target/schemathesis/bin/pip install -r tests/openapi/requirements.txt\n\
         (tests/run.sh does this), or set SCHEMATHESIS to its executable."
    );
    venv
}

/// A running gateway; stops when dropped.
struct Gateway {
    base: String,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Gateway {
    /// The real gateway with tokens on both APIs and stand-ins for Docker, Kubernetes and the
    /// image builder, so every backend a deploy may name is there.
    async fn spawn() -> Gateway {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("none.toml"), "").expect("config");
        let flags = Flags {
            listen: Some("127.0.0.1:0".parse().expect("addr")),
            db: Some(dir.path().join("faas.db")),
            config: Some(dir.path().join("none.toml")),
            kubernetes: Some(false),
            admin_token: Some(ADMIN_TOKEN.into()),
            invoke_token: Some(INVOKE_TOKEN.into()),
            ..Flags::default()
        };
        let config = Config::resolve(flags).expect("config");
        let backends = Backends::new(
            Arc::new(FakeExecutor::default()),
            Some(Arc::new(FakeExecutor::default())),
        );
        let app = App::build_with(config, backends, Arc::new(FakeBuilder::default()))
            .await
            .expect("app");
        let base = format!("http://{}", app.local_addr().expect("addr"));
        let shutdown = CancellationToken::new();
        tokio::spawn(app.run(shutdown.clone()));
        Gateway {
            base,
            shutdown,
            _dir: dir,
        }
    }
}

/// Runs Schemathesis against `base`; returns whether it passed and what it printed.
async fn run_schemathesis(base: &str) -> (bool, String) {
    let config = root().join("tests/openapi/schemathesis.toml");
    let reports = tempfile::tempdir().expect("tmp");
    let mut command = tokio::process::Command::new(schemathesis());
    command
        .arg("--config-file")
        .arg(&config)
        .arg("--no-color")
        .args(["run", &format!("{base}/openapi.json")])
        .args(["--checks", "all", "--seed", SEED])
        .arg("--report-dir")
        .arg(reports.path())
        .env("FAAS_TEST_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("FAAS_TEST_INVOKE_TOKEN", INVOKE_TOKEN)
        .current_dir(reports.path())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(RUN_BOUND, command.output())
        .await
        .unwrap_or_else(|_| panic!("Schemathesis did not finish within {RUN_BOUND:?}"))
        .expect("Schemathesis starts");
    let mut printed = String::from_utf8_lossy(&output.stdout).into_owned();
    printed.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), printed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_the_gateway_true_to_its_openapi_document() {
    let tool = schemathesis();
    let gateway = Gateway::spawn().await;
    let (passed, printed) = run_schemathesis(&gateway.base).await;
    assert!(
        passed,
        "{} found the gateway and its OpenAPI document at odds:\n{printed}",
        tool.display()
    );
    // The summary, for the test's log.
    let summary = printed
        .lines()
        .rev()
        .find(|l| l.contains(" in "))
        .unwrap_or("");
    println!("{summary}");
}

#[tokio::test]
#[ignore = "manual: serves a gateway for running Schemathesis by hand"]
async fn serve_for_manual_runs() {
    let gateway = Gateway::spawn().await;
    println!("SERVING {}", gateway.base);
    tokio::time::sleep(Duration::from_secs(3600)).await;
}
