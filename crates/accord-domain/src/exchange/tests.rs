//! Unit tests of the exchange aggregate: every rule of every transition, without a database.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::*;
use crate::assessment::{Assessment, Outcome};
use crate::enums::{Role, Urgency};
use crate::ids::{AgencyId, CategoryId, PurposeId};

fn id<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().unwrap_or_else(|e| panic!("{e:?}"))
}

fn t0() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + Duration::days(20_000)
}

fn exchange(state: ExchangeState, required: Vec<Role>) -> Exchange {
    let now = t0();
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
        level_of_need: None,
        assessment: Assessment {
            outcome: Outcome::ProceedToApproval,
            findings: Vec::new(),
            proposed_scope: vec![id("a"), id("b")],
            trimmed: Vec::new(),
            respond_by: now + Duration::days(1),
            required_approver_roles: required,
            assessed_at: now,
        },
        decisions: Vec::new(),
        approved_scope: Vec::new(),
        conditions: Conditions::default(),
        respond_by: now + Duration::days(1),
        overdue: false,
        first_decision_at: None,
        response: None,
        reasons: None,
        record_retain_until: None,
        record_purged: false,
        created_at: now,
        updated_at: now,
    }
}

fn person(agency: &str, subject: &str, roles: &[Role]) -> Actor {
    Actor {
        agency: Some(id(agency)),
        subject: subject.into(),
        roles: roles.to_vec(),
    }
}

fn decided(kind: DecisionKind, subject: &str, to: Option<Role>) -> Decision {
    Decision {
        kind,
        decided_by: person("health", subject, IG),
        decided_at: t0(),
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

fn draft(kind: DecisionKind) -> DecisionDraft {
    let mut d = DecisionDraft::new(kind);
    d.reasons = vec!["not necessary".into()];
    d
}

fn decide(x: &Exchange, d: DecisionDraft, who: &Actor) -> Result<Applied, Refusal> {
    x.handle(Command::Decide(d), who, t0() + Duration::hours(1))
}

#[test]
fn approval_needs_a_required_role() {
    let x = exchange(ExchangeState::AwaitingApproval, vec![Role::IgLead]);
    assert!(x.may_decide("u", IG, DecisionKind::Approve).is_ok());
    assert!(x.may_decide("u", CG, DecisionKind::Approve).is_err());
    // Declining and asking are open to every approver of the holder.
    assert!(x.may_decide("u", CG, DecisionKind::Decline).is_ok());
    // No roles named: the IG lead.
    let x = exchange(ExchangeState::AwaitingApproval, Vec::new());
    assert!(x.may_decide("u", IG, DecisionKind::ApprovePart).is_ok());
}

#[test]
fn health_data_without_consent_needs_the_caldicott_guardian() {
    let x = exchange(
        ExchangeState::AwaitingApproval,
        vec![Role::IgLead, Role::CaldicottGuardian],
    );
    assert!(x.may_decide("u", IG, DecisionKind::Approve).is_err());
    assert!(x.may_decide("u", IG, DecisionKind::ApprovePart).is_err());
    assert!(x.may_decide("u", CG, DecisionKind::Approve).is_ok());
    assert!(x.may_decide("u", IG, DecisionKind::Decline).is_ok());
    // Through handle: refused as not permitted, nothing recorded.
    let r = decide(
        &x,
        DecisionDraft::new(DecisionKind::Approve),
        &person("health", "ig", IG),
    );
    assert!(matches!(r, Err(Refusal::NotPermitted(_))), "{r:?}");
}

#[test]
fn an_escalation_to_a_role_is_decided_by_that_role() {
    let mut x = exchange(ExchangeState::Escalated, vec![Role::IgLead]);
    x.decisions.push(decided(
        DecisionKind::Escalate,
        "ig-1",
        Some(Role::CaldicottGuardian),
    ));
    assert!(x.may_decide("ig-2", IG, DecisionKind::Decline).is_err());
    // The Caldicott Guardian it was escalated to may approve without being an IG lead.
    assert!(x.may_decide("cg-1", CG, DecisionKind::Approve).is_ok());
    // An escalation to an IG lead does not lift a Caldicott Guardian requirement.
    let mut x = exchange(
        ExchangeState::Escalated,
        vec![Role::IgLead, Role::CaldicottGuardian],
    );
    x.decisions
        .push(decided(DecisionKind::Escalate, "cg-1", Some(Role::IgLead)));
    assert!(x.may_decide("ig-2", IG, DecisionKind::Approve).is_err());
}

#[test]
fn a_disputed_decline_is_decided_by_someone_else() {
    let mut x = exchange(ExchangeState::Escalated, vec![Role::IgLead]);
    x.decisions
        .push(decided(DecisionKind::Decline, "ig-1", None));
    x.decisions
        .push(decided(DecisionKind::DeclineEscalated, "pc-1", None));
    assert!(x.may_decide("ig-1", IG, DecisionKind::Approve).is_err());
    assert!(x.may_decide("ig-1", IG, DecisionKind::Decline).is_err());
    assert!(x.may_decide("ig-2", IG, DecisionKind::Approve).is_ok());
    assert!(!x.awaits_decision_by("ig-1", IG));
    assert!(x.awaits_decision_by("ig-2", IG));
}

#[test]
fn escalation_rules_survive_a_question_and_its_answer() {
    let ask = || decided(DecisionKind::AskForMoreInformation, "ig-2", None);
    let answer = || decided(DecisionKind::InformationProvided, "pc-1", None);
    let mut x = exchange(ExchangeState::AwaitingApproval, vec![Role::IgLead]);
    x.decisions
        .push(decided(DecisionKind::Decline, "ig-1", None));
    x.decisions
        .push(decided(DecisionKind::DeclineEscalated, "pc-1", None));
    x.decisions.push(ask());
    x.decisions.push(answer());
    assert!(x.may_decide("ig-1", IG, DecisionKind::Approve).is_err());
    assert!(x
        .may_decide("ig-1", IG, DecisionKind::AskForMoreInformation)
        .is_err());
    assert!(x.may_decide("ig-2", IG, DecisionKind::Approve).is_ok());

    let mut x = exchange(ExchangeState::AwaitingApproval, vec![Role::IgLead]);
    x.decisions.push(decided(
        DecisionKind::Escalate,
        "ig-1",
        Some(Role::CaldicottGuardian),
    ));
    x.decisions.push(ask());
    x.decisions.push(answer());
    assert!(x.may_decide("ig-2", IG, DecisionKind::Decline).is_err());
    assert!(x.may_decide("cg-1", CG, DecisionKind::Approve).is_ok());
    // A decision that ended the escalation ends its rules.
    x.decisions
        .push(decided(DecisionKind::Decline, "cg-1", None));
    x.decisions
        .push(decided(DecisionKind::DeclineEscalated, "pc-1", None));
    assert!(x.may_decide("ig-1", IG, DecisionKind::Decline).is_ok());
    assert!(x.may_decide("cg-1", CG, DecisionKind::Decline).is_err());
}

#[test]
fn approve_takes_the_proposed_scope_and_records_the_first_decision() {
    let x = exchange(ExchangeState::AwaitingApproval, vec![Role::IgLead]);
    let lead = person("health", "ig", IG);
    let a = decide(&x, DecisionDraft::new(DecisionKind::Approve), &lead)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.next.state, ExchangeState::Approved);
    assert_eq!(a.next.approved_scope, x.assessment.proposed_scope);
    assert_eq!(a.next.version, 4);
    assert_eq!(a.next.first_decision_at, Some(t0() + Duration::hours(1)));
    assert_eq!(a.events.len(), 1);
    assert_eq!(a.events[0].kind, AuditEventKind::Approve);
    assert_eq!(a.events[0].categories, x.assessment.proposed_scope);
    assert_eq!(a.notices.len(), 1);
    assert_eq!(a.notices[0].to, x.requesting_agency);
    assert_eq!(a.notices[0].kind, NoticeKind::DecisionMade);
    assert_eq!(a.notices[0].summary, "health decided: approved");
}

#[test]
fn approve_part_is_a_proper_subset_of_the_scope() {
    let x = exchange(ExchangeState::AwaitingApproval, vec![Role::IgLead]);
    let lead = person("health", "ig", IG);
    let mut d = DecisionDraft::new(DecisionKind::ApprovePart);
    d.categories = vec![id("a"), id("zz"), id("a")];
    let Err(Refusal::Invalid(v)) = decide(&x, d, &lead) else {
        panic!("accepted")
    };
    let fields: Vec<_> = v.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        ["approve_part.categories[1]", "approve_part.categories[2]"]
    );
    let mut d = DecisionDraft::new(DecisionKind::ApprovePart);
    d.categories = vec![id("b"), id("a")];
    assert!(matches!(decide(&x, d, &lead), Err(Refusal::Invalid(_))));
    let mut d = DecisionDraft::new(DecisionKind::ApprovePart);
    d.categories = vec![id("b")];
    d.conditions.retention_days = Some(40);
    d.purpose_retention_days = Some(30);
    let Err(Refusal::Invalid(v)) = decide(&x, d.clone(), &lead) else {
        panic!("accepted")
    };
    assert_eq!(v[0].field, "approve_part.conditions.retention_days");
    d.conditions.retention_days = Some(10);
    let a = decide(&x, d, &lead).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.next.state, ExchangeState::PartlyApproved);
    assert_eq!(a.next.approved_scope, vec![id::<CategoryId>("b")]);
    assert_eq!(a.next.conditions.retention_days, Some(10));
}

#[test]
fn a_decline_records_its_reasons_and_may_be_disputed() {
    let x = exchange(ExchangeState::AwaitingApproval, vec![Role::IgLead]);
    let lead = person("health", "ig-1", IG);
    let mut bare = draft(DecisionKind::Decline);
    bare.reasons.clear();
    assert!(matches!(decide(&x, bare, &lead), Err(Refusal::Invalid(_))));
    let declined = decide(&x, draft(DecisionKind::Decline), &lead)
        .unwrap_or_else(|e| panic!("{e}"))
        .next;
    assert_eq!(declined.state, ExchangeState::Declined);
    let pc = person("police", "pc-1", &[Role::Practitioner]);
    // Only a declined request may be disputed by its requester.
    let r = x.handle(
        Command::EscalateDecline {
            reason: "needed".into(),
        },
        &pc,
        t0(),
    );
    assert!(matches!(r, Err(Refusal::WrongState(_))), "{r:?}");
    let a = declined
        .handle(
            Command::EscalateDecline {
                reason: "needed".into(),
            },
            &pc,
            t0(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.next.state, ExchangeState::Escalated);
    assert_eq!(a.notices[0].to, x.holding_agency);
    assert_eq!(a.notices[0].summary, "police escalated the decline (s47)");
    // The decliner may not decide again; another approver may.
    let r = decide(&a.next, draft(DecisionKind::Decline), &lead);
    assert!(matches!(r, Err(Refusal::NotPermitted(_))), "{r:?}");
    let other = person("health", "ig-2", IG);
    assert!(decide(&a.next, DecisionDraft::new(DecisionKind::Approve), &other).is_ok());
}

#[test]
fn only_an_exchange_awaiting_a_decision_is_decided() {
    let lead = person("health", "ig", IG);
    // The transition table refuses first.
    let x = exchange(ExchangeState::Approved, vec![Role::IgLead]);
    let r = decide(&x, draft(DecisionKind::Decline), &lead);
    assert!(matches!(r, Err(Refusal::Transition(_))), "{r:?}");
    // The table lets a decline be escalated, but only by the requester.
    let x = exchange(ExchangeState::Declined, vec![Role::IgLead]);
    let mut d = draft(DecisionKind::Escalate);
    d.escalate_to = Some(Role::CaldicottGuardian);
    let r = decide(&x, d, &lead);
    assert!(matches!(r, Err(Refusal::WrongState(_))), "{r:?}");
}

#[test]
fn a_response_is_limited_to_the_approved_scope_and_retained_as_agreed() {
    let mut x = exchange(ExchangeState::PartlyApproved, vec![Role::IgLead]);
    x.approved_scope = vec![id("a")];
    x.conditions.retention_days = Some(7);
    let holder = person("health", "pc", &[Role::Practitioner]);
    let r = |cats: Vec<CategoryId>| ResponseDraft {
        item_categories: cats,
        content_sha256: "00".into(),
        content_size: 2,
        facts: 1,
        opinions: 0,
        historical: 0,
        purpose_retention_days: 30,
    };
    let Err(Refusal::Invalid(v)) =
        x.handle(Command::Respond(r(vec![id("a"), id("b")])), &holder, t0())
    else {
        panic!("accepted")
    };
    assert_eq!(v[0].field, "items[1].category_id");
    let a = x
        .handle(Command::Respond(r(vec![id("a"), id("a")])), &holder, t0())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.next.state, ExchangeState::Responded);
    let meta = a
        .next
        .response
        .clone()
        .unwrap_or_else(|| panic!("no response"));
    assert_eq!(meta.retain_until, t0() + Duration::days(7));
    assert_eq!(meta.categories, vec![id::<CategoryId>("a")]);
    assert_eq!(a.notices[0].kind, NoticeKind::ResponseReady);
    // Read: first fetch delivers, a second is recorded but changes nothing.
    let pc = person("police", "pc-1", &[Role::Practitioner]);
    let f1 = a
        .next
        .handle(Command::Fetch, &pc, t0())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(f1.changed);
    assert_eq!(f1.next.state, ExchangeState::Delivered);
    let f2 = f1
        .next
        .handle(Command::Fetch, &pc, t0())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!f2.changed);
    assert_eq!(f2.next.version, f1.next.version);
    assert_eq!(f2.events[0].detail["first_fetch"], false);
    // Nothing to read before a response; nothing after the purge.
    assert_eq!(
        x.handle(Command::Fetch, &pc, t0()),
        Err(Refusal::NoResponse)
    );
    let mut purged = f2.next;
    if let Some(m) = purged.response.as_mut() {
        m.purged = true;
    }
    assert_eq!(
        purged.handle(Command::Fetch, &pc, t0()),
        Err(Refusal::Purged)
    );
}

#[test]
fn overdue_escalates_once_after_the_deadline() {
    let x = exchange(ExchangeState::AwaitingApproval, vec![Role::IgLead]);
    let sys = Actor::system();
    assert!(matches!(
        x.handle(Command::MarkOverdue, &sys, t0()),
        Err(Refusal::NotDue(_))
    ));
    let late = t0() + Duration::days(2);
    let a = x
        .handle(Command::MarkOverdue, &sys, late)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.next.state, ExchangeState::Escalated);
    assert!(a.next.overdue);
    assert_eq!(a.notices.len(), 2);
    let again = a
        .next
        .handle(Command::MarkOverdue, &sys, late)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!again.changed && again.events.is_empty());
}

#[test]
fn opening_follows_the_check() {
    let x = exchange(ExchangeState::Submitted, vec![]);
    let a = x.clone().open().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.next.state, ExchangeState::AwaitingApproval);
    assert_eq!(a.notices[0].to, x.holding_agency);
    let mut refused = x;
    refused.assessment.outcome = Outcome::Refuse;
    let a = refused.open().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.next.state, ExchangeState::Refused);
    assert_eq!(a.events[1].kind, AuditEventKind::Refused);
    assert_eq!(a.notices[0].kind, NoticeKind::Refused);
}

#[test]
fn withdraw_and_acknowledge_notify_the_holder() {
    let x = exchange(ExchangeState::AwaitingApproval, vec![]);
    let pc = person("police", "pc-1", &[Role::Practitioner]);
    let a = x
        .handle(
            Command::Withdraw {
                reason: "done".into(),
            },
            &pc,
            t0(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.next.state, ExchangeState::Withdrawn);
    assert_eq!(a.notices[0].summary, "police withdrew the request (s47)");
    // The reason reaches the log only as a digest.
    assert_eq!(a.events[0].detail["note"]["chars"], 4);
    let r = x.handle(
        Command::Acknowledge {
            note: String::new(),
        },
        &pc,
        t0(),
    );
    assert!(matches!(r, Err(Refusal::Transition(_))), "{r:?}");
}
