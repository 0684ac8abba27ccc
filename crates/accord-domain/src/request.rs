//! The request for information (DOMAIN.md "The request"): what, with whom, why, and on what
//! legal basis (`003 c)`), plus the consent, proportionality and timing questions of
//! `002 App.2` and `004 FAQ`.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::enums::{
    ConsentGiver, ConsentStatus, LawfulBasis, LevelOfNeed, NotRequiredReason, NotSoughtReason,
    SpecialCondition, StatutoryGateway, Urgency,
};
use crate::ids::{AgencyId, CategoryId, ProtocolId, PurposeId};
use crate::validation::{FieldViolation, Violations};

/// One request, as submitted by an agency system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub protocol_id: ProtocolId,
    pub protocol_version: String,
    pub requesting_agency: AgencyId,
    pub practitioner: Practitioner,
    pub holding_agency: AgencyId,
    pub child: Subject,
    /// Others the request is about, e.g. adults in contact with the child (`000`).
    pub other_people: Vec<Subject>,
    pub purpose: PurposeId,
    /// Why sharing is necessary (`003 c)`).
    pub necessity_justification: String,
    /// What sharing is expected to achieve (`003 c)`).
    pub expected_outcome: String,
    pub level_of_need: LevelOfNeed,
    pub risk_summary: String,
    pub lawful_basis: LawfulBasisClaim,
    pub consent: Consent,
    pub categories: Vec<CategoryRequest>,
    pub records_from: Option<Date>,
    pub records_to: Option<Date>,
    /// `002 App.2 Q1`: would anonymised information serve the purpose?
    pub anonymised_would_suffice: bool,
    pub urgency: Urgency,
    pub needed_by: Option<OffsetDateTime>,
    pub onward_disclosure: OnwardDisclosure,
    pub notification: SubjectNotification,
}

/// The named practitioner accountable for the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Practitioner {
    /// `sub` of the practitioner's token.
    pub subject: String,
    pub name: String,
    pub job_title: String,
    pub contact: String,
}

/// A person the request is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub identifiers: Vec<SubjectIdentifier>,
    pub name: String,
    pub date_of_birth: Option<Date>,
    /// Whether the information sought enables a person to be identified (`001 When` Q3).
    pub identifiable: bool,
    /// Relationship to the child, for other people ("mother's partner").
    pub relationship: String,
}

impl Subject {
    /// Age in whole years on `today`, when the date of birth is known.
    pub fn age_on(&self, today: Date) -> Option<u32> {
        let dob = self.date_of_birth?;
        let mut years = today.year() - dob.year();
        if (today.month() as u8, today.day()) < (dob.month() as u8, dob.day()) {
            years -= 1;
        }
        u32::try_from(years).ok()
    }
}

/// An identifier such as an NHS number, a local case id or a unique pupil number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SubjectIdentifier {
    /// Scheme, e.g. `nhs_number`, `local_case_id`, `upn`.
    pub scheme: String,
    pub value: String,
}

impl SubjectIdentifier {
    /// Canonical form used for keyed hashing and matching: scheme and value trimmed, scheme
    /// lowercased, spaces removed from the value (NHS numbers are written with spaces).
    pub fn canonical(&self) -> String {
        let value: String = self.value.chars().filter(|c| !c.is_whitespace()).collect();
        format!("{}:{}", self.scheme.trim().to_ascii_lowercase(), value)
    }

    /// True when both identify the same thing under [`Self::canonical`], without allocating
    /// (the policy check compares every identifier of a request against its history).
    pub fn same_as(&self, other: &SubjectIdentifier) -> bool {
        self.scheme.trim().eq_ignore_ascii_case(other.scheme.trim())
            && self
                .value
                .chars()
                .filter(|c| !c.is_whitespace())
                .eq(other.value.chars().filter(|c| !c.is_whitespace()))
    }
}

/// The legal basis claimed (`002 1.10`–`1.18`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LawfulBasisClaim {
    pub article6: LawfulBasis,
    pub special_condition: SpecialCondition,
    pub gateways: Vec<StatutoryGateway>,
}

/// Consent and who gave it (`002 6`, `004 App.1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub status: ConsentStatus,
    pub given_by: Option<ConsentGiver>,
    pub given_by_name: String,
    pub given_on: Option<Date>,
    pub explicit: bool,
    pub scope: String,
    /// A capacity (Gillick) assessment of the child is recorded (`004 App.1`).
    pub capacity_assessed: bool,
    /// Consent of a person with parental responsibility is recorded as well.
    pub parental_consent_recorded: bool,
    pub not_sought_reasons: Vec<NotSoughtReason>,
    pub not_sought_detail: String,
    pub not_required_reason: Option<NotRequiredReason>,
    /// Public-interest justification for sharing despite refusal (`002 App.2 Q5`).
    pub public_interest_justification: String,
}

impl Consent {
    /// A consent record with nothing but a status, for tests and builders.
    pub fn with_status(status: ConsentStatus) -> Self {
        Self {
            status,
            given_by: None,
            given_by_name: String::new(),
            given_on: None,
            explicit: false,
            scope: String::new(),
            capacity_assessed: false,
            parental_consent_recorded: false,
            not_sought_reasons: Vec::new(),
            not_sought_detail: String::new(),
            not_required_reason: None,
            public_interest_justification: String::new(),
        }
    }
}

/// One data category sought, with its own reason (`003 b)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryRequest {
    pub category: CategoryId,
    pub reason: String,
}

/// Intended onward (secondary) disclosure (`002 App.2 Q1, Q6`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OnwardDisclosure {
    pub intended: bool,
    /// Agency ids (for signatories) or names of the bodies it would go to.
    pub recipients: Vec<String>,
    pub purpose: String,
}

/// Whether the child or family will be told (`001 How`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectNotification {
    pub will_inform: bool,
    pub reason_not_informing: String,
}

use crate::validation::limits::{CATEGORIES as MAX_CATEGORIES, LIST as MAX_LIST};

impl Request {
    /// The rules between fields a well-formed request must pass before the policy check
    /// judges it (each field on its own, its presence and length, is parsed once at the API
    /// boundary). Returns every problem, each naming its field, so a caller can fix them all
    /// at once. Judgements (is this purpose allowed, is consent adequate) belong to the policy
    /// check.
    pub fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::default();
        if self.requesting_agency == self.holding_agency {
            v.push(
                "holding_agency_id",
                "must differ from the requesting agency",
            );
        }
        validate_subject(&mut v, "child", &self.child);
        if self.other_people.len() > MAX_LIST {
            v.push("other_people", format!("at most {MAX_LIST} people"));
        }
        for (i, p) in self.other_people.iter().enumerate() {
            validate_subject(&mut v, &format!("other_people[{i}]"), p);
        }
        if self.categories.is_empty() {
            v.push("categories", "at least one data category must be sought");
        }
        if self.categories.len() > MAX_CATEGORIES {
            v.push("categories", format!("at most {MAX_CATEGORIES} categories"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, c) in self.categories.iter().enumerate() {
            if !seen.insert(&c.category) {
                v.push(
                    format!("categories[{i}].category_id"),
                    format!("{} is sought twice", c.category),
                );
            }
        }
        if let (Some(from), Some(to)) = (self.records_from, self.records_to) {
            if from > to {
                v.push("records_from", "must not be after records_to");
            }
        }
        let c = &self.consent;
        if c.status == ConsentStatus::Obtained {
            if c.given_by.is_none() {
                v.push("consent.given_by", "required when consent was obtained");
            }
            if c.given_on.is_none() {
                v.push(
                    "consent.given_on",
                    "required when consent was obtained (YYYY-MM-DD)",
                );
            }
        }
        if c.status == ConsentStatus::NotRequired && c.not_required_reason.is_none() {
            v.push(
                "consent.not_required_reason",
                "required when consent is not required (statutory duty or court order)",
            );
        }
        if self.onward_disclosure.intended && self.onward_disclosure.recipients.is_empty() {
            v.push(
                "onward_disclosure.recipients",
                "name at least one recipient when onward disclosure is intended",
            );
        }
        if self.onward_disclosure.recipients.len() > MAX_LIST {
            v.push(
                "onward_disclosure.recipients",
                format!("at most {MAX_LIST}"),
            );
        }
        v.finish()
    }

    /// The categories sought, in request order.
    pub fn category_ids(&self) -> impl Iterator<Item = &CategoryId> {
        self.categories.iter().map(|c| &c.category)
    }
}

fn validate_subject(v: &mut Violations, field: &str, s: &Subject) {
    if s.identifiers.is_empty() && s.identifiable {
        v.push(
            format!("{field}.identifiers"),
            "at least one identifier is required for an identifiable subject",
        );
    }
    if s.identifiers.len() > MAX_LIST {
        v.push(
            format!("{field}.identifiers"),
            format!("at most {MAX_LIST}"),
        );
    }
}
