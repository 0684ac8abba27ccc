//! The exchange aggregate: one home for every rule of an exchange.
//!
//! - `state.rs`: the transition table ([`ExchangeState::apply`]);
//! - `entity.rs`: the [`Exchange`] and what it records (decisions, conditions, response);
//! - `command.rs`: what can be asked of an exchange ([`Command`]);
//! - `decide.rs`: [`Exchange::open`] and [`Exchange::handle`], which decide a command against
//!   the exchange and the person giving it;
//! - `effects.rs`: what a decision produces ([`Applied`]: next exchange, audit events,
//!   inbox notices) or why nothing happened ([`Refusal`]).
//!
//! The store loads an exchange, checks its version, calls `handle` and persists the result
//! in one transaction; the gRPC handlers parse, authorise and render. Neither holds a rule.

mod command;
mod decide;
mod effects;
mod entity;
mod state;
#[cfg(test)]
mod tests;

pub use command::{Command, DecisionDraft, ResponseDraft};
pub use effects::{
    text_digest, text_digests, Applied, AuditEvent, AuditEventKind, Notice, NoticeKind, Refusal,
};
pub use entity::{Actor, Conditions, Decision, DecisionKind, Exchange, ResponseItem, ResponseMeta};
pub use state::{Action, ExchangeState, InvalidTransition};
