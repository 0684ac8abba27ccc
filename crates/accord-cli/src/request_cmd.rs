//! `accord request ...`: what an agency system does for its practitioners: check a draft,
//! submit a request, follow it, answer the approver's questions, dispute a decline, withdraw
//! it.

use std::path::PathBuf;
use std::process::ExitCode;

use accord_domain as d;
use accord_proto::v1 as pb;
use anyhow::{anyhow, bail};
use time::OffsetDateTime;

use crate::client::{CallExt as _, Client, ClientOpts};
use crate::output::{self, print_json, Vocab as _};
use crate::reqfile::{self, CategoryFile, DateValue, IdentifierFile, RequestFile, TimeValue};
use crate::view;

#[derive(Debug, clap::Args)]
pub struct RequestArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub cmd: RequestCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum RequestCommand {
    /// Submit a request for information; the broker checks it at once and either refuses it
    /// (with the reasons) or sends it to the holding agency's IG lead.
    Submit(Box<SubmitArgs>),
    /// Check a draft request without submitting it: the same findings, nothing stored.
    ///
    /// The broker runs the same check as `submit` and answers with the same findings, proposed
    /// scope, deadline and approvers, but stores nothing, audits nothing and tells no one.
    /// Exit status 0 whether the draft would go to approval or be refused (see "would be"); 1
    /// when the draft is invalid, the caller may not submit it, or the broker cannot be reached.
    Check {
        /// Request file, TOML or JSON (`-` for standard input), as for `request submit --file`;
        /// see crates/accord-cli/examples/request.toml. No idempotency key is needed.
        file: PathBuf,
    },
    /// List exchanges the caller's agency is party to, newest first.
    List(ListArgs),
    /// Show one exchange in full: request, check, decisions, actions.
    Show {
        /// Exchange id.
        id: String,
    },
    /// Withdraw a request that has not been answered yet.
    Withdraw {
        /// Exchange id.
        id: String,
        /// Why; recorded and shown to the holder.
        #[arg(long)]
        reason: String,
        #[arg(long, default_value_t = 0)]
        expected_version: u64,
    },
    /// Answer the IG lead's questions (the exchange is more_info_requested).
    Answer {
        /// Exchange id.
        id: String,
        /// The answer.
        #[arg(long)]
        answer: String,
        /// Replace the categories sought (the request is checked again): ID=REASON, repeatable.
        #[arg(long = "category", value_name = "ID=REASON")]
        categories: Vec<String>,
        #[arg(long, default_value_t = 0)]
        expected_version: u64,
    },
    /// Dispute a decline: the exchange goes to another approver at the holding agency.
    Escalate {
        /// Exchange id.
        id: String,
        /// Why the decline is disputed.
        #[arg(long)]
        reason: String,
        #[arg(long, default_value_t = 0)]
        expected_version: u64,
    },
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Which side the caller's agency is on: requester, holder or any.
    #[arg(long = "as", default_value = "any")]
    pub party: String,
    /// Only these states (repeatable), e.g. awaiting_approval.
    #[arg(long = "state")]
    pub states: Vec<String>,
    /// Only this purpose.
    #[arg(long)]
    pub purpose: Option<String>,
    /// Most exchanges per page (1-500).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Continue from this page token.
    #[arg(long)]
    pub page_token: Option<String>,
    /// Fetch every page.
    #[arg(long)]
    pub all: bool,
}

/// The request from a file, from flags, or from a file with flags on top (a flag replaces the
/// file's value; `--consent` replaces the file's whole consent section).
#[derive(Debug, Default, clap::Args)]
pub struct SubmitArgs {
    /// Request file, TOML or JSON (`-` for standard input); see
    /// crates/accord-cli/examples/request.toml.
    #[arg(long, short = 'f')]
    pub file: Option<PathBuf>,
    /// Protocol id (default: the broker's only protocol).
    #[arg(long, help_heading = "Request")]
    pub protocol: Option<String>,
    #[arg(long, help_heading = "Request")]
    pub protocol_version: Option<String>,
    /// Holding agency id: the agency asked to share.
    #[arg(long, help_heading = "Request")]
    pub holder: Option<String>,
    /// Purpose id from the protocol.
    #[arg(long, help_heading = "Request")]
    pub purpose: Option<String>,
    /// Level of need: early_help, child_in_need, significant_harm, immediate_risk.
    #[arg(long, help_heading = "Request")]
    pub level: Option<String>,
    /// Urgency: routine, urgent, immediate.
    #[arg(long, help_heading = "Request")]
    pub urgency: Option<String>,
    /// Needed within, e.g. 2h (sets needed_by).
    #[arg(long, help_heading = "Request")]
    pub needed_within: Option<String>,
    /// Category sought and why, ID=REASON; repeatable.
    #[arg(long = "category", value_name = "ID=REASON", help_heading = "Request")]
    pub categories: Vec<String>,
    /// Why the information is necessary.
    #[arg(long, help_heading = "Request")]
    pub justification: Option<String>,
    /// What sharing is expected to achieve.
    #[arg(long, help_heading = "Request")]
    pub expected_outcome: Option<String>,
    /// The risk to the child as the practitioner sees it.
    #[arg(long, help_heading = "Request")]
    pub risk: Option<String>,
    /// Earliest date of records sought, YYYY-MM-DD.
    #[arg(long, help_heading = "Request")]
    pub records_from: Option<String>,
    /// Child's name.
    #[arg(long, help_heading = "Child")]
    pub child_name: Option<String>,
    /// Child's date of birth, YYYY-MM-DD.
    #[arg(long, help_heading = "Child")]
    pub child_dob: Option<String>,
    /// Child's identifier, SCHEME=VALUE (e.g. nhs_number=9434765919); repeatable.
    #[arg(long = "child-id", value_name = "SCHEME=VALUE", help_heading = "Child")]
    pub child_ids: Vec<String>,
    /// Article 6 lawful basis: public_task, legal_obligation, vital_interests, consent...
    #[arg(long, help_heading = "Legal basis and consent")]
    pub basis: Option<String>,
    /// Special category condition: safeguarding_children, explicit_consent, none...
    #[arg(long, help_heading = "Legal basis and consent")]
    pub special_condition: Option<String>,
    /// Statutory gateway, e.g. ca1989_s47; repeatable.
    #[arg(long = "gateway", help_heading = "Legal basis and consent")]
    pub gateways: Vec<String>,
    /// Consent status: obtained, refused, withdrawn, not_sought, not_required.
    #[arg(long, help_heading = "Legal basis and consent")]
    pub consent: Option<String>,
    /// Who gave consent: child, parental_responsibility, representative, adult_subject.
    #[arg(long, help_heading = "Legal basis and consent")]
    pub consent_by: Option<String>,
    /// Name of the person who gave consent.
    #[arg(long, help_heading = "Legal basis and consent")]
    pub consent_name: Option<String>,
    /// Date consent was given, YYYY-MM-DD.
    #[arg(long, help_heading = "Legal basis and consent")]
    pub consent_on: Option<String>,
    /// Consent was explicit.
    #[arg(long, help_heading = "Legal basis and consent")]
    pub explicit: bool,
    /// What the person consented to.
    #[arg(long, help_heading = "Legal basis and consent")]
    pub consent_scope: Option<String>,
    /// Why consent was not sought (with --consent not_sought); repeatable.
    #[arg(long = "not-sought-reason", help_heading = "Legal basis and consent")]
    pub not_sought_reasons: Vec<String>,
    /// Why consent is not required (with --consent not_required): statutory_duty, court_order.
    #[arg(long, help_heading = "Legal basis and consent")]
    pub not_required_reason: Option<String>,
    /// The child or family will be told.
    #[arg(long, help_heading = "Request", conflicts_with = "no_inform")]
    pub inform: bool,
    /// The child or family will not be told, and why.
    #[arg(long, value_name = "REASON", help_heading = "Request")]
    pub no_inform: Option<String>,
    /// Practitioner's name (default: the token's name).
    #[arg(long, help_heading = "Practitioner")]
    pub practitioner_name: Option<String>,
    #[arg(long, help_heading = "Practitioner")]
    pub job_title: Option<String>,
    /// Secure email or telephone number.
    #[arg(long, help_heading = "Practitioner")]
    pub contact: Option<String>,
    /// Makes retries safe: a second submit with the same key returns the first exchange.
    #[arg(long, help_heading = "Request")]
    pub idempotency_key: Option<String>,
}

fn parse_vocab<T: serde::de::DeserializeOwned>(
    flag: &str,
    v: &str,
    choices: &str,
) -> anyhow::Result<T> {
    serde_json::from_value(serde_json::Value::String(v.trim().replace('-', "_")))
        .map_err(|_| anyhow!("--{flag} {v:?}: use one of {choices}"))
}

fn choices<T: Copy>(all: &[T], s: fn(T) -> &'static str) -> String {
    all.iter().map(|v| s(*v)).collect::<Vec<_>>().join(", ")
}

/// `A=B` split at the first `=`.
pub fn pair(flag: &str, v: &str) -> anyhow::Result<(String, String)> {
    match v.split_once('=') {
        Some((a, b)) if !a.trim().is_empty() => Ok((a.trim().to_owned(), b.trim().to_owned())),
        _ => bail!("--{flag} {v:?}: write it as KEY=VALUE"),
    }
}

/// `ID=REASON` or `ID`.
pub fn category(v: &str) -> CategoryFile {
    match v.split_once('=') {
        Some((id, reason)) => CategoryFile {
            category_id: id.trim().to_owned(),
            reason: reason.trim().to_owned(),
        },
        None => CategoryFile {
            category_id: v.trim().to_owned(),
            reason: String::new(),
        },
    }
}

impl SubmitArgs {
    /// The file (if any) with the flags applied over it.
    pub fn request_file(&self) -> anyhow::Result<RequestFile> {
        let mut f: RequestFile = match &self.file {
            Some(p) => reqfile::read_file(p)?,
            None => RequestFile::default(),
        };
        let set = |slot: &mut Option<String>, v: &Option<String>| {
            if let Some(v) = v {
                *slot = Some(v.clone());
            }
        };
        set(&mut f.protocol_id, &self.protocol);
        set(&mut f.protocol_version, &self.protocol_version);
        set(&mut f.holding_agency_id, &self.holder);
        set(&mut f.purpose_id, &self.purpose);
        set(&mut f.necessity_justification, &self.justification);
        set(&mut f.expected_outcome, &self.expected_outcome);
        set(&mut f.risk_summary, &self.risk);
        if let Some(v) = &self.level {
            f.level_of_need = Some(parse_vocab(
                "level",
                v,
                &choices(d::LevelOfNeed::ALL, d::LevelOfNeed::as_str),
            )?);
        }
        if let Some(v) = &self.urgency {
            f.urgency = Some(parse_vocab(
                "urgency",
                v,
                &choices(d::Urgency::ALL, d::Urgency::as_str),
            )?);
        }
        if let Some(v) = &self.needed_within {
            let dur = accord_domain::loader::parse_duration(v)
                .ok_or_else(|| anyhow!("--needed-within {v:?}: write 30m, 2h or 3d"))?;
            let at = OffsetDateTime::now_utc() + dur;
            let text = at
                .format(&time::format_description::well_known::Rfc3339)
                .map_err(|e| anyhow!("{e}"))?;
            f.needed_by = Some(TimeValue::Text(text));
        }
        if !self.categories.is_empty() {
            f.categories = self.categories.iter().map(|c| category(c)).collect();
        }
        if let Some(v) = &self.records_from {
            f.records_from = Some(DateValue::Text(v.clone()));
        }
        if self.child_name.is_some() || self.child_dob.is_some() || !self.child_ids.is_empty() {
            let child = f.child.get_or_insert_with(Default::default);
            if let Some(n) = &self.child_name {
                child.name = n.clone();
            }
            if let Some(dob) = &self.child_dob {
                child.date_of_birth = Some(DateValue::Text(dob.clone()));
            }
            if !self.child_ids.is_empty() {
                child.identifiers = self
                    .child_ids
                    .iter()
                    .map(|id| {
                        pair("child-id", id).map(|(scheme, value)| IdentifierFile { scheme, value })
                    })
                    .collect::<anyhow::Result<_>>()?;
            }
        }
        if self.basis.is_some() || self.special_condition.is_some() || !self.gateways.is_empty() {
            let lb = f.lawful_basis.get_or_insert_with(Default::default);
            if let Some(v) = &self.basis {
                lb.article6 = Some(parse_vocab(
                    "basis",
                    v,
                    &choices(d::LawfulBasis::ALL, d::LawfulBasis::as_str),
                )?);
            }
            if let Some(v) = &self.special_condition {
                lb.special_condition = Some(parse_vocab(
                    "special-condition",
                    v,
                    &choices(d::SpecialCondition::ALL, d::SpecialCondition::as_str),
                )?);
            }
            if !self.gateways.is_empty() {
                lb.gateways.clear();
            }
            for g in &self.gateways {
                lb.gateways.push(parse_vocab(
                    "gateway",
                    g,
                    &choices(d::StatutoryGateway::ALL, d::StatutoryGateway::as_str),
                )?);
            }
        }
        let consent_flags = self.consent.is_some()
            || self.consent_by.is_some()
            || self.consent_name.is_some()
            || self.consent_on.is_some()
            || self.explicit
            || self.consent_scope.is_some()
            || !self.not_sought_reasons.is_empty()
            || self.not_required_reason.is_some();
        if consent_flags {
            let c = f.consent.get_or_insert_with(Default::default);
            if self.consent.is_some() {
                // A new status makes the file's consent details meaningless.
                *c = Default::default();
            }
            if let Some(v) = &self.consent {
                c.status = Some(parse_vocab(
                    "consent",
                    v,
                    &choices(d::ConsentStatus::ALL, d::ConsentStatus::as_str),
                )?);
            }
            if let Some(v) = &self.consent_by {
                c.given_by = Some(parse_vocab(
                    "consent-by",
                    v,
                    &choices(d::ConsentGiver::ALL, d::ConsentGiver::as_str),
                )?);
            }
            if let Some(v) = &self.consent_name {
                c.given_by_name = v.clone();
            }
            if let Some(v) = &self.consent_on {
                c.given_on = Some(DateValue::Text(v.clone()));
            }
            if self.explicit {
                c.explicit = true;
            }
            if let Some(v) = &self.consent_scope {
                c.scope = v.clone();
            }
            if !self.not_sought_reasons.is_empty() {
                c.not_sought_reasons.clear();
            }
            for r in &self.not_sought_reasons {
                c.not_sought_reasons.push(parse_vocab(
                    "not-sought-reason",
                    r,
                    &choices(d::NotSoughtReason::ALL, d::NotSoughtReason::as_str),
                )?);
            }
            if let Some(v) = &self.not_required_reason {
                c.not_required_reason = Some(parse_vocab(
                    "not-required-reason",
                    v,
                    &choices(d::NotRequiredReason::ALL, d::NotRequiredReason::as_str),
                )?);
            }
        }
        if self.inform {
            f.subject_notification = Some(reqfile::NotificationFile {
                will_inform: Some(true),
                reason_not_informing: String::new(),
            });
        } else if let Some(reason) = &self.no_inform {
            f.subject_notification = Some(reqfile::NotificationFile {
                will_inform: Some(false),
                reason_not_informing: reason.clone(),
            });
        }
        if self.practitioner_name.is_some() || self.job_title.is_some() || self.contact.is_some() {
            let p = f.practitioner.get_or_insert_with(Default::default);
            set(&mut p.name, &self.practitioner_name);
            set(&mut p.job_title, &self.job_title);
            set(&mut p.contact, &self.contact);
        }
        set(&mut f.idempotency_key, &self.idempotency_key);
        Ok(f)
    }
}

/// The broker's only protocol, when it holds exactly one.
pub async fn only_protocol(client: &Client) -> anyhow::Result<Option<(String, String)>> {
    let list = client
        .registry
        .clone()
        .list_protocols(pb::ListProtocolsRequest {})
        .await
        .rpc("ListProtocols")?;
    Ok(match list.protocols.as_slice() {
        [p] => Some((p.id.clone(), p.version.clone())),
        _ => None,
    })
}

/// The request a request file describes, with the caller's defaults.
async fn information_request(
    client: &Client,
    file: &RequestFile,
) -> anyhow::Result<pb::InformationRequest> {
    let protocol = if file.protocol_id.is_none() || file.protocol_version.is_none() {
        only_protocol(client).await?
    } else {
        None
    };
    let defaults = reqfile::Defaults {
        agency: client.identity.agency.clone(),
        subject: client.identity.sub.clone(),
        name: client.identity.name.clone(),
        protocol,
    };
    file.to_proto(&defaults)
}

/// Checks a draft built from a request file, with the caller's defaults: nothing is stored.
pub async fn check(
    client: &Client,
    file: &RequestFile,
) -> anyhow::Result<pb::CheckRequestResponse> {
    let mut request = information_request(client, file).await?;
    if file.idempotency_key.is_none() {
        // A check stores nothing, so the key made up for a submission is left out.
        request.idempotency_key.clear();
    }
    Ok(client
        .exchange
        .clone()
        .check_request(pb::CheckRequestRequest {
            request: Some(request),
        })
        .await
        .rpc("CheckRequest")?)
}

/// The check of a draft, for people: what a submission would become, then the findings.
pub fn print_checked(r: &pb::CheckRequestResponse, now: OffsetDateTime) {
    let fields = vec![(
        "would be",
        format!(
            "{} (checked only: nothing was submitted)",
            output::name::<pb::ExchangeState>(r.state)
        ),
    )];
    match &r.assessment {
        Some(a) => view::print_assessment_after(fields, a, now),
        None => output::print_fields(&fields),
    }
}

/// Submits a request built from a request file, with the caller's defaults.
pub async fn submit(
    client: &Client,
    file: &RequestFile,
) -> anyhow::Result<pb::SubmitRequestResponse> {
    let request = information_request(client, file).await?;
    Ok(client
        .exchange
        .clone()
        .submit_request(pb::SubmitRequestRequest {
            request: Some(request),
        })
        .await
        .rpc("SubmitRequest")?)
}

pub fn print_submitted(r: &pb::SubmitRequestResponse, now: OffsetDateTime) {
    let fields = vec![
        ("exchange", r.exchange_id.clone()),
        (
            "state",
            format!(
                "{} (version {}){}",
                output::name::<pb::ExchangeState>(r.state),
                r.version,
                if r.replayed {
                    ", replayed: submitted before with this idempotency key"
                } else {
                    ""
                }
            ),
        ),
    ];
    match &r.assessment {
        Some(a) => view::print_assessment_after(fields, a, now),
        None => output::print_fields(&fields),
    }
}

pub async fn get(client: &Client, id: &str) -> anyhow::Result<pb::Exchange> {
    client
        .exchange
        .clone()
        .get_exchange(pb::GetExchangeRequest {
            exchange_id: id.to_owned(),
        })
        .await
        .rpc("GetExchange")?
        .exchange
        .ok_or_else(|| anyhow!("the broker returned no exchange"))
}

pub async fn run(args: RequestArgs) -> anyhow::Result<ExitCode> {
    let json = args.opts.json;
    let client = args.opts.conn.connect("practitioner").await?;
    let now = OffsetDateTime::now_utc();
    match args.cmd {
        RequestCommand::Submit(s) => {
            let file = s.request_file()?;
            let r = submit(&client, &file).await?;
            if json {
                print_json(&r, "accord.v1.SubmitRequestResponse")?;
            } else {
                print_submitted(&r, now);
            }
        }
        RequestCommand::Check { file } => {
            let file: RequestFile = reqfile::read_file(&file)?;
            let r = check(&client, &file).await?;
            // A refusal is an answer, not a failure: the exit status stays 0.
            if json {
                print_json(&r, "accord.v1.CheckRequestResponse")?;
            } else {
                print_checked(&r, now);
            }
        }
        RequestCommand::List(l) => {
            let party: pb::PartyRole = output::parse("--as", &l.party)?;
            let states = l
                .states
                .iter()
                .map(|s| output::parse::<pb::ExchangeState>("--state", s).map(|s| s as i32))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut token = l.page_token.clone().unwrap_or_default();
            let mut all = pb::ListExchangesResponse::default();
            loop {
                let page = client
                    .exchange
                    .clone()
                    .list_exchanges(pb::ListExchangesRequest {
                        party_role: party as i32,
                        states: states.clone(),
                        purpose_id: l.purpose.clone().unwrap_or_default(),
                        page: Some(pb::PageRequest {
                            page_size: l.limit,
                            page_token: token.clone(),
                        }),
                        ..Default::default()
                    })
                    .await
                    .rpc("ListExchanges")?;
                all.exchanges.extend(page.exchanges);
                let next = page.page.map(|p| p.next_page_token).unwrap_or_default();
                all.page = Some(pb::PageInfo {
                    next_page_token: next.clone(),
                });
                if !l.all || next.is_empty() {
                    break;
                }
                token = next;
            }
            if json {
                print_json(&all, "accord.v1.ListExchangesResponse")?;
            } else {
                if all.exchanges.is_empty() {
                    outln!("no exchanges");
                } else {
                    view::summaries_table(&all.exchanges, now).print();
                }
                if let Some(next) = all
                    .page
                    .as_ref()
                    .map(|p| &p.next_page_token)
                    .filter(|t| !t.is_empty())
                {
                    outln!("more: --page-token {next} (or --all)");
                }
            }
        }
        RequestCommand::Show { id } => {
            let x = get(&client, &id).await?;
            if json {
                print_json(&x, "accord.v1.Exchange")?;
            } else {
                view::print_exchange(&x, now);
            }
        }
        RequestCommand::Withdraw {
            id,
            reason,
            expected_version,
        } => {
            let r = client
                .exchange
                .clone()
                .withdraw_request(pb::WithdrawRequestRequest {
                    exchange_id: id,
                    reason,
                    expected_version,
                })
                .await
                .rpc("WithdrawRequest")?;
            print_changed(json, r.exchange.as_ref(), "withdrawn")?;
        }
        RequestCommand::Answer {
            id,
            answer,
            categories,
            expected_version,
        } => {
            let r = client
                .exchange
                .clone()
                .answer_information_request(pb::AnswerInformationRequestRequest {
                    exchange_id: id,
                    answer,
                    amended_categories: categories
                        .iter()
                        .map(|c| {
                            let c = category(c);
                            pb::CategoryRequest {
                                category_id: c.category_id,
                                reason: c.reason,
                            }
                        })
                        .collect(),
                    expected_version,
                })
                .await
                .rpc("AnswerInformationRequest")?;
            print_changed(json, r.exchange.as_ref(), "answered")?;
        }
        RequestCommand::Escalate {
            id,
            reason,
            expected_version,
        } => {
            let r = client
                .exchange
                .clone()
                .escalate_decline(pb::EscalateDeclineRequest {
                    exchange_id: id,
                    reason,
                    expected_version,
                })
                .await
                .rpc("EscalateDecline")?;
            print_changed(json, r.exchange.as_ref(), "escalated")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// After a change: the exchange as JSON, or one line for people.
pub fn print_changed(json: bool, x: Option<&pb::Exchange>, what: &str) -> anyhow::Result<()> {
    let x = x.cloned().unwrap_or_default();
    if json {
        print_json(&x, "accord.v1.Exchange")
    } else {
        outln!(
            "{what}: exchange {} is now {} (version {})",
            x.id,
            pb::ExchangeState::try_from(x.state)
                .map(|s| s.short())
                .unwrap_or_default(),
            x.version
        );
        Ok(())
    }
}
