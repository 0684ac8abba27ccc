use accord_domain::FieldViolation;
use time::macros::datetime;

use super::*;

const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);

fn valid() -> pb::InformationRequest {
    pb::InformationRequest {
        protocol_id: "sandwell-scsp-isp".into(),
        protocol_version: "1.0".into(),
        requesting_agency_id: "west-midlands-police".into(),
        practitioner: Some(pb::Practitioner {
            subject: "pc-123".into(),
            name: "PC Jo Bloggs".into(),
            job_title: "Detective Constable, CAIT".into(),
            contact: "jo.bloggs@wmp.example".into(),
        }),
        holding_agency_id: "sandwell-council".into(),
        child: Some(pb::Subject {
            identifiers: vec![pb::SubjectIdentifier {
                scheme: "nhs_number".into(),
                value: "943 476 5919".into(),
            }],
            name: "Child A".into(),
            date_of_birth: "2015-03-04".into(),
            identifiable: true,
            relationship: String::new(),
        }),
        other_people: vec![pb::Subject {
            identifiers: vec![],
            name: "Adult B".into(),
            date_of_birth: String::new(),
            identifiable: false,
            relationship: "mother's partner".into(),
        }],
        purpose_id: "s47-enquiry".into(),
        necessity_justification: "Needed to assess risk".into(),
        expected_outcome: "A safety plan".into(),
        level_of_need: pb::LevelOfNeed::SignificantHarm as i32,
        risk_summary: "Injuries reported by school".into(),
        lawful_basis: Some(pb::LawfulBasisClaim {
            article6: pb::LawfulBasis::PublicTask as i32,
            special_condition: pb::SpecialCategoryCondition::SafeguardingChildren as i32,
            gateways: vec![pb::StatutoryGateway::Ca1989S47 as i32],
        }),
        consent: Some(pb::Consent {
            status: pb::ConsentStatus::NotSought as i32,
            not_sought_reasons: vec![pb::NotSoughtReason::IncreasedRiskOfHarm as i32],
            not_sought_detail: "Alleged perpetrator in household".into(),
            ..Default::default()
        }),
        categories: vec![pb::CategoryRequest {
            category_id: "education".into(),
            reason: "attendance pattern".into(),
        }],
        records_from: "2024-01-01".into(),
        records_to: "2025-05-31".into(),
        anonymised_would_suffice: false,
        urgency: pb::Urgency::Urgent as i32,
        needed_by: Some(timestamp(NOW + time::Duration::days(1))),
        onward_disclosure: Some(pb::OnwardDisclosure {
            intended: false,
            recipients: vec![],
            purpose: String::new(),
        }),
        subject_notification: Some(pb::SubjectNotification {
            will_inform: false,
            reason_not_informing: "Would increase risk".into(),
        }),
        idempotency_key: "0b7c6c1e-0000-4000-8000-000000000001".into(),
    }
}

fn fields(r: Result<ParsedRequest, Vec<FieldViolation>>) -> Vec<String> {
    match r {
        Ok(_) => Vec::new(),
        Err(v) => v.into_iter().map(|v| v.field).collect(),
    }
}

#[test]
fn valid_request_converts_and_round_trips() {
    let p = request_from_proto(&valid(), NOW).unwrap_or_else(|v| panic!("{v:?}"));
    assert_eq!(p.idempotency_key, "0b7c6c1e-0000-4000-8000-000000000001");
    assert_eq!(p.request.level_of_need, d::LevelOfNeed::SignificantHarm);
    assert_eq!(
        p.request.consent.not_sought_reasons,
        vec![d::NotSoughtReason::IncreasedRiskOfHarm]
    );
    let back = request_to_proto(&p.request, &p.idempotency_key);
    assert_eq!(back, valid());
}

#[test]
fn every_bad_field_is_named() {
    let mut r = valid();
    r.protocol_id = "Not An Id".into();
    r.requesting_agency_id = String::new();
    r.practitioner = None;
    if let Some(child) = r.child.as_mut() {
        child.date_of_birth = "04/03/2015".into();
        child.relationship = "self".into();
        child.identifiers[0].scheme = "NHS".into();
    }
    r.other_people[0].relationship = String::new();
    r.level_of_need = 0;
    r.urgency = 99;
    if let Some(l) = r.lawful_basis.as_mut() {
        l.gateways = vec![1, 1, 0];
    }
    r.categories.push(pb::CategoryRequest {
        category_id: "education".into(),
        reason: String::new(),
    });
    r.records_to = "2099-01-01".into();
    r.needed_by = Some(timestamp(NOW - time::Duration::hours(1)));
    r.expected_outcome = "x".repeat(2001);
    r.idempotency_key = String::new();
    r.subject_notification = None;
    let got = fields(request_from_proto(&r, NOW));
    let want = [
        "protocol_id",
        "requesting_agency_id",
        "practitioner",
        "child.identifiers[0].scheme",
        "child.date_of_birth",
        "child.relationship",
        "other_people[0].relationship",
        "expected_outcome",
        "level_of_need",
        "lawful_basis.gateways[1]",
        "lawful_basis.gateways[2]",
        "categories[1].reason",
        "categories[1].category_id",
        "records_to",
        "urgency",
        "needed_by",
        "subject_notification",
        "idempotency_key",
    ];
    assert_eq!(got, want);
}

#[test]
fn consent_fields_follow_status() {
    let mut r = valid();
    r.consent = Some(pb::Consent {
        status: pb::ConsentStatus::Obtained as i32,
        scope: String::new(),
        ..Default::default()
    });
    let got = fields(request_from_proto(&r, NOW));
    assert_eq!(
        got,
        [
            "consent.given_by",
            "consent.given_by_name",
            "consent.given_on",
            "consent.scope"
        ]
    );

    r.consent = Some(pb::Consent {
        status: pb::ConsentStatus::NotRequired as i32,
        given_by: pb::ConsentGiver::Child as i32,
        not_sought_reasons: vec![1],
        ..Default::default()
    });
    let got = fields(request_from_proto(&r, NOW));
    assert_eq!(
        got,
        [
            "consent.given_by",
            "consent.not_sought_reasons",
            "consent.not_required_reason"
        ]
    );

    r.consent = Some(pb::Consent {
        status: 0,
        ..Default::default()
    });
    assert_eq!(fields(request_from_proto(&r, NOW)), ["consent.status"]);
}

/// Validation is for malformed input; a reason the documents want that is missing is the
/// check's to judge (R08-not-sought-without-reason refuses, R15-not-informing-without-reason
/// warns), and where the documents need none (consent not required at this level, no one
/// identifiable) nothing is asked for.
#[test]
fn missing_reasons_are_left_to_the_check() {
    let mut r = valid();
    r.consent = Some(pb::Consent {
        status: pb::ConsentStatus::NotSought as i32,
        ..Default::default()
    });
    r.subject_notification = Some(pb::SubjectNotification {
        will_inform: false,
        reason_not_informing: String::new(),
    });
    let p = request_from_proto(&r, NOW).unwrap_or_else(|v| panic!("{v:?}"));
    assert!(p.request.consent.not_sought_reasons.is_empty());
    assert!(!p.request.notification.will_inform);
    assert!(p.request.notification.reason_not_informing.is_empty());
    // Answers that contradict the status are still malformed.
    if let Some(n) = r.subject_notification.as_mut() {
        n.will_inform = true;
        n.reason_not_informing = "x".repeat(2001);
    }
    assert_eq!(
        fields(request_from_proto(&r, NOW)),
        ["subject_notification.reason_not_informing"]
    );
    if let Some(n) = r.subject_notification.as_mut() {
        n.will_inform = false;
    }
    assert_eq!(
        fields(request_from_proto(&r, NOW)),
        ["subject_notification.reason_not_informing"]
    );
}

#[test]
fn domain_checks_are_merged() {
    let mut r = valid();
    r.holding_agency_id = r.requesting_agency_id.clone();
    r.records_from = "2025-05-31".into();
    r.records_to = "2025-01-01".into();
    let v = request_from_proto(&r, NOW).err().unwrap_or_default();
    let got: Vec<(String, String)> = v.into_iter().map(|v| (v.field, v.reason)).collect();
    assert_eq!(
        got,
        [
            (
                "holding_agency_id".to_owned(),
                "must differ from the requesting agency".to_owned()
            ),
            (
                "records_from".to_owned(),
                "must not be after records_to".to_owned()
            ),
        ]
    );
}

#[test]
fn reasons_do_not_repeat_personal_data() {
    let mut r = valid();
    if let Some(child) = r.child.as_mut() {
        child.date_of_birth = "1999-99-99".into();
    }
    let v = request_from_proto(&r, NOW).err().unwrap_or_default();
    assert_eq!(v.len(), 1);
    assert!(!v[0].reason.contains("1999"));
}

#[test]
fn response_items() {
    let good = pb::ResponseItem {
        category_id: "education".into(),
        kind: pb::ItemKind::Fact as i32,
        content: "Attendance 62% this term".into(),
        recorded_on: "2025-05-20".into(),
        historical: false,
        source_system: "SIMS".into(),
    };
    let items = response_items_from_proto(std::slice::from_ref(&good), NOW)
        .unwrap_or_else(|v| panic!("{v:?}"));
    assert_eq!(items[0].kind, d::ItemKind::Fact);
    assert_eq!(response_items_to_proto(&items), vec![good.clone()]);

    let bad = pb::ResponseItem {
        category_id: String::new(),
        kind: 0,
        content: String::new(),
        recorded_on: "2026-01-01".into(),
        historical: true,
        source_system: "s".repeat(101),
    };
    let v = response_items_from_proto(&[good, bad], NOW)
        .err()
        .unwrap_or_default();
    let got: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        got,
        [
            "items[1].category_id",
            "items[1].kind",
            "items[1].content",
            "items[1].recorded_on",
            "items[1].source_system"
        ]
    );
    let v = response_items_from_proto(&[], NOW)
        .err()
        .unwrap_or_default();
    assert_eq!(v[0].field, "items");
}

#[test]
fn exchange_ids_and_amended_categories() {
    assert!(exchange_id_from_proto("exchange_id", "nope").is_err());
    assert!(exchange_id_from_proto("exchange_id", "").is_err());
    assert!(exchange_id_from_proto("exchange_id", &uuid::Uuid::now_v7().to_string()).is_ok());
    let v = amended_categories_from_proto(&[pb::CategoryRequest {
        category_id: "BAD".into(),
        reason: "r".into(),
    }])
    .err()
    .unwrap_or_default();
    assert_eq!(v[0].field, "amended_categories[0].category_id");
}

#[test]
fn dates_before_1900_are_refused_with_their_field() {
    let mut r = valid();
    if let Some(child) = r.child.as_mut() {
        child.date_of_birth = "0001-01-01".into();
    }
    r.other_people[0].date_of_birth = "1899-12-31".into();
    r.records_from = "0001-01-01".into();
    r.records_to = "1000-06-01".into();
    let v = request_from_proto(&r, NOW).err().unwrap_or_default();
    let got: Vec<(&str, &str)> = v
        .iter()
        .map(|v| (v.field.as_str(), v.reason.as_str()))
        .collect();
    let reason = "must be a date from 1900-01-01 to 9999-12-31";
    assert_eq!(
        got,
        [
            ("child.date_of_birth", reason),
            ("other_people[0].date_of_birth", reason),
            ("records_from", reason),
            ("records_to", reason),
        ]
    );
    r = valid();
    r.consent = Some(pb::Consent {
        status: pb::ConsentStatus::Obtained as i32,
        given_by: pb::ConsentGiver::ParentalResponsibility as i32,
        given_by_name: "A parent".into(),
        given_on: "0001-01-01".into(),
        scope: "education".into(),
        ..Default::default()
    });
    assert_eq!(fields(request_from_proto(&r, NOW)), ["consent.given_on"]);
    // 1900-01-01 itself is accepted.
    if let Some(c) = r.consent.as_mut() {
        c.given_on = "1900-01-01".into();
    }
    assert_eq!(fields(request_from_proto(&r, NOW)), Vec::<String>::new());

    let item = pb::ResponseItem {
        category_id: "education".into(),
        kind: pb::ItemKind::Fact as i32,
        content: "c".into(),
        recorded_on: "0001-01-01".into(),
        historical: true,
        source_system: String::new(),
    };
    let v = response_items_from_proto(&[item], NOW)
        .err()
        .unwrap_or_default();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].field, "items[0].recorded_on");
}

#[test]
fn over_long_lists_are_one_violation_each() {
    // A million gateways, consent reasons and response items: one violation per list,
    // none for their elements.
    let mut r = valid();
    if let Some(l) = r.lawful_basis.as_mut() {
        l.gateways = vec![0; 1_000_000];
    }
    if let Some(c) = r.consent.as_mut() {
        c.not_sought_reasons = vec![0; 1_000_000];
    }
    r.categories = vec![pb::CategoryRequest::default(); 100_000];
    r.other_people = vec![pb::Subject::default(); 100_000];
    if let Some(child) = r.child.as_mut() {
        child.identifiers = vec![pb::SubjectIdentifier::default(); 100_000];
    }
    let v = request_from_proto(&r, NOW).err().unwrap_or_default();
    let got: Vec<(&str, &str)> = v
        .iter()
        .map(|v| (v.field.as_str(), v.reason.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("child.identifiers", "at most 10 identifiers (found 100000)"),
            ("other_people", "at most 20 people (found 100000)"),
            ("lawful_basis.gateways", "at most 8 entries (found 1000000)"),
            (
                "consent.not_sought_reasons",
                "at most 20 entries (found 1000000)"
            ),
            ("categories", "at most 50 categories (found 100000)"),
        ]
    );
    let items = vec![pb::ResponseItem::default(); 1_000_000];
    let v = response_items_from_proto(&items, NOW)
        .err()
        .unwrap_or_default();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].field, "items");
    let cats = vec![pb::CategoryRequest::default(); 1_000_000];
    let v = amended_categories_from_proto(&cats)
        .err()
        .unwrap_or_default();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].field, "amended_categories");
}

#[test]
fn violations_within_the_limits_stop_at_the_cap() {
    // 500 items, each with five problems: 100 violations, then one summary.
    let items = vec![pb::ResponseItem::default(); 500];
    let v = response_items_from_proto(&items, NOW)
        .err()
        .unwrap_or_default();
    assert_eq!(v.len(), crate::error::MAX_VIOLATIONS + 1);
    assert_eq!(v[100].reason, crate::error::MORE_PROBLEMS);
}

#[test]
fn a_draft_needs_no_idempotency_key_and_is_otherwise_checked_alike() {
    // No key: a draft converts, a request to submit does not.
    let mut r = valid();
    r.idempotency_key = String::new();
    let draft = draft_from_proto(&r, NOW).unwrap_or_else(|v| panic!("{v:?}"));
    assert_eq!(fields(request_from_proto(&r, NOW)), ["idempotency_key"]);
    assert_eq!(
        draft,
        request_from_proto(&valid(), NOW)
            .unwrap_or_else(|v| panic!("{v:?}"))
            .request
    );
    // A key given is still checked; a blank one is not "no key".
    for bad in ["k".repeat(129), " ".to_owned()] {
        r.idempotency_key = bad;
        let v = draft_from_proto(&r, NOW).err().unwrap_or_default();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].field, "idempotency_key");
    }
    // Every other violation, with the same paths and reasons.
    let mut r = valid();
    r.urgency = 0;
    r.records_to = "2099-01-01".into();
    r.categories[0].reason = String::new();
    let as_draft = draft_from_proto(&r, NOW).err().unwrap_or_default();
    let as_request = request_from_proto(&r, NOW).err().unwrap_or_default();
    assert!(!as_draft.is_empty());
    assert_eq!(as_draft, as_request);
}

#[test]
fn decision_record_reasons_are_the_request_fields_without_identities() {
    let p = request_from_proto(&valid(), NOW).unwrap_or_else(|v| panic!("{v:?}"));
    let r = reasons_to_proto(&d::RequestReasons::of(&p.request));
    let req = valid();
    assert_eq!(r.protocol_id, req.protocol_id);
    assert_eq!(r.protocol_version, req.protocol_version);
    assert_eq!(r.practitioner, req.practitioner);
    assert_eq!(r.necessity_justification, req.necessity_justification);
    assert_eq!(r.expected_outcome, req.expected_outcome);
    assert_eq!(r.level_of_need, req.level_of_need);
    assert_eq!(r.risk_summary, req.risk_summary);
    assert_eq!(r.lawful_basis, req.lawful_basis);
    assert_eq!(r.consent, req.consent);
    assert_eq!(r.categories, req.categories);
    assert_eq!(
        (r.records_from.as_str(), r.records_to.as_str()),
        (req.records_from.as_str(), req.records_to.as_str())
    );
    assert_eq!(r.anonymised_would_suffice, req.anonymised_would_suffice);
    assert_eq!(r.urgency, req.urgency);
    assert_eq!(r.onward_disclosure, req.onward_disclosure);
    assert_eq!(r.subject_notification, req.subject_notification);
    // Nothing of the child: the message has no field for it.
    let text = format!("{r:?}");
    if let Some(child) = &req.child {
        for id in &child.identifiers {
            assert!(!text.contains(&id.value), "{text}");
        }
        if !child.name.is_empty() {
            assert!(!text.contains(&child.name), "{text}");
        }
    }
}
