//! The command line: the binary's subcommands next to `serve`, each a short conversation with
//! a gateway over HTTP (`client.rs` holds every request). Output is an aligned table or
//! summary by default and the API's JSON with `--json`; a failure prints the contract's code
//! and message on stderr and exits non-zero (`error.rs` lists the exit codes).

mod args;
mod callbacks;
mod client;
mod deploy;
mod error;
mod invoke;
mod logs;
mod namespaces;
mod output;
mod progress;
mod settings;
mod source;

pub use args::{Cli, ClientCommand, Command};
pub use error::{EXIT_API, EXIT_UNREACHABLE, EXIT_USAGE};

use clap::CommandFactory;

use error::CliError;
use output::Paint;

/// Runs a client command; the process's exit code.
pub async fn run(command: ClientCommand) -> i32 {
    let result = match command {
        ClientCommand::Deploy(a) => deploy::run(a).await,
        ClientCommand::Invoke(a) => invoke::run(a).await,
        ClientCommand::Logs(a) => logs::run(a).await,
        ClientCommand::Ls(a) => callbacks::list(a).await,
        ClientCommand::Get(a) => callbacks::get(a).await,
        ClientCommand::Revisions(a) => callbacks::revisions(a).await,
        ClientCommand::Undeploy(a) => callbacks::undeploy(a).await,
        ClientCommand::Rm(a) => callbacks::remove(a).await,
        ClientCommand::Namespaces(c) => namespaces::run(c).await,
        ClientCommand::Completions(a) => completions(a.shell),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            e.report(&Paint::stderr());
            e.exit_code()
        }
    }
}

/// Prints the completion script of `shell` for the whole command line.
fn completions(shell: clap_complete::Shell) -> Result<(), CliError> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "faas-gateway", &mut script);
    output::emit_bytes(&script)
}
