//! [`ProtoEnum`]: each domain (and store) vocabulary and the proto enum of the same values.

use accord_domain as d;
use accord_proto::v1 as pb;
use accord_store as store;

/// A domain vocabulary that has a proto enum of the same values (plus `UNSPECIFIED = 0`).
pub trait ProtoEnum: Sized + Copy {
    /// The proto enum's number for this value.
    fn to_proto(self) -> i32;
    /// The value for a proto number; `None` for `UNSPECIFIED` and unknown numbers.
    fn from_proto(v: i32) -> Option<Self>;
}

macro_rules! proto_enum {
    ($domain:ty, $proto:ident, [$($v:ident),+ $(,)?]) => {
        impl ProtoEnum for $domain {
            fn to_proto(self) -> i32 {
                type D = $domain;
                match self {
                    $(D::$v => pb::$proto::$v as i32,)+
                }
            }

            fn from_proto(v: i32) -> Option<Self> {
                type D = $domain;
                match pb::$proto::try_from(v).ok()? {
                    $(pb::$proto::$v => Some(D::$v),)+
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }
        }
    };
}

proto_enum!(
    d::LevelOfNeed,
    LevelOfNeed,
    [EarlyHelp, ChildInNeed, SignificantHarm, ImmediateRisk]
);
proto_enum!(d::Urgency, Urgency, [Routine, Urgent, Immediate]);
proto_enum!(
    d::LawfulBasis,
    LawfulBasis,
    [
        Consent,
        LegalObligation,
        VitalInterests,
        PublicTask,
        LegitimateInterests
    ]
);
proto_enum!(
    d::SpecialCondition,
    SpecialCategoryCondition,
    [
        None,
        SafeguardingChildren,
        ExplicitConsent,
        VitalInterests,
        StatutoryPurposes,
        PreventingCrime,
        HealthSocialCare,
        LegalClaims
    ]
);
proto_enum!(
    d::StatutoryGateway,
    StatutoryGateway,
    [
        Ca1989S47,
        Ca1989S17,
        Ca2004S11,
        Ca2004S14b,
        Ca2004S16h,
        Cda1998S115,
        CourtOrder,
        Ctsa2015S36
    ]
);
proto_enum!(
    d::ConsentStatus,
    ConsentStatus,
    [Obtained, Refused, Withdrawn, NotSought, NotRequired]
);
proto_enum!(
    d::ConsentRequirement,
    ConsentRequirement,
    [Explicit, Sought, NotRequired]
);
proto_enum!(
    d::ConsentGiver,
    ConsentGiver,
    [Child, ParentalResponsibility, Representative, AdultSubject]
);
proto_enum!(
    d::NotSoughtReason,
    NotSoughtReason,
    [
        IncreasedRiskOfHarm,
        PrejudiceCrimePrevention,
        UnjustifiedDelay,
        CannotLocate,
        LacksCapacityNoRepresentative,
        ImbalanceOfPower
    ]
);
proto_enum!(
    d::NotRequiredReason,
    NotRequiredReason,
    [StatutoryDuty, CourtOrder]
);
proto_enum!(
    d::Role,
    Role,
    [Practitioner, IgLead, CaldicottGuardian, Auditor, Admin]
);
proto_enum!(
    d::AgencyKind,
    AgencyKind,
    [
        LocalAuthority,
        Police,
        Health,
        Education,
        YouthOffending,
        Probation,
        Voluntary,
        Other
    ]
);
proto_enum!(
    d::SignatoryStatus,
    SignatoryStatus,
    [Active, Suspended, Withdrawn]
);
proto_enum!(d::ItemKind, ItemKind, [Fact, Opinion]);
proto_enum!(
    d::ExchangeState,
    ExchangeState,
    [
        Submitted,
        Refused,
        AwaitingApproval,
        MoreInfoRequested,
        Approved,
        PartlyApproved,
        Declined,
        Escalated,
        Responded,
        Delivered,
        Acknowledged,
        Closed,
        Withdrawn,
        Expired
    ]
);
proto_enum!(d::Severity, Severity, [Info, Advisory, Warning, Blocking]);
proto_enum!(
    store::InboxEventKind,
    InboxEventKind,
    [
        RequestReceived,
        DecisionMade,
        MoreInfoRequested,
        InformationProvided,
        ResponseReady,
        Acknowledged,
        Escalated,
        Overdue,
        Withdrawn,
        Refused
    ]
);

impl ProtoEnum for d::Outcome {
    fn to_proto(self) -> i32 {
        match self {
            d::Outcome::Refuse => pb::AssessmentOutcome::Refuse as i32,
            d::Outcome::ProceedToApproval => pb::AssessmentOutcome::ProceedToApproval as i32,
        }
    }

    fn from_proto(v: i32) -> Option<Self> {
        match pb::AssessmentOutcome::try_from(v).ok()? {
            pb::AssessmentOutcome::Refuse => Some(d::Outcome::Refuse),
            pb::AssessmentOutcome::ProceedToApproval => Some(d::Outcome::ProceedToApproval),
            pb::AssessmentOutcome::Unspecified => None,
        }
    }
}

#[cfg(test)]
mod tests;
