//! `RegistryService`: reading the protocols the broker enforces (everyone authenticated), and
//! the administrators' signatory changes (suspend, reinstate, re-affirm). A change is checked
//! against the registry, recorded in the audit log, and only then applied, so every change in
//! force is in the log (and is replayed from it on the next start).
//!
//! Separation of duties: an administrator never changes their own agency's standing (a
//! suspended agency cannot reinstate itself, nor an agency re-affirm itself); another
//! designated agency's administrator must.

use std::sync::Arc;

use accord_domain::{AgencyId, ProtocolId};
use accord_proto::v1 as pb;
use accord_proto::v1::registry_service_server::RegistryService;
use tonic::{Request, Response, Status};
use tracing::info;

use super::{actor_as, Fields};
use crate::api;
use crate::auth::Caller;
use crate::authz::Operation;
use crate::error::{RpcResult, StoreResultExt};
use crate::registry::{AdminChange, AdminChangeEvent};
use crate::AppState;

/// The `RegistryService` handlers.
#[derive(Debug, Clone)]
pub struct RegistryHandlers {
    state: AppState,
    /// Admin changes are checked, recorded and applied one at a time, so two concurrent
    /// changes cannot both pass the check and then disagree with the log.
    admin: Arc<tokio::sync::Mutex<()>>,
}

impl RegistryHandlers {
    pub fn new(state: AppState) -> Self {
        RegistryHandlers {
            state,
            admin: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Checks, records and applies one change; returns the signatory after it and the audit
    /// sequence recording it.
    async fn change(
        &self,
        caller: &Caller,
        role: accord_domain::Role,
        change: AdminChange,
    ) -> Result<(pb::Signatory, u64), Status> {
        not_own_agency(caller, &change)?;
        let store = self.state.store();
        let _one_at_a_time = self.admin.lock().await;
        let now = self.state.clock.now();
        self.state.registry.preview(&change, now.date())?;
        let entry = store
            .record_event(change.to_event(), actor_as(caller, role), now)
            .await
            .or_status()?;
        // Recorded: now it must take effect here. The registry sync may already have applied
        // this entry from the log; applying it is idempotent and never undoes a later entry.
        let signatory = self
            .state
            .registry
            .apply_recorded(entry.sequence, &change)?;
        let reason = self
            .state
            .registry
            .status_reason(change.protocol_id(), change.agency_id());
        info!(
            protocol = %change.protocol_id(),
            signatory = %change.agency_id(),
            audit_sequence = entry.sequence,
            change = %change.to_event().kind,
            "registry changed"
        );
        Ok((api::signatory_to_proto(&signatory, reason), entry.sequence))
    }
}

/// Protocol id, agency id and (when `reason` is given) the reason of an admin change.
fn target(
    fields: &mut Fields,
    protocol_id: &str,
    agency_id: &str,
    reason: Option<&str>,
) -> (Option<ProtocolId>, Option<AgencyId>) {
    let protocol = match ProtocolId::parse(protocol_id) {
        Ok(p) => Some(p),
        Err(_) if protocol_id.is_empty() => {
            fields.push("protocol_id", "is required");
            None
        }
        Err(e) => {
            fields.push("protocol_id", format!("is not a valid id: {e}"));
            None
        }
    };
    let agency = match AgencyId::parse(agency_id) {
        Ok(a) => Some(a),
        Err(_) if agency_id.is_empty() => {
            fields.push("agency_id", "is required");
            None
        }
        Err(e) => {
            fields.push("agency_id", format!("is not a valid id: {e}"));
            None
        }
    };
    if let Some(r) = reason {
        fields.text("reason", r, 1, 2000);
    }
    (protocol, agency)
}

/// Refuses a change to the caller's own agency: `PERMISSION_DENIED`.
fn not_own_agency(caller: &Caller, change: &AdminChange) -> Result<(), Status> {
    if change.agency_id() != &caller.agency {
        return Ok(());
    }
    let what = match change {
        AdminChange::Suspend { .. } => "suspend",
        AdminChange::Reinstate { .. } => "reinstate",
        AdminChange::Reaffirm { .. } => "re-affirm",
    };
    Err(Status::permission_denied(format!(
        "an administrator may not {what} their own agency ({}): separation of duties requires an administrator of another designated agency",
        caller.agency
    )))
}

fn required_protocol_id(value: &str) -> Result<(), Status> {
    let mut fields = Fields::default();
    if value.is_empty() {
        fields.push("protocol_id", "is required");
    }
    fields.finish()
}

#[tonic::async_trait]
impl RegistryService for RegistryHandlers {
    async fn list_protocols(
        &self,
        request: Request<pb::ListProtocolsRequest>,
    ) -> RpcResult<pb::ListProtocolsResponse> {
        let caller = self.state.authenticate(&request)?;
        caller.authorize(Operation::ListProtocols)?;
        let protocols = self
            .state
            .registry
            .protocols()
            .iter()
            .map(|p| api::protocol_summary_to_proto(p))
            .collect();
        Ok(Response::new(pb::ListProtocolsResponse { protocols }))
    }

    async fn get_protocol(
        &self,
        request: Request<pb::GetProtocolRequest>,
    ) -> RpcResult<pb::GetProtocolResponse> {
        let caller = self.state.authenticate(&request)?;
        caller.authorize(Operation::GetProtocol)?;
        let id = &request.get_ref().protocol_id;
        required_protocol_id(id)?;
        let p = self.state.registry.protocol(id)?;
        let registry = &self.state.registry;
        let protocol = api::protocol_to_proto(&p, |a| registry.status_reason(&p.id, a));
        Ok(Response::new(pb::GetProtocolResponse {
            protocol: Some(protocol),
        }))
    }

    async fn list_signatories(
        &self,
        request: Request<pb::ListSignatoriesRequest>,
    ) -> RpcResult<pb::ListSignatoriesResponse> {
        let caller = self.state.authenticate(&request)?;
        caller.authorize(Operation::ListSignatories)?;
        let id = &request.get_ref().protocol_id;
        required_protocol_id(id)?;
        let p = self.state.registry.protocol(id)?;
        let mut signatories: Vec<pb::Signatory> = p
            .signatories
            .iter()
            .map(|s| {
                api::signatory_to_proto(s, self.state.registry.status_reason(&p.id, &s.agency_id))
            })
            .collect();
        signatories.sort_by(|a, b| a.agency_id.cmp(&b.agency_id));
        Ok(Response::new(pb::ListSignatoriesResponse { signatories }))
    }

    async fn suspend_signatory(
        &self,
        request: Request<pb::SuspendSignatoryRequest>,
    ) -> RpcResult<pb::SuspendSignatoryResponse> {
        let caller = self.state.authenticate(&request)?;
        let role = caller.authorize(Operation::SuspendSignatory)?;
        let msg = request.into_inner();
        let mut fields = Fields::default();
        let (protocol, agency) = target(
            &mut fields,
            &msg.protocol_id,
            &msg.agency_id,
            Some(&msg.reason),
        );
        fields.finish()?;
        let (Some(protocol_id), Some(agency_id)) = (protocol, agency) else {
            return Err(Status::internal("internal error"));
        };
        let (signatory, audit_sequence) = self
            .change(
                &caller,
                role,
                AdminChange::Suspend {
                    protocol_id,
                    agency_id,
                    reason: msg.reason,
                },
            )
            .await?;
        Ok(Response::new(pb::SuspendSignatoryResponse {
            signatory: Some(signatory),
            audit_sequence,
        }))
    }

    async fn reinstate_signatory(
        &self,
        request: Request<pb::ReinstateSignatoryRequest>,
    ) -> RpcResult<pb::ReinstateSignatoryResponse> {
        let caller = self.state.authenticate(&request)?;
        let role = caller.authorize(Operation::ReinstateSignatory)?;
        let msg = request.into_inner();
        let mut fields = Fields::default();
        let (protocol, agency) = target(
            &mut fields,
            &msg.protocol_id,
            &msg.agency_id,
            Some(&msg.reason),
        );
        fields.finish()?;
        let (Some(protocol_id), Some(agency_id)) = (protocol, agency) else {
            return Err(Status::internal("internal error"));
        };
        let (signatory, audit_sequence) = self
            .change(
                &caller,
                role,
                AdminChange::Reinstate {
                    protocol_id,
                    agency_id,
                    reason: msg.reason,
                },
            )
            .await?;
        Ok(Response::new(pb::ReinstateSignatoryResponse {
            signatory: Some(signatory),
            audit_sequence,
        }))
    }

    async fn reaffirm_signatory(
        &self,
        request: Request<pb::ReaffirmSignatoryRequest>,
    ) -> RpcResult<pb::ReaffirmSignatoryResponse> {
        let caller = self.state.authenticate(&request)?;
        let role = caller.authorize(Operation::ReaffirmSignatory)?;
        let msg = request.into_inner();
        let mut fields = Fields::default();
        let (protocol, agency) = target(&mut fields, &msg.protocol_id, &msg.agency_id, None);
        let affirmed_on = if msg.affirmed_on.is_empty() {
            fields.push("affirmed_on", "is required (YYYY-MM-DD)");
            None
        } else {
            let d = api::parse_date(&msg.affirmed_on);
            if d.is_none() {
                fields.push("affirmed_on", "must be a date in the form YYYY-MM-DD");
            }
            d
        };
        fields.finish()?;
        let (Some(protocol_id), Some(agency_id), Some(affirmed_on)) =
            (protocol, agency, affirmed_on)
        else {
            return Err(Status::internal("internal error"));
        };
        let (signatory, audit_sequence) = self
            .change(
                &caller,
                role,
                AdminChange::Reaffirm {
                    protocol_id,
                    agency_id,
                    affirmed_on,
                },
            )
            .await?;
        Ok(Response::new(pb::ReaffirmSignatoryResponse {
            signatory: Some(signatory),
            audit_sequence,
        }))
    }
}
