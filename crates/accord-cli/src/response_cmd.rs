//! `accord response ...`: the holder submits what was approved; the requester fetches it and
//! acknowledges receipt.

use std::path::PathBuf;
use std::process::ExitCode;

use accord_proto::v1 as pb;
use anyhow::{anyhow, Context as _};

use crate::client::{CallExt as _, Client, ClientOpts};
use crate::output::{self, print_json};
use crate::reqfile::{self, ResponseFile};
use crate::{request_cmd, view};

#[derive(Debug, clap::Args)]
pub struct ResponseArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub cmd: ResponseCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ResponseCommand {
    /// Submit the response to an approved request (holder's practitioner); only approved
    /// categories are accepted.
    Submit {
        /// Exchange id.
        id: String,
        /// Items file, TOML or JSON (`-` for standard input); see
        /// crates/accord-cli/examples/response.toml.
        #[arg(long, short = 'f')]
        file: PathBuf,
        /// The version read; default: read the exchange now.
        #[arg(long)]
        expected_version: Option<u64>,
    },
    /// Fetch the shared content (requester's practitioner); the first fetch marks it delivered.
    Fetch {
        /// Exchange id.
        id: String,
        /// Also write the response as JSON to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Acknowledge receipt of the response (requester's practitioner).
    Ack {
        /// Exchange id.
        id: String,
        /// A note for the holder, e.g. follow-up actions.
        #[arg(long)]
        note: Option<String>,
        #[arg(long, default_value_t = 0)]
        expected_version: u64,
    },
}

pub async fn submit(
    client: &Client,
    id: &str,
    items: Vec<pb::ResponseItem>,
    expected_version: Option<u64>,
) -> anyhow::Result<pb::SubmitResponseResponse> {
    let version = match expected_version {
        Some(v) => v,
        None => request_cmd::get(client, id).await?.version,
    };
    Ok(client
        .exchange
        .clone()
        .submit_response(pb::SubmitResponseRequest {
            exchange_id: id.to_owned(),
            expected_version: version,
            items,
        })
        .await
        .rpc("SubmitResponse")?)
}

pub async fn fetch(client: &Client, id: &str) -> anyhow::Result<pb::FetchResponseResponse> {
    Ok(client
        .exchange
        .clone()
        .fetch_response(pb::FetchResponseRequest {
            exchange_id: id.to_owned(),
        })
        .await
        .rpc("FetchResponse")?)
}

pub async fn acknowledge(
    client: &Client,
    id: &str,
    note: &str,
    expected_version: u64,
) -> anyhow::Result<pb::Exchange> {
    client
        .exchange
        .clone()
        .acknowledge_response(pb::AcknowledgeResponseRequest {
            exchange_id: id.to_owned(),
            note: note.to_owned(),
            expected_version,
        })
        .await
        .rpc("AcknowledgeResponse")?
        .exchange
        .ok_or_else(|| anyhow!("the broker returned no exchange"))
}

pub fn print_fetched(r: &pb::FetchResponseResponse) {
    let resp = r.response.clone().unwrap_or_default();
    output::print_fields(&[
        ("exchange", resp.exchange_id.clone()),
        (
            "state",
            format!(
                "{} (version {})",
                output::name::<pb::ExchangeState>(r.state),
                r.version
            ),
        ),
        (
            "submitted",
            format!(
                "{} by {}",
                output::time(resp.submitted_at.as_ref()),
                resp.submitted_by
            ),
        ),
        ("conditions", output::conditions(r.conditions.as_ref())),
        ("keep until", output::time(r.retain_until.as_ref())),
        ("sha-256", resp.content_sha256.clone()),
    ]);
    view::items_table(&resp.items).print();
}

pub async fn run(args: ResponseArgs) -> anyhow::Result<ExitCode> {
    let json = args.opts.json;
    let client = args.opts.conn.connect("practitioner").await?;
    match args.cmd {
        ResponseCommand::Submit {
            id,
            file,
            expected_version,
        } => {
            let f: ResponseFile = reqfile::read_file(&file)?;
            let items = f.to_proto()?;
            let n = items.len();
            let r = submit(&client, &id, items, expected_version).await?;
            if json {
                print_json(&r, "accord.v1.SubmitResponseResponse")?;
            } else {
                request_cmd::print_changed(
                    false,
                    r.exchange.as_ref(),
                    &format!("{n} item(s) sent"),
                )?;
                outln!("content sha-256 {}", r.content_sha256);
            }
        }
        ResponseCommand::Fetch { id, out } => {
            let r = fetch(&client, &id).await?;
            if let Some(out) = &out {
                let v = output::to_json(&r, "accord.v1.FetchResponseResponse")?;
                std::fs::write(out, serde_json::to_string_pretty(&v)?)
                    .with_context(|| format!("cannot write {}", out.display()))?;
            }
            if json {
                print_json(&r, "accord.v1.FetchResponseResponse")?;
            } else {
                print_fetched(&r);
                if let Some(out) = &out {
                    outln!("written to {}", out.display());
                }
            }
        }
        ResponseCommand::Ack {
            id,
            note,
            expected_version,
        } => {
            let x = acknowledge(
                &client,
                &id,
                note.as_deref().unwrap_or(""),
                expected_version,
            )
            .await?;
            request_cmd::print_changed(json, Some(&x), "acknowledged")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
