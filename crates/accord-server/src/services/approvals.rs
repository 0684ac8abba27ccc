//! `ApprovalService`: the human step at the holding agency (`002 App.1`, `004 FAQ`). The
//! matrix admits only the holding agency's IG leads and Caldicott Guardians; the person-level
//! rules on top of it are in [`check_decider`] and written out in `docs/security.md`.

use std::collections::BTreeSet;

use accord_domain::{Action, CategoryId, Conditions, Decision, DecisionKind, ExchangeState, Role};
use accord_proto::v1 as pb;
use accord_proto::v1::approval_service_server::ApprovalService;
use accord_proto::v1::decide_request::Decision as ProtoDecision;
use accord_store::{Change, Exchange};
use base64::Engine as _;
use time::OffsetDateTime;
use tonic::{Request, Response, Status};
use tracing::info;
use uuid::Uuid;

use super::{actor_as, apply_change, exchange_id, load_authorized, page, purpose_of, Fields};
use crate::auth::Caller;
use crate::authz::Operation;
use crate::convert::{self, ProtoEnum};
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

/// Why an approver may not make a decision, beyond the authorisation matrix. `subject` and
/// `roles` are the caller's; `x` is the exchange as read.
///
/// 1. An exchange an approver escalated to a role is decided by someone holding that role.
/// 2. After the requester escalated a decline (`002 14.1`, `004 How to get help`), the person
///    who declined may not make the new decision.
/// 3. Approving (in full or in part) needs a role the assessment requires
///    (`required_approver_roles`; IG lead when it names none) or the role an approver escalated
///    to; when the assessment requires a Caldicott Guardian (health data shared without
///    consent, `004 FAQ`) the approver must be one, whatever the escalation.
pub fn check_decider(
    x: &Exchange,
    subject: &str,
    roles: &[Role],
    kind: DecisionKind,
) -> Result<(), String> {
    // The role an approver escalated to, which then decides (and may approve).
    let mut escalated_to = None;
    match open_escalation(x) {
        Some((_, d)) if d.kind == DecisionKind::Escalate => {
            escalated_to = d.escalate_to;
            if let Some(to) = d.escalate_to {
                if !roles.contains(&to) {
                    return Err(format!(
                        "exchange {} was escalated to a {to}: only a {to} of the holding agency may decide",
                        x.id
                    ));
                }
            }
        }
        // The requester disputed a decline.
        Some((at, _)) => {
            let decliner = x.decisions[..at]
                .iter()
                .rev()
                .find(|d| d.kind == DecisionKind::Decline)
                .map(|d| d.decided_by.subject.as_str());
            if decliner == Some(subject) {
                return Err(format!(
                    "the requester escalated your decline of exchange {}: another approver must make the new decision (002 14.1)",
                    x.id
                ));
            }
        }
        // Escalated by the deadline job alone (no escalation decision), or not escalated:
        // any approver of the holding agency decides.
        None => {}
    }
    if matches!(kind, DecisionKind::Approve | DecisionKind::ApprovePart) {
        let mut required: Vec<Role> = x
            .assessment
            .required_approver_roles
            .iter()
            .copied()
            .filter(|r| matches!(r, Role::IgLead | Role::CaldicottGuardian))
            .collect();
        if required.is_empty() {
            required.push(Role::IgLead);
        }
        if let Some(to) = escalated_to {
            if !required.contains(&to) {
                required.push(to);
            }
        }
        if required.contains(&Role::CaldicottGuardian) {
            if !roles.contains(&Role::CaldicottGuardian) {
                return Err(format!(
                    "exchange {} must be approved by a caldicott_guardian (sharing health data without consent, 004 FAQ)",
                    x.id
                ));
            }
        } else if !required.iter().any(|r| roles.contains(r)) {
            return Err(format!(
                "approving exchange {} needs the role {}",
                x.id,
                required
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ));
        }
    }
    Ok(())
}

/// The escalation (an approver's `Escalate` or the requester's `DeclineEscalated`) that still
/// governs the next decision, with its index in `x.decisions`: the most recent one, as long as
/// only questions and their answers followed it. Asking takes the exchange out of `escalated`
/// and the answer brings it back as `awaiting_approval`, but the escalation's rules stand.
fn open_escalation(x: &Exchange) -> Option<(usize, &Decision)> {
    let at = x.decisions.iter().rposition(|d| {
        matches!(
            d.kind,
            DecisionKind::Escalate | DecisionKind::DeclineEscalated
        )
    })?;
    let only_questions = x.decisions[at + 1..].iter().all(|d| {
        matches!(
            d.kind,
            DecisionKind::AskForMoreInformation | DecisionKind::InformationProvided
        )
    });
    only_questions.then(|| (at, &x.decisions[at]))
}

/// Whether an exchange in `ListPending` awaits this caller: escalations to a role the caller
/// lacks, and disputed declines the caller made, await someone else.
fn awaits(x: &Exchange, caller: &Caller) -> bool {
    check_decider(
        x,
        &caller.subject,
        &caller.roles,
        DecisionKind::AskForMoreInformation,
    )
    .is_ok()
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

/// A decision as validated: what to record and which action it is.
struct Parsed {
    kind: DecisionKind,
    action: Action,
    categories: Vec<CategoryId>,
    conditions: Conditions,
    reasons: Vec<String>,
    questions: Vec<String>,
    escalate_to: Option<Role>,
}

/// Approval conditions at `field`; a retention longer than the purpose's is refused.
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
    match convert::conditions_from_proto(field, c) {
        Ok(parsed) => {
            if let Some(days) = parsed.retention_days {
                match purpose_of(state, x) {
                    Ok((_, purpose)) if days > purpose.retention_days => fields.push(
                        format!("{field}.retention_days"),
                        format!(
                            "must not exceed the purpose's retention of {} days",
                            purpose.retention_days
                        ),
                    ),
                    Ok(_) => {}
                    Err(_) => fields.push(
                        format!("{field}.retention_days"),
                        "cannot be checked: the exchange's purpose is no longer loaded",
                    ),
                }
            }
            parsed
        }
        Err(v) => {
            fields.extend(v);
            Conditions::default()
        }
    }
}

/// Validates the decision against the exchange as read (scope, retention).
fn parse_decision(
    state: &AppState,
    x: &Exchange,
    decision: Option<&ProtoDecision>,
    fields: &mut Fields,
) -> Option<Parsed> {
    let empty = Parsed {
        kind: DecisionKind::Approve,
        action: Action::Approve,
        categories: Vec::new(),
        conditions: Conditions::default(),
        reasons: Vec::new(),
        questions: Vec::new(),
        escalate_to: None,
    };
    match decision {
        None => {
            fields.push(
                "decision",
                "is required: one of approve, approve_part, decline, ask or escalate",
            );
            None
        }
        Some(ProtoDecision::Approve(a)) => Some(Parsed {
            categories: x.assessment.proposed_scope.clone(),
            conditions: conditions(
                state,
                x,
                "approve.conditions",
                a.conditions.as_ref(),
                fields,
            ),
            ..empty
        }),
        Some(ProtoDecision::ApprovePart(a)) => {
            let mut chosen: Vec<CategoryId> = Vec::new();
            // Each at most once and in the proposed scope: never more than the scope holds.
            let listed = fields.list_len(
                "approve_part.categories",
                a.categories.len(),
                x.assessment.proposed_scope.len(),
            );
            if a.categories.is_empty() {
                fields.push(
                    "approve_part.categories",
                    "at least one category is required",
                );
            }
            for (i, c) in a.categories.iter().enumerate().take_while(|_| listed) {
                let field = format!("approve_part.categories[{i}]");
                match CategoryId::parse(c) {
                    Err(e) => fields.push(field, format!("is not a valid id: {e}")),
                    Ok(c) if chosen.contains(&c) => fields.push(field, "is listed twice"),
                    Ok(c) if !x.assessment.proposed_scope.contains(&c) => fields.push(
                        field,
                        format!("{c} is not in the proposed scope of this exchange"),
                    ),
                    Ok(c) => chosen.push(c),
                }
            }
            let whole: BTreeSet<&CategoryId> = x.assessment.proposed_scope.iter().collect();
            if !chosen.is_empty()
                && chosen.len() == a.categories.len()
                && chosen.iter().collect::<BTreeSet<_>>() == whole
            {
                fields.push(
                    "approve_part.categories",
                    "names the whole proposed scope: use approve",
                );
            }
            Some(Parsed {
                kind: DecisionKind::ApprovePart,
                action: Action::ApprovePart,
                categories: chosen,
                conditions: conditions(
                    state,
                    x,
                    "approve_part.conditions",
                    a.conditions.as_ref(),
                    fields,
                ),
                ..empty
            })
        }
        Some(ProtoDecision::Decline(d)) => {
            fields.text_list("decline.reasons", &d.reasons, 1, 20, 2000);
            Some(Parsed {
                kind: DecisionKind::Decline,
                action: Action::Decline,
                reasons: d.reasons.clone(),
                ..empty
            })
        }
        Some(ProtoDecision::Ask(q)) => {
            fields.text_list("ask.questions", &q.questions, 1, 20, 2000);
            Some(Parsed {
                kind: DecisionKind::AskForMoreInformation,
                action: Action::AskForMoreInformation,
                questions: q.questions.clone(),
                ..empty
            })
        }
        Some(ProtoDecision::Escalate(e)) => {
            fields.text("escalate.reason", &e.reason, 1, 4000);
            let to = match Role::from_proto(e.to_role) {
                Some(r @ (Role::IgLead | Role::CaldicottGuardian)) => Some(r),
                _ => {
                    fields.push("escalate.to_role", "must be IG_LEAD or CALDICOTT_GUARDIAN");
                    None
                }
            };
            Some(Parsed {
                kind: DecisionKind::Escalate,
                action: Action::Escalate,
                reasons: vec![e.reason.clone()],
                escalate_to: to,
                ..empty
            })
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

        let store = self.state.store()?;
        let mut states = vec![ExchangeState::AwaitingApproval];
        if msg.include_escalated {
            states.push(ExchangeState::Escalated);
        }
        let (exchanges, next) = pending_page(store, &caller, &states, after, page_size).await?;
        let next_page_token = next
            .map(|(at, id)| encode_pending_token(at, id))
            .unwrap_or_default();
        Ok(Response::new(pb::ListPendingResponse {
            exchanges: exchanges.iter().map(convert::exchange_to_proto).collect(),
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
        let Some(parsed) = parsed else {
            return Err(invalid_field("decision", "is required"));
        };

        let actor = actor_as(&caller, role);
        let now = self.state.clock.now();
        let x = apply_change(
            &self.state,
            &caller,
            op,
            x,
            Some(msg.expected_version),
            |x| {
                if !x.state.awaits_decision() {
                    return Err(Status::failed_precondition(format!(
                        "exchange {} is {}: only an exchange awaiting approval or escalated can be decided",
                        x.id, x.state
                    )));
                }
                check_decider(x, &caller.subject, &caller.roles, parsed.kind)
                    .map_err(Status::permission_denied)?;
                let decision = Decision {
                    kind: parsed.kind,
                    decided_by: actor.clone(),
                    decided_at: now,
                    categories: parsed.categories.clone(),
                    conditions: parsed.conditions.clone(),
                    reasons: parsed.reasons.clone(),
                    questions: parsed.questions.clone(),
                    escalate_to: parsed.escalate_to,
                    note: msg.note.clone(),
                };
                let approved_scope = matches!(parsed.action, Action::Approve | Action::ApprovePart)
                    .then(|| (parsed.categories.clone(), parsed.conditions.clone()));
                Ok(Change {
                    action: parsed.action,
                    actor: actor.clone(),
                    now,
                    decision: Some(decision),
                    note: String::new(),
                    approved_scope,
                })
            },
        )
        .await?;
        info!(exchange_id = %x.id, decision = parsed.action.as_str(), state = %x.state, "decision recorded");
        Ok(Response::new(pb::DecideResponse {
            exchange: Some(convert::exchange_to_proto(&x)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use accord_domain::{Actor, AgencyId, Assessment, Outcome, PurposeId, Urgency};

    fn id<T: std::str::FromStr>(s: &str) -> T
    where
        T::Err: std::fmt::Debug,
    {
        s.parse().unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn exchange(state: ExchangeState, required: Vec<Role>) -> Exchange {
        let now = OffsetDateTime::UNIX_EPOCH;
        Exchange {
            id: Uuid::nil(),
            state,
            version: 3,
            idempotency_key: "k".into(),
            request: None,
            requesting_agency: id::<AgencyId>("police"),
            holding_agency: id::<AgencyId>("health"),
            purpose: id::<PurposeId>("s47"),
            urgency: Urgency::Routine,
            assessment: Assessment {
                outcome: Outcome::ProceedToApproval,
                findings: Vec::new(),
                proposed_scope: vec![id("a"), id("b")],
                trimmed: Vec::new(),
                respond_by: now,
                required_approver_roles: required,
                assessed_at: now,
            },
            decisions: Vec::new(),
            approved_scope: Vec::new(),
            conditions: Conditions::default(),
            respond_by: now,
            overdue: false,
            response: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn decided(kind: DecisionKind, subject: &str, to: Option<Role>) -> Decision {
        Decision {
            kind,
            decided_by: Actor {
                agency: Some(id("health")),
                subject: subject.into(),
                roles: vec![Role::IgLead],
            },
            decided_at: OffsetDateTime::UNIX_EPOCH,
            categories: Vec::new(),
            conditions: Conditions::default(),
            reasons: Vec::new(),
            questions: Vec::new(),
            escalate_to: to,
            note: String::new(),
        }
    }

    const IG: &[Role] = &[Role::IgLead];
    const CG: &[Role] = &[Role::CaldicottGuardian];

    #[test]
    fn approval_needs_a_required_role() {
        let x = exchange(ExchangeState::AwaitingApproval, vec![Role::IgLead]);
        assert!(check_decider(&x, "u", IG, DecisionKind::Approve).is_ok());
        assert!(check_decider(&x, "u", CG, DecisionKind::Approve).is_err());
        // Declining and asking are open to every approver of the holder.
        assert!(check_decider(&x, "u", CG, DecisionKind::Decline).is_ok());
        // No roles named: the IG lead.
        let x = exchange(ExchangeState::AwaitingApproval, Vec::new());
        assert!(check_decider(&x, "u", IG, DecisionKind::ApprovePart).is_ok());
    }

    #[test]
    fn health_data_without_consent_needs_the_caldicott_guardian() {
        let x = exchange(
            ExchangeState::AwaitingApproval,
            vec![Role::IgLead, Role::CaldicottGuardian],
        );
        assert!(check_decider(&x, "u", IG, DecisionKind::Approve).is_err());
        assert!(check_decider(&x, "u", IG, DecisionKind::ApprovePart).is_err());
        assert!(check_decider(&x, "u", CG, DecisionKind::Approve).is_ok());
        assert!(check_decider(&x, "u", IG, DecisionKind::Decline).is_ok());
    }

    #[test]
    fn an_escalation_to_a_role_is_decided_by_that_role() {
        let mut x = exchange(ExchangeState::Escalated, vec![Role::IgLead]);
        x.decisions.push(decided(
            DecisionKind::Escalate,
            "ig-1",
            Some(Role::CaldicottGuardian),
        ));
        assert!(check_decider(&x, "ig-2", IG, DecisionKind::Decline).is_err());
        // The Caldicott Guardian it was escalated to may approve without being an IG lead.
        assert!(check_decider(&x, "cg-1", CG, DecisionKind::Approve).is_ok());
        // An escalation to an IG lead does not lift a Caldicott Guardian requirement.
        let mut x = exchange(
            ExchangeState::Escalated,
            vec![Role::IgLead, Role::CaldicottGuardian],
        );
        x.decisions
            .push(decided(DecisionKind::Escalate, "cg-1", Some(Role::IgLead)));
        assert!(check_decider(&x, "ig-2", IG, DecisionKind::Approve).is_err());
    }

    #[test]
    fn a_disputed_decline_is_decided_by_someone_else() {
        let mut x = exchange(ExchangeState::Escalated, vec![Role::IgLead]);
        x.decisions
            .push(decided(DecisionKind::Decline, "ig-1", None));
        x.decisions
            .push(decided(DecisionKind::DeclineEscalated, "pc-1", None));
        assert!(check_decider(&x, "ig-1", IG, DecisionKind::Approve).is_err());
        assert!(check_decider(&x, "ig-1", IG, DecisionKind::Decline).is_err());
        assert!(check_decider(&x, "ig-2", IG, DecisionKind::Approve).is_ok());
    }

    #[test]
    fn escalation_rules_survive_a_question_and_its_answer() {
        let ask = || decided(DecisionKind::AskForMoreInformation, "ig-2", None);
        let answer = || decided(DecisionKind::InformationProvided, "pc-1", None);
        // Disputed decline, then the new approver asks and the requester answers: the
        // exchange is back awaiting approval, and the decliner still may not decide.
        let mut x = exchange(ExchangeState::AwaitingApproval, vec![Role::IgLead]);
        x.decisions
            .push(decided(DecisionKind::Decline, "ig-1", None));
        x.decisions
            .push(decided(DecisionKind::DeclineEscalated, "pc-1", None));
        x.decisions.push(ask());
        x.decisions.push(answer());
        assert!(check_decider(&x, "ig-1", IG, DecisionKind::Approve).is_err());
        assert!(check_decider(&x, "ig-1", IG, DecisionKind::Decline).is_err());
        assert!(check_decider(&x, "ig-1", IG, DecisionKind::AskForMoreInformation).is_err());
        assert!(check_decider(&x, "ig-2", IG, DecisionKind::Approve).is_ok());
        // Two rounds of questions change nothing.
        x.decisions.push(ask());
        x.decisions.push(answer());
        assert!(check_decider(&x, "ig-1", IG, DecisionKind::Decline).is_err());

        // An escalation to a Caldicott Guardian keeps its restriction after a round.
        let mut x = exchange(ExchangeState::AwaitingApproval, vec![Role::IgLead]);
        x.decisions.push(decided(
            DecisionKind::Escalate,
            "ig-1",
            Some(Role::CaldicottGuardian),
        ));
        x.decisions.push(ask());
        x.decisions.push(answer());
        assert!(check_decider(&x, "ig-2", IG, DecisionKind::Decline).is_err());
        assert!(check_decider(&x, "ig-2", IG, DecisionKind::Approve).is_err());
        assert!(check_decider(&x, "cg-1", CG, DecisionKind::Approve).is_ok());

        // A decision that ended the escalation ends its rules: declined by the Caldicott
        // Guardian, then disputed again, the IG lead who first declined may decide.
        x.decisions
            .push(decided(DecisionKind::Decline, "cg-1", None));
        x.decisions
            .push(decided(DecisionKind::DeclineEscalated, "pc-1", None));
        assert!(check_decider(&x, "ig-1", IG, DecisionKind::Decline).is_ok());
        assert!(check_decider(&x, "cg-1", CG, DecisionKind::Decline).is_err());
    }

    #[test]
    fn an_overdue_escalation_is_open_to_any_approver() {
        let x = exchange(ExchangeState::Escalated, vec![Role::IgLead]);
        assert!(check_decider(&x, "ig-1", IG, DecisionKind::Approve).is_ok());
    }

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
