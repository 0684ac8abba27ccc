use accord_domain as d;

use super::*;

#[test]
fn enums_round_trip_and_reject_unspecified() {
    for s in d::ExchangeState::ALL {
        assert_eq!(d::ExchangeState::from_proto(s.to_proto()), Some(*s));
    }
    for r in d::Role::ALL {
        assert_eq!(d::Role::from_proto(r.to_proto()), Some(*r));
    }
    for g in d::StatutoryGateway::ALL {
        assert_eq!(d::StatutoryGateway::from_proto(g.to_proto()), Some(*g));
    }
    for c in [
        d::ConsentRequirement::Explicit,
        d::ConsentRequirement::Sought,
        d::ConsentRequirement::NotRequired,
    ] {
        assert_eq!(d::ConsentRequirement::from_proto(c.to_proto()), Some(c));
    }
    assert_eq!(d::Role::from_proto(0), None);
    assert_eq!(d::Role::from_proto(1000), None);
}

#[test]
fn consent_requirement_has_exactly_the_domain_states() {
    // The proto enum mirrors the domain's three states one for one: nothing more, nothing less.
    let numbers: Vec<i32> = [
        d::ConsentRequirement::Explicit,
        d::ConsentRequirement::Sought,
        d::ConsentRequirement::NotRequired,
    ]
    .map(ProtoEnum::to_proto)
    .to_vec();
    assert_eq!(numbers, [1, 2, 3]);
    assert!(accord_proto::v1::ConsentRequirement::try_from(4).is_err());
    assert_eq!(d::ConsentRequirement::from_proto(0), None);
}
