//! The `accord` command. Parses arguments and hands off to the command modules; all logic
//! lives in the library crates.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

mod protocol_cmd;

/// Accord: a multi-agency information-sharing request broker for safeguarding children.
#[derive(Debug, Parser)]
#[command(name = "accord", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Work with protocol files offline.
    #[command(subcommand)]
    Protocol(protocol_cmd::ProtocolCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Protocol(cmd) => protocol_cmd::run(cmd),
    }
}
