//! Validation of `[auth]`: the token issuers of every agency, checked against what the loaded
//! protocols say of them, their keys, and the agencies designated for the partnership's admin
//! and auditor roles.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use accord_domain::AgencyId;

use super::env::join;
use super::raw::{RawAuth, RawIssuer, Slot};
use super::validate::Cx;
use super::{AuthSettings, IssuerSettings, ProtocolSettings};
use crate::auth::{load_verifying_keys, IssuerKeys, VerifyingKey};

/// The issuer of each agency as the protocols give it, with the file that gave it first.
type ProtocolIssuers = BTreeMap<AgencyId, (String, PathBuf)>;

pub(super) fn build_auth(
    t: &RawAuth,
    protocols: Option<&ProtocolSettings>,
    cx: &mut Cx,
) -> Option<AuthSettings> {
    let audience = cx.string(&t.audience, "auth", "audience", Some("accord"));
    let leeway = cx.int(&t.leeway_seconds, "auth", "leeway_seconds", 30, 0, 600);

    let (protocol_issuers, protocol_keys) = protocol_issuers(protocols, cx);

    let mut issuers = Vec::new();
    let mut configured: Vec<(AgencyId, String, Vec<VerifyingKey>)> = Vec::new();
    match &t.issuers {
        None => {}
        Some(Slot::Ok(items)) => {
            let mut seen = BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                let section = format!("auth.issuers[{i}]");
                let it = match item {
                    Slot::Ok(it) => it,
                    Slot::Wrong(found) => {
                        cx.err(
                            &section,
                            format!("expected a table ([[auth.issuers]]), found {found}"),
                        );
                        continue;
                    }
                };
                let Some((entry, keys)) = issuer(
                    it,
                    &section,
                    protocols.is_some(),
                    &protocol_issuers,
                    &mut seen,
                    cx,
                ) else {
                    continue;
                };
                configured.push((entry.agency_id.clone(), entry.issuer.clone(), keys));
                issuers.push(entry);
            }
        }
        Some(Slot::Wrong(found)) => cx.err(
            "auth.issuers",
            format!("expected [[auth.issuers]] tables, found {found}"),
        ),
    }

    let mut keys = IssuerKeys::default();
    for (agency, (issuer, _)) in &protocol_issuers {
        let mut k: Vec<VerifyingKey> = configured
            .iter()
            .filter(|(a, _, _)| a == agency)
            .flat_map(|(_, _, k)| k.iter().cloned())
            .collect();
        k.extend(
            protocol_keys
                .iter()
                .filter(|(a, _)| a == agency)
                .flat_map(|(_, k)| k.iter().cloned()),
        );
        if k.is_empty() {
            cx.warnings.push(format!(
                "agency {agency} has no token keys ([[auth.issuers]] or token_keys in its protocol): its users cannot call the broker"
            ));
            continue;
        }
        if let Err(e) = keys.add(agency.clone(), issuer, k) {
            cx.err("auth.issuers", e);
        }
    }

    let admin_agencies = designated_agencies(
        &t.admin_agencies,
        "admin_agencies",
        protocols,
        &protocol_issuers,
        cx,
    );
    let auditor_agencies = designated_agencies(
        &t.auditor_agencies,
        "auditor_agencies",
        protocols,
        &protocol_issuers,
        cx,
    );
    keys.designate(accord_domain::Role::Admin, admin_agencies.iter().cloned());
    keys.designate(
        accord_domain::Role::Auditor,
        auditor_agencies.iter().cloned(),
    );

    Some(AuthSettings {
        audience: audience?,
        leeway_seconds: leeway?,
        issuers,
        admin_agencies,
        auditor_agencies,
        keys: Arc::new(keys),
    })
}

/// The issuer of each signatory of the loaded protocols, and the keys the protocols'
/// `token_keys` name; a signatory given different issuers by two protocols is a problem.
fn protocol_issuers(
    protocols: Option<&ProtocolSettings>,
    cx: &mut Cx,
) -> (ProtocolIssuers, Vec<(AgencyId, Vec<VerifyingKey>)>) {
    let mut issuers: ProtocolIssuers = BTreeMap::new();
    let mut keys: Vec<(AgencyId, Vec<VerifyingKey>)> = Vec::new();
    let Some(ps) = protocols else {
        return (issuers, keys);
    };
    for (i, lp) in ps.loaded.iter().enumerate() {
        let key = format!("protocols.files[{i}]");
        for s in &lp.protocol.signatories {
            match issuers.get(&s.agency_id) {
                Some((issuer, other)) if *issuer != s.token_issuer => cx.err(
                    &key,
                    format!(
                        "signatory {} has token_issuer {:?} here but {:?} in {}",
                        s.agency_id,
                        s.token_issuer,
                        issuer,
                        other.display()
                    ),
                ),
                Some(_) => {}
                None => {
                    issuers.insert(
                        s.agency_id.clone(),
                        (s.token_issuer.clone(), lp.path.clone()),
                    );
                }
            }
            if let Some(token_keys) = &s.token_keys {
                // Relative to the protocol file, as the protocol format documents.
                let base = lp.path.parent().map(Path::to_owned).unwrap_or_default();
                let p = base.join(token_keys);
                match load_verifying_keys(&p) {
                    Ok(k) => keys.push((s.agency_id.clone(), k)),
                    Err(e) => cx.err(&key, format!("signatory {} token_keys: {e}", s.agency_id)),
                }
            }
        }
    }
    (issuers, keys)
}

/// One `[[auth.issuers]]` entry with its loaded keys; `None` when it is incomplete. `seen`
/// collects the agencies of the entries so far, to report one listed twice.
fn issuer(
    it: &RawIssuer,
    section: &str,
    protocols_loaded: bool,
    protocol_issuers: &ProtocolIssuers,
    seen: &mut BTreeSet<AgencyId>,
    cx: &mut Cx,
) -> Option<(IssuerSettings, Vec<VerifyingKey>)> {
    let agency = cx
        .string(&it.agency_id, section, "agency_id", None)
        .and_then(|s| match AgencyId::parse(&s) {
            Ok(a) => Some(a),
            Err(e) => {
                cx.err(
                    &format!("{section}.agency_id"),
                    format!("{s:?} is not a valid agency id: {e}"),
                );
                None
            }
        });
    let issuer = cx.string(&it.issuer, section, "issuer", None);
    let keys_path = cx.path(&it.keys, section, "keys");
    cx.unknown_keys(&it.unknown, section);
    let keys = keys_path
        .as_ref()
        .and_then(|p| match load_verifying_keys(p) {
            Ok(k) => Some(k),
            Err(e) => {
                cx.err(&format!("{section}.keys"), e);
                None
            }
        });
    if let Some(a) = &agency {
        if !seen.insert(a.clone()) {
            cx.err(
                &format!("{section}.agency_id"),
                format!("agency {a} is listed twice"),
            );
        }
        if protocols_loaded {
            match protocol_issuers.get(a) {
                None => cx.err(
                    &format!("{section}.agency_id"),
                    format!("agency {a} is not a signatory of any loaded protocol"),
                ),
                Some((expected, _)) => {
                    if issuer.as_ref().is_some_and(|i| i != expected) {
                        cx.err(
                            &format!("{section}.issuer"),
                            format!("must equal the token_issuer the protocol gives agency {a} ({expected:?})"),
                        );
                    }
                }
            }
        }
    }
    Some((
        IssuerSettings {
            agency_id: agency?,
            issuer: issuer?,
            keys: keys_path?,
        },
        keys?,
    ))
}

/// `[auth] admin_agencies` / `auditor_agencies`: agency ids, each a signatory of a loaded
/// protocol. Missing means empty (nobody holds the role).
fn designated_agencies(
    value: &Option<Slot<Vec<Slot<String>>>>,
    key: &str,
    protocols: Option<&ProtocolSettings>,
    signatories: &ProtocolIssuers,
    cx: &mut Cx,
) -> Vec<AgencyId> {
    let path = join("auth", key);
    let items = match value {
        None => return Vec::new(),
        Some(Slot::Ok(a)) => a,
        Some(Slot::Wrong(found)) => {
            cx.err(
                &path,
                format!("expected an array of agency ids, found {found}"),
            );
            return Vec::new();
        }
    };
    let mut out: Vec<AgencyId> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let s = match item {
            Slot::Ok(s) => s,
            Slot::Wrong(found) => {
                cx.err(&at, format!("expected an agency id, found {found}"));
                continue;
            }
        };
        let agency = match AgencyId::parse(s) {
            Ok(a) => a,
            Err(e) => {
                cx.err(&at, format!("{s:?} is not a valid agency id: {e}"));
                continue;
            }
        };
        if protocols.is_some() && !signatories.contains_key(&agency) {
            cx.err(
                &at,
                format!("agency {agency} is not a signatory of any loaded protocol"),
            );
            continue;
        }
        if out.contains(&agency) {
            cx.err(&at, format!("agency {agency} is listed twice"));
            continue;
        }
        out.push(agency);
    }
    out
}
