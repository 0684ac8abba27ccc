//! When (`001 Timely`: "Information should be shared in a timely fashion"): the deadline the
//! holder must answer by, and what immediate risk demands.

use accord_domain::{LevelOfNeed, Urgency};
use time::{Duration, OffsetDateTime};

use crate::context::Cx;

/// Deadlines when the purpose is unknown (the request is refused, but an assessment always
/// carries a deadline so the refusal itself is answered in time): the documents' usual
/// working-day, next-day and immediate expectations.
pub(crate) const DEFAULT_ROUTINE: Duration = Duration::days(10);
pub(crate) const DEFAULT_URGENT: Duration = Duration::hours(24);
pub(crate) const DEFAULT_IMMEDIATE: Duration = Duration::minutes(30);

/// The urgency the deadline follows: immediate risk is always answered as immediate,
/// whatever urgency the requester chose (`001 Being alert`: "the police should be notified
/// immediately").
pub(crate) fn effective_urgency(cx: &Cx<'_>) -> Urgency {
    if cx.request.level_of_need == LevelOfNeed::ImmediateRisk {
        Urgency::Immediate
    } else {
        cx.request.urgency
    }
}

/// How long the holder has to answer.
pub(crate) fn deadline(cx: &Cx<'_>) -> Duration {
    let urgency = effective_urgency(cx);
    match cx.purpose {
        Some(p) => p.deadline(urgency),
        None => match urgency {
            Urgency::Routine => DEFAULT_ROUTINE,
            Urgency::Urgent => DEFAULT_URGENT,
            Urgency::Immediate => DEFAULT_IMMEDIATE,
        },
    }
}

/// Now plus the deadline, but never later than the time the requester needs it by, when that
/// is still ahead (a time already passed is reported by R19 and ignored here, or the deadline
/// would be in the past before anyone saw the request).
pub(crate) fn respond_by(cx: &Cx<'_>) -> OffsetDateTime {
    let by = cx.now.saturating_add(deadline(cx));
    match cx.request.needed_by {
        Some(needed) if needed > cx.now && needed < by => needed,
        _ => by,
    }
}

/// A duration as a practitioner would say it.
pub(crate) fn human(d: Duration) -> String {
    let minutes = d.whole_minutes();
    if minutes < 120 {
        format!("{minutes} minutes")
    } else if d.whole_hours() < 48 {
        format!("{} hours", d.whole_hours())
    } else {
        format!("{} days", d.whole_days())
    }
}

/// Immediate risk: tell the police now, and the holder answers in minutes.
///
/// Source: `001 Being alert`: "If it is thought that a crime has been committed and/or a child
/// is at immediate risk, the police should be notified immediately"; `004 FAQ`: "in high risk
/// cases … information must be shared without delay and consent is not required"; `001
/// Timely`. The broker is not the way to raise an emergency, so the advice says so.
pub mod r16_immediate_risk_tell_police {
    use accord_domain::{LevelOfNeed, Severity};

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R16-immediate-risk-tell-police";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "001 Being alert, 004 FAQ, 001 Timely",
        summary: "Immediate risk: the police must be told now; the deadline is in minutes.",
        severity: Severity::Advisory,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        if cx.request.level_of_need != LevelOfNeed::ImmediateRisk {
            return;
        }
        let within = super::human(super::deadline(cx));
        cx.flag(
            &INFO,
            format!(
                "You have said the child is at immediate risk. Do not wait for this request: if \
                 a child is in danger now or a crime may have been committed, call the police \
                 (999) and follow your safeguarding procedures straight away. The holder has \
                 {within} to answer."
            ),
        );
    }
}

/// Immediate risk, but a lower urgency was chosen: the request is treated as immediate.
///
/// Source: `001 Timely`: "Timeliness is key in emergency situations"; `001 Being alert`.
pub mod r16_urgency_below_risk {
    use accord_domain::{LevelOfNeed, Severity, Urgency};

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R16-urgency-below-risk";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "001 Timely, 001 Being alert",
        summary: "Immediate risk with a lower urgency: treated as immediate.",
        severity: Severity::Advisory,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let r = cx.request;
        if r.level_of_need != LevelOfNeed::ImmediateRisk || r.urgency == Urgency::Immediate {
            return;
        }
        let within = super::human(super::deadline(cx));
        cx.flag(
            &INFO,
            format!(
                "The urgency is \"{}\", but the level of need is immediate risk, so the request is \
                 treated as immediate: the holder has {within} to answer. If the risk is not \
                 immediate, change the level of need instead.",
                r.urgency
            ),
        );
    }
}

/// The time the information is needed by has already passed.
///
/// Source: `001 Timely`: "Information should be shared in a timely fashion to reduce the risk of
/// missed opportunities". Not a refusal: sending the request back would only delay it further.
/// The holder gets the purpose's usual deadline and is told the need is overdue.
pub mod r19_needed_by_passed {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R19-needed-by-passed";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "001 Timely",
        summary: "The time the information is needed by has already passed.",
        severity: Severity::Warning,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let Some(needed) = cx.request.needed_by else {
            return;
        };
        if needed > cx.now {
            return;
        }
        let within = super::human(super::deadline(cx));
        cx.flag(
            &INFO,
            format!(
                "The request says the information was needed by {}, which has passed. The \
                 holder has been given the usual {within} to answer; if it is more urgent, say \
                 so (raise the urgency or the level of need) or speak to the holder directly.",
                needed.date()
            ),
        );
    }
}
