//! Who is asking whom, under which protocol: the request names the protocol it is made under,
//! both agencies are current signatories of it, and the protocol itself is in date.

/// The request names a different protocol, or a different version of it, from the one it is
/// judged against.
///
/// Source: `002` front page and `002 App.5`: a protocol is a versioned document its
/// signatories signed; a request made under another version was made under other terms
/// (purposes, categories, consent rules may have changed).
pub mod r17_protocol_mismatch {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R17-protocol-mismatch";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "002 front page, 002 App.5",
        summary: "The request names a protocol id or version other than the one in force.",
        severity: Severity::Blocking,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let (p, r) = (cx.protocol, cx.request);
        if r.protocol_id != p.id || r.protocol_version != p.version {
            cx.flag(
                &INFO,
                format!(
                    "This request was made under protocol \"{}\" version \"{}\", but the protocol \
                     in force is \"{}\" version \"{}\". Resubmit it under the current version, \
                     checking that the purpose and categories you ask for are still in it.",
                    r.protocol_id, r.protocol_version, p.id, p.version
                ),
            );
        }
    }
}

/// The requesting agency asks itself.
///
/// Source: `001 Legislative framework`: "All organisations should have arrangements in place,
/// which set out clearly the processes and the principles for sharing information internally"
/// — sharing within an agency follows its own arrangements; the protocol governs sharing
/// between agencies (`002 1.15`: "shared only with those who need to see it").
pub mod r18_requester_is_holder {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R18-requester-is-holder";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "001 Legislative framework, 002 1.15",
        summary: "The requesting and holding agency are the same.",
        severity: Severity::Blocking,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        if cx.request.requesting_agency == cx.request.holding_agency {
            cx.flag(
                &INFO,
                format!(
                    "The request is addressed to your own agency ({}). Information held within \
                     your agency is shared under its own internal arrangements, not through the \
                     partnership broker. Address the request to the agency that holds the \
                     information.",
                    cx.request.holding_agency
                ),
            );
        }
    }
}

/// An agency in the exchange is not an active signatory of the protocol.
///
/// Source: `002 App.5` (the signatories to the protocol) and DOMAIN.md: "Every agency in an
/// exchange must be a current signatory of the protocol under which the request is made."
/// A suspended signatory (`002 13`, after a breach) or one that has withdrawn may not take part.
pub mod r02_agency_not_active_signatory {
    use accord_domain::{AgencyId, Severity, SignatoryStatus};

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R02-agency-not-active-signatory";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "002 App.5, 002 13",
        summary: "The requesting or holding agency is not an active signatory of the protocol.",
        severity: Severity::Blocking,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let r = cx.request;
        one(cx, &r.requesting_agency, "requesting");
        if r.holding_agency != r.requesting_agency {
            one(cx, &r.holding_agency, "holding");
        }
    }

    fn one(cx: &mut Cx<'_>, agency: &AgencyId, role: &str) {
        let message = match cx.protocol.signatory(agency) {
            None => format!(
                "The {role} agency \"{agency}\" has not signed the protocol \"{}\", so it cannot \
                 take part in an exchange under it. Check the agency id; if it is right, the \
                 agency must sign the protocol first.",
                cx.protocol.id
            ),
            Some(s) if s.status != SignatoryStatus::Active => format!(
                "The {role} agency {} is {} as a signatory of the protocol, so it cannot take \
                 part in exchanges until the partnership reinstates it. Contact the \
                 partnership business unit.",
                s.name, s.status
            ),
            Some(_) => return,
        };
        cx.flag(&INFO, message);
    }
}

/// An active signatory is past the date by which it had to re-affirm its commitment.
///
/// Source: `002 14.4`: "The members of SCSP will be asked to re-affirm their commitment to this
/// code on a biennial basis." An overdue re-affirmation is for the IG lead to weigh, not a bar:
/// the agency is still bound by what it signed.
pub mod r02_reaffirmation_overdue {
    use accord_domain::{AgencyId, Severity, SignatoryStatus};

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R02-reaffirmation-overdue";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "002 14.4",
        summary: "An agency in the exchange is past its re-affirmation date.",
        severity: Severity::Warning,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let r = cx.request;
        one(cx, &r.requesting_agency, "requesting");
        if r.holding_agency != r.requesting_agency {
            one(cx, &r.holding_agency, "holding");
        }
    }

    fn one(cx: &mut Cx<'_>, agency: &AgencyId, role: &str) {
        let Some(s) = cx.protocol.signatory(agency) else {
            return;
        };
        if s.status != SignatoryStatus::Active || s.is_current(cx.today) {
            return;
        }
        cx.flag(
            &INFO,
            format!(
                "The {role} agency {} should have re-affirmed its commitment to the protocol by \
                 {} and has not. The request can go ahead, but the partnership business unit \
                 should be told so the agency re-affirms.",
                s.name,
                s.reaffirm_due()
            ),
        );
    }
}

/// The protocol is past its review date.
///
/// Source: `002` front page ("Next Review Due Date") and `002 App.1` (the partnership ensures
/// "this Protocol is regularly reviewed and kept up to date"). A protocol past review still
/// binds its signatories, so this warns rather than refuses.
pub mod r02_protocol_past_review {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R02-protocol-past-review";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "002 front page, 002 App.1",
        summary: "The protocol is past its review date.",
        severity: Severity::Warning,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        if cx.protocol.past_review(cx.now) {
            cx.flag(
                &INFO,
                format!(
                    "The protocol \"{}\" was due for review on {} and has not been reviewed. It \
                     still applies, but check that the purpose and legal basis you rely on are \
                     still right, and tell the partnership business unit.",
                    cx.protocol.title, cx.protocol.review_due
                ),
            );
        }
    }
}

/// A request relying on s115 Crime and Disorder Act 1998 whose recipient is not a relevant
/// authority.
///
/// Source: `002 1.18`: "any person may disclose information to a relevant authority under S. 115
/// Crime and Disorder Act 1998 … Relevant Authorities are the Police, Local authorities …,
/// Health Authorities (CCG) and the Probation Service." The information would go to the
/// requesting agency, so it is the requester that must be a relevant authority.
pub mod r04_s115_not_relevant_authority {
    use accord_domain::{Severity, StatutoryGateway};

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R04-s115-not-relevant-authority";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "002 1.18",
        summary: "s115 Crime and Disorder Act is claimed but the requester is not a relevant \
                  authority.",
        severity: Severity::Blocking,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let r = cx.request;
        if !r
            .lawful_basis
            .gateways
            .contains(&StatutoryGateway::Cda1998S115)
        {
            return;
        }
        // An unknown requester is already refused by R02; judging it here would repeat that.
        let Some(s) = cx.protocol.signatory(&r.requesting_agency) else {
            return;
        };
        if !s.relevant_authority {
            cx.flag(
                &INFO,
                format!(
                    "Section 115 of the Crime and Disorder Act 1998 only allows disclosure to a \
                     relevant authority (police, local authority, health or probation), and {} \
                     is not one. Remove s115 from the legal basis and rely on another gateway \
                     the purpose allows, or ask a relevant authority to make the request.",
                    s.name
                ),
            );
        }
    }
}
