//! An emulated Kubernetes API server: one namespace, the wire protocol of the endpoints the
//! executor uses, and controllers that move pods and Jobs through states captured on a real
//! cluster.

pub mod cluster;
mod controllers;
pub mod fixtures;
mod job_controller;
mod kubelet;
pub mod scenario;
mod scheduler;
pub mod server;
mod status;
pub mod store;
mod watch;

pub use cluster::Cluster;
pub use scenario::{JobScenario, ServiceScenario};
pub use server::ApiServer;
pub use store::Res;
