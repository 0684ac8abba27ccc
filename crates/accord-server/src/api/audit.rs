//! The audit service's messages: audit entries, statistics and verification reports.

use accord_domain as d;
use accord_domain::Role;
use accord_proto::v1 as pb;
use accord_store as store;
use time::Date;

use super::enums::ProtoEnum;
use super::exchanges::lawful_basis_to_proto;
use super::time::{duration_from_secs, format_date, parse_date, timestamp};

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

#[cfg(test)]
mod tests;
