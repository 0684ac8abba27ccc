//! The request and response files `accord request submit --file` and `accord response submit
//! --file` read: TOML or JSON with the keys of `accord.v1.InformationRequest` and
//! `accord.v1.ResponseItem`, and enum values spelt as in protocol files (`significant_harm`).
//! Unknown keys are errors, so a misspelt key is never silently dropped.

use std::path::Path;

use accord_domain as d;
use accord_proto::v1 as pb;
use accord_server::api::ProtoEnum;
use anyhow::{anyhow, bail, Context as _};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A date written as `"2025-09-14"` or, in TOML, as a bare date `2025-09-14`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DateValue {
    Text(String),
    Toml(toml::value::Datetime),
}

impl DateValue {
    pub fn text(&self) -> String {
        match self {
            DateValue::Text(s) => s.trim().to_owned(),
            DateValue::Toml(d) => d.to_string(),
        }
    }
}

/// An instant written as RFC 3339 text or, in TOML, as an offset date-time.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TimeValue {
    Text(String),
    Toml(toml::value::Datetime),
}

impl TimeValue {
    pub fn instant(&self, key: &str) -> anyhow::Result<OffsetDateTime> {
        let text = match self {
            TimeValue::Text(s) => s.trim().to_owned(),
            TimeValue::Toml(d) => d.to_string(),
        };
        OffsetDateTime::parse(&text, &Rfc3339).map_err(|_| {
            anyhow!("{key}: {text:?} is not an RFC 3339 time such as 2026-11-21T17:00:00Z")
        })
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PractitionerFile {
    pub subject: Option<String>,
    pub name: Option<String>,
    pub job_title: Option<String>,
    pub contact: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentifierFile {
    pub scheme: String,
    pub value: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectFile {
    #[serde(default)]
    pub identifiers: Vec<IdentifierFile>,
    #[serde(default)]
    pub name: String,
    pub date_of_birth: Option<DateValue>,
    /// Default true: requests are about identifiable people unless they say otherwise.
    pub identifiable: Option<bool>,
    #[serde(default)]
    pub relationship: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LawfulBasisFile {
    pub article6: Option<d::LawfulBasis>,
    pub special_condition: Option<d::SpecialCondition>,
    #[serde(default)]
    pub gateways: Vec<d::StatutoryGateway>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentFile {
    pub status: Option<d::ConsentStatus>,
    pub given_by: Option<d::ConsentGiver>,
    #[serde(default)]
    pub given_by_name: String,
    pub given_on: Option<DateValue>,
    #[serde(default)]
    pub explicit: bool,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub capacity_assessed: bool,
    #[serde(default)]
    pub parental_consent_recorded: bool,
    #[serde(default)]
    pub not_sought_reasons: Vec<d::NotSoughtReason>,
    #[serde(default)]
    pub not_sought_detail: String,
    pub not_required_reason: Option<d::NotRequiredReason>,
    #[serde(default)]
    pub public_interest_justification: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryFile {
    pub category_id: String,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnwardFile {
    #[serde(default)]
    pub intended: bool,
    #[serde(default)]
    pub recipients: Vec<String>,
    #[serde(default)]
    pub purpose: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationFile {
    pub will_inform: Option<bool>,
    #[serde(default)]
    pub reason_not_informing: String,
}

/// An information request as written in a file, before the caller's defaults are applied.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestFile {
    pub protocol_id: Option<String>,
    pub protocol_version: Option<String>,
    pub requesting_agency_id: Option<String>,
    pub practitioner: Option<PractitionerFile>,
    pub holding_agency_id: Option<String>,
    pub child: Option<SubjectFile>,
    #[serde(default)]
    pub other_people: Vec<SubjectFile>,
    pub purpose_id: Option<String>,
    pub necessity_justification: Option<String>,
    pub expected_outcome: Option<String>,
    pub level_of_need: Option<d::LevelOfNeed>,
    pub risk_summary: Option<String>,
    pub lawful_basis: Option<LawfulBasisFile>,
    pub consent: Option<ConsentFile>,
    #[serde(default)]
    pub categories: Vec<CategoryFile>,
    pub records_from: Option<DateValue>,
    pub records_to: Option<DateValue>,
    #[serde(default)]
    pub anonymised_would_suffice: bool,
    pub urgency: Option<d::Urgency>,
    pub needed_by: Option<TimeValue>,
    pub onward_disclosure: Option<OnwardFile>,
    pub subject_notification: Option<NotificationFile>,
    pub idempotency_key: Option<String>,
}

/// Reads TOML or JSON (by extension; `-` is standard input, JSON if it starts with `{`).
pub fn read_file<T: DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text = if path == Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .context("cannot read standard input")?;
        s
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    };
    let is_json = match path.extension().and_then(|e| e.to_str()) {
        Some("json") => true,
        Some("toml") => false,
        _ => text.trim_start().starts_with('{') || text.trim_start().starts_with('['),
    };
    if is_json {
        serde_json::from_str(&text).map_err(|e| anyhow!("{}: {e}", path.display()))
    } else {
        toml::from_str(&text)
            .map_err(|e| anyhow!("{}: {}", path.display(), e.to_string().trim_end()))
    }
}

/// What the command knows that the file may leave out.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    /// The caller's agency (token `agency`).
    pub agency: String,
    /// The caller's user id (token `sub`).
    pub subject: String,
    /// The caller's display name (token `name`).
    pub name: Option<String>,
    /// The broker's only protocol (id, version), when it holds exactly one.
    pub protocol: Option<(String, String)>,
}

fn date(key: &str, v: &Option<DateValue>, problems: &mut Vec<String>) -> String {
    match v {
        None => String::new(),
        Some(v) => {
            let t = v.text();
            if accord_domain::loader::parse_date(&t).is_none() {
                problems.push(format!("{key}: {t:?} is not a date in the form YYYY-MM-DD"));
            }
            t
        }
    }
}

fn need(v: &Option<String>, key: &'static str, missing: &mut Vec<&'static str>) -> String {
    match v.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => {
            missing.push(key);
            String::new()
        }
    }
}

fn subject(key: &str, s: &SubjectFile, problems: &mut Vec<String>) -> pb::Subject {
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
        date_of_birth: date(&format!("{key}.date_of_birth"), &s.date_of_birth, problems),
        identifiable: s.identifiable.unwrap_or(true),
        relationship: s.relationship.clone(),
    }
}

impl RequestFile {
    /// Builds the API message, filling what the file leaves out from `defaults`. Reports every
    /// missing required key at once; the broker checks the rest.
    pub fn to_proto(&self, defaults: &Defaults) -> anyhow::Result<pb::InformationRequest> {
        let mut missing: Vec<&str> = Vec::new();
        let mut problems: Vec<String> = Vec::new();
        let (protocol_id, protocol_version) = match (
            &self.protocol_id,
            &self.protocol_version,
            &defaults.protocol,
        ) {
            (Some(id), Some(v), _) => (id.clone(), v.clone()),
            (None, None, Some((id, v))) => (id.clone(), v.clone()),
            (Some(id), None, Some((did, v))) if id == did => (id.clone(), v.clone()),
            (id, v, _) => (
                need(id, "protocol_id (--protocol)", &mut missing),
                need(v, "protocol_version (--protocol-version)", &mut missing),
            ),
        };
        let holding = need(
            &self.holding_agency_id,
            "holding_agency_id (--holder)",
            &mut missing,
        );
        let purpose = need(&self.purpose_id, "purpose_id (--purpose)", &mut missing);
        let justification = need(
            &self.necessity_justification,
            "necessity_justification (--justification)",
            &mut missing,
        );
        let outcome = need(
            &self.expected_outcome,
            "expected_outcome (--expected-outcome)",
            &mut missing,
        );
        let risk = need(&self.risk_summary, "risk_summary (--risk)", &mut missing);
        let p = self.practitioner.clone().unwrap_or_default();
        let practitioner = pb::Practitioner {
            subject: p
                .subject
                .clone()
                .unwrap_or_else(|| defaults.subject.clone()),
            name: p
                .name
                .clone()
                .or_else(|| defaults.name.clone())
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| {
                    missing.push("practitioner.name (--practitioner-name)");
                    String::new()
                }),
            job_title: need(
                &p.job_title,
                "practitioner.job_title (--job-title)",
                &mut missing,
            ),
            contact: need(&p.contact, "practitioner.contact (--contact)", &mut missing),
        };
        let child = match &self.child {
            Some(c) => subject("child", c, &mut problems),
            None => {
                missing.push("child (--child-name, --child-id)");
                pb::Subject::default()
            }
        };
        let level = self
            .level_of_need
            .map(ProtoEnum::to_proto)
            .unwrap_or_else(|| {
                missing.push("level_of_need (--level)");
                0
            });
        let urgency = self.urgency.map(ProtoEnum::to_proto).unwrap_or_else(|| {
            missing.push("urgency (--urgency)");
            0
        });
        let lawful_basis = match &self.lawful_basis {
            Some(l) => pb::LawfulBasisClaim {
                article6: l.article6.map(ProtoEnum::to_proto).unwrap_or_else(|| {
                    missing.push("lawful_basis.article6 (--basis)");
                    0
                }),
                special_condition: l
                    .special_condition
                    .unwrap_or(d::SpecialCondition::None)
                    .to_proto(),
                gateways: l.gateways.iter().map(|g| g.to_proto()).collect(),
            },
            None => {
                missing.push("lawful_basis.article6 (--basis)");
                pb::LawfulBasisClaim::default()
            }
        };
        let consent = match &self.consent {
            Some(c) => pb::Consent {
                status: c.status.map(ProtoEnum::to_proto).unwrap_or_else(|| {
                    missing.push("consent.status (--consent)");
                    0
                }),
                given_by: c.given_by.map(ProtoEnum::to_proto).unwrap_or(0),
                given_by_name: c.given_by_name.clone(),
                given_on: date("consent.given_on", &c.given_on, &mut problems),
                explicit: c.explicit,
                scope: c.scope.clone(),
                capacity_assessed: c.capacity_assessed,
                parental_consent_recorded: c.parental_consent_recorded,
                not_sought_reasons: c.not_sought_reasons.iter().map(|r| r.to_proto()).collect(),
                not_sought_detail: c.not_sought_detail.clone(),
                not_required_reason: c.not_required_reason.map(ProtoEnum::to_proto).unwrap_or(0),
                public_interest_justification: c.public_interest_justification.clone(),
            },
            None => {
                missing.push("consent.status (--consent)");
                pb::Consent::default()
            }
        };
        if self.categories.is_empty() {
            missing.push("categories (--category ID=REASON)");
        }
        let notification = match &self.subject_notification {
            Some(n) => pb::SubjectNotification {
                will_inform: n.will_inform.unwrap_or_else(|| {
                    missing
                        .push("subject_notification.will_inform (--inform or --no-inform REASON)");
                    false
                }),
                reason_not_informing: n.reason_not_informing.clone(),
            },
            None => {
                missing.push("subject_notification.will_inform (--inform or --no-inform REASON)");
                pb::SubjectNotification::default()
            }
        };
        let needed_by = match &self.needed_by {
            Some(t) => match t.instant("needed_by") {
                Ok(i) => Some(accord_proto::wire::timestamp(i)),
                Err(e) => {
                    problems.push(e.to_string());
                    None
                }
            },
            None => None,
        };
        let other_people = self
            .other_people
            .iter()
            .enumerate()
            .map(|(i, s)| subject(&format!("other_people[{i}]"), s, &mut problems))
            .collect();
        let records_from = date("records_from", &self.records_from, &mut problems);
        let records_to = date("records_to", &self.records_to, &mut problems);
        if !missing.is_empty() || !problems.is_empty() {
            let mut msg = String::from("the request is incomplete:");
            for m in &missing {
                msg.push_str(&format!("\n  missing {m}"));
            }
            for p in &problems {
                msg.push_str(&format!("\n  {p}"));
            }
            msg.push_str("\n  (crates/accord-cli/examples/request.toml is a complete example)");
            bail!(msg);
        }
        let onward = self.onward_disclosure.clone().unwrap_or_default();
        Ok(pb::InformationRequest {
            protocol_id,
            protocol_version,
            requesting_agency_id: self
                .requesting_agency_id
                .clone()
                .unwrap_or_else(|| defaults.agency.clone()),
            practitioner: Some(practitioner),
            holding_agency_id: holding,
            child: Some(child),
            other_people,
            purpose_id: purpose,
            necessity_justification: justification,
            expected_outcome: outcome,
            level_of_need: level,
            risk_summary: risk,
            lawful_basis: Some(lawful_basis),
            consent: Some(consent),
            categories: self
                .categories
                .iter()
                .map(|c| pb::CategoryRequest {
                    category_id: c.category_id.clone(),
                    reason: c.reason.clone(),
                })
                .collect(),
            records_from,
            records_to,
            anonymised_would_suffice: self.anonymised_would_suffice,
            urgency,
            needed_by,
            onward_disclosure: Some(pb::OnwardDisclosure {
                intended: onward.intended,
                recipients: onward.recipients,
                purpose: onward.purpose,
            }),
            subject_notification: Some(notification),
            idempotency_key: self
                .idempotency_key
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        })
    }
}

/// One item of a response file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemFile {
    pub category_id: String,
    pub kind: d::ItemKind,
    pub content: String,
    pub recorded_on: DateValue,
    #[serde(default)]
    pub historical: bool,
    #[serde(default)]
    pub source_system: String,
}

/// A response file: `[[items]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseFile {
    pub items: Vec<ItemFile>,
}

impl ResponseFile {
    pub fn to_proto(&self) -> anyhow::Result<Vec<pb::ResponseItem>> {
        if self.items.is_empty() {
            bail!("the response has no items: add at least one [[items]] entry");
        }
        let mut problems = Vec::new();
        let items = self
            .items
            .iter()
            .enumerate()
            .map(|(i, it)| pb::ResponseItem {
                category_id: it.category_id.clone(),
                kind: it.kind.to_proto(),
                content: it.content.clone(),
                recorded_on: date(
                    &format!("items[{i}].recorded_on"),
                    &Some(it.recorded_on.clone()),
                    &mut problems,
                ),
                historical: it.historical,
                source_system: it.source_system.clone(),
            })
            .collect();
        if !problems.is_empty() {
            bail!("the response has problems:\n  {}", problems.join("\n  "));
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Defaults {
        Defaults {
            agency: "sandwell-childrens-trust".into(),
            subject: "sw-1".into(),
            name: None,
            protocol: None,
        }
    }

    #[test]
    fn example_request_converts() {
        let f: RequestFile =
            toml::from_str(crate::examples::REQUEST).unwrap_or_else(|e| panic!("{e}"));
        let r = f.to_proto(&defaults()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.requesting_agency_id, "sandwell-childrens-trust");
        assert_eq!(r.holding_agency_id, "west-midlands-police");
        assert_eq!(
            r.practitioner.as_ref().map(|p| p.subject.as_str()),
            Some("sw-1")
        );
        assert_eq!(r.level_of_need, pb::LevelOfNeed::SignificantHarm as i32);
        assert_eq!(r.categories.len(), 3);
        assert_eq!(
            r.child.as_ref().map(|c| c.date_of_birth.as_str()),
            Some("2017-05-14")
        );
        assert_eq!(r.records_from, "2023-01-01");
        assert!(!r.idempotency_key.is_empty());
    }

    #[test]
    fn example_response_converts() {
        let f: ResponseFile =
            toml::from_str(crate::examples::RESPONSE).unwrap_or_else(|e| panic!("{e}"));
        let items = f.to_proto().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(items.len(), 3);
        assert_eq!(items[1].kind, pb::ItemKind::Opinion as i32);
    }

    #[test]
    fn toml_dates_and_json_are_accepted() {
        let f: ResponseFile = toml::from_str(
            "[[items]]\ncategory_id = \"x\"\nkind = \"fact\"\ncontent = \"c\"\nrecorded_on = 2025-01-02\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let items = f.to_proto().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(items[0].recorded_on, "2025-01-02");
        let f: ResponseFile = serde_json::from_str(
            r#"{"items":[{"category_id":"x","kind":"opinion","content":"c","recorded_on":"2025-01-02"}]}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.items.len(), 1);
    }

    #[test]
    fn missing_keys_are_listed_together() {
        let f = RequestFile::default();
        let e = f
            .to_proto(&defaults())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        for k in [
            "holding_agency_id",
            "purpose_id",
            "level_of_need",
            "consent.status",
            "categories",
        ] {
            assert!(e.contains(&format!("missing {k}")), "{k} not in {e}");
        }
    }

    #[test]
    fn unknown_keys_and_values_are_errors() {
        let e = toml::from_str::<RequestFile>("purpose = \"x\"")
            .err()
            .map(|e| e.to_string());
        assert!(e.unwrap_or_default().contains("unknown field `purpose`"));
        let e = toml::from_str::<RequestFile>("level_of_need = \"dire\"")
            .err()
            .map(|e| e.to_string());
        assert!(e.unwrap_or_default().contains("early_help"));
    }
}
