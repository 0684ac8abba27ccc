//! The necessity and proportionality check: Accord's automatic judgement of a request before
//! any person sees it (DOMAIN.md "The necessity and proportionality check").
//!
//! This crate owns [`assess`], a pure function of the protocol, the request, earlier exchanges
//! and the time, and the catalogue of the rules it applies ([`rules()`]). It does no I/O, reads
//! no clock and uses no randomness or hash-ordered collections, so the same inputs always give
//! the same [`Assessment`], which the audit log can record and a reviewer can reproduce.
//!
//! What it decides:
//! - the **outcome**: `Refuse` iff at least one finding is [`Severity::Blocking`] (the requester
//!   amends and resubmits), otherwise `ProceedToApproval` with findings for the holder's IG lead;
//! - the **proposed scope**: the requested categories that the purpose allows, in request order,
//!   minus anything a rule excluded; empty when refused. Requested categories left out are in
//!   `trimmed`, each with a finding that says why;
//! - **respond by**: the purpose's deadline for the urgency (minutes for immediate risk), never
//!   later than the time the requester needs it by;
//! - the **approver roles**: the purpose's, plus those it names for sharing without consent.
//!
//! Every finding names its rule (a stable id such as `R06-explicit-consent-required`), the
//! clause of the source documents it comes from (`002 App.2`) and a message a practitioner can
//! act on. `docs/policy-rules.md` lists them all. Where the documents disagree (consent for case
//! reviews, Prevent), the protocol's per-purpose consent table decides, not this code.
//!
//! Structural problems (blank required fields, duplicate categories) are caught earlier by
//! [`accord_domain::Request::validate`]; the check still gives a sensible answer for any input.

#![forbid(unsafe_code)]

mod catalogue;
mod context;
pub mod rules;

use accord_domain::{Assessment, History, Outcome, Protocol, Request, Severity};
use time::OffsetDateTime;

pub use catalogue::{rule, rules, RuleInfo};
pub use context::DUTY_GATEWAYS;

use context::Cx;

/// Judges one request against the protocol it is made under.
///
/// `history` holds earlier exchanges that may concern the same child (the caller selects them;
/// the check filters by parties, purpose, child and the protocol's repeat window). `now` is the
/// time of submission: deadlines are computed from it and dates are compared in its offset.
pub fn assess(
    protocol: &Protocol,
    request: &Request,
    history: &History,
    now: OffsetDateTime,
) -> Assessment {
    let mut cx = Cx::new(protocol, request, history, now);
    rules::run_all(&mut cx);
    let respond_by = rules::timing::respond_by(&cx);
    let required_approver_roles = rules::consent::required_approver_roles(&cx);
    let (findings, proposed, trimmed) = cx.finish();

    let outcome = if findings.iter().any(|f| f.severity == Severity::Blocking) {
        Outcome::Refuse
    } else {
        Outcome::ProceedToApproval
    };
    // A refused request shares nothing; the scope is only a proposal for the IG lead.
    let proposed_scope = match outcome {
        Outcome::Refuse => Vec::new(),
        Outcome::ProceedToApproval => proposed,
    };
    Assessment {
        outcome,
        findings,
        proposed_scope,
        trimmed,
        respond_by,
        required_approver_roles,
        assessed_at: now,
    }
}

#[cfg(test)]
#[path = "../tests/fixture/mod.rs"]
mod fixture;

#[cfg(test)]
mod tests;
