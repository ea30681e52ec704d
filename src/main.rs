use anyhow::Context;
use faas_gateway::app::App;
use faas_gateway::config::Config;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::load().context("reading the configuration")?;
    faas_gateway::telemetry::init(config.log_format);
    let grace = config.shutdown_grace;
    let app = App::build(config).await.context("starting the gateway")?;
    tracing::info!(listen = %app.local_addr()?, "faas-gateway serving");
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!(
            grace_s = grace.as_secs(),
            "shutting down: finishing calls in flight"
        );
        signal.cancel();
        // Calls still running after the grace period are abandoned; the instances stay and
        // queued async invocations stay in SQLite for the next start.
        tokio::time::sleep(grace + std::time::Duration::from_secs(1)).await;
        tracing::warn!("shutdown grace expired; exiting");
        std::process::exit(0);
    });
    app.run(shutdown).await.context("serving")?;
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
