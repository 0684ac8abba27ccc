//! What the rules share: the inputs, the facts derived from them once (the purpose, the consent
//! rule that applies, how each requested category stands), and the findings collected so far.

use accord_domain::{
    CategoryId, CategoryRequest, ConsentGiver, ConsentRequirement, ConsentStatus, DataCategory,
    ExchangeState, Finding, History, LevelOfNeed, PriorExchange, Protocol, Purpose, Request,
    Severity, Signatory, StatutoryGateway,
};
use time::{Date, Duration, OffsetDateTime};

use crate::catalogue::RuleInfo;

/// Gateways that put a duty on the holder to share (or on the requester to enquire, with a
/// duty to assist), so that consent is not the basis (`002 6.7`: "a requirement by law to
/// share information through a statutory duty or by a court order"): s47(9) Children Act 1989,
/// s14B and s16H Children Act 2004 (a partnership may require information, `002 1.3`), a court
/// order, and s36–38 CTSA 2015 for Channel (`003 d)`). Powers such as s115 Crime and Disorder
/// Act or s17 are deliberately not here: they permit sharing, they do not require it.
///
/// A duty binds only the bodies it names, in the circumstances it names: a gateway counts as a
/// duty only when the protocol lets this requester claim it at this level of need
/// ([`claim_allowed`]). s47 claimed at the child-in-need level, or by an agency the protocol
/// does not name, is no duty and overrides no one's refusal.
pub const DUTY_GATEWAYS: &[StatutoryGateway] = &[
    StatutoryGateway::Ca1989S47,
    StatutoryGateway::Ca2004S14b,
    StatutoryGateway::Ca2004S16h,
    StatutoryGateway::CourtOrder,
    StatutoryGateway::Ctsa2015S36,
];

/// How one requested category stands against the protocol and the purpose.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Class<'a> {
    /// Defined by the protocol and allowed for the purpose.
    Allowed(&'a DataCategory),
    /// Defined by the protocol but not allowed for the purpose.
    NotAllowed(&'a DataCategory),
    /// Not defined by the protocol.
    Unknown,
    /// Defined, but the purpose is unknown, so it cannot be judged (the request is refused by
    /// R01; reporting every category as well would bury that one finding).
    Unjudged,
    /// Sought a second time in the same request; the first occurrence counts.
    Repeated,
}

/// One requested category and how it stands.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sought<'a> {
    pub req: &'a CategoryRequest,
    pub class: Class<'a>,
    /// False once a rule has left the category out of the scope.
    kept: bool,
}

impl<'a> Sought<'a> {
    /// The protocol's definition, when the category is allowed for the purpose.
    pub fn allowed(&self) -> Option<&'a DataCategory> {
        match self.class {
            Class::Allowed(c) => Some(c),
            _ => None,
        }
    }
}

pub(crate) struct Cx<'a> {
    pub protocol: &'a Protocol,
    pub request: &'a Request,
    pub now: OffsetDateTime,
    pub today: Date,
    pub purpose: Option<&'a Purpose>,
    /// The requesting agency's entry in the protocol, when it has one.
    pub requester: Option<&'a Signatory>,
    /// The protocol's consent rule for this purpose and level of need (`Sought`, the
    /// documents' default, when the purpose is unknown).
    pub requirement: ConsentRequirement,
    /// Whether the information enables anyone to be identified (`001 When` Q3). When it does
    /// not, the consent questions do not apply.
    pub identifiable: bool,
    /// Consent was obtained and nothing makes it invalid (a child under the capacity age
    /// with neither a capacity assessment nor parental consent recorded, `004 App.1`).
    pub consent_valid: bool,
    /// A gateway the purpose allows that puts a duty to share (see [`DUTY_GATEWAYS`]) and that
    /// the protocol lets this requester claim at this level of need.
    pub duty_gateway: Option<StatutoryGateway>,
    /// The requested categories in request order.
    pub sought: Vec<Sought<'a>>,
    /// The most recent earlier exchange that repeats this request and went ahead and concerned
    /// at least one of the categories sought now; the most recent that went ahead and concerned
    /// none of them; and the most recent one still open (R13). Found in one pass over the
    /// history.
    pub repeat_of: Option<&'a PriorExchange>,
    pub related_to: Option<&'a PriorExchange>,
    pub open_duplicate: Option<&'a PriorExchange>,
    findings: Vec<Finding>,
}

impl<'a> Cx<'a> {
    pub fn new(
        protocol: &'a Protocol,
        request: &'a Request,
        history: &'a History,
        now: OffsetDateTime,
    ) -> Self {
        let today = now.date();
        let purpose = protocol.purpose(&request.purpose);
        let requirement = purpose.map_or(ConsentRequirement::Sought, |p| {
            p.consent_requirement(request.level_of_need)
        });
        let identifiable =
            request.child.identifiable || request.other_people.iter().any(|p| p.identifiable);

        let mut sought = Vec::with_capacity(request.categories.len());
        for (i, req) in request.categories.iter().enumerate() {
            let wanted = req.category.as_str();
            let repeated = request.categories[..i]
                .iter()
                .any(|earlier| same_id(earlier.category.as_str(), wanted));
            let class = if repeated {
                Class::Repeated
            } else {
                let defined = protocol
                    .categories
                    .iter()
                    .find(|c| same_id(c.id.as_str(), wanted));
                match (defined, purpose) {
                    (None, _) => Class::Unknown,
                    (Some(_), None) => Class::Unjudged,
                    (Some(c), Some(p))
                        if p.categories.iter().any(|a| same_id(a.as_str(), wanted)) =>
                    {
                        Class::Allowed(c)
                    }
                    (Some(c), Some(_)) => Class::NotAllowed(c),
                }
            };
            sought.push(Sought {
                req,
                class,
                kept: true,
            });
        }
        let Earlier {
            repeat_of,
            related_to,
            open_duplicate,
        } = earlier_exchanges(protocol, request, history, now);

        let requester = protocol.signatory(&request.requesting_agency);
        let duty_gateway = purpose.and_then(|p| {
            request.lawful_basis.gateways.iter().copied().find(|g| {
                DUTY_GATEWAYS.contains(g)
                    && p.gateways.contains(g)
                    && claim_allowed(protocol, requester, request.level_of_need, *g)
            })
        });

        let mut cx = Cx {
            protocol,
            request,
            now,
            today,
            purpose,
            requester,
            requirement,
            identifiable,
            consent_valid: false,
            duty_gateway,
            sought,
            repeat_of,
            related_to,
            open_duplicate,
            // Enough for almost every request, so findings rarely reallocate.
            findings: Vec::with_capacity(8),
        };
        cx.consent_valid =
            request.consent.status == ConsentStatus::Obtained && !cx.child_consent_lacks_capacity();
        cx
    }

    /// Consent was given by the child, who is under the protocol's capacity age, and neither
    /// a capacity assessment nor a parent's consent is recorded (`004 App.1`).
    pub fn child_consent_lacks_capacity(&self) -> bool {
        let c = &self.request.consent;
        c.status == ConsentStatus::Obtained
            && c.given_by == Some(ConsentGiver::Child)
            && !c.capacity_assessed
            && !c.parental_consent_recorded
            && self
                .child_age()
                .is_some_and(|age| age < u32::from(self.protocol.capacity_age))
    }

    pub fn child_age(&self) -> Option<u32> {
        self.request.child.age_on(self.today)
    }

    /// Categories in the proposed scope so far, with their definitions.
    pub fn in_scope(&self) -> impl Iterator<Item = (usize, &Sought<'a>, &'a DataCategory)> + '_ {
        self.sought
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kept)
            .filter_map(|(i, s)| s.allowed().map(|c| (i, s, c)))
    }

    /// True when a special category is in the proposed scope.
    pub fn special_in_scope(&self) -> bool {
        self.in_scope().any(|(_, _, c)| c.special)
    }

    /// Whether the decision to share would be one without consent: personal data, and no
    /// valid consent (`004 FAQ`: such decisions need a supervisor's or manager's approval).
    pub fn without_consent(&self) -> bool {
        self.identifiable && !self.consent_valid
    }

    /// Records a finding with the rule's usual severity.
    pub fn flag(&mut self, rule: &RuleInfo, message: String) {
        self.flag_as(rule, rule.severity, message, None);
    }

    /// Records a finding with a given severity and, optionally, the category it concerns.
    pub fn flag_as(
        &mut self,
        rule: &RuleInfo,
        severity: Severity,
        message: String,
        category: Option<CategoryId>,
    ) {
        self.findings.push(Finding {
            rule_id: rule.id.to_owned(),
            severity,
            source: rule.source.to_owned(),
            message,
            category,
        });
    }

    /// Leaves the `index`th requested category out of the scope, with the finding that says
    /// why (`category` is set to it, so the requester sees which one).
    pub fn trim(&mut self, index: usize, rule: &RuleInfo, message: String) {
        let id = self.sought.get_mut(index).map(|s| {
            s.kept = false;
            s.req.category.clone()
        });
        self.flag_as(rule, rule.severity, message, id);
    }

    /// The findings (most serious first, otherwise in rule order), the proposed scope and the
    /// trimmed categories (both in request order).
    pub fn finish(self) -> (Vec<Finding>, Vec<CategoryId>, Vec<CategoryId>) {
        let mut findings = self.findings;
        // Stable, so findings of equal severity stay in rule order and the output is
        // deterministic.
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        let mut proposed = Vec::with_capacity(self.sought.len());
        let mut trimmed = Vec::new();
        for s in &self.sought {
            match (s.class, s.kept) {
                (Class::Allowed(_), true) => proposed.push(s.req.category.clone()),
                // A repeat is not a category left out: its first occurrence decides.
                (Class::Repeated, _) => {}
                (_, false) => trimmed.push(s.req.category.clone()),
                // Unjudged (unknown purpose): the request is refused as a whole, not trimmed.
                _ => {}
            }
        }
        (findings, proposed, trimmed)
    }
}

/// Whether `requester` may claim `gateway` at `level` under the protocol's gateway table
/// (`[[gateway]]`, or the documents' default for it). A gateway with no rule may be claimed by
/// anyone; an agency that is not a signatory may claim none that has one.
pub(crate) fn claim_allowed(
    protocol: &Protocol,
    requester: Option<&Signatory>,
    level: LevelOfNeed,
    gateway: StatutoryGateway,
) -> bool {
    match protocol.gateway_rule(gateway) {
        None => true,
        Some(rule) => rule.allows_level(level) && requester.is_some_and(|s| rule.may_claim(s)),
    }
}

/// Id equality that settles most mismatches without calling `memcmp`: ids in a protocol are
/// often the same length ("local-category-07", "local-category-12") and differ at the end.
/// Category and history lookups are most of the check's work (see `docs/benchmarks.md`).
#[inline]
fn same_id(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().last() == b.as_bytes().last() && a == b
}

/// Exchanges in which information was sent, or (closed) may have been.
const SHARED: &[ExchangeState] = &[
    ExchangeState::Responded,
    ExchangeState::Delivered,
    ExchangeState::Acknowledged,
    ExchangeState::Closed,
];

/// Exchanges still in progress.
const OPEN: &[ExchangeState] = &[
    ExchangeState::Submitted,
    ExchangeState::AwaitingApproval,
    ExchangeState::MoreInfoRequested,
    ExchangeState::Escalated,
    ExchangeState::Approved,
    ExchangeState::PartlyApproved,
];

/// Earlier exchanges between the same agencies, for the same purpose and child, within the
/// protocol's repeat window (see [`earlier_exchanges`]).
#[derive(Default)]
struct Earlier<'a> {
    repeat_of: Option<&'a PriorExchange>,
    related_to: Option<&'a PriorExchange>,
    open_duplicate: Option<&'a PriorExchange>,
}

/// Whether an earlier exchange concerned any category this request seeks. An exchange whose
/// categories are not known (an empty list) is taken to concern them all.
pub(crate) fn shares_a_category(request: &Request, prior: &PriorExchange) -> bool {
    prior.categories.is_empty()
        || request.categories.iter().any(|r| {
            prior
                .categories
                .iter()
                .any(|c| same_id(c.as_str(), r.category.as_str()))
        })
}

/// The categories this request seeks that the earlier exchange also concerned, in request
/// order, without repeats (empty when the earlier exchange's categories are not known).
pub(crate) fn sought_again<'r>(request: &'r Request, prior: &PriorExchange) -> Vec<&'r str> {
    let mut out: Vec<&str> = Vec::new();
    for r in &request.categories {
        let wanted = r.category.as_str();
        if prior.categories.iter().any(|c| same_id(c.as_str(), wanted))
            && !out.iter().any(|o| same_id(o, wanted))
        {
            out.push(wanted);
        }
    }
    out
}

/// The most recent earlier exchange between the same agencies, for the same purpose and child,
/// within the protocol's repeat window, that went ahead and concerned a category sought now;
/// the most recent that went ahead and concerned none of them; and the most recent still open.
/// Ties on time are broken by exchange id, so the answer never depends on the order of the
/// history.
fn earlier_exchanges<'a>(
    protocol: &Protocol,
    request: &Request,
    history: &'a History,
    now: OffsetDateTime,
) -> Earlier<'a> {
    let window = protocol.repeat_window_days;
    if window == 0 || history.prior.is_empty() {
        return Earlier::default();
    }
    let since = now.saturating_sub(Duration::days(i64::from(window)));
    let later = |best: Option<&'a PriorExchange>, p: &'a PriorExchange| match best {
        Some(b) if (b.submitted_at, b.exchange_id) >= (p.submitted_at, p.exchange_id) => Some(b),
        _ => Some(p),
    };
    let mut found = Earlier::default();
    // Cheapest tests first: most of a history is about other purposes or agencies.
    for p in &history.prior {
        let is_shared = SHARED.contains(&p.state);
        if !(is_shared || OPEN.contains(&p.state))
            || !same_id(p.purpose.as_str(), request.purpose.as_str())
            || !same_id(p.holding_agency.as_str(), request.holding_agency.as_str())
            || !same_id(
                p.requesting_agency.as_str(),
                request.requesting_agency.as_str(),
            )
            || p.submitted_at < since
            || !request
                .child
                .identifiers
                .iter()
                .any(|id| p.child_identifiers.iter().any(|q| id.same_as(q)))
        {
            continue;
        }
        if !is_shared {
            found.open_duplicate = later(found.open_duplicate, p);
        } else if shares_a_category(request, p) {
            found.repeat_of = later(found.repeat_of, p);
        } else {
            found.related_to = later(found.related_to, p);
        }
    }
    found
}
