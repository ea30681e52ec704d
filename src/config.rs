//! Configuration: flags > environment > `faas.toml` > defaults (SPEC section 7).
//!
//! Environment variables read here: FAAS_LISTEN, FAAS_DB, FAAS_BACKEND, FAAS_MODE,
//! FAAS_NETWORK, FAAS_INSTANCE_ADDRESS, FAAS_GATEWAY_ID, FAAS_PYTHON_BASE_IMAGE, FAAS_NODE_BASE_IMAGE,
//! FAAS_NODE_DEPS_BASE_IMAGE,
//! FAAS_MAX_BODY_BYTES, FAAS_MAX_CODE_BYTES, FAAS_STARTUP_TIMEOUT_MS, FAAS_QUEUE_LEN,
//! FAAS_LOG_FORMAT, FAAS_ASYNC_WORKERS, FAAS_INVOCATION_RETENTION_S, FAAS_SHUTDOWN_GRACE_S,
//! FAAS_KUBERNETES, FAAS_KUBE_NAMESPACE, FAAS_KUBE_CPU_REQUEST, FAAS_REGISTRY, FAAS_CALLBACK_DENY, FAAS_ADMIN_TOKEN, FAAS_INVOKE_TOKEN, FAAS_INSECURE, FAAS_CONFIG (and DOCKER_HOST, read by the Docker client).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use secrecy::SecretString;
use serde::Deserialize;

use crate::model::{Backend, Mode};

/// Command-line flags; each falls back to its environment variable, then to `faas.toml`.
#[derive(Debug, Default, Clone, Parser)]
#[command(
    name = "faas-gateway",
    version,
    about = "A Function-as-a-Service gateway"
)]
pub struct Flags {
    /// Address to listen on [default: 127.0.0.1:8000]
    #[arg(long, env = "FAAS_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// SQLite database file [default: ./data/faas.db]
    #[arg(long, env = "FAAS_DB")]
    pub db: Option<PathBuf>,
    /// Default backend of new callbacks: docker | kubernetes [default: docker]
    #[arg(long, env = "FAAS_BACKEND")]
    pub backend: Option<String>,
    /// Default mode of new callbacks: service | job [default: service]
    #[arg(long, env = "FAAS_MODE")]
    pub mode: Option<String>,
    /// Docker endpoint, as for the Docker CLI [default: the local socket]
    #[arg(long, env = "DOCKER_HOST")]
    pub docker_host: Option<String>,
    /// Docker network for instances [default: faas-functions]
    #[arg(long, env = "FAAS_NETWORK")]
    pub network: Option<String>,
    /// How to reach instances: network (the container's address on the functions network;
    /// the default on Linux with a local daemon: no userland port proxy in the path) or
    /// published (a port on 127.0.0.1; the default elsewhere, e.g. Docker Desktop, where
    /// container addresses are not routable from the host)
    #[arg(long, env = "FAAS_INSTANCE_ADDRESS")]
    pub instance_address: Option<InstanceAddress>,
    /// BASE_IMAGE of Python function images [default: python:3.12-slim]
    #[arg(long, env = "FAAS_PYTHON_BASE_IMAGE")]
    pub python_base_image: Option<String>,
    /// BASE_IMAGE of Node function images [default: node:20-slim]
    #[arg(long, env = "FAAS_NODE_BASE_IMAGE")]
    pub node_base_image: Option<String>,
    /// BASE_IMAGE of Node function images whose package.json declares dependencies: it
    /// must have npm [default: the Node base image]
    #[arg(long, env = "FAAS_NODE_DEPS_BASE_IMAGE")]
    pub node_deps_base_image: Option<String>,
    /// Invocation body limit in bytes [default: 6 MiB]
    #[arg(long, env = "FAAS_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<u64>,
    /// Deploy source limit in bytes [default: 1 MiB]
    #[arg(long, env = "FAAS_MAX_CODE_BYTES")]
    pub max_code_bytes: Option<usize>,
    /// How long an instance may take to become healthy, in ms [default: 60000]
    #[arg(long, env = "FAAS_STARTUP_TIMEOUT_MS")]
    pub startup_timeout_ms: Option<u64>,
    /// Queued calls per callback before 429 [default: 100]
    #[arg(long, env = "FAAS_QUEUE_LEN")]
    pub queue_len: Option<usize>,
    /// Log format: text | json [default: text]
    #[arg(long, env = "FAAS_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Name of this gateway, stored on its containers: gateways sharing one Docker daemon
    /// leave each other's containers alone [default: default]
    #[arg(long, env = "FAAS_GATEWAY_ID")]
    pub gateway_id: Option<String>,
    /// Use the Kubernetes backend: true, false, or unset to use it when a cluster is
    /// configured (KUBECONFIG or in-cluster)
    #[arg(long, env = "FAAS_KUBERNETES")]
    pub kubernetes: Option<bool>,
    /// Registry to push function images to, as the image prefix: images are
    /// `<registry>/<path>:<hash>` (e.g. 127.0.0.1:5000/faas) [default: unset, `faas-fn`]
    #[arg(long, env = "FAAS_REGISTRY")]
    pub registry: Option<String>,
    /// Namespace of Kubernetes objects [default: faas-functions]
    #[arg(long, env = "FAAS_KUBE_NAMESPACE")]
    pub kube_namespace: Option<String>,
    /// Address ranges (CIDRs, comma-separated) an X-Callback-Url may not reach
    /// [default: 169.254.0.0/16,fe80::/10,fd00:ec2::254/128: link-local and cloud metadata]
    #[arg(long, env = "FAAS_CALLBACK_DENY")]
    pub callback_deny: Option<String>,
    /// A pod's CPU request as a fraction of its CPU limit (the callback's `cpu`), in (0, 1];
    /// memory is always requested in full [default: 0.1]
    #[arg(long, env = "FAAS_KUBE_CPU_REQUEST")]
    pub kube_cpu_request: Option<f64>,
    /// Workers running asynchronous invocations [default: 8]
    #[arg(long, env = "FAAS_ASYNC_WORKERS")]
    pub async_workers: Option<usize>,
    /// How long finished asynchronous invocations are kept, in seconds [default: 86400]
    #[arg(long, env = "FAAS_INVOCATION_RETENTION_S")]
    pub invocation_retention_s: Option<u64>,
    /// How long a shutdown waits for calls in flight, in seconds [default: 30]
    #[arg(long, env = "FAAS_SHUTDOWN_GRACE_S")]
    pub shutdown_grace_s: Option<u64>,
    /// Bearer token required on /callback*, /callbacks* and /invocations*
    #[arg(long, env = "FAAS_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Bearer token required on /api/*
    #[arg(long, env = "FAAS_INVOKE_TOKEN", hide_env_values = true)]
    pub invoke_token: Option<String>,
    /// Allow listening on a non-loopback address without any token
    #[arg(long, env = "FAAS_INSECURE")]
    pub insecure: bool,
    /// Optional TOML file with the same settings (snake_case keys) [default: ./faas.toml if present]
    #[arg(long, env = "FAAS_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The same settings as read from `faas.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    db: Option<PathBuf>,
    backend: Option<String>,
    mode: Option<String>,
    docker_host: Option<String>,
    network: Option<String>,
    instance_address: Option<InstanceAddress>,
    gateway_id: Option<String>,
    python_base_image: Option<String>,
    node_base_image: Option<String>,
    node_deps_base_image: Option<String>,
    max_body_bytes: Option<u64>,
    max_code_bytes: Option<usize>,
    startup_timeout_ms: Option<u64>,
    queue_len: Option<usize>,
    log_format: Option<String>,
    admin_token: Option<String>,
    invoke_token: Option<String>,
    insecure: Option<bool>,
    kubernetes: Option<bool>,
    registry: Option<String>,
    kube_namespace: Option<String>,
    kube_cpu_request: Option<f64>,
    callback_deny: Option<String>,
    async_workers: Option<usize>,
    invocation_retention_s: Option<u64>,
    shutdown_grace_s: Option<u64>,
}

/// The default of `FAAS_CALLBACK_DENY`: link-local addresses and the cloud metadata address.
pub const DEFAULT_CALLBACK_DENY: &str = "169.254.0.0/16,fe80::/10,fd00:ec2::254/128";

/// The default of `FAAS_KUBE_CPU_REQUEST`: pods request a tenth of their CPU limit.
pub const DEFAULT_KUBE_CPU_REQUEST: f64 = 0.1;

/// How the gateway reaches a Docker instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceAddress {
    /// A port published on 127.0.0.1: works wherever the gateway runs beside the daemon,
    /// including Docker Desktop, where container addresses are not routable.
    Published,
    /// The container's address on the functions network: for a gateway that itself runs in a
    /// container on that network.
    Network,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub db: PathBuf,
    pub backend: Backend,
    pub mode: Mode,
    pub docker_host: Option<String>,
    pub network: String,
    pub instance_address: InstanceAddress,
    pub gateway_id: String,
    pub python_base_image: String,
    pub node_base_image: String,
    /// Base of Node images that run npm; the Node base image unless set.
    pub node_deps_base_image: String,
    pub max_body_bytes: u64,
    pub max_code_bytes: usize,
    pub startup_timeout: Duration,
    pub queue_len: usize,
    pub log_format: LogFormat,
    /// The gateway-wide admin token (SPEC 2.5), never printed.
    pub admin_token: Option<SecretString>,
    /// The token `/api/*` needs, never printed.
    pub invoke_token: Option<SecretString>,
    pub insecure: bool,
    /// `Some(true)`: Kubernetes is required; `None`: used when a cluster answers.
    pub kubernetes: Option<bool>,
    pub kube_namespace: String,
    /// A pod's CPU request as a fraction of its CPU limit.
    pub kube_cpu_request: f64,
    /// Address ranges an X-Callback-Url may not reach.
    pub callback_deny: Vec<ipnet::IpNet>,
    pub registry: Option<String>,
    pub async_workers: usize,
    pub invocation_retention: Duration,
    pub shutdown_grace: Duration,
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not valid: {source}")]
    Parse {
        path: String,
        source: Box<toml::de::Error>,
    },
    #[error(
        "refusing to listen on {listen} without FAAS_ADMIN_TOKEN or FAAS_INVOKE_TOKEN: \
         set a token, listen on 127.0.0.1, or pass --insecure"
    )]
    Exposed { listen: SocketAddr },
    #[error("{name} must be {expected}, not {value:?}")]
    Value {
        name: &'static str,
        expected: &'static str,
        value: String,
    },
}

impl Config {
    /// Parses the server's flags alone (no subcommands) and environment, then the config
    /// file. The binary parses `cli::Cli`, which holds these flags, and calls `resolve`.
    pub fn load() -> Result<Self, ConfigError> {
        Self::resolve(Flags::parse())
    }

    /// Merges `flags` over the config file over defaults.
    pub fn resolve(flags: Flags) -> Result<Self, ConfigError> {
        let file = read_file(flags.config.clone())?;
        let backend = flags
            .backend
            .or(file.backend)
            .unwrap_or_else(|| "docker".into());
        let mode = flags.mode.or(file.mode).unwrap_or_else(|| "service".into());
        let log_format = flags
            .log_format
            .or(file.log_format)
            .unwrap_or_else(|| "text".into());
        let nonempty = |t: Option<String>| t.filter(|t| !t.is_empty());
        let docker_host = flags.docker_host.or(file.docker_host);
        let address = default_address(docker_host.as_deref());
        let node_base_image = flags
            .node_base_image
            .or(file.node_base_image)
            .unwrap_or_else(|| "node:20-slim".into());
        let kube_cpu_request = flags
            .kube_cpu_request
            .or(file.kube_cpu_request)
            .unwrap_or(DEFAULT_KUBE_CPU_REQUEST);
        if !(kube_cpu_request > 0.0 && kube_cpu_request <= 1.0) {
            return Err(ConfigError::Value {
                name: "FAAS_KUBE_CPU_REQUEST",
                expected: "a fraction in (0, 1]",
                value: kube_cpu_request.to_string(),
            });
        }
        let deny = flags
            .callback_deny
            .or(file.callback_deny)
            .unwrap_or_else(|| DEFAULT_CALLBACK_DENY.into());
        let callback_deny = deny
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| n.parse::<ipnet::IpNet>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ConfigError::Value {
                name: "FAAS_CALLBACK_DENY",
                expected: "comma-separated CIDRs such as 169.254.0.0/16",
                value: deny.clone(),
            })?;
        let config = Config {
            kube_cpu_request,
            callback_deny,
            admin_token: nonempty(flags.admin_token.or(file.admin_token)).map(SecretString::from),
            invoke_token: nonempty(flags.invoke_token.or(file.invoke_token))
                .map(SecretString::from),
            insecure: flags.insecure || file.insecure.unwrap_or(false),
            kubernetes: flags.kubernetes.or(file.kubernetes),
            registry: nonempty(flags.registry.or(file.registry))
                .map(|r| r.trim_end_matches('/').to_owned()),
            kube_namespace: flags
                .kube_namespace
                .or(file.kube_namespace)
                .unwrap_or_else(|| "faas-functions".into()),
            async_workers: flags.async_workers.or(file.async_workers).unwrap_or(8),
            invocation_retention: Duration::from_secs(
                flags
                    .invocation_retention_s
                    .or(file.invocation_retention_s)
                    .unwrap_or(86_400),
            ),
            shutdown_grace: Duration::from_secs(
                flags
                    .shutdown_grace_s
                    .or(file.shutdown_grace_s)
                    .unwrap_or(30),
            ),
            listen: flags
                .listen
                .or(file.listen)
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8000))),
            db: flags
                .db
                .or(file.db)
                .unwrap_or_else(|| "./data/faas.db".into()),
            backend: Backend::parse(&backend).ok_or(ConfigError::Value {
                name: "FAAS_BACKEND",
                expected: "docker or kubernetes",
                value: backend.clone(),
            })?,
            mode: Mode::parse(&mode).ok_or(ConfigError::Value {
                name: "FAAS_MODE",
                expected: "service or job",
                value: mode.clone(),
            })?,
            docker_host,
            network: flags
                .network
                .or(file.network)
                .unwrap_or_else(|| "faas-functions".into()),
            instance_address: flags
                .instance_address
                .or(file.instance_address)
                .unwrap_or(address),
            gateway_id: flags
                .gateway_id
                .or(file.gateway_id)
                .unwrap_or_else(|| "default".into()),
            python_base_image: flags
                .python_base_image
                .or(file.python_base_image)
                .unwrap_or_else(|| "python:3.12-slim".into()),
            node_deps_base_image: nonempty(
                flags.node_deps_base_image.or(file.node_deps_base_image),
            )
            .unwrap_or_else(|| node_base_image.clone()),
            node_base_image,
            max_body_bytes: flags
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(6 << 20),
            max_code_bytes: flags
                .max_code_bytes
                .or(file.max_code_bytes)
                .unwrap_or(1 << 20),
            startup_timeout: Duration::from_millis(
                flags
                    .startup_timeout_ms
                    .or(file.startup_timeout_ms)
                    .unwrap_or(60_000),
            ),
            queue_len: flags.queue_len.or(file.queue_len).unwrap_or(100),
            log_format: match log_format.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => {
                    return Err(ConfigError::Value {
                        name: "FAAS_LOG_FORMAT",
                        expected: "text or json",
                        value: log_format,
                    });
                }
            },
        };
        config.check_exposure()?;
        Ok(config)
    }

    /// With no token set, only a loopback address may be used, unless `--insecure`.
    fn check_exposure(&self) -> Result<(), ConfigError> {
        let open = self.admin_token.is_none() && self.invoke_token.is_none();
        if open && !self.listen.ip().is_loopback() && !self.insecure {
            return Err(ConfigError::Exposed {
                listen: self.listen,
            });
        }
        Ok(())
    }
}

/// Container addresses are routable from the host only on Linux with a local daemon.
fn default_address(docker_host: Option<&str>) -> InstanceAddress {
    let local = docker_host.is_none_or(|h| h.starts_with("unix://"));
    if cfg!(target_os = "linux") && local {
        InstanceAddress::Network
    } else {
        InstanceAddress::Published
    }
}

fn read_file(explicit: Option<PathBuf>) -> Result<FileConfig, ConfigError> {
    let (path, required) = match explicit {
        Some(p) => (p, true),
        None => (PathBuf::from("faas.toml"), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(FileConfig::default());
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.display().to_string(),
                source,
            });
        }
    };
    toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.display().to_string(),
        source: Box::new(source),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_contract() {
        let c = Config::resolve(Flags::default()).expect("defaults");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8000");
        assert_eq!(c.max_body_bytes, 6 << 20);
        assert_eq!(c.queue_len, 100);
        assert_eq!(c.startup_timeout, Duration::from_secs(60));
        assert_eq!(c.network, "faas-functions");
    }

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("faas.toml");
        std::fs::write(&path, "queue_len = 7\nnetwork = \"from-file\"\n").expect("write");
        let flags = Flags {
            network: Some("from-flag".into()),
            config: Some(path),
            ..Flags::default()
        };
        let c = Config::resolve(flags).expect("resolve");
        assert_eq!(c.network, "from-flag");
        assert_eq!(c.queue_len, 7);
    }

    #[test]
    fn a_public_address_needs_a_token_or_insecure() {
        let public = || Flags {
            listen: Some("0.0.0.0:8000".parse().expect("addr")),
            ..Flags::default()
        };
        let e = Config::resolve(public()).expect_err("refused");
        assert!(e.to_string().contains("--insecure"));
        let with_token = Flags {
            admin_token: Some("t".into()),
            ..public()
        };
        assert!(Config::resolve(with_token).is_ok());
        let insecure = Flags {
            insecure: true,
            ..public()
        };
        assert!(Config::resolve(insecure).is_ok());
    }

    #[test]
    fn the_node_deps_base_image_is_the_node_base_image_unless_set() {
        let node = |deps: Option<&str>| Flags {
            node_base_image: Some("my-node".into()),
            node_deps_base_image: deps.map(Into::into),
            ..Flags::default()
        };
        let c = Config::resolve(node(None)).expect("resolve");
        assert_eq!(c.node_deps_base_image, "my-node");
        let c = Config::resolve(node(Some(""))).expect("resolve");
        assert_eq!(c.node_deps_base_image, "my-node");
        let c = Config::resolve(node(Some("my-npm"))).expect("resolve");
        assert_eq!(c.node_deps_base_image, "my-npm");
        assert_eq!(c.node_base_image, "my-node");
    }

    #[test]
    fn the_cpu_request_is_a_tenth_by_default_and_must_be_a_fraction() {
        assert_eq!(
            Config::resolve(Flags::default())
                .expect("defaults")
                .kube_cpu_request,
            0.1
        );
        for bad in [0.0, 1.5, -0.2] {
            let flags = Flags {
                kube_cpu_request: Some(bad),
                ..Flags::default()
            };
            let e = Config::resolve(flags).expect_err("refused");
            assert!(e.to_string().contains("FAAS_KUBE_CPU_REQUEST"), "{e}");
        }
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let flags = Flags {
            log_format: Some("xml".into()),
            ..Flags::default()
        };
        let e = Config::resolve(flags).expect_err("xml");
        assert!(e.to_string().contains("FAAS_LOG_FORMAT"));
    }
}
