//! `accord demo`: on a machine with nothing set up, creates a development setup, starts the
//! broker in-process on SQLite on 127.0.0.1:0, and plays four exchanges between the Sandwell
//! partnership's agencies through the same client code the other commands use:
//!
//! a. an early help request refused by the check (no explicit consent);
//! b. a s47 request approved in part with conditions, answered with fact and opinion items,
//!    fetched and acknowledged;
//! c. a request declined, escalated by the requester, and decided by a different approver;
//! d. an immediate-risk request: a deadline in minutes and the advice to tell the police.
//!
//! Then the audit trail as the auditor sees it, and its verification. Every step checks the
//! state and outcome it expects; the first that does not behave ends the demo with an error
//! and exit status 1.

use std::collections::HashMap;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use accord_proto::v1 as pb;
use accord_proto::v1::decide_request::Decision;
use accord_server::ServerConfig;
use anyhow::{anyhow, bail, Context as _};
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::Channel;

use crate::client::{self, CallError, CallExt as _, Client};
use crate::dev_cmd::{self, DevDir};
use crate::output::{self, name, print_fields, Table};
use crate::reqfile::{RequestFile, ResponseFile};
use crate::{approvals_cmd, audit_cmd, examples, inbox_cmd, request_cmd, response_cmd, view};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Create the development setup in DIR (which must not hold one already) and keep it,
    /// instead of a temporary directory.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the temporary directory (setup and database) and print where it is.
    #[arg(long)]
    pub keep: bool,
}

/// The people in the demo: (agency, user id, name, role).
struct Person {
    agency: &'static str,
    sub: &'static str,
    name: &'static str,
    role: &'static str,
}

const SCHOOL_DSL: Person = Person {
    agency: "sandwell-schools",
    sub: "dsl-okoro",
    name: "Grace Okoro, designated safeguarding lead",
    role: "practitioner",
};
const SOCIAL_WORKER: Person = Person {
    agency: "sandwell-childrens-trust",
    sub: "sw-4471",
    name: "Sam Okafor",
    role: "practitioner",
};
const POLICE_IG: Person = Person {
    agency: "west-midlands-police",
    sub: "ig-patel",
    name: "Ravi Patel, information governance lead",
    role: "ig_lead",
};
const POLICE_OFFICER: Person = Person {
    agency: "west-midlands-police",
    sub: "pc-2231",
    name: "PC Lisa Grant, public protection unit",
    role: "practitioner",
};
const NHS_IG: Person = Person {
    agency: "sandwell-west-birmingham-nhs",
    sub: "ig-jones",
    name: "Mark Jones, information governance lead",
    role: "ig_lead",
};
const NHS_HEAD_OF_IG: Person = Person {
    agency: "sandwell-west-birmingham-nhs",
    sub: "ig-shah",
    name: "Dr Priya Shah, head of information governance",
    role: "ig_lead",
};
const NHS_NURSE: Person = Person {
    agency: "sandwell-west-birmingham-nhs",
    sub: "sn-5520",
    name: "Ann Clarke, named nurse for safeguarding",
    role: "practitioner",
};
const COUNCIL_EDT: Person = Person {
    agency: "sandwell-council",
    sub: "edt-3310",
    name: "Tom Hughes, emergency duty team",
    role: "practitioner",
};
const AUDITOR: Person = Person {
    agency: "sandwell-council",
    sub: "scsp-audit",
    name: "SCSP business unit auditor",
    role: "auditor",
};

struct Demo {
    dev: DevDir,
    server: String,
    channels: HashMap<&'static str, Channel>,
    checks: usize,
}

impl Demo {
    /// A client acting as `p`, over one mutual TLS channel per agency.
    async fn person(&mut self, p: &Person) -> anyhow::Result<Client> {
        let channel = match self.channels.get(p.agency) {
            Some(c) => c.clone(),
            None => {
                let (cert, key) = self.dev.client_files(p.agency)?;
                let c = client::channel(&self.server, &self.dev.ca_cert(), &cert, &key).await?;
                self.channels.insert(p.agency, c.clone());
                c
            }
        };
        let token = self.dev.mint(
            p.agency,
            &[p.role.to_owned()],
            p.sub,
            Some(p.name),
            time::Duration::hours(1),
        )?;
        Client::from_channel(channel, &token)
    }

    fn check(&mut self, ok: bool, what: impl Display) -> anyhow::Result<()> {
        if !ok {
            bail!("the demo expected: {what}");
        }
        self.checks += 1;
        outln!("  ok: {what}");
        Ok(())
    }
}

fn act(p: &Person, what: &str) {
    outln!("\n-> {} ({}, {}) {what}", p.name, p.role, p.agency);
}

fn scenario(letter: char, title: &str, story: &str) {
    outln!("\n\n=== ({letter}) {title}");
    for line in output::wrap_text(story, 96) {
        outln!("{line}");
    }
}

fn state(x: &pb::Exchange) -> pb::ExchangeState {
    pb::ExchangeState::try_from(x.state).unwrap_or(pb::ExchangeState::Unspecified)
}

fn is(v: i32, s: pb::ExchangeState) -> bool {
    v == s as i32
}

fn categories(list: &[(&str, &str)]) -> Vec<pb::CategoryRequest> {
    list.iter()
        .map(|(id, reason)| pb::CategoryRequest {
            category_id: (*id).to_owned(),
            reason: (*reason).to_owned(),
        })
        .collect()
}

fn practitioner(p: &Person, job: &str, contact: &str) -> Option<pb::Practitioner> {
    Some(pb::Practitioner {
        subject: p.sub.to_owned(),
        name: p.name.split(',').next().unwrap_or(p.name).to_owned(),
        job_title: job.to_owned(),
        contact: contact.to_owned(),
    })
}

fn child(name: &str, dob: &str, nhs: &str) -> Option<pb::Subject> {
    Some(pb::Subject {
        identifiers: vec![pb::SubjectIdentifier {
            scheme: "nhs_number".into(),
            value: nhs.into(),
        }],
        name: name.into(),
        date_of_birth: dob.into(),
        identifiable: true,
        relationship: String::new(),
    })
}

async fn submit(
    c: &Client,
    request: pb::InformationRequest,
) -> anyhow::Result<pb::SubmitRequestResponse> {
    Ok(c.exchange
        .clone()
        .submit_request(pb::SubmitRequestRequest {
            request: Some(request),
        })
        .await
        .rpc("SubmitRequest")?)
}

/// The inbox events about one exchange; events are written with the change, but allow the
/// fan-out a moment.
async fn inbox_for(
    c: &Client,
    exchange: &str,
    kind: pb::InboxEventKind,
) -> anyhow::Result<Vec<pb::InboxEvent>> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let events: Vec<pb::InboxEvent> = inbox_cmd::events(c, "")
            .await?
            .into_iter()
            .filter(|e| e.exchange_id == exchange)
            .collect();
        if events.iter().any(|e| e.kind == kind as i32) || Instant::now() > deadline {
            return Ok(events);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn expect_refusal(r: anyhow::Result<impl Sized>) -> Option<CallError> {
    match r {
        Ok(_) => None,
        Err(e) => e.downcast::<CallError>().ok(),
    }
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    crate::serve_cmd::init_tracing(crate::serve_cmd::LogFormat::Pretty, "warn");
    let (dir, temp) = match &args.dir {
        Some(d) => {
            if d.join("accord.toml").exists() {
                bail!(
                    "{} already holds a development setup; give --dir an empty or new directory",
                    d.display()
                );
            }
            (d.clone(), None)
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("accord-demo-")
                .tempdir()
                .context("cannot create a temporary directory")?;
            (t.path().to_owned(), Some(t))
        }
    };
    let keep = args.keep || args.dir.is_some();
    let result = play(&dir).await;
    match temp {
        Some(t) if keep => {
            let kept = t.keep();
            print_kept(&kept);
        }
        Some(t) => drop(t),
        None => print_kept(&dir),
    }
    result.map(|()| ExitCode::SUCCESS)
}

fn print_kept(dir: &Path) {
    outln!(
        "\nThe setup and its database are kept in {d}. To look around:\n  accord serve --config {d}/accord.toml\n  accord audit query --dev {d} --agency sandwell-council\n  accord request list --dev {d} --agency west-midlands-police",
        d = dir.display()
    );
}

async fn play(dir: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    outln!("Accord demo: four information requests between the agencies of the Sandwell");
    outln!("Children's Safeguarding Partnership, through a broker running on this machine.\n");

    let setup = dev_cmd::init(dir, examples::DEFAULT_PROTOCOL, false)?;
    // A signed checkpoint every 10 entries, so the verification below has one to check.
    let env = [("ACCORD_STORE_CHECKPOINT_EVERY".to_owned(), "10".to_owned())];
    let config = ServerConfig::load_with_env(&setup.config, env)
        .map_err(|e| anyhow!("the demo configuration does not load:\n{e}"))?;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot listen on 127.0.0.1")?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(accord_server::run_with_config(config, listener, async {
        let _ = stopped.await;
    }));
    print_fields(&[
        (
            "setup",
            format!(
                "{} (CA, broker certificate, certificates and token keys for {} agencies, store keys)",
                dir.display(),
                setup.pki.agencies.len()
            ),
        ),
        ("protocol", format!("{} ({})", setup.protocol_id, setup.protocol_file.display())),
        ("broker", format!("listening on {addr}, mutual TLS 1.3, SQLite {}", dir.join("accord.db").display())),
    ]);

    let mut demo = Demo {
        dev: DevDir::open(dir)?,
        server: format!("https://127.0.0.1:{}", addr.port()),
        channels: HashMap::new(),
        checks: 0,
    };
    let outcome = exchanges(&mut demo).await;
    let _ = stop.send(());
    let stopped = tokio::time::timeout(Duration::from_secs(15), server).await;
    // A broker that failed explains a failed step better than the step does.
    let summary = match (outcome, stopped) {
        (_, Ok(Ok(Err(e)))) => return Err(e.context("the broker stopped with an error")),
        (Err(e), _) => return Err(e),
        (Ok(_), Ok(Err(e))) => bail!("the broker task failed: {e}"),
        (Ok(_), Err(_)) => bail!("the broker did not stop within 15s"),
        (Ok(summary), Ok(Ok(Ok(())))) => summary,
    };

    outln!("\n\n=== Summary");
    let mut t = Table::new(&["SCENARIO", "EXCHANGE", "FINAL STATE"]);
    for (what, id, state) in &summary {
        t.row([what.clone(), id.clone(), state.clone()]);
    }
    t.print();
    outln!(
        "\nDemo complete: {} checks passed in {:.1}s; the broker stopped cleanly.",
        demo.checks,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn exchanges(demo: &mut Demo) -> anyhow::Result<Vec<(String, String, String)>> {
    let now = OffsetDateTime::now_utc;
    // Who is in the partnership, as any signatory's user may read it.
    let reader = demo.person(&SCHOOL_DSL).await?;
    let protocol = crate::registry_cmd::get_protocol(&reader, "sandwell-scsp-isp").await?;
    outln!(
        "\nThe partnership ({} v{}, review due {}):",
        protocol.id,
        protocol.version,
        protocol.review_due
    );
    let mut t = Table::new(&["AGENCY", "NAME", "KIND", "STATUS"]).wrap(1, 50);
    for s in &protocol.signatories {
        t.row([
            s.agency_id.clone(),
            s.name.clone(),
            name::<pb::AgencyKind>(s.kind),
            name::<pb::SignatoryStatus>(s.status),
        ]);
    }
    t.print();
    demo.check(
        protocol.signatories.len() >= 9,
        "the broker holds the Sandwell protocol with its nine signatories",
    )?;
    let version = protocol.version.clone();
    let mut summary = Vec::new();

    // ------------------------------------------------------------------------------------
    scenario(
        'a',
        "An early help request, refused by the check",
        "A school's designated safeguarding lead wants to know whether a family already has an \
         Early Help plan with the council. The parents have not been asked. Sandwell's protocol \
         (002 App.2) needs freely given, explicit consent at the early help level, so the broker \
         refuses the request before anyone at the council sees it, and says why.",
    );
    let dsl = demo.person(&SCHOOL_DSL).await?;
    act(
        &SCHOOL_DSL,
        "submits a request to sandwell-council (purpose early-help)",
    );
    let r = submit(
        &dsl,
        pb::InformationRequest {
            protocol_id: protocol.id.clone(),
            protocol_version: version.clone(),
            requesting_agency_id: SCHOOL_DSL.agency.into(),
            practitioner: practitioner(&SCHOOL_DSL, "Designated safeguarding lead, Oak Primary", "dsl@oakprimary.example"),
            holding_agency_id: "sandwell-council".into(),
            child: child("Leo Example", "2016-09-02", "485 777 3456"),
            purpose_id: "early-help".into(),
            necessity_justification: "Leo's attendance has fallen to 82% and he arrives hungry; the school wants to know whether an Early Help plan already exists before offering support.".into(),
            expected_outcome: "Coordinated early help support rather than a second assessment.".into(),
            level_of_need: pb::LevelOfNeed::EarlyHelp as i32,
            risk_summary: "Low attendance and signs of neglect; no disclosure.".into(),
            lawful_basis: Some(pb::LawfulBasisClaim {
                article6: pb::LawfulBasis::PublicTask as i32,
                special_condition: pb::SpecialCategoryCondition::None as i32,
                gateways: vec![],
            }),
            consent: Some(pb::Consent {
                status: pb::ConsentStatus::NotSought as i32,
                not_sought_reasons: vec![pb::NotSoughtReason::UnjustifiedDelay as i32],
                not_sought_detail: "The parents are hard to reach at the school gate.".into(),
                ..Default::default()
            }),
            categories: categories(&[
                ("early-help-involvement", "Whether an Early Help plan or assessment exists"),
                ("agency-involvement", "Which practitioners already work with the family"),
            ]),
            records_from: "2025-01-01".into(),
            urgency: pb::Urgency::Routine as i32,
            onward_disclosure: Some(pb::OnwardDisclosure::default()),
            subject_notification: Some(pb::SubjectNotification {
                will_inform: true,
                reason_not_informing: String::new(),
            }),
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        },
    )
    .await?;
    let a = r.assessment.clone().unwrap_or_default();
    request_cmd::print_submitted(&r, now());
    demo.check(
        is(r.state, pb::ExchangeState::Refused)
            && a.outcome == pb::AssessmentOutcome::Refuse as i32,
        "the exchange is refused by the check, before any person sees it",
    )?;
    let r06 = a.findings.iter().find(|f| f.rule_id.starts_with("R06-"));
    demo.check(
        r06.is_some_and(|f| f.severity == pb::Severity::Blocking as i32 && !f.source.is_empty() && !f.message.is_empty()),
        "a blocking finding of rule R06 (explicit consent at early help) gives its source and a message",
    )?;
    demo.check(
        a.proposed_scope.is_empty(),
        "nothing is proposed for sharing",
    )?;
    let a_id = r.exchange_id.clone();
    summary.push((
        "(a) early help, no consent".to_owned(),
        a_id.clone(),
        name::<pb::ExchangeState>(r.state),
    ));

    // ------------------------------------------------------------------------------------
    scenario(
        'b',
        "A s47 enquiry, approved in part and delivered",
        "A Sandwell Children's Trust social worker asks West Midlands Police for domestic abuse, \
         household and offending information about a 9-year-old's mother's partner, under s47 \
         Children Act 1989 (crates/accord-cli/examples/request.toml). The police IG lead approves \
         two of the three categories, with conditions; an officer answers with fact and opinion \
         items; the social worker fetches the response and acknowledges it.",
    );
    let sw = demo.person(&SOCIAL_WORKER).await?;
    act(
        &SOCIAL_WORKER,
        "submits the example request file to west-midlands-police",
    );
    let file: RequestFile =
        toml::from_str(examples::REQUEST).context("the example request file")?;
    let r = request_cmd::submit(&sw, &file).await?;
    request_cmd::print_submitted(&r, now());
    let b_id = r.exchange_id.clone();
    demo.check(
        is(r.state, pb::ExchangeState::AwaitingApproval),
        "the check sends it to the police IG lead (awaiting_approval)",
    )?;
    let scope = r.assessment.clone().unwrap_or_default().proposed_scope;
    demo.check(
        scope.len() == 3,
        format!("all three categories are proposed ({})", scope.join(", ")),
    )?;

    let police_ig = demo.person(&POLICE_IG).await?;
    act(&POLICE_IG, "reads the police inbox");
    let events = inbox_for(&police_ig, &b_id, pb::InboxEventKind::RequestReceived).await?;
    view::inbox_table(&events).print();
    demo.check(
        events
            .iter()
            .any(|e| e.kind == pb::InboxEventKind::RequestReceived as i32),
        "the holder's inbox has the request",
    )?;
    act(&POLICE_IG, "lists what awaits a decision");
    let pending = approvals_cmd::pending(&police_ig, false, 50, "").await?;
    approvals_cmd::pending_table(&pending.exchanges, now()).print();
    demo.check(
        pending.exchanges.iter().any(|x| x.id == b_id),
        "the request is on the IG lead's list",
    )?;
    act(
        &POLICE_IG,
        "approves domestic-abuse and household-and-relationships only, with conditions",
    );
    let x = approvals_cmd::decide(
        &police_ig,
        &b_id,
        Decision::ApprovePart(pb::ApprovePart {
            categories: vec!["domestic-abuse".into(), "household-and-relationships".into()],
            conditions: Some(pb::Conditions {
                no_onward_disclosure: true,
                retention_days: 30,
                inform_subject: false,
                other: "For the strategy meeting only; ask again for the partner's convictions through a Clare's Law disclosure.".into(),
            }),
        }),
        "Offending history left out: not necessary for the strategy meeting (002 App.2 Q1).",
        None,
    )
    .await?;
    request_cmd::print_changed(false, Some(&x), "decided")?;
    view::decisions_table(&x.decisions).print();
    demo.check(
        state(&x) == pb::ExchangeState::PartlyApproved,
        "the exchange is partly_approved",
    )?;
    demo.check(
        x.approved_categories.len() == 2
            && !x
                .approved_categories
                .iter()
                .any(|c| c == "offending-history"),
        "only the two approved categories may be shared",
    )?;

    let officer = demo.person(&POLICE_OFFICER).await?;
    act(
        &POLICE_OFFICER,
        "tries to include offending-history in the response",
    );
    let refused = expect_refusal(
        response_cmd::submit(
            &officer,
            &b_id,
            vec![pb::ResponseItem {
                category_id: "offending-history".into(),
                kind: pb::ItemKind::Fact as i32,
                content: "Conviction for assault, 2021.".into(),
                recorded_on: "2021-06-01".into(),
                historical: false,
                source_system: "PNC".into(),
            }],
            None,
        )
        .await,
    );
    if let Some(e) = &refused {
        outln!("  refused: {}", e.brief());
    }
    demo.check(
        refused.is_some(),
        "the broker refuses a category that was not approved",
    )?;
    act(
        &POLICE_OFFICER,
        "sends the response (crates/accord-cli/examples/response.toml)",
    );
    let items = toml::from_str::<ResponseFile>(examples::RESPONSE)
        .context("the example response file")?
        .to_proto()?;
    let sent = response_cmd::submit(&officer, &b_id, items, None).await?;
    request_cmd::print_changed(false, sent.exchange.as_ref(), "3 items sent")?;
    outln!("  content sha-256 {}", sent.content_sha256);
    demo.check(
        sent.exchange
            .as_ref()
            .is_some_and(|x| state(x) == pb::ExchangeState::Responded),
        "the exchange is responded",
    )?;

    act(&SOCIAL_WORKER, "fetches the response");
    let fetched = response_cmd::fetch(&sw, &b_id).await?;
    response_cmd::print_fetched(&fetched);
    let resp = fetched.response.clone().unwrap_or_default();
    demo.check(
        is(fetched.state, pb::ExchangeState::Delivered) && resp.items.len() == 3,
        "the three items are delivered",
    )?;
    demo.check(
        resp.items
            .iter()
            .any(|i| i.kind == pb::ItemKind::Fact as i32)
            && resp
                .items
                .iter()
                .any(|i| i.kind == pb::ItemKind::Opinion as i32),
        "each item says whether it is fact or opinion",
    )?;
    demo.check(
        fetched
            .conditions
            .as_ref()
            .is_some_and(|c| c.no_onward_disclosure && c.retention_days == 30),
        "the approval's conditions travel with the content",
    )?;
    demo.check(
        resp.content_sha256 == sent.content_sha256,
        "the digest fetched is the digest sent",
    )?;
    act(&SOCIAL_WORKER, "acknowledges receipt");
    let x = response_cmd::acknowledge(
        &sw,
        &b_id,
        "Shared at the strategy meeting; safety plan agreed.",
        0,
    )
    .await?;
    request_cmd::print_changed(false, Some(&x), "acknowledged")?;
    demo.check(
        state(&x) == pb::ExchangeState::Acknowledged,
        "the exchange is acknowledged",
    )?;
    summary.push((
        "(b) s47, approved in part".to_owned(),
        b_id.clone(),
        name::<pb::ExchangeState>(x.state),
    ));

    // ------------------------------------------------------------------------------------
    scenario(
        'c',
        "Declined, escalated by the requester, decided by someone else",
        "The social worker asks the NHS trust about the mother's mental health and the child's \
         hospital attendances for a child in need assessment; the mother has given explicit \
         consent. The trust's IG lead declines. The social worker disputes the decline (002 \
         14.1); the escalation goes to a different approver, and the one who declined cannot \
         decide it again.",
    );
    act(
        &SOCIAL_WORKER,
        "submits a request to sandwell-west-birmingham-nhs (child-in-need-assessment)",
    );
    let r = submit(
        &sw,
        pb::InformationRequest {
            protocol_id: protocol.id.clone(),
            protocol_version: version.clone(),
            requesting_agency_id: SOCIAL_WORKER.agency.into(),
            practitioner: practitioner(&SOCIAL_WORKER, "Social worker, child in need team", "sam.okafor@sandwellchildrenstrust.example"),
            holding_agency_id: "sandwell-west-birmingham-nhs".into(),
            child: child("Maya Example", "2018-02-11", "401 023 2137"),
            purpose_id: "child-in-need-assessment".into(),
            necessity_justification: "The assessment must judge whether the mother's mental health affects her care of Maya; she says she is treated by the trust and agreed to us asking.".into(),
            expected_outcome: "A child in need plan with the right support for mother and child.".into(),
            level_of_need: pb::LevelOfNeed::ChildInNeed as i32,
            risk_summary: "Missed health appointments; the mother reports low mood.".into(),
            lawful_basis: Some(pb::LawfulBasisClaim {
                article6: pb::LawfulBasis::PublicTask as i32,
                special_condition: pb::SpecialCategoryCondition::SafeguardingChildren as i32,
                gateways: vec![pb::StatutoryGateway::Ca1989S17 as i32],
            }),
            consent: Some(pb::Consent {
                status: pb::ConsentStatus::Obtained as i32,
                given_by: pb::ConsentGiver::ParentalResponsibility as i32,
                given_by_name: "Jo Example".into(),
                given_on: days_ago(2),
                explicit: true,
                scope: "Her own mental health treatment and Maya's hospital attendances, shared with the social worker for the assessment.".into(),
                ..Default::default()
            }),
            categories: categories(&[
                ("mental-health", "The mother's diagnosis and engagement with treatment"),
                ("physical-health", "Maya's hospital and A&E attendances"),
            ]),
            records_from: "2024-01-01".into(),
            urgency: pb::Urgency::Routine as i32,
            onward_disclosure: Some(pb::OnwardDisclosure::default()),
            subject_notification: Some(pb::SubjectNotification {
                will_inform: true,
                reason_not_informing: String::new(),
            }),
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        },
    )
    .await?;
    request_cmd::print_submitted(&r, now());
    let c_id = r.exchange_id.clone();
    demo.check(
        is(r.state, pb::ExchangeState::AwaitingApproval),
        "the exchange is awaiting_approval",
    )?;

    let nhs_ig = demo.person(&NHS_IG).await?;
    act(&NHS_IG, "declines, with reasons");
    let x = approvals_cmd::decide(
        &nhs_ig,
        &c_id,
        Decision::Decline(pb::Decline {
            reasons: vec![
                "The consent recorded does not say the mother was told her psychiatric notes would be shared.".into(),
            ],
        }),
        "",
        None,
    )
    .await?;
    request_cmd::print_changed(false, Some(&x), "decided")?;
    demo.check(
        state(&x) == pb::ExchangeState::Declined,
        "the exchange is declined",
    )?;
    demo.check(
        x.decisions.last().is_some_and(|d| !d.reasons.is_empty()),
        "the decline carries its reasons for the requester",
    )?;

    act(&SOCIAL_WORKER, "disputes the decline");
    let x = sw
        .exchange
        .clone()
        .escalate_decline(pb::EscalateDeclineRequest {
            exchange_id: c_id.clone(),
            reason: "The signed consent form names her psychiatric treatment explicitly; a copy is on the case file and can be sent.".into(),
            expected_version: x.version,
        })
        .await
        .rpc("EscalateDecline")?
        .exchange
        .unwrap_or_default();
    request_cmd::print_changed(false, Some(&x), "escalated")?;
    demo.check(
        state(&x) == pb::ExchangeState::Escalated,
        "the exchange is escalated",
    )?;

    act(
        &NHS_IG,
        "tries to decide the escalation of their own decline",
    );
    let refused = expect_refusal(
        approvals_cmd::decide(
            &nhs_ig,
            &c_id,
            Decision::Decline(pb::Decline {
                reasons: vec!["Still declined.".into()],
            }),
            "",
            Some(x.version),
        )
        .await,
    );
    if let Some(e) = &refused {
        outln!("  refused: {}", e.brief());
    }
    demo.check(
        refused.is_some(),
        "the approver who declined cannot decide the escalation",
    )?;

    let head = demo.person(&NHS_HEAD_OF_IG).await?;
    act(
        &NHS_HEAD_OF_IG,
        "reviews the escalation and approves, with conditions",
    );
    let pending = approvals_cmd::pending(&head, true, 50, "").await?;
    demo.check(
        pending.exchanges.iter().any(|p| p.id == c_id),
        "the escalation is on the other approver's list",
    )?;
    let x = approvals_cmd::decide(
        &head,
        &c_id,
        Decision::Approve(pb::Approve {
            conditions: Some(pb::Conditions {
                no_onward_disclosure: true,
                retention_days: 30,
                inform_subject: true,
                other: String::new(),
            }),
        }),
        "Consent form seen; it covers the psychiatric notes.",
        None,
    )
    .await?;
    request_cmd::print_changed(false, Some(&x), "decided")?;
    view::decisions_table(&x.decisions).print();
    if !x.requester_actions.is_empty() {
        let mut t = Table::new(&["TIME", "BY", "REQUESTER ACTION", "TEXT"]).wrap(3, 60);
        for a in &x.requester_actions {
            t.row([
                output::time(a.acted_at.as_ref()),
                a.acted_by.clone(),
                name::<pb::RequesterActionKind>(a.kind),
                a.text.clone(),
            ]);
        }
        outln!();
        t.print();
    }
    demo.check(
        state(&x) == pb::ExchangeState::Approved,
        "the escalation ends in approval",
    )?;
    let deciders: Vec<&str> = x.decisions.iter().map(|d| d.decided_by.as_str()).collect();
    demo.check(
        deciders.first() == Some(&NHS_IG.sub) && deciders.last() == Some(&NHS_HEAD_OF_IG.sub),
        format!(
            "declined by {} and decided after escalation by {}",
            NHS_IG.sub, NHS_HEAD_OF_IG.sub
        ),
    )?;
    summary.push((
        "(c) declined, escalated".to_owned(),
        c_id.clone(),
        name::<pb::ExchangeState>(x.state),
    ));

    // ------------------------------------------------------------------------------------
    scenario(
        'd',
        "Immediate risk: a deadline in minutes",
        "At 11pm the council's emergency duty team is called about a 6-month-old with unexplained \
         bruising and asks the hospital trust about the baby's A&E attendances. The check sets a \
         deadline in minutes and reminds the practitioner to tell the police now; the trust's IG \
         lead approves at once and the named nurse answers.",
    );
    let edt = demo.person(&COUNCIL_EDT).await?;
    act(
        &COUNCIL_EDT,
        "submits an immediate-risk request to sandwell-west-birmingham-nhs",
    );
    let submitted_at = Instant::now();
    let r = submit(
        &edt,
        pb::InformationRequest {
            protocol_id: protocol.id.clone(),
            protocol_version: version.clone(),
            requesting_agency_id: COUNCIL_EDT.agency.into(),
            practitioner: practitioner(&COUNCIL_EDT, "Social worker, emergency duty team", "01215690000"),
            holding_agency_id: "sandwell-west-birmingham-nhs".into(),
            child: child("Baby Example", &days_ago(180), "943 476 5870"),
            purpose_id: "s47-enquiry".into(),
            necessity_justification: "Unexplained bruising on a non-mobile baby; earlier attendances decide whether the baby is safe at home tonight.".into(),
            expected_outcome: "A decision tonight on the baby's immediate safety.".into(),
            level_of_need: pb::LevelOfNeed::ImmediateRisk as i32,
            risk_summary: "Bruising to the face and arms of a 6-month-old, no explanation given.".into(),
            lawful_basis: Some(pb::LawfulBasisClaim {
                article6: pb::LawfulBasis::PublicTask as i32,
                special_condition: pb::SpecialCategoryCondition::SafeguardingChildren as i32,
                gateways: vec![pb::StatutoryGateway::Ca1989S47 as i32],
            }),
            consent: Some(pb::Consent {
                status: pb::ConsentStatus::NotRequired as i32,
                not_required_reason: pb::NotRequiredReason::StatutoryDuty as i32,
                ..Default::default()
            }),
            categories: categories(&[(
                "physical-health",
                "A&E attendances and injuries recorded since birth",
            )]),
            records_from: "2026-01-01".into(),
            urgency: pb::Urgency::Immediate as i32,
            onward_disclosure: Some(pb::OnwardDisclosure::default()),
            subject_notification: Some(pb::SubjectNotification {
                will_inform: false,
                reason_not_informing: "Telling the parents before the baby is safe could increase the risk.".into(),
            }),
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        },
    )
    .await?;
    request_cmd::print_submitted(&r, now());
    let d_id = r.exchange_id.clone();
    let a = r.assessment.clone().unwrap_or_default();
    demo.check(
        is(r.state, pb::ExchangeState::AwaitingApproval),
        "the exchange is awaiting_approval",
    )?;
    let minutes = a
        .respond_by
        .as_ref()
        .and_then(output::instant)
        .map(|t| (t - now()).whole_minutes());
    demo.check(
        minutes.is_some_and(|m| (0..=60).contains(&m)),
        format!(
            "the deadline is in minutes, not days (respond by {})",
            output::relative(a.respond_by.as_ref(), now())
        ),
    )?;
    demo.check(
        a.findings
            .iter()
            .any(|f| f.rule_id == "R16-immediate-risk-tell-police"),
        "the check advises telling the police now (R16-immediate-risk-tell-police)",
    )?;

    let nhs_ig = demo.person(&NHS_IG).await?;
    act(&NHS_IG, "approves in full at once");
    let x = approvals_cmd::decide(
        &nhs_ig,
        &d_id,
        Decision::Approve(pb::Approve {
            conditions: Some(pb::Conditions {
                no_onward_disclosure: false,
                retention_days: 30,
                inform_subject: false,
                other: String::new(),
            }),
        }),
        "Immediate risk: approved by phone with the duty manager.",
        None,
    )
    .await?;
    request_cmd::print_changed(false, Some(&x), "decided")?;
    demo.check(
        state(&x) == pb::ExchangeState::Approved,
        "the exchange is approved",
    )?;
    let nurse = demo.person(&NHS_NURSE).await?;
    act(&NHS_NURSE, "answers");
    let sent = response_cmd::submit(
        &nurse,
        &d_id,
        vec![
            pb::ResponseItem {
                category_id: "physical-health".into(),
                kind: pb::ItemKind::Fact as i32,
                content: "Two A&E attendances: 3 weeks ago (fall from sofa, bruised cheek) and 9 days ago (crying, no injury found).".into(),
                recorded_on: days_ago(9),
                historical: false,
                source_system: "Symphony ED".into(),
            },
            pb::ResponseItem {
                category_id: "physical-health".into(),
                kind: pb::ItemKind::Opinion as i32,
                content: "The triage nurse noted that a fall from a sofa did not fit the bruising seen.".into(),
                recorded_on: days_ago(21),
                historical: false,
                source_system: String::new(),
            },
        ],
        None,
    )
    .await?;
    request_cmd::print_changed(false, sent.exchange.as_ref(), "2 items sent")?;
    act(&COUNCIL_EDT, "fetches the response");
    let fetched = response_cmd::fetch(&edt, &d_id).await?;
    response_cmd::print_fetched(&fetched);
    demo.check(
        is(fetched.state, pb::ExchangeState::Delivered),
        format!(
            "delivered {} ms after the request was made",
            submitted_at.elapsed().as_millis()
        ),
    )?;
    summary.push((
        "(d) immediate risk".to_owned(),
        d_id.clone(),
        name::<pb::ExchangeState>(fetched.state),
    ));

    // ------------------------------------------------------------------------------------
    outln!("\n\n=== The audit trail");
    for line in output::wrap_text(
        "Every step above was written to one append-only, hash-chained log in the same \
         transaction as the change, with signed checkpoints of its head. The auditor reads \
         metadata only, never the content; subject identifiers are stored as keyed hashes.",
        96,
    ) {
        outln!("{line}");
    }
    let auditor = demo.person(&AUDITOR).await?;
    act(&AUDITOR, "reads the whole log");
    let log = audit_cmd::query(
        &auditor,
        &audit_cmd::QueryArgs {
            limit: 500,
            ..Default::default()
        },
        true,
    )
    .await?;
    out!("{}", demo_audit_table(&log.entries).render());
    let seqs: Vec<u64> = log.entries.iter().map(|e| e.sequence).collect();
    demo.check(
        !seqs.is_empty() && seqs.iter().enumerate().all(|(i, s)| *s == i as u64 + 1),
        format!(
            "{} entries, numbered 1 to {} without gaps",
            seqs.len(),
            seqs.len()
        ),
    )?;
    demo.check(
        log.entries
            .windows(2)
            .all(|w| w[1].prev_hash == w[0].entry_hash),
        "each entry holds the hash of the one before",
    )?;
    let b_states: Vec<i32> = log
        .entries
        .iter()
        .filter(|e| e.exchange_id == b_id)
        .map(|e| e.state_to)
        .filter(|s| *s != 0)
        .collect();
    let b_path = [
        pb::ExchangeState::AwaitingApproval,
        pb::ExchangeState::PartlyApproved,
        pb::ExchangeState::Responded,
        pb::ExchangeState::Delivered,
        pb::ExchangeState::Acknowledged,
    ];
    demo.check(
        b_path.iter().all(|s| b_states.contains(&(*s as i32))),
        "every state of exchange (b) is in the log",
    )?;
    demo.check(
        [&a_id, &c_id, &d_id]
            .iter()
            .all(|id| log.entries.iter().any(|e| &e.exchange_id == *id)),
        "the other three exchanges are in the log too",
    )?;
    demo.check(
        log.entries.iter().all(|e| {
            !e.detail_json.contains("Two A&E attendances") && !e.detail_json.contains("943 476")
        }),
        "no shared content or child identifier appears in the log",
    )?;

    act(&AUDITOR, "verifies the log");
    let v = audit_cmd::verify(&auditor, 0, 0).await?;
    view::print_verify(&v);
    demo.check(
        v.ok && v.entries_checked >= seqs.len() as u64,
        format!("the chain verifies over {} entries", v.entries_checked),
    )?;
    demo.check(
        v.last_checkpoint_sequence > 0 && v.checkpoint_signature_valid,
        format!(
            "the latest signed checkpoint (entry {}) has a valid signature",
            v.last_checkpoint_sequence
        ),
    )?;
    Ok(summary)
}

/// A date `days` before today, YYYY-MM-DD.
fn days_ago(days: i64) -> String {
    accord_proto::wire::format_date((OffsetDateTime::now_utc() - time::Duration::days(days)).date())
}

/// The log for the demo: sequence, time of day, event, agencies, state change, hash prefix.
fn demo_audit_table(entries: &[pb::AuditEntry]) -> Table {
    let mut t = Table::new(&[
        "SEQ",
        "TIME",
        "EVENT",
        "ACTOR",
        "AGENCIES",
        "STATE CHANGE",
        "HASH",
    ]);
    let short = |a: &str| -> String {
        a.replace("sandwell-west-birmingham-nhs", "swb-nhs")
            .replace("sandwell-childrens-trust", "sc-trust")
            .replace("west-midlands-police", "wm-police")
            .replace("sandwell-council", "council")
            .replace("sandwell-schools", "schools")
    };
    for e in entries {
        let agencies = if !e.requesting_agency_id.is_empty() {
            format!(
                "{} -> {}",
                short(&e.requesting_agency_id),
                short(&e.holding_agency_id)
            )
        } else {
            short(&e.actor_agency_id)
        };
        let actor = if e.actor_subject.is_empty() {
            "broker".to_owned()
        } else {
            e.actor_subject.clone()
        };
        let time = output::time(e.occurred_at.as_ref());
        t.row([
            e.sequence.to_string(),
            time.get(11..19).unwrap_or(&time).to_owned(),
            e.event_kind.clone(),
            actor,
            agencies,
            view::state_change(e),
            output::short_hash(&e.entry_hash, 12),
        ]);
    }
    t
}
