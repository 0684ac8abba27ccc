//! An information sharing protocol as data (DOMAIN.md "The protocol as data").
//!
//! A [`Protocol`] is only ever built by the loader ([`crate::loader`]), which checks every
//! cross-reference, so code holding one can rely on: every purpose's categories exist, every
//! id is unique, every urgency has a deadline and every level of need has a consent rule.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime};

use crate::enums::{
    AgencyKind, LawfulBasis, LevelOfNeed, Role, SignatoryStatus, SpecialCondition,
    StatutoryGateway, Urgency,
};
use crate::ids::{AgencyId, CategoryId, ProtocolId, PurposeId};
use crate::record::RecordRetention;

/// A loaded, validated protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Protocol {
    pub id: ProtocolId,
    pub title: String,
    pub version: String,
    pub approved_on: Date,
    /// After this date the protocol is past its review (`002` front page): requests warn.
    pub review_due: Date,
    /// Age from which a child is presumed able to consent (`004 App.1`: 12).
    pub capacity_age: u8,
    /// Window in which an earlier exchange about the same child counts as a repeat (`004 FAQ`).
    pub repeat_window_days: u32,
    /// How long the decision record of each exchange (its reasons and decisions) is kept,
    /// from submission, after the shared content is purged (`002 App.2 Q5`, `002 5.2`).
    #[serde(default)]
    pub record_retention: RecordRetention,
    pub signatories: Vec<Signatory>,
    pub purposes: Vec<Purpose>,
    pub categories: Vec<DataCategory>,
    /// Who may claim which statutory gateway, and at which levels of need, as the file says
    /// (`[[gateway]]`). Gateways it leaves out follow [`GatewayRule::default_for`]; read them
    /// through [`Protocol::gateway_rule`].
    #[serde(default)]
    pub gateway_rules: Vec<GatewayRule>,
}

/// An agency that signed the protocol (`002 App.5`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signatory {
    pub agency_id: AgencyId,
    pub name: String,
    pub kind: AgencyKind,
    /// A "relevant authority" for s115 Crime and Disorder Act 1998 (`002 1.18`).
    pub relevant_authority: bool,
    pub signed_on: Date,
    /// Signatories re-affirm their commitment every so many months (`002 14.4`: two years).
    pub reaffirm_every_months: u32,
    /// Date of the last re-affirmation; the signing date when never re-affirmed.
    pub last_affirmed_on: Date,
    pub status: SignatoryStatus,
    /// SAN URI its systems' client certificates carry, e.g. `spiffe://scsp/agency/wmp`.
    pub certificate_identity: Option<String>,
    /// SHA-256 fingerprints (lowercase hex) of pinned client certificates.
    pub certificate_fingerprints: Vec<String>,
    /// `iss` of its users' tokens.
    pub token_issuer: String,
    /// PEM or JWKS file with the issuer's public keys, relative to the protocol file.
    pub token_keys: Option<String>,
}

impl Signatory {
    /// The date by which the signatory must re-affirm.
    pub fn reaffirm_due(&self) -> Date {
        add_months(self.last_affirmed_on, self.reaffirm_every_months)
    }

    /// Active, and not past its re-affirmation date (`002 14.4`).
    pub fn is_current(&self, today: Date) -> bool {
        self.status == SignatoryStatus::Active && today <= self.reaffirm_due()
    }
}

/// Adds calendar months, clamping the day to the end of the month.
pub fn add_months(date: Date, months: u32) -> Date {
    let total = date.year() as i64 * 12 + (date.month() as i64 - 1) + months as i64;
    let year = (total / 12) as i32;
    let month = time::Month::try_from((total % 12 + 1) as u8).unwrap_or(time::Month::December);
    let last = month.length(year);
    Date::from_calendar_date(year, month, date.day().min(last)).unwrap_or(Date::MAX)
}

/// What consent a purpose requires at a level of need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentRequirement {
    /// Explicit consent must have been obtained (`002 App.2` Early Help; `004 FAQ` case reviews).
    Explicit,
    /// Consent should be sought; sharing without it needs a documented reason (`002 6.3`, `004 FAQ`).
    Sought,
    /// Consent is not the basis: a statutory duty applies (`002 6.7`, `003 a)`).
    NotRequired,
}

/// A purpose for which the protocol allows sharing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Purpose {
    pub id: PurposeId,
    pub description: String,
    pub lawful_bases: Vec<LawfulBasis>,
    /// DPA 2018 conditions accepted for special category data under this purpose.
    pub special_conditions: Vec<SpecialCondition>,
    /// Statutory gateways this purpose may rely on.
    pub gateways: Vec<StatutoryGateway>,
    pub categories: Vec<CategoryId>,
    /// Consent rule for every level of need.
    pub consent: BTreeMap<LevelOfNeed, ConsentRequirement>,
    /// Days shared content is kept before it is purged (`002 App.1` retention).
    pub retention_days: u32,
    /// Response deadline for every urgency.
    pub deadlines: BTreeMap<Urgency, Duration>,
    /// Roles that must approve (`002 App.1` lead information officer).
    pub approving_roles: Vec<Role>,
    /// Further roles that must approve when sharing without consent (`004 FAQ`: decisions to
    /// share without consent are approved by a supervisor; a Caldicott Guardian in health).
    pub approving_roles_without_consent: Vec<Role>,
}

impl Purpose {
    pub fn consent_requirement(&self, level: LevelOfNeed) -> ConsentRequirement {
        self.consent
            .get(&level)
            .copied()
            .unwrap_or(ConsentRequirement::Sought)
    }

    pub fn deadline(&self, urgency: Urgency) -> Duration {
        // Loaded protocols always define every urgency; the fallback only matters for a
        // protocol built in code, and must never give immediate risk a deadline of days.
        self.deadlines
            .get(&urgency)
            .copied()
            .unwrap_or(match urgency {
                Urgency::Routine => Duration::days(10),
                Urgency::Urgent => Duration::hours(24),
                Urgency::Immediate => Duration::minutes(30),
            })
    }

    pub fn allows_category(&self, id: &CategoryId) -> bool {
        self.categories.iter().any(|c| c == id)
    }
}

/// Who may claim a statutory gateway, and at which levels of need (`[[gateway]]` in a protocol
/// file). A gateway is a legal power or duty of particular bodies in particular circumstances,
/// not a label any requester can attach: `002 App.2` Q1 asks whether the information was
/// "obtained under a specific statutory power or duty which limits what can be done with it and
/// who the information can be shared with"; `001` (Legislative framework) gives s16H and s14B to
/// the safeguarding partners "only … when the information requested is for the purpose of
/// enabling or assisting the safeguarding partners … to perform their functions". A claim
/// outside the rule is refused by the check and is no statutory duty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayRule {
    pub gateway: StatutoryGateway,
    /// The clause the rule follows; the check quotes it when it refuses a claim.
    pub source: String,
    /// Kinds of requesting agency that may claim the gateway.
    pub agency_kinds: Vec<AgencyKind>,
    /// Signatories that may claim it whatever their kind (e.g. the named safeguarding
    /// partners).
    pub agencies: Vec<AgencyId>,
    /// Whether every signatory marked a relevant authority (`002 1.18`) may claim it.
    pub relevant_authorities: bool,
    /// Levels of need at which it may be claimed.
    pub levels_of_need: Vec<LevelOfNeed>,
}

impl GatewayRule {
    /// Whether this signatory, as the requester, may claim the gateway.
    pub fn may_claim(&self, requester: &Signatory) -> bool {
        self.agency_kinds.contains(&requester.kind)
            || self.agencies.contains(&requester.agency_id)
            || (self.relevant_authorities && requester.relevant_authority)
    }

    /// Whether the gateway may be claimed at this level of need.
    pub fn allows_level(&self, level: LevelOfNeed) -> bool {
        self.levels_of_need.contains(&level)
    }

    /// The rule the documents give for a gateway a protocol file does not describe, if they
    /// give one:
    ///
    /// - s47 Children Act 1989: enquiries where there is "reasonable cause to suspect that a
    ///   child … is suffering, or is likely to suffer, significant harm", by the local
    ///   authority's children's social care and the bodies s47(9)–(11) bind to assist it
    ///   (police, health, education): at significant harm and immediate risk only (`002 App.2`
    ///   Q1 and Safeguarding);
    /// - s14B and s16H Children Act 2004: the safeguarding partners (local authority, health,
    ///   police: s16E) requiring information for their functions, such as case reviews
    ///   (`001` Legislative framework, `002 1.3`, `002 1.17`), at any level;
    /// - s115 Crime and Disorder Act 1998: relevant authorities only (`002 1.18`), at any level.
    ///
    /// Other gateways (s17, s11, a court order, s36 CTSA) have no default: any signatory may
    /// claim them at any level unless the protocol says otherwise.
    pub fn default_for(gateway: StatutoryGateway) -> Option<&'static GatewayRule> {
        DEFAULT_GATEWAY_RULES.iter().find(|r| r.gateway == gateway)
    }
}

static DEFAULT_GATEWAY_RULES: LazyLock<Vec<GatewayRule>> = LazyLock::new(|| {
    use AgencyKind::{Education, Health, LocalAuthority, Police};
    let partners = || vec![LocalAuthority, Health, Police];
    vec![
        GatewayRule {
            gateway: StatutoryGateway::Ca1989S47,
            source: "Children Act 1989 s47(1), (9)-(11); 002 App.2 Q1, 002 App.2 Safeguarding"
                .to_owned(),
            agency_kinds: vec![LocalAuthority, Police, Health, Education],
            agencies: Vec::new(),
            relevant_authorities: false,
            levels_of_need: vec![LevelOfNeed::SignificantHarm, LevelOfNeed::ImmediateRisk],
        },
        GatewayRule {
            gateway: StatutoryGateway::Ca2004S14b,
            source: "Children Act 2004 s14B; 001 Legislative framework, 002 1.3".to_owned(),
            agency_kinds: partners(),
            agencies: Vec::new(),
            relevant_authorities: false,
            levels_of_need: LevelOfNeed::ALL.to_vec(),
        },
        GatewayRule {
            gateway: StatutoryGateway::Ca2004S16h,
            source: "Children Act 2004 s16E, s16H; 001 Legislative framework, 002 1.17".to_owned(),
            agency_kinds: partners(),
            agencies: Vec::new(),
            relevant_authorities: false,
            levels_of_need: LevelOfNeed::ALL.to_vec(),
        },
        GatewayRule {
            gateway: StatutoryGateway::Cda1998S115,
            source: "Crime and Disorder Act 1998 s115; 002 1.18".to_owned(),
            agency_kinds: Vec::new(),
            agencies: Vec::new(),
            relevant_authorities: true,
            levels_of_need: LevelOfNeed::ALL.to_vec(),
        },
    ]
});

/// A data category (`003 e)`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataCategory {
    pub id: CategoryId,
    pub description: String,
    /// Special category data: health, ethnicity, sexual life, religion, criminal offence data.
    pub special: bool,
}

impl Protocol {
    pub fn signatory(&self, id: &AgencyId) -> Option<&Signatory> {
        self.signatories.iter().find(|s| &s.agency_id == id)
    }

    pub fn signatory_mut(&mut self, id: &AgencyId) -> Option<&mut Signatory> {
        self.signatories.iter_mut().find(|s| &s.agency_id == id)
    }

    pub fn purpose(&self, id: &PurposeId) -> Option<&Purpose> {
        self.purposes.iter().find(|p| &p.id == id)
    }

    /// Who may claim `gateway` at which levels of need: the file's `[[gateway]]` entry, else
    /// the documents' default ([`GatewayRule::default_for`]); `None` when neither says
    /// (anyone may claim it, at any level).
    pub fn gateway_rule(&self, gateway: StatutoryGateway) -> Option<&GatewayRule> {
        self.gateway_rules
            .iter()
            .find(|r| r.gateway == gateway)
            .or_else(|| GatewayRule::default_for(gateway))
    }

    pub fn category(&self, id: &CategoryId) -> Option<&DataCategory> {
        self.categories.iter().find(|c| &c.id == id)
    }

    /// True when the category exists and is special category data.
    pub fn is_special(&self, id: &CategoryId) -> bool {
        self.category(id).is_some_and(|c| c.special)
    }

    /// True once the review date has passed.
    pub fn past_review(&self, now: OffsetDateTime) -> bool {
        now.date() > self.review_due
    }

    /// Signatory whose client certificate carries this SAN URI or fingerprint.
    pub fn signatory_by_certificate(
        &self,
        san_uris: &[String],
        fingerprint_hex: &str,
    ) -> Option<&Signatory> {
        self.signatories.iter().find(|s| {
            s.certificate_identity
                .as_ref()
                .is_some_and(|id| san_uris.iter().any(|u| u == id))
                || s.certificate_fingerprints
                    .iter()
                    .any(|f| f.eq_ignore_ascii_case(fingerprint_hex))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn add_months_clamps_to_month_end() {
        assert_eq!(add_months(date!(2022 - 05 - 31), 24), date!(2024 - 05 - 31));
        assert_eq!(add_months(date!(2024 - 01 - 31), 1), date!(2024 - 02 - 29));
        assert_eq!(add_months(date!(2023 - 11 - 15), 2), date!(2024 - 01 - 15));
    }
}
