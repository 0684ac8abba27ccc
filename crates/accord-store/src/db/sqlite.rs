//! The SQLite backend: the shared queries (`backend!`), how a batch starts, and bulk inserts.

use sqlx::sqlite::SqlitePool;

// BEGIN IMMEDIATE takes the database's write lock at once, so a batch never upgrades from a
// stale read snapshot (SQLITE_BUSY_SNAPSHOT) when another process writes.
super::backend!(sqlx::Sqlite, SqlitePool, begin = "BEGIN IMMEDIATE");

/// Multi-row VALUES inserts: preparing a statement is local and cheap in SQLite.
mod bulk {
    use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

    use crate::db::{db_err, INSERT_CHUNK};
    use crate::records::{AuditRecord, InboxDraft};
    use crate::Result;

    pub(crate) async fn insert_audit(
        conn: &mut SqliteConnection,
        rows: &[AuditRecord],
    ) -> Result<()> {
        for chunk in rows.chunks(INSERT_CHUNK) {
            let mut lists = Vec::with_capacity(chunk.len());
            for r in chunk {
                lists.push(r.list_columns()?);
            }
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO audit_log (sequence, prev_hash, entry_hash, occurred_at, event_kind, \
                 exchange_id, actor_agency, actor_subject, actor_roles, requesting_agency, \
                 holding_agency, purpose, state_from, state_to, subject_hashes, categories, \
                 content_sha256, content_size, detail) ",
            );
            let mut err = None;
            qb.push_values(
                chunk.iter().zip(lists),
                |mut b, (r, (roles, subjects, cats))| {
                    let f = &r.fields;
                    let seq = crate::records::i64_of(r.sequence);
                    let size = f.content_size.map(crate::records::i64_of).transpose();
                    let (seq, size) = match (seq, size) {
                        (Ok(s), Ok(z)) => (s, z),
                        (Err(e), _) | (_, Err(e)) => {
                            err = Some(e);
                            (0, None)
                        }
                    };
                    b.push_bind(seq)
                        .push_bind(r.prev_hash.to_vec())
                        .push_bind(r.entry_hash.to_vec())
                        .push_bind(f.occurred_at_us)
                        .push_bind(f.event_kind.clone())
                        .push_bind(f.exchange_id)
                        .push_bind(f.actor_agency.clone())
                        .push_bind(f.actor_subject.clone())
                        .push_bind(roles)
                        .push_bind(f.requesting_agency.clone())
                        .push_bind(f.holding_agency.clone())
                        .push_bind(f.purpose.clone())
                        .push_bind(f.state_from.clone())
                        .push_bind(f.state_to.clone())
                        .push_bind(subjects)
                        .push_bind(cats)
                        .push_bind(f.content_sha256.clone())
                        .push_bind(size)
                        .push_bind(f.detail.clone());
                },
            );
            if let Some(e) = err {
                return Err(e);
            }
            qb.build()
                .persistent(false)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    pub(crate) async fn insert_inbox(
        conn: &mut SqliteConnection,
        rows: &[(i64, InboxDraft)],
    ) -> Result<()> {
        for chunk in rows.chunks(INSERT_CHUNK) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO inbox_events (cursor, agency, exchange_id, kind, state, occurred_at, summary) ",
            );
            qb.push_values(chunk, |mut b, (cursor, d)| {
                b.push_bind(*cursor)
                    .push_bind(d.agency.to_string())
                    .push_bind(d.exchange_id)
                    .push_bind(crate::records::kind_str(d.kind))
                    .push_bind(d.state.as_str())
                    .push_bind(d.occurred_at)
                    .push_bind(d.summary.clone());
            });
            qb.build()
                .persistent(false)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }
}
