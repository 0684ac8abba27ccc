//! What administrators do to a signatory of a protocol (`002 14.4`, `002 App.5`): suspend it,
//! reinstate it, record its re-affirmation. [`Signatory::apply`] holds the rules; the server's
//! registry keeps the signatories in memory and the audit log records each change.

use time::Date;

use crate::enums::SignatoryStatus;
use crate::ids::{AgencyId, ProtocolId};
use crate::protocol::Signatory;

/// An administrative change to a signatory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminChange {
    Suspend {
        protocol_id: ProtocolId,
        agency_id: AgencyId,
        reason: String,
    },
    Reinstate {
        protocol_id: ProtocolId,
        agency_id: AgencyId,
        reason: String,
    },
    Reaffirm {
        protocol_id: ProtocolId,
        agency_id: AgencyId,
        affirmed_on: Date,
    },
}

impl AdminChange {
    pub fn protocol_id(&self) -> &ProtocolId {
        match self {
            Self::Suspend { protocol_id, .. }
            | Self::Reinstate { protocol_id, .. }
            | Self::Reaffirm { protocol_id, .. } => protocol_id,
        }
    }

    pub fn agency_id(&self) -> &AgencyId {
        match self {
            Self::Suspend { agency_id, .. }
            | Self::Reinstate { agency_id, .. }
            | Self::Reaffirm { agency_id, .. } => agency_id,
        }
    }
}

/// Why a change does not apply to a signatory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatoryRefusal {
    /// Not allowed from the signatory's current status.
    #[error("{action} needs the signatory to be {needs}, not {status}")]
    WrongStatus {
        status: SignatoryStatus,
        action: &'static str,
        needs: SignatoryStatus,
    },
    #[error("re-affirmation date {date} is {problem}")]
    BadAffirmationDate { date: Date, problem: String },
}

/// A signatory after a change, and what becomes of its status reason (shown to partners):
/// `Some(Some(r))` sets it, `Some(None)` clears it, `None` leaves it.
#[derive(Debug, Clone, PartialEq)]
pub struct SignatoryChanged {
    pub signatory: Signatory,
    pub reason: Option<Option<String>>,
}

impl Signatory {
    /// The signatory after `change`, made on `today` (a re-affirmation may not be dated after
    /// it, nor before the previous one).
    pub fn apply(
        &self,
        change: &AdminChange,
        today: Date,
    ) -> Result<SignatoryChanged, SignatoryRefusal> {
        let wrong = |action, needs| SignatoryRefusal::WrongStatus {
            status: self.status,
            action,
            needs,
        };
        let mut updated = self.clone();
        let mut reason = None;
        match change {
            AdminChange::Suspend { reason: r, .. } => {
                if self.status != SignatoryStatus::Active {
                    return Err(wrong("suspend", SignatoryStatus::Active));
                }
                updated.status = SignatoryStatus::Suspended;
                reason = Some(Some(r.clone()));
            }
            AdminChange::Reinstate { .. } => {
                if self.status != SignatoryStatus::Suspended {
                    return Err(wrong("reinstate", SignatoryStatus::Suspended));
                }
                updated.status = SignatoryStatus::Active;
                reason = Some(None);
            }
            AdminChange::Reaffirm { affirmed_on, .. } => {
                let date = *affirmed_on;
                if date > today {
                    return Err(SignatoryRefusal::BadAffirmationDate {
                        date,
                        problem: "in the future".into(),
                    });
                }
                if date < self.last_affirmed_on {
                    return Err(SignatoryRefusal::BadAffirmationDate {
                        date,
                        problem: format!(
                            "before the previous re-affirmation ({})",
                            self.last_affirmed_on
                        ),
                    });
                }
                updated.last_affirmed_on = date;
            }
        }
        Ok(SignatoryChanged {
            signatory: updated,
            reason,
        })
    }

    /// Whether `change` is already in effect: suspending a suspended signatory, reinstating
    /// an active one, re-affirming on or before the recorded date. A change read back from the
    /// log that is in effect is a no-op, so replaying the log is idempotent.
    pub fn has_applied(&self, change: &AdminChange) -> bool {
        match change {
            AdminChange::Suspend { .. } => self.status == SignatoryStatus::Suspended,
            AdminChange::Reinstate { .. } => self.status == SignatoryStatus::Active,
            AdminChange::Reaffirm { affirmed_on, .. } => *affirmed_on <= self.last_affirmed_on,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enums::AgencyKind;
    use time::macros::date;

    fn signatory(status: SignatoryStatus) -> Signatory {
        Signatory {
            agency_id: AgencyId::parse("school").unwrap_or_else(|e| panic!("{e}")),
            name: "School".into(),
            kind: AgencyKind::Education,
            relevant_authority: false,
            signed_on: date!(2024 - 01 - 01),
            reaffirm_every_months: 24,
            last_affirmed_on: date!(2024 - 01 - 01),
            status,
            certificate_identity: None,
            certificate_fingerprints: Vec::new(),
            token_issuer: "iss".into(),
            token_keys: None,
        }
    }

    fn ids() -> (ProtocolId, AgencyId) {
        (
            ProtocolId::parse("p").unwrap_or_else(|e| panic!("{e}")),
            AgencyId::parse("school").unwrap_or_else(|e| panic!("{e}")),
        )
    }

    #[test]
    fn suspend_then_reinstate() {
        let (protocol_id, agency_id) = ids();
        let today = date!(2025 - 01 - 01);
        let suspend = AdminChange::Suspend {
            protocol_id: protocol_id.clone(),
            agency_id: agency_id.clone(),
            reason: "breach".into(),
        };
        let s = signatory(SignatoryStatus::Active)
            .apply(&suspend, today)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.signatory.status, SignatoryStatus::Suspended);
        assert_eq!(s.reason, Some(Some("breach".into())));
        assert!(s.signatory.has_applied(&suspend));
        assert!(matches!(
            s.signatory.apply(&suspend, today),
            Err(SignatoryRefusal::WrongStatus { .. })
        ));
        let reinstate = AdminChange::Reinstate {
            protocol_id,
            agency_id,
            reason: "resolved".into(),
        };
        let r = s
            .signatory
            .apply(&reinstate, today)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.signatory.status, SignatoryStatus::Active);
        assert_eq!(r.reason, Some(None));
    }

    #[test]
    fn reaffirmation_is_dated_between_the_last_one_and_today() {
        let (protocol_id, agency_id) = ids();
        let at = |d| AdminChange::Reaffirm {
            protocol_id: protocol_id.clone(),
            agency_id: agency_id.clone(),
            affirmed_on: d,
        };
        let s = signatory(SignatoryStatus::Active);
        let today = date!(2025 - 01 - 01);
        assert!(s.apply(&at(date!(2025 - 01 - 02)), today).is_err());
        assert!(s.apply(&at(date!(2023 - 12 - 31)), today).is_err());
        let ok = s
            .apply(&at(date!(2024 - 06 - 01)), today)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok.signatory.last_affirmed_on, date!(2024 - 06 - 01));
        assert!(ok.signatory.has_applied(&at(date!(2024 - 05 - 01))));
    }
}
