//! `accord registry ...`: read the protocols the broker enforces; administrators suspend,
//! reinstate and record re-affirmations of signatories (every change is audited).

use std::process::ExitCode;

use accord_proto::v1 as pb;
use anyhow::{anyhow, bail};

use crate::client::{CallExt as _, Client, ClientOpts};
use crate::output::{print_json, Table};
use crate::view;

#[derive(Debug, clap::Args)]
pub struct RegistryArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub cmd: RegistryCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum RegistryCommand {
    /// Show a protocol in full (signatories, purposes, categories); without an id, list the
    /// protocols (and show the only one in full).
    Show {
        /// Protocol id.
        protocol: Option<String>,
    },
    /// Suspend a signatory, e.g. after a breach: its systems and users can no longer take part
    /// (admin).
    Suspend {
        /// Agency id of the signatory.
        #[arg(value_name = "AGENCY")]
        signatory: String,
        /// Why; recorded in the audit log.
        #[arg(long)]
        reason: String,
        /// Protocol id (default: the broker's only protocol).
        #[arg(long)]
        protocol: Option<String>,
    },
    /// Reinstate a suspended signatory (admin).
    Reinstate {
        /// Agency id of the signatory.
        #[arg(value_name = "AGENCY")]
        signatory: String,
        /// Why; recorded in the audit log.
        #[arg(long)]
        reason: String,
        /// Protocol id (default: the broker's only protocol).
        #[arg(long)]
        protocol: Option<String>,
    },
    /// Record that a signatory has re-affirmed its commitment (admin).
    Reaffirm {
        /// Agency id of the signatory.
        #[arg(value_name = "AGENCY")]
        signatory: String,
        /// Date of the re-affirmation, YYYY-MM-DD (default: today).
        #[arg(long)]
        on: Option<String>,
        /// Protocol id (default: the broker's only protocol).
        #[arg(long)]
        protocol: Option<String>,
    },
}

async fn protocols(client: &Client) -> anyhow::Result<Vec<pb::ProtocolSummary>> {
    Ok(client
        .registry
        .clone()
        .list_protocols(pb::ListProtocolsRequest {})
        .await
        .rpc("ListProtocols")?
        .protocols)
}

async fn protocol_id(client: &Client, given: Option<String>) -> anyhow::Result<String> {
    if let Some(p) = given {
        return Ok(p);
    }
    let list = protocols(client).await?;
    match list.as_slice() {
        [p] => Ok(p.id.clone()),
        [] => bail!("the broker holds no protocol"),
        many => bail!(
            "the broker holds several protocols; choose one with --protocol: {}",
            many.iter()
                .map(|p| p.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

pub async fn get_protocol(client: &Client, id: &str) -> anyhow::Result<pb::Protocol> {
    client
        .registry
        .clone()
        .get_protocol(pb::GetProtocolRequest {
            protocol_id: id.to_owned(),
        })
        .await
        .rpc("GetProtocol")?
        .protocol
        .ok_or_else(|| anyhow!("the broker returned no protocol"))
}

fn print_signatory_change(
    json: bool,
    what: &str,
    s: Option<&pb::Signatory>,
    seq: u64,
) -> anyhow::Result<()> {
    let s = s.cloned().unwrap_or_default();
    if json {
        return print_json(&s, "accord.v1.Signatory");
    }
    outln!("{what}; recorded as audit entry {seq}");
    view::signatories_table(std::slice::from_ref(&s)).print();
    Ok(())
}

pub async fn run(args: RegistryArgs) -> anyhow::Result<ExitCode> {
    let json = args.opts.json;
    let default_role = match args.cmd {
        RegistryCommand::Show { .. } => "practitioner",
        _ => "admin",
    };
    let client = args.opts.conn.connect(default_role).await?;
    match args.cmd {
        RegistryCommand::Show { protocol } => {
            let id = match protocol {
                Some(id) => id,
                None => {
                    let list = protocols(&client).await?;
                    if list.len() != 1 {
                        if json {
                            print_json(
                                &pb::ListProtocolsResponse { protocols: list },
                                "accord.v1.ListProtocolsResponse",
                            )?;
                        } else {
                            let mut t = Table::new(&[
                                "PROTOCOL",
                                "VERSION",
                                "TITLE",
                                "APPROVED",
                                "REVIEW DUE",
                            ]);
                            for p in &list {
                                t.row([
                                    p.id.clone(),
                                    p.version.clone(),
                                    p.title.clone(),
                                    p.approved_on.clone(),
                                    p.review_due.clone(),
                                ]);
                            }
                            t.print();
                        }
                        return Ok(ExitCode::SUCCESS);
                    }
                    list[0].id.clone()
                }
            };
            let p = get_protocol(&client, &id).await?;
            if json {
                print_json(&p, "accord.v1.Protocol")?;
            } else {
                view::print_protocol(&p);
            }
        }
        RegistryCommand::Suspend {
            signatory: agency,
            reason,
            protocol,
        } => {
            let r = client
                .registry
                .clone()
                .suspend_signatory(pb::SuspendSignatoryRequest {
                    protocol_id: protocol_id(&client, protocol).await?,
                    agency_id: agency.clone(),
                    reason,
                })
                .await
                .rpc("SuspendSignatory")?;
            print_signatory_change(
                json,
                &format!("{agency} suspended"),
                r.signatory.as_ref(),
                r.audit_sequence,
            )?;
        }
        RegistryCommand::Reinstate {
            signatory: agency,
            reason,
            protocol,
        } => {
            let r = client
                .registry
                .clone()
                .reinstate_signatory(pb::ReinstateSignatoryRequest {
                    protocol_id: protocol_id(&client, protocol).await?,
                    agency_id: agency.clone(),
                    reason,
                })
                .await
                .rpc("ReinstateSignatory")?;
            print_signatory_change(
                json,
                &format!("{agency} reinstated"),
                r.signatory.as_ref(),
                r.audit_sequence,
            )?;
        }
        RegistryCommand::Reaffirm {
            signatory: agency,
            on,
            protocol,
        } => {
            let on = match on {
                Some(d) => {
                    if accord_domain::loader::parse_date(&d).is_none() {
                        bail!("--on {d:?}: write the date as YYYY-MM-DD");
                    }
                    d
                }
                None => accord_proto::wire::format_date(time::OffsetDateTime::now_utc().date()),
            };
            let r = client
                .registry
                .clone()
                .reaffirm_signatory(pb::ReaffirmSignatoryRequest {
                    protocol_id: protocol_id(&client, protocol).await?,
                    agency_id: agency.clone(),
                    affirmed_on: on.clone(),
                })
                .await
                .rpc("ReaffirmSignatory")?;
            print_signatory_change(
                json,
                &format!("{agency} re-affirmed on {on}"),
                r.signatory.as_ref(),
                r.audit_sequence,
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
