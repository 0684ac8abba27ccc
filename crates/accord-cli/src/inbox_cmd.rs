//! `accord inbox watch`: the caller's agency's events, resumable by cursor, optionally
//! following new events as they happen.

use std::process::ExitCode;

use accord_proto::v1 as pb;
use tokio_stream::StreamExt as _;

use crate::client::{CallError, CallExt as _, Client, ClientOpts};
use crate::output::print_json_line;
use crate::view;

#[derive(Debug, clap::Args)]
pub struct InboxArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub cmd: InboxCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum InboxCommand {
    /// Print the agency's events after a cursor; with --follow, keep printing new ones until
    /// interrupted. With --json, one JSON object per line.
    Watch {
        /// The cursor of the last event processed (empty: from the beginning).
        #[arg(long)]
        after: Option<String>,
        /// Keep the stream open and print new events as they happen.
        #[arg(long)]
        follow: bool,
    },
}

/// Every event after `after` that exists now.
pub async fn events(client: &Client, after: &str) -> anyhow::Result<Vec<pb::InboxEvent>> {
    let mut stream = client
        .inbox
        .clone()
        .watch_inbox(pb::WatchInboxRequest {
            after_cursor: after.to_owned(),
            follow: false,
        })
        .await
        .rpc("WatchInbox")?;
    let mut out = Vec::new();
    while let Some(m) = stream.next().await {
        let m = m.map_err(|status| CallError {
            rpc: "WatchInbox",
            status,
        })?;
        if let Some(e) = m.event {
            out.push(e);
        }
    }
    Ok(out)
}

pub async fn run(args: InboxArgs) -> anyhow::Result<ExitCode> {
    let json = args.opts.json;
    let client = args.opts.conn.connect("practitioner").await?;
    let InboxCommand::Watch { after, follow } = args.cmd;
    let mut stream = client
        .inbox
        .clone()
        .watch_inbox(pb::WatchInboxRequest {
            after_cursor: after.unwrap_or_default(),
            follow,
        })
        .await
        .rpc("WatchInbox")?;
    if !follow {
        let mut list = Vec::new();
        while let Some(m) = stream.next().await {
            let m = m.map_err(|status| CallError {
                rpc: "WatchInbox",
                status,
            })?;
            if let Some(e) = m.event {
                list.push(e);
            }
        }
        if json {
            for e in &list {
                print_json_line(e, "accord.v1.InboxEvent")?;
            }
        } else if list.is_empty() {
            outln!("no events");
        } else {
            view::inbox_table(&list).print();
            if let Some(last) = list.last() {
                outln!("\nresume with: --after {}", last.cursor);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Following: one line per event as it arrives (columns cannot be aligned ahead of time).
    if !json {
        eprintln!(
            "following the inbox of {}; Ctrl-C to stop",
            client.identity.agency
        );
    }
    let mut last_cursor = String::new();
    loop {
        tokio::select! {
            m = stream.next() => match m {
                None => break,
                Some(Err(status)) => return Err(CallError { rpc: "WatchInbox", status }.into()),
                Some(Ok(m)) => {
                    let Some(e) = m.event else { continue };
                    if json {
                        print_json_line(&e, "accord.v1.InboxEvent")?;
                    } else {
                        outln!("{}", view::inbox_row(&e).join("  "));
                    }
                    last_cursor = e.cursor.clone();
                }
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    if !json && !last_cursor.is_empty() {
        eprintln!("resume with: --after {last_cursor}");
    }
    Ok(ExitCode::SUCCESS)
}
