//! The inbox service's messages: inbox events and the cursors that resume them.

use accord_domain::FieldViolation;
use accord_proto::v1 as pb;
use accord_store as store;

use super::enums::ProtoEnum;
use super::time::timestamp;

/// An inbox event; the cursor is the store's sequence number as decimal text (opaque to
/// clients).
pub fn inbox_event_to_proto(e: &store::InboxEvent) -> pb::InboxEvent {
    pb::InboxEvent {
        cursor: e.cursor.to_string(),
        exchange_id: e.exchange_id.to_string(),
        kind: e.kind.to_proto(),
        state: e.state.to_proto(),
        occurred_at: Some(timestamp(e.occurred_at)),
        summary: e.summary.clone(),
    }
}

/// Reads a cursor written by [`inbox_event_to_proto`]; empty means "from the beginning".
pub fn inbox_cursor_from_proto(field: &str, s: &str) -> Result<Option<u64>, FieldViolation> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse::<u64>()
        .map(Some)
        .map_err(|_| FieldViolation::new(field, "is not a cursor returned by this server"))
}

#[cfg(test)]
mod tests;
