//! The closed vocabularies of the domain, with the clause each comes from. Serialized in
//! `snake_case`, which is also how protocol files spell them.

use serde::{Deserialize, Serialize};

macro_rules! vocab {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling used in protocol files, logs and the audit log.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses the spelling returned by [`Self::as_str`].
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocab!(
    /// Level of need as the requester judges it (`001 Being alert`, `002 App.2`). Ordered from
    /// least to most serious, so `level >= LevelOfNeed::SignificantHarm` reads as the text does.
    LevelOfNeed {
        /// Early help: needs explicit consent (`002 App.2` Early Help).
        EarlyHelp = "early_help",
        /// Child in need (s17 Children Act 1989).
        ChildInNeed = "child_in_need",
        /// Reasonable cause to believe a child is suffering or likely to suffer significant harm (s47).
        SignificantHarm = "significant_harm",
        /// Immediate risk: the police must be told at once (`001 Being alert`).
        ImmediateRisk = "immediate_risk",
    }
);

vocab!(
    /// How quickly the requester needs an answer (`001 Timely`).
    Urgency {
        Routine = "routine",
        Urgent = "urgent",
        Immediate = "immediate",
    }
);

vocab!(
    /// UK GDPR Article 6 lawful basis (`002 1.7`, `003 d)`).
    LawfulBasis {
        Consent = "consent",
        LegalObligation = "legal_obligation",
        VitalInterests = "vital_interests",
        PublicTask = "public_task",
        LegitimateInterests = "legitimate_interests",
    }
);

vocab!(
    /// Condition for processing special category data (UK GDPR Art 9, DPA 2018 Sch 1).
    SpecialCondition {
        /// No condition claimed: the request must then not ask for special category data.
        None = "none",
        /// DPA 2018 Sch 1 para 18, "safeguarding of children and individuals at risk" (`002 1.13`).
        SafeguardingChildren = "safeguarding_children",
        ExplicitConsent = "explicit_consent",
        VitalInterests = "vital_interests",
        StatutoryPurposes = "statutory_purposes",
        PreventingCrime = "preventing_crime",
        HealthSocialCare = "health_social_care",
        LegalClaims = "legal_claims",
    }
);

vocab!(
    /// Statutory gateway relied on, if any (`002 1.10`–`1.18`, `003 d)`).
    StatutoryGateway {
        Ca1989S47 = "ca1989_s47",
        Ca1989S17 = "ca1989_s17",
        Ca2004S11 = "ca2004_s11",
        Ca2004S14b = "ca2004_s14b",
        Ca2004S16h = "ca2004_s16h",
        /// s115 Crime and Disorder Act 1998: disclosure to a relevant authority only (`002 1.18`).
        Cda1998S115 = "cda1998_s115",
        CourtOrder = "court_order",
        /// s36 Counter-Terrorism and Security Act 2015 (Channel, `003`).
        Ctsa2015S36 = "ctsa2015_s36",
    }
);

vocab!(
    /// Where consent stands (`002 6`, `004 FAQ`).
    ConsentStatus {
        Obtained = "obtained",
        Refused = "refused",
        Withdrawn = "withdrawn",
        NotSought = "not_sought",
        NotRequired = "not_required",
    }
);

vocab!(
    /// Who gave consent (`004 App.1`).
    ConsentGiver {
        Child = "child",
        ParentalResponsibility = "parental_responsibility",
        Representative = "representative",
        AdultSubject = "adult_subject",
    }
);

vocab!(
    /// The reasons the documents accept for not seeking consent (`002 6.3`, `002 App.2`, `004 FAQ`).
    NotSoughtReason {
        IncreasedRiskOfHarm = "increased_risk_of_harm",
        PrejudiceCrimePrevention = "prejudice_crime_prevention",
        UnjustifiedDelay = "unjustified_delay",
        CannotLocate = "cannot_locate",
        LacksCapacityNoRepresentative = "lacks_capacity_no_representative",
        ImbalanceOfPower = "imbalance_of_power",
    }
);

vocab!(
    /// Why consent is not required (`002 6.7`).
    NotRequiredReason {
        StatutoryDuty = "statutory_duty",
        CourtOrder = "court_order",
    }
);

vocab!(
    /// A user's role, from the `roles` claim of their token.
    Role {
        Practitioner = "practitioner",
        IgLead = "ig_lead",
        CaldicottGuardian = "caldicott_guardian",
        Auditor = "auditor",
        Admin = "admin",
    }
);

vocab!(
    /// Kind of signatory agency (`000` s11 list, `002 App.5`).
    AgencyKind {
        LocalAuthority = "local_authority",
        Police = "police",
        Health = "health",
        Education = "education",
        YouthOffending = "youth_offending",
        Probation = "probation",
        Voluntary = "voluntary",
        Other = "other",
    }
);

vocab!(
    /// A signatory's standing in the protocol (`002 App.5`, `002 13` breaches).
    SignatoryStatus {
        Active = "active",
        Suspended = "suspended",
        Withdrawn = "withdrawn",
    }
);

vocab!(
    /// Whether a response item is fact or opinion (`001 Accurate`, `002 5.2`).
    ItemKind {
        Fact = "fact",
        Opinion = "opinion",
    }
);
