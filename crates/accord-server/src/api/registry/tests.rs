use super::*;

#[test]
fn protocol_converts() {
    let p = crate::registry::tests::protocol("proto-a", &[("police", "suspended")]);
    let x = protocol_to_proto(&p, |a| format!("reason for {a}"));
    assert_eq!(
        x.signatories[0].status,
        pb::SignatoryStatus::Suspended as i32
    );
    assert_eq!(x.signatories[0].status_reason, "reason for police");
    assert_eq!(x.purposes[0].deadlines.len(), 3);
    assert_eq!(x.purposes[0].consent_rules.len(), 4);
    assert_eq!(x.repeat_sharing_window.map(|d| d.seconds), Some(90 * 86400));
    assert_eq!(protocol_summary_to_proto(&p).review_due, "2030-01-01");
}
