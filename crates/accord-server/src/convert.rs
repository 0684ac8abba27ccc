//! Conversions between the `accord.v1` messages and the domain and store types.
//!
//! Inbound conversions ([`request_from_proto`], [`response_items_from_proto`],
//! [`conditions_from_proto`]) enforce the limits the proto documents (required fields,
//! lengths in characters, `YYYY-MM-DD` dates, ids, no `UNSPECIFIED` where a value is
//! required) and report *every* violation with its field path relative to the converted
//! message; prefix them with [`crate::error::prefixed`] (e.g. `request`) before answering.
//! Reasons never repeat free text or dates the client sent: they may be personal data.
//!
//! Outbound conversions are total: the domain and the store hold only valid values.

use std::collections::BTreeSet;

use accord_domain as d;
use accord_domain::{AgencyId, CategoryId, FieldViolation, IdError, ProtocolId, PurposeId, Role};
use accord_proto::v1 as pb;
use accord_store as store;

use crate::error::{push_violation, violations_full};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

const DATE_FORMAT: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// Earliest year of any date a request or response carries (dates of birth, consent, records).
pub const MIN_YEAR: i32 = 1900;
/// Latest year of any such date.
pub const MAX_YEAR: i32 = 9999;

/// Most entries of an enum list that may repeat values (`consent.not_sought_reasons`).
const MAX_REPEATED_ENUM: usize = 20;

/// Most items of one `SubmitResponse`.
pub const MAX_RESPONSE_ITEMS: usize = 500;

/// A `YYYY-MM-DD` date.
pub fn parse_date(s: &str) -> Option<Date> {
    if s.len() != 10 {
        return None;
    }
    Date::parse(s, DATE_FORMAT).ok()
}

pub use accord_proto::wire::{format_date, from_timestamp, timestamp};

pub fn duration(d: time::Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: d.whole_seconds(),
        nanos: d.subsec_nanoseconds(),
    }
}

fn duration_from_secs(secs: f64) -> prost_types::Duration {
    let whole = secs.trunc();
    prost_types::Duration {
        seconds: whole as i64,
        nanos: ((secs - whole) * 1e9) as i32,
    }
}

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

// ---------------------------------------------------------------------------------------
// Inbound: checks with field paths.

/// Collects violations while converting one message.
struct Check {
    out: Vec<FieldViolation>,
    today: Date,
}

fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_owned()
    } else {
        format!("{prefix}.{field}")
    }
}

impl Check {
    fn new(now: OffsetDateTime) -> Check {
        Check {
            out: Vec::new(),
            today: now.date(),
        }
    }

    /// Records a violation; after [`crate::error::MAX_VIOLATIONS`] only one "… and more problems" is kept.
    fn push(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        if !self.is_full() {
            push_violation(&mut self.out, FieldViolation::new(field, reason));
        }
    }

    /// Whether the cap of violations was reached: loops over elements stop.
    fn is_full(&self) -> bool {
        violations_full(&self.out)
    }

    /// Checks a list's length before its elements: more than `max` is one violation, and
    /// `false` tells the caller not to look at the elements.
    fn list_len(&mut self, field: &str, len: usize, max: usize, what: &str) -> bool {
        if len > max {
            self.push(field, format!("at most {max} {what} (found {len})"));
            return false;
        }
        true
    }

    /// Text of `min..=max` characters (`min == 0`: optional).
    fn text(&mut self, field: &str, value: &str, min: usize, max: usize) -> String {
        let n = value.chars().count();
        if min > 0 && value.trim().is_empty() {
            self.push(field, "is required");
        } else if n > max {
            self.push(
                field,
                format!("must be at most {max} characters (found {n})"),
            );
        }
        value.to_owned()
    }

    fn empty(&mut self, field: &str, value: &str, when: &str) {
        if !value.is_empty() {
            self.push(field, format!("must be empty {when}"));
        }
    }

    fn id<T>(
        &mut self,
        field: &str,
        value: &str,
        parse: fn(&str) -> Result<T, IdError>,
    ) -> Option<T> {
        if value.is_empty() {
            self.push(field, "is required");
            return None;
        }
        match parse(value) {
            Ok(v) => Some(v),
            Err(e) => {
                self.push(field, format!("{value:?} is not a valid id: {e}"));
                None
            }
        }
    }

    /// A `YYYY-MM-DD` date from [`MIN_YEAR`] to [`MAX_YEAR`], optionally required and not
    /// after today.
    fn date(&mut self, field: &str, value: &str, required: bool, not_future: bool) -> Option<Date> {
        if value.is_empty() {
            if required {
                self.push(field, "is required (YYYY-MM-DD)");
            }
            return None;
        }
        match parse_date(value) {
            None => {
                self.push(field, "must be a date in the form YYYY-MM-DD");
                None
            }
            Some(d) if !(MIN_YEAR..=MAX_YEAR).contains(&d.year()) => {
                self.push(
                    field,
                    format!("must be a date from {MIN_YEAR}-01-01 to {MAX_YEAR}-12-31"),
                );
                None
            }
            Some(d) if not_future && d > self.today => {
                self.push(field, "must not be in the future");
                None
            }
            Some(d) => Some(d),
        }
    }

    fn required_enum<E: ProtoEnum>(&mut self, field: &str, v: i32) -> Option<E> {
        if v == 0 {
            self.push(field, "is required (UNSPECIFIED is not allowed)");
            return None;
        }
        let e = E::from_proto(v);
        if e.is_none() {
            self.push(field, format!("unknown value {v}"));
        }
        e
    }

    /// A list of at most `max` enum values, each required and (if `unique`) at most once. A
    /// longer list is one violation and its values are not read.
    fn enum_list<E: ProtoEnum + PartialEq>(
        &mut self,
        field: &str,
        values: &[i32],
        unique: bool,
        max: usize,
    ) -> Vec<E> {
        let mut out: Vec<E> = Vec::new();
        if !self.list_len(field, values.len(), max, "entries") {
            return out;
        }
        for (i, v) in values.iter().enumerate() {
            if self.is_full() {
                break;
            }
            let f = format!("{field}[{i}]");
            if let Some(e) = self.required_enum::<E>(&f, *v) {
                if out.contains(&e) {
                    if unique {
                        self.push(f, "is listed twice");
                    }
                } else {
                    out.push(e);
                }
            }
        }
        out
    }

    fn required<'a, T>(&mut self, field: &str, m: &'a Option<T>) -> Option<&'a T> {
        if m.is_none() {
            self.push(field, "is required");
        }
        m.as_ref()
    }
}

/// An information request, converted.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRequest {
    pub request: d::Request,
    /// `idempotency_key`, 1 to 128 characters.
    pub idempotency_key: String,
}

/// Placeholder ids stand in for unparseable ones so the domain's own checks can still run
/// over the rest of the request.
fn placeholder<T>(parse: fn(&str) -> Result<T, IdError>, name: &str) -> Option<T> {
    parse(name).ok()
}

fn overlaps(a: &str, b: &str) -> bool {
    let under = |x: &str, y: &str| {
        x == y || x.starts_with(&format!("{y}.")) || x.starts_with(&format!("{y}["))
    };
    under(a, b) || under(b, a)
}

/// Converts an `InformationRequest` to the domain's `Request`, checking every field the proto
/// documents, then `Request::validate`. `now` bounds "not in the future". Field paths are
/// relative to the `InformationRequest` (`child.date_of_birth`, `categories[2].reason`).
pub fn request_from_proto(
    r: &pb::InformationRequest,
    now: OffsetDateTime,
) -> Result<ParsedRequest, Vec<FieldViolation>> {
    let mut c = Check::new(now);
    let protocol_id = c.id("protocol_id", &r.protocol_id, ProtocolId::parse);
    let protocol_version = c.text("protocol_version", &r.protocol_version, 1, 32);
    let requesting = c.id(
        "requesting_agency_id",
        &r.requesting_agency_id,
        AgencyId::parse,
    );
    let practitioner = match c.required("practitioner", &r.practitioner) {
        Some(p) => d::Practitioner {
            subject: c.text("practitioner.subject", &p.subject, 1, 256),
            name: c.text("practitioner.name", &p.name, 1, 200),
            job_title: c.text("practitioner.job_title", &p.job_title, 1, 200),
            contact: c.text("practitioner.contact", &p.contact, 1, 320),
        },
        None => d::Practitioner {
            subject: String::new(),
            name: String::new(),
            job_title: String::new(),
            contact: String::new(),
        },
    };
    let holding = c.id("holding_agency_id", &r.holding_agency_id, AgencyId::parse);
    let child = match c.required("child", &r.child) {
        Some(s) => subject(&mut c, "child", s, true),
        None => d::Subject {
            identifiers: Vec::new(),
            name: String::new(),
            date_of_birth: None,
            identifiable: false,
            relationship: String::new(),
        },
    };
    let other_people: Vec<d::Subject> =
        if c.list_len("other_people", r.other_people.len(), 20, "people") {
            r.other_people
                .iter()
                .enumerate()
                .map(|(i, s)| subject(&mut c, &format!("other_people[{i}]"), s, false))
                .collect()
        } else {
            Vec::new()
        };
    let purpose = c.id("purpose_id", &r.purpose_id, PurposeId::parse);
    let necessity_justification = c.text(
        "necessity_justification",
        &r.necessity_justification,
        1,
        4000,
    );
    let expected_outcome = c.text("expected_outcome", &r.expected_outcome, 1, 2000);
    let level_of_need = c.required_enum::<d::LevelOfNeed>("level_of_need", r.level_of_need);
    let risk_summary = c.text("risk_summary", &r.risk_summary, 1, 4000);
    let lawful_basis = c.required("lawful_basis", &r.lawful_basis).map(|l| {
        let article6 = c.required_enum::<d::LawfulBasis>("lawful_basis.article6", l.article6);
        let special = c.required_enum::<d::SpecialCondition>(
            "lawful_basis.special_condition",
            l.special_condition,
        );
        // Each at most once: never more entries than there are gateways.
        let gateways = c.enum_list::<d::StatutoryGateway>(
            "lawful_basis.gateways",
            &l.gateways,
            true,
            d::StatutoryGateway::ALL.len(),
        );
        (article6, special, gateways)
    });
    let consent = c
        .required("consent", &r.consent)
        .map(|k| consent(&mut c, k));
    let categories = category_requests(&mut c, "categories", &r.categories, 1);
    let records_from = c.date("records_from", &r.records_from, false, false);
    let records_to = c.date("records_to", &r.records_to, false, true);
    let urgency = c.required_enum::<d::Urgency>("urgency", r.urgency);
    let needed_by = match &r.needed_by {
        None => None,
        Some(t) => match from_timestamp(t) {
            Some(at) if at > now => Some(at),
            Some(_) => {
                c.push("needed_by", "must be in the future");
                None
            }
            None => {
                c.push("needed_by", "is not a valid timestamp");
                None
            }
        },
    };
    let onward = match c.required("onward_disclosure", &r.onward_disclosure) {
        Some(o) => onward_disclosure(&mut c, o),
        None => d::OnwardDisclosure::default(),
    };
    let notification = match c.required("subject_notification", &r.subject_notification) {
        Some(n) => {
            if n.will_inform {
                c.empty(
                    "subject_notification.reason_not_informing",
                    &n.reason_not_informing,
                    "when will_inform is true",
                );
            } else {
                c.text(
                    "subject_notification.reason_not_informing",
                    &n.reason_not_informing,
                    1,
                    2000,
                );
            }
            d::SubjectNotification {
                will_inform: n.will_inform,
                reason_not_informing: n.reason_not_informing.clone(),
            }
        }
        None => d::SubjectNotification {
            will_inform: true,
            reason_not_informing: String::new(),
        },
    };
    let idempotency_key = c.text("idempotency_key", &r.idempotency_key, 1, 128);

    // Build the request, with placeholders for what could not be read, and let the domain
    // check it too; its findings about fields already reported are dropped.
    let reported: Vec<String> = c.out.iter().map(|v| v.field.clone()).collect();
    let (article6, special, gateways) = lawful_basis.unwrap_or((None, None, Vec::new()));
    let built = (|| {
        Some(d::Request {
            protocol_id: protocol_id
                .clone()
                .or_else(|| placeholder(ProtocolId::parse, "placeholder"))?,
            protocol_version: protocol_version.clone(),
            requesting_agency: requesting
                .clone()
                .or_else(|| placeholder(AgencyId::parse, "placeholder-requesting"))?,
            practitioner: practitioner.clone(),
            holding_agency: holding
                .clone()
                .or_else(|| placeholder(AgencyId::parse, "placeholder-holding"))?,
            child: child.clone(),
            other_people: other_people.clone(),
            purpose: purpose
                .clone()
                .or_else(|| placeholder(PurposeId::parse, "placeholder"))?,
            necessity_justification: necessity_justification.clone(),
            expected_outcome: expected_outcome.clone(),
            level_of_need: level_of_need.unwrap_or(d::LevelOfNeed::SignificantHarm),
            risk_summary: risk_summary.clone(),
            lawful_basis: d::LawfulBasisClaim {
                article6: article6.unwrap_or(d::LawfulBasis::PublicTask),
                special_condition: special.unwrap_or(d::SpecialCondition::None),
                gateways: gateways.clone(),
            },
            consent: consent
                .clone()
                .unwrap_or_else(|| d::Consent::with_status(d::ConsentStatus::NotRequired)),
            categories: categories.clone(),
            records_from,
            records_to,
            anonymised_would_suffice: r.anonymised_would_suffice,
            urgency: urgency.unwrap_or(d::Urgency::Routine),
            needed_by,
            onward_disclosure: onward.clone(),
            notification: notification.clone(),
        })
    })();
    let Some(request) = built else {
        return Err(c.out);
    };
    if let Err(domain) = request.validate() {
        for v in domain {
            let field = match v.field.strip_prefix("notification.") {
                Some(rest) => format!("subject_notification.{rest}"),
                None => v.field.clone(),
            };
            let agencies_unread =
                field == "holding_agency_id" && (requesting.is_none() || holding.is_none());
            if agencies_unread || reported.iter().any(|r| overlaps(r, &field)) {
                continue;
            }
            c.push(field, v.reason);
        }
    }
    if c.out.is_empty() {
        Ok(ParsedRequest {
            request,
            idempotency_key,
        })
    } else {
        Err(c.out)
    }
}

fn subject(c: &mut Check, field: &str, s: &pb::Subject, is_child: bool) -> d::Subject {
    let f = |k: &str| join(field, k);
    let listed = c.list_len(&f("identifiers"), s.identifiers.len(), 10, "identifiers");
    if s.identifiable && s.identifiers.is_empty() {
        c.push(
            f("identifiers"),
            "at least one identifier is required when identifiable is true",
        );
    }
    let identifiers = s
        .identifiers
        .iter()
        .take(if listed { s.identifiers.len() } else { 0 })
        .enumerate()
        .map(|(i, id)| {
            let base = format!("{field}.identifiers[{i}]");
            let scheme = c.text(&join(&base, "scheme"), &id.scheme, 1, 32);
            if !scheme.is_empty()
                && !scheme
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
            {
                c.push(
                    join(&base, "scheme"),
                    "may contain only lowercase letters, digits and underscores",
                );
            }
            let value = c.text(&join(&base, "value"), &id.value, 1, 64);
            d::SubjectIdentifier { scheme, value }
        })
        .collect();
    let name = c.text(&f("name"), &s.name, 0, 200);
    let date_of_birth = c.date(&f("date_of_birth"), &s.date_of_birth, false, true);
    let relationship = if is_child {
        c.empty(&f("relationship"), &s.relationship, "for the child");
        String::new()
    } else {
        c.text(&f("relationship"), &s.relationship, 1, 100)
    };
    d::Subject {
        identifiers,
        name,
        date_of_birth,
        identifiable: s.identifiable,
        relationship,
    }
}

fn consent(c: &mut Check, k: &pb::Consent) -> d::Consent {
    use d::ConsentStatus as S;
    let status = c.required_enum::<S>("consent.status", k.status);
    let given = matches!(status, Some(S::Obtained | S::Withdrawn));
    let (given_by, given_by_name, given_on) = if given {
        (
            c.required_enum::<d::ConsentGiver>("consent.given_by", k.given_by),
            c.text("consent.given_by_name", &k.given_by_name, 1, 200),
            c.date("consent.given_on", &k.given_on, true, true),
        )
    } else {
        if k.given_by != 0 {
            c.push(
                "consent.given_by",
                "must be UNSPECIFIED unless consent was obtained or withdrawn",
            );
        }
        c.empty(
            "consent.given_by_name",
            &k.given_by_name,
            "unless consent was obtained or withdrawn",
        );
        c.empty(
            "consent.given_on",
            &k.given_on,
            "unless consent was obtained or withdrawn",
        );
        (None, String::new(), None)
    };
    let scope = if status == Some(S::Obtained) {
        c.text("consent.scope", &k.scope, 1, 1000)
    } else {
        c.empty("consent.scope", &k.scope, "unless consent was obtained");
        String::new()
    };
    if status != Some(S::Obtained) && k.explicit {
        c.push(
            "consent.explicit",
            "must be false unless consent was obtained",
        );
    }
    let (not_sought_reasons, not_sought_detail) = if status == Some(S::NotSought) {
        if k.not_sought_reasons.is_empty() {
            c.push(
                "consent.not_sought_reasons",
                "at least one reason is required when consent was not sought",
            );
        }
        (
            c.enum_list::<d::NotSoughtReason>(
                "consent.not_sought_reasons",
                &k.not_sought_reasons,
                false,
                MAX_REPEATED_ENUM,
            ),
            c.text("consent.not_sought_detail", &k.not_sought_detail, 0, 2000),
        )
    } else {
        if !k.not_sought_reasons.is_empty() {
            c.push(
                "consent.not_sought_reasons",
                "must be empty unless consent was not sought",
            );
        }
        c.empty(
            "consent.not_sought_detail",
            &k.not_sought_detail,
            "unless consent was not sought",
        );
        (Vec::new(), String::new())
    };
    let not_required_reason = if status == Some(S::NotRequired) {
        c.required_enum::<d::NotRequiredReason>(
            "consent.not_required_reason",
            k.not_required_reason,
        )
    } else {
        if k.not_required_reason != 0 {
            c.push(
                "consent.not_required_reason",
                "must be UNSPECIFIED unless consent is not required",
            );
        }
        None
    };
    let public_interest_justification = c.text(
        "consent.public_interest_justification",
        &k.public_interest_justification,
        0,
        4000,
    );
    d::Consent {
        // An unreadable status is already reported; `Refused` asks nothing more of the other
        // fields, so the domain's checks add no noise about them.
        status: status.unwrap_or(S::Refused),
        given_by,
        given_by_name,
        given_on,
        explicit: k.explicit,
        scope,
        capacity_assessed: k.capacity_assessed,
        parental_consent_recorded: k.parental_consent_recorded,
        not_sought_reasons,
        not_sought_detail,
        not_required_reason,
        public_interest_justification,
    }
}

fn category_requests(
    c: &mut Check,
    field: &str,
    items: &[pb::CategoryRequest],
    min: usize,
) -> Vec<d::CategoryRequest> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    if !c.list_len(field, items.len(), 50, "categories") {
        return out;
    }
    if items.len() < min {
        c.push(field, "at least one data category is required");
    }
    for (i, item) in items.iter().enumerate() {
        if c.is_full() {
            break;
        }
        let base = format!("{field}[{i}]");
        let reason = c.text(&join(&base, "reason"), &item.reason, 1, 1000);
        if let Some(category) = c.id(
            &join(&base, "category_id"),
            &item.category_id,
            CategoryId::parse,
        ) {
            if !seen.insert(category.clone()) {
                c.push(
                    join(&base, "category_id"),
                    format!("{category} is listed twice"),
                );
                continue;
            }
            out.push(d::CategoryRequest { category, reason });
        }
    }
    out
}

fn onward_disclosure(c: &mut Check, o: &pb::OnwardDisclosure) -> d::OnwardDisclosure {
    if o.intended {
        if o.recipients.is_empty() {
            c.push(
                "onward_disclosure.recipients",
                "at least one recipient is required when onward disclosure is intended",
            );
        }
        if c.list_len(
            "onward_disclosure.recipients",
            o.recipients.len(),
            20,
            "recipients",
        ) {
            for (i, r) in o.recipients.iter().enumerate() {
                if c.is_full() {
                    break;
                }
                c.text(&format!("onward_disclosure.recipients[{i}]"), r, 1, 200);
            }
        }
        c.text("onward_disclosure.purpose", &o.purpose, 1, 2000);
    } else {
        if !o.recipients.is_empty() {
            c.push(
                "onward_disclosure.recipients",
                "must be empty when onward disclosure is not intended",
            );
        }
        c.empty(
            "onward_disclosure.purpose",
            &o.purpose,
            "when onward disclosure is not intended",
        );
    }
    d::OnwardDisclosure {
        intended: o.intended,
        recipients: o.recipients.clone(),
        purpose: o.purpose.clone(),
    }
}

/// Converts the categories of an `AnswerInformationRequest` amendment (`amended_categories`,
/// at most 50; empty is allowed and means "unchanged").
pub fn amended_categories_from_proto(
    items: &[pb::CategoryRequest],
) -> Result<Vec<d::CategoryRequest>, Vec<FieldViolation>> {
    let mut c = Check::new(OffsetDateTime::UNIX_EPOCH);
    let out = category_requests(&mut c, "amended_categories", items, 0);
    if c.out.is_empty() {
        Ok(out)
    } else {
        Err(c.out)
    }
}

/// Converts one response item; field paths are relative to the item.
pub fn response_item_from_proto(
    item: &pb::ResponseItem,
    now: OffsetDateTime,
) -> Result<d::ResponseItem, Vec<FieldViolation>> {
    let mut c = Check::new(now);
    let parsed = response_item(&mut c, "", item);
    match parsed {
        Some(i) if c.out.is_empty() => Ok(i),
        _ => Err(c.out),
    }
}

fn response_item(c: &mut Check, base: &str, item: &pb::ResponseItem) -> Option<d::ResponseItem> {
    let category = c.id(
        &join(base, "category_id"),
        &item.category_id,
        CategoryId::parse,
    );
    let kind = c.required_enum::<d::ItemKind>(&join(base, "kind"), item.kind);
    let content = c.text(&join(base, "content"), &item.content, 1, 65_536);
    let recorded_on = c.date(&join(base, "recorded_on"), &item.recorded_on, true, true);
    let source_system = c.text(&join(base, "source_system"), &item.source_system, 0, 100);
    Some(d::ResponseItem {
        category: category?,
        kind: kind?,
        content,
        recorded_on: recorded_on?,
        historical: item.historical,
        source_system: (!source_system.is_empty()).then_some(source_system),
    })
}

/// Converts the items of a `SubmitResponse` (1 to 500); paths are `items[i].<field>`.
pub fn response_items_from_proto(
    items: &[pb::ResponseItem],
    now: OffsetDateTime,
) -> Result<Vec<d::ResponseItem>, Vec<FieldViolation>> {
    let mut c = Check::new(now);
    if !c.list_len("items", items.len(), MAX_RESPONSE_ITEMS, "items") {
        return Err(c.out);
    }
    if items.is_empty() {
        c.push("items", "at least one item is required");
    }
    let mut out: Vec<d::ResponseItem> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if c.is_full() {
            break;
        }
        out.extend(response_item(&mut c, &format!("items[{i}]"), item));
    }
    if c.out.is_empty() {
        Ok(out)
    } else {
        Err(c.out)
    }
}

/// Converts approval conditions; paths are relative to `field` (e.g. `approve.conditions`).
pub fn conditions_from_proto(
    field: &str,
    k: &pb::Conditions,
) -> Result<d::Conditions, Vec<FieldViolation>> {
    let mut c = Check::new(OffsetDateTime::UNIX_EPOCH);
    if k.retention_days > 3650 {
        c.push(
            join(field, "retention_days"),
            format!("must be between 0 and 3650 (found {})", k.retention_days),
        );
    }
    let other = c.text(&join(field, "other"), &k.other, 0, 2000);
    if c.out.is_empty() {
        Ok(d::Conditions {
            no_onward_disclosure: k.no_onward_disclosure,
            retention_days: (k.retention_days > 0).then_some(k.retention_days),
            inform_subject: k.inform_subject,
            other,
        })
    } else {
        Err(c.out)
    }
}

/// Parses an exchange id (a UUID) from a request field.
pub fn exchange_id_from_proto(field: &str, s: &str) -> Result<uuid::Uuid, FieldViolation> {
    if s.is_empty() {
        return Err(FieldViolation::new(field, "is required"));
    }
    uuid::Uuid::parse_str(s)
        .map_err(|_| FieldViolation::new(field, "must be an exchange id (a UUID)"))
}

// ---------------------------------------------------------------------------------------
// Outbound.

pub fn request_to_proto(r: &d::Request, idempotency_key: &str) -> pb::InformationRequest {
    pb::InformationRequest {
        protocol_id: r.protocol_id.to_string(),
        protocol_version: r.protocol_version.clone(),
        requesting_agency_id: r.requesting_agency.to_string(),
        practitioner: Some(pb::Practitioner {
            subject: r.practitioner.subject.clone(),
            name: r.practitioner.name.clone(),
            job_title: r.practitioner.job_title.clone(),
            contact: r.practitioner.contact.clone(),
        }),
        holding_agency_id: r.holding_agency.to_string(),
        child: Some(subject_to_proto(&r.child)),
        other_people: r.other_people.iter().map(subject_to_proto).collect(),
        purpose_id: r.purpose.to_string(),
        necessity_justification: r.necessity_justification.clone(),
        expected_outcome: r.expected_outcome.clone(),
        level_of_need: r.level_of_need.to_proto(),
        risk_summary: r.risk_summary.clone(),
        lawful_basis: Some(lawful_basis_to_proto(&r.lawful_basis)),
        consent: Some(pb::Consent {
            status: r.consent.status.to_proto(),
            given_by: r.consent.given_by.map_or(0, ProtoEnum::to_proto),
            given_by_name: r.consent.given_by_name.clone(),
            given_on: r.consent.given_on.map(format_date).unwrap_or_default(),
            explicit: r.consent.explicit,
            scope: r.consent.scope.clone(),
            capacity_assessed: r.consent.capacity_assessed,
            parental_consent_recorded: r.consent.parental_consent_recorded,
            not_sought_reasons: r
                .consent
                .not_sought_reasons
                .iter()
                .map(|x| x.to_proto())
                .collect(),
            not_sought_detail: r.consent.not_sought_detail.clone(),
            not_required_reason: r.consent.not_required_reason.map_or(0, ProtoEnum::to_proto),
            public_interest_justification: r.consent.public_interest_justification.clone(),
        }),
        categories: r.categories.iter().map(category_request_to_proto).collect(),
        records_from: r.records_from.map(format_date).unwrap_or_default(),
        records_to: r.records_to.map(format_date).unwrap_or_default(),
        anonymised_would_suffice: r.anonymised_would_suffice,
        urgency: r.urgency.to_proto(),
        needed_by: r.needed_by.map(timestamp),
        onward_disclosure: Some(pb::OnwardDisclosure {
            intended: r.onward_disclosure.intended,
            recipients: r.onward_disclosure.recipients.clone(),
            purpose: r.onward_disclosure.purpose.clone(),
        }),
        subject_notification: Some(pb::SubjectNotification {
            will_inform: r.notification.will_inform,
            reason_not_informing: r.notification.reason_not_informing.clone(),
        }),
        idempotency_key: idempotency_key.to_owned(),
    }
}

fn subject_to_proto(s: &d::Subject) -> pb::Subject {
    pb::Subject {
        identifiers: s
            .identifiers
            .iter()
            .map(|i| pb::SubjectIdentifier {
                scheme: i.scheme.clone(),
                value: i.value.clone(),
            })
            .collect(),
        name: s.name.clone(),
        date_of_birth: s.date_of_birth.map(format_date).unwrap_or_default(),
        identifiable: s.identifiable,
        relationship: s.relationship.clone(),
    }
}

fn category_request_to_proto(c: &d::CategoryRequest) -> pb::CategoryRequest {
    pb::CategoryRequest {
        category_id: c.category.to_string(),
        reason: c.reason.clone(),
    }
}

pub fn lawful_basis_to_proto(l: &d::LawfulBasisClaim) -> pb::LawfulBasisClaim {
    pb::LawfulBasisClaim {
        article6: l.article6.to_proto(),
        special_condition: l.special_condition.to_proto(),
        gateways: l.gateways.iter().map(|g| g.to_proto()).collect(),
    }
}

pub fn finding_to_proto(f: &d::Finding) -> pb::Finding {
    pb::Finding {
        rule_id: f.rule_id.clone(),
        severity: f.severity.to_proto(),
        source: f.source.clone(),
        message: f.message.clone(),
        category_id: f
            .category
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    }
}

/// An assessment; the domain type does not carry the protocol it applied, so pass it.
pub fn assessment_to_proto(
    a: &d::Assessment,
    protocol_id: &str,
    protocol_version: &str,
) -> pb::Assessment {
    let mut findings: Vec<&d::Finding> = a.findings.iter().collect();
    // Most severe first, as the proto promises; stable, so the check's order breaks ties.
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    pb::Assessment {
        outcome: a.outcome.to_proto(),
        findings: findings.into_iter().map(finding_to_proto).collect(),
        proposed_scope: a.proposed_scope.iter().map(ToString::to_string).collect(),
        trimmed_categories: a.trimmed.iter().map(ToString::to_string).collect(),
        respond_by: (a.outcome == d::Outcome::ProceedToApproval).then(|| timestamp(a.respond_by)),
        required_approver_roles: a
            .required_approver_roles
            .iter()
            .map(|r| r.to_proto())
            .collect(),
        assessed_at: Some(timestamp(a.assessed_at)),
        protocol_id: protocol_id.to_owned(),
        protocol_version: protocol_version.to_owned(),
    }
}

pub fn conditions_to_proto(c: &d::Conditions) -> pb::Conditions {
    pb::Conditions {
        no_onward_disclosure: c.no_onward_disclosure,
        retention_days: c.retention_days.unwrap_or(0),
        inform_subject: c.inform_subject,
        other: c.other.clone(),
    }
}

/// The role an approver decided in: an approving role they hold, else their first role.
fn decided_role(actor: &d::Actor) -> i32 {
    [Role::IgLead, Role::CaldicottGuardian]
        .into_iter()
        .find(|r| actor.has_role(*r))
        .or_else(|| actor.roles.first().copied())
        .map_or(0, ProtoEnum::to_proto)
}

/// An approver's decision; `None` for the requester's own actions (answers, disputes), which
/// are [`requester_action_to_proto`].
pub fn decision_to_proto(x: &d::Decision) -> Option<pb::Decision> {
    use d::DecisionKind as K;
    let kind = match x.kind {
        K::Approve => pb::DecisionKind::Approve,
        K::ApprovePart => pb::DecisionKind::ApprovePart,
        K::Decline => pb::DecisionKind::Decline,
        K::AskForMoreInformation => pb::DecisionKind::AskForMoreInformation,
        K::Escalate => pb::DecisionKind::Escalate,
        K::InformationProvided | K::DeclineEscalated => return None,
    };
    let approval = matches!(x.kind, K::Approve | K::ApprovePart);
    Some(pb::Decision {
        kind: kind as i32,
        decided_by: x.decided_by.subject.clone(),
        decided_by_role: decided_role(&x.decided_by),
        agency_id: x
            .decided_by
            .agency
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        decided_at: Some(timestamp(x.decided_at)),
        categories: if approval {
            x.categories.iter().map(ToString::to_string).collect()
        } else {
            Vec::new()
        },
        conditions: approval.then(|| conditions_to_proto(&x.conditions)),
        reasons: if matches!(x.kind, K::Decline | K::Escalate) {
            x.reasons.clone()
        } else {
            Vec::new()
        },
        questions: if x.kind == K::AskForMoreInformation {
            x.questions.clone()
        } else {
            Vec::new()
        },
        note: x.note.clone(),
    })
}

/// A requester's answer or dispute, recorded as a decision in the domain; `None` for an
/// approver's decision.
pub fn requester_action_to_proto(x: &d::Decision) -> Option<pb::RequesterAction> {
    let kind = match x.kind {
        d::DecisionKind::InformationProvided => pb::RequesterActionKind::Answered,
        d::DecisionKind::DeclineEscalated => pb::RequesterActionKind::EscalatedDecline,
        _ => return None,
    };
    let text = if x.note.is_empty() {
        x.reasons.join("\n")
    } else {
        x.note.clone()
    };
    Some(pb::RequesterAction {
        kind: kind as i32,
        acted_by: x.decided_by.subject.clone(),
        acted_at: Some(timestamp(x.decided_at)),
        text,
        amended_categories: Vec::new(),
    })
}

/// A stored exchange. The request is absent once its content has been purged.
pub fn exchange_to_proto(x: &store::Exchange) -> pb::Exchange {
    let (protocol_id, version) = x
        .request
        .as_ref()
        .map(|r| (r.protocol_id.to_string(), r.protocol_version.clone()))
        .unwrap_or_default();
    let approved = !x.approved_scope.is_empty();
    pb::Exchange {
        id: x.id.to_string(),
        state: x.state.to_proto(),
        request: x
            .request
            .as_ref()
            .map(|r| request_to_proto(r, &x.idempotency_key)),
        assessment: Some(assessment_to_proto(&x.assessment, &protocol_id, &version)),
        decisions: x.decisions.iter().filter_map(decision_to_proto).collect(),
        created_at: Some(timestamp(x.created_at)),
        updated_at: Some(timestamp(x.updated_at)),
        respond_by: Some(timestamp(x.respond_by)),
        overdue: x.overdue,
        version: x.version,
        response_available: x.response.as_ref().is_some_and(|r| !r.purged),
        requester_actions: x
            .decisions
            .iter()
            .filter_map(requester_action_to_proto)
            .collect(),
        approved_categories: x.approved_scope.iter().map(ToString::to_string).collect(),
        conditions: approved.then(|| conditions_to_proto(&x.conditions)),
    }
}

/// A listing row. The level of need is UNSPECIFIED only for an exchange recorded before the
/// store kept it (see the store's migration 0003).
pub fn exchange_summary_to_proto(x: &store::ExchangeSummary) -> pb::ExchangeSummary {
    pb::ExchangeSummary {
        id: x.id.to_string(),
        state: x.state.to_proto(),
        purpose_id: x.purpose.to_string(),
        requesting_agency_id: x.requesting_agency.to_string(),
        holding_agency_id: x.holding_agency.to_string(),
        urgency: x.urgency.to_proto(),
        created_at: Some(timestamp(x.created_at)),
        updated_at: Some(timestamp(x.updated_at)),
        respond_by: Some(timestamp(x.respond_by)),
        overdue: x.overdue,
        level_of_need: x.level_of_need.map_or(0, ProtoEnum::to_proto),
        version: x.version,
    }
}

pub fn response_items_to_proto(items: &[d::ResponseItem]) -> Vec<pb::ResponseItem> {
    items
        .iter()
        .map(|i| pb::ResponseItem {
            category_id: i.category.to_string(),
            kind: i.kind.to_proto(),
            content: i.content.clone(),
            recorded_on: format_date(i.recorded_on),
            historical: i.historical,
            source_system: i.source_system.clone().unwrap_or_default(),
        })
        .collect()
}

/// An inbox event; the cursor is the store's sequence number as decimal text (opaque to
/// clients).
pub fn inbox_event_to_proto(e: &store::InboxEvent) -> pb::InboxEvent {
    pb::InboxEvent {
        cursor: e.cursor.to_string(),
        exchange_id: e.exchange_id.to_string(),
        kind: e.kind.to_proto(),
        state: e.state.to_proto(),
        occurred_at: Some(timestamp(e.occurred_at)),
        summary: e.summary.clone(),
    }
}

/// Reads a cursor written by [`inbox_event_to_proto`]; empty means "from the beginning".
pub fn inbox_cursor_from_proto(field: &str, s: &str) -> Result<Option<u64>, FieldViolation> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse::<u64>()
        .map(Some)
        .map_err(|_| FieldViolation::new(field, "is not a cursor returned by this server"))
}

/// The structured part of the consent a `submitted` entry records; its free text (scope,
/// explanations) is a digest there and is not read.
#[derive(serde::Deserialize)]
struct AuditConsent {
    status: d::ConsentStatus,
    #[serde(default)]
    given_by: Option<d::ConsentGiver>,
    #[serde(default)]
    given_on: serde_json::Value,
    #[serde(default)]
    explicit: bool,
    #[serde(default)]
    not_sought_reasons: Vec<d::NotSoughtReason>,
    #[serde(default)]
    not_required_reason: Option<d::NotRequiredReason>,
    #[serde(default)]
    public_interest_justification: serde_json::Value,
}

/// An audit entry. `lawful_basis`, `level_of_need` and `consent` are read from the entry's
/// `detail` under those keys (domain serde form) when the store recorded them.
pub fn audit_entry_to_proto(e: &store::AuditEntry) -> pb::AuditEntry {
    let detail = |k: &str| e.detail.get(k).cloned();
    let lawful_basis = detail("lawful_basis")
        .and_then(|v| serde_json::from_value::<d::LawfulBasisClaim>(v).ok())
        .map(|l| lawful_basis_to_proto(&l));
    let level_of_need = detail("level_of_need")
        .and_then(|v| serde_json::from_value::<d::LevelOfNeed>(v).ok())
        .map_or(0, ProtoEnum::to_proto);
    let consent = detail("consent")
        .and_then(|v| serde_json::from_value::<AuditConsent>(v).ok())
        .map(|k| pb::ConsentSummary {
            status: k.status.to_proto(),
            given_by: k.given_by.map_or(0, ProtoEnum::to_proto),
            given_on: match &k.given_on {
                serde_json::Value::String(s) if parse_date(s).is_some() => s.clone(),
                v => serde_json::from_value::<Date>(v.clone())
                    .map(format_date)
                    .unwrap_or_default(),
            },
            explicit: k.explicit,
            not_sought_reasons: k.not_sought_reasons.iter().map(|x| x.to_proto()).collect(),
            not_required_reason: k.not_required_reason.map_or(0, ProtoEnum::to_proto),
            // The store records the justification as a digest (`null` when empty); older
            // entries, and the domain form, hold the text.
            public_interest_justified: match &k.public_interest_justification {
                serde_json::Value::String(s) => !s.trim().is_empty(),
                v => !v.is_null(),
            },
        });
    pb::AuditEntry {
        sequence: e.sequence,
        entry_hash: e.entry_hash.clone(),
        prev_hash: e.prev_hash.clone(),
        occurred_at: Some(timestamp(e.occurred_at)),
        event_kind: e.event_kind.clone(),
        exchange_id: e.exchange_id.map(|u| u.to_string()).unwrap_or_default(),
        actor_agency_id: e
            .actor_agency
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        actor_subject: e.actor_subject.clone(),
        actor_role: e
            .actor_roles
            .iter()
            .find_map(|r| Role::parse(r))
            .map_or(0, ProtoEnum::to_proto),
        requesting_agency_id: e
            .requesting_agency
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        holding_agency_id: e
            .holding_agency
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        purpose_id: e
            .purpose
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        state_from: e.state_from.map_or(0, ProtoEnum::to_proto),
        state_to: e.state_to.map_or(0, ProtoEnum::to_proto),
        lawful_basis,
        consent,
        level_of_need,
        categories: e.categories.iter().map(ToString::to_string).collect(),
        content_sha256: e.content_sha256.clone().unwrap_or_default(),
        content_size: e.content_size.unwrap_or(0),
        subject_hashes: e.subject_hashes.clone(),
        detail_json: e.detail.to_string(),
    }
}

pub fn stats_to_proto(s: &store::Stats) -> pb::GetStatisticsResponse {
    pb::GetStatisticsResponse {
        total_exchanges: s.by_state.iter().map(|(_, n)| n).sum(),
        by_state: s
            .by_state
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(st, n)| pb::StateCount {
                state: st.to_proto(),
                count: *n,
            })
            .collect(),
        by_purpose: s
            .by_purpose
            .iter()
            .map(|(p, n)| pb::PurposeCount {
                purpose_id: p.to_string(),
                count: *n,
            })
            .collect(),
        by_agency_pair: s
            .by_agency_pair
            .iter()
            .map(|(a, b, n)| pb::AgencyPairCount {
                requesting_agency_id: a.to_string(),
                holding_agency_id: b.to_string(),
                count: *n,
            })
            .collect(),
        median_time_to_decision: s.decision_seconds_p50.map(duration_from_secs),
        p90_time_to_decision: s.decision_seconds_p90.map(duration_from_secs),
        overdue_count: s.overdue,
    }
}

/// A verification report; `head` is the (sequence, hash) of the last entry checked, which
/// the report does not carry.
pub fn verify_report_to_proto(
    r: &store::VerifyReport,
    head: Option<(u64, String)>,
) -> pb::VerifyAuditResponse {
    let (head_sequence, head_hash) = head.unwrap_or_default();
    pb::VerifyAuditResponse {
        ok: r.ok,
        entries_checked: r.entries_checked,
        first_bad_sequence: r.first_bad_sequence,
        problem: r.problem.clone().unwrap_or_default(),
        last_checkpoint_sequence: r.last_checkpoint_sequence.unwrap_or(0),
        checkpoint_signature_valid: r.checkpoints_valid,
        head_sequence,
        head_hash,
    }
}

pub fn protocol_summary_to_proto(p: &d::Protocol) -> pb::ProtocolSummary {
    pb::ProtocolSummary {
        id: p.id.to_string(),
        title: p.title.clone(),
        version: p.version.clone(),
        approved_on: format_date(p.approved_on),
        review_due: format_date(p.review_due),
    }
}

/// A signatory; `status_reason` comes from the registry (see `Registry::status_reason`).
pub fn signatory_to_proto(s: &d::Signatory, status_reason: String) -> pb::Signatory {
    pb::Signatory {
        agency_id: s.agency_id.to_string(),
        name: s.name.clone(),
        kind: s.kind.to_proto(),
        relevant_authority: s.relevant_authority,
        signed_on: format_date(s.signed_on),
        reaffirm_every_months: s.reaffirm_every_months,
        last_affirmed_on: format_date(s.last_affirmed_on),
        status: s.status.to_proto(),
        certificate_identity: s
            .certificate_identity
            .clone()
            .or_else(|| {
                s.certificate_fingerprints
                    .first()
                    .map(|f| format!("sha256:{f}"))
            })
            .unwrap_or_default(),
        token_issuer: s.token_issuer.clone(),
        status_reason,
    }
}

pub fn purpose_to_proto(p: &d::Purpose) -> pb::Purpose {
    pb::Purpose {
        id: p.id.to_string(),
        description: p.description.clone(),
        lawful_bases: p.lawful_bases.iter().map(|b| b.to_proto()).collect(),
        gateways: p.gateways.iter().map(|g| g.to_proto()).collect(),
        categories: p.categories.iter().map(ToString::to_string).collect(),
        consent_rules: d::LevelOfNeed::ALL
            .iter()
            .map(|level| {
                let req = p.consent_requirement(*level);
                pb::ConsentRule {
                    level_of_need: level.to_proto(),
                    consent_required: req == d::ConsentRequirement::Explicit,
                    explicit: req == d::ConsentRequirement::Explicit,
                }
            })
            .collect(),
        retention_days: p.retention_days,
        deadlines: d::Urgency::ALL
            .iter()
            .map(|u| pb::Deadline {
                urgency: u.to_proto(),
                within: Some(duration(p.deadline(*u))),
            })
            .collect(),
        approving_roles: p.approving_roles.iter().map(|r| r.to_proto()).collect(),
    }
}

/// A protocol in full; `status_reason` gives each signatory's recorded reason.
pub fn protocol_to_proto(
    p: &d::Protocol,
    status_reason: impl Fn(&AgencyId) -> String,
) -> pb::Protocol {
    pb::Protocol {
        id: p.id.to_string(),
        title: p.title.clone(),
        version: p.version.clone(),
        approved_on: format_date(p.approved_on),
        review_due: format_date(p.review_due),
        signatories: p
            .signatories
            .iter()
            .map(|s| signatory_to_proto(s, status_reason(&s.agency_id)))
            .collect(),
        purposes: p.purposes.iter().map(purpose_to_proto).collect(),
        categories: p
            .categories
            .iter()
            .map(|c| pb::DataCategory {
                id: c.id.to_string(),
                description: c.description.clone(),
                special_category: c.special,
            })
            .collect(),
        consent_capacity_age: u32::from(p.capacity_age),
        repeat_sharing_window: Some(duration(time::Duration::days(i64::from(
            p.repeat_window_days,
        )))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

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
    fn conditions_and_ids() {
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
        assert!(exchange_id_from_proto("exchange_id", "nope").is_err());
        assert!(exchange_id_from_proto("exchange_id", "").is_err());
        assert!(exchange_id_from_proto("exchange_id", &uuid::Uuid::now_v7().to_string()).is_ok());
        assert_eq!(inbox_cursor_from_proto("after_cursor", ""), Ok(None));
        assert_eq!(inbox_cursor_from_proto("after_cursor", "42"), Ok(Some(42)));
        assert!(inbox_cursor_from_proto("after_cursor", "x").is_err());
        let v = amended_categories_from_proto(&[pb::CategoryRequest {
            category_id: "BAD".into(),
            reason: "r".into(),
        }])
        .err()
        .unwrap_or_default();
        assert_eq!(v[0].field, "amended_categories[0].category_id");
    }

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
    fn dates_and_times() {
        assert_eq!(
            parse_date("2025-02-28").map(format_date).as_deref(),
            Some("2025-02-28")
        );
        assert_eq!(parse_date("2025-02-30"), None);
        assert_eq!(parse_date("25-02-28"), None);
        assert_eq!(parse_date("2025-2-8"), None);
        let t = datetime!(2025-06-01 12:00:00.5 UTC);
        assert_eq!(from_timestamp(&timestamp(t)), Some(t));
        let d = duration_from_secs(90.25);
        assert_eq!((d.seconds, d.nanos), (90, 250_000_000));
    }

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
}
