//! Test helpers shared by the store suites: a fresh database per test on each backend,
//! fixed test keys, and domain fixtures.

#![allow(dead_code)]

use std::sync::Arc;

use accord_domain::*;
use accord_store::{Change, Store, StoreConfig, Submission};
use anyhow::{Context, Result};
use sqlx::Connection;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn pg_server_url() -> String {
    std::env::var("ACCORD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// One test's database: a SQLite file in a temporary directory, or a PostgreSQL database
/// created for the test and dropped when the last handle goes (best effort).
#[derive(Clone)]
pub struct TestDb(Arc<Inner>);

struct Inner {
    backend: Backend,
    url: String,
    dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.clone() else {
            return;
        };
        // Drop runs inside the test's runtime; a fresh thread with its own runtime can
        // block on the DROP without stalling it.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async move {
                    if let Ok(mut c) = sqlx::PgConnection::connect(&pg_server_url()).await {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&mut c)
                        .await;
                    }
                });
            }
        })
        .join();
    }
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
                let url = format!("sqlite://{}", dir.path().join("accord.db").display());
                TestDb(Arc::new(Inner {
                    backend,
                    url,
                    dir: Some(dir),
                    pg_name: None,
                }))
            }
            Backend::Postgres => {
                let server = pg_server_url();
                let mut conn = sqlx::PgConnection::connect(&server).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL is not reachable at {server} ({e}). The store tests need it: \
                         start it with `bash scripts/ensure-postgres.sh` (or \
                         `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`), \
                         or point ACCORD_TEST_POSTGRES_URL at a server"
                    )
                });
                let name = format!("accord_t_{}", uuid::Uuid::new_v4().simple());
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("create test database: {e}"));
                let base = server
                    .rsplit_once('/')
                    .map(|(b, _)| b.to_owned())
                    .unwrap_or(server.clone());
                let url = format!("{base}/{name}");
                TestDb(Arc::new(Inner {
                    backend,
                    url,
                    dir: None,
                    pg_name: Some(name),
                }))
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.0.backend
    }

    pub fn url(&self) -> &str {
        &self.0.url
    }

    /// The SQLite file (and its WAL), for raw byte searches.
    pub fn sqlite_files(&self) -> Vec<std::path::PathBuf> {
        match &self.0.dir {
            Some(d) => std::fs::read_dir(d.path())
                .map(|it| it.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default(),
            None => Vec::new(),
        }
    }

    pub fn config(&self) -> StoreConfig {
        config_for(&self.0.url)
    }

    pub async fn open(&self) -> Result<Store> {
        Ok(Store::open(self.config()).await?)
    }

    pub async fn open_with(&self, f: impl FnOnce(&mut StoreConfig)) -> Result<Store> {
        let mut c = self.config();
        f(&mut c);
        Ok(Store::open(c).await?)
    }

    /// Runs SQL directly, bypassing the store (to tamper, or to read raw columns).
    pub async fn exec(&self, sql: &str) -> Result<u64> {
        Ok(match self.0.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.0.url).await?;
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut c)
                    .await?
                    .rows_affected()
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.0.url).await?;
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut c)
                    .await?
                    .rows_affected()
            }
        })
    }

    /// Every row of `table` as text, for searching a table for clear values.
    pub async fn table_text(&self, table: &str) -> Result<String> {
        use sqlx::Row;
        let mut out = String::new();
        match self.0.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.0.url).await?;
                let cols: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT name FROM pragma_table_info('{table}')"
                )))
                .fetch_all(&mut c)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>("name"))
                .collect::<Result<_, _>>()?;
                let expr = cols
                    .iter()
                    .map(|c| format!("COALESCE(CAST({c} AS TEXT), '')"))
                    .collect::<Vec<_>>()
                    .join(" || '|' || ");
                for r in sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {expr} AS t FROM {table}"
                )))
                .fetch_all(&mut c)
                .await?
                {
                    let t: Vec<u8> = r
                        .try_get::<Vec<u8>, _>("t")
                        .or_else(|_| r.try_get::<String, _>("t").map(String::into_bytes))?;
                    out.push_str(&String::from_utf8_lossy(&t));
                    out.push('\n');
                }
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.0.url).await?;
                let cols = sqlx::query(
                    "SELECT column_name::text AS n, data_type::text AS t FROM information_schema.columns \
                     WHERE table_name = $1 ORDER BY ordinal_position",
                )
                .bind(table)
                .fetch_all(&mut c)
                .await?;
                // bytea in 'escape' form keeps printable bytes as they are, so plaintext
                // stored in a blob would show.
                let expr = cols
                    .iter()
                    .map(|r| {
                        let n: String = r.try_get("n")?;
                        let t: String = r.try_get("t")?;
                        Ok(if t == "bytea" {
                            format!("COALESCE(encode({n}, 'escape'), '')")
                        } else {
                            format!("COALESCE(CAST({n} AS TEXT), '')")
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()?
                    .join(" || '|' || ");
                for r in sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {expr} AS t FROM {table}"
                )))
                .fetch_all(&mut c)
                .await?
                {
                    out.push_str(&r.try_get::<String, _>("t")?);
                    out.push('\n');
                }
            }
        }
        Ok(out)
    }

    /// One raw BLOB/BYTEA column value.
    pub async fn blob(&self, sql: &str, id: uuid::Uuid) -> Result<Option<Vec<u8>>> {
        use sqlx::Row;
        Ok(match self.0.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.0.url).await?;
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_one(&mut c)
                    .await?
                    .try_get::<Option<Vec<u8>>, _>(0)?
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.0.url).await?;
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_one(&mut c)
                    .await?
                    .try_get::<Option<Vec<u8>>, _>(0)?
            }
        })
    }

    pub async fn count(&self, table: &str) -> Result<i64> {
        use sqlx::Row;
        let sql = format!("SELECT COUNT(*) AS n FROM {table}");
        Ok(match self.0.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.0.url).await?;
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_one(&mut c)
                    .await?
                    .try_get("n")?
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.0.url).await?;
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_one(&mut c)
                    .await?
                    .try_get("n")?
            }
        })
    }
}

pub const AUDIT_KEY: [u8; 32] = [7; 32];
pub const CONTENT_KEY: [u8; 32] = [9; 32];
pub const SIGNING_SEED: [u8; 32] = [11; 32];

pub fn config_for(url: &str) -> StoreConfig {
    StoreConfig {
        url: url.to_owned(),
        audit_key: AUDIT_KEY,
        content_key: CONTENT_KEY,
        signing_key: ed25519_dalek::SigningKey::from_bytes(&SIGNING_SEED),
        checkpoint_every: 1000,
        max_batch: 128,
        max_connections: 8,
    }
}

/// Runs one test body on a fresh database of `backend`, failing with the body's error.
pub async fn run<F, Fut>(backend: Backend, body: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let db = TestDb::new(backend).await;
    if let Err(e) = body(db).await {
        panic!("{backend:?}: {e:#}");
    }
}

pub fn agency(s: &str) -> AgencyId {
    AgencyId::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

pub fn cat(s: &str) -> CategoryId {
    CategoryId::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

pub const T0: OffsetDateTime = datetime!(2025-03-03 09:00:00 UTC);

pub fn at(minutes: i64) -> OffsetDateTime {
    T0 + Duration::minutes(minutes)
}

pub fn nhs(value: &str) -> SubjectIdentifier {
    SubjectIdentifier {
        scheme: "nhs_number".into(),
        value: value.into(),
    }
}

pub const CHILD_NAME: &str = "Jessamy Quillfeather";

pub fn request(from: &str, to: &str, child: &SubjectIdentifier) -> Request {
    Request {
        protocol_id: ProtocolId::parse("sandwell-isp").unwrap_or_else(|e| panic!("{e}")),
        protocol_version: "1.0".into(),
        requesting_agency: agency(from),
        practitioner: Practitioner {
            subject: format!("{from}-practitioner"),
            name: "Pat Officer".into(),
            job_title: "Detective Constable".into(),
            contact: "pat@example.org".into(),
        },
        holding_agency: agency(to),
        child: Subject {
            identifiers: vec![child.clone()],
            name: CHILD_NAME.into(),
            date_of_birth: Some(time::macros::date!(2014 - 05 - 06)),
            identifiable: true,
            relationship: String::new(),
        },
        other_people: vec![],
        purpose: PurposeId::parse("s47-enquiry").unwrap_or_else(|e| panic!("{e}")),
        necessity_justification: format!("{CHILD_NAME} disclosed harm at school"),
        expected_outcome: "decide on protective action".into(),
        level_of_need: LevelOfNeed::SignificantHarm,
        risk_summary: "bruising".into(),
        lawful_basis: LawfulBasisClaim {
            article6: LawfulBasis::PublicTask,
            special_condition: SpecialCondition::SafeguardingChildren,
            gateways: vec![StatutoryGateway::Ca1989S47],
        },
        consent: Consent::with_status(ConsentStatus::NotRequired),
        categories: vec![
            CategoryRequest {
                category: cat("health"),
                reason: "injuries".into(),
            },
            CategoryRequest {
                category: cat("education"),
                reason: "attendance".into(),
            },
        ],
        records_from: None,
        records_to: None,
        anonymised_would_suffice: false,
        urgency: Urgency::Urgent,
        needed_by: None,
        onward_disclosure: OnwardDisclosure::default(),
        notification: SubjectNotification {
            will_inform: true,
            reason_not_informing: String::new(),
        },
    }
}

pub fn assessment(outcome: Outcome, now: OffsetDateTime) -> Assessment {
    Assessment {
        outcome,
        findings: vec![Finding {
            rule_id: "R13-repeat-sharing".into(),
            severity: if outcome == Outcome::Refuse {
                Severity::Blocking
            } else {
                Severity::Advisory
            },
            source: "004 FAQ".into(),
            message: "shared before".into(),
            category: None,
        }],
        proposed_scope: vec![cat("health"), cat("education")],
        trimmed: vec![],
        respond_by: now + Duration::days(2),
        required_approver_roles: vec![Role::IgLead],
        assessed_at: now,
    }
}

pub fn practitioner(agency_id: &str) -> Actor {
    Actor {
        agency: Some(agency(agency_id)),
        subject: format!("{agency_id}-practitioner"),
        roles: vec![Role::Practitioner],
    }
}

pub fn ig_lead(agency_id: &str, who: &str) -> Actor {
    Actor {
        agency: Some(agency(agency_id)),
        subject: format!("{agency_id}-{who}"),
        roles: vec![Role::IgLead],
    }
}

pub fn submission(
    key: &str,
    from: &str,
    to: &str,
    child: &SubjectIdentifier,
    outcome: Outcome,
    now: OffsetDateTime,
) -> Submission {
    Submission {
        idempotency_key: IdempotencyKey::parse(key).unwrap_or_else(|e| panic!("{e}")),
        request: request(from, to, child),
        assessment: assessment(outcome, now),
        actor: practitioner(from),
        now,
        record_retention: RecordRetention::DEFAULT,
    }
}

pub fn decision(
    kind: DecisionKind,
    by: &Actor,
    now: OffsetDateTime,
    categories: Vec<CategoryId>,
) -> Decision {
    Decision {
        kind,
        decided_by: by.clone(),
        decided_at: now,
        categories,
        conditions: Conditions::default(),
        reasons: vec!["proportionate".into()],
        questions: vec![],
        escalate_to: None,
        note: String::new(),
    }
}

/// A command as the tests describe it: the action and, for a human decision, the decision
/// (its kind, categories, conditions and texts become the command's).
pub fn change(
    action: Action,
    actor: &Actor,
    now: OffsetDateTime,
    decision: Option<Decision>,
) -> Change {
    let draft = |kind| {
        let d = decision.clone().unwrap_or(Decision {
            kind,
            decided_by: actor.clone(),
            decided_at: now,
            categories: Vec::new(),
            conditions: Conditions::default(),
            reasons: Vec::new(),
            questions: Vec::new(),
            escalate_to: None,
            note: String::new(),
        });
        DecisionDraft {
            categories: d.categories,
            conditions: d.conditions,
            reasons: d.reasons,
            questions: d.questions,
            escalate_to: d.escalate_to,
            note: d.note,
            ..DecisionDraft::new(kind)
        }
    };
    let command = match action {
        Action::Approve => Command::Decide(draft(DecisionKind::Approve)),
        Action::ApprovePart => Command::Decide(draft(DecisionKind::ApprovePart)),
        Action::Decline => Command::Decide(draft(DecisionKind::Decline)),
        Action::AskForMoreInformation => {
            Command::Decide(draft(DecisionKind::AskForMoreInformation))
        }
        Action::Escalate => match &decision {
            Some(d) if d.kind == DecisionKind::DeclineEscalated => Command::EscalateDecline {
                reason: d.reasons.first().cloned().unwrap_or_default(),
            },
            _ => Command::Decide(draft(DecisionKind::Escalate)),
        },
        Action::AnswerInformationRequest => Command::AnswerInformationRequest {
            answer: decision.map(|d| d.note).unwrap_or_default(),
        },
        Action::Withdraw => Command::Withdraw {
            reason: String::new(),
        },
        Action::Acknowledge => Command::Acknowledge {
            note: String::new(),
        },
        Action::Close => Command::Close,
        Action::Expire => Command::Expire,
        Action::Refuse | Action::SendForApproval | Action::Respond | Action::Fetch => {
            panic!("{action} is not a command on an existing exchange")
        }
    };
    Change {
        command,
        actor: actor.clone(),
        now,
    }
}

/// Sets the free text of a withdraw or acknowledge command.
pub fn with_note(mut c: Change, text: &str) -> Change {
    match &mut c.command {
        Command::Withdraw { reason } => *reason = text.into(),
        Command::Acknowledge { note } => *note = text.into(),
        Command::Decide(d) => d.note = text.into(),
        _ => {}
    }
    c
}

pub fn item(category: &str, content: &str) -> ResponseItem {
    ResponseItem {
        category: cat(category),
        kind: ItemKind::Fact,
        content: content.into(),
        recorded_on: time::macros::date!(2025 - 01 - 10),
        historical: false,
        source_system: Some("records".into()),
    }
}

/// Context for a test failure message.
pub trait Ctx<T> {
    fn ctx(self, what: &str) -> Result<T>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> Ctx<T> for std::result::Result<T, E> {
    fn ctx(self, what: &str) -> Result<T> {
        self.with_context(|| what.to_owned())
    }
}
