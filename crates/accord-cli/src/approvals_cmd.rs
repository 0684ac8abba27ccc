//! `accord approvals ...`: what the holding agency's IG lead (or Caldicott Guardian) does:
//! see what awaits a decision, and decide.

use std::process::ExitCode;

use accord_proto::v1 as pb;
use accord_proto::v1::decide_request::Decision;
use anyhow::{anyhow, bail};
use time::OffsetDateTime;

use crate::client::{CallExt as _, Client, ClientOpts};
use crate::output::{self, print_json, Table};
use crate::{request_cmd, view};

#[derive(Debug, clap::Args)]
pub struct ApprovalsArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub cmd: ApprovalsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ApprovalsCommand {
    /// Exchanges awaiting a decision by the caller's agency, oldest deadline first.
    List {
        /// Include exchanges escalated to the caller's role.
        #[arg(long)]
        include_escalated: bool,
        /// Most exchanges per page (1-500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Continue from this page token.
        #[arg(long)]
        page_token: Option<String>,
    },
    /// Decide on an exchange: approve, approve part, decline, ask for more, or escalate.
    Decide(DecideArgs),
}

#[derive(Debug, clap::Args)]
#[command(group(
    clap::ArgGroup::new("decision")
        .required(true)
        .args(["approve", "approve_part", "decline", "ask", "escalate"])
))]
pub struct DecideArgs {
    /// Exchange id.
    pub id: String,
    /// Approve the whole proposed scope.
    #[arg(long)]
    pub approve: bool,
    /// Approve these categories only (comma-separated or repeated).
    #[arg(long, value_name = "CATEGORIES", value_delimiter = ',')]
    pub approve_part: Vec<String>,
    /// Decline, with a reason the requester will read; repeat for several.
    #[arg(long, value_name = "REASON")]
    pub decline: Vec<String>,
    /// Ask the requester a question; repeat for several.
    #[arg(long, value_name = "QUESTION")]
    pub ask: Vec<String>,
    /// Escalate to a further role, with the reason.
    #[arg(long, value_name = "REASON")]
    pub escalate: Option<String>,
    /// With --escalate: the role that decides next (ig_lead or caldicott_guardian).
    #[arg(long, default_value = "caldicott_guardian")]
    pub to_role: String,
    /// A condition of the approval: no_onward_disclosure, inform_subject,
    /// retention_days=N, or any other condition in words; repeatable.
    #[arg(long = "condition", value_name = "CONDITION")]
    pub conditions: Vec<String>,
    /// A note recorded with the decision, e.g. advice received.
    #[arg(long)]
    pub note: Option<String>,
    /// The version read; default: read the exchange now.
    #[arg(long)]
    pub expected_version: Option<u64>,
}

/// Builds approval conditions from `--condition` values.
pub fn conditions(list: &[String]) -> anyhow::Result<Option<pb::Conditions>> {
    if list.is_empty() {
        return Ok(None);
    }
    let mut c = pb::Conditions::default();
    let mut other = Vec::new();
    for raw in list {
        let v = raw.trim();
        let key = v.replace('-', "_").to_ascii_lowercase();
        if key == "no_onward_disclosure" {
            c.no_onward_disclosure = true;
        } else if key == "inform_subject" {
            c.inform_subject = true;
        } else if let Some(n) = key.strip_prefix("retention_days=") {
            c.retention_days = n
                .trim()
                .parse()
                .ok()
                .filter(|d| (1..=3650).contains(d))
                .ok_or_else(|| anyhow!("--condition {v:?}: retention_days must be 1 to 3650"))?;
        } else if !v.is_empty() {
            other.push(v.to_owned());
        }
    }
    c.other = other.join("; ");
    Ok(Some(c))
}

impl DecideArgs {
    pub fn decision(&self) -> anyhow::Result<Decision> {
        let conditions = conditions(&self.conditions)?;
        if conditions.is_some() && !self.approve && self.approve_part.is_empty() {
            bail!("--condition applies only to --approve or --approve-part");
        }
        Ok(if self.approve {
            Decision::Approve(pb::Approve { conditions })
        } else if !self.approve_part.is_empty() {
            Decision::ApprovePart(pb::ApprovePart {
                categories: self
                    .approve_part
                    .iter()
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty())
                    .collect(),
                conditions,
            })
        } else if !self.decline.is_empty() {
            Decision::Decline(pb::Decline {
                reasons: self.decline.clone(),
            })
        } else if !self.ask.is_empty() {
            Decision::Ask(pb::AskForMoreInformation {
                questions: self.ask.clone(),
            })
        } else if let Some(reason) = &self.escalate {
            let role: pb::Role = output::parse("--to-role", &self.to_role)?;
            Decision::Escalate(pb::Escalate {
                reason: reason.clone(),
                to_role: role as i32,
            })
        } else {
            bail!("choose a decision: --approve, --approve-part, --decline, --ask or --escalate");
        })
    }
}

/// Records a decision; reads the exchange first when no version is given.
pub async fn decide(
    client: &Client,
    id: &str,
    decision: Decision,
    note: &str,
    expected_version: Option<u64>,
) -> anyhow::Result<pb::Exchange> {
    let version = match expected_version {
        Some(v) => v,
        None => request_cmd::get(client, id).await?.version,
    };
    client
        .approvals
        .clone()
        .decide(pb::DecideRequest {
            exchange_id: id.to_owned(),
            expected_version: version,
            decision: Some(decision),
            note: note.to_owned(),
        })
        .await
        .rpc("Decide")?
        .exchange
        .ok_or_else(|| anyhow!("the broker returned no exchange"))
}

pub async fn pending(
    client: &Client,
    include_escalated: bool,
    limit: u32,
    token: &str,
) -> anyhow::Result<pb::ListPendingResponse> {
    Ok(client
        .approvals
        .clone()
        .list_pending(pb::ListPendingRequest {
            page: Some(pb::PageRequest {
                page_size: limit,
                page_token: token.to_owned(),
            }),
            include_escalated,
        })
        .await
        .rpc("ListPending")?)
}

pub fn pending_table(list: &[pb::Exchange], now: OffsetDateTime) -> Table {
    let mut t = Table::new(&[
        "EXCHANGE",
        "STATE",
        "FROM",
        "PURPOSE",
        "NEED",
        "PROPOSED SCOPE",
        "FINDINGS",
        "RESPOND BY",
    ])
    .wrap(5, 40);
    for x in list {
        let r = x.request.clone().unwrap_or_default();
        let a = x.assessment.clone().unwrap_or_default();
        let flagged = a
            .findings
            .iter()
            .filter(|f| f.severity >= pb::Severity::Warning as i32)
            .count();
        t.row([
            x.id.clone(),
            output::name::<pb::ExchangeState>(x.state),
            r.requesting_agency_id.clone(),
            r.purpose_id.clone(),
            output::name::<pb::LevelOfNeed>(r.level_of_need),
            a.proposed_scope.join(", "),
            format!("{} ({flagged} to weigh)", a.findings.len()),
            output::relative(x.respond_by.as_ref(), now),
        ]);
    }
    t
}

pub async fn run(args: ApprovalsArgs) -> anyhow::Result<ExitCode> {
    let json = args.opts.json;
    let client = args.opts.conn.connect("ig_lead").await?;
    let now = OffsetDateTime::now_utc();
    match args.cmd {
        ApprovalsCommand::List {
            include_escalated,
            limit,
            page_token,
        } => {
            let r = pending(
                &client,
                include_escalated,
                limit,
                &page_token.unwrap_or_default(),
            )
            .await?;
            if json {
                print_json(&r, "accord.v1.ListPendingResponse")?;
            } else if r.exchanges.is_empty() {
                outln!("nothing awaits a decision");
            } else {
                pending_table(&r.exchanges, now).print();
                outln!("\n`accord request show ID` shows a request in full; `accord approvals decide ID --approve` decides.");
            }
        }
        ApprovalsCommand::Decide(d) => {
            let decision = d.decision()?;
            let x = decide(
                &client,
                &d.id,
                decision,
                d.note.as_deref().unwrap_or(""),
                d.expected_version,
            )
            .await?;
            if json {
                print_json(&x, "accord.v1.Exchange")?;
            } else {
                request_cmd::print_changed(false, Some(&x), "decided")?;
                if let Some(last) = x.decisions.last() {
                    view::decisions_table(std::slice::from_ref(last)).print();
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_from_words() {
        let c = conditions(&[
            "no-onward-disclosure".into(),
            "retention_days=30".into(),
            "Share only with the strategy meeting".into(),
        ])
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_default();
        assert!(c.no_onward_disclosure);
        assert!(!c.inform_subject);
        assert_eq!(c.retention_days, 30);
        assert_eq!(c.other, "Share only with the strategy meeting");
        assert!(conditions(&["retention_days=0".into()]).is_err());
    }
}
