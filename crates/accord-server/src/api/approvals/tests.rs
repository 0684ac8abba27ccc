use accord_domain::AgencyId;
use time::macros::datetime;

use super::*;

const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);

#[test]
fn conditions_are_checked() {
    let c = conditions_from_proto(
        "approve.conditions",
        &pb::Conditions {
            retention_days: 4000,
            other: "x".repeat(2001),
            ..Default::default()
        },
    );
    let v = c.err().unwrap_or_default();
    assert_eq!(
        v.iter().map(|v| v.field.as_str()).collect::<Vec<_>>(),
        [
            "approve.conditions.retention_days",
            "approve.conditions.other"
        ]
    );
    let ok = conditions_from_proto(
        "c",
        &pb::Conditions {
            retention_days: 0,
            ..Default::default()
        },
    )
    .unwrap_or_else(|v| panic!("{v:?}"));
    assert_eq!(ok.retention_days, None);
}

#[test]
fn decisions_split_into_approver_and_requester_actions() {
    let actor = d::Actor {
        agency: AgencyId::parse("council").ok(),
        subject: "ig-1".into(),
        roles: vec![Role::Practitioner, Role::IgLead],
    };
    let mk = |kind| d::Decision {
        kind,
        decided_by: actor.clone(),
        decided_at: NOW,
        categories: vec![],
        conditions: d::Conditions::default(),
        reasons: vec!["r".into()],
        questions: vec![],
        escalate_to: None,
        note: String::new(),
    };
    let dec = decision_to_proto(&mk(d::DecisionKind::Decline)).unwrap_or_else(|| panic!());
    assert_eq!(dec.decided_by_role, pb::Role::IgLead as i32);
    assert_eq!(dec.reasons, vec!["r".to_owned()]);
    assert!(dec.conditions.is_none());
    assert!(decision_to_proto(&mk(d::DecisionKind::DeclineEscalated)).is_none());
    let act = requester_action_to_proto(&mk(d::DecisionKind::DeclineEscalated))
        .unwrap_or_else(|| panic!());
    assert_eq!(act.kind, pb::RequesterActionKind::EscalatedDecline as i32);
    assert!(requester_action_to_proto(&mk(d::DecisionKind::Approve)).is_none());
}
