//! Tests of the in-memory registry: lookups, changes, replay from the log.
use super::*;
use time::macros::date;

pub(crate) use accord_dev::test_protocol_text as protocol_text;

pub(crate) fn protocol(id: &str, signatories: &[(&str, &str)]) -> Protocol {
    accord_domain::parse_protocol(&protocol_text(id, "test", signatories), "test.toml")
        .unwrap_or_else(|e| panic!("{e}"))
}

fn registry() -> Registry {
    Registry::new(vec![
        LoadedProtocol {
            path: "a.toml".into(),
            protocol: protocol("proto-a", &[("police", "active"), ("council", "active")]),
        },
        LoadedProtocol {
            path: "b.toml".into(),
            protocol: protocol("proto-b", &[("police", "suspended")]),
        },
    ])
    .unwrap_or_else(|e| panic!("{e}"))
}

fn ids(p: &str, a: &str) -> (ProtocolId, AgencyId) {
    (
        ProtocolId::parse(p).unwrap_or_else(|e| panic!("{e}")),
        AgencyId::parse(a).unwrap_or_else(|e| panic!("{e}")),
    )
}

#[test]
fn finds_memberships_by_san_uri() {
    let r = registry();
    let m = r.memberships(&["spiffe://test/agency/police".into()], "00");
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].protocol_id.as_str(), "proto-a");
    assert_eq!(m[1].signatory.status, SignatoryStatus::Suspended);
    assert!(r
        .memberships(&["spiffe://other/agency/police".into()], "00")
        .is_empty());
}

#[test]
fn suspend_and_reinstate() {
    let r = registry();
    let snapshot = r.protocol("proto-a").unwrap_or_else(|e| panic!("{e}"));
    let (protocol_id, agency_id) = ids("proto-a", "police");
    let s = r
        .apply(
            &AdminChange::Suspend {
                protocol_id: protocol_id.clone(),
                agency_id: agency_id.clone(),
                reason: "breach".into(),
            },
            date!(2025 - 01 - 01),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.status, SignatoryStatus::Suspended);
    assert_eq!(r.status_reason(&protocol_id, &agency_id), "breach");
    // A snapshot taken before the change is unaffected.
    assert_eq!(
        snapshot.signatory(&agency_id).map(|s| s.status),
        Some(SignatoryStatus::Active)
    );
    // Suspending twice is a precondition failure.
    let again = r.apply(
        &AdminChange::Suspend {
            protocol_id: protocol_id.clone(),
            agency_id: agency_id.clone(),
            reason: "x".into(),
        },
        date!(2025 - 01 - 01),
    );
    assert!(matches!(again, Err(RegistryError::WrongStatus { .. })));
    assert_eq!(
        Status::from(
            again
                .err()
                .unwrap_or(RegistryError::UnknownProtocol(String::new()))
        )
        .code(),
        tonic::Code::FailedPrecondition
    );
    let s = r
        .apply(
            &AdminChange::Reinstate {
                protocol_id: protocol_id.clone(),
                agency_id: agency_id.clone(),
                reason: "fixed".into(),
            },
            date!(2025 - 01 - 01),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.status, SignatoryStatus::Active);
    assert_eq!(r.status_reason(&protocol_id, &agency_id), "");
    let m = r.memberships(&["spiffe://test/agency/police".into()], "");
    assert_eq!(m[0].signatory.status, SignatoryStatus::Active);
}

#[test]
fn reinstate_needs_suspended() {
    let r = registry();
    let (protocol_id, agency_id) = ids("proto-a", "council");
    let e = r.apply(
        &AdminChange::Reinstate {
            protocol_id,
            agency_id,
            reason: "x".into(),
        },
        date!(2025 - 01 - 01),
    );
    assert!(matches!(
        e,
        Err(RegistryError::WrongStatus {
            needs: SignatoryStatus::Suspended,
            ..
        })
    ));
}

#[test]
fn reaffirm_checks_dates() {
    let r = registry();
    let (protocol_id, agency_id) = ids("proto-a", "council");
    let today = date!(2025 - 06 - 01);
    let future = AdminChange::Reaffirm {
        protocol_id: protocol_id.clone(),
        agency_id: agency_id.clone(),
        affirmed_on: date!(2025 - 06 - 02),
    };
    assert!(matches!(
        r.apply(&future, today),
        Err(RegistryError::BadAffirmationDate { .. })
    ));
    let before = AdminChange::Reaffirm {
        protocol_id: protocol_id.clone(),
        agency_id: agency_id.clone(),
        affirmed_on: date!(2023 - 12 - 31),
    };
    assert!(matches!(
        r.apply(&before, today),
        Err(RegistryError::BadAffirmationDate { .. })
    ));
    let ok = AdminChange::Reaffirm {
        protocol_id,
        agency_id,
        affirmed_on: today,
    };
    let s = r.apply(&ok, today).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.last_affirmed_on, today);
}

#[test]
fn unknown_protocol_and_signatory() {
    let r = registry();
    assert!(matches!(
        r.protocol("nope"),
        Err(RegistryError::UnknownProtocol(_))
    ));
    assert!(matches!(
        r.protocol("Bad Id"),
        Err(RegistryError::UnknownProtocol(_))
    ));
    assert!(matches!(
        r.signatory("proto-a", "nobody"),
        Err(RegistryError::UnknownSignatory { .. })
    ));
    assert_eq!(
        Status::from(RegistryError::UnknownProtocol("x".into())).code(),
        tonic::Code::NotFound
    );
}

#[test]
fn duplicate_protocols_are_refused() {
    let p = protocol("proto-a", &[("police", "active")]);
    let e = Registry::new(vec![
        LoadedProtocol {
            path: "1.toml".into(),
            protocol: p.clone(),
        },
        LoadedProtocol {
            path: "2.toml".into(),
            protocol: p,
        },
    ]);
    assert!(matches!(e, Err(RegistryError::DuplicateProtocol(_))));
}

#[test]
fn admin_events_round_trip_and_replay() {
    let (protocol_id, agency_id) = ids("proto-a", "police");
    let changes = [
        AdminChange::Suspend {
            protocol_id: protocol_id.clone(),
            agency_id: agency_id.clone(),
            reason: "breach".into(),
        },
        AdminChange::Reinstate {
            protocol_id: protocol_id.clone(),
            agency_id: agency_id.clone(),
            reason: "ok".into(),
        },
        AdminChange::Reaffirm {
            protocol_id: protocol_id.clone(),
            agency_id: agency_id.clone(),
            affirmed_on: date!(2025 - 02 - 03),
        },
        AdminChange::Suspend {
            protocol_id: protocol_id.clone(),
            agency_id: agency_id.clone(),
            reason: "again".into(),
        },
    ];
    let events: Vec<AdminEvent> = changes.iter().map(AdminChange::to_event).collect();
    for (c, e) in changes.iter().zip(&events) {
        assert_eq!(
            AdminChange::from_audit(e.kind.as_str(), &e.detail),
            Some(Ok(c.clone()))
        );
    }
    assert_eq!(AdminChange::from_audit("something_else", &json!({})), None);
    // As the store records it: the event's detail nested beside the ids.
    let stored = json!({ "protocol_id": "proto-a", "agency_id": "police", "detail": { "reason": "breach" } });
    assert_eq!(
        AdminChange::from_audit(EVENT_SUSPENDED, &stored),
        Some(Ok(changes[0].clone()))
    );
    assert!(matches!(
        AdminChange::from_audit(EVENT_SUSPENDED, &json!({})),
        Some(Err(_))
    ));

    let r = registry();
    // The suspend of proto-b's already suspended police is already in effect.
    let mut all = events.clone();
    all.push(
        AdminChange::Suspend {
            protocol_id: ids("proto-b", "police").0,
            agency_id: agency_id.clone(),
            reason: "x".into(),
        }
        .to_event(),
    );
    assert_eq!(
        r.replay(all.iter().map(|e| (e.kind.as_str(), &e.detail))),
        4
    );
    let s = r
        .signatory("proto-a", "police")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.status, SignatoryStatus::Suspended);
    assert_eq!(s.last_affirmed_on, date!(2025 - 02 - 03));
    assert_eq!(r.status_reason(&protocol_id, &agency_id), "again");
}

#[test]
fn replaying_the_same_change_twice_is_harmless() {
    let r = registry();
    let (protocol_id, agency_id) = ids("proto-a", "police");
    let suspend = AdminChange::Suspend {
        protocol_id: protocol_id.clone(),
        agency_id: agency_id.clone(),
        reason: "breach".into(),
    };
    let reinstate = AdminChange::Reinstate {
        protocol_id: protocol_id.clone(),
        agency_id: agency_id.clone(),
        reason: "fixed".into(),
    };
    let status = || {
        r.signatory("proto-a", "police")
            .map(|s| s.status)
            .unwrap_or_else(|e| panic!("{e}"))
    };

    // The sync applies entry 5 once; reading it again is skipped by sequence.
    let first = r
        .apply_logged(5, &suspend)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.map(|s| s.status), Some(SignatoryStatus::Suspended));
    assert_eq!(r.applied_through(), 5);
    assert_eq!(r.apply_logged(5, &suspend), Ok(None));
    // Replayed again outside the sync (a restart, the recording replica): a no-op, where
    // the strict `apply` would refuse it.
    assert_eq!(r.apply_replayed(&suspend), Ok(None));
    assert!(matches!(
        r.apply(&suspend, date!(2025 - 01 - 01)),
        Err(RegistryError::WrongStatus { .. })
    ));
    let recorded = r
        .apply_recorded(5, &suspend)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(recorded.status, SignatoryStatus::Suspended);
    assert_eq!(status(), SignatoryStatus::Suspended);
    assert_eq!(r.status_reason(&protocol_id, &agency_id), "breach");

    // Reinstated at 6, applied twice by sequence and twice as a replay: active once.
    assert!(matches!(r.apply_logged(6, &reinstate), Ok(Some(_))));
    assert_eq!(r.apply_logged(6, &reinstate), Ok(None));
    assert_eq!(r.apply_replayed(&reinstate), Ok(None));
    assert_eq!(status(), SignatoryStatus::Active);
    assert_eq!(r.status_reason(&protocol_id, &agency_id), "");

    // A change this replica recorded at 5 but the sync already passed (through 6) does not
    // undo the later reinstatement.
    let after = r
        .apply_recorded(5, &suspend)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(after.status, SignatoryStatus::Active);

    // Replaying a whole log twice ends where replaying it once does.
    let events: Vec<AdminEvent> = [suspend.clone(), reinstate.clone(), suspend.clone()]
        .iter()
        .map(AdminChange::to_event)
        .collect();
    let once = r.replay(events.iter().map(|e| (e.kind.as_str(), &e.detail)));
    let twice = r.replay(events.iter().map(|e| (e.kind.as_str(), &e.detail)));
    // From active: all three apply; the second time the first suspend is already in effect.
    assert_eq!((once, twice), (3, 2));
    assert_eq!(status(), SignatoryStatus::Suspended);

    // Re-affirmations: an older or equal date changes nothing; no "today" bound.
    let (_, council) = ids("proto-a", "council");
    let reaffirm = |d| AdminChange::Reaffirm {
        protocol_id: protocol_id.clone(),
        agency_id: council.clone(),
        affirmed_on: d,
    };
    assert!(matches!(
        r.apply_replayed(&reaffirm(date!(2025 - 02 - 03))),
        Ok(Some(_))
    ));
    assert_eq!(r.apply_replayed(&reaffirm(date!(2025 - 02 - 03))), Ok(None));
    assert_eq!(r.apply_replayed(&reaffirm(date!(2024 - 06 - 01))), Ok(None));
    // A withdrawn or unknown signatory still cannot be changed.
    assert!(matches!(
        r.apply_replayed(&AdminChange::Suspend {
            protocol_id: protocol_id.clone(),
            agency_id: AgencyId::parse("nobody").unwrap_or_else(|e| panic!("{e}")),
            reason: "x".into(),
        }),
        Err(RegistryError::UnknownSignatory { .. })
    ));
    r.advance_to(3);
    assert_eq!(r.applied_through(), 6, "applied_through never moves back");
}
