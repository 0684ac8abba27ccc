//! The exchange service's messages: information requests, response items and exchange ids
//! in (checked, with field paths); exchanges, listing rows, assessments and responses out.

use std::collections::BTreeSet;

use accord_domain as d;
use accord_domain::{
    AgencyId, CategoryId, FieldViolation, IdError, IdempotencyKey, ProtocolId, PurposeId,
};
use accord_proto::v1 as pb;
use accord_store as store;
use time::OffsetDateTime;

use super::approvals::{conditions_to_proto, decision_to_proto, requester_action_to_proto};
use super::check::{join, Check};
use super::enums::ProtoEnum;
use super::time::{format_date, from_timestamp, timestamp};

/// Most entries of an enum list that may repeat values (`consent.not_sought_reasons`).
const MAX_REPEATED_ENUM: usize = 20;

/// Most items of one `SubmitResponse`.
pub const MAX_RESPONSE_ITEMS: usize = 500;

// ---------------------------------------------------------------------------------------
// Inbound: checks with field paths.

/// An information request, converted.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRequest {
    pub request: d::Request,
    pub idempotency_key: IdempotencyKey,
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
    match parse_request(r, now, true)? {
        (request, Some(idempotency_key)) => Ok(ParsedRequest {
            request,
            idempotency_key,
        }),
        // A required key that is missing is reported by `parse_request`.
        (_, None) => Err(vec![FieldViolation::new("idempotency_key", "is required")]),
    }
}

/// [`request_from_proto`] for a draft that is only checked (`CheckRequest`): the same checks
/// with the same field paths, except that `idempotency_key` may be empty, since nothing is
/// stored under it (a non-empty key is still checked).
pub fn draft_from_proto(
    r: &pb::InformationRequest,
    now: OffsetDateTime,
) -> Result<d::Request, Vec<FieldViolation>> {
    parse_request(r, now, false).map(|(request, _)| request)
}

/// The one conversion behind [`request_from_proto`] and [`draft_from_proto`]: the request,
/// and its idempotency key when it has one (always, when `key_required`).
fn parse_request(
    r: &pb::InformationRequest,
    now: OffsetDateTime,
    key_required: bool,
) -> Result<(d::Request, Option<IdempotencyKey>), Vec<FieldViolation>> {
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
                // A missing reason is not malformed input: the documents want one only when
                // someone is identifiable (`001 How`), and the check says so with its
                // severity (R15-not-informing-without-reason, a warning).
                c.text(
                    "subject_notification.reason_not_informing",
                    &n.reason_not_informing,
                    0,
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
    let idempotency_key = match IdempotencyKey::parse(&r.idempotency_key) {
        Ok(k) => Some(k),
        Err(_) if !key_required && r.idempotency_key.is_empty() => None,
        Err(reason) => {
            c.push("idempotency_key", reason);
            None
        }
    };

    // Build the request, with placeholders for what could not be read, and let the domain
    // check it too; its findings about fields already reported are dropped.
    let reported: Vec<String> = c.out.as_slice().iter().map(|v| v.field.clone()).collect();
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
        return Err(c.into_violations());
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
        Ok((request, idempotency_key))
    } else {
        Err(c.into_violations())
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
    // No reason is not malformed input: whether one is needed depends on the protocol and the
    // request (none where consent is not required or no one is identifiable), so the check
    // judges it (R08-not-sought-without-reason refuses where consent should have been sought).
    let (not_sought_reasons, not_sought_detail) = if status == Some(S::NotSought) {
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
        Err(c.into_violations())
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
        _ => Err(c.into_violations()),
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
        return Err(c.into_violations());
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
        Err(c.into_violations())
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
        practitioner: Some(practitioner_to_proto(&r.practitioner)),
        holding_agency_id: r.holding_agency.to_string(),
        child: Some(subject_to_proto(&r.child)),
        other_people: r.other_people.iter().map(subject_to_proto).collect(),
        purpose_id: r.purpose.to_string(),
        necessity_justification: r.necessity_justification.clone(),
        expected_outcome: r.expected_outcome.clone(),
        level_of_need: r.level_of_need.to_proto(),
        risk_summary: r.risk_summary.clone(),
        lawful_basis: Some(lawful_basis_to_proto(&r.lawful_basis)),
        consent: Some(consent_to_proto(&r.consent)),
        categories: r.categories.iter().map(category_request_to_proto).collect(),
        records_from: r.records_from.map(format_date).unwrap_or_default(),
        records_to: r.records_to.map(format_date).unwrap_or_default(),
        anonymised_would_suffice: r.anonymised_would_suffice,
        urgency: r.urgency.to_proto(),
        needed_by: r.needed_by.map(timestamp),
        onward_disclosure: Some(onward_disclosure_to_proto(&r.onward_disclosure)),
        subject_notification: Some(notification_to_proto(&r.notification)),
        idempotency_key: idempotency_key.to_owned(),
    }
}

/// The decision record's reasons: the request's fields that explain it, in the same messages.
pub fn reasons_to_proto(r: &d::RequestReasons) -> pb::RequestReasons {
    pb::RequestReasons {
        protocol_id: r.protocol_id.to_string(),
        protocol_version: r.protocol_version.clone(),
        practitioner: Some(practitioner_to_proto(&r.practitioner)),
        necessity_justification: r.necessity_justification.clone(),
        expected_outcome: r.expected_outcome.clone(),
        level_of_need: r.level_of_need.to_proto(),
        risk_summary: r.risk_summary.clone(),
        lawful_basis: Some(lawful_basis_to_proto(&r.lawful_basis)),
        consent: Some(consent_to_proto(&r.consent)),
        categories: r.categories.iter().map(category_request_to_proto).collect(),
        records_from: r.records_from.map(format_date).unwrap_or_default(),
        records_to: r.records_to.map(format_date).unwrap_or_default(),
        anonymised_would_suffice: r.anonymised_would_suffice,
        urgency: r.urgency.to_proto(),
        onward_disclosure: Some(onward_disclosure_to_proto(&r.onward_disclosure)),
        subject_notification: Some(notification_to_proto(&r.notification)),
    }
}

fn practitioner_to_proto(p: &d::Practitioner) -> pb::Practitioner {
    pb::Practitioner {
        subject: p.subject.clone(),
        name: p.name.clone(),
        job_title: p.job_title.clone(),
        contact: p.contact.clone(),
    }
}

fn consent_to_proto(c: &d::Consent) -> pb::Consent {
    pb::Consent {
        status: c.status.to_proto(),
        given_by: c.given_by.map_or(0, ProtoEnum::to_proto),
        given_by_name: c.given_by_name.clone(),
        given_on: c.given_on.map(format_date).unwrap_or_default(),
        explicit: c.explicit,
        scope: c.scope.clone(),
        capacity_assessed: c.capacity_assessed,
        parental_consent_recorded: c.parental_consent_recorded,
        not_sought_reasons: c.not_sought_reasons.iter().map(|x| x.to_proto()).collect(),
        not_sought_detail: c.not_sought_detail.clone(),
        not_required_reason: c.not_required_reason.map_or(0, ProtoEnum::to_proto),
        public_interest_justification: c.public_interest_justification.clone(),
    }
}

fn onward_disclosure_to_proto(o: &d::OnwardDisclosure) -> pb::OnwardDisclosure {
    pb::OnwardDisclosure {
        intended: o.intended,
        recipients: o.recipients.clone(),
        purpose: o.purpose.clone(),
    }
}

fn notification_to_proto(n: &d::SubjectNotification) -> pb::SubjectNotification {
    pb::SubjectNotification {
        will_inform: n.will_inform,
        reason_not_informing: n.reason_not_informing.clone(),
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

/// A stored exchange. The request is absent once its content has been purged; the decision
/// record's reasons stay until the record's own retention ends.
pub fn exchange_to_proto(x: &store::Exchange) -> pb::Exchange {
    // The protocol the assessment applied: the request names it, and after the request is
    // purged the decision record still does.
    let (protocol_id, version) = match (&x.request, &x.reasons) {
        (Some(r), _) => (r.protocol_id.to_string(), r.protocol_version.clone()),
        (None, Some(r)) => (r.protocol_id.to_string(), r.protocol_version.clone()),
        (None, None) => Default::default(),
    };
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
        reasons: x.reasons.as_ref().map(reasons_to_proto),
        record_retain_until: x.record_retain_until.map(timestamp),
        record_purged: x.record_purged,
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

#[cfg(test)]
mod tests;
