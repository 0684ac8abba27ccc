//! Rows as the store reads and writes them, and their conversion to the public types.
//!
//! The database layer (`db/`) only moves primitive columns; everything that parses or
//! serialises lives here, once for both backends.

use accord_domain::{
    AgencyId, Assessment, CategoryId, Conditions, Decision, ExchangeState, LevelOfNeed, PurposeId,
    Request, RequestReasons, Urgency,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::canonical::EntryFields;
use crate::crypto::{Blob, Keys};
use crate::{
    AuditEntry, Exchange, ExchangeSummary, InboxEvent, InboxEventKind, ResponseMeta, Result,
    StoreError,
};

/// Unix microseconds (UTC). The store keeps instants at PostgreSQL's resolution on both
/// backends, so what is hashed and returned is exactly what was stored.
pub(crate) fn to_us(t: OffsetDateTime) -> Result<i64> {
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1000)).map_err(|_| StoreError::InvalidInput {
        field: "instant",
        reason: format!("out of range: {t}"),
    })
}

pub(crate) fn from_us(us: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .map_err(|_| corrupt("instant out of range"))
}

pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Database(format!("stored data does not decode: {what}"))
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Database(format!("serialise: {e}")))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(s: &str, what: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|_| corrupt(what))
}

pub(crate) fn parse_state(s: &str) -> Result<ExchangeState> {
    ExchangeState::parse(s).ok_or_else(|| corrupt("state"))
}

pub(crate) fn parse_agency(s: &str) -> Result<AgencyId> {
    AgencyId::parse(s).map_err(|_| corrupt("agency id"))
}

pub(crate) fn parse_purpose(s: &str) -> Result<PurposeId> {
    PurposeId::parse(s).map_err(|_| corrupt("purpose id"))
}

/// A stored level of need; NULL (an exchange recorded before the column, with no audit entry
/// to backfill it from) is `None`.
pub(crate) fn parse_level(s: Option<&str>) -> Result<Option<LevelOfNeed>> {
    s.map(|s| LevelOfNeed::parse(s).ok_or_else(|| corrupt("level of need")))
        .transpose()
}

pub(crate) fn u64_of(v: i64, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| corrupt(what))
}

pub(crate) fn i64_of(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::InvalidInput {
        field: "number",
        reason: format!("out of range: {v}"),
    })
}

/// The categories an earlier exchange concerned, for the repeat-sharing rule
/// (`PriorExchange::categories`), from its stored columns and never its encrypted request:
/// the approved scope once one was approved (what the holder agreed to share, narrower and
/// more precise than what was asked for); otherwise the categories requested, which the
/// assessment records as its proposed scope followed by the trimmed categories (every
/// requested category once; on a refusal only the trimmed ones, but a refused exchange is
/// never a repeat).
pub(crate) fn prior_categories(assessment: &str, approved_scope: &str) -> Result<Vec<CategoryId>> {
    let approved: Vec<CategoryId> = from_json(approved_scope, "approved scope")?;
    if !approved.is_empty() {
        return Ok(approved);
    }
    /// The two fields of the stored assessment needed here; the rest is not parsed.
    #[derive(serde::Deserialize)]
    struct Requested {
        proposed_scope: Vec<CategoryId>,
        trimmed: Vec<CategoryId>,
    }
    let a: Requested = from_json(assessment, "assessment")?;
    let mut out = a.proposed_scope;
    for c in a.trimmed {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

/// The `exchanges` row (joined with its `responses` row, without content) as primitives.
#[derive(Debug, Clone)]
pub(crate) struct RawExchange {
    pub id: Uuid,
    pub state: String,
    pub version: i64,
    pub idempotency_key: String,
    pub requesting_agency: String,
    pub holding_agency: String,
    pub purpose: String,
    pub urgency: String,
    pub level_of_need: Option<String>,
    pub respond_by: i64,
    pub overdue: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub first_decision_at: Option<i64>,
    pub request_ct: Option<Vec<u8>>,
    pub subject_hashes: String,
    pub assessment: String,
    /// Plain JSON in a row written before migration 0006 and not rewritten since; `''` once
    /// the decisions are in `decisions_ct`.
    pub decisions: String,
    pub approved_scope: String,
    pub conditions: String,
    pub decisions_ct: Option<Vec<u8>>,
    pub reasons_ct: Option<Vec<u8>>,
    pub record_retain_until: Option<i64>,
    pub response: Option<RawResponse>,
}

#[derive(Debug, Clone)]
pub(crate) struct RawResponse {
    pub submitted_at: i64,
    pub submitted_by: String,
    pub content_sha256: String,
    pub content_size: i64,
    pub categories: String,
    pub retain_until: i64,
    pub purged: bool,
}

/// An exchange decoded for the writer's logic.
#[derive(Debug, Clone)]
pub(crate) struct ExchangeRec {
    pub id: Uuid,
    pub state: ExchangeState,
    pub version: u64,
    pub idempotency_key: String,
    pub requesting_agency: AgencyId,
    pub holding_agency: AgencyId,
    pub purpose: PurposeId,
    pub urgency: Urgency,
    pub level_of_need: Option<LevelOfNeed>,
    pub respond_by: i64,
    pub overdue: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub first_decision_at: Option<i64>,
    pub request_ct: Option<Vec<u8>>,
    pub subject_hashes: Vec<String>,
    pub assessment: Assessment,
    pub decisions: Vec<Decision>,
    pub approved_scope: Vec<CategoryId>,
    pub conditions: Conditions,
    pub response: Option<ResponseRec>,
    /// The decision record's reasons, encrypted (they never change; decrypted only for the
    /// public view).
    pub reasons_ct: Option<Vec<u8>>,
    /// `None` only for a row written before migration 0006 that the store has not upgraded
    /// yet.
    pub record_retain_until: Option<i64>,
    /// The decision record was purged: no reasons, and `decisions` holds only what was
    /// decided after the purge (nothing, normally).
    pub record_purged: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct ResponseRec {
    pub submitted_at: i64,
    pub submitted_by: String,
    pub content_sha256: String,
    pub content_size: u64,
    pub categories: Vec<CategoryId>,
    pub retain_until: i64,
    pub purged: bool,
}

/// The decisions of a row in either stored form: encrypted (`decisions_ct`), or the plain
/// JSON of a row written before migration 0006 and not rewritten or upgraded since; `''` with
/// no ciphertext is none (the record was purged).
fn decode_decisions(
    keys: &Keys,
    id: Uuid,
    ct: Option<&[u8]>,
    plain: &str,
) -> Result<Vec<Decision>> {
    match ct {
        Some(ct) => {
            let json = keys.decrypt(id, Blob::Decisions, ct)?;
            serde_json::from_slice(&json).map_err(|_| corrupt("decisions"))
        }
        None if plain.is_empty() => Ok(Vec::new()),
        None => from_json(plain, "decisions"),
    }
}

impl RawExchange {
    pub(crate) fn decode(self, keys: &Keys) -> Result<ExchangeRec> {
        let decisions =
            decode_decisions(keys, self.id, self.decisions_ct.as_deref(), &self.decisions)?;
        let record_purged = self.record_retain_until.is_some() && self.decisions_ct.is_none();
        let response = match self.response {
            None => None,
            Some(r) => Some(ResponseRec {
                submitted_at: r.submitted_at,
                submitted_by: r.submitted_by,
                content_sha256: r.content_sha256,
                content_size: u64_of(r.content_size, "content size")?,
                categories: from_json(&r.categories, "response categories")?,
                retain_until: r.retain_until,
                purged: r.purged,
            }),
        };
        Ok(ExchangeRec {
            id: self.id,
            state: parse_state(&self.state)?,
            version: u64_of(self.version, "version")?,
            idempotency_key: self.idempotency_key,
            requesting_agency: parse_agency(&self.requesting_agency)?,
            holding_agency: parse_agency(&self.holding_agency)?,
            purpose: parse_purpose(&self.purpose)?,
            urgency: Urgency::parse(&self.urgency).ok_or_else(|| corrupt("urgency"))?,
            level_of_need: parse_level(self.level_of_need.as_deref())?,
            respond_by: self.respond_by,
            overdue: self.overdue,
            created_at: self.created_at,
            updated_at: self.updated_at,
            first_decision_at: self.first_decision_at,
            request_ct: self.request_ct,
            subject_hashes: from_json(&self.subject_hashes, "subject hashes")?,
            assessment: from_json(&self.assessment, "assessment")?,
            decisions,
            approved_scope: from_json(&self.approved_scope, "approved scope")?,
            conditions: from_json(&self.conditions, "conditions")?,
            response,
            reasons_ct: self.reasons_ct,
            record_retain_until: self.record_retain_until,
            record_purged,
        })
    }
}

/// The mutable columns of an exchange, serialised for an UPDATE or INSERT.
#[derive(Debug, Clone)]
pub(crate) struct ExchangeWrite {
    pub id: Uuid,
    pub state: &'static str,
    pub version: i64,
    pub idempotency_key: String,
    pub requesting_agency: String,
    pub holding_agency: String,
    pub purpose: String,
    pub urgency: &'static str,
    /// Written by the INSERT only: it never changes.
    pub level_of_need: Option<&'static str>,
    pub respond_by: i64,
    pub overdue: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub first_decision_at: Option<i64>,
    pub request_ct: Option<Vec<u8>>,
    pub subject_hashes: String,
    pub assessment: String,
    /// Always `''`: the decisions are in `decisions_ct`.
    pub decisions: &'static str,
    pub approved_scope: String,
    pub conditions: String,
    /// The decisions, encrypted; `None` once the record was purged (and nothing was decided
    /// since).
    pub decisions_ct: Option<Vec<u8>>,
    /// Written by the INSERT only; the record purge clears it.
    pub reasons_ct: Option<Vec<u8>>,
    /// Written by the INSERT only.
    pub record_retain_until: Option<i64>,
}

impl ExchangeRec {
    /// The decisions as `decisions_ct` holds them.
    pub(crate) fn decisions_ct(&self, keys: &Keys) -> Result<Option<Vec<u8>>> {
        if self.record_purged && self.decisions.is_empty() {
            return Ok(None);
        }
        let json = to_json(&self.decisions)?;
        keys.encrypt(self.id, Blob::Decisions, json.as_bytes())
            .map(Some)
    }

    /// The row to write. Every write stores the decisions encrypted, so a row still in the
    /// plain form of before migration 0006 leaves it at its first change.
    pub(crate) fn to_write(&self, keys: &Keys) -> Result<ExchangeWrite> {
        Ok(ExchangeWrite {
            id: self.id,
            state: self.state.as_str(),
            version: i64_of(self.version)?,
            idempotency_key: self.idempotency_key.clone(),
            requesting_agency: self.requesting_agency.to_string(),
            holding_agency: self.holding_agency.to_string(),
            purpose: self.purpose.to_string(),
            urgency: self.urgency.as_str(),
            level_of_need: self.level_of_need.map(LevelOfNeed::as_str),
            respond_by: self.respond_by,
            overdue: self.overdue,
            created_at: self.created_at,
            updated_at: self.updated_at,
            first_decision_at: self.first_decision_at,
            request_ct: self.request_ct.clone(),
            subject_hashes: to_json(&self.subject_hashes)?,
            assessment: to_json(&self.assessment)?,
            decisions: "",
            approved_scope: to_json(&self.approved_scope)?,
            conditions: to_json(&self.conditions)?,
            decisions_ct: self.decisions_ct(keys)?,
            reasons_ct: self.reasons_ct.clone(),
            record_retain_until: self.record_retain_until,
        })
    }

    /// The decision record's reasons, decrypted.
    pub(crate) fn reasons(&self, keys: &Keys) -> Result<Option<RequestReasons>> {
        let Some(ct) = &self.reasons_ct else {
            return Ok(None);
        };
        let plain = keys.decrypt(self.id, Blob::Reasons, ct)?;
        serde_json::from_slice(&plain)
            .map(Some)
            .map_err(|_| corrupt("reasons"))
    }

    /// The public view: the aggregate's, with the request and the decision record's reasons
    /// decrypted (when not purged).
    pub(crate) fn to_exchange(&self, keys: &Keys) -> Result<Exchange> {
        let mut x = self.aggregate()?;
        if let Some(ct) = &self.request_ct {
            let plain = keys.decrypt(self.id, Blob::Request, ct)?;
            let req: Request = serde_json::from_slice(&plain).map_err(|_| corrupt("request"))?;
            x.request = Some(req);
        }
        x.reasons = self.reasons(keys)?;
        Ok(x)
    }

    /// The exchange as the aggregate's rules see it: everything but the request and the
    /// reasons, which they never need (so the writer decrypts neither).
    pub(crate) fn aggregate(&self) -> Result<Exchange> {
        let response = match &self.response {
            None => None,
            Some(r) => Some(ResponseMeta {
                submitted_at: from_us(r.submitted_at)?,
                submitted_by: r.submitted_by.clone(),
                content_sha256: r.content_sha256.clone(),
                content_size: r.content_size,
                categories: r.categories.clone(),
                retain_until: from_us(r.retain_until)?,
                purged: r.purged,
            }),
        };
        Ok(Exchange {
            id: self.id,
            state: self.state,
            version: self.version,
            idempotency_key: self.idempotency_key.clone(),
            request: None,
            requesting_agency: self.requesting_agency.clone(),
            holding_agency: self.holding_agency.clone(),
            purpose: self.purpose.clone(),
            urgency: self.urgency,
            level_of_need: self.level_of_need,
            assessment: self.assessment.clone(),
            decisions: self.decisions.clone(),
            approved_scope: self.approved_scope.clone(),
            conditions: self.conditions.clone(),
            respond_by: from_us(self.respond_by)?,
            overdue: self.overdue,
            first_decision_at: self.first_decision_at.map(from_us).transpose()?,
            response,
            reasons: None,
            record_retain_until: self.record_retain_until.map(from_us).transpose()?,
            record_purged: self.record_purged,
            created_at: from_us(self.created_at)?,
            updated_at: from_us(self.updated_at)?,
        })
    }

    /// Takes over what the aggregate changed. The parties, purpose, request, subjects and
    /// assessment never change after submission, so they are not copied back.
    pub(crate) fn absorb(&mut self, x: Exchange) -> Result<()> {
        self.state = x.state;
        self.version = x.version;
        self.overdue = x.overdue;
        self.updated_at = to_us(x.updated_at)?;
        self.first_decision_at = x.first_decision_at.map(to_us).transpose()?;
        self.decisions = x.decisions;
        self.approved_scope = x.approved_scope;
        self.conditions = x.conditions;
        self.response = match x.response {
            None => None,
            Some(r) => Some(ResponseRec {
                submitted_at: to_us(r.submitted_at)?,
                submitted_by: r.submitted_by,
                content_sha256: r.content_sha256,
                content_size: r.content_size,
                categories: r.categories,
                retain_until: to_us(r.retain_until)?,
                purged: r.purged,
            }),
        };
        Ok(())
    }
}

/// A listing row as primitives.
#[derive(Debug, Clone)]
pub(crate) struct RawSummary {
    pub id: Uuid,
    pub state: String,
    pub version: i64,
    pub requesting_agency: String,
    pub holding_agency: String,
    pub purpose: String,
    pub urgency: String,
    pub level_of_need: Option<String>,
    pub respond_by: i64,
    pub overdue: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl RawSummary {
    pub(crate) fn decode(self) -> Result<ExchangeSummary> {
        Ok(ExchangeSummary {
            id: self.id,
            state: parse_state(&self.state)?,
            version: u64_of(self.version, "version")?,
            requesting_agency: parse_agency(&self.requesting_agency)?,
            holding_agency: parse_agency(&self.holding_agency)?,
            purpose: parse_purpose(&self.purpose)?,
            urgency: Urgency::parse(&self.urgency).ok_or_else(|| corrupt("urgency"))?,
            level_of_need: parse_level(self.level_of_need.as_deref())?,
            respond_by: from_us(self.respond_by)?,
            overdue: self.overdue,
            created_at: from_us(self.created_at)?,
            updated_at: from_us(self.updated_at)?,
        })
    }
}

/// An audit row as stored.
#[derive(Debug, Clone)]
pub(crate) struct AuditRecord {
    pub sequence: u64,
    pub prev_hash: [u8; 32],
    pub entry_hash: [u8; 32],
    pub fields: EntryFields,
}

/// An audit row as primitives, before the lists are parsed.
#[derive(Debug, Clone)]
pub(crate) struct RawAudit {
    pub sequence: i64,
    pub prev_hash: Vec<u8>,
    pub entry_hash: Vec<u8>,
    pub occurred_at: i64,
    pub event_kind: String,
    pub exchange_id: Option<Uuid>,
    pub actor_agency: Option<String>,
    pub actor_subject: String,
    pub actor_roles: String,
    pub requesting_agency: Option<String>,
    pub holding_agency: Option<String>,
    pub purpose: Option<String>,
    pub state_from: Option<String>,
    pub state_to: Option<String>,
    pub subject_hashes: String,
    pub categories: String,
    pub content_sha256: Option<String>,
    pub content_size: Option<i64>,
    pub detail: String,
}

fn hash32(v: &[u8], what: &str) -> Result<[u8; 32]> {
    <[u8; 32]>::try_from(v).map_err(|_| corrupt(what))
}

impl RawAudit {
    /// Decodes the columns the hash covers. Fails only when a column cannot be read at all
    /// (the verifier reports that as a bad entry, not as a database fault).
    pub(crate) fn decode(self) -> std::result::Result<AuditRecord, String> {
        let list = |s: &str, what: &str| -> std::result::Result<Vec<String>, String> {
            serde_json::from_str(s).map_err(|_| format!("{what} is not a JSON list of strings"))
        };
        Ok(AuditRecord {
            sequence: u64::try_from(self.sequence).map_err(|_| "negative sequence".to_string())?,
            prev_hash: <[u8; 32]>::try_from(self.prev_hash.as_slice())
                .map_err(|_| "prev_hash is not 32 bytes".to_string())?,
            entry_hash: <[u8; 32]>::try_from(self.entry_hash.as_slice())
                .map_err(|_| "entry_hash is not 32 bytes".to_string())?,
            fields: EntryFields {
                occurred_at_us: self.occurred_at,
                event_kind: self.event_kind,
                exchange_id: self.exchange_id,
                actor_agency: self.actor_agency,
                actor_subject: self.actor_subject,
                actor_roles: list(&self.actor_roles, "actor_roles")?,
                requesting_agency: self.requesting_agency,
                holding_agency: self.holding_agency,
                purpose: self.purpose,
                state_from: self.state_from,
                state_to: self.state_to,
                subject_hashes: list(&self.subject_hashes, "subject_hashes")?,
                categories: list(&self.categories, "categories")?,
                content_sha256: self.content_sha256,
                content_size: match self.content_size {
                    None => None,
                    Some(n) => {
                        Some(u64::try_from(n).map_err(|_| "negative content_size".to_string())?)
                    }
                },
                detail: self.detail,
            },
        })
    }
}

impl AuditRecord {
    pub(crate) fn to_entry(&self) -> Result<AuditEntry> {
        let f = &self.fields;
        let opt_agency = |s: &Option<String>| s.as_deref().map(parse_agency).transpose();
        let opt_state = |s: &Option<String>| s.as_deref().map(parse_state).transpose();
        Ok(AuditEntry {
            sequence: self.sequence,
            entry_hash: hex::encode(self.entry_hash),
            prev_hash: hex::encode(self.prev_hash),
            occurred_at: from_us(f.occurred_at_us)?,
            event_kind: f.event_kind.clone(),
            exchange_id: f.exchange_id,
            actor_agency: opt_agency(&f.actor_agency)?,
            actor_subject: f.actor_subject.clone(),
            actor_roles: f.actor_roles.clone(),
            requesting_agency: opt_agency(&f.requesting_agency)?,
            holding_agency: opt_agency(&f.holding_agency)?,
            purpose: f.purpose.as_deref().map(parse_purpose).transpose()?,
            state_from: opt_state(&f.state_from)?,
            state_to: opt_state(&f.state_to)?,
            subject_hashes: f.subject_hashes.clone(),
            categories: f
                .categories
                .iter()
                .map(|c| CategoryId::parse(c).map_err(|_| corrupt("category id")))
                .collect::<Result<_>>()?,
            content_sha256: f.content_sha256.clone(),
            content_size: f.content_size,
            detail: serde_json::from_str(&f.detail).map_err(|_| corrupt("audit detail"))?,
        })
    }

    /// The list columns as stored (JSON text).
    pub(crate) fn list_columns(&self) -> Result<(String, String, String)> {
        Ok((
            to_json(&self.fields.actor_roles)?,
            to_json(&self.fields.subject_hashes)?,
            to_json(&self.fields.categories)?,
        ))
    }
}

/// A checkpoint row as stored.
#[derive(Debug, Clone)]
pub(crate) struct RawCheckpoint {
    pub sequence: i64,
    pub head_hash: Vec<u8>,
    pub signature: Vec<u8>,
    pub key_id: String,
}

impl RawCheckpoint {
    pub(crate) fn head(&self) -> Result<[u8; 32]> {
        hash32(&self.head_hash, "checkpoint head hash")
    }
}

/// An inbox row as primitives.
#[derive(Debug, Clone)]
pub(crate) struct RawInbox {
    pub cursor: i64,
    pub agency: String,
    pub exchange_id: Uuid,
    pub kind: String,
    pub state: String,
    pub occurred_at: i64,
    pub summary: String,
}

pub(crate) fn kind_str(k: InboxEventKind) -> &'static str {
    match k {
        InboxEventKind::RequestReceived => "request_received",
        InboxEventKind::DecisionMade => "decision_made",
        InboxEventKind::MoreInfoRequested => "more_info_requested",
        InboxEventKind::InformationProvided => "information_provided",
        InboxEventKind::ResponseReady => "response_ready",
        InboxEventKind::Acknowledged => "acknowledged",
        InboxEventKind::Escalated => "escalated",
        InboxEventKind::Overdue => "overdue",
        InboxEventKind::Withdrawn => "withdrawn",
        InboxEventKind::Refused => "refused",
    }
}

fn parse_kind(s: &str) -> Result<InboxEventKind> {
    const ALL: [InboxEventKind; 10] = [
        InboxEventKind::RequestReceived,
        InboxEventKind::DecisionMade,
        InboxEventKind::MoreInfoRequested,
        InboxEventKind::InformationProvided,
        InboxEventKind::ResponseReady,
        InboxEventKind::Acknowledged,
        InboxEventKind::Escalated,
        InboxEventKind::Overdue,
        InboxEventKind::Withdrawn,
        InboxEventKind::Refused,
    ];
    ALL.into_iter()
        .find(|k| kind_str(*k) == s)
        .ok_or_else(|| corrupt("inbox kind"))
}

impl RawInbox {
    pub(crate) fn decode(self) -> Result<InboxEvent> {
        Ok(InboxEvent {
            cursor: u64_of(self.cursor, "cursor")?,
            agency: parse_agency(&self.agency)?,
            exchange_id: self.exchange_id,
            kind: parse_kind(&self.kind)?,
            state: parse_state(&self.state)?,
            occurred_at: from_us(self.occurred_at)?,
            summary: self.summary,
        })
    }
}

/// An inbox event waiting for its cursor (assigned at the end of the batch).
#[derive(Debug, Clone)]
pub(crate) struct InboxDraft {
    pub agency: AgencyId,
    pub exchange_id: Uuid,
    pub kind: InboxEventKind,
    pub state: ExchangeState,
    pub occurred_at: i64,
    pub summary: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_round_trip_at_microsecond_resolution() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        let back = from_us(to_us(t).unwrap()).unwrap();
        assert_eq!(back.unix_timestamp_nanos(), 1_700_000_000_123_456_000);
        let before_epoch = OffsetDateTime::from_unix_timestamp_nanos(-1_500).unwrap();
        assert_eq!(to_us(before_epoch).unwrap(), -2);
    }

    #[test]
    fn inbox_kinds_round_trip() {
        for k in ["request_received", "refused", "overdue"] {
            assert_eq!(kind_str(parse_kind(k).unwrap()), k);
        }
    }
}
