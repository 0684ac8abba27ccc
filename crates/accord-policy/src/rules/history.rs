//! Earlier exchanges about the same child (`004 FAQ`: "If I'm asked, can I share the same
//! information again and again?"). The matching earlier exchanges are found once, when the
//! context is built (`Cx::repeat_of`, `Cx::related_to`, `Cx::open_duplicate`): one pass over the
//! history.

use time::OffsetDateTime;

/// Appends when an earlier exchange was, for a message: its date and how long ago. Written
/// straight into the message (no intermediate strings): this runs on the policy check's hot path.
fn push_when(out: &mut String, then: OffsetDateTime, now: OffsetDateTime) {
    push_date(out, then.date());
    match (now - then).whole_days() {
        i64::MIN..=0 => out.push_str(" (today)"),
        1 => out.push_str(" (yesterday)"),
        d => {
            out.push_str(" (");
            push_int(out, d);
            out.push_str(" days ago)");
        }
    }
}

/// Appends an exchange id in its hyphenated lowercase form without the formatting machinery.
fn push_exchange_id(out: &mut String, id: uuid::Uuid) {
    let mut buf = uuid::Uuid::encode_buffer();
    out.push_str(id.hyphenated().encode_lower(&mut buf));
}

/// `YYYY-MM-DD`, as `Date`'s `Display` writes it for years 0 to 9999.
fn push_date(out: &mut String, d: time::Date) {
    let (y, m, day) = (d.year(), u8::from(d.month()), d.day());
    if (0..=9999).contains(&y) {
        push_padded(out, y as u32, 4);
        out.push('-');
        push_padded(out, u32::from(m), 2);
        out.push('-');
        push_padded(out, u32::from(day), 2);
    } else {
        use std::fmt::Write;
        let _ = write!(out, "{d}");
    }
}

fn push_padded(out: &mut String, mut n: u32, width: usize) {
    let mut digits = [b'0'; 10];
    let mut i = digits.len();
    while n > 0 || digits.len() - i < width {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    for &b in &digits[i..] {
        out.push(char::from(b));
    }
}

fn push_int(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    push_padded(out, u32::try_from(n.unsigned_abs()).unwrap_or(u32::MAX), 1);
}

/// The same requester asked the same holder about the same child for the same purpose within the
/// protocol's repeat window, that exchange went ahead, and this request seeks at least one of the
/// categories it concerned (its approved scope, or what it requested when nothing was approved;
/// an exchange whose categories are not known counts as concerning them all). The finding names
/// the categories sought again and when the earlier exchange was.
///
/// Source: `004 FAQ`: "Just because information has been shared once does not mean it is
/// appropriate for the same information to be shared repeatedly … Have circumstances changed
/// significantly? … Should consent be sought from the client again? Is the information still
/// relevant and accurate?"
pub mod r13_repeat_request {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::{sought_again, Cx};
    use crate::rules::push_list;

    pub const ID: &str = "R13-repeat-request";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "004 FAQ",
        summary: "The same information about the same child was exchanged for the same purpose \
                  within the protocol's repeat window.",
        severity: Severity::Warning,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let Some(prior) = cx.repeat_of else {
            return;
        };
        let again = sought_again(cx.request, prior);
        let mut m = String::with_capacity(480);
        m.push_str("Your agency asked the same holder about this child for the same purpose on ");
        super::push_when(&mut m, prior.submitted_at, cx.now);
        m.push_str(" (exchange ");
        super::push_exchange_id(&mut m, prior.exchange_id);
        m.push_str(", now ");
        m.push_str(prior.state.as_str());
        m.push_str("). ");
        if again.is_empty() {
            m.push_str(
                "The categories it concerned are not recorded, so treat it as the same information.",
            );
        } else {
            m.push_str("This request seeks ");
            push_list(&mut m, again);
            m.push_str(" again.");
        }
        m.push_str(
            " Sharing once does not make sharing again right: say what has changed since, \
             whether consent should be sought again, and why the earlier information is not \
             enough. The holder should check that what it shares is still relevant and accurate.",
        );
        cx.flag(&INFO, m);
    }
}

/// As R13-repeat-request, but the earlier exchange concerned none of the categories sought now:
/// the same information is not being shared again, so this is recorded for the file (the holder
/// may want to read the two together), not a warning. Not reported when a repeat is.
///
/// Source: `004 FAQ` (repeat sharing): "Have circumstances changed significantly?" A related
/// earlier exchange is part of the picture the holder judges relevance against.
pub mod r13_related_request {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;
    use crate::rules::push_list;

    pub const ID: &str = "R13-related-request";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "004 FAQ",
        summary: "Other information about the same child was exchanged for the same purpose \
                  within the protocol's repeat window.",
        severity: Severity::Info,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        if cx.repeat_of.is_some() {
            return;
        }
        let Some(prior) = cx.related_to else {
            return;
        };
        let mut m = String::with_capacity(320);
        m.push_str("Your agency asked the same holder about this child for the same purpose on ");
        super::push_when(&mut m, prior.submitted_at, cx.now);
        m.push_str(" (exchange ");
        super::push_exchange_id(&mut m, prior.exchange_id);
        m.push_str(", now ");
        m.push_str(prior.state.as_str());
        m.push_str("), about ");
        push_list(&mut m, prior.categories.iter().map(|c| c.as_str()));
        m.push_str(
            ": none of the categories sought now. Recorded for the file; the holder may read \
             the two together.",
        );
        cx.flag(&INFO, m);
    }
}

/// An earlier request from the same requester to the same holder about the same child for the
/// same purpose is still in progress.
///
/// Source: `004 FAQ` (repeat requests): "you need to revisit … and determine the purpose of this
/// new information sharing request". Two open requests for the same thing split the holder's
/// decision; one should be withdrawn or the new one should say how it differs.
pub mod r13_duplicate_open_request {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R13-duplicate-open-request";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "004 FAQ",
        summary: "An earlier request for the same child and purpose is still in progress.",
        severity: Severity::Advisory,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let Some(prior) = cx.open_duplicate else {
            return;
        };
        cx.flag(
            &INFO,
            format!(
                "A request from your agency to the same holder about this child for the same \
                 purpose is still in progress (exchange {}, made on {}). Withdraw one of them, \
                 or say in this request how it differs.",
                prior.exchange_id,
                prior.submitted_at.date()
            ),
        );
    }
}
