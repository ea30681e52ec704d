//! The Docker backend: one hardened container per instance, on a dedicated network.

mod events;
mod job;
mod logs;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerSummary, HostConfig, Mount, MountType,
    NetworkCreateRequest, PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, KillContainerOptions, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::daemon::{self as conn, DockerConn, is_conflict, is_not_found};

use super::{
    CALLBACK_LABEL, Executor, ExecutorError, Exit, GATEWAY_LABEL, Instance, InstanceEvent,
    InstanceSpec, InstanceStatus, JobOutcome, LogLine, MANAGED_BY_LABEL, MANAGED_BY_VALUE,
    NAMESPACE_LABEL, ObservedInstance, REVISION_LABEL, ROLE_LABEL,
};

/// Port the runtime listens on inside the container.
const RUNTIME_PORT: &str = "8080/tcp";
/// Processes an instance may run: enough for threads of a busy handler, not for a fork bomb.
const PIDS_LIMIT: i64 = 512;

/// What a container is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A long-lived HTTP instance.
    Service,
    /// One invocation, its event in the environment.
    Job,
    /// One invocation, its event in a file on a volume.
    JobWithEventVolume,
}

pub use crate::config::InstanceAddress;

/// Where and how a Docker executor runs instances.
#[derive(Debug, Clone)]
pub struct DockerSettings {
    pub network: String,
    pub address: InstanceAddress,
    /// Value of the `faas.gateway` label: gateways sharing one daemon leave each other's
    /// containers alone.
    pub gateway_id: String,
}

/// Runs instances as Docker containers.
pub struct DockerExecutor {
    conn: DockerConn,
    network: String,
    address: InstanceAddress,
    gateway_id: String,
    /// The network was there when last looked at: starts skip the check (a create that
    /// finds it gone looks again).
    network_seen: AtomicBool,
}

impl DockerExecutor {
    /// An executor over `conn`.
    pub fn new(conn: DockerConn, settings: DockerSettings) -> Self {
        DockerExecutor {
            conn,
            network: settings.network,
            address: settings.address,
            gateway_id: settings.gateway_id,
            network_seen: AtomicBool::new(false),
        }
    }

    /// Creates a container named `name`; the image missing is [`ExecutorError::ImageMissing`].
    async fn create(
        &self,
        name: &str,
        spec: &InstanceSpec,
        role: Role,
    ) -> Result<String, ExecutorError> {
        self.ensure_network().await?;
        let docker = self.conn.client().await?;
        let options = CreateContainerOptionsBuilder::new().name(name).build();
        let mut retried = false;
        loop {
            let create =
                docker.create_container(Some(options.clone()), self.create_body(spec, role));
            match self.conn.call_raw(create).await? {
                Ok(c) => return Ok(c.id),
                // The network (removed since it was seen) or the image is missing: look at the
                // network again once.
                Err(e) if is_not_found(&e) && !retried => {
                    retried = true;
                    self.network_seen.store(false, Ordering::Relaxed);
                    self.ensure_network().await?;
                }
                Err(e) if is_not_found(&e) => {
                    return Err(ExecutorError::ImageMissing {
                        image: spec.image.clone(),
                    });
                }
                Err(e) => return Err(conn::map_err(e).into()),
            }
        }
    }

    /// Creates the functions network unless it exists.
    async fn ensure_network(&self) -> Result<(), ExecutorError> {
        if self.network_seen.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.look_for_network().await?;
        self.network_seen.store(true, Ordering::Relaxed);
        Ok(())
    }

    async fn look_for_network(&self) -> Result<(), ExecutorError> {
        let docker = self.conn.client().await?;
        match docker.inspect_network(&self.network, None).await {
            Ok(_) => return Ok(()),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(conn::map_err(e).into()),
        }
        let request = NetworkCreateRequest {
            name: self.network.clone(),
            driver: Some("bridge".into()),
            labels: Some(HashMap::from([(
                MANAGED_BY_LABEL.into(),
                MANAGED_BY_VALUE.into(),
            )])),
            ..Default::default()
        };
        match docker.create_network(request).await {
            Ok(_) => Ok(()),
            // Another gateway (or a parallel start) created it first.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(conn::map_err(e).into()),
        }
    }

    fn create_body(&self, spec: &InstanceSpec, role: Role) -> ContainerCreateBody {
        let memory = i64::from(spec.memory_mb) * 1024 * 1024;
        let service = role == Role::Service;
        let publish = service && self.address == InstanceAddress::Published;
        let host_config = HostConfig {
            memory: Some(memory),
            // Equal to `memory`: no swap, so exceeding the limit is an OOM kill, not a crawl.
            memory_swap: Some(memory),
            nano_cpus: Some((spec.cpu * 1e9) as i64),
            pids_limit: Some(PIDS_LIMIT),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges:true".into()]),
            readonly_rootfs: Some(true),
            tmpfs: Some(HashMap::from([(
                "/tmp".into(),
                "rw,nosuid,nodev,size=64m".into(),
            )])),
            network_mode: Some(self.network.clone()),
            // A large job event is copied into its own writable volume before the start.
            mounts: (role == Role::JobWithEventVolume).then(|| {
                vec![Mount {
                    target: Some(job::EVENT_DIR.into()),
                    typ: Some(MountType::VOLUME),
                    ..Default::default()
                }]
            }),
            port_bindings: publish.then(|| {
                HashMap::from([(
                    RUNTIME_PORT.into(),
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".into()),
                        host_port: Some(String::new()),
                    }]),
                )])
            }),
            ..Default::default()
        };
        ContainerCreateBody {
            image: Some(spec.image.clone()),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            user: Some("10001:10001".into()),
            labels: Some(HashMap::from([
                (MANAGED_BY_LABEL.into(), MANAGED_BY_VALUE.into()),
                (GATEWAY_LABEL.into(), self.gateway_id.clone()),
                (CALLBACK_LABEL.into(), spec.callback.clone()),
                (REVISION_LABEL.into(), spec.revision.to_string()),
                (NAMESPACE_LABEL.into(), spec.namespace.clone()),
                (
                    ROLE_LABEL.into(),
                    if service { "service" } else { "job" }.into(),
                ),
            ])),
            exposed_ports: service.then(|| vec![RUNTIME_PORT.into()]),
            host_config: Some(host_config),
            ..Default::default()
        }
    }

    /// Where an inspected container's server can be reached.
    fn endpoint(&self, c: &ContainerInspectResponse) -> Option<SocketAddr> {
        let net = c.network_settings.as_ref()?;
        match self.address {
            InstanceAddress::Published => {
                let binding = net.ports.as_ref()?.get(RUNTIME_PORT)?.as_ref()?.first()?;
                let port = binding.host_port.as_deref()?.parse().ok()?;
                Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
            }
            InstanceAddress::Network => {
                let ip = net
                    .networks
                    .as_ref()?
                    .get(&self.network)?
                    .ip_address
                    .as_deref()?;
                Some(SocketAddr::new(ip.parse().ok()?, 8080))
            }
        }
    }

    async fn inspect(&self, id: &str) -> Result<Option<ContainerInspectResponse>, ExecutorError> {
        let docker = self.conn.client().await?;
        match self
            .conn
            .call_raw(docker.inspect_container(id, None))
            .await?
        {
            Ok(c) => Ok(Some(c)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(conn::map_err(e).into()),
        }
    }

    fn observe(&self, c: ContainerInspectResponse) -> Option<ObservedInstance> {
        let labels = c.config.as_ref()?.labels.as_ref()?;
        let callback = labels.get(CALLBACK_LABEL)?.clone();
        let job = labels.get(ROLE_LABEL).is_some_and(|r| r == "job");
        let revision = labels.get(REVISION_LABEL)?.parse().ok()?;
        let state = c.state.as_ref();
        let running = state.and_then(|s| s.running).unwrap_or(false);
        let endpoint = self
            .endpoint(&c)
            .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
        let time = |t: Option<&str>| {
            t.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        let started_at = time(state.and_then(|s| s.started_at.as_deref())).unwrap_or_else(Utc::now);
        let finished_at = time(state.and_then(|s| s.finished_at.as_deref())).filter(|_| !running);
        Some(ObservedInstance {
            instance: Instance {
                id: c.id?,
                endpoint,
                started_at,
            },
            callback,
            revision,
            running,
            finished_at,
            // Containers are never restarted in place: one that stopped stays stopped.
            restarting: false,
            job,
            paused: state.and_then(|s| s.paused).unwrap_or(false),
        })
    }
}

#[async_trait]
impl Executor for DockerExecutor {
    async fn ping(&self) -> Result<String, ExecutorError> {
        let docker = self.conn.client().await?;
        let v = self.conn.call(docker.version()).await?;
        Ok(v.version.unwrap_or_default())
    }

    async fn start(&self, spec: &InstanceSpec) -> Result<Instance, ExecutorError> {
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let name = format!("faas-{}-r{}-{suffix}", spec.callback, spec.revision);
        let id = self.create(&name, spec, Role::Service).await?;
        let docker = self.conn.client().await?;
        if let Err(e) = self.conn.call(docker.start_container(&id, None)).await {
            let _ = self.remove(&id).await;
            return Err(e.into());
        }
        let inspected = self.inspect(&id).await?;
        let endpoint = inspected.as_ref().and_then(|c| self.endpoint(c));
        match endpoint {
            Some(endpoint) => Ok(Instance {
                id,
                endpoint,
                started_at: Utc::now(),
            }),
            None => {
                // It exited before its port was bound: keep it, so its status and logs tell why.
                Ok(Instance {
                    id,
                    endpoint: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
                    started_at: Utc::now(),
                })
            }
        }
    }

    async fn remove(&self, id: &str) -> Result<(), ExecutorError> {
        let docker = self.conn.client().await?;
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        match self
            .conn
            .call_raw(docker.remove_container(id, Some(options)))
            .await?
        {
            Ok(()) => Ok(()),
            // Gone already, or being removed by an earlier call.
            Err(e) if is_not_found(&e) || is_conflict(&e) => Ok(()),
            Err(e) => Err(conn::map_err(e).into()),
        }
    }

    async fn stop(&self, id: &str) -> Result<(), ExecutorError> {
        let docker = self.conn.client().await?;
        match self
            .conn
            .call_raw(docker.kill_container(id, None::<KillContainerOptions>))
            .await?
        {
            Ok(()) => Ok(()),
            // Not running (409) or gone (404): stopped either way.
            Err(e) if is_not_found(&e) || is_conflict(&e) => Ok(()),
            Err(e) => Err(conn::map_err(e).into()),
        }
    }

    async fn watch(&self, tx: mpsc::Sender<InstanceEvent>) -> Result<(), ExecutorError> {
        let docker = self.conn.client().await?;
        let status = |id: String| async move { self.status(&id).await };
        let result = events::watch(&docker, &self.gateway_id, &tx, status).await;
        if let Err(ExecutorError::Unavailable { .. }) = &result {
            self.conn.reset();
        }
        result
    }

    async fn status(&self, id: &str) -> Result<InstanceStatus, ExecutorError> {
        let Some(c) = self.inspect(id).await? else {
            return Ok(InstanceStatus::Gone);
        };
        let state = c.state.unwrap_or_default();
        if state.running.unwrap_or(false) {
            return Ok(InstanceStatus::Running);
        }
        Ok(InstanceStatus::Exited(Exit::for_good(
            state.exit_code.unwrap_or(-1),
            state.oom_killed.unwrap_or(false),
        )))
    }

    async fn list(&self) -> Result<Vec<ObservedInstance>, ExecutorError> {
        let docker = self.conn.client().await?;
        let filters = HashMap::from([(
            "label",
            vec![
                format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"),
                format!("{GATEWAY_LABEL}={}", self.gateway_id),
            ],
        )]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let summaries: Vec<ContainerSummary> = self
            .conn
            .call(docker.list_containers(Some(options)))
            .await?;
        let mut found = Vec::with_capacity(summaries.len());
        for id in summaries.into_iter().filter_map(|s| s.id) {
            if let Some(c) = self.inspect(&id).await?
                && let Some(o) = self.observe(c)
            {
                found.push(o);
            }
        }
        Ok(found)
    }

    async fn run_job(
        &self,
        spec: &InstanceSpec,
        event: &str,
        timeout: std::time::Duration,
    ) -> Result<JobOutcome, ExecutorError> {
        self.run_job_container(spec, event, timeout).await
    }

    async fn logs(&self, ids: &[String], tail: usize) -> Result<Vec<LogLine>, ExecutorError> {
        let docker = self.conn.client().await?;
        logs::collect(&docker, ids, tail).await
    }

    fn can_pause(&self) -> bool {
        true
    }

    async fn pause(&self, id: &str) -> Result<(), ExecutorError> {
        let docker = self.conn.client().await?;
        Ok(self.conn.call(docker.pause_container(id)).await?)
    }

    async fn resume(&self, id: &str) -> Result<(), ExecutorError> {
        let docker = self.conn.client().await?;
        Ok(self.conn.call(docker.unpause_container(id)).await?)
    }
}
