//! The API boundary: protobuf ⇄ domain conversions and input parsing, one file per service.
//!
//! Inbound conversions ([`request_from_proto`], [`draft_from_proto`],
//! [`response_items_from_proto`], [`conditions_from_proto`]) enforce the limits the proto documents (required fields,
//! lengths in characters, `YYYY-MM-DD` dates, ids, no `UNSPECIFIED` where a value is
//! required) and report *every* violation with its field path relative to the converted
//! message; prefix them with [`crate::error::prefixed`] (e.g. `request`) before answering.
//! Reasons never repeat free text or dates the client sent: they may be personal data.
//!
//! Outbound conversions are total: the domain and the store hold only valid values.
//!
//! Files (everything public is re-exported here, so callers write `api::request_from_proto`):
//! - `enums`: [`ProtoEnum`], each domain vocabulary and its proto enum;
//! - `time`: timestamps, durations and `YYYY-MM-DD` dates;
//! - `check`: the violation collector the inbound conversions share, and the date range;
//! - `exchanges`: information requests (and drafts to check), response items and exchange ids
//!   in; exchanges, summaries, assessments and responses out;
//! - `approvals`: conditions in; decisions, requester actions and conditions out;
//! - `audit`: audit entries, statistics and verification reports;
//! - `registry`: protocols, signatories and purposes;
//! - `inbox`: inbox events and their cursors.

mod approvals;
mod audit;
mod check;
mod enums;
mod exchanges;
mod inbox;
mod registry;
mod time;

pub use self::approvals::{
    conditions_from_proto, conditions_to_proto, decision_to_proto, requester_action_to_proto,
};
pub use self::audit::{audit_entry_to_proto, stats_to_proto, verify_report_to_proto};
pub use self::check::{MAX_YEAR, MIN_YEAR};
pub use self::enums::ProtoEnum;
pub use self::exchanges::{
    amended_categories_from_proto, assessment_to_proto, draft_from_proto, exchange_id_from_proto,
    exchange_summary_to_proto, exchange_to_proto, finding_to_proto, lawful_basis_to_proto,
    request_from_proto, request_to_proto, response_item_from_proto, response_items_from_proto,
    response_items_to_proto, ParsedRequest, MAX_RESPONSE_ITEMS,
};
pub use self::inbox::{inbox_cursor_from_proto, inbox_event_to_proto};
pub use self::registry::{
    protocol_summary_to_proto, protocol_to_proto, purpose_to_proto, signatory_to_proto,
};
pub use self::time::{duration, format_date, from_timestamp, parse_date, timestamp};
