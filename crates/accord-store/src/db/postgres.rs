//! The PostgreSQL backend: the shared queries (`backend!`), how a batch starts (the chain
//! lock), and bulk inserts.

use sqlx::postgres::PgPool;

/// Key of the PostgreSQL advisory lock that serialises audit-chain extension across every
/// process sharing the database ("ACCORDAU" in ASCII). Taken per batch, not per write, by
/// [`PG_BEGIN`], which spells it out because a `const` string cannot be formatted (the test
/// below checks that they agree).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const CHAIN_LOCK_KEY: i64 = 0x4143_434F_5244_4155;

/// Starts a PostgreSQL batch: BEGIN and the chain lock in one round trip (sqlx sends a custom
/// BEGIN as a simple query, which may hold several statements). Under READ COMMITTED the head
/// is then read by the next statement, whose snapshot is taken after the lock is held.
pub(crate) const PG_BEGIN: &str = "BEGIN; SELECT pg_advisory_xact_lock(4702676443866612053)";

// A transaction-scoped advisory lock serialises chain extension across every replica, per
// batch; it is released by COMMIT or ROLLBACK, and no row is locked.
super::backend!(sqlx::Postgres, PgPool, begin = PG_BEGIN);

/// PostgreSQL bulk inserts: one fixed statement per table taking one array per column.
/// Prepared once per connection and cached; a multi-row VALUES statement is different for
/// every batch size, and PostgreSQL parses and plans its 19 × N parameters every time (about
/// 70 µs per row measured here, against a few µs with arrays).
mod bulk {
    use sqlx::PgConnection;

    use crate::db::db_err;
    use crate::records::{i64_of, AuditRecord, InboxDraft};
    use crate::Result;

    pub(crate) async fn insert_audit(conn: &mut PgConnection, rows: &[AuditRecord]) -> Result<()> {
        let n = rows.len();
        let mut seq = Vec::with_capacity(n);
        let mut prev = Vec::with_capacity(n);
        let mut hash = Vec::with_capacity(n);
        let mut at = Vec::with_capacity(n);
        let mut kind = Vec::with_capacity(n);
        let mut xid = Vec::with_capacity(n);
        let mut actor_agency = Vec::with_capacity(n);
        let mut actor_subject = Vec::with_capacity(n);
        let mut roles = Vec::with_capacity(n);
        let mut req = Vec::with_capacity(n);
        let mut hold = Vec::with_capacity(n);
        let mut purpose = Vec::with_capacity(n);
        let mut from = Vec::with_capacity(n);
        let mut to = Vec::with_capacity(n);
        let mut subjects = Vec::with_capacity(n);
        let mut cats = Vec::with_capacity(n);
        let mut sha = Vec::with_capacity(n);
        let mut size = Vec::with_capacity(n);
        let mut detail = Vec::with_capacity(n);
        for r in rows {
            let f = &r.fields;
            let (ro, su, ca) = r.list_columns()?;
            seq.push(i64_of(r.sequence)?);
            prev.push(r.prev_hash.to_vec());
            hash.push(r.entry_hash.to_vec());
            at.push(f.occurred_at_us);
            kind.push(f.event_kind.clone());
            xid.push(f.exchange_id);
            actor_agency.push(f.actor_agency.clone());
            actor_subject.push(f.actor_subject.clone());
            roles.push(ro);
            req.push(f.requesting_agency.clone());
            hold.push(f.holding_agency.clone());
            purpose.push(f.purpose.clone());
            from.push(f.state_from.clone());
            to.push(f.state_to.clone());
            subjects.push(su);
            cats.push(ca);
            sha.push(f.content_sha256.clone());
            size.push(f.content_size.map(i64_of).transpose()?);
            detail.push(f.detail.clone());
        }
        sqlx::query(
            "INSERT INTO audit_log (sequence, prev_hash, entry_hash, occurred_at, event_kind, exchange_id, \
             actor_agency, actor_subject, actor_roles, requesting_agency, holding_agency, purpose, state_from, \
             state_to, subject_hashes, categories, content_sha256, content_size, detail) \
             SELECT * FROM UNNEST($1::bigint[], $2::bytea[], $3::bytea[], $4::bigint[], $5::text[], $6::uuid[], \
             $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], \
             $15::text[], $16::text[], $17::text[], $18::bigint[], $19::text[])",
        )
        .bind(seq)
        .bind(prev)
        .bind(hash)
        .bind(at)
        .bind(kind)
        .bind(xid)
        .bind(actor_agency)
        .bind(actor_subject)
        .bind(roles)
        .bind(req)
        .bind(hold)
        .bind(purpose)
        .bind(from)
        .bind(to)
        .bind(subjects)
        .bind(cats)
        .bind(sha)
        .bind(size)
        .bind(detail)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn insert_inbox(
        conn: &mut PgConnection,
        rows: &[(i64, InboxDraft)],
    ) -> Result<()> {
        let mut cursor = Vec::with_capacity(rows.len());
        let mut agency = Vec::with_capacity(rows.len());
        let mut xid = Vec::with_capacity(rows.len());
        let mut kind = Vec::with_capacity(rows.len());
        let mut state = Vec::with_capacity(rows.len());
        let mut at = Vec::with_capacity(rows.len());
        let mut summary = Vec::with_capacity(rows.len());
        for (c, d) in rows {
            cursor.push(*c);
            agency.push(d.agency.to_string());
            xid.push(d.exchange_id);
            kind.push(crate::records::kind_str(d.kind));
            state.push(d.state.as_str());
            at.push(d.occurred_at);
            summary.push(d.summary.clone());
        }
        sqlx::query(
            "INSERT INTO inbox_events (cursor, agency, exchange_id, kind, state, occurred_at, summary) \
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::bigint[], $7::text[])",
        )
        .bind(cursor)
        .bind(agency)
        .bind(xid)
        .bind(kind)
        .bind(state)
        .bind(at)
        .bind(summary)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pg_begin_takes_the_chain_lock() {
        assert!(
            super::PG_BEGIN.ends_with(&format!("pg_advisory_xact_lock({})", super::CHAIN_LOCK_KEY))
        );
    }
}
