//! The real `faas-gateway` binary twice over: a gateway process on a free loopback port (with a
//! temporary database and real Docker) and the command line run against it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub use faas_gateway::testing::docker_available;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_faas-gateway");

/// Base images for function builds: from the environment, else made by docker/base-images.sh.
fn base_images() -> &'static [(&'static str, String); 2] {
    static IMAGES: OnceLock<[(&'static str, String); 2]> = OnceLock::new();
    IMAGES.get_or_init(|| {
        const PY: &str = "FAAS_PYTHON_BASE_IMAGE";
        const NODE: &str = "FAAS_NODE_BASE_IMAGE";
        if let (Ok(python), Ok(node)) = (std::env::var(PY), std::env::var(NODE)) {
            return [(PY, python), (NODE, node)];
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/docker/base-images.sh");
        let out = Command::new("bash")
            .arg(script)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
        assert!(
            out.status.success(),
            "{script} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let find = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_owned))
                .unwrap_or_else(|| panic!("{script} printed no {key}"))
        };
        [(PY, find(PY)), (NODE, find(NODE))]
    })
}

/// A unique name, so parallel tests never share callbacks, containers or images.
pub fn unique(name: &str) -> String {
    format!("{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// What one run of the command line did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts a zero exit and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "the command failed: {self:#?}");
        &self.stdout
    }

    /// Asserts exit code `code` and that stderr names the contract's `error_code`.
    pub fn failed_with(&self, code: i32, error_code: &str) {
        assert_eq!(self.code, code, "{self:#?}");
        assert!(
            self.stderr.contains(&format!("error: {error_code}: ")),
            "stderr should name {error_code}: {self:#?}"
        );
    }

    /// stdout parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.ok())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// The command line with a clean environment pointed at `url`.
pub fn cli_command(url: &str, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("FAAS_URL", url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs the command line against `url`, feeding `stdin` when given.
pub async fn run_cli(url: &str, args: &[&str], stdin: Option<&[u8]>) -> Run {
    use tokio::io::AsyncWriteExt;
    let mut cmd = cli_command(url, args);
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("spawn the command line");
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(bytes).await.expect("write stdin");
        drop(pipe);
    }
    let out = child.wait_with_output().await.expect("command line output");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A gateway process serving on a free loopback port.
pub struct Gateway {
    pub url: String,
    child: std::process::Child,
    gateway_id: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
    paths: Mutex<Vec<String>>,
}

impl Gateway {
    /// Starts the binary with `args` (none: the default, serving), or `None` (after saying so)
    /// when Docker is missing.
    pub async fn start(args: &[&str]) -> Option<Gateway> {
        if !docker_available() {
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let gateway_id = format!("test-{}", uuid::Uuid::new_v4().simple());
        let log = dir.path().join("gateway.log");
        let out = std::fs::File::create(&log).expect("log file");
        std::fs::write(dir.path().join("none.toml"), "").expect("config");
        let child = Command::new(BIN)
            .args(args)
            .env("FAAS_LISTEN", format!("127.0.0.1:{port}"))
            .env("FAAS_DB", dir.path().join("faas.db"))
            .env("FAAS_GATEWAY_ID", &gateway_id)
            .env("FAAS_CONFIG", dir.path().join("none.toml"))
            .env("FAAS_KUBERNETES", "false")
            .env_remove("FAAS_ADMIN_TOKEN")
            .env_remove("FAAS_INVOKE_TOKEN")
            .envs(base_images().iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::from(out.try_clone().expect("dup")))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("spawn the gateway");
        let gateway = Gateway {
            url: format!("http://127.0.0.1:{port}"),
            child,
            gateway_id,
            log,
            _dir: dir,
            paths: Mutex::new(Vec::new()),
        };
        gateway.wait_until_serving().await;
        Some(gateway)
    }

    async fn wait_until_serving(&self) {
        let client = faas_gateway::tls::client();
        for _ in 0..600 {
            if client
                .get(format!("{}/health", self.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the gateway never answered: {}", self.log_text());
    }

    /// The gateway's own output, for assertion messages.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Remembers a callback path, so its images are removed at the end.
    pub fn track(&self, path: &str) {
        self.paths.lock().expect("paths").push(path.to_owned());
    }

    /// Runs the command line against this gateway.
    pub async fn cli(&self, args: &[&str]) -> Run {
        run_cli(&self.url, args, None).await
    }

    /// Runs the command line with `stdin` piped in.
    pub async fn cli_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Run {
        run_cli(&self.url, args, Some(stdin)).await
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Leave nothing behind: this gateway's containers, then its callbacks' images (by tag:
        // the shared build cache stays).
        let filter = format!("label=faas.gateway={}", self.gateway_id);
        let ids = docker_lines(&["ps", "-aq", "--filter", &filter]);
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.iter().map(String::as_str));
            let _ = Command::new("docker").args(&args).output();
        }
        let paths = self.paths.lock().map(|p| p.clone()).unwrap_or_default();
        for path in paths {
            let repo = format!("faas-fn/{path}");
            let images = docker_lines(&["images", "--format", "{{.Repository}}:{{.Tag}}", &repo]);
            if !images.is_empty() {
                let mut args = vec!["rmi", "--no-prune"];
                args.extend(images.iter().map(String::as_str));
                let _ = Command::new("docker").args(&args).output();
            }
        }
    }
}

fn docker_lines(args: &[&str]) -> Vec<String> {
    Command::new("docker")
        .args(args)
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Writes `files` (relative path → text) under `dir`.
pub fn write_tree(dir: &Path, files: &[(&str, &str)]) {
    for (rel, text) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write");
    }
}

/// Reads lines from a running command until one contains `needle`; `None` when its stdout
/// ended first. Bounded so a broken follow cannot hang the suite; the content is the assertion.
pub async fn wait_for_line(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    needle: &str,
) -> Option<String> {
    let search = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains(needle) {
                return Some(line);
            }
        }
        None
    };
    tokio::time::timeout(Duration::from_secs(180), search)
        .await
        .unwrap_or_else(|_| panic!("no line with {needle:?} within 180 s"))
}
