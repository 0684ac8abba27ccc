//! Reading the audit log: filtered queries for auditors, ranges and the head by sequence,
//! the entries of given kinds since a sequence (for replicas following admin changes); and
//! recording an administrative change, which is an audit entry of its own.

use accord_domain::Actor;
use accord_domain::AuditEventKind;
use time::OffsetDateTime;

use crate::canonical::GENESIS;
use crate::db::{dispatch, AuditFilter};
use crate::open::wrong_output;
use crate::page_token::{page_size, Listing};
use crate::records::{corrupt, to_us, u64_of, AuditRecord, RawAudit};
use crate::writer::{Op, Output};
use crate::{AdminEvent, AuditEntry, AuditQuery, Page, Result, Store};

/// The end of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    /// The last entry's sequence; 0 when the log is empty.
    pub sequence: u64,
    /// The last entry's hash, lowercase hex; the genesis hash (64 zeros) when the log is
    /// empty, as the next entry's `prev_hash` will be.
    pub entry_hash: String,
}

impl Store {
    /// Appends an audit entry not about one exchange: a registry change (suspend, reinstate,
    /// re-affirm) or an auditor's read of the log.
    pub async fn record_event(
        &self,
        event: AdminEvent,
        actor: Actor,
        now: OffsetDateTime,
    ) -> Result<AuditEntry> {
        match self
            .call(Op::Admin {
                event,
                actor,
                now: to_us(now)?,
            })
            .await?
        {
            Output::Audit(r) => r.to_entry(),
            _ => Err(wrong_output()),
        }
    }

    /// Entries matching every set filter, ordered by (occurred_at, sequence). `from` is
    /// inclusive and `to` exclusive.
    pub async fn audit_query(&self, query: AuditQuery) -> Result<Page<AuditEntry>> {
        let limit = page_size(query.page_size, 100, 1000);
        let after = match &query.page_token {
            None => None,
            Some(t) => {
                let (at, seq) = Listing::Audit.decode::<i64>(t)?;
                Some((at, seq))
            }
        };
        let filter = AuditFilter {
            exchange_id: query.exchange_id,
            agency: query.agency.as_ref().map(|a| a.to_string()),
            subject_hash: query.subject_hash.clone(),
            purpose: query.purpose.as_ref().map(|p| p.to_string()),
            event_kind: query.event_kind.clone(),
            state_to: query.state_to.map(|s| s.as_str().to_owned()),
            from: query.from.map(to_us).transpose()?,
            to: query.to.map(to_us).transpose()?,
            after,
            limit: limit + 1,
        };
        let rows = dispatch!(&self.inner.db, audit_query(&filter))?;
        let more = rows.len() as i64 > limit;
        let mut items = Vec::with_capacity(rows.len());
        for r in rows.into_iter().take(limit as usize) {
            items.push(decode_audit(r)?.to_entry()?);
        }
        let next_page_token = match (more, items.last()) {
            (true, Some(e)) => Some(Listing::Audit.encode(to_us(e.occurred_at)?, e.sequence)),
            _ => None,
        };
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// Entries with `from <= sequence <= to` (inclusive), oldest first, at most `limit`.
    pub async fn audit_range(
        &self,
        from: u64,
        to: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        let from = i64::try_from(from).unwrap_or(i64::MAX);
        let to = to
            .map(|t| i64::try_from(t).unwrap_or(i64::MAX))
            .unwrap_or(i64::MAX);
        let rows = dispatch!(&self.inner.db, audit_range(from, to, i64::from(limit)))?;
        rows.into_iter()
            .map(|r| decode_audit(r)?.to_entry())
            .collect()
    }

    /// The last entry of the log, read by sequence (one index lookup).
    pub async fn audit_head(&self) -> Result<AuditHead> {
        match dispatch!(&self.inner.db, audit_head())? {
            None => Ok(AuditHead {
                sequence: 0,
                entry_hash: hex::encode(GENESIS),
            }),
            Some((sequence, hash)) => {
                if hash.len() != 32 {
                    return Err(corrupt("head hash"));
                }
                Ok(AuditHead {
                    sequence: u64_of(sequence, "head sequence")?,
                    entry_hash: hex::encode(hash),
                })
            }
        }
    }

    /// Entries after sequence `after` (exclusive) whose `event_kind` is one of `kinds` (any
    /// kind when empty), oldest first, at most `limit` (0: 100; at most 1000). Read in
    /// sequence order (the primary key), so a follower that remembers the last sequence it
    /// read reads only what is new; the kinds are filtered by the database.
    pub async fn events_since(
        &self,
        after: u64,
        kinds: &[AuditEventKind],
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        let kinds = kinds.as_slice();
        let limit = page_size(limit, 100, 1000);
        let rows = dispatch!(&self.inner.db, events_since(after, kinds, limit))?;
        rows.into_iter()
            .map(|r| decode_audit(r)?.to_entry())
            .collect()
    }
}

pub(crate) fn decode_audit(raw: RawAudit) -> Result<AuditRecord> {
    raw.decode().map_err(|e| corrupt(&e))
}
