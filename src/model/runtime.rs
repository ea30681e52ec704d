//! Languages, backends and modes a callback can use.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The language template a callback is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    Python,
    Node,
}

impl Runtime {
    /// Every runtime, in a stable order.
    pub const ALL: [Runtime; 2] = [Runtime::Python, Runtime::Node];

    /// Name used in the API, the `runtimes/` folder and image labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Python => "python",
            Runtime::Node => "node",
        }
    }

    /// Source file extension of a handler module.
    pub fn extension(self) -> &'static str {
        match self {
            Runtime::Python => "py",
            Runtime::Node => "js",
        }
    }

    /// The dependency manifest installed at build time.
    pub fn manifest(self) -> &'static str {
        match self {
            Runtime::Python => "requirements.txt",
            Runtime::Node => "package.json",
        }
    }

    /// Default in-flight requests per instance: CPython serialises on the GIL, Node does not
    /// block on I/O, so Node takes more.
    pub fn default_concurrency(self) -> u32 {
        match self {
            Runtime::Python => 8,
            Runtime::Node => 64,
        }
    }

    /// Parses the API name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Where a callback's instances run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Docker,
    Kubernetes,
}

impl Backend {
    /// Name used in the API and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Docker => "docker",
            Backend::Kubernetes => "kubernetes",
        }
    }

    /// Parses the API name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "docker" => Some(Backend::Docker),
            "kubernetes" => Some(Backend::Kubernetes),
            _ => None,
        }
    }
}

/// How a callback's instances serve calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Long-lived HTTP instances, proxied.
    Service,
    /// One container per invocation, run to completion.
    Job,
}

impl Mode {
    /// Name used in the API and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Service => "service",
            Mode::Job => "job",
        }
    }

    /// Parses the API name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "service" => Some(Mode::Service),
            "job" => Some(Mode::Job),
            _ => None,
        }
    }
}
