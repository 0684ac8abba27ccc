//! The rules of every exchange transition: [`Exchange::open`] for a new request and
//! [`Exchange::handle`] for every command after it. Each returns the next exchange with its
//! audit events and inbox notices, or a [`Refusal`]; neither does I/O.

use std::collections::BTreeSet;

use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::command::{Command, DecisionDraft, ResponseDraft};
use super::effects::{
    text_digest, text_digests, Applied, AuditEvent, AuditEventKind, Notice, NoticeKind, Refusal,
};
use super::{Action, Actor, Conditions, Decision, DecisionKind, Exchange, ExchangeState};
use crate::assessment::Outcome;
use crate::enums::Role;
use crate::ids::AgencyId;
use crate::validation::FieldViolation;

/// Unix microseconds, as the log records instants in `detail`.
fn micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1000)).unwrap_or(i64::MAX)
}

impl Exchange {
    /// A new request, assessed: the policy check's outcome decides whether it is refused
    /// (`001 When`: do not share) or goes to the holding agency for approval. Returns the
    /// `submitted` entry and the outcome entry; their `detail` is left `null` for the store,
    /// which records the request's lawful basis, consent and findings there.
    pub fn open(mut self) -> Result<Applied, Refusal> {
        let action = match self.assessment.outcome {
            Outcome::Refuse => Action::Refuse,
            Outcome::ProceedToApproval => Action::SendForApproval,
        };
        let state = ExchangeState::Submitted.apply(action)?;
        self.state = state;
        self.version = 1;
        let outcome = AuditEvent {
            kind: AuditEventKind::of_action(action),
            from: Some(ExchangeState::Submitted),
            to: Some(state),
            categories: self.assessment.proposed_scope.clone(),
            content: None,
            detail: serde_json::Value::Null,
        };
        let submitted = AuditEvent {
            kind: AuditEventKind::Submitted,
            from: None,
            to: Some(ExchangeState::Submitted),
            categories: Vec::new(),
            content: None,
            detail: serde_json::Value::Null,
        };
        let notice = if state == ExchangeState::Refused {
            Notice {
                to: self.requesting_agency.clone(),
                kind: NoticeKind::Refused,
                summary: format!(
                    "request to {} for {} was refused by the policy check",
                    self.holding_agency, self.purpose
                ),
            }
        } else {
            Notice {
                to: self.holding_agency.clone(),
                kind: NoticeKind::RequestReceived,
                summary: format!(
                    "request from {} for {} awaits approval",
                    self.requesting_agency, self.purpose
                ),
            }
        };
        Ok(Applied {
            next: self,
            changed: true,
            events: vec![submitted, outcome],
            notices: vec![notice],
        })
    }

    /// Decides `command` given by `actor` at `now`. Who may give a command at all (the
    /// authorisation matrix: party and role) is checked before; this adds every rule that
    /// depends on the exchange itself.
    pub fn handle(
        &self,
        command: Command,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Applied, Refusal> {
        let mut next = self.clone();
        let mut t = Transition {
            events: Vec::new(),
            notices: Vec::new(),
        };
        match command {
            Command::Decide(draft) => self.decide(&mut next, &mut t, draft, actor, now)?,
            Command::AnswerInformationRequest { answer } => {
                // The answer is recorded as a decision on the exchange, for the approver to
                // read; an empty answer (the requester only sends the request back) has
                // nothing to record.
                let d = (!answer.is_empty()).then(|| {
                    let mut d = blank(DecisionKind::InformationProvided, actor, now);
                    d.note = answer;
                    d
                });
                self.record(&mut next, &mut t, Action::AnswerInformationRequest, d, "")?;
                t.notify(
                    &self.holding_agency,
                    NoticeKind::InformationProvided,
                    format!(
                        "{} provided more information ({})",
                        self.requesting_agency, self.purpose
                    ),
                );
            }
            Command::EscalateDecline { reason } => {
                // The state machine also lets an approver escalate a request awaiting
                // approval; the requester may only dispute a decline (`002 14.1`).
                if self.state != ExchangeState::Declined {
                    return Err(Refusal::WrongState(format!(
                        "exchange {} is {}: only a declined request can be escalated by the requester",
                        self.id, self.state
                    )));
                }
                let mut d = blank(DecisionKind::DeclineEscalated, actor, now);
                d.reasons = vec![reason];
                self.record(&mut next, &mut t, Action::Escalate, Some(d), "")?;
                let summary = format!(
                    "{} escalated the decline ({})",
                    self.requesting_agency, self.purpose
                );
                for a in self.other_parties(actor) {
                    t.notify(&a, NoticeKind::Escalated, summary.clone());
                }
            }
            Command::Withdraw { reason } => {
                self.record(&mut next, &mut t, Action::Withdraw, None, &reason)?;
                t.notify(
                    &self.holding_agency,
                    NoticeKind::Withdrawn,
                    format!(
                        "{} withdrew the request ({})",
                        self.requesting_agency, self.purpose
                    ),
                );
            }
            Command::Acknowledge { note } => {
                self.record(&mut next, &mut t, Action::Acknowledge, None, &note)?;
                t.notify(
                    &self.holding_agency,
                    NoticeKind::Acknowledged,
                    format!("{} acknowledged the response", self.requesting_agency),
                );
            }
            Command::Close => self.record(&mut next, &mut t, Action::Close, None, "")?,
            Command::Expire => self.record(&mut next, &mut t, Action::Expire, None, "")?,
            Command::MarkOverdue => {
                // Already marked, or decided since the deadline job picked it: nothing to do.
                if self.overdue || !self.state.awaits_decision() {
                    return Ok(Applied {
                        next,
                        changed: false,
                        events: Vec::new(),
                        notices: Vec::new(),
                    });
                }
                if self.respond_by > now {
                    return Err(Refusal::NotDue(
                        "the response deadline has not passed".into(),
                    ));
                }
                // Escalated exchanges stay escalated; awaiting approval ones are escalated.
                let to = self.state.apply(Action::Escalate).unwrap_or(self.state);
                next.state = to;
                next.overdue = true;
                t.events.push(AuditEvent {
                    kind: AuditEventKind::Overdue,
                    from: Some(self.state),
                    to: Some(to),
                    categories: Vec::new(),
                    content: None,
                    detail: json!({
                        "respond_by_us": micros(self.respond_by),
                        "escalated": self.state != to,
                    }),
                });
                let summary = format!("response deadline passed ({})", self.purpose);
                for a in [&self.requesting_agency, &self.holding_agency] {
                    t.notify(a, NoticeKind::Overdue, summary.clone());
                }
            }
            Command::Respond(draft) => self.respond(&mut next, &mut t, draft, actor, now)?,
            Command::Fetch => return self.fetch(next),
        }
        next.version = self.version + 1;
        next.updated_at = now;
        Ok(Applied {
            next,
            changed: true,
            events: t.events,
            notices: t.notices,
        })
    }

    /// The state change `action` with the human decision it records (if any): the decision
    /// is appended, the entry records it with its free text as digests.
    fn record(
        &self,
        next: &mut Exchange,
        t: &mut Transition,
        action: Action,
        decision: Option<Decision>,
        note: &str,
    ) -> Result<(), Refusal> {
        let to = self.state.apply(action)?;
        let approval = matches!(action, Action::Approve | Action::ApprovePart);
        if matches!(
            action,
            Action::Approve | Action::ApprovePart | Action::Decline
        ) && next.first_decision_at.is_none()
        {
            next.first_decision_at = decision.as_ref().map(|d| d.decided_at);
        }
        let detail = json!({
            "decision": decision.as_ref().map(decision_detail),
            "note": text_digest(note),
            "approved_scope": if approval { Some(&next.approved_scope) } else { None },
            "conditions": if approval { Some(conditions_detail(&next.conditions)) } else { None },
        });
        t.events.push(AuditEvent {
            kind: AuditEventKind::of_action(action),
            from: Some(self.state),
            to: Some(to),
            categories: if approval {
                next.approved_scope.clone()
            } else {
                Vec::new()
            },
            content: None,
            detail,
        });
        if let Some(d) = decision {
            next.decisions.push(d);
        }
        next.state = to;
        Ok(())
    }

    fn decide(
        &self,
        next: &mut Exchange,
        t: &mut Transition,
        draft: DecisionDraft,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(), Refusal> {
        let action = match draft.kind {
            DecisionKind::Approve => Action::Approve,
            DecisionKind::ApprovePart => Action::ApprovePart,
            DecisionKind::Decline => Action::Decline,
            DecisionKind::AskForMoreInformation => Action::AskForMoreInformation,
            DecisionKind::Escalate => Action::Escalate,
            DecisionKind::InformationProvided | DecisionKind::DeclineEscalated => {
                return Err(Refusal::NotPermitted(format!(
                    "a {:?} is the requester's, not an approver's decision",
                    draft.kind
                )))
            }
        };
        // The transition first: a decision the state does not allow is refused as such.
        self.state.apply(action)?;
        // The table lets a requester escalate a decline; an approver decides only what awaits.
        if !self.state.awaits_decision() {
            return Err(Refusal::WrongState(format!(
                "exchange {} is {}: only an exchange awaiting approval or escalated can be decided",
                self.id, self.state
            )));
        }
        self.may_decide(&actor.subject, &actor.roles, draft.kind)
            .map_err(Refusal::NotPermitted)?;
        let categories = self.check_draft(&draft)?;
        let d = Decision {
            kind: draft.kind,
            decided_by: actor.clone(),
            decided_at: now,
            categories: categories.clone(),
            conditions: draft.conditions.clone(),
            reasons: draft.reasons,
            questions: draft.questions,
            escalate_to: draft.escalate_to,
            note: draft.note,
        };
        if matches!(action, Action::Approve | Action::ApprovePart) {
            next.approved_scope = categories;
            next.conditions = draft.conditions;
        }
        self.record(next, t, action, Some(d), "")?;
        let (req, hold, purpose) = (&self.requesting_agency, &self.holding_agency, &self.purpose);
        match action {
            Action::AskForMoreInformation => t.notify(
                req,
                NoticeKind::MoreInfoRequested,
                format!("{hold} asks for more information ({purpose})"),
            ),
            Action::Escalate => {
                for a in self.other_parties(actor) {
                    t.notify(
                        &a,
                        NoticeKind::Escalated,
                        format!("request escalated ({purpose})"),
                    );
                }
            }
            _ => t.notify(
                req,
                NoticeKind::DecisionMade,
                format!("{hold} decided: {}", next.state.as_str()),
            ),
        }
        Ok(())
    }

    /// The decision's content against the exchange: the approved categories (approve: the
    /// proposed scope; approve part: a proper, non-empty subset of it, each once), a
    /// retention no longer than the purpose's, reasons for a decline (`001 Record`).
    fn check_draft(&self, d: &DecisionDraft) -> Result<Vec<crate::CategoryId>, Refusal> {
        let mut bad: Vec<FieldViolation> = Vec::new();
        let scope = &self.assessment.proposed_scope;
        let mut categories = Vec::new();
        let field = match d.kind {
            DecisionKind::ApprovePart => "approve_part",
            _ => "approve",
        };
        match d.kind {
            DecisionKind::Approve => categories = scope.clone(),
            DecisionKind::ApprovePart => {
                if d.categories.is_empty() {
                    bad.push(FieldViolation::new(
                        "approve_part.categories",
                        "at least one category is required",
                    ));
                }
                for (i, c) in d.categories.iter().enumerate() {
                    let f = format!("approve_part.categories[{i}]");
                    if categories.contains(c) {
                        bad.push(FieldViolation::new(f, "is listed twice"));
                    } else if !scope.contains(c) {
                        bad.push(FieldViolation::new(
                            f,
                            format!("{c} is not in the proposed scope of this exchange"),
                        ));
                    } else {
                        categories.push(c.clone());
                    }
                }
                let whole: BTreeSet<_> = scope.iter().collect();
                if bad.is_empty() && categories.iter().collect::<BTreeSet<_>>() == whole {
                    bad.push(FieldViolation::new(
                        "approve_part.categories",
                        "names the whole proposed scope: use approve",
                    ));
                }
            }
            DecisionKind::Decline if d.reasons.is_empty() => bad.push(FieldViolation::new(
                "decline.reasons",
                "at least 1 required",
            )),
            _ => {}
        }
        if matches!(d.kind, DecisionKind::Approve | DecisionKind::ApprovePart) {
            if bad.is_empty() && categories.is_empty() {
                bad.push(FieldViolation::new(
                    field,
                    "the approved scope is empty; decline instead",
                ));
            }
            if let (Some(days), Some(max)) = (d.conditions.retention_days, d.purpose_retention_days)
            {
                if days > max {
                    bad.push(FieldViolation::new(
                        format!("{field}.conditions.retention_days"),
                        format!("must not exceed the purpose's retention of {max} days"),
                    ));
                }
            }
        }
        if bad.is_empty() {
            Ok(categories)
        } else {
            Err(Refusal::Invalid(bad))
        }
    }

    fn respond(
        &self,
        next: &mut Exchange,
        t: &mut Transition,
        r: ResponseDraft,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(), Refusal> {
        let to = self.state.apply(Action::Respond)?;
        let bad = self.unapproved_items(r.item_categories.iter().enumerate());
        if !bad.is_empty() {
            return Err(Refusal::Invalid(bad));
        }
        let days = self
            .conditions
            .retention_days
            .unwrap_or(r.purpose_retention_days);
        let retain_until = now + Duration::days(i64::from(days));
        let mut categories = Vec::new();
        for c in &r.item_categories {
            if !categories.contains(c) {
                categories.push(c.clone());
            }
        }
        next.state = to;
        next.response = Some(super::ResponseMeta {
            submitted_at: now,
            submitted_by: actor.subject.clone(),
            content_sha256: r.content_sha256.clone(),
            content_size: r.content_size,
            categories: categories.clone(),
            retain_until,
            purged: false,
        });
        t.events.push(AuditEvent {
            kind: AuditEventKind::Respond,
            from: Some(self.state),
            to: Some(to),
            categories,
            content: Some((r.content_sha256, r.content_size)),
            detail: json!({
                "items": r.item_categories.len(),
                "facts": r.facts,
                "opinions": r.opinions,
                "historical": r.historical,
                "retain_until_us": micros(retain_until),
            }),
        });
        t.notify(
            &self.requesting_agency,
            NoticeKind::ResponseReady,
            format!("{} responded ({})", self.holding_agency, self.purpose),
        );
        Ok(())
    }

    /// `001 How`: only approved categories may be delivered. One violation for each item
    /// (by its index) whose category was not approved; empty when all were.
    pub fn unapproved_items<'a>(
        &self,
        items: impl IntoIterator<Item = (usize, &'a crate::CategoryId)>,
    ) -> Vec<FieldViolation> {
        items
            .into_iter()
            .filter(|(_, c)| !self.approved_scope.contains(c))
            .map(|(i, c)| {
                FieldViolation::new(
                    format!("items[{i}].category_id"),
                    format!("{c} was not approved for this exchange"),
                )
            })
            .collect()
    }

    /// Every read is recorded, including re-reads of delivered content: who saw it, when.
    /// Only the first read changes the exchange (to `delivered`).
    fn fetch(&self, mut next: Exchange) -> Result<Applied, Refusal> {
        let Some(resp) = &self.response else {
            return Err(Refusal::NoResponse);
        };
        if resp.purged {
            return Err(Refusal::Purged);
        }
        let to = self.state.apply(Action::Fetch)?;
        let first = self.state != to;
        let event = AuditEvent {
            kind: AuditEventKind::Fetch,
            from: Some(self.state),
            to: Some(to),
            categories: resp.categories.clone(),
            content: Some((resp.content_sha256.clone(), resp.content_size)),
            detail: json!({ "first_fetch": first }),
        };
        if first {
            next.state = to;
            next.version = self.version + 1;
        }
        Ok(Applied {
            next,
            changed: first,
            events: vec![event],
            notices: Vec::new(),
        })
    }

    /// Why an approver may not make a decision of `kind`, beyond the authorisation matrix.
    ///
    /// 1. An exchange an approver escalated to a role is decided by someone holding that role.
    /// 2. After the requester escalated a decline (`002 14.1`, `004 How to get help`), the
    ///    person who declined may not make the new decision.
    /// 3. Approving (in full or in part) needs a role the assessment requires
    ///    (`required_approver_roles`; IG lead when it names none) or the role an approver
    ///    escalated to; when the assessment requires a Caldicott Guardian (health data shared
    ///    without consent, `004 FAQ`) the approver must be one, whatever the escalation.
    pub fn may_decide(
        &self,
        subject: &str,
        roles: &[Role],
        kind: DecisionKind,
    ) -> Result<(), String> {
        let mut escalated_to = None;
        match self.open_escalation() {
            Some((_, d)) if d.kind == DecisionKind::Escalate => {
                escalated_to = d.escalate_to;
                if let Some(to) = d.escalate_to {
                    if !roles.contains(&to) {
                        return Err(format!(
                            "exchange {} was escalated to a {to}: only a {to} of the holding agency may decide",
                            self.id
                        ));
                    }
                }
            }
            // The requester disputed a decline.
            Some((at, _)) => {
                let decliner = self.decisions[..at]
                    .iter()
                    .rev()
                    .find(|d| d.kind == DecisionKind::Decline)
                    .map(|d| d.decided_by.subject.as_str());
                if decliner == Some(subject) {
                    return Err(format!(
                        "the requester escalated your decline of exchange {}: another approver must make the new decision (002 14.1)",
                        self.id
                    ));
                }
            }
            // Escalated by the deadline job alone, or not escalated: any approver decides.
            None => {}
        }
        if matches!(kind, DecisionKind::Approve | DecisionKind::ApprovePart) {
            let mut required: Vec<Role> = self
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
                        self.id
                    ));
                }
            } else if !required.iter().any(|r| roles.contains(r)) {
                return Err(format!(
                    "approving exchange {} needs the role {}",
                    self.id,
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

    /// Whether this exchange waits on the decision of the person `subject` with `roles`: it
    /// awaits a decision, and no escalation reserves it for someone else.
    pub fn awaits_decision_by(&self, subject: &str, roles: &[Role]) -> bool {
        self.state.awaits_decision()
            && self
                .may_decide(subject, roles, DecisionKind::AskForMoreInformation)
                .is_ok()
    }

    /// The escalation (an approver's `Escalate` or the requester's `DeclineEscalated`) that
    /// still governs the next decision, with its index in `decisions`: the most recent one,
    /// as long as only questions and their answers followed it. Asking takes the exchange out
    /// of `escalated` and the answer brings it back as `awaiting_approval`, but the
    /// escalation's rules stand.
    fn open_escalation(&self) -> Option<(usize, &Decision)> {
        let at = self.decisions.iter().rposition(|d| {
            matches!(
                d.kind,
                DecisionKind::Escalate | DecisionKind::DeclineEscalated
            )
        })?;
        let only_questions = self.decisions[at + 1..].iter().all(|d| {
            matches!(
                d.kind,
                DecisionKind::AskForMoreInformation | DecisionKind::InformationProvided
            )
        });
        only_questions.then(|| (at, &self.decisions[at]))
    }

    /// The parties other than the actor's agency; both when the broker itself acts.
    fn other_parties(&self, actor: &Actor) -> Vec<AgencyId> {
        let (req, hold) = (&self.requesting_agency, &self.holding_agency);
        match &actor.agency {
            Some(a) if a == req => vec![hold.clone()],
            Some(a) if a == hold => vec![req.clone()],
            _ => vec![req.clone(), hold.clone()],
        }
    }
}

struct Transition {
    events: Vec<AuditEvent>,
    notices: Vec<Notice>,
}

impl Transition {
    fn notify(&mut self, to: &AgencyId, kind: NoticeKind, summary: String) {
        self.notices.push(Notice {
            to: to.clone(),
            kind,
            summary,
        });
    }
}

fn blank(kind: DecisionKind, actor: &Actor, now: OffsetDateTime) -> Decision {
    Decision {
        kind,
        decided_by: actor.clone(),
        decided_at: now,
        categories: Vec::new(),
        conditions: Conditions::default(),
        reasons: Vec::new(),
        questions: Vec::new(),
        escalate_to: None,
        note: String::new(),
    }
}

/// A decision as its audit entry records it: who, when, the kind, categories, conditions and
/// escalation target as they are; the reasons, questions, note (an answer to a request for
/// more information is one) and the conditions' other text only as digests.
fn decision_detail(d: &Decision) -> serde_json::Value {
    json!({
        "kind": d.kind,
        "decided_by": d.decided_by,
        "decided_at": d.decided_at,
        "categories": d.categories,
        "conditions": conditions_detail(&d.conditions),
        "reasons": text_digests(&d.reasons),
        "questions": text_digests(&d.questions),
        "escalate_to": d.escalate_to,
        "note": text_digest(&d.note),
    })
}

/// Approval conditions for the audit log: the flags and retention as they are, the free-text
/// `other` condition as a digest.
fn conditions_detail(c: &Conditions) -> serde_json::Value {
    json!({
        "no_onward_disclosure": c.no_onward_disclosure,
        "retention_days": c.retention_days,
        "inform_subject": c.inform_subject,
        "other": text_digest(&c.other),
    })
}
