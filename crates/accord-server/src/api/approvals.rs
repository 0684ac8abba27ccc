//! The approval service's messages: conditions in (checked); decisions, requester actions
//! and conditions out.

use accord_domain as d;
use accord_domain::{FieldViolation, Role};
use accord_proto::v1 as pb;
use time::OffsetDateTime;

use super::check::{join, Check};
use super::enums::ProtoEnum;
use super::time::timestamp;

/// Converts approval conditions; paths are relative to `field` (e.g. `approve.conditions`).
pub fn conditions_from_proto(
    field: &str,
    k: &pb::Conditions,
) -> Result<d::Conditions, Vec<FieldViolation>> {
    let mut c = Check::new(OffsetDateTime::UNIX_EPOCH);
    if k.retention_days > 3650 {
        c.push(
            join(field, "retention_days"),
            format!("must be between 0 and 3650 (found {})", k.retention_days),
        );
    }
    let other = c.text(&join(field, "other"), &k.other, 0, 2000);
    if c.out.is_empty() {
        Ok(d::Conditions {
            no_onward_disclosure: k.no_onward_disclosure,
            retention_days: (k.retention_days > 0).then_some(k.retention_days),
            inform_subject: k.inform_subject,
            other,
        })
    } else {
        Err(c.into_violations())
    }
}

pub fn conditions_to_proto(c: &d::Conditions) -> pb::Conditions {
    pb::Conditions {
        no_onward_disclosure: c.no_onward_disclosure,
        retention_days: c.retention_days.unwrap_or(0),
        inform_subject: c.inform_subject,
        other: c.other.clone(),
    }
}

/// The role an approver decided in: an approving role they hold, else their first role.
fn decided_role(actor: &d::Actor) -> i32 {
    [Role::IgLead, Role::CaldicottGuardian]
        .into_iter()
        .find(|r| actor.has_role(*r))
        .or_else(|| actor.roles.first().copied())
        .map_or(0, ProtoEnum::to_proto)
}

/// An approver's decision; `None` for the requester's own actions (answers, disputes), which
/// are [`requester_action_to_proto`].
pub fn decision_to_proto(x: &d::Decision) -> Option<pb::Decision> {
    use d::DecisionKind as K;
    let kind = match x.kind {
        K::Approve => pb::DecisionKind::Approve,
        K::ApprovePart => pb::DecisionKind::ApprovePart,
        K::Decline => pb::DecisionKind::Decline,
        K::AskForMoreInformation => pb::DecisionKind::AskForMoreInformation,
        K::Escalate => pb::DecisionKind::Escalate,
        K::InformationProvided | K::DeclineEscalated => return None,
    };
    let approval = matches!(x.kind, K::Approve | K::ApprovePart);
    Some(pb::Decision {
        kind: kind as i32,
        decided_by: x.decided_by.subject.clone(),
        decided_by_role: decided_role(&x.decided_by),
        agency_id: x
            .decided_by
            .agency
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        decided_at: Some(timestamp(x.decided_at)),
        categories: if approval {
            x.categories.iter().map(ToString::to_string).collect()
        } else {
            Vec::new()
        },
        conditions: approval.then(|| conditions_to_proto(&x.conditions)),
        reasons: if matches!(x.kind, K::Decline | K::Escalate) {
            x.reasons.clone()
        } else {
            Vec::new()
        },
        questions: if x.kind == K::AskForMoreInformation {
            x.questions.clone()
        } else {
            Vec::new()
        },
        note: x.note.clone(),
    })
}

/// A requester's answer or dispute, recorded as a decision in the domain; `None` for an
/// approver's decision.
pub fn requester_action_to_proto(x: &d::Decision) -> Option<pb::RequesterAction> {
    let kind = match x.kind {
        d::DecisionKind::InformationProvided => pb::RequesterActionKind::Answered,
        d::DecisionKind::DeclineEscalated => pb::RequesterActionKind::EscalatedDecline,
        _ => return None,
    };
    let text = if x.note.is_empty() {
        x.reasons.join("\n")
    } else {
        x.note.clone()
    };
    Some(pb::RequesterAction {
        kind: kind as i32,
        acted_by: x.decided_by.subject.clone(),
        acted_at: Some(timestamp(x.decided_at)),
        text,
        amended_categories: Vec::new(),
    })
}

#[cfg(test)]
mod tests;
