//! The `faas-gateway` binary: the gateway server (`serve`, also what runs with no command) or
//! one of the command line's client commands.

use anyhow::Context;
use clap::Parser;
use faas_gateway::app::App;
use faas_gateway::cli::{Cli, Command};
use faas_gateway::config::{Config, Flags};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(flags)) => serve(flags).await,
        Some(Command::Client(command)) => std::process::exit(faas_gateway::cli::run(command).await),
    }
}

/// Runs the gateway until SIGINT or SIGTERM; then `App::run` gives calls in flight and its
/// background work the shutdown grace, and returns.
async fn serve(flags: Flags) -> anyhow::Result<()> {
    let config = Config::resolve(flags).context("reading the configuration")?;
    let _flush_logs_at_exit = faas_gateway::telemetry::init(config.log_format);
    let grace = config.shutdown_grace;
    let app = App::build(config).await.context("starting the gateway")?;
    tracing::info!(listen = %app.local_addr()?, "faas-gateway serving");
    let shutdown = CancellationToken::new();
    let run = app.run(shutdown.clone());
    tokio::pin!(run);
    tokio::select! {
        served = &mut run => return served.context("serving"),
        () = wait_for_signal() => {
            tracing::info!(grace_s = grace.as_secs(), "shutting down: finishing calls in flight");
            shutdown.cancel();
        }
    }
    run.await.context("serving")
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
