//! Audit log benchmark: prints markdown tables (see `docs/benchmarks.md`).
//!
//! `cargo bench -p accord-store --bench audit_log` runs the full sizes; run as a test
//! (`cargo test --all-targets`, no `--bench` argument) it does a small smoke run.
//!
//! - appends/s and p50/p99 latency of `Store::record_event` (one audit entry per call,
//!   group commit) for 1, 16 and 64 concurrent writers, next to references measured in the
//!   same run on the same database: a naive chained append committing one row per
//!   transaction (full durability), and on PostgreSQL a plain single-row INSERT (autocommit,
//!   no chain) into a table of the same shape;
//! - `verify_entries` throughput over entries already in memory (no reads);
//! - audit query by agency + one-day window p50/p99 over a log of `ACCORD_BENCH_ROWS` entries.
//!
//! Sizes: `ACCORD_BENCH_APPENDS` (store appends per writer count, default 20000),
//! `ACCORD_BENCH_NAIVE_APPENDS` (default 4000), `ACCORD_BENCH_ROWS` (default 1000000),
//! `ACCORD_BENCH_QUERIES` (default 500), `ACCORD_BENCH_MAX_BATCH` (default 256),
//! `ACCORD_BENCH_BACKENDS` (default `sqlite,postgres`), `ACCORD_BENCH_WRITERS` (default
//! `1,16,64`), `ACCORD_BENCH_PARTS` (default `appends,data`), `ACCORD_TEST_POSTGRES_URL`.

use std::time::{Duration, Instant};

use accord_domain::{Actor, AgencyId, CategoryId, ExchangeState, PurposeId, Role};
use accord_store::{AdminEvent, AuditEntry, AuditQuery, Store, StoreConfig};
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use sqlx::{Connection, Executor, QueryBuilder};
use time::OffsetDateTime;

struct Cfg {
    /// `appends`, `data` (verify and query); `ACCORD_BENCH_PARTS`, default both.
    parts: Vec<String>,
    backends: Vec<String>,
    writers: Vec<usize>,
    appends: usize,
    naive_appends: usize,
    rows: usize,
    queries: usize,
    max_batch: usize,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<()> {
    let full = std::env::args().any(|a| a == "--bench");
    let cfg = if full {
        Cfg {
            parts: std::env::var("ACCORD_BENCH_PARTS")
                .unwrap_or_else(|_| "appends,data".into())
                .split(',')
                .map(str::to_owned)
                .collect(),
            backends: std::env::var("ACCORD_BENCH_BACKENDS")
                .unwrap_or_else(|_| "sqlite,postgres".into())
                .split(',')
                .map(str::to_owned)
                .collect(),
            writers: std::env::var("ACCORD_BENCH_WRITERS")
                .unwrap_or_else(|_| "1,16,64".into())
                .split(',')
                .filter_map(|w| w.parse().ok())
                .collect(),
            appends: env_usize("ACCORD_BENCH_APPENDS", 20_000),
            naive_appends: env_usize("ACCORD_BENCH_NAIVE_APPENDS", 4_000),
            rows: env_usize("ACCORD_BENCH_ROWS", 1_000_000),
            queries: env_usize("ACCORD_BENCH_QUERIES", 500),
            max_batch: env_usize("ACCORD_BENCH_MAX_BATCH", 256),
        }
    } else {
        // Smoke run under `cargo test`: proves the program works, measures nothing.
        Cfg {
            parts: vec!["appends".into(), "data".into()],
            backends: vec!["sqlite".into(), "postgres".into()],
            writers: vec![1, 16],
            appends: 320,
            naive_appends: 64,
            rows: 3_000,
            queries: 20,
            max_batch: 256,
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(cfg))
}

fn pg_server() -> String {
    std::env::var("ACCORD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh database for one backend; dropped (PostgreSQL) or deleted (SQLite) afterwards.
struct BenchDb {
    url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl BenchDb {
    async fn new(backend: &str) -> Result<BenchDb> {
        if backend == "sqlite" {
            // Under target/, on the real disk: a tmpfs would make fsync free.
            let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            Ok(BenchDb {
                url,
                pg_name: None,
                _dir: Some(dir),
            })
        } else {
            let server = pg_server();
            let mut c = sqlx::PgConnection::connect(&server)
                .await
                .with_context(|| format!("PostgreSQL not reachable at {server}: run `bash scripts/ensure-postgres.sh`"))?;
            let name = format!("accord_bench_{}", uuid::Uuid::new_v4().simple());
            c.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await?;
            let base = server
                .rsplit_once('/')
                .map(|(b, _)| b.to_owned())
                .unwrap_or(server.clone());
            Ok(BenchDb {
                url: format!("{base}/{name}"),
                pg_name: Some(name),
                _dir: None,
            })
        }
    }

    fn is_pg(&self) -> bool {
        self.pg_name.is_some()
    }

    async fn drop_db(self) -> Result<()> {
        if let Some(name) = &self.pg_name {
            let mut c = sqlx::PgConnection::connect(&pg_server()).await?;
            c.execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .await?;
        }
        Ok(())
    }
}

fn config(url: &str, max_batch: usize) -> StoreConfig {
    StoreConfig {
        url: url.to_owned(),
        audit_key: [1; 32],
        content_key: [2; 32],
        signing_key: ed25519_dalek::SigningKey::from_bytes(&[3; 32]),
        checkpoint_every: 10_000,
        max_batch,
        max_connections: 8,
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Measure {
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn measure(mut lat: Vec<Duration>, elapsed: Duration) -> Measure {
    lat.sort_unstable();
    let pct = |q: f64| {
        if lat.is_empty() {
            return 0.0;
        }
        let rank = ((q * lat.len() as f64).ceil() as usize).clamp(1, lat.len());
        lat[rank - 1].as_secs_f64() * 1e3
    };
    Measure {
        per_sec: lat.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    }
}

async fn run(cfg: Cfg) -> Result<()> {
    let mut append_rows = Vec::new();
    let mut data_rows = Vec::new();
    for backend in &cfg.backends {
        if cfg.parts.iter().any(|p| p == "appends") {
            eprintln!("== {backend}: appends");
            let db = BenchDb::new(backend).await?;
            let store = Store::open(config(&db.url, cfg.max_batch)).await?;
            create_reference_tables(&db).await?;
            for &w in &cfg.writers {
                let s = store_appends(&store, w, cfg.appends).await?;
                let n = naive_appends(&db, w, cfg.naive_appends).await?;
                let p = if db.is_pg() {
                    Some(plain_inserts(&db, w, cfg.naive_appends.max(cfg.appends / 2)).await?)
                } else {
                    None
                };
                eprintln!(
                    "   {w} writers: store {:.0}/s, naive {:.0}/s, plain {:?}",
                    s.per_sec,
                    n.per_sec,
                    p.map(|p| p.per_sec as u64)
                );
                append_rows.push((backend.clone(), w, s, n, p));
            }
            let report = store.audit_verify().await?;
            anyhow::ensure!(
                report.ok,
                "chain does not verify after the append benchmark: {report:?}"
            );
            store.close().await;
            db.drop_db().await?;
        }
        if !cfg.parts.iter().any(|p| p == "data") {
            continue;
        }
        eprintln!("== {backend}: {} entries for verify and query", cfg.rows);
        let db = BenchDb::new(backend).await?;
        Store::open(config(&db.url, cfg.max_batch))
            .await?
            .close()
            .await;
        let entries = synthetic_chain(cfg.rows)?;
        // What `audit_verify` does per row once a page is read: encode and hash the stored
        // columns (the detail is stored as canonical text), check the links.
        let rows = accord_store::bench_support::StoredRows::from_entries(&entries)?;
        let t = Instant::now();
        let report = rows.verify();
        let verify_secs = t.elapsed().as_secs_f64();
        anyhow::ensure!(report.ok, "synthetic chain does not verify: {report:?}");
        drop(rows);
        // The offline path over exported entries (detail re-encoded from JSON values), all cores.
        let t = Instant::now();
        let report = accord_store::verify_entries(&entries);
        let export_secs = t.elapsed().as_secs_f64();
        anyhow::ensure!(report.ok, "synthetic export does not verify: {report:?}");
        let t = Instant::now();
        bulk_insert(&db, &entries).await?;
        let load_secs = t.elapsed().as_secs_f64();
        drop(entries);
        let store = Store::open(config(&db.url, cfg.max_batch)).await?;
        let t = Instant::now();
        let report = store.audit_verify().await?;
        let db_verify_secs = t.elapsed().as_secs_f64();
        anyhow::ensure!(
            report.ok && report.entries_checked == cfg.rows as u64,
            "bulk-loaded chain: {report:?}"
        );
        let q = queries(&store, cfg.queries, cfg.rows).await?;
        store.close().await;
        db.drop_db().await?;
        data_rows.push((
            backend.clone(),
            cfg.rows,
            cfg.rows as f64 / verify_secs,
            cfg.rows as f64 / export_secs,
            cfg.rows as f64 / db_verify_secs,
            load_secs,
            q,
        ));
    }

    println!(
        "\n### Appends (max_batch {}, {} store appends and {} reference appends per row)\n",
        cfg.max_batch, cfg.appends, cfg.naive_appends
    );
    println!("| backend | writers | store appends/s | p50 ms | p99 ms | naive 1 row/tx appends/s | p50 ms | p99 ms | store ÷ naive | plain INSERT/s | p50 ms | p99 ms | store ÷ plain |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (b, w, s, n, p) in &append_rows {
        let (pp, pr) = match p {
            Some(p) => (
                format!("{:.0} | {:.2} | {:.2}", p.per_sec, p.p50_ms, p.p99_ms),
                format!("{:.0}%", 100.0 * s.per_sec / p.per_sec),
            ),
            None => ("– | – | –".into(), "–".into()),
        };
        println!(
            "| {b} | {w} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.1}× | {pp} | {pr} |",
            s.per_sec,
            s.p50_ms,
            s.p99_ms,
            n.per_sec,
            n.p50_ms,
            n.p99_ms,
            s.per_sec / n.per_sec
        );
    }
    println!("\n### Verify and query\n");
    println!("| backend | entries | verify: hashing stored rows in memory, entries/s | verify_entries on an export (all cores), entries/s | audit_verify incl. reads, entries/s | bulk load s | query agency + 1 day p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (b, rows, v, ev, dv, load, q) in &data_rows {
        println!(
            "| {b} | {rows} | {v:.0} | {ev:.0} | {dv:.0} | {load:.1} | {:.2} | {:.2} |",
            q.p50_ms, q.p99_ms
        );
    }
    Ok(())
}

fn admin_event(i: usize) -> AdminEvent {
    AdminEvent {
        kind: accord_domain::AuditEventKind::SignatoryReaffirmed,
        protocol_id: "sandwell-isp".into(),
        agency_id: AgencyId::parse("west-midlands-police").ok(),
        detail: serde_json::json!({ "n": i, "note": "re-affirmed at the annual partnership meeting" }),
    }
}

fn admin_actor() -> Actor {
    Actor {
        agency: AgencyId::parse("partnership").ok(),
        subject: "admin-1".into(),
        roles: vec![Role::Admin],
    }
}

async fn store_appends(store: &Store, writers: usize, total: usize) -> Result<Measure> {
    let per = (total / writers).max(1);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per);
            for i in 0..per {
                let t = Instant::now();
                s.record_event(
                    admin_event(w * per + i),
                    admin_actor(),
                    OffsetDateTime::now_utc(),
                )
                .await?;
                lat.push(t.elapsed());
            }
            Ok::<_, accord_store::StoreError>(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    Ok(measure(lat, start.elapsed()))
}

/// Columns of the reference tables: the same shape as `audit_log`.
fn reference_ddl(table: &str, pg: bool, serial: bool) -> Vec<String> {
    let (int, blob, uuid) = if pg {
        ("BIGINT", "BYTEA", "UUID")
    } else {
        ("INTEGER", "BLOB", "BLOB")
    };
    let seq = if serial {
        "BIGSERIAL PRIMARY KEY".to_owned()
    } else {
        format!("{int} PRIMARY KEY")
    };
    vec![
        format!(
            "CREATE TABLE {table} (sequence {seq}, prev_hash {blob} NOT NULL, entry_hash {blob} NOT NULL, \
             occurred_at {int} NOT NULL, event_kind TEXT NOT NULL, exchange_id {uuid}, actor_agency TEXT, \
             actor_subject TEXT NOT NULL, actor_roles TEXT NOT NULL, requesting_agency TEXT, holding_agency TEXT, \
             purpose TEXT, state_from TEXT, state_to TEXT, subject_hashes TEXT NOT NULL, categories TEXT NOT NULL, \
             content_sha256 TEXT, content_size {int}, detail TEXT NOT NULL)"
        ),
        format!("CREATE INDEX {table}_t ON {table} (occurred_at, sequence)"),
        format!("CREATE INDEX {table}_r ON {table} (requesting_agency, occurred_at, sequence)"),
        format!("CREATE INDEX {table}_h ON {table} (holding_agency, occurred_at, sequence)"),
        format!("CREATE INDEX {table}_a ON {table} (actor_agency, occurred_at, sequence)"),
        format!("CREATE INDEX {table}_x ON {table} (exchange_id, sequence)"),
    ]
}

async fn create_reference_tables(db: &BenchDb) -> Result<()> {
    let mut ddl = reference_ddl("bench_naive", db.is_pg(), false);
    if db.is_pg() {
        ddl.extend(reference_ddl("bench_plain", true, true));
        let mut c = sqlx::PgConnection::connect(&db.url).await?;
        for s in ddl {
            c.execute(sqlx::AssertSqlSafe(s)).await?;
        }
    } else {
        let mut c = sqlx::SqliteConnection::connect(&db.url).await?;
        for s in ddl {
            c.execute(sqlx::AssertSqlSafe(s)).await?;
        }
    }
    Ok(())
}

const DETAIL: &str = r#"{"agency_id":"west-midlands-police","detail":{"n":1,"note":"re-affirmed at the annual partnership meeting"},"protocol_id":"sandwell-isp"}"#;

/// The naive way: every append is its own transaction that takes the chain lock, reads the
/// head, hashes and inserts one row, and commits (one fsync per append).
async fn naive_appends(db: &BenchDb, writers: usize, total: usize) -> Result<Measure> {
    let per = (total / writers).max(1);
    macro_rules! naive {
        ($pool:expr, $begin:expr, $lock:expr) => {{
            let pool = $pool;
            let start = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..writers {
                let pool = pool.clone();
                tasks.push(tokio::spawn(async move {
                    let mut lat = Vec::with_capacity(per);
                    for _ in 0..per {
                        let t = Instant::now();
                        let mut tx = pool.begin_with($begin).await?;
                        let lock: Option<&str> = $lock;
                        if let Some(l) = lock {
                            sqlx::query(l).execute(&mut *tx).await?;
                        }
                        let head: Option<(i64, Vec<u8>)> =
                            sqlx::query_as("SELECT sequence, entry_hash FROM bench_naive ORDER BY sequence DESC LIMIT 1")
                                .fetch_optional(&mut *tx)
                                .await?;
                        let (seq, prev) = head.unwrap_or((0, vec![0; 32]));
                        let hash = Sha256::new().chain_update(&prev).chain_update(DETAIL).finalize().to_vec();
                        sqlx::query(
                            "INSERT INTO bench_naive (sequence, prev_hash, entry_hash, occurred_at, event_kind, actor_agency, \
                             actor_subject, actor_roles, subject_hashes, categories, detail) \
                             VALUES ($1, $2, $3, $4, 'signatory_reaffirmed', 'partnership', 'admin-1', '[\"admin\"]', '[]', '[]', $5)",
                        )
                        .bind(seq + 1)
                        .bind(prev)
                        .bind(hash)
                        .bind(seq)
                        .bind(DETAIL)
                        .execute(&mut *tx)
                        .await?;
                        tx.commit().await?;
                        lat.push(t.elapsed());
                    }
                    Ok::<_, sqlx::Error>(lat)
                }));
            }
            let mut lat = Vec::new();
            for t in tasks {
                lat.extend(t.await??);
            }
            let elapsed = start.elapsed();
            pool.close().await;
            measure(lat, elapsed)
        }};
    }
    let conns = writers as u32;
    Ok(if db.is_pg() {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(conns)
            .connect(&db.url)
            .await?;
        naive!(pool, "BEGIN", Some("SELECT pg_advisory_xact_lock(42)"))
    } else {
        use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
        use std::str::FromStr;
        let opts = SqliteConnectOptions::from_str(&db.url)?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(60));
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(conns)
            .connect_with(opts)
            .await?;
        naive!(pool, "BEGIN IMMEDIATE", None)
    })
}

/// PostgreSQL's own ceiling for this row shape at this concurrency: autocommitted single-row
/// INSERTs, sequence from BIGSERIAL, no chain.
async fn plain_inserts(db: &BenchDb, writers: usize, total: usize) -> Result<Measure> {
    let per = (total / writers).max(1);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(writers as u32)
        .connect(&db.url)
        .await?;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per);
            for i in 0..per {
                let t = Instant::now();
                let hash = Sha256::digest(format!("{w}-{i}")).to_vec();
                sqlx::query(
                    "INSERT INTO bench_plain (prev_hash, entry_hash, occurred_at, event_kind, actor_agency, \
                     actor_subject, actor_roles, subject_hashes, categories, detail) \
                     VALUES ($1, $2, $3, 'signatory_reaffirmed', 'partnership', 'admin-1', '[\"admin\"]', '[]', '[]', $4)",
                )
                .bind(hash.clone())
                .bind(hash)
                .bind(i as i64)
                .bind(DETAIL)
                .execute(&pool)
                .await?;
                lat.push(t.elapsed());
            }
            Ok::<_, sqlx::Error>(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    let elapsed = start.elapsed();
    pool.close().await;
    Ok(measure(lat, elapsed))
}

const AGENCIES: usize = 20;
/// The synthetic log spans 30 days.
const SPAN_US: i64 = 30 * 24 * 3600 * 1_000_000;
const T0_US: i64 = 1_735_689_600_000_000; // 2025-01-01

fn agency(i: usize) -> AgencyId {
    AgencyId::parse(&format!("agency-{:02}", i % AGENCIES)).unwrap_or_else(|e| panic!("{e}"))
}

/// A valid chain of exchange-like entries: 20 agencies, a few event kinds, times spread
/// evenly over 30 days, keyed subject hashes, a detail of about 150 bytes.
fn synthetic_chain(n: usize) -> Result<Vec<AuditEntry>> {
    let kinds = [
        "submitted",
        "sent_for_approval",
        "approve",
        "respond",
        "fetch",
        "acknowledge",
    ];
    let purpose = PurposeId::parse("s47-enquiry")?;
    let cats = vec![
        CategoryId::parse("health")?,
        CategoryId::parse("education")?,
    ];
    let mut prev = "0".repeat(64);
    let mut out = Vec::with_capacity(n);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..n {
        // xorshift: deterministic, cheap pseudo-randomness for agency pairs.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let req = (x % AGENCIES as u64) as usize;
        let hold = (req + 1 + (x >> 8) as usize % (AGENCIES - 1)) % AGENCIES;
        let kind = kinds[i % kinds.len()];
        let actor = if kind == "submitted" || kind == "fetch" || kind == "acknowledge" {
            req
        } else {
            hold
        };
        let exchange = uuid::Uuid::from_u64_pair(0xACC0, (i / kinds.len()) as u64);
        let detail: serde_json::Value = serde_json::from_str(&format!(
            r#"{{"decision":null,"note":"entry {i} of the synthetic log","reasons":["proportionate","necessary"],"respond_by_us":{}}}"#,
            T0_US + i as i64
        ))?;
        let mut e = AuditEntry {
            sequence: i as u64 + 1,
            entry_hash: String::new(),
            prev_hash: prev,
            occurred_at: OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(T0_US + (i as i64) * (SPAN_US / n as i64)) * 1000,
            )?,
            event_kind: kind.into(),
            exchange_id: Some(exchange),
            actor_agency: Some(agency(actor)),
            actor_subject: format!("user-{actor}"),
            actor_roles: vec!["ig_lead".into()],
            requesting_agency: Some(agency(req)),
            holding_agency: Some(agency(hold)),
            purpose: Some(purpose.clone()),
            state_from: Some(ExchangeState::AwaitingApproval),
            state_to: Some(ExchangeState::Approved),
            subject_hashes: vec![hex::encode(Sha256::digest(format!(
                "child-{}",
                i / kinds.len()
            )))],
            categories: cats.clone(),
            content_sha256: None,
            content_size: None,
            detail,
        };
        e.entry_hash = accord_store::compute_entry_hash(&e)?;
        prev = e.entry_hash.clone();
        out.push(e);
    }
    Ok(out)
}

/// Multi-row INSERTs of 500 rows in one transaction, straight into `audit_log`.
async fn bulk_insert(db: &BenchDb, entries: &[AuditEntry]) -> Result<()> {
    macro_rules! load {
        ($conn:expr, $DB:ty) => {{
            let mut conn = $conn;
            let mut tx = conn.begin().await?;
            for chunk in entries.chunks(500) {
                let mut qb: QueryBuilder<$DB> = QueryBuilder::new(
                    "INSERT INTO audit_log (sequence, prev_hash, entry_hash, occurred_at, event_kind, exchange_id, \
                     actor_agency, actor_subject, actor_roles, requesting_agency, holding_agency, purpose, state_from, \
                     state_to, subject_hashes, categories, content_sha256, content_size, detail) ",
                );
                qb.push_values(chunk, |mut b, e| {
                    let us = (e.occurred_at.unix_timestamp_nanos() / 1000) as i64;
                    b.push_bind(e.sequence as i64)
                        .push_bind(hex::decode(&e.prev_hash).unwrap_or_default())
                        .push_bind(hex::decode(&e.entry_hash).unwrap_or_default())
                        .push_bind(us)
                        .push_bind(e.event_kind.clone())
                        .push_bind(e.exchange_id)
                        .push_bind(e.actor_agency.as_ref().map(|a| a.to_string()))
                        .push_bind(e.actor_subject.clone())
                        .push_bind(serde_json::to_string(&e.actor_roles).unwrap_or_default())
                        .push_bind(e.requesting_agency.as_ref().map(|a| a.to_string()))
                        .push_bind(e.holding_agency.as_ref().map(|a| a.to_string()))
                        .push_bind(e.purpose.as_ref().map(|a| a.to_string()))
                        .push_bind(e.state_from.map(|s| s.as_str()))
                        .push_bind(e.state_to.map(|s| s.as_str()))
                        .push_bind(serde_json::to_string(&e.subject_hashes).unwrap_or_default())
                        .push_bind(serde_json::to_string(&e.categories).unwrap_or_default())
                        .push_bind(e.content_sha256.clone())
                        .push_bind(e.content_size.map(|n| n as i64))
                        // The generated detail is already canonical (sorted keys, no spaces).
                        .push_bind(serde_json::to_string(&e.detail).unwrap_or_default());
                });
                qb.build().persistent(false).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }};
    }
    if db.is_pg() {
        load!(sqlx::PgConnection::connect(&db.url).await?, sqlx::Postgres);
        let mut c = sqlx::PgConnection::connect(&db.url).await?;
        c.execute("ANALYZE audit_log").await?;
    } else {
        load!(
            sqlx::SqliteConnection::connect(&db.url).await?,
            sqlx::Sqlite
        );
        let mut c = sqlx::SqliteConnection::connect(&db.url).await?;
        c.execute("ANALYZE").await?;
    }
    Ok(())
}

/// Auditor queries: one agency (as requester, holder or actor), a one-day window at a random
/// point of the 30 days, first page of 100.
async fn queries(store: &Store, n: usize, rows: usize) -> Result<Measure> {
    let mut x = 12345u64;
    let mut lat = Vec::with_capacity(n);
    let warmup = (n / 10).max(1);
    let start = Instant::now();
    for i in 0..n + warmup {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let day = (x % 29) as i64;
        let from = OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(T0_US + day * 86_400_000_000) * 1000,
        )?;
        let q = AuditQuery {
            agency: Some(agency((x >> 16) as usize)),
            from: Some(from),
            to: Some(from + time::Duration::days(1)),
            page_size: 100,
            ..AuditQuery::default()
        };
        let t = Instant::now();
        let page = store.audit_query(q).await?;
        let d = t.elapsed();
        anyhow::ensure!(
            rows < 10_000 || page.items.len() == 100,
            "query found only {} entries",
            page.items.len()
        );
        if i >= warmup {
            lat.push(d);
        }
    }
    Ok(measure(lat, start.elapsed()))
}
