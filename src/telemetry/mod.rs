//! Tracing setup: human-readable by default, JSON lines with `FAAS_LOG_FORMAT=json`. Lines are
//! formatted on the thread that logs and written in batches by a background thread
//! (`batched`), so a request never waits on stdout (a slow terminal, a full pipe); colour
//! codes only when stdout is a terminal.

mod batched;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use crate::config::LogFormat;
pub use batched::{Batched, FlushGuard};

/// Installs the global subscriber; `RUST_LOG` overrides the default `info` level. Keep the
/// returned guard for the life of the process: dropping it writes what is buffered. `None`
/// when no thread could be started for the writer (logs then go straight to stdout).
pub fn init(format: LogFormat) -> Option<FlushGuard> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,hyper=warn,bollard=warn"));
    let ansi = std::io::stdout().is_terminal();
    let (writer, guard) = match Batched::new(std::io::stdout()) {
        Ok((writer, guard)) => (BoxMakeWriter::new(writer), Some(guard)),
        Err(_) => (BoxMakeWriter::new(std::io::stdout), None),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    // A subscriber may already exist (tests); that one keeps logging.
    let _ = result;
    guard
}
