//! What agencies do with exchanges: submit a request, read and list exchanges, the holder's
//! pending queue, decide and other state changes, respond and fetch the response; and the
//! earlier exchanges about a child that the repeat-sharing rule looks at. Writes go through the
//! group-commit writer (`writer.rs`); reads go straight to the pool.

use accord_domain::{
    Actor, AgencyId, ExchangeState, PriorExchange, RequestReasons, ResponseItem, SubjectIdentifier,
};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::canonical::canonical_json;
use crate::crypto::{self, Blob, Keys};
use crate::db::{dispatch, ListFilter, PendingFilter};
use crate::open::wrong_output;
use crate::page_token::{page_size, Listing};
use crate::records::{self, corrupt, from_us, to_us};
use crate::writer::{Op, Output, RespondOp, SubmitOp};
use crate::{
    Change, Exchange, ExchangeQuery, ExchangeSummary, Page, Result, Store, StoreError, Submission,
    Submitted,
};

/// The exchange a writer operation answered with.
pub(crate) fn exchange_of(out: Output, keys: &Keys) -> Result<Exchange> {
    match out {
        Output::Exchange { rec, .. } | Output::Fetched { rec, .. } => rec.to_exchange(keys),
        _ => Err(wrong_output()),
    }
}

impl Store {
    /// Records a new, assessed request: state `refused` or `awaiting_approval` from the
    /// assessment outcome, its audit entries and inbox events, in one transaction. A second
    /// submission with the same (requesting agency, idempotency key) returns the first.
    ///
    /// Besides the encrypted request (purged with the content), the exchange's decision
    /// record begins: the request's reasons ([`RequestReasons`]), encrypted, kept with the
    /// decisions until `now` plus `record_retention`.
    pub async fn submit(&self, submission: Submission) -> Result<Submitted> {
        let Submission {
            idempotency_key,
            request,
            assessment,
            actor,
            now,
            record_retention,
        } = submission;
        let now = to_us(now)?;
        // From the instant as stored, so the record's end is exactly submission + retention.
        let record_retain_until = to_us(record_retention.keep_until(from_us(now)?))?;
        let id = Uuid::now_v7();
        let keys = &self.inner.keys;
        let plain = serde_json::to_vec(&request)
            .map_err(|e| StoreError::Database(format!("serialise request: {e}")))?;
        let request_ct = keys.encrypt(id, Blob::Request, &plain)?;
        let reasons = serde_json::to_vec(&RequestReasons::of(&request))
            .map_err(|e| StoreError::Database(format!("serialise reasons: {e}")))?;
        let reasons_ct = keys.encrypt(id, Blob::Reasons, &reasons)?;
        let mut subjects = Vec::new();
        for i in &request.child.identifiers {
            subjects.push((keys.subject_hash(&i.canonical()), "child"));
        }
        for p in &request.other_people {
            for i in &p.identifiers {
                subjects.push((keys.subject_hash(&i.canonical()), "other"));
            }
        }
        let op = SubmitOp {
            id,
            idempotency_key: idempotency_key.as_str().to_owned(),
            requesting_agency: request.requesting_agency.clone(),
            holding_agency: request.holding_agency.clone(),
            purpose: request.purpose.clone(),
            urgency: request.urgency,
            level_of_need: request.level_of_need,
            now,
            request_ct,
            reasons_ct,
            record_retain_until,
            subjects,
            categories_sought: request.category_ids().map(|c| c.to_string()).collect(),
            submitted_detail: canonical_json(&submitted_detail(&request)),
            outcome_detail: canonical_json(&outcome_detail(&assessment)),
            assessment,
            actor,
        };
        match self.call(Op::Submit(Box::new(op))).await? {
            Output::Exchange { rec, replayed } => Ok(Submitted {
                exchange: rec.to_exchange(keys)?,
                replayed,
            }),
            other => exchange_of(other, keys).map(|exchange| Submitted {
                exchange,
                replayed: false,
            }),
        }
    }

    pub async fn get(&self, id: Uuid) -> Result<Exchange> {
        let raw = dispatch!(&self.inner.db, get_exchange(id))?.ok_or(StoreError::NotFound(id))?;
        let keys = &self.inner.keys;
        raw.decode(keys)?.to_exchange(keys)
    }

    pub async fn list(&self, query: ExchangeQuery) -> Result<Page<ExchangeSummary>> {
        let limit = page_size(query.page_size, 50, 500);
        let before = match &query.page_token {
            None => None,
            Some(t) => {
                let (at, id) = Listing::Exchanges.decode::<Uuid>(t)?;
                Some((at, id))
            }
        };
        let filter = ListFilter {
            agency: query.agency.to_string(),
            party: query.party,
            states: query.states.iter().map(|s| s.as_str()).collect(),
            purpose: query.purpose.as_ref().map(|p| p.to_string()),
            created_after: query.created_after.map(to_us).transpose()?,
            created_before: query.created_before.map(to_us).transpose()?,
            before,
            limit: limit + 1,
        };
        let rows = dispatch!(&self.inner.db, list(&filter))?;
        let more = rows.len() as i64 > limit;
        let mut items = Vec::with_capacity(rows.len());
        let mut last = None;
        for r in rows.into_iter().take(limit as usize) {
            last = Some((r.created_at, r.id));
            items.push(r.decode()?);
        }
        let next_page_token = match (more, last) {
            (true, Some((at, id))) => Some(Listing::Exchanges.encode(at, id)),
            _ => None,
        };
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// The holding agency's queue of exchanges in `states` (those of them awaiting a
    /// decision: `awaiting_approval`, `escalated`; other states are never pending), oldest
    /// deadline first by (`respond_by`, id), strictly after `after`, at most `limit` (0: 100;
    /// at most 1000). Whole exchanges, since who may decide one depends on its decisions.
    /// Read through an index on (holding agency, respond_by, id) of the exchanges awaiting a
    /// decision, so a page costs the same however long the queue is.
    pub async fn pending_for(
        &self,
        agency: &AgencyId,
        states: &[ExchangeState],
        after: Option<(OffsetDateTime, Uuid)>,
        limit: u32,
    ) -> Result<Vec<Exchange>> {
        let mut wanted: Vec<&'static str> = Vec::new();
        for s in states.iter().filter(|s| s.awaits_decision()) {
            if !wanted.contains(&s.as_str()) {
                wanted.push(s.as_str());
            }
        }
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let filter = PendingFilter {
            agency: agency.to_string(),
            states: wanted,
            after: match after {
                None => None,
                Some((at, id)) => Some((to_us(at)?, id)),
            },
            limit: page_size(limit, 100, 1000),
        };
        let rows = dispatch!(&self.inner.db, pending(&filter))?;
        rows.into_iter()
            .map(|raw| raw.decode(&self.inner.keys)?.to_exchange(&self.inner.keys))
            .collect()
    }

    /// Carries out a command on an exchange: checks `expected_version` when given (else
    /// `Conflict`), lets the aggregate decide ([`accord_domain::Exchange::handle`]; a refusal
    /// is `InvalidTransition` or `Refused`), and writes the new state, the decision, the audit
    /// entries and inbox events in one transaction.
    pub async fn apply(
        &self,
        id: Uuid,
        expected_version: Option<u64>,
        change: Change,
    ) -> Result<Exchange> {
        let now = to_us(change.now)?;
        let out = self
            .call(Op::Apply {
                id,
                expected_version,
                change: Box::new(change),
                now,
            })
            .await?;
        exchange_of(out, &self.inner.keys)
    }

    /// Stores the holder's response (encrypted), moves the exchange to `responded`, audits the
    /// content's SHA-256, size and categories (never the content). The aggregate checks the
    /// items against the approved scope and sets how long the content is kept: the approval's
    /// retention condition, else `purpose_retention_days`.
    pub async fn respond(
        &self,
        id: Uuid,
        expected_version: u64,
        items: Vec<ResponseItem>,
        actor: Actor,
        now: OffsetDateTime,
        purpose_retention_days: u32,
    ) -> Result<Exchange> {
        let value = serde_json::to_value(&items)
            .map_err(|e| StoreError::Database(format!("serialise response: {e}")))?;
        let plain = canonical_json(&value);
        let content_ct = self
            .inner
            .keys
            .encrypt(id, Blob::Response, plain.as_bytes())?;
        let count = |f: &dyn Fn(&ResponseItem) -> bool| items.iter().filter(|i| f(i)).count();
        let draft = accord_domain::ResponseDraft {
            item_categories: items.iter().map(|i| i.category.clone()).collect(),
            content_sha256: crypto::sha256_hex(plain.as_bytes()),
            content_size: plain.len() as u64,
            facts: count(&|i| i.kind == accord_domain::ItemKind::Fact),
            opinions: count(&|i| i.kind == accord_domain::ItemKind::Opinion),
            historical: count(&|i| i.historical),
            purpose_retention_days,
        };
        let op = RespondOp {
            id,
            expected_version,
            content_ct,
            draft,
            actor,
            // The aggregate sees instants at the store's resolution.
            now: to_us(now)?,
        };
        let out = self.call(Op::Respond(Box::new(op))).await?;
        exchange_of(out, &self.inner.keys)
    }

    /// Returns the decrypted response to the requester and records the fetch (state
    /// `delivered`). `Refused` if there is no response or it was purged.
    pub async fn fetch_response(
        &self,
        id: Uuid,
        actor: Actor,
        now: OffsetDateTime,
    ) -> Result<(Exchange, Vec<ResponseItem>)> {
        match self
            .call(Op::Fetch {
                id,
                actor,
                now: to_us(now)?,
            })
            .await?
        {
            Output::Fetched { rec, content_ct } => {
                let keys = &self.inner.keys;
                let plain = keys.decrypt(id, Blob::Response, &content_ct)?;
                let items: Vec<ResponseItem> =
                    serde_json::from_slice(&plain).map_err(|_| corrupt("response content"))?;
                Ok((rec.to_exchange(keys)?, items))
            }
            _ => Err(wrong_output()),
        }
    }

    /// Earlier exchanges about any of these child identifiers submitted at or after `since`
    /// (for the repeat-sharing rule). Matched by keyed hash, never by clear identifier.
    ///
    /// `child_identifiers` of each result are those of `child` that matched it: the store
    /// never decrypts an earlier request to answer this. `categories` come from the stored
    /// approved scope, or, before anything was approved, from the assessment's proposed scope
    /// and trimmed categories (every category requested).
    pub async fn prior_exchanges(
        &self,
        child: &[SubjectIdentifier],
        since: OffsetDateTime,
    ) -> Result<Vec<PriorExchange>> {
        let mut by_hash: Vec<(String, &SubjectIdentifier)> = Vec::new();
        for i in child {
            by_hash.push((self.subject_hash(i), i));
        }
        let mut hashes: Vec<String> = by_hash.iter().map(|(h, _)| h.clone()).collect();
        hashes.sort();
        hashes.dedup();
        let rows = dispatch!(&self.inner.db, prior(&hashes, to_us(since)?))?;
        let mut out: Vec<PriorExchange> = Vec::new();
        for r in rows {
            let idents: Vec<SubjectIdentifier> = by_hash
                .iter()
                .filter(|(h, _)| *h == r.subject_hash)
                .map(|(_, i)| (*i).clone())
                .collect();
            if let Some(p) = out.iter_mut().find(|p| p.exchange_id == r.id) {
                for i in idents {
                    if !p.child_identifiers.contains(&i) {
                        p.child_identifiers.push(i);
                    }
                }
                continue;
            }
            out.push(PriorExchange {
                exchange_id: r.id,
                requesting_agency: records::parse_agency(&r.requesting_agency)?,
                holding_agency: records::parse_agency(&r.holding_agency)?,
                purpose: records::parse_purpose(&r.purpose)?,
                child_identifiers: idents,
                categories: records::prior_categories(&r.assessment, &r.approved_scope)?,
                state: records::parse_state(&r.state)?,
                submitted_at: from_us(r.created_at)?,
            });
        }
        Ok(out)
    }

    /// Keyed hash (HMAC-SHA256 with the audit key) of a subject identifier's canonical form.
    pub fn subject_hash(&self, id: &SubjectIdentifier) -> String {
        self.inner.keys.subject_hash(&id.canonical())
    }
}

/// What the audit log keeps about a request (`DOMAIN.md` "What must be recorded"): who asked,
/// whom, for what purpose, on what legal basis, the level of need, consent and who gave it
/// (dated), why consent was not sought, what was asked for and why. Names and identifiers of
/// the child and family stay in the encrypted request only.
///
/// The `submitted` entry's detail. Structured values as they are; every free text (category
/// reasons, consent scope and explanations, onward-disclosure purpose, why the child will not be
/// told) only as [`crypto::text_digest`]: the log is permanent and readable by auditors, the
/// text stays in the encrypted request (`docs/storage.md`). The practitioner's name and job
/// title (who asked) and onward recipients (agency ids or body names) are not about the child.
fn submitted_detail(r: &accord_domain::Request) -> serde_json::Value {
    use crypto::text_digest;
    let c = &r.consent;
    let categories: Vec<_> = r
        .categories
        .iter()
        .map(|k| json!({ "category": k.category, "reason": text_digest(&k.reason) }))
        .collect();
    let onward = &r.onward_disclosure;
    json!({
        "protocol_id": r.protocol_id,
        "protocol_version": r.protocol_version,
        "practitioner": {
            "subject": r.practitioner.subject,
            "name": r.practitioner.name,
            "job_title": r.practitioner.job_title,
        },
        "level_of_need": r.level_of_need,
        "urgency": r.urgency,
        "needed_by": r.needed_by.map(|t| t.unix_timestamp()),
        "lawful_basis": r.lawful_basis,
        "consent": {
            "status": c.status,
            "given_by": c.given_by,
            "given_on": c.given_on.map(|d| d.to_string()),
            "explicit": c.explicit,
            "scope": text_digest(&c.scope),
            "capacity_assessed": c.capacity_assessed,
            "parental_consent_recorded": c.parental_consent_recorded,
            "not_sought_reasons": c.not_sought_reasons,
            "not_sought_detail": text_digest(&c.not_sought_detail),
            "not_required_reason": c.not_required_reason,
            "public_interest_justification": text_digest(&c.public_interest_justification),
        },
        "categories": categories,
        "records_from": r.records_from.map(|d| d.to_string()),
        "records_to": r.records_to.map(|d| d.to_string()),
        "anonymised_would_suffice": r.anonymised_would_suffice,
        "child_identifiable": r.child.identifiable,
        "other_people": r.other_people.len(),
        "onward_disclosure": {
            "intended": onward.intended,
            "recipients": onward.recipients,
            "purpose": text_digest(&onward.purpose),
        },
        "notification": {
            "will_inform": r.notification.will_inform,
            "reason_not_informing": text_digest(&r.notification.reason_not_informing),
        },
    })
}

fn outcome_detail(a: &accord_domain::Assessment) -> serde_json::Value {
    json!({
        "outcome": a.outcome,
        "findings": a.findings,
        "proposed_scope": a.proposed_scope,
        "trimmed": a.trimmed,
        "respond_by": a.respond_by.unix_timestamp(),
        "required_approver_roles": a.required_approver_roles,
        "assessed_at": a.assessed_at.unix_timestamp(),
    })
}
