//! `ApprovalService`: the human step at the holding agency (`002 App.1`, `004 FAQ`). The
//! matrix admits only the holding agency's IG leads and Caldicott Guardians; the person-level
//! rules on top of it are the exchange aggregate's (`accord_domain::Exchange::may_decide`) and
//! written out in `docs/security.md`.

use accord_domain::{
    CategoryId, Command, Conditions, DecisionDraft, DecisionKind, ExchangeState, Role,
};
use accord_proto::v1 as pb;
use accord_proto::v1::approval_service_server::ApprovalService;
use accord_proto::v1::decide_request::Decision as ProtoDecision;
use accord_store::Exchange;
use base64::Engine as _;
use time::OffsetDateTime;
use tonic::{Request, Response, Status};
use tracing::info;
use uuid::Uuid;

use super::{actor_as, apply_change, exchange_id, load_authorized, page, purpose_of, Fields};
use crate::api::{self, ProtoEnum};
use crate::auth::Caller;
use crate::authz::Operation;
use crate::error::{invalid_field, RpcResult, StoreResultExt};
use crate::AppState;

/// The `ApprovalService` handlers.
#[derive(Debug, Clone)]
pub struct ApprovalHandlers {
    state: AppState,
}

impl ApprovalHandlers {
    pub fn new(state: AppState) -> Self {
        ApprovalHandlers { state }
    }
}

/// Most exchanges of the queue one `ListPending` call reads: the page, one more to know
/// whether another follows, and those skipped because they await someone else. A call that
/// reaches it returns what it found (perhaps a short page) and a token to continue from there.
const PENDING_SCAN_LIMIT: usize = 2_000;
/// Exchanges read from the queue at a time once the first read (a page and one more) did not
/// fill the page.
const PENDING_BATCH: u32 = 500;

/// Whether an exchange in `ListPending` awaits this caller: escalations to a role the caller
/// lacks, and disputed declines the caller made, await someone else
/// ([`accord_domain::Exchange::awaits_decision_by`]).
fn awaits(x: &Exchange, caller: &Caller) -> bool {
    x.awaits_decision_by(&caller.subject, &caller.roles)
}

fn encode_pending_token(respond_by: OffsetDateTime, id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("p1|{}|{id}", respond_by.unix_timestamp_nanos()))
}

fn decode_pending_token(token: &str) -> Option<(i128, Uuid)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let mut parts = text.splitn(3, '|');
    if parts.next()? != "p1" {
        return None;
    }
    let at = parts.next()?.parse().ok()?;
    let id = Uuid::parse_str(parts.next()?).ok()?;
    Some((at, id))
}

/// The queue position a page token resumes after, as the store keeps it (microseconds). A
/// token between two microseconds resumes after every exchange of the earlier one; one
/// beyond the representable instants, before the first or after the last exchange.
fn pending_position((nanos, id): (i128, Uuid)) -> (OffsetDateTime, Uuid) {
    match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(at) if nanos % 1000 == 0 => (at, id),
        Ok(at) => (at, Uuid::max()),
        Err(_) if nanos < 0 => (
            OffsetDateTime::new_utc(time::Date::MIN, time::Time::MIDNIGHT),
            Uuid::nil(),
        ),
        Err(_) => (
            OffsetDateTime::new_utc(time::Date::MAX, time::Time::MAX),
            Uuid::max(),
        ),
    }
}

/// One page of the caller's queue after `after`, oldest deadline first: the exchanges in
/// `states` that await the caller ([`awaits`]), at most `page_size`, and the position to
/// continue from when more may follow. Reads the queue in order from the store, a page at a
/// time, at most [`PENDING_SCAN_LIMIT`] exchanges.
async fn pending_page(
    store: &accord_store::Store,
    caller: &Caller,
    states: &[ExchangeState],
    mut after: Option<(OffsetDateTime, Uuid)>,
    page_size: u32,
) -> Result<(Vec<Exchange>, Option<(OffsetDateTime, Uuid)>), Status> {
    let mut exchanges = Vec::new();
    let mut scanned = 0;
    let mut batch = page_size.saturating_add(1);
    loop {
        let read = store
            .pending_for(&caller.agency, states, after, batch)
            .await
            .or_status()?;
        let n = read.len();
        for x in read {
            if exchanges.len() == page_size as usize {
                // Another exchange follows the full page: continue after the page's last.
                return Ok((exchanges, after));
            }
            scanned += 1;
            after = Some((x.respond_by, x.id));
            if x.state.awaits_decision() && awaits(&x, caller) {
                exchanges.push(x);
            }
        }
        if n < batch as usize {
            return Ok((exchanges, None));
        }
        if scanned >= PENDING_SCAN_LIMIT {
            return Ok((exchanges, after));
        }
        batch = PENDING_BATCH;
    }
}

/// Approval conditions at `field`. Whether their retention fits the purpose is the
/// aggregate's rule; here only a retention that cannot be checked is reported.
fn conditions(
    state: &AppState,
    x: &Exchange,
    field: &str,
    c: Option<&pb::Conditions>,
    fields: &mut Fields,
) -> Conditions {
    let Some(c) = c else {
        return Conditions::default();
    };
    match api::conditions_from_proto(field, c) {
        Ok(parsed) => {
            if parsed.retention_days.is_some() && purpose_of(state, x).is_err() {
                fields.push(
                    format!("{field}.retention_days"),
                    "cannot be checked: the exchange's purpose is no longer loaded",
                );
            }
            parsed
        }
        Err(v) => {
            fields.extend(v);
            Conditions::default()
        }
    }
}

/// Parses the decision: well-formed input only. Whether it fits the exchange (scope,
/// retention, who may decide) is the aggregate's to say when the store applies it.
fn parse_decision(
    state: &AppState,
    x: &Exchange,
    decision: Option<&ProtoDecision>,
    fields: &mut Fields,
) -> Option<DecisionDraft> {
    let draft = |kind| {
        let mut d = DecisionDraft::new(kind);
        d.purpose_retention_days = purpose_of(state, x).ok().map(|(_, p)| p.retention_days);
        d
    };
    match decision {
        None => {
            fields.push(
                "decision",
                "is required: one of approve, approve_part, decline, ask or escalate",
            );
            None
        }
        Some(ProtoDecision::Approve(a)) => {
            let mut d = draft(DecisionKind::Approve);
            d.conditions = conditions(
                state,
                x,
                "approve.conditions",
                a.conditions.as_ref(),
                fields,
            );
            Some(d)
        }
        Some(ProtoDecision::ApprovePart(a)) => {
            let mut d = draft(DecisionKind::ApprovePart);
            // Never more entries than the proposed scope holds: a longer list is one violation.
            let listed = fields.list_len(
                "approve_part.categories",
                a.categories.len(),
                x.assessment.proposed_scope.len(),
            );
            for (i, c) in a.categories.iter().enumerate().take_while(|_| listed) {
                match CategoryId::parse(c) {
                    Err(e) => fields.push(
                        format!("approve_part.categories[{i}]"),
                        format!("is not a valid id: {e}"),
                    ),
                    Ok(c) => d.categories.push(c),
                }
            }
            if a.categories.is_empty() {
                fields.push(
                    "approve_part.categories",
                    "at least one category is required",
                );
            }
            d.conditions = conditions(
                state,
                x,
                "approve_part.conditions",
                a.conditions.as_ref(),
                fields,
            );
            Some(d)
        }
        Some(ProtoDecision::Decline(r)) => {
            fields.text_list("decline.reasons", &r.reasons, 1, 20, 2000);
            let mut d = draft(DecisionKind::Decline);
            d.reasons = r.reasons.clone();
            Some(d)
        }
        Some(ProtoDecision::Ask(q)) => {
            fields.text_list("ask.questions", &q.questions, 1, 20, 2000);
            let mut d = draft(DecisionKind::AskForMoreInformation);
            d.questions = q.questions.clone();
            Some(d)
        }
        Some(ProtoDecision::Escalate(e)) => {
            fields.text("escalate.reason", &e.reason, 1, 4000);
            let mut d = draft(DecisionKind::Escalate);
            d.escalate_to = match Role::from_proto(e.to_role) {
                Some(r @ (Role::IgLead | Role::CaldicottGuardian)) => Some(r),
                _ => {
                    fields.push("escalate.to_role", "must be IG_LEAD or CALDICOTT_GUARDIAN");
                    None
                }
            };
            d.reasons = vec![e.reason.clone()];
            Some(d)
        }
    }
}

#[tonic::async_trait]
impl ApprovalService for ApprovalHandlers {
    async fn list_pending(
        &self,
        request: Request<pb::ListPendingRequest>,
    ) -> RpcResult<pb::ListPendingResponse> {
        let caller = self.state.authenticate(&request)?;
        caller.authorize(Operation::ListPending)?;
        let msg = request.into_inner();
        let mut fields = Fields::default();
        let (page_size, token) = page(&mut fields, "page", msg.page.as_ref());
        let after = match &token {
            None => None,
            Some(t) => {
                let parsed = decode_pending_token(t);
                if parsed.is_none() {
                    fields.push("page.page_token", "is not a page token of this listing");
                }
                parsed.map(pending_position)
            }
        };
        fields.finish()?;

        let store = self.state.store();
        let mut states = vec![ExchangeState::AwaitingApproval];
        if msg.include_escalated {
            states.push(ExchangeState::Escalated);
        }
        let (exchanges, next) = pending_page(store, &caller, &states, after, page_size).await?;
        let next_page_token = next
            .map(|(at, id)| encode_pending_token(at, id))
            .unwrap_or_default();
        Ok(Response::new(pb::ListPendingResponse {
            exchanges: exchanges.iter().map(api::exchange_to_proto).collect(),
            page: Some(pb::PageInfo { next_page_token }),
        }))
    }

    async fn decide(&self, request: Request<pb::DecideRequest>) -> RpcResult<pb::DecideResponse> {
        let caller = self.state.authenticate(&request)?;
        let msg = request.into_inner();
        let id = exchange_id("exchange_id", &msg.exchange_id)?;
        let op = Operation::Decide;
        let (x, role) = load_authorized(&self.state, &caller, op, id).await?;

        let mut fields = Fields::default();
        if msg.expected_version == 0 {
            fields.push(
                "expected_version",
                "is required: the version of the exchange the approver read",
            );
        }
        fields.text("note", &msg.note, 0, 4000);
        let parsed = parse_decision(&self.state, &x, msg.decision.as_ref(), &mut fields);
        fields.finish()?;
        let Some(mut draft) = parsed else {
            return Err(invalid_field("decision", "is required"));
        };
        draft.note = msg.note;
        let kind = draft.kind;
        let x = apply_change(
            &self.state,
            id,
            Some(msg.expected_version),
            Command::Decide(draft),
            actor_as(&caller, role),
        )
        .await?;
        info!(exchange_id = %x.id, decision = ?kind, state = %x.state, "decision recorded");
        Ok(Response::new(pb::DecideResponse {
            exchange: Some(api::exchange_to_proto(&x)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_tokens_round_trip() {
        let at = OffsetDateTime::UNIX_EPOCH + time::Duration::days(3);
        let id = Uuid::now_v7();
        assert_eq!(
            decode_pending_token(&encode_pending_token(at, id)),
            Some((at.unix_timestamp_nanos(), id))
        );
        assert_eq!(decode_pending_token("nonsense"), None);
    }
}
