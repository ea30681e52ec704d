//! `deploy`: read the source, merge the settings, send the deploy and show its progress until
//! the new revision serves or fails.

use std::time::Duration;

use serde_json::Value;

use super::args::DeployArgs;
use super::client::{Client, segment};
use super::error::CliError;
use super::output::{Paint, cell, emit, emit_json, note, pairs};
use super::progress::Progress;
use super::{settings, source};

/// How often the callback's state is read while a deploy runs.
const POLL: Duration = Duration::from_millis(500);

/// Runs `deploy`.
pub async fn run(args: DeployArgs) -> Result<(), CliError> {
    let source = source::read(&args.source)?;
    for skipped in &source.skipped {
        note(&format!("note: left out {skipped}"));
    }
    let file = settings::read_settings(&source.settings_dir)?;
    let body = settings::deploy_body(&source, file, &args.settings, args.namespace.as_deref())?;
    let path = body
        .get("path")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let body = Value::Object(body);
    let client = Client::new(&args.client)?;
    let (status, callback) = if args.no_wait {
        client.post("/callback/deploy?wait=false", &body).await?
    } else {
        deploy_watching(&client, &path, &body).await?
    };
    if args.json {
        return emit_json(&callback);
    }
    let paint = Paint::stdout();
    let url = callback["url"]
        .as_str()
        .map_or_else(|| client.url(&format!("/api/{path}")), |u| client.url(u));
    let outcome = match status {
        201 => ("created", path.clone()),
        202 => (
            "accepted",
            format!("{path} (the deploy goes on: `faas-gateway get {path}` shows it)"),
        ),
        _ => ("deployed", path.clone()),
    };
    emit(&pairs(&[
        outcome,
        ("revision", cell(&callback["revision"])),
        ("state", paint.state(&cell(&callback["state"]))),
        ("url", url),
    ]))
}

/// The synchronous deploy, with the callback's state polled meanwhile for the progress
/// display. The poll's own failures are ignored: the deploy's answer is what counts.
async fn deploy_watching(
    client: &Client,
    path: &str,
    body: &Value,
) -> Result<(u16, Value), CliError> {
    let mut progress = Progress::start(path);
    let deploy = client.post("/callback/deploy", body);
    tokio::pin!(deploy);
    let mut ticks = tokio::time::interval(POLL);
    let state_url = format!("/callbacks/{}", segment(path));
    let result = loop {
        tokio::select! {
            result = &mut deploy => break result,
            _ = ticks.tick() => {
                if let Ok(callback) = client.get(&state_url).await
                    && let Some(state) = callback["state"].as_str()
                {
                    progress.observe(state);
                }
            }
        }
    };
    progress.finish();
    result
}
