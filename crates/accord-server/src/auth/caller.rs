//! The authenticated caller handlers work with: agency, person and the roles that count, and
//! the helpers that ask [`crate::authz`] whether it may do something.

use std::net::SocketAddr;

use accord_domain::{Actor, AgencyId, AgencyKind, ProtocolId, Role};
use tonic::Status;
use uuid::Uuid;

use super::keys::designation_key;
use crate::authz::{self, Denied, Operation, Relation};

/// An authenticated caller: the agency (certificate) and the person (token).
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub request_id: Uuid,
    pub agency: AgencyId,
    /// The kind of the signatory agency.
    pub agency_kind: AgencyKind,
    /// Protocols in which the agency is currently an active signatory.
    pub protocols: Vec<ProtocolId>,
    /// The token's `sub`.
    pub subject: String,
    /// The token's `name`, if given.
    pub name: Option<String>,
    pub roles: Vec<Role>,
    pub peer: SocketAddr,
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor {
            agency: Some(self.agency.clone()),
            subject: self.subject.clone(),
            roles: self.roles.clone(),
        }
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The caller's agency's relation to an exchange between `requesting` and `holding`.
    pub fn relation(&self, requesting: &AgencyId, holding: &AgencyId) -> Relation {
        Relation::of(&self.agency, requesting, holding)
    }

    /// [`authz::authorize`] for a call that is not about one exchange.
    ///
    /// The caller's roles are those that count: an `admin` or `auditor` role from an agency
    /// the configuration does not designate for it was dropped at authentication, so such a
    /// caller is refused here, and the refusal says why.
    pub fn authorize(&self, op: Operation) -> Result<Role, Status> {
        authz::authorize(op, &self.roles, Relation::NotApplicable).map_err(|d| match d {
            Denied::PermissionDenied(m) => {
                Status::permission_denied(self.explain_designation(op, m))
            }
            other => Status::from(other),
        })
    }

    /// Adds to a refusal of an operation open to `admin` or `auditor` that those roles count
    /// only for the agencies the broker's configuration designates.
    fn explain_designation(&self, op: Operation, message: String) -> String {
        let authz::Access::Roles(allowed) = authz::rule(op).access(Relation::NotApplicable) else {
            return message;
        };
        let notes: Vec<String> = allowed
            .iter()
            .filter(|r| !self.roles.contains(r))
            .filter_map(|r| designation_key(*r).map(|key| (r, key)))
            .map(|(r, key)| {
                format!(
                    "the {role} role counts only for agencies designated for it by the broker's configuration ([auth] {key}); unless agency {agency} is designated, an {role} role in its tokens is ignored",
                    role = r.as_str(),
                    agency = self.agency,
                )
            })
            .collect();
        if notes.is_empty() || allowed.iter().any(|r| designation_key(*r).is_none()) {
            return message;
        }
        format!("{message}; {}", notes.join("; "))
    }

    /// [`authz::authorize`] for a call about exchange `id`: a non-party gets exactly the
    /// store's not-found status.
    pub fn authorize_exchange(
        &self,
        op: Operation,
        id: Uuid,
        requesting: &AgencyId,
        holding: &AgencyId,
    ) -> Result<Role, Status> {
        authz::authorize(op, &self.roles, self.relation(requesting, holding))
            .map_err(|d: Denied| d.into_status(Some(id)))
    }

    /// Whether the agency is an active signatory of `protocol`.
    pub fn active_in(&self, protocol: &ProtocolId) -> bool {
        self.protocols.contains(protocol)
    }
}

impl From<&Caller> for Actor {
    fn from(c: &Caller) -> Actor {
        c.actor()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::testing::*;

    #[test]
    fn partnership_roles_count_only_for_designated_agencies() {
        let f = fixture();
        let mut c = claims(&f);
        c.roles = vec!["admin".into(), "auditor".into(), "practitioner".into()];
        let req = request_with(&f, &mint(&f, &c));
        // Nobody designated (the default): admin and auditor are dropped.
        let caller = f.auth.authenticate(&req).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(caller.roles, vec![Role::Practitioner]);
        let e = caller
            .authorize(Operation::SuspendSignatory)
            .err()
            .unwrap_or_else(|| panic!("undesignated admin allowed"));
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        assert!(
            e.message().contains("[auth] admin_agencies")
                && e.message().contains("unless agency police is designated"),
            "{}",
            e.message()
        );
        let e = caller
            .authorize(Operation::QueryAudit)
            .err()
            .unwrap_or_else(|| panic!("undesignated auditor allowed"));
        assert!(
            e.message().contains("[auth] auditor_agencies"),
            "{}",
            e.message()
        );
        // Operations open to agency roles say nothing about designation.
        assert!(caller.authorize(Operation::ListProtocols).is_ok());
        // Police designated for admin only.
        let auth = with_keys(&f, &[Role::Admin]);
        let caller = auth.authenticate(&req).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(caller.roles, vec![Role::Admin, Role::Practitioner]);
        assert_eq!(
            caller.authorize(Operation::SuspendSignatory).ok(),
            Some(Role::Admin)
        );
        assert!(caller.authorize(Operation::QueryAudit).is_err());
        // And for both.
        let auth = with_keys(&f, &[Role::Admin, Role::Auditor]);
        let caller = auth.authenticate(&req).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            caller.authorize(Operation::QueryAudit).ok(),
            Some(Role::Auditor)
        );
    }
}
