//! Inbox events: what each agency is told about its exchanges, read by cursor, and the
//! notifier that wakes followers when this process commits new ones.

use accord_domain::AgencyId;

use crate::db::dispatch;
use crate::page_token::page_size;
use crate::records::i64_of;
use crate::{InboxEvent, Result, Store};

impl Store {
    /// Inbox events for an agency after `after` (exclusive; `None` = from the first), oldest
    /// first, at most `limit`.
    pub async fn inbox(
        &self,
        agency: &AgencyId,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<InboxEvent>> {
        let after = i64_of(after.unwrap_or(0))?;
        let limit = page_size(limit, 100, 1000);
        let rows = dispatch!(&self.inner.db, inbox(agency.as_str(), after, limit))?;
        rows.into_iter().map(|r| r.decode()).collect()
    }

    /// Wakes up whenever new inbox events were committed by this process; a follower then
    /// reads `inbox` from its cursor. (Other replicas' events are found by polling.)
    pub fn inbox_notifier(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.inbox_rx.clone()
    }
}
