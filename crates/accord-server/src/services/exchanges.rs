//! `ExchangeService`: what agency systems do on behalf of their practitioners: check a draft
//! request, submit a request (the automatic check runs at once), follow it, withdraw it,
//! answer questions, dispute a decline, respond to requests addressed to their agency, fetch
//! and acknowledge responses.

use std::sync::Arc;

use accord_domain::{
    Action, Assessment, CategoryId, Command, ExchangeState, FieldViolation, History, Outcome,
    Protocol, Role,
};
use accord_proto::v1 as pb;
use accord_proto::v1::exchange_service_server::ExchangeService;
use accord_store::{ExchangeQuery, Party, StoreError, Submission};
use time::{Duration, OffsetDateTime};
use tonic::{Request, Response, Status};
use tracing::info;

use super::{
    actor_as, apply_change, exchange_id, load_authorized, optional_version, page, purpose_of,
    version_conflict, Fields,
};
use crate::api::{self, ProtoEnum};
use crate::auth::Caller;
use crate::authz::{self, Operation, Relation};
use crate::error::{invalid_field, prefixed, store_status, RpcResult, StoreResultExt};
use crate::AppState;

/// The `ExchangeService` handlers.
#[derive(Debug, Clone)]
pub struct ExchangeHandlers {
    state: AppState,
}

impl ExchangeHandlers {
    pub fn new(state: AppState) -> Self {
        ExchangeHandlers { state }
    }

    /// The one path of `SubmitRequest` and `CheckRequest` up to the point where a submission
    /// is stored: authenticate; authorise `op` for the relation the draft claims; read the
    /// draft, reporting every bad field (`request.` prefixed); look up its protocol; check the
    /// caller's agency is active in it; read the child's earlier exchanges; assess. Writes
    /// nothing, so a check and a submission of the same draft cannot differ before the store.
    async fn assess_draft<T, D: Draft>(
        &self,
        request: Request<T>,
        op: Operation,
        draft_of: fn(T) -> Option<pb::InformationRequest>,
    ) -> Result<Assessed<D>, Status> {
        let caller = self.state.authenticate(&request)?;
        let draft = draft_of(request.into_inner());
        let relation = claimed_relation(caller.agency.as_str(), draft.as_ref());
        let role = authz::authorize(op, &caller.roles, relation).map_err(|d| match (relation, d) {
            (Relation::Requester, d) => Status::from(d),
            (_, _) => Status::permission_denied(format!(
                "request.requesting_agency_id must be the caller's own agency ({}): an agency submits only its own requests",
                caller.agency
            )),
        })?;

        let now = self.state.clock.now();
        let Some(r) = draft.as_ref() else {
            return Err(invalid_field("request", "is required"));
        };
        let mut fields = Fields::default();
        let parsed = match D::parse(r, now) {
            Ok(p) => Some(p),
            Err(v) => {
                fields.extend(prefixed("request", v));
                None
            }
        };
        if r.practitioner
            .as_ref()
            .is_some_and(|p| !p.subject.is_empty() && p.subject != caller.subject)
        {
            fields.push(
                "request.practitioner.subject",
                "must equal the subject (sub) of the caller's token: practitioners submit their own requests",
            );
        }
        let protocol = if r.protocol_id.is_empty() {
            None
        } else {
            match self.state.registry.protocol(&r.protocol_id) {
                Ok(p) => Some(p),
                Err(_) => {
                    fields.push("request.protocol_id", "is not a protocol this broker holds");
                    None
                }
            }
        };
        fields.finish()?;
        let (Some(parsed), Some(protocol)) = (parsed, protocol) else {
            // Both are present whenever no violation was reported.
            return Err(Status::internal("internal error"));
        };
        if !caller.active_in(&protocol.id) {
            return Err(Status::permission_denied(format!(
                "agency {} is not an active signatory of protocol {}",
                caller.agency, protocol.id
            )));
        }

        let store = self.state.store();
        let request = parsed.request();
        let history = if request.child.identifiers.is_empty() {
            History::default()
        } else {
            let since = now - Duration::days(i64::from(protocol.repeat_window_days));
            History {
                prior: store
                    .prior_exchanges(&request.child.identifiers, since)
                    .await
                    .or_status()?,
            }
        };
        let assessment = accord_policy::assess(&protocol, request, &history, now);
        Ok(Assessed {
            caller,
            role,
            draft: parsed,
            protocol,
            assessment,
            now,
        })
    }

    /// A requester's change that carries only a free-text note (withdraw, acknowledge):
    /// authorise, check the note, hand the command to the store as the caller.
    async fn apply_noted<T>(
        &self,
        request: Request<T>,
        op: Operation,
        command: fn(String) -> Command,
        exchange: impl Fn(&T) -> &str,
        expected_version: impl Fn(&T) -> u64,
        note: (&'static str, fn(&T) -> &str, usize),
    ) -> Result<accord_store::Exchange, Status> {
        let caller = self.state.authenticate(&request)?;
        let msg = request.into_inner();
        let id = exchange_id("exchange_id", exchange(&msg))?;
        let (_, role) = load_authorized(&self.state, &caller, op, id).await?;
        let (note_field, note_of, min_len) = note;
        let mut fields = Fields::default();
        fields.text(note_field, note_of(&msg), min_len, 2000);
        fields.finish()?;
        apply_change(
            &self.state,
            id,
            optional_version(expected_version(&msg)),
            command(note_of(&msg).to_owned()),
            actor_as(&caller, role),
        )
        .await
    }
}

/// How a draft is read: `SubmitRequest` keeps the idempotency key it stores under;
/// `CheckRequest` stores nothing and needs none. Every other check is the same.
trait Draft: Sized {
    fn parse(r: &pb::InformationRequest, now: OffsetDateTime) -> Result<Self, Vec<FieldViolation>>;
    fn request(&self) -> &accord_domain::Request;
}

impl Draft for api::ParsedRequest {
    fn parse(r: &pb::InformationRequest, now: OffsetDateTime) -> Result<Self, Vec<FieldViolation>> {
        api::request_from_proto(r, now)
    }
    fn request(&self) -> &accord_domain::Request {
        &self.request
    }
}

impl Draft for accord_domain::Request {
    fn parse(r: &pb::InformationRequest, now: OffsetDateTime) -> Result<Self, Vec<FieldViolation>> {
        api::draft_from_proto(r, now)
    }
    fn request(&self) -> &accord_domain::Request {
        self
    }
}

/// A draft read, authorised and assessed: all `CheckRequest` does, and everything
/// `SubmitRequest` does before it stores.
struct Assessed<D> {
    caller: Caller,
    role: Role,
    draft: D,
    protocol: Arc<Protocol>,
    assessment: Assessment,
    now: OffsetDateTime,
}

/// The state a submission with this assessment enters, by the transition table: the outcome
/// of the check decides it, as `Exchange::open` does.
fn state_after_check(a: &Assessment) -> Result<ExchangeState, Status> {
    let action = match a.outcome {
        Outcome::Refuse => Action::Refuse,
        Outcome::ProceedToApproval => Action::SendForApproval,
    };
    ExchangeState::Submitted
        .apply(action)
        .map_err(|e| store_status(e.into()))
}

/// The relation a submission claims: by the agency ids as written. An unreadable or missing
/// requesting agency is a validation problem, reported after authorisation as the requester.
fn claimed_relation(caller_agency: &str, r: Option<&pb::InformationRequest>) -> Relation {
    match r {
        Some(r)
            if !r.requesting_agency_id.is_empty() && r.requesting_agency_id != caller_agency =>
        {
            if r.holding_agency_id == caller_agency {
                Relation::Holder
            } else {
                Relation::NonParty
            }
        }
        _ => Relation::Requester,
    }
}

/// The `states` filter of `ListExchanges`: each a known state at most once, so never more
/// entries than there are states; a longer list is one violation, its entries unread.
fn parse_states(fields: &mut Fields, values: &[i32]) -> Vec<ExchangeState> {
    let mut states: Vec<ExchangeState> = Vec::new();
    if !fields.list_len("states", values.len(), ExchangeState::ALL.len()) {
        return states;
    }
    for (i, s) in values.iter().enumerate() {
        let field = format!("states[{i}]");
        match ExchangeState::from_proto(*s) {
            None if *s == 0 => fields.push(field, "UNSPECIFIED is not a state"),
            None => fields.push(field, format!("unknown value {s}")),
            Some(st) if states.contains(&st) => fields.push(field, "is listed twice"),
            Some(st) => states.push(st),
        }
    }
    states
}

fn exchange_response(x: &accord_store::Exchange) -> pb::Exchange {
    api::exchange_to_proto(x)
}

#[tonic::async_trait]
impl ExchangeService for ExchangeHandlers {
    async fn submit_request(
        &self,
        request: Request<pb::SubmitRequestRequest>,
    ) -> RpcResult<pb::SubmitRequestResponse> {
        let Assessed {
            caller,
            role,
            draft,
            protocol,
            assessment,
            now,
        } = self
            .assess_draft::<_, api::ParsedRequest>(request, Operation::SubmitRequest, |m| m.request)
            .await?;
        let submitted = self
            .state
            .store()
            .submit(Submission {
                idempotency_key: draft.idempotency_key,
                request: draft.request,
                assessment,
                actor: actor_as(&caller, role),
                now,
                record_retention: protocol.record_retention,
            })
            .await
            .or_status()?;
        let x = submitted.exchange;
        info!(
            exchange_id = %x.id,
            holding_agency = %x.holding_agency,
            state = %x.state,
            replayed = submitted.replayed,
            "request submitted"
        );
        let (protocol_id, version) = x
            .request
            .as_ref()
            .map(|r| (r.protocol_id.to_string(), r.protocol_version.clone()))
            .unwrap_or_else(|| (protocol.id.to_string(), protocol.version.clone()));
        Ok(Response::new(pb::SubmitRequestResponse {
            exchange_id: x.id.to_string(),
            state: x.state.to_proto(),
            assessment: Some(api::assessment_to_proto(
                &x.assessment,
                &protocol_id,
                &version,
            )),
            replayed: submitted.replayed,
            version: x.version,
        }))
    }

    async fn check_request(
        &self,
        request: Request<pb::CheckRequestRequest>,
    ) -> RpcResult<pb::CheckRequestResponse> {
        let Assessed {
            draft, assessment, ..
        } = self
            .assess_draft::<_, accord_domain::Request>(request, Operation::CheckRequest, |m| {
                m.request
            })
            .await?;
        // Nothing is stored, audited or sent: a draft is not a request, and nothing is shared.
        let state = state_after_check(&assessment)?;
        info!(
            holding_agency = %draft.holding_agency,
            outcome = assessment.outcome.as_str(),
            "draft checked"
        );
        Ok(Response::new(pb::CheckRequestResponse {
            state: state.to_proto(),
            assessment: Some(api::assessment_to_proto(
                &assessment,
                draft.protocol_id.as_str(),
                &draft.protocol_version,
            )),
        }))
    }

    async fn get_exchange(
        &self,
        request: Request<pb::GetExchangeRequest>,
    ) -> RpcResult<pb::GetExchangeResponse> {
        let caller = self.state.authenticate(&request)?;
        let id = exchange_id("exchange_id", &request.get_ref().exchange_id)?;
        let (x, _) = load_authorized(&self.state, &caller, Operation::GetExchange, id).await?;
        Ok(Response::new(pb::GetExchangeResponse {
            exchange: Some(exchange_response(&x)),
        }))
    }

    async fn list_exchanges(
        &self,
        request: Request<pb::ListExchangesRequest>,
    ) -> RpcResult<pb::ListExchangesResponse> {
        let caller = self.state.authenticate(&request)?;
        caller.authorize(Operation::ListExchanges)?;
        let msg = request.into_inner();
        let mut fields = Fields::default();
        let party = match pb::PartyRole::try_from(msg.party_role) {
            Ok(pb::PartyRole::Unspecified | pb::PartyRole::Any) => Party::Either,
            Ok(pb::PartyRole::Requester) => Party::Requester,
            Ok(pb::PartyRole::Holder) => Party::Holder,
            Err(_) => {
                fields.push("party_role", format!("unknown value {}", msg.party_role));
                Party::Either
            }
        };
        let states = parse_states(&mut fields, &msg.states);
        let purpose = if msg.purpose_id.is_empty() {
            None
        } else {
            match accord_domain::PurposeId::parse(&msg.purpose_id) {
                Ok(p) => Some(p),
                Err(e) => {
                    fields.push("purpose_id", format!("is not a valid id: {e}"));
                    None
                }
            }
        };
        let created_after = msg.created_after.as_ref().and_then(|t| {
            let v = api::from_timestamp(t);
            if v.is_none() {
                fields.push("created_after", "is not a valid timestamp");
            }
            v
        });
        let created_before = msg.created_before.as_ref().and_then(|t| {
            let v = api::from_timestamp(t);
            if v.is_none() {
                fields.push("created_before", "is not a valid timestamp");
            }
            v
        });
        if let (Some(a), Some(b)) = (created_after, created_before) {
            if b <= a {
                fields.push("created_before", "must be after created_after");
            }
        }
        let (page_size, page_token) = page(&mut fields, "page", msg.page.as_ref());
        fields.finish()?;

        let result = self
            .state
            .store()
            .list(ExchangeQuery {
                agency: caller.agency.clone(),
                party,
                states,
                purpose,
                created_after,
                created_before,
                page_size,
                page_token,
            })
            .await;
        let page = match result {
            Ok(p) => p,
            // The only input a listing can get wrong is its page token.
            Err(StoreError::InvalidInput {
                field: "page_token",
                ..
            }) => {
                return Err(invalid_field(
                    "page.page_token",
                    "is not a page token of this listing",
                ))
            }
            Err(e) => return Err(store_status(e)),
        };
        Ok(Response::new(pb::ListExchangesResponse {
            exchanges: page
                .items
                .iter()
                .map(api::exchange_summary_to_proto)
                .collect(),
            page: Some(pb::PageInfo {
                next_page_token: page.next_page_token.unwrap_or_default(),
            }),
        }))
    }

    async fn withdraw_request(
        &self,
        request: Request<pb::WithdrawRequestRequest>,
    ) -> RpcResult<pb::WithdrawRequestResponse> {
        let x = self
            .apply_noted(
                request,
                Operation::WithdrawRequest,
                |reason| Command::Withdraw { reason },
                |m| &m.exchange_id,
                |m| m.expected_version,
                ("reason", |m| &m.reason, 1),
            )
            .await?;
        info!(exchange_id = %x.id, "request withdrawn");
        Ok(Response::new(pb::WithdrawRequestResponse {
            exchange: Some(exchange_response(&x)),
        }))
    }

    async fn answer_information_request(
        &self,
        request: Request<pb::AnswerInformationRequestRequest>,
    ) -> RpcResult<pb::AnswerInformationRequestResponse> {
        let caller = self.state.authenticate(&request)?;
        let msg = request.into_inner();
        let id = exchange_id("exchange_id", &msg.exchange_id)?;
        let op = Operation::AnswerInformationRequest;
        let (_, role) = load_authorized(&self.state, &caller, op, id).await?;
        let mut fields = Fields::default();
        fields.text("answer", &msg.answer, 1, 8000);
        if let Err(v) = api::amended_categories_from_proto(&msg.amended_categories) {
            fields.extend(v);
        } else if !msg.amended_categories.is_empty() {
            // The store records an answer as a decision on the exchange; it cannot yet
            // replace the request's categories and its assessment in the same step.
            fields.push(
                "amended_categories",
                "amending the categories sought is not supported by this broker yet: answer without amending, or withdraw the request and submit a new one",
            );
        }
        fields.finish()?;
        let x = apply_change(
            &self.state,
            id,
            optional_version(msg.expected_version),
            Command::AnswerInformationRequest { answer: msg.answer },
            actor_as(&caller, role),
        )
        .await?;
        info!(exchange_id = %x.id, "information provided");
        Ok(Response::new(pb::AnswerInformationRequestResponse {
            exchange: Some(exchange_response(&x)),
        }))
    }

    async fn submit_response(
        &self,
        request: Request<pb::SubmitResponseRequest>,
    ) -> RpcResult<pb::SubmitResponseResponse> {
        let caller = self.state.authenticate(&request)?;
        let msg = request.into_inner();
        let id = exchange_id("exchange_id", &msg.exchange_id)?;
        let op = Operation::SubmitResponse;
        let (x, role) = load_authorized(&self.state, &caller, op, id).await?;
        // The state first: before approval there is no scope to check items against.
        x.state
            .apply(Action::Respond)
            .map_err(|e| store_status(e.into()))?;

        let now = self.state.clock.now();
        let mut fields = Fields::default();
        if msg.expected_version == 0 {
            fields.push(
                "expected_version",
                "is required: the version of the exchange the response answers",
            );
        }
        let items = match api::response_items_from_proto(&msg.items, now) {
            Ok(items) => Some(items),
            Err(v) => {
                fields.extend(v);
                None
            }
        };
        // Reported with the other problems of the input: items outside the approved scope
        // (the aggregate's rule, checked again when the store applies the response). An
        // over-long list was reported whole above.
        if msg.items.len() <= api::MAX_RESPONSE_ITEMS {
            let categories: Vec<(usize, CategoryId)> = msg
                .items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| CategoryId::parse(&item.category_id).ok().map(|c| (i, c)))
                .collect();
            fields.extend(x.unapproved_items(categories.iter().map(|(i, c)| (*i, c))));
        }
        fields.finish()?;
        let items = items.unwrap_or_default();
        if msg.expected_version != x.version {
            return Err(version_conflict(id, msg.expected_version, x.version));
        }
        // Which items may be sent and for how long they are kept is the aggregate's to say.
        let (_, purpose) = purpose_of(&self.state, &x)?;
        let x = self
            .state
            .store()
            .respond(
                id,
                msg.expected_version,
                items,
                actor_as(&caller, role),
                now,
                purpose.retention_days,
            )
            .await
            .or_status()?;
        info!(exchange_id = %x.id, "response submitted");
        let content_sha256 = x
            .response
            .as_ref()
            .map(|r| r.content_sha256.clone())
            .unwrap_or_default();
        Ok(Response::new(pb::SubmitResponseResponse {
            exchange: Some(exchange_response(&x)),
            content_sha256,
        }))
    }

    async fn fetch_response(
        &self,
        request: Request<pb::FetchResponseRequest>,
    ) -> RpcResult<pb::FetchResponseResponse> {
        let caller = self.state.authenticate(&request)?;
        let id = exchange_id("exchange_id", &request.get_ref().exchange_id)?;
        let (_, role) = load_authorized(&self.state, &caller, Operation::FetchResponse, id).await?;
        let now = self.state.clock.now();
        let (x, items) = self
            .state
            .store()
            .fetch_response(id, actor_as(&caller, role), now)
            .await
            .or_status()?;
        let Some(meta) = x.response.as_ref() else {
            return Err(Status::failed_precondition(format!(
                "exchange {id} has no response"
            )));
        };
        info!(exchange_id = %x.id, "response fetched");
        Ok(Response::new(pb::FetchResponseResponse {
            response: Some(pb::Response {
                exchange_id: x.id.to_string(),
                items: api::response_items_to_proto(&items),
                submitted_at: Some(api::timestamp(meta.submitted_at)),
                submitted_by: meta.submitted_by.clone(),
                content_sha256: meta.content_sha256.clone(),
            }),
            conditions: Some(api::conditions_to_proto(&x.conditions)),
            retain_until: Some(api::timestamp(meta.retain_until)),
            state: x.state.to_proto(),
            version: x.version,
        }))
    }

    async fn acknowledge_response(
        &self,
        request: Request<pb::AcknowledgeResponseRequest>,
    ) -> RpcResult<pb::AcknowledgeResponseResponse> {
        let x = self
            .apply_noted(
                request,
                Operation::AcknowledgeResponse,
                |note| Command::Acknowledge { note },
                |m| &m.exchange_id,
                |m| m.expected_version,
                ("note", |m| &m.note, 0),
            )
            .await?;
        info!(exchange_id = %x.id, "response acknowledged");
        Ok(Response::new(pb::AcknowledgeResponseResponse {
            exchange: Some(exchange_response(&x)),
        }))
    }

    async fn escalate_decline(
        &self,
        request: Request<pb::EscalateDeclineRequest>,
    ) -> RpcResult<pb::EscalateDeclineResponse> {
        let caller = self.state.authenticate(&request)?;
        let msg = request.into_inner();
        let id = exchange_id("exchange_id", &msg.exchange_id)?;
        let op = Operation::EscalateDecline;
        let (_, role) = load_authorized(&self.state, &caller, op, id).await?;
        let mut fields = Fields::default();
        fields.text("reason", &msg.reason, 1, 4000);
        fields.finish()?;
        let x = apply_change(
            &self.state,
            id,
            optional_version(msg.expected_version),
            Command::EscalateDecline { reason: msg.reason },
            actor_as(&caller, role),
        )
        .await?;
        info!(exchange_id = %x.id, "decline escalated by the requester");
        Ok(Response::new(pb::EscalateDeclineResponse {
            exchange: Some(exchange_response(&x)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(requesting: &str, holding: &str) -> pb::InformationRequest {
        pb::InformationRequest {
            requesting_agency_id: requesting.into(),
            holding_agency_id: holding.into(),
            ..Default::default()
        }
    }

    #[test]
    fn an_over_long_states_filter_is_one_violation() {
        let mut fields = Fields::default();
        let states = parse_states(&mut fields, &vec![0; 1_000_000]);
        assert!(states.is_empty());
        let e = fields.finish().err().unwrap_or_else(|| panic!("accepted"));
        assert_eq!(e.message(), "invalid request: states");
        let details = tonic_types::StatusExt::get_error_details(&e);
        let bad = details
            .bad_request()
            .map(|b| b.field_violations.clone())
            .unwrap_or_default();
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].description, "at most 14 entries (found 1000000)");
        let mut fields = Fields::default();
        let states = parse_states(&mut fields, &[1, 1]);
        assert_eq!(states, [ExchangeState::Submitted]);
        assert!(fields.finish().is_err());
    }

    #[test]
    fn submission_relation_is_the_claimed_one() {
        assert_eq!(claimed_relation("a", None), Relation::Requester);
        assert_eq!(
            claimed_relation("a", Some(&req("", "b"))),
            Relation::Requester
        );
        assert_eq!(
            claimed_relation("a", Some(&req("a", "b"))),
            Relation::Requester
        );
        assert_eq!(
            claimed_relation("b", Some(&req("a", "b"))),
            Relation::Holder
        );
        assert_eq!(
            claimed_relation("c", Some(&req("a", "b"))),
            Relation::NonParty
        );
    }
}
