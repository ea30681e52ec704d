//! The daemon's event stream, narrowed to the deaths of this gateway's containers.

use std::collections::HashMap;

use bollard::Docker;
use bollard::query_parameters::EventsOptionsBuilder;
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::daemon as conn;
use crate::executor::{
    ExecutorError, Exit, GATEWAY_LABEL, InstanceEvent, InstanceStatus, MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
};

/// Streams `die` events of containers labelled with `gateway_id`; `status` tells whether the
/// kernel's OOM killer was the cause (the event itself only carries the exit code).
pub async fn watch<F, Fut>(
    docker: &Docker,
    gateway_id: &str,
    tx: &mpsc::Sender<InstanceEvent>,
    status: F,
) -> Result<(), ExecutorError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<InstanceStatus, ExecutorError>>,
{
    let filters = HashMap::from([
        ("type", vec!["container".to_owned()]),
        ("event", vec!["die".to_owned()]),
        (
            "label",
            vec![
                format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"),
                format!("{GATEWAY_LABEL}={gateway_id}"),
            ],
        ),
    ]);
    let options = EventsOptionsBuilder::new().filters(&filters).build();
    let mut stream = docker.events(Some(options));
    while let Some(event) = stream.next().await {
        let event = event.map_err(|e| ExecutorError::from(conn::map_err(e)))?;
        let Some(actor) = event.actor else { continue };
        let Some(id) = actor.id else { continue };
        let exit_code = actor
            .attributes
            .as_ref()
            .and_then(|a| a.get("exitCode"))
            .and_then(|c| c.parse().ok())
            .unwrap_or(-1);
        let oom_killed = matches!(
            status(id.clone()).await,
            Ok(InstanceStatus::Exited(Exit {
                oom_killed: true,
                ..
            }))
        );
        let event = InstanceEvent::Exited {
            id,
            exit: Exit::for_good(exit_code, oom_killed),
        };
        if tx.send(event).await.is_err() {
            return Ok(());
        }
    }
    Err(ExecutorError::Unavailable {
        backend: "docker",
        reason: "the event stream ended".into(),
    })
}
