//! `accord audit ...`: what auditors do: query the log, verify it has not been altered,
//! export it, read statistics. Auditors never see shared content.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use accord_proto::v1 as pb;
use anyhow::{anyhow, Context as _};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio_stream::StreamExt as _;

use crate::client::{CallError, CallExt as _, Client, ClientOpts};
use crate::output::{self, print_json};
use crate::request_cmd::pair;
use crate::view;

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub cmd: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Query log entries with filters, in sequence order.
    Query(QueryArgs),
    /// Recompute the hash chain and check the latest signed checkpoint; exits 1 if the log
    /// does not verify.
    Verify {
        /// First sequence to check (default: the start).
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Last sequence to check (default: the head).
        #[arg(long, default_value_t = 0)]
        to: u64,
    },
    /// Export entries as JSON lines, for archiving or checking outside the broker.
    Export {
        /// File to write (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, default_value_t = 0)]
        from: u64,
        #[arg(long, default_value_t = 0)]
        to: u64,
    },
    /// Counts and timings of exchanges created in a period.
    Stats {
        /// From this time (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        from: Option<String>,
        /// Before this time (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        to: Option<String>,
    },
}

#[derive(Debug, Default, clap::Args)]
pub struct QueryArgs {
    /// Only entries about this exchange.
    #[arg(long)]
    pub exchange: Option<String>,
    /// Only entries where this agency acted, requested or held.
    #[arg(long, value_name = "AGENCY")]
    pub involving: Option<String>,
    /// Only entries about a child with this identifier, SCHEME=VALUE (matched by keyed hash;
    /// the identifier is not stored).
    #[arg(long, value_name = "SCHEME=VALUE")]
    pub child_id: Option<String>,
    /// Only entries with this purpose.
    #[arg(long)]
    pub purpose: Option<String>,
    /// Only these event kinds, e.g. exchange.decided; repeatable.
    #[arg(long = "event")]
    pub events: Vec<String>,
    /// Only state changes into these states, e.g. declined; repeatable.
    #[arg(long = "outcome")]
    pub outcomes: Vec<String>,
    /// From this time (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    pub from: Option<String>,
    /// Before this time (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    pub to: Option<String>,
    /// Most entries per page (1-500).
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Continue from this page token.
    #[arg(long)]
    pub page_token: Option<String>,
    /// Fetch every page.
    #[arg(long)]
    pub all: bool,
}

/// RFC 3339, or a date meaning its midnight UTC.
pub fn parse_time(flag: &str, s: &str) -> anyhow::Result<prost_types::Timestamp> {
    let t = OffsetDateTime::parse(s.trim(), &Rfc3339)
        .ok()
        .or_else(|| accord_domain::loader::parse_date(s.trim()).map(|d| d.midnight().assume_utc()))
        .ok_or_else(|| anyhow!("--{flag} {s:?}: write 2026-11-21 or 2026-11-21T09:00:00Z"))?;
    Ok(accord_proto::wire::timestamp(t))
}

impl QueryArgs {
    pub fn request(&self, page_token: String) -> anyhow::Result<pb::QueryAuditRequest> {
        let child_identifier = match &self.child_id {
            Some(v) => {
                let (scheme, value) = pair("child-id", v)?;
                Some(pb::SubjectIdentifier { scheme, value })
            }
            None => None,
        };
        Ok(pb::QueryAuditRequest {
            exchange_id: self.exchange.clone().unwrap_or_default(),
            agency_id: self.involving.clone().unwrap_or_default(),
            child_identifier,
            purpose_id: self.purpose.clone().unwrap_or_default(),
            event_kinds: self.events.clone(),
            outcomes: self
                .outcomes
                .iter()
                .map(|s| output::parse::<pb::ExchangeState>("--outcome", s).map(|s| s as i32))
                .collect::<anyhow::Result<_>>()?,
            from_time: self
                .from
                .as_deref()
                .map(|s| parse_time("from", s))
                .transpose()?,
            to_time: self
                .to
                .as_deref()
                .map(|s| parse_time("to", s))
                .transpose()?,
            page: Some(pb::PageRequest {
                page_size: self.limit,
                page_token,
            }),
        })
    }
}

/// Every entry matching the query (all pages when `all`).
pub async fn query(
    client: &Client,
    q: &QueryArgs,
    all: bool,
) -> anyhow::Result<pb::QueryAuditResponse> {
    let mut token = q.page_token.clone().unwrap_or_default();
    let mut out = pb::QueryAuditResponse::default();
    loop {
        let page = client
            .audit
            .clone()
            .query_audit(q.request(token.clone())?)
            .await
            .rpc("QueryAudit")?;
        out.entries.extend(page.entries);
        let next = page.page.map(|p| p.next_page_token).unwrap_or_default();
        out.page = Some(pb::PageInfo {
            next_page_token: next.clone(),
        });
        if !all || next.is_empty() {
            return Ok(out);
        }
        token = next;
    }
}

pub async fn verify(
    client: &Client,
    from: u64,
    to: u64,
) -> anyhow::Result<pb::VerifyAuditResponse> {
    Ok(client
        .audit
        .clone()
        .verify_audit(pb::VerifyAuditRequest {
            from_sequence: from,
            to_sequence: to,
        })
        .await
        .rpc("VerifyAudit")?)
}

pub async fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let json = args.opts.json;
    let client = args.opts.conn.connect("auditor").await?;
    match args.cmd {
        AuditCommand::Query(q) => {
            let r = query(&client, &q, q.all).await?;
            if json {
                print_json(&r, "accord.v1.QueryAuditResponse")?;
            } else {
                if r.entries.is_empty() {
                    outln!("no entries");
                } else {
                    view::audit_table(&r.entries).print();
                }
                if let Some(next) = r
                    .page
                    .as_ref()
                    .map(|p| &p.next_page_token)
                    .filter(|t| !t.is_empty())
                {
                    outln!("more: --page-token {next} (or --all)");
                }
            }
        }
        AuditCommand::Verify { from, to } => {
            let v = verify(&client, from, to).await?;
            if json {
                print_json(&v, "accord.v1.VerifyAuditResponse")?;
            } else {
                view::print_verify(&v);
            }
            if !v.ok {
                return Ok(ExitCode::FAILURE);
            }
        }
        AuditCommand::Export { out, from, to } => {
            let mut stream = client
                .audit
                .clone()
                .export_audit(pb::ExportAuditRequest {
                    from_sequence: from,
                    to_sequence: to,
                })
                .await
                .rpc("ExportAudit")?;
            let mut sink: Box<dyn std::io::Write> = match &out {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("cannot create {}", p.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout())),
            };
            let mut n = 0u64;
            let mut last = None;
            while let Some(m) = stream.next().await {
                let m = m.map_err(|status| CallError {
                    rpc: "ExportAudit",
                    status,
                })?;
                let Some(e) = m.entry else { continue };
                let v = output::to_json(&e, "accord.v1.AuditEntry")?;
                match writeln!(sink, "{}", serde_json::to_string(&v)?) {
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                        return Ok(ExitCode::SUCCESS)
                    }
                    other => other?,
                }
                n += 1;
                last = Some((e.sequence, e.entry_hash));
            }
            match sink.flush() {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    return Ok(ExitCode::SUCCESS)
                }
                other => other?,
            }
            if let Some(p) = &out {
                match last {
                    Some((seq, hash)) => eprintln!(
                        "exported {n} entries to {} (head {seq} {hash})",
                        p.display()
                    ),
                    None => eprintln!("the log is empty; wrote nothing to {}", p.display()),
                }
            }
        }
        AuditCommand::Stats { from, to } => {
            let r = client
                .audit
                .clone()
                .get_statistics(pb::GetStatisticsRequest {
                    from_time: from.as_deref().map(|s| parse_time("from", s)).transpose()?,
                    to_time: to.as_deref().map(|s| parse_time("to", s)).transpose()?,
                })
                .await
                .rpc("GetStatistics")?;
            if json {
                print_json(&r, "accord.v1.GetStatisticsResponse")?;
            } else {
                view::print_stats(&r);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
