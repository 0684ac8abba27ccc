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
//!
//! This module holds the setup, the shared [`Demo`] context and the helpers; each scene is a
//! submodule with one `play` function, and [`audit_trail`] reads and verifies the log.

mod approved_in_part;
mod audit_trail;
mod escalated;
mod immediate_risk;
mod people;
mod refused;

use std::collections::HashMap;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use accord_proto::v1 as pb;
use accord_server::ServerConfig;
use anyhow::{anyhow, bail, Context as _};
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::Channel;

use crate::client::{self, CallError, CallExt as _, Client};
use crate::dev_cmd::{self, DevDir};
use crate::examples;
use crate::inbox_cmd;
use crate::output::{self, name, print_fields, Table};
use people::{Person, SCHOOL_DSL};

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

/// What the scenes share: the development setup, the broker's address, one mutual TLS channel
/// per agency, and the count of checks passed.
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

/// One scene's exchange, for the summary and the audit trail.
struct Played {
    scenario: &'static str,
    exchange_id: String,
    /// The exchange's final state, by name.
    state: String,
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
    for p in &summary {
        t.row([
            p.scenario.to_owned(),
            p.exchange_id.clone(),
            p.state.clone(),
        ]);
    }
    t.print();
    outln!(
        "\nDemo complete: {} checks passed in {:.1}s; the broker stopped cleanly.",
        demo.checks,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The partnership, the four scenes and the audit trail; the exchanges played, for the
/// summary.
async fn exchanges(demo: &mut Demo) -> anyhow::Result<Vec<Played>> {
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
    let a = refused::play(demo, &protocol).await?;
    let b = approved_in_part::play(demo).await?;
    let c = escalated::play(demo, &protocol).await?;
    let d = immediate_risk::play(demo, &protocol).await?;
    audit_trail::play(
        demo,
        &b.exchange_id,
        [&a.exchange_id, &c.exchange_id, &d.exchange_id],
    )
    .await?;
    Ok(vec![a, b, c, d])
}

/// A date `days` before today, YYYY-MM-DD.
fn days_ago(days: i64) -> String {
    accord_proto::wire::format_date((OffsetDateTime::now_utc() - time::Duration::days(days)).date())
}
