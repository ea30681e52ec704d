//! The binary's command line: the server's flags at the top level (what runs with no command),
//! `serve`, and the commands that talk to a gateway over HTTP. Doc comments become `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueHint};
use clap_complete::Shell;

use crate::config::Flags;

/// Everything the `faas-gateway` binary accepts.
#[derive(Debug, Parser)]
#[command(
    name = "faas-gateway",
    version,
    about = "A Function-as-a-Service gateway, and the command line to drive one",
    long_about = "A Function-as-a-Service gateway, and the command line to drive one.\n\n\
        With no command (or with `serve`) the gateway serves, configured by the options below. \
        The other commands talk to a running gateway over HTTP: FAAS_URL, FAAS_ADMIN_TOKEN and \
        FAAS_INVOKE_TOKEN say which one and how.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do; the server when absent.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The server's settings when no command is given.
    #[command(flatten)]
    pub serve: Flags,
}

/// The binary's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway server (what runs with no command)
    Serve(Flags),
    /// Client commands (flattened: `deploy`, `invoke`, ...).
    #[command(flatten)]
    Client(ClientCommand),
}

/// The commands that talk to a gateway over HTTP.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Deploy a function from a handler file or a folder, and wait until it serves
    Deploy(DeployArgs),
    /// Call a function and print its response
    Invoke(InvokeArgs),
    /// Print a function's output (stdout and stderr of its instances)
    Logs(LogsArgs),
    /// List callbacks
    #[command(visible_alias = "list")]
    Ls(ListArgs),
    /// Show one callback: settings, instances, last error
    Get(PathArgs),
    /// List a callback's revisions, newest first
    Revisions(PathArgs),
    /// Stop a callback's instances; its definition and history stay
    Undeploy(PathArgs),
    /// Delete a callback: undeploy it and remove its definition and history
    #[command(visible_alias = "delete")]
    Rm(RmArgs),
    /// Manage namespaces: owners of callbacks, each with its own tokens and quota
    #[command(subcommand, visible_alias = "ns")]
    Namespaces(NamespaceCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions(CompletionArgs),
}

/// `namespaces …` (the gateway's admin token; a namespace's own admin token may `get` it).
#[derive(Debug, Subcommand)]
pub enum NamespaceCommand {
    /// Create a namespace and print its tokens (shown this once)
    Create(NamespaceCreateArgs),
    /// List namespaces with their usage against quota
    #[command(visible_alias = "list")]
    Ls(NamespaceListArgs),
    /// Show one namespace: its usage against its quota
    Get(NamespaceArgs),
    /// Change a namespace's quota; limits not given stay
    Quota(NamespaceQuotaArgs),
    /// New tokens for a namespace; the old ones stop working at once
    Tokens(NamespaceArgs),
    /// Delete a namespace with every callback and async invocation it owns
    #[command(visible_alias = "delete")]
    Rm(NamespaceRmArgs),
}

/// A namespace's limits as flags; `none` lifts one.
#[derive(Debug, Default, Clone, Args)]
#[command(next_help_heading = "Quota")]
pub struct QuotaFlags {
    /// Most callbacks it may own (`none`: no limit)
    #[arg(long, value_name = "N", value_parser = parse_limit)]
    pub max_callbacks: Option<Limit>,
    /// Most instances of its callbacks at once, running jobs included (`none`: no limit)
    #[arg(long, value_name = "N", value_parser = parse_limit)]
    pub max_instances: Option<Limit>,
    /// Most memory of those instances together, in MiB (`none`: no limit)
    #[arg(long, value_name = "MIB", value_parser = parse_limit)]
    pub max_memory: Option<Limit>,
}

/// A quota limit given on the command line: a number, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub Option<u64>);

/// `none` / `unlimited`, or a non-negative integer.
pub fn parse_limit(raw: &str) -> Result<Limit, String> {
    match raw {
        "none" | "unlimited" => Ok(Limit(None)),
        n => n
            .parse::<u64>()
            .map(|n| Limit(Some(n)))
            .map_err(|_| format!("expected a non-negative integer or `none`, got {raw:?}")),
    }
}

/// `namespaces create`.
#[derive(Debug, Args)]
pub struct NamespaceCreateArgs {
    /// The namespace's name (a DNS label)
    pub name: String,
    /// Print the API's JSON instead of a summary
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub quota: QuotaFlags,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `namespaces ls`.
#[derive(Debug, Args)]
pub struct NamespaceListArgs {
    /// Print the API's JSON instead of a table
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `namespaces get` and `namespaces tokens`.
#[derive(Debug, Args)]
pub struct NamespaceArgs {
    /// The namespace's name
    pub name: String,
    /// Print the API's JSON instead of a summary
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `namespaces quota`.
#[derive(Debug, Args)]
pub struct NamespaceQuotaArgs {
    /// The namespace's name
    pub name: String,
    /// Print the API's JSON instead of a summary
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub quota: QuotaFlags,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `namespaces rm`.
#[derive(Debug, Args)]
pub struct NamespaceRmArgs {
    /// The namespace's name
    pub name: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Which gateway to talk to and with which tokens.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Gateway")]
pub struct ClientArgs {
    /// The gateway's base URL
    #[arg(long, env = "FAAS_URL", default_value = "http://127.0.0.1:8000", value_hint = ValueHint::Url)]
    pub url: String,
    /// Bearer token for /callback*, /callbacks*, /invocations* and /namespaces*: the
    /// gateway's, or a namespace's admin token (which sees that namespace's callbacks only)
    #[arg(long, env = "FAAS_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Bearer token for /api/*: the gateway's, or a namespace's invoke token [default: a
    /// namespace's admin token, when that is the admin token]
    #[arg(long, env = "FAAS_INVOKE_TOKEN", hide_env_values = true)]
    pub invoke_token: Option<String>,
}

/// `deploy`.
#[derive(Debug, Args)]
#[command(
    after_help = "Settings come from the flags, then from a faas.json beside the code \
    (the deploy body's keys: {\"memory_mb\": 128, \"env\": {...}, ...}), then from the gateway's \
    defaults."
)]
pub struct DeployArgs {
    /// A handler file (.py or .js) or a folder holding the function's files
    #[arg(value_hint = ValueHint::AnyPath)]
    pub source: PathBuf,
    /// Namespace that owns the callback [default: the gateway's `default`]
    #[arg(long, env = "FAAS_NAMESPACE")]
    pub namespace: Option<String>,
    /// Return once the gateway accepted the deploy, without waiting for it to serve
    #[arg(long)]
    pub no_wait: bool,
    /// Print the callback as JSON
    #[arg(long)]
    pub json: bool,
    // Flattened groups come last: each sets the help heading of what follows it.
    #[command(flatten)]
    pub settings: DeploySettings,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// The deploy body's settings as flags; each overrides faas.json.
#[derive(Debug, Default, Clone, Args)]
#[command(next_help_heading = "Settings")]
pub struct DeploySettings {
    /// The callback's path (`/api/<path>`) [default: the folder's or file's name]
    #[arg(long)]
    pub path: Option<String>,
    /// Runtime [default: inferred from the handler file]
    #[arg(long, value_parser = ["python", "node"])]
    pub runtime: Option<String>,
    /// Handler as module.function [default: handler.handle, or <file>.handle for a file]
    #[arg(long)]
    pub handler: Option<String>,
    /// Where instances run [default: the gateway's]
    #[arg(long, value_parser = ["docker", "kubernetes"])]
    pub backend: Option<String>,
    /// service (warm instances) or job (one container per call) [default: the gateway's]
    #[arg(long, value_parser = ["service", "job"])]
    pub mode: Option<String>,
    /// Environment variable NAME=value for the function (repeatable)
    #[arg(long = "env", short = 'e', value_name = "NAME=VALUE", value_parser = parse_pair::<'='>)]
    pub env: Vec<(String, String)>,
    /// Memory limit in MiB (memory_mb)
    #[arg(long, value_name = "MIB")]
    pub memory: Option<u32>,
    /// CPU limit in cores (cpu)
    #[arg(long, value_name = "CORES")]
    pub cpu: Option<f64>,
    /// Time limit of one call in milliseconds (timeout_ms)
    #[arg(long, value_name = "MS")]
    pub timeout: Option<u64>,
    /// Calls in flight per instance (concurrency)
    #[arg(long)]
    pub concurrency: Option<u32>,
    /// Instances kept running when idle (min_instances)
    #[arg(long, value_name = "N")]
    pub min: Option<u32>,
    /// Most instances (max_instances)
    #[arg(long, value_name = "N")]
    pub max: Option<u32>,
    /// Seconds of idleness before an instance stops (idle_timeout_s)
    #[arg(long, value_name = "S")]
    pub idle_timeout: Option<u64>,
    /// Seconds an idle instance stays paused before it stops (keep_paused_s)
    #[arg(long, value_name = "S")]
    pub keep_paused: Option<u64>,
}

/// `invoke`.
#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// The callback's path
    pub path: String,
    /// Path below the function's own, with an optional query (`users/7?full=1`)
    pub rest: Option<String>,
    /// Request body: text, or @FILE for a file's contents [default: stdin when it is not a
    /// terminal]
    #[arg(short, long)]
    pub data: Option<String>,
    /// Never read the body from stdin
    #[arg(long)]
    pub ignore_stdin: bool,
    /// HTTP method [default: POST with a body, GET without]
    #[arg(short = 'X', long)]
    pub method: Option<String>,
    /// Request header `name: value` (repeatable)
    #[arg(short = 'H', long = "header", value_name = "NAME:VALUE", value_parser = parse_pair::<':'>)]
    pub headers: Vec<(String, String)>,
    /// Also print the response's status line and headers
    #[arg(short, long)]
    pub include: bool,
    /// Call in the background (Prefer: respond-async) and wait for the stored result
    #[arg(long = "async")]
    pub background: bool,
    /// With --async: print the invocation's id and return at once
    #[arg(long, requires = "background")]
    pub no_wait: bool,
    /// With --async: print the invocation document as JSON
    #[arg(long, requires = "background")]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The callback's path
    pub path: String,
    /// How many of the last lines to print [default: the gateway's, 200]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub tail: Option<u32>,
    /// Keep printing new lines as they are written
    #[arg(short, long)]
    pub follow: bool,
    /// Print each line as a JSON object (NDJSON)
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `ls`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only the callbacks of this namespace
    #[arg(long, env = "FAAS_NAMESPACE")]
    pub namespace: Option<String>,
    /// Print the API's JSON instead of a table
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Commands about one callback: `get`, `revisions`, `undeploy`.
#[derive(Debug, Args)]
pub struct PathArgs {
    /// The callback's path
    pub path: String,
    /// Print the API's JSON instead of a summary
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// The callback's path
    pub path: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Splits `name<SEP>value` (`NAME=value`, `name: value`); the name must not be empty.
pub fn parse_pair<const SEP: char>(raw: &str) -> Result<(String, String), String> {
    match raw.split_once(SEP) {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.trim_start().to_owned()))
        }
        _ => Err(format!("expected NAME{SEP}VALUE, got {raw:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_command_means_serving_with_the_server_flags() {
        let cli = Cli::try_parse_from(["faas-gateway", "--listen", "127.0.0.1:9000"])
            .expect("server flags parse");
        assert!(cli.command.is_none());
        assert_eq!(
            cli.serve.listen.map(|l| l.to_string()).as_deref(),
            Some("127.0.0.1:9000")
        );
    }

    #[test]
    fn server_flags_do_not_mix_with_a_client_command() {
        let e = Cli::try_parse_from(["faas-gateway", "--listen", "127.0.0.1:9000", "ls"])
            .expect_err("conflict");
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn deploy_flags_parse_into_settings() {
        let cli = Cli::try_parse_from([
            "faas-gateway",
            "deploy",
            "fn/",
            "--memory",
            "128",
            "-e",
            "A=1=2",
            "--env",
            "B=",
            "--url",
            "http://gw:1",
        ])
        .expect("deploy parses");
        let Some(Command::Client(ClientCommand::Deploy(d))) = cli.command else {
            panic!("not a deploy: {cli:?}");
        };
        assert_eq!(d.settings.memory, Some(128));
        assert_eq!(
            d.settings.env,
            vec![("A".into(), "1=2".into()), ("B".into(), String::new())]
        );
        assert_eq!(d.client.url, "http://gw:1");
    }

    #[test]
    fn pairs_need_a_name_and_a_separator() {
        assert_eq!(
            parse_pair::<':'>("X-Id: 7"),
            Ok(("X-Id".into(), "7".into()))
        );
        assert!(parse_pair::<'='>("NOVALUE").is_err());
        assert!(parse_pair::<'='>("=v").is_err());
    }
}
