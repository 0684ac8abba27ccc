use accord_domain::{AgencyId, PurposeId};
use time::macros::datetime;
use time::OffsetDateTime;

use super::*;

const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);

#[test]
fn audit_entries_read_detail() {
    let consent = d::Consent::with_status(d::ConsentStatus::NotRequired);
    let e = store::AuditEntry {
        sequence: 3,
        entry_hash: "a".repeat(64),
        prev_hash: "b".repeat(64),
        occurred_at: NOW,
        event_kind: "submitted".into(),
        exchange_id: Some(uuid::Uuid::nil()),
        actor_agency: AgencyId::parse("police").ok(),
        actor_subject: "pc-1".into(),
        actor_roles: vec!["practitioner".into()],
        requesting_agency: AgencyId::parse("police").ok(),
        holding_agency: AgencyId::parse("council").ok(),
        purpose: PurposeId::parse("s47").ok(),
        state_from: None,
        state_to: Some(d::ExchangeState::AwaitingApproval),
        subject_hashes: vec!["c".repeat(64)],
        categories: vec![],
        content_sha256: None,
        content_size: None,
        detail: serde_json::json!({
            "level_of_need": "significant_harm",
            "consent": consent,
            "lawful_basis": { "article6": "public_task", "special_condition": "none", "gateways": ["ca1989_s47"] },
        }),
    };
    let x = audit_entry_to_proto(&e);
    assert_eq!(x.actor_role, pb::Role::Practitioner as i32);
    assert_eq!(x.level_of_need, pb::LevelOfNeed::SignificantHarm as i32);
    assert_eq!(x.state_from, 0);
    assert_eq!(
        x.consent.map(|c| c.status),
        Some(pb::ConsentStatus::NotRequired as i32)
    );
    assert_eq!(
        x.lawful_basis.map(|l| l.gateways),
        Some(vec![pb::StatutoryGateway::Ca1989S47 as i32])
    );
    // The store's form: free text as digests (`null` when empty), dates as text.
    let mut e = e;
    e.detail["consent"] = serde_json::json!({
        "status": "refused", "given_by": "child", "given_on": "2025-01-10",
        "explicit": true, "scope": { "sha256": "0".repeat(64), "chars": 3 },
        "not_sought_detail": null, "not_required_reason": null, "not_sought_reasons": [],
        "public_interest_justification": { "sha256": "1".repeat(64), "chars": 9 },
    });
    let k = audit_entry_to_proto(&e).consent.unwrap_or_else(|| panic!());
    assert_eq!(k.status, pb::ConsentStatus::Refused as i32);
    assert_eq!(k.given_on, "2025-01-10");
    assert!(k.public_interest_justified && k.explicit);
    e.detail["consent"]["public_interest_justification"] = serde_json::Value::Null;
    let k = audit_entry_to_proto(&e).consent.unwrap_or_else(|| panic!());
    assert!(!k.public_interest_justified);
}

#[test]
fn stats_convert() {
    let s = store::Stats {
        by_state: vec![
            (d::ExchangeState::Refused, 2),
            (d::ExchangeState::Closed, 0),
            (d::ExchangeState::Approved, 3),
        ],
        decision_seconds_p50: Some(60.0),
        ..Default::default()
    };
    let x = stats_to_proto(&s);
    assert_eq!(x.total_exchanges, 5);
    assert_eq!(x.by_state.len(), 2);
    assert_eq!(x.median_time_to_decision.map(|d| d.seconds), Some(60));
    assert!(x.p90_time_to_decision.is_none());
}
