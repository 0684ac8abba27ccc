//! `[[gateway]]` entries: who may claim which statutory gateway, at which levels of need.

use std::collections::BTreeSet;

use toml::Value;

use super::{join, names, Obj, Walker};
use crate::enums::{AgencyKind, LevelOfNeed, StatutoryGateway};
use crate::ids::AgencyId;
use crate::protocol::GatewayRule;

impl Walker {
    /// One `[[gateway]]`: who may claim a statutory gateway, and at which levels of need.
    /// `agencies` are the ids of every `[[signatory]]`, broken or not, so one mistake in a
    /// signatory is reported once.
    pub(super) fn gateway_rule(
        &mut self,
        mut o: Obj<'_>,
        agencies: &BTreeSet<AgencyId>,
    ) -> Option<GatewayRule> {
        let gateway = self.word(
            &mut o,
            "gateway",
            StatutoryGateway::parse,
            &names(StatutoryGateway::ALL, StatutoryGateway::as_str),
        );
        let source = self.string(&mut o, "source");
        let agency_kinds = self.words(
            &mut o,
            "agency_kinds",
            false,
            AgencyKind::parse,
            &names(AgencyKind::ALL, AgencyKind::as_str),
        );
        let mut claimants = Vec::new();
        for (path, v) in self.array(&mut o, "agencies", false).unwrap_or_default() {
            let Some(s) = v.as_str() else {
                self.err(
                    path,
                    format!("expected an agency id, found {}", v.type_str()),
                );
                continue;
            };
            match AgencyId::parse(s) {
                Ok(a) if !agencies.contains(&a) => self.err(
                    path,
                    format!("unknown agency {s:?}: not the agency_id of any [[signatory]]"),
                ),
                Ok(a) if claimants.contains(&a) => self.err(path, format!("{s:?} is listed twice")),
                Ok(a) => claimants.push(a),
                Err(e) => self.err(path, format!("{s:?} is not a valid id: {e}")),
            }
        }
        let relevant_authorities = self
            .boolean_opt(&mut o, "relevant_authorities", false)
            .unwrap_or(false);
        let levels_of_need = self.words(
            &mut o,
            "levels_of_need",
            true,
            LevelOfNeed::parse,
            &names(LevelOfNeed::ALL, LevelOfNeed::as_str),
        );
        if levels_of_need.is_empty() && o.table.contains_key("levels_of_need") {
            self.err(
                join(&o.path, "levels_of_need"),
                "at least one level of need is required",
            );
        }
        let named = |key: &str| {
            o.table
                .get(key)
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
        };
        if !named("agency_kinds") && !named("agencies") && !relevant_authorities {
            self.err(
                o.path.clone(),
                "no one may claim this gateway: list agency_kinds or agencies, or set \
                 relevant_authorities = true",
            );
        }
        self.finish(o);
        Some(GatewayRule {
            gateway: gateway?,
            source: source?,
            agency_kinds,
            agencies: claimants,
            relevant_authorities,
            levels_of_need,
        })
    }
}
