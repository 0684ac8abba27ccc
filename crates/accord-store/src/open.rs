//! Opening the store (configuration checks, the connection pool, migrations, the group-commit
//! writer task), handing operations to the writer, and closing.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::{mpsc, oneshot, watch};

use crate::crypto::Keys;
use crate::db::{self, Db};
use crate::writer::{Job, Msg, Op, Output, Writer};
use crate::{Inner, Result, Store, StoreConfig, StoreError};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

fn config_err(what: impl Into<String>) -> StoreError {
    StoreError::Config(what.into())
}

/// The writer answered an operation with the result of another kind (a bug, not bad input).
pub(crate) fn wrong_output() -> StoreError {
    StoreError::Database("writer answered with the wrong kind of result".into())
}

impl Store {
    /// Opens (creating and migrating if needed) the database at `config.url` and starts the
    /// group-commit writer.
    pub async fn open(config: StoreConfig) -> Result<Store> {
        if config.max_batch == 0 {
            return Err(config_err("max_batch must be at least 1"));
        }
        if config.max_connections < 2 {
            // One connection for the writer's batch, at least one for reads.
            return Err(config_err("max_connections must be at least 2"));
        }
        let url = config.url.as_str();
        let db = if url.starts_with("sqlite:") {
            open_sqlite(url, config.max_connections).await?
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            open_postgres(url, config.max_connections).await?
        } else {
            return Err(config_err(
                "the store URL must start with sqlite: or postgres:",
            ));
        };

        let keys = Arc::new(Keys::new(
            config.audit_key,
            config.content_key,
            config.signing_key.clone(),
        ));
        let (inbox_tx, inbox_rx) = watch::channel(0u64);
        // Bounded so a flood of callers waits here instead of growing memory without limit.
        let (writer_tx, writer_rx) = mpsc::channel(config.max_batch.saturating_mul(4).max(64));
        let writer = Writer {
            db: db.clone(),
            keys: keys.clone(),
            max_batch: config.max_batch,
            checkpoint_every: config.checkpoint_every,
            inbox_tx,
        };
        let handle = tokio::spawn(writer.run(writer_rx));
        let store = Store {
            inner: Arc::new(Inner {
                db,
                keys,
                writer_tx,
                inbox_rx,
                writer: Mutex::new(Some(handle)),
            }),
        };
        // Rows written before the decision record existed get theirs now, through the
        // writer, so this is serialised with every other write of every replica.
        if let Err(e) = store.upgrade_records().await {
            store.close().await;
            return Err(e);
        }
        Ok(store)
    }

    /// Hands `op` to the writer and waits until the batch holding it is committed.
    pub(crate) async fn call(&self, op: Op) -> Result<Output> {
        let (reply, rx) = oneshot::channel();
        self.inner
            .writer_tx
            .send(Msg::Job(Job { op, reply }))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Stops the writer after committing what it holds.
    pub async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self.inner.writer_tx.send(Msg::Close(done)).await.is_ok() {
            let _ = wait.await;
        }
        let handle = match self.inner.writer.lock() {
            Ok(mut h) => h.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(h) = handle {
            let _ = h.await;
        }
        match &self.inner.db {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }
}

async fn open_sqlite(url: &str, max_connections: u32) -> Result<Db> {
    let opts = SqliteConnectOptions::from_str(url)
        .map_err(|_| {
            config_err("the SQLite URL does not parse (expected sqlite://path/to/accord.db)")
        })?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a commit is acknowledged only once it is on disk, also in WAL mode.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(30))
        .foreign_keys(true);
    // A fresh machine may not have the data directory yet.
    if let Some(dir) = opts.get_filename().parent() {
        if !dir.as_os_str().is_empty() && !opts.get_filename().starts_with(":memory:") {
            std::fs::create_dir_all(dir)
                .map_err(|e| config_err(format!("cannot create {}: {e}", dir.display())))?;
        }
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections)
        .connect_with(opts)
        .await
        .map_err(db::db_err)?;
    SQLITE_MIGRATIONS
        .run(&pool)
        .await
        .map_err(|e| StoreError::Database(format!("migration: {e}")))?;
    Ok(Db::Sqlite(pool))
}

async fn open_postgres(url: &str, max_connections: u32) -> Result<Db> {
    let opts = PgConnectOptions::from_str(url).map_err(|_| {
        config_err("the PostgreSQL URL does not parse (expected postgres://user@host/db)")
    })?;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .connect_with(opts)
        .await
        .map_err(db::db_err)?;
    // sqlx takes an advisory lock while migrating, so replicas starting together do not race.
    POSTGRES_MIGRATIONS
        .run(&pool)
        .await
        .map_err(|e| StoreError::Database(format!("migration: {e}")))?;
    Ok(Db::Postgres(pool))
}
