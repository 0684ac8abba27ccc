//! The `accord` command. Parses arguments and hands off to one module per command group;
//! the broker itself lives in the library crates.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

/// `print!` that ends the program quietly when standard output is closed (`accord ... | head`).
macro_rules! out {
    ($($t:tt)*) => {
        $crate::output::emit(&format!($($t)*))
    };
}

/// `println!` that ends the program quietly when standard output is closed.
macro_rules! outln {
    () => {
        $crate::output::emit("\n")
    };
    ($($t:tt)*) => {
        $crate::output::emit(&format!("{}\n", format_args!($($t)*)))
    };
}

mod approvals_cmd;
mod audit_cmd;
mod client;
mod demo;
mod dev_cmd;
mod examples;
mod inbox_cmd;
mod output;
mod protocol_cmd;
mod registry_cmd;
mod reqfile;
mod request_cmd;
mod response_cmd;
mod serve_cmd;
mod view;

/// Accord: a multi-agency information-sharing request broker for safeguarding children.
#[derive(Debug, Parser)]
#[command(name = "accord", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run the broker.
    Serve(serve_cmd::ServeArgs),
    /// Run realistic exchanges between the example protocol's agencies against a broker
    /// started in-process, then show the verified audit trail.
    Demo(demo::DemoArgs),
    /// Development setup: certificates, keys, configuration and tokens.
    #[command(subcommand)]
    Dev(dev_cmd::DevCommand),
    /// Requests for information (agency systems, for practitioners).
    Request(request_cmd::RequestArgs),
    /// Decisions on requests (IG leads, Caldicott Guardians of the holding agency).
    Approvals(approvals_cmd::ApprovalsArgs),
    /// Responses: submit (holder), fetch and acknowledge (requester).
    Response(response_cmd::ResponseArgs),
    /// The agency's event stream.
    Inbox(inbox_cmd::InboxArgs),
    /// The audit log (auditors).
    Audit(audit_cmd::AuditArgs),
    /// Protocols and signatories; suspensions and re-affirmations (admins).
    Registry(registry_cmd::RegistryArgs),
    /// Work with protocol files offline.
    #[command(subcommand)]
    Protocol(protocol_cmd::ProtocolCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve_cmd::run(args),
        Command::Protocol(cmd) => protocol_cmd::run(cmd),
        Command::Dev(cmd) => report(dev_cmd::run(cmd)),
        Command::Demo(args) => report(block_on(demo::run(args))),
        Command::Request(args) => report(block_on(request_cmd::run(args))),
        Command::Approvals(args) => report(block_on(approvals_cmd::run(args))),
        Command::Response(args) => report(block_on(response_cmd::run(args))),
        Command::Inbox(args) => report(block_on(inbox_cmd::run(args))),
        Command::Audit(args) => report(block_on(audit_cmd::run(args))),
        Command::Registry(args) => report(block_on(registry_cmd::run(args))),
    }
}

fn block_on<F: std::future::Future<Output = anyhow::Result<ExitCode>>>(
    f: F,
) -> anyhow::Result<ExitCode> {
    tokio::runtime::Runtime::new()
        .map_err(|e| anyhow::anyhow!("cannot start the runtime: {e}"))?
        .block_on(f)
}

/// Prints an error with its causes and maps it to exit status 1.
fn report(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory as _;
        super::Cli::command().debug_assert();
    }
}
