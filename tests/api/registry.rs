//! `FAAS_REGISTRY`: function images are named under the registry and pushed there; tested
//! against a real registry (Debian's docker-registry) on loopback.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, docker_lines, python, unique};

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// A registry on a free loopback port, stopped on drop.
struct Registry {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Option<Registry> {
        if !std::path::Path::new(REGISTRY_BIN).exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI installs docker-registry"
            );
            eprintln!("SKIPPED: {REGISTRY_BIN} is not installed (apt-get install docker-registry)");
            return None;
        }
        let dir = tempfile::tempdir().expect("tmp");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        let yaml = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        std::fs::write(&config, yaml).expect("config");
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the registry");
        Some(Registry {
            child,
            addr,
            _dir: dir,
        })
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn images_are_named_under_the_registry_and_pushed_there() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let client = faas_gateway::tls::client();
    let mut up = false;
    for _ in 0..100 {
        if client
            .get(format!("http://{}/v2/", registry.addr))
            .send()
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the registry never answered");
    let prefix = format!("{}/faas", registry.addr);
    let registry_prefix = prefix.clone();
    let Some(app) = TestApp::spawn_with(|f| f.registry = Some(registry_prefix)).await else {
        return;
    };
    let path = unique("pushed");
    let cb = app
        .deploy_ok(&python(
            &path,
            "def handle(e, c):\n    return 'from the registry'\n",
        ))
        .await;
    let image = cb["image"].as_str().expect("image").to_owned();
    assert!(image.starts_with(&format!("{prefix}/{path}:")), "{image}");
    let tag = image.rsplit(':').next().expect("tag");
    let tags: Value = client
        .get(format!("http://{}/v2/faas/{path}/tags/list", registry.addr))
        .send()
        .await
        .expect("tags")
        .json()
        .await
        .expect("json");
    assert!(
        tags["tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|x| x == tag)),
        "{tags:#}"
    );
    let (status, _, text) = app
        .request(reqwest::Method::GET, &format!("/api/{path}"), None)
        .await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::OK, "from the registry")
    );
    drop(app);
    docker_lines(&["rmi", "-f", "--no-prune", &image]);
}
