//! The real gateway on port 0 with a temporary SQLite file, as the API tests start it.

use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use faas_gateway::app::App;
use faas_gateway::config::{Config, Flags};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Base images for function builds: from the environment, else made by docker/base-images.sh.
fn base_images() -> &'static (String, String) {
    static IMAGES: OnceLock<(String, String)> = OnceLock::new();
    IMAGES.get_or_init(|| {
        if let (Ok(python), Ok(node)) = (
            std::env::var("FAAS_PYTHON_BASE_IMAGE"),
            std::env::var("FAAS_NODE_BASE_IMAGE"),
        ) {
            return (python, node);
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
                .find_map(|l| l.strip_prefix(key))
                .unwrap_or_else(|| panic!("{script} printed no {key}"))
                .to_owned()
        };
        (
            find("FAAS_PYTHON_BASE_IMAGE="),
            find("FAAS_NODE_BASE_IMAGE="),
        )
    })
}

/// A unique callback path, so parallel tests never share containers or images.
pub fn unique(name: &str) -> String {
    format!("{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// A running gateway; dropping it removes its containers and the images of `paths`.
pub struct Gateway {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// A client for calls the test makes itself.
    pub client: reqwest::Client,
    admin_token: Option<String>,
    gateway_id: String,
    paths: std::sync::Mutex<Vec<String>>,
    shutdown: CancellationToken,
    _handle: JoinHandle<std::io::Result<()>>,
    _db_dir: tempfile::TempDir,
}

impl Gateway {
    /// A gateway, with `admin_token` if given, or `None` (after saying so) without Docker.
    pub async fn spawn(admin_token: Option<&str>) -> Option<Gateway> {
        if !faas_gateway::testing::docker_available() {
            return None;
        }
        let (python, node) = base_images();
        let db_dir = tempfile::tempdir().expect("tempdir");
        let gateway_id = format!("test-{}", uuid::Uuid::new_v4().simple());
        let config_file = db_dir.path().join("none.toml");
        std::fs::write(&config_file, "").expect("empty config");
        let flags = Flags {
            listen: Some("127.0.0.1:0".parse().expect("addr")),
            db: Some(db_dir.path().join("faas.db")),
            python_base_image: Some(python.clone()),
            node_base_image: Some(node.clone()),
            gateway_id: Some(gateway_id.clone()),
            config: Some(config_file),
            admin_token: admin_token.map(str::to_owned),
            ..Flags::default()
        };
        let app = App::build(Config::resolve(flags).expect("config"))
            .await
            .expect("build app");
        let base = format!("http://{}", app.local_addr().expect("addr"));
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(app.run(shutdown.clone()));
        Some(Gateway {
            base,
            client: faas_gateway::tls::client_builder()
                .timeout(Duration::from_secs(300))
                .build()
                .expect("client"),
            admin_token: admin_token.map(str::to_owned),
            gateway_id,
            paths: std::sync::Mutex::new(Vec::new()),
            shutdown,
            _handle: handle,
            _db_dir: db_dir,
        })
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Notes a callback path whose image must be removed at the end.
    pub fn owns(&self, path: &str) {
        self.paths.lock().expect("paths").push(path.to_owned());
    }

    /// GET with the admin token; status and JSON body (`null` when not JSON).
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let mut req = self.client.get(self.url(path));
        if let Some(token) = &self.admin_token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or_default())
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

impl Drop for Gateway {
    fn drop(&mut self) {
        self.shutdown.cancel();
        let label = format!("label=faas.gateway={}", self.gateway_id);
        let ids = docker_lines(&["ps", "-aq", "--filter", &label]);
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.iter().map(String::as_str));
            let _ = Command::new("docker").args(&args).output();
        }
        let paths = self.paths.lock().map(|p| p.clone()).unwrap_or_default();
        for path in paths {
            // By tag, not id: the shared build cache (untagged parents) stays.
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
