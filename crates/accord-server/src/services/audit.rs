//! `AuditService`: auditors query, verify, export the log and read statistics. Entries are
//! metadata only (the store never writes content to the log); a child identifier given as a
//! filter is hashed with the deployment's key and never stored or logged. Every call is itself
//! recorded in the log (`audit_queried`, `audit_verified`, `audit_exported`,
//! `audit_statistics_read`) before it is answered, so an access that cannot be recorded does
//! not happen.

use std::pin::Pin;

use accord_domain::{AgencyId, AuditEventKind, ExchangeState, PurposeId, SubjectIdentifier};
use accord_proto::v1 as pb;
use accord_proto::v1::audit_service_server::AuditService;
use accord_store::{AdminEvent, AuditEntry, AuditQuery, Store, StoreError};
use futures::Stream;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::Instrument;
use uuid::Uuid;

use super::{actor_as, page, Fields};
use crate::api::{self, ProtoEnum};
use crate::auth::Caller;
use crate::authz::Operation;
use crate::context::Shutdown;
use crate::error::{invalid_field, store_status, RpcResult, StoreResultExt};
use crate::AppState;

/// Entries read from the store at a time by exports and ranged verification.
const CHUNK: u32 = 1000;
/// Store pages read for one `QueryAudit` page when filters the store cannot apply are set.
const MAX_FILTER_PAGES: usize = 20;

type ExportStream = Pin<Box<dyn Stream<Item = Result<pb::ExportAuditResponse, Status>> + Send>>;

/// The `AuditService` handlers.
#[derive(Debug, Clone)]
pub struct AuditHandlers {
    state: AppState,
}

impl AuditHandlers {
    pub fn new(state: AppState) -> Self {
        AuditHandlers { state }
    }

    /// Records the auditor's access; returns the entry (its sequence is the head of the log
    /// when the call began).
    async fn record_access(
        &self,
        caller: &Caller,
        role: accord_domain::Role,
        kind: AuditEventKind,
        detail: serde_json::Value,
    ) -> Result<AuditEntry, Status> {
        self.state
            .store()
            .record_event(
                AdminEvent {
                    kind,
                    protocol_id: String::new(),
                    agency_id: None,
                    detail,
                },
                actor_as(caller, role),
                self.state.clock.now(),
            )
            .await
            .or_status()
    }
}

fn optional_id<T>(
    fields: &mut Fields,
    field: &str,
    value: &str,
    parse: fn(&str) -> Result<T, accord_domain::IdError>,
) -> Option<T> {
    if value.is_empty() {
        return None;
    }
    match parse(value) {
        Ok(v) => Some(v),
        Err(e) => {
            fields.push(field, format!("is not a valid id: {e}"));
            None
        }
    }
}

fn time_range(
    fields: &mut Fields,
    from_field: &str,
    from: Option<&prost_types::Timestamp>,
    to_field: &str,
    to: Option<&prost_types::Timestamp>,
) -> (Option<time::OffsetDateTime>, Option<time::OffsetDateTime>) {
    let mut read = |field: &str, t: Option<&prost_types::Timestamp>| {
        t.and_then(|t| {
            let v = api::from_timestamp(t);
            if v.is_none() {
                fields.push(field, "is not a valid timestamp");
            }
            v
        })
    };
    let from = read(from_field, from);
    let to = read(to_field, to);
    if let (Some(a), Some(b)) = (from, to) {
        if b <= a {
            fields.push(to_field, format!("must be after {from_field}"));
        }
    }
    (from, to)
}

/// A subject identifier filter: scheme of 1 to 32 lowercase letters, digits and `_`; value of
/// 1 to 64 characters. The reasons never repeat the value.
fn identifier(fields: &mut Fields, i: &pb::SubjectIdentifier) -> Option<SubjectIdentifier> {
    let before = fields.is_empty();
    if i.scheme.is_empty()
        || i.scheme.len() > 32
        || !i
            .scheme
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        fields.push(
            "child_identifier.scheme",
            "must be 1 to 32 lowercase letters, digits or underscores",
        );
    }
    fields.text("child_identifier.value", &i.value, 1, 64);
    (before == fields.is_empty()).then(|| SubjectIdentifier {
        scheme: i.scheme.clone(),
        value: i.value.clone(),
    })
}

/// Checks a run of entries read in order and its link to the entry before it (`prev`).
/// Returns the first bad sequence and why.
fn check_chunk(prev: Option<&AuditEntry>, chunk: &[AuditEntry]) -> Option<(u64, String)> {
    if let (Some(p), Some(first)) = (prev, chunk.first()) {
        if first.sequence != p.sequence + 1 {
            return Some((
                p.sequence + 1,
                format!("entry {} is missing", p.sequence + 1),
            ));
        }
        if first.prev_hash != p.entry_hash {
            return Some((
                first.sequence,
                "prev_hash does not match the previous entry's hash".into(),
            ));
        }
    }
    let report = accord_store::verify_entries(chunk);
    if report.ok {
        None
    } else {
        Some((
            report.first_bad_sequence.unwrap_or(0),
            report.problem.unwrap_or_default(),
        ))
    }
}

/// Verifies entries `from..=to` by reading them in chunks (plus the entry before `from`, so
/// the first link is checked too).
async fn verify_range(
    store: &Store,
    from: u64,
    to: u64,
) -> Result<pb::VerifyAuditResponse, Status> {
    let mut prev: Option<AuditEntry> = None;
    let mut next = from;
    if from > 1 {
        prev = store
            .audit_range(from - 1, Some(from - 1), 1)
            .await
            .or_status()?
            .pop();
    }
    let mut checked = 0u64;
    let mut out = pb::VerifyAuditResponse {
        ok: true,
        ..Default::default()
    };
    while next <= to {
        let chunk = store.audit_range(next, Some(to), CHUNK).await.or_status()?;
        if chunk.is_empty() {
            out.ok = false;
            out.first_bad_sequence = Some(next);
            out.problem = format!("entry {next} is missing");
            break;
        }
        if chunk.first().map(|e| e.sequence) != Some(next) {
            out.ok = false;
            out.first_bad_sequence = Some(next);
            out.problem = format!("entry {next} is missing");
            break;
        }
        if let Some((seq, problem)) = check_chunk(prev.as_ref(), &chunk) {
            out.ok = false;
            out.first_bad_sequence = Some(seq);
            out.problem = problem;
            checked += seq.saturating_sub(next);
            break;
        }
        checked += chunk.len() as u64;
        next = chunk.last().map_or(to + 1, |e| e.sequence + 1);
        prev = chunk.into_iter().last();
    }
    out.entries_checked = checked;
    if let Some(p) = prev {
        if out.ok {
            out.head_sequence = p.sequence;
            out.head_hash = p.entry_hash;
        }
    }
    Ok(out)
}

async fn export(
    store: Store,
    from: u64,
    to: u64,
    shutdown: Shutdown,
    tx: mpsc::Sender<Result<pb::ExportAuditResponse, Status>>,
) {
    let mut next = from;
    while next <= to {
        if shutdown.is_triggered() {
            let _ = tx
                .send(Err(Status::unavailable(format!(
                    "the broker is shutting down; resume the export from sequence {next}"
                ))))
                .await;
            return;
        }
        let chunk = match store.audit_range(next, Some(to), CHUNK).await {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.send(Err(store_status(e))).await;
                return;
            }
        };
        let Some(last) = chunk.last().map(|e| e.sequence) else {
            return;
        };
        for e in &chunk {
            let msg = pb::ExportAuditResponse {
                entry: Some(api::audit_entry_to_proto(e)),
            };
            if tx.send(Ok(msg)).await.is_err() {
                return;
            }
        }
        next = last + 1;
    }
}

#[tonic::async_trait]
impl AuditService for AuditHandlers {
    async fn query_audit(
        &self,
        request: Request<pb::QueryAuditRequest>,
    ) -> RpcResult<pb::QueryAuditResponse> {
        let caller = self.state.authenticate(&request)?;
        let role = caller.authorize(Operation::QueryAudit)?;
        let msg = request.into_inner();
        let mut fields = Fields::default();
        let exchange_id = if msg.exchange_id.is_empty() {
            None
        } else {
            match Uuid::parse_str(&msg.exchange_id) {
                Ok(u) => Some(u),
                Err(_) => {
                    fields.push("exchange_id", "must be an exchange id (a UUID)");
                    None
                }
            }
        };
        let agency = optional_id(&mut fields, "agency_id", &msg.agency_id, AgencyId::parse);
        let purpose = optional_id(&mut fields, "purpose_id", &msg.purpose_id, PurposeId::parse);
        let child = msg
            .child_identifier
            .as_ref()
            .and_then(|i| identifier(&mut fields, i));
        // Over-long lists are reported once, before their elements are read, so a large
        // message cannot make validation expensive.
        if fields.list_len("event_kinds", msg.event_kinds.len(), 20) {
            for (i, k) in msg.event_kinds.iter().enumerate() {
                fields.text(&format!("event_kinds[{i}]"), k, 1, 64);
            }
        }
        let mut outcomes: Vec<ExchangeState> = Vec::new();
        if fields.list_len("outcomes", msg.outcomes.len(), ExchangeState::ALL.len()) {
            for (i, s) in msg.outcomes.iter().enumerate() {
                match ExchangeState::from_proto(*s) {
                    Some(st) if !outcomes.contains(&st) => outcomes.push(st),
                    Some(_) => fields.push(format!("outcomes[{i}]"), "is listed twice"),
                    None => fields.push(format!("outcomes[{i}]"), "is not a state"),
                }
            }
        }
        let (from, to) = time_range(
            &mut fields,
            "from_time",
            msg.from_time.as_ref(),
            "to_time",
            msg.to_time.as_ref(),
        );
        let (page_size, mut page_token) = page(&mut fields, "page", msg.page.as_ref());
        fields.finish()?;

        let store = self.state.store();
        let subject_hash = child.as_ref().map(|c| store.subject_hash(c));
        self.record_access(
            &caller,
            role,
            AuditEventKind::AuditQueried,
            json!({
                "exchange_id": exchange_id,
                "agency_id": agency,
                "purpose_id": purpose,
                "child_identifier_hash": subject_hash,
                "event_kinds": msg.event_kinds,
                "outcomes": outcomes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            }),
        )
        .await?;

        // The store filters on one event kind and one outcome; more are filtered here, page by
        // page of the store's order, so the page token stays the store's own.
        let kinds = msg.event_kinds.clone();
        let single_kind = (kinds.len() == 1).then(|| kinds[0].clone());
        let single_outcome = (outcomes.len() == 1).then(|| outcomes[0]);
        let filter_here = kinds.len() > 1 || outcomes.len() > 1;
        let base = AuditQuery {
            exchange_id,
            agency,
            subject_hash,
            purpose,
            event_kind: single_kind,
            state_to: single_outcome,
            from,
            to,
            page_size,
            page_token: None,
        };
        let mut entries = Vec::new();
        let mut next_token = None;
        for _ in 0..MAX_FILTER_PAGES {
            let remaining = page_size - entries.len() as u32;
            let result = store
                .audit_query(AuditQuery {
                    page_size: remaining,
                    page_token: page_token.take(),
                    ..base.clone()
                })
                .await;
            let page = match result {
                Ok(p) => p,
                Err(StoreError::InvalidInput {
                    field: "page_token",
                    ..
                }) => {
                    return Err(invalid_field(
                        "page.page_token",
                        "is not a page token of this query",
                    ))
                }
                Err(e) => return Err(store_status(e)),
            };
            entries.extend(page.items.into_iter().filter(|e| {
                !filter_here
                    || ((kinds.len() <= 1 || kinds.contains(&e.event_kind))
                        && (outcomes.len() <= 1
                            || e.state_to.is_some_and(|s| outcomes.contains(&s))))
            }));
            next_token = page.next_page_token;
            if !filter_here || entries.len() as u32 >= page_size || next_token.is_none() {
                break;
            }
            page_token = next_token.clone();
        }
        Ok(Response::new(pb::QueryAuditResponse {
            entries: entries.iter().map(api::audit_entry_to_proto).collect(),
            page: Some(pb::PageInfo {
                next_page_token: next_token.unwrap_or_default(),
            }),
        }))
    }

    async fn verify_audit(
        &self,
        request: Request<pb::VerifyAuditRequest>,
    ) -> RpcResult<pb::VerifyAuditResponse> {
        let caller = self.state.authenticate(&request)?;
        let role = caller.authorize(Operation::VerifyAudit)?;
        let msg = request.into_inner();
        let from = msg.from_sequence.max(1);
        if msg.to_sequence != 0 && msg.to_sequence < from {
            return Err(invalid_field(
                "to_sequence",
                "must not be before from_sequence",
            ));
        }
        let access = self
            .record_access(
                &caller,
                role,
                AuditEventKind::AuditVerified,
                json!({ "from_sequence": msg.from_sequence, "to_sequence": msg.to_sequence }),
            )
            .await?;
        let head = access.sequence;
        let store = self.state.store();
        if msg.to_sequence > head {
            return Err(invalid_field(
                "to_sequence",
                format!("is beyond the head of the log ({head})"),
            ));
        }
        if from > head {
            return Err(invalid_field(
                "from_sequence",
                format!("is beyond the head of the log ({head})"),
            ));
        }
        let out = if from == 1 && msg.to_sequence == 0 {
            // The whole chain and every signed checkpoint.
            let report = store.audit_verify().await.or_status()?;
            let last_good = report.entries_checked;
            let head_entry = if last_good > 0 {
                store
                    .audit_range(last_good, Some(last_good), 1)
                    .await
                    .or_status()?
                    .pop()
            } else {
                None
            };
            api::verify_report_to_proto(&report, head_entry.map(|e| (e.sequence, e.entry_hash)))
        } else {
            // A range: the chain only; checkpoints are checked by a whole-log verification.
            let to = if msg.to_sequence == 0 {
                head
            } else {
                msg.to_sequence
            };
            verify_range(store, from, to).await?
        };
        if !out.ok {
            tracing::error!(
                first_bad_sequence = out.first_bad_sequence.unwrap_or(0),
                "audit verification failed"
            );
        }
        Ok(Response::new(out))
    }

    type ExportAuditStream = ExportStream;

    async fn export_audit(
        &self,
        request: Request<pb::ExportAuditRequest>,
    ) -> Result<Response<Self::ExportAuditStream>, Status> {
        let caller = self.state.authenticate(&request)?;
        let role = caller.authorize(Operation::ExportAudit)?;
        let msg = request.into_inner();
        let from = msg.from_sequence.max(1);
        if msg.to_sequence != 0 && msg.to_sequence < from {
            return Err(invalid_field(
                "to_sequence",
                "must not be before from_sequence",
            ));
        }
        let access = self
            .record_access(
                &caller,
                role,
                AuditEventKind::AuditExported,
                json!({ "from_sequence": msg.from_sequence, "to_sequence": msg.to_sequence }),
            )
            .await?;
        // The head when the call began is the entry recording the export itself.
        let to = match msg.to_sequence {
            0 => access.sequence,
            t => t.min(access.sequence),
        };
        let store = self.state.store().clone();
        let (tx, rx) = mpsc::channel(CHUNK as usize);
        tokio::spawn(
            export(store, from, to, self.state.shutdown.clone(), tx)
                .instrument(tracing::Span::current()),
        );
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn get_statistics(
        &self,
        request: Request<pb::GetStatisticsRequest>,
    ) -> RpcResult<pb::GetStatisticsResponse> {
        let caller = self.state.authenticate(&request)?;
        let role = caller.authorize(Operation::GetStatistics)?;
        let msg = request.into_inner();
        let mut fields = Fields::default();
        let (from, to) = time_range(
            &mut fields,
            "from_time",
            msg.from_time.as_ref(),
            "to_time",
            msg.to_time.as_ref(),
        );
        fields.finish()?;
        self.record_access(
            &caller,
            role,
            AuditEventKind::AuditStatisticsRead,
            json!({
                "from": from.map(|t| t.unix_timestamp()),
                "to": to.map(|t| t.unix_timestamp()),
            }),
        )
        .await?;
        let stats = self
            .state
            .store()
            .stats(from, to, self.state.clock.now())
            .await
            .or_status()?;
        Ok(Response::new(api::stats_to_proto(&stats)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifier_filters_are_checked_without_echoing_them() {
        let mut f = Fields::default();
        let ok = identifier(
            &mut f,
            &pb::SubjectIdentifier {
                scheme: "nhs_number".into(),
                value: "943 476 5919".into(),
            },
        );
        assert!(ok.is_some());
        assert!(f.is_empty());
        let bad = identifier(
            &mut f,
            &pb::SubjectIdentifier {
                scheme: "NHS".into(),
                value: String::new(),
            },
        );
        assert!(bad.is_none());
        let status = f.finish().err().unwrap_or_else(|| panic!("accepted"));
        assert!(!status.message().contains("NHS"), "{}", status.message());
    }

    #[test]
    fn time_ranges_must_be_ordered() {
        let mut f = Fields::default();
        let t = |s| prost_types::Timestamp {
            seconds: s,
            nanos: 0,
        };
        time_range(&mut f, "from_time", Some(&t(10)), "to_time", Some(&t(5)));
        assert!(!f.is_empty());
    }
}
