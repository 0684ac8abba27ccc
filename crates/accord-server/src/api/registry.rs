//! The registry service's messages: protocols, signatories and purposes. A purpose carries
//! every term a request for it must respect (bases, conditions, gateways, the consent rule per
//! level of need, approvers, deadlines, retention), so a client needs only `GetProtocol`.

use accord_domain as d;
use accord_domain::AgencyId;
use accord_proto::v1 as pb;

use super::enums::ProtoEnum;
use super::time::{duration, format_date};

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
        reaffirm_due: format_date(s.reaffirm_due()),
    }
}

fn category_to_proto(c: &d::DataCategory) -> pb::DataCategory {
    pb::DataCategory {
        id: c.id.to_string(),
        description: c.description.clone(),
        special_category: c.special,
    }
}

/// A purpose with its terms; `protocol` gives the descriptions of its categories (the loader
/// guarantees each exists, so none is ever missing from `allowed_categories`).
pub fn purpose_to_proto(protocol: &d::Protocol, p: &d::Purpose) -> pb::Purpose {
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
                let explicit = req == d::ConsentRequirement::Explicit;
                pb::ConsentRule {
                    level_of_need: level.to_proto(),
                    consent_required: explicit,
                    explicit,
                    requirement: req.to_proto(),
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
        special_conditions: p.special_conditions.iter().map(|c| c.to_proto()).collect(),
        approving_roles_without_consent: p
            .approving_roles_without_consent
            .iter()
            .map(|r| r.to_proto())
            .collect(),
        allowed_categories: p
            .categories
            .iter()
            .filter_map(|id| protocol.category(id))
            .map(category_to_proto)
            .collect(),
        // In the purpose's own order; the policy check decides which gateways are duties.
        duty_gateways: p
            .gateways
            .iter()
            .filter(|g| accord_policy::DUTY_GATEWAYS.contains(g))
            .map(|g| g.to_proto())
            .collect(),
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
        purposes: p.purposes.iter().map(|u| purpose_to_proto(p, u)).collect(),
        categories: p.categories.iter().map(category_to_proto).collect(),
        consent_capacity_age: u32::from(p.capacity_age),
        repeat_sharing_window: Some(duration(time::Duration::days(i64::from(
            p.repeat_window_days,
        )))),
    }
}

#[cfg(test)]
mod tests;
