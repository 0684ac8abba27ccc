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
    assert_eq!(d::Role::from_proto(0), None);
    assert_eq!(d::Role::from_proto(1000), None);
}
