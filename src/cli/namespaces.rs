//! `namespaces create | ls | get | quota | tokens | rm`: the owners of callbacks, with their
//! tokens (printed once, when made) and their usage against quota.

use serde_json::{Map, Value, json};

use super::args::{
    NamespaceArgs, NamespaceCommand, NamespaceCreateArgs, NamespaceListArgs, NamespaceQuotaArgs,
    NamespaceRmArgs, QuotaFlags,
};
use super::client::{Client, segment};
use super::error::CliError;
use super::output::{Paint, cell, emit, emit_json, note, pairs, table};

/// The quota fields, their usage, and how they are headed.
const RESOURCES: [(&str, &str, &str); 3] = [
    ("max_callbacks", "callbacks", "CALLBACKS"),
    ("max_instances", "instances", "INSTANCES"),
    ("max_memory_mb", "memory_mb", "MEMORY (MIB)"),
];

/// Runs a `namespaces` command.
pub async fn run(command: NamespaceCommand) -> Result<(), CliError> {
    match command {
        NamespaceCommand::Create(a) => create(a).await,
        NamespaceCommand::Ls(a) => list(a).await,
        NamespaceCommand::Get(a) => get(a).await,
        NamespaceCommand::Quota(a) => quota(a).await,
        NamespaceCommand::Tokens(a) => tokens(a).await,
        NamespaceCommand::Rm(a) => remove(a).await,
    }
}

/// The `quota` member of a body: the limits given (`null` for `none`).
fn quota_body(flags: &QuotaFlags) -> Value {
    let mut quota = Map::new();
    for (key, limit) in [
        ("max_callbacks", flags.max_callbacks),
        ("max_instances", flags.max_instances),
        ("max_memory_mb", flags.max_memory),
    ] {
        if let Some(limit) = limit {
            quota.insert(key.into(), limit.0.map_or(Value::Null, Value::from));
        }
    }
    Value::Object(quota)
}

async fn create(args: NamespaceCreateArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let body = json!({"name": args.name, "quota": quota_body(&args.quota)});
    let (_, created) = client.post("/namespaces", &body).await?;
    if args.json {
        return emit_json(&created);
    }
    emit(&with_tokens(&created, "created"))
}

async fn list(args: NamespaceListArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let doc = client.get("/namespaces").await?;
    if args.json {
        return emit_json(&doc);
    }
    let namespaces = doc["namespaces"].as_array().cloned().unwrap_or_default();
    if namespaces.is_empty() {
        note("no namespaces");
        return Ok(());
    }
    emit(&list_table(&namespaces, &Paint::stdout()))
}

async fn get(args: NamespaceArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let ns = client
        .get(&format!("/namespaces/{}", segment(&args.name)))
        .await?;
    if args.json {
        return emit_json(&ns);
    }
    emit(&summary(&ns))
}

async fn quota(args: NamespaceQuotaArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let body = json!({ "quota": quota_body(&args.quota) });
    let ns = client
        .patch(&format!("/namespaces/{}", segment(&args.name)), &body)
        .await?;
    if args.json {
        return emit_json(&ns);
    }
    emit(&summary(&ns))
}

async fn tokens(args: NamespaceArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let (_, rotated) = client
        .post(
            &format!("/namespaces/{}/tokens", segment(&args.name)),
            &json!({}),
        )
        .await?;
    if args.json {
        return emit_json(&rotated);
    }
    emit(&with_tokens(
        &rotated,
        "has new tokens; the old ones no longer work",
    ))
}

async fn remove(args: NamespaceRmArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    client
        .delete(&format!("/namespaces/{}", segment(&args.name)))
        .await?;
    emit(&format!(
        "{} deleted, with its callbacks and async invocations\n",
        args.name
    ))
}

/// `3/20`, or `3/-` without a limit.
fn used_of(ns: &Value, field: &str, resource: &str) -> String {
    format!(
        "{}/{}",
        cell(&ns["usage"][resource]),
        cell(&ns["quota"][field])
    )
}

/// The `ls` table: usage against quota per namespace.
fn list_table(namespaces: &[Value], paint: &Paint) -> String {
    let rows: Vec<Vec<String>> = namespaces
        .iter()
        .map(|ns| {
            let mut row = vec![cell(&ns["name"])];
            row.extend(RESOURCES.iter().map(|(f, r, _)| used_of(ns, f, r)));
            row.push(cell(&ns["created_at"]));
            row
        })
        .collect();
    let mut headers = vec!["NAME"];
    headers.extend(RESOURCES.iter().map(|(_, _, h)| *h));
    headers.push("CREATED");
    table(&headers, &rows, paint)
}

/// `get`'s summary: usage against quota.
fn summary(ns: &Value) -> String {
    let mut rows = vec![("name", cell(&ns["name"]))];
    rows.extend(RESOURCES.iter().map(|(f, r, _)| (*r, used_of(ns, f, r))));
    rows.push(("created", cell(&ns["created_at"])));
    pairs(&rows)
}

/// The summary of a namespace whose tokens are in `doc`, with a reminder they show once.
fn with_tokens(doc: &Value, what: &str) -> String {
    let mut out = format!("namespace {} {what}\n\n", cell(&doc["name"]));
    out.push_str(&pairs(&[
        ("admin token", cell(&doc["tokens"]["admin"])),
        ("invoke token", cell(&doc["tokens"]["invoke"])),
    ]));
    out.push_str(
        "\nKeep them now: the gateway stores only their hashes and cannot show them again.\n\n",
    );
    out.push_str(&summary(doc));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::args::Limit;

    fn namespace() -> Value {
        json!({
            "name": "team-a", "quota": {"max_callbacks": 20, "max_memory_mb": 4096},
            "usage": {"callbacks": 3, "instances": 5, "memory_mb": 640},
            "created_at": "2026-01-01T00:00:00Z",
            "tokens": {"admin": "fns_a", "invoke": "fns_i"}
        })
    }

    #[test]
    fn limits_given_are_sent_and_none_lifts_one() {
        let flags = QuotaFlags {
            max_callbacks: Some(Limit(Some(5))),
            max_instances: None,
            max_memory: Some(Limit(None)),
        };
        assert_eq!(
            quota_body(&flags),
            json!({"max_callbacks": 5, "max_memory_mb": null})
        );
    }

    #[test]
    fn ls_shows_usage_against_each_limit() {
        let text = list_table(&[namespace()], &Paint::default());
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("NAME"), "{text}");
        let cells: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            cells,
            ["team-a", "3/20", "5/-", "640/4096", "2026-01-01T00:00:00Z"]
        );
    }

    #[test]
    fn new_tokens_are_printed_once_with_a_warning() {
        let text = with_tokens(&namespace(), "created");
        assert!(text.starts_with("namespace team-a created"), "{text}");
        assert!(text.contains("admin token:  fns_a"), "{text}");
        assert!(text.contains("invoke token: fns_i"), "{text}");
        assert!(text.contains("cannot show them again"), "{text}");
        assert!(text.contains("callbacks: 3/20"), "{text}");
    }
}
