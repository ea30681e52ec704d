//! `ls`, `get`, `revisions`, `undeploy` and `rm`: reading and removing callbacks.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::args::{ListArgs, PathArgs, RmArgs};
use super::client::{Client, segment};
use super::error::CliError;
use super::output::{Paint, cell, emit, emit_json, note, pairs, table};

/// Runs `ls`.
pub async fn list(args: ListArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let query = match args.namespace.as_deref().filter(|n| !n.is_empty()) {
        Some(ns) => format!("?namespace={}", segment(ns)),
        None => String::new(),
    };
    let doc = client.get(&format!("/callbacks{query}")).await?;
    if args.json {
        return emit_json(&doc);
    }
    let callbacks = doc["callbacks"].as_array().cloned().unwrap_or_default();
    if callbacks.is_empty() {
        note("no callbacks");
        return Ok(());
    }
    emit(&list_table(&callbacks, &client, &Paint::stdout()))
}

/// The `ls` table.
fn list_table(callbacks: &[Value], client: &Client, paint: &Paint) -> String {
    let rows: Vec<Vec<String>> = callbacks
        .iter()
        .map(|cb| {
            vec![
                cell(&cb["path"]),
                cell(&cb["state"]),
                cell(&cb["revision"]),
                cell(&cb["runtime"]),
                cell(&cb["backend"]),
                cell(&cb["mode"]),
                instance_count(cb),
                cb["url"]
                    .as_str()
                    .map_or_else(|| "-".into(), |u| client.url(u)),
                cell(&cb["namespace"]),
            ]
        })
        .collect();
    let headers = [
        "PATH",
        "STATE",
        "REVISION",
        "RUNTIME",
        "BACKEND",
        "MODE",
        "INSTANCES",
        "URL",
        "NAMESPACE",
    ];
    table(&headers, &rows, paint)
}

/// How many instances a callback has, and how many of them are paused when some are.
fn instance_count(cb: &Value) -> String {
    let instances = cb["instances"].as_array().map_or(&[][..], Vec::as_slice);
    let paused = instances.iter().filter(|i| i["state"] == "paused").count();
    match paused {
        0 => instances.len().to_string(),
        p => format!("{} ({p} paused)", instances.len()),
    }
}

/// Runs `get`.
pub async fn get(args: PathArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let cb = client
        .get(&format!("/callbacks/{}", segment(&args.path)))
        .await?;
    if args.json {
        return emit_json(&cb);
    }
    emit(&summary(&cb, &client, &Paint::stdout()))
}

/// `get`'s readable summary: settings, then instances, then the last error.
fn summary(cb: &Value, client: &Client, paint: &Paint) -> String {
    let mut rows = vec![
        ("path", cell(&cb["path"])),
        ("state", paint.state(&cell(&cb["state"]))),
        ("revision", cell(&cb["revision"])),
        ("runtime", cell(&cb["runtime"])),
        ("backend", cell(&cb["backend"])),
        ("mode", cell(&cb["mode"])),
    ];
    if let Some(ns) = cb["namespace"].as_str() {
        rows.push(("namespace", ns.to_owned()));
    }
    let url = cb["url"]
        .as_str()
        .map_or_else(|| "-".into(), |u| client.url(u));
    rows.extend([
        ("url", url),
        ("handler", cell(&cb["handler"])),
        ("image", cell(&cb["image"])),
        ("limits", limits(cb)),
        ("scaling", scaling(cb)),
        ("env", env(cb)),
        ("created", cell(&cb["created_at"])),
        ("updated", cell(&cb["updated_at"])),
    ]);
    let last_error = &cb["last_error"];
    if last_error.is_object() {
        rows.push((
            "last error",
            format!(
                "{}: {} (at {})",
                cell(&last_error["code"]),
                cell(&last_error["message"]),
                cell(&last_error["at"])
            ),
        ));
    }
    let mut out = pairs(&rows);
    let instances = cb["instances"].as_array().cloned().unwrap_or_default();
    out.push('\n');
    if instances.is_empty() {
        out.push_str("no instances\n");
        return out;
    }
    let rows: Vec<Vec<String>> = instances
        .iter()
        .map(|i| {
            vec![
                cell(&i["id"]).chars().take(12).collect(),
                cell(&i["state"]),
                cell(&i["started_at"]),
                cell(&i["in_flight"]),
                cell(&i["restarts"]),
            ]
        })
        .collect();
    out.push_str(&table(
        &["INSTANCE", "STATE", "STARTED", "IN FLIGHT", "RESTARTS"],
        &rows,
        paint,
    ));
    out
}

fn limits(cb: &Value) -> String {
    format!(
        "memory {} MiB, cpu {}, timeout {} ms, concurrency {}",
        cell(&cb["memory_mb"]),
        cell(&cb["cpu"]),
        cell(&cb["timeout_ms"]),
        cell(&cb["concurrency"])
    )
}

fn scaling(cb: &Value) -> String {
    let mut text = format!(
        "min {}, max {}, idle timeout {} s",
        cell(&cb["min_instances"]),
        cell(&cb["max_instances"]),
        cell(&cb["idle_timeout_s"])
    );
    if !cb["keep_paused_s"].is_null() {
        text.push_str(&format!(", kept paused {} s", cell(&cb["keep_paused_s"])));
    }
    text
}

fn env(cb: &Value) -> String {
    match cb["env"].as_object() {
        Some(env) if !env.is_empty() => env
            .iter()
            .map(|(k, v)| format!("{k}={}", cell(v)))
            .collect::<Vec<_>>()
            .join(" "),
        _ => "-".into(),
    }
}

/// Runs `revisions`.
pub async fn revisions(args: PathArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let doc = client
        .get(&format!("/callbacks/{}/revisions", segment(&args.path)))
        .await?;
    if args.json {
        return emit_json(&doc);
    }
    let revisions = doc["revisions"].as_array().cloned().unwrap_or_default();
    if revisions.is_empty() {
        note(&format!(
            "{} has no revision (no deploy succeeded)",
            args.path
        ));
        return Ok(());
    }
    emit(&revision_table(&revisions, Utc::now(), &Paint::stdout()))
}

/// The `revisions` table; `now` dates the AGE column.
fn revision_table(revisions: &[Value], now: DateTime<Utc>, paint: &Paint) -> String {
    let rows: Vec<Vec<String>> = revisions
        .iter()
        .map(|r| {
            let created = cell(&r["created_at"]);
            let age = DateTime::parse_from_rfc3339(&created)
                .map_or_else(|_| "-".into(), |t| age(now, t.with_timezone(&Utc)));
            vec![
                cell(&r["revision"]),
                age,
                cell(&r["code_sha256"]).chars().take(12).collect(),
                cell(&r["image"]),
                created,
            ]
        })
        .collect();
    table(
        &["REVISION", "AGE", "CODE", "IMAGE", "CREATED"],
        &rows,
        paint,
    )
}

/// A duration as kubectl shows ages: `45s`, `12m`, `5h`, `3d`.
pub fn age(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    let s = (now - then).num_seconds().max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=7_199 => format!("{}m", s / 60),
        7_200..=172_799 => format!("{}h", s / 3_600),
        _ => format!("{}d", s / 86_400),
    }
}

/// Runs `undeploy`.
pub async fn undeploy(args: PathArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let body = json!({"path": args.path, "action": "undeploy"});
    let (_, cb) = client.post("/callback/deploy", &body).await?;
    if args.json {
        return emit_json(&cb);
    }
    emit(&format!(
        "{} undeployed (revision {} and its history kept)\n",
        args.path,
        cell(&cb["revision"])
    ))
}

/// Runs `rm`.
pub async fn remove(args: RmArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    client
        .delete(&format!("/callbacks/{}", segment(&args.path)))
        .await?;
    emit(&format!("{} deleted\n", args.path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::args::ClientArgs;

    fn client() -> Client {
        Client::new(&ClientArgs {
            url: "http://gw:8000".into(),
            admin_token: None,
            invoke_token: None,
        })
        .expect("client")
    }

    fn callback() -> Value {
        json!({
            "path": "hello", "runtime": "python", "backend": "docker", "mode": "service",
            "revision": 3, "state": "ready", "image": "faas-fn/hello:3f2a", "handler": "handler.handle",
            "env": {"GREETING": "hi"}, "memory_mb": 128, "cpu": 0.5, "timeout_ms": 30000,
            "concurrency": 8, "min_instances": 0, "max_instances": 4, "idle_timeout_s": 300,
            "instances": [
                {"id": "0123456789abcdef", "state": "ready", "started_at": "2026-01-01T00:00:00Z", "in_flight": 1, "restarts": 0},
                {"id": "fedcba9876543210", "state": "paused", "started_at": "2026-01-01T00:00:00Z", "in_flight": 0, "restarts": 2}
            ],
            "last_error": {"code": "FUNCTION_OOM_KILLED", "message": "killed", "at": "2026-01-01T00:01:00Z"},
            "url": "/api/hello", "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "namespace": "team-a"
        })
    }

    #[test]
    fn ls_shows_one_row_per_callback_with_its_full_url() {
        let text = list_table(&[callback()], &client(), &Paint::default());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let cells: Vec<&str> = lines[1]
            .split("   ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(
            cells,
            [
                "hello",
                "ready",
                "3",
                "python",
                "docker",
                "service",
                "2 (1 paused)",
                "http://gw:8000/api/hello",
                "team-a"
            ]
        );
        assert!(lines[0].starts_with("PATH    STATE   REVISION"));
    }

    #[test]
    fn get_summarises_settings_instances_and_the_last_error() {
        let text = summary(&callback(), &client(), &Paint::default());
        let value = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{key}:")))
                .map(str::trim)
        };
        assert_eq!(
            value("limits"),
            Some("memory 128 MiB, cpu 0.5, timeout 30000 ms, concurrency 8")
        );
        assert_eq!(value("env"), Some("GREETING=hi"));
        assert_eq!(value("url"), Some("http://gw:8000/api/hello"));
        assert!(
            text.contains("last error: FUNCTION_OOM_KILLED: killed (at 2026-01-01T00:01:00Z)"),
            "{text}"
        );
        assert!(text.contains("0123456789ab   ready"), "{text}");
        assert!(
            !text.contains("kept paused"),
            "no keep_paused_s, no mention"
        );
    }

    #[test]
    fn ages_read_like_kubectl() {
        let now = DateTime::parse_from_rfc3339("2026-01-02T00:00:00Z")
            .expect("ts")
            .with_timezone(&Utc);
        let ago = |s: i64| age(now, now - chrono::Duration::seconds(s));
        assert_eq!(
            [ago(5), ago(600), ago(7_200), ago(200_000)],
            ["5s", "10m", "2h", "2d"]
        );
        assert_eq!(ago(-5), "0s", "a clock ahead is no negative age");
    }
}
