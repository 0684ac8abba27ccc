//! The protocols the broker enforces, held in memory and shared by every call.
//!
//! Protocols are loaded once at start (see [`crate::config`]). Administrators change
//! signatories at run time (suspend, reinstate, re-affirm); those changes are applied here,
//! to the in-memory copy, and recorded in the audit log by the handler that made them
//! ([`AdminChange::to_event`]). On start the changes recorded in the audit log are replayed
//! over the files ([`Registry::replay`]), so a restart does not reinstate a suspended agency;
//! while running, the registry sync job ([`crate::jobs`]) applies the changes other replicas
//! recorded ([`Registry::apply_logged`]), remembering the last audit sequence it applied
//! ([`Registry::applied_through`]).
//!
//! Changes read back from the log are applied idempotently ([`Registry::apply_replayed`]): a
//! change already in effect (suspending a suspended signatory, reinstating an active one,
//! re-affirming on or before the recorded date) is a no-op, so the same entry may be applied
//! by the replica that recorded it, by its own sync, and again after a restart. Applying the
//! log's entries in sequence order from any point therefore ends in the same registry.
//!
//! Readers get an `Arc<Protocol>` snapshot: a call sees one consistent protocol even if an
//! administrator changes it meanwhile. The lock is only held to clone an `Arc` or to apply
//! one change, never across an `.await`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use accord_domain::{
    AgencyId, AuditEventKind, Protocol, ProtocolId, Signatory, SignatoryRefusal, SignatoryStatus,
};
use accord_store::AdminEvent;
use serde_json::json;
use time::Date;
use tonic::Status;

use crate::error::ApiError;
use tracing::warn;

/// A protocol and the file it came from.
#[derive(Debug, Clone)]
pub struct LoadedProtocol {
    pub path: PathBuf,
    pub protocol: Protocol,
}

/// A signatory of one protocol, as the certificate mapping finds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub protocol_id: ProtocolId,
    pub signatory: Signatory,
}

/// Why a registry lookup or change failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("protocol {0:?} not found")]
    UnknownProtocol(String),
    #[error("agency {agency:?} is not a signatory of protocol {protocol}")]
    UnknownSignatory {
        protocol: ProtocolId,
        agency: String,
    },
    #[error("protocol {0} is loaded twice")]
    DuplicateProtocol(ProtocolId),
    /// The change is not allowed from the signatory's current status.
    #[error(
        "signatory {agency} of protocol {protocol} is {status}: {action} needs it to be {needs}"
    )]
    WrongStatus {
        protocol: ProtocolId,
        agency: AgencyId,
        status: SignatoryStatus,
        action: &'static str,
        needs: SignatoryStatus,
    },
    #[error("re-affirmation date {date} is {problem}")]
    BadAffirmationDate { date: Date, problem: String },
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::UnknownProtocol(_) | RegistryError::UnknownSignatory { .. } => {
                ApiError::NotFound(e.to_string())
            }
            RegistryError::WrongStatus { .. } => ApiError::Precondition(e.to_string()),
            RegistryError::BadAffirmationDate { .. } => {
                ApiError::Invalid(vec![accord_domain::FieldViolation::new(
                    "affirmed_on",
                    e.to_string(),
                )])
            }
            RegistryError::DuplicateProtocol(_) => ApiError::Internal,
        }
    }
}

impl From<RegistryError> for Status {
    fn from(e: RegistryError) -> Self {
        ApiError::from(e).into()
    }
}

pub use accord_domain::AdminChange;

/// Audit event kinds of the admin changes.
pub const EVENT_SUSPENDED: &str = AuditEventKind::SignatorySuspended.as_str();
pub const EVENT_REINSTATED: &str = AuditEventKind::SignatoryReinstated.as_str();
pub const EVENT_REAFFIRMED: &str = AuditEventKind::SignatoryReaffirmed.as_str();

/// An admin change as the audit log records it, and read back from it.
pub trait AdminChangeEvent: Sized {
    /// The audit event recording this change (`Store::record_event`). The detail repeats the
    /// protocol and agency so the change can be read back from the audit entry alone.
    fn to_event(&self) -> AdminEvent;
    /// Reads back a change from an audit entry's event kind and detail (as written by
    /// [`Self::to_event`]); `None` for other event kinds.
    fn from_audit(kind: &str, detail: &serde_json::Value) -> Option<Result<Self, String>>;
}

impl AdminChangeEvent for AdminChange {
    /// The audit event recording this change (`Store::record_event`). The detail repeats the
    /// protocol and agency so the change can be read back from the audit entry alone.
    fn to_event(&self) -> AdminEvent {
        let protocol_id = self.protocol_id().to_string();
        let agency_id = self.agency_id().to_string();
        let (kind, detail) = match self {
            Self::Suspend { reason, .. } => (
                AuditEventKind::SignatorySuspended,
                json!({ "protocol_id": protocol_id, "agency_id": agency_id, "reason": reason }),
            ),
            Self::Reinstate { reason, .. } => (
                AuditEventKind::SignatoryReinstated,
                json!({ "protocol_id": protocol_id, "agency_id": agency_id, "reason": reason }),
            ),
            Self::Reaffirm { affirmed_on, .. } => (
                AuditEventKind::SignatoryReaffirmed,
                json!({
                    "protocol_id": protocol_id,
                    "agency_id": agency_id,
                    "affirmed_on": crate::api::format_date(*affirmed_on),
                }),
            ),
        };
        AdminEvent {
            kind,
            protocol_id,
            agency_id: Some(self.agency_id().clone()),
            detail,
        }
    }

    fn from_audit(kind: &str, detail: &serde_json::Value) -> Option<Result<AdminChange, String>> {
        if ![EVENT_SUSPENDED, EVENT_REINSTATED, EVENT_REAFFIRMED].contains(&kind) {
            return None;
        }
        // The store may nest the event's own detail under "detail" next to the protocol and
        // agency ids; read either form.
        let text = |key: &str| {
            detail
                .get(key)
                .or_else(|| detail.get("detail").and_then(|d| d.get(key)))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .ok_or(format!("detail.{key} missing"))
        };
        let parsed = (|| {
            let protocol_id = ProtocolId::parse(&text("protocol_id")?)
                .map_err(|e| format!("detail.protocol_id: {e}"))?;
            let agency_id = AgencyId::parse(&text("agency_id")?)
                .map_err(|e| format!("detail.agency_id: {e}"))?;
            Ok(match kind {
                EVENT_SUSPENDED => AdminChange::Suspend {
                    protocol_id,
                    agency_id,
                    reason: text("reason")?,
                },
                EVENT_REINSTATED => AdminChange::Reinstate {
                    protocol_id,
                    agency_id,
                    reason: text("reason")?,
                },
                _ => AdminChange::Reaffirm {
                    protocol_id,
                    agency_id,
                    affirmed_on: crate::api::parse_date(&text("affirmed_on")?)
                        .ok_or("detail.affirmed_on is not a date")?,
                },
            })
        })();
        Some(parsed)
    }
}

#[derive(Debug)]
struct Entry {
    protocol: Arc<Protocol>,
    source: PathBuf,
    /// Why each suspended or withdrawn signatory has its status (shown as `status_reason`).
    reasons: BTreeMap<AgencyId, String>,
}

#[derive(Debug, Default)]
struct State {
    protocols: BTreeMap<ProtocolId, Entry>,
    /// Every audit entry up to this sequence has been applied (0: none yet).
    applied_through: u64,
}

/// The loaded protocols. Cheap to clone; every clone sees the same protocols.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    inner: Arc<RwLock<State>>,
}

impl Registry {
    pub fn new(protocols: Vec<LoadedProtocol>) -> Result<Registry, RegistryError> {
        let mut state = State::default();
        for LoadedProtocol { path, protocol } in protocols {
            let id = protocol.id.clone();
            if state.protocols.contains_key(&id) {
                return Err(RegistryError::DuplicateProtocol(id));
            }
            state.protocols.insert(
                id,
                Entry {
                    protocol: Arc::new(protocol),
                    source: path,
                    reasons: BTreeMap::new(),
                },
            );
        }
        Ok(Registry {
            inner: Arc::new(RwLock::new(state)),
        })
    }

    // A panic while holding the lock cannot leave a half-applied change (changes are
    // computed first, then swapped in), so a poisoned lock is still safe to use.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Every protocol, by id.
    pub fn protocols(&self) -> Vec<Arc<Protocol>> {
        self.read()
            .protocols
            .values()
            .map(|e| e.protocol.clone())
            .collect()
    }

    /// One protocol by its id as a client wrote it.
    pub fn protocol(&self, id: &str) -> Result<Arc<Protocol>, RegistryError> {
        let id_parsed =
            ProtocolId::parse(id).map_err(|_| RegistryError::UnknownProtocol(id.to_owned()))?;
        self.read()
            .protocols
            .get(&id_parsed)
            .map(|e| e.protocol.clone())
            .ok_or_else(|| RegistryError::UnknownProtocol(id.to_owned()))
    }

    /// The file a protocol was loaded from.
    pub fn source(&self, id: &ProtocolId) -> Option<PathBuf> {
        self.read().protocols.get(id).map(|e| e.source.clone())
    }

    /// One signatory of one protocol.
    pub fn signatory(&self, protocol: &str, agency: &str) -> Result<Signatory, RegistryError> {
        let p = self.protocol(protocol)?;
        AgencyId::parse(agency)
            .ok()
            .and_then(|a| p.signatory(&a).cloned())
            .ok_or_else(|| RegistryError::UnknownSignatory {
                protocol: p.id.clone(),
                agency: agency.to_owned(),
            })
    }

    /// The reason recorded for a signatory's suspension (empty when active).
    pub fn status_reason(&self, protocol: &ProtocolId, agency: &AgencyId) -> String {
        self.read()
            .protocols
            .get(protocol)
            .and_then(|e| e.reasons.get(agency).cloned())
            .unwrap_or_default()
    }

    /// Every signatory, in any protocol, whose certificate identity is one of `san_uris` or
    /// whose pinned fingerprints include `fingerprint_hex`.
    pub fn memberships(&self, san_uris: &[String], fingerprint_hex: &str) -> Vec<Membership> {
        self.read()
            .protocols
            .values()
            .filter_map(|e| {
                e.protocol
                    .signatory_by_certificate(san_uris, fingerprint_hex)
                    .map(|s| Membership {
                        protocol_id: e.protocol.id.clone(),
                        signatory: s.clone(),
                    })
            })
            .collect()
    }

    /// The signatory as `change` would leave it, without applying it (the same checks as
    /// [`Self::apply`]). Lets a handler record the change in the audit log before applying it.
    pub fn preview(&self, change: &AdminChange, today: Date) -> Result<Signatory, RegistryError> {
        let state = self.read();
        let entry = state
            .protocols
            .get(change.protocol_id())
            .ok_or_else(|| RegistryError::UnknownProtocol(change.protocol_id().to_string()))?;
        compute_change(entry, change, today).map(|(s, _)| s)
    }

    /// Applies an administrative change and returns the signatory after it. `today` bounds
    /// re-affirmation dates.
    pub fn apply(&self, change: &AdminChange, today: Date) -> Result<Signatory, RegistryError> {
        let mut state = self.write();
        let entry = state
            .protocols
            .get_mut(change.protocol_id())
            .ok_or_else(|| RegistryError::UnknownProtocol(change.protocol_id().to_string()))?;
        let (updated, reason_update) = compute_change(entry, change, today)?;
        store_change(entry, change.agency_id(), &updated, reason_update);
        Ok(updated)
    }

    /// Re-applies changes recorded in the audit log, given as (event kind, detail) in log
    /// order, idempotently ([`Self::apply_replayed`]). Events that no longer apply (the
    /// protocol file changed since) are skipped with a warning. Returns how many changed the
    /// registry.
    pub fn replay<'a>(
        &self,
        events: impl IntoIterator<Item = (&'a str, &'a serde_json::Value)>,
    ) -> usize {
        let mut applied = 0;
        for (kind, detail) in events {
            match AdminChange::from_audit(kind, detail) {
                None => {}
                Some(Err(problem)) => {
                    warn!(kind = %kind, problem = %problem, "unreadable admin event skipped");
                }
                Some(Ok(change)) => match self.apply_replayed(&change) {
                    Ok(Some(_)) => applied += 1,
                    Ok(None) => {}
                    Err(e) => {
                        warn!(kind = %kind, error = %e, "admin event no longer applies; skipped");
                    }
                },
            }
        }
        applied
    }

    /// Applies a change read back from the audit log. Idempotent: a change already in effect
    /// is a no-op (`Ok(None)`); otherwise returns the signatory after it. The log is
    /// authoritative, so a re-affirmation is not checked against today's date (the replica
    /// that recorded it did); one on or before the recorded date changes nothing.
    pub fn apply_replayed(&self, change: &AdminChange) -> Result<Option<Signatory>, RegistryError> {
        apply_replayed_in(&mut self.write(), change)
    }

    /// Applies the change recorded at audit `sequence`, for the registry sync: entries at or
    /// before [`Self::applied_through`] are skipped (`Ok(None)`), others are applied with
    /// [`Self::apply_replayed`], and the sequence becomes the new `applied_through` whether
    /// or not the change applied (an entry that no longer applies is not retried).
    pub fn apply_logged(
        &self,
        sequence: u64,
        change: &AdminChange,
    ) -> Result<Option<Signatory>, RegistryError> {
        let mut state = self.write();
        if sequence <= state.applied_through {
            return Ok(None);
        }
        state.applied_through = sequence;
        apply_replayed_in(&mut state, change)
    }

    /// Applies a change the caller has just recorded at audit `sequence` (after a successful
    /// [`Self::preview`]) and returns the signatory after it. If the registry sync has already
    /// applied that entry (and perhaps later ones), the registry is left as it is: applying an
    /// older change over newer ones would undo them.
    pub fn apply_recorded(
        &self,
        sequence: u64,
        change: &AdminChange,
    ) -> Result<Signatory, RegistryError> {
        let mut state = self.write();
        if sequence > state.applied_through {
            apply_replayed_in(&mut state, change)?;
        }
        let entry = state
            .protocols
            .get(change.protocol_id())
            .ok_or_else(|| RegistryError::UnknownProtocol(change.protocol_id().to_string()))?;
        entry
            .protocol
            .signatory(change.agency_id())
            .cloned()
            .ok_or_else(|| RegistryError::UnknownSignatory {
                protocol: change.protocol_id().clone(),
                agency: change.agency_id().to_string(),
            })
    }

    /// The last audit sequence through which every entry has been applied (0: none).
    pub fn applied_through(&self) -> u64 {
        self.read().applied_through
    }

    /// Records that every audit entry up to `sequence` has been applied (never moves back).
    pub fn advance_to(&self, sequence: u64) {
        let mut state = self.write();
        state.applied_through = state.applied_through.max(sequence);
    }
}

/// [`Registry::apply_replayed`] under the caller's write lock.
fn apply_replayed_in(
    state: &mut State,
    change: &AdminChange,
) -> Result<Option<Signatory>, RegistryError> {
    let entry = state
        .protocols
        .get_mut(change.protocol_id())
        .ok_or_else(|| RegistryError::UnknownProtocol(change.protocol_id().to_string()))?;
    let Some((updated, reason_update)) = compute_replayed(entry, change)? else {
        return Ok(None);
    };
    store_change(entry, change.agency_id(), &updated, reason_update);
    Ok(Some(updated))
}

/// Swaps a computed change into the entry.
fn store_change(
    entry: &mut Entry,
    agency: &AgencyId,
    updated: &Signatory,
    reason_update: Option<Option<String>>,
) {
    let protocol = Arc::make_mut(&mut entry.protocol);
    if let Some(slot) = protocol.signatory_mut(agency) {
        *slot = updated.clone();
    }
    match reason_update {
        Some(Some(r)) => {
            entry.reasons.insert(agency.clone(), r);
        }
        Some(None) => {
            entry.reasons.remove(agency);
        }
        None => {}
    }
}

/// What a change read back from the log does: `None` when it is already in effect, else as
/// [`compute_change`]. Still an error when the change cannot apply at all (an unknown
/// signatory, suspending or reinstating a withdrawn one).
fn compute_replayed(
    entry: &Entry,
    change: &AdminChange,
) -> Result<Option<Computed>, RegistryError> {
    let agency = change.agency_id();
    let current =
        entry
            .protocol
            .signatory(agency)
            .ok_or_else(|| RegistryError::UnknownSignatory {
                protocol: change.protocol_id().clone(),
                agency: agency.to_string(),
            })?;
    if current.has_applied(change) {
        return Ok(None);
    }
    // The log is authoritative: no "today" bound on a recorded re-affirmation.
    compute_change(entry, change, Date::MAX).map(Some)
}

/// What `change` does to its signatory: the signatory after it, and the new status reason
/// (`Some(None)` clears it).
type Computed = (Signatory, Option<Option<String>>);

fn compute_change(
    entry: &Entry,
    change: &AdminChange,
    today: Date,
) -> Result<Computed, RegistryError> {
    let agency = change.agency_id();
    let current =
        entry
            .protocol
            .signatory(agency)
            .ok_or_else(|| RegistryError::UnknownSignatory {
                protocol: change.protocol_id().clone(),
                agency: agency.to_string(),
            })?;
    let changed = current.apply(change, today).map_err(|e| match e {
        SignatoryRefusal::WrongStatus {
            status,
            action,
            needs,
        } => RegistryError::WrongStatus {
            protocol: change.protocol_id().clone(),
            agency: agency.clone(),
            status,
            action,
            needs,
        },
        SignatoryRefusal::BadAffirmationDate { date, problem } => {
            RegistryError::BadAffirmationDate { date, problem }
        }
    })?;
    Ok((changed.signatory, changed.reason))
}

#[cfg(test)]
pub(crate) mod tests;
