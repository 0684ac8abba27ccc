//! `InboxService`: the caller's agency's events, streamed in cursor order from where the
//! client left off. With `follow` the stream stays open: it wakes on this process's commits
//! (`Store::inbox_notifier`) and also polls every [`POLL_INTERVAL`], so events committed by
//! other replicas sharing the database arrive too. It ends cleanly when the server drains.
//!
//! A stream lives no longer than the token that opened it: once the clock passes the token's
//! `exp` (plus the configured leeway, as at authentication) the stream ends with
//! `UNAUTHENTICATED`, checked before every batch and on every wake, so within
//! [`POLL_INTERVAL`]. The client reconnects with a fresh token from its cursor.

use std::pin::Pin;
use std::time::Duration;

use accord_domain::{AgencyId, SignatoryStatus};
use accord_proto::v1 as pb;
use accord_proto::v1::inbox_service_server::InboxService;
use accord_store::Store;
use futures::Stream;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::{debug, warn, Instrument};

use crate::api;
use crate::authz::Operation;
use crate::context::{Clock, Shutdown};
use crate::error::{invalid_argument, store_status};
use crate::registry::Registry;
use crate::AppState;

/// How often a following stream looks for events committed by other replicas.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Events read from the store at a time.
const BATCH: u32 = 200;
/// Events buffered for a slow client before the reader waits for it.
const BUFFER: usize = 64;

type InboxStream = Pin<Box<dyn Stream<Item = Result<pb::WatchInboxResponse, Status>> + Send>>;

/// The `InboxService` handlers.
#[derive(Debug, Clone)]
pub struct InboxHandlers {
    state: AppState,
}

impl InboxHandlers {
    pub fn new(state: AppState) -> Self {
        InboxHandlers { state }
    }
}

/// Whether the agency is still an active signatory of some protocol: a following stream
/// opened before a suspension must not keep delivering after it.
fn still_active(registry: &Registry, agency: &AgencyId) -> bool {
    registry.protocols().iter().any(|p| {
        p.signatory(agency)
            .is_some_and(|s| s.status == SignatoryStatus::Active)
    })
}

/// The status ending a stream whose token has expired.
pub fn token_expired() -> Status {
    Status::unauthenticated("the token expired; reconnect with a new token")
}

/// How long the token that opened a stream is honoured: until `valid_until` on `clock`.
#[derive(Debug, Clone)]
pub struct TokenLifetime {
    pub clock: Clock,
    pub valid_until: OffsetDateTime,
}

impl TokenLifetime {
    fn expired(&self) -> bool {
        self.clock.now() > self.valid_until
    }
}

/// Sends the agency's events after `cursor` until none are left (or, with `follow`, until the
/// client goes away, the agency is suspended, the token expires or the server drains).
#[allow(clippy::too_many_arguments)]
async fn pump(
    store: Store,
    registry: Registry,
    agency: AgencyId,
    mut cursor: Option<u64>,
    follow: bool,
    token: TokenLifetime,
    shutdown: Shutdown,
    tx: mpsc::Sender<Result<pb::WatchInboxResponse, Status>>,
) {
    let mut notifier = store.inbox_notifier();
    let draining = shutdown.triggered();
    tokio::pin!(draining);
    loop {
        // Mark the notifier seen before reading, so a commit after the read wakes us.
        notifier.borrow_and_update();
        loop {
            if token.expired() {
                debug!(agency = %agency, "inbox stream ended: token expired");
                let _ = tx.send(Err(token_expired())).await;
                return;
            }
            let events = match store.inbox(&agency, cursor, BATCH).await {
                Ok(e) => e,
                Err(e) => {
                    let _ = tx.send(Err(store_status(e))).await;
                    return;
                }
            };
            let n = events.len();
            for e in events {
                cursor = Some(e.cursor);
                let msg = pb::WatchInboxResponse {
                    event: Some(api::inbox_event_to_proto(&e)),
                };
                if tx.send(Ok(msg)).await.is_err() {
                    debug!(agency = %agency, "inbox client went away");
                    return;
                }
            }
            if n < BATCH as usize {
                break;
            }
        }
        if !follow || shutdown.is_triggered() {
            return;
        }
        if !still_active(&registry, &agency) {
            let _ = tx
                .send(Err(Status::permission_denied(format!(
                    "agency {agency} is no longer an active signatory"
                ))))
                .await;
            return;
        }
        tokio::select! {
            () = &mut draining => return,
            () = tx.closed() => return,
            changed = notifier.changed() => {
                if changed.is_err() {
                    // The store's writer stopped: the server is going away.
                    return;
                }
            }
            () = tokio::time::sleep(POLL_INTERVAL) => {}
        }
    }
}

#[tonic::async_trait]
impl InboxService for InboxHandlers {
    type WatchInboxStream = InboxStream;

    async fn watch_inbox(
        &self,
        request: Request<pb::WatchInboxRequest>,
    ) -> Result<Response<Self::WatchInboxStream>, Status> {
        let (caller, valid_until) = self.state.auth.authenticate_until(&request)?;
        caller.authorize(Operation::WatchInbox)?;
        let token = TokenLifetime {
            clock: self.state.clock.clone(),
            valid_until,
        };
        let msg = request.into_inner();
        let cursor = api::inbox_cursor_from_proto("after_cursor", &msg.after_cursor)
            .map_err(|v| invalid_argument(vec![v]))?;
        let store = self.state.store().clone();
        let (tx, rx) = mpsc::channel(BUFFER);
        let agency = caller.agency.clone();
        let shutdown = self.state.shutdown.clone();
        let follow = msg.follow;
        let registry = self.state.registry.clone();
        tokio::spawn(
            async move {
                pump(
                    store,
                    registry,
                    agency.clone(),
                    cursor,
                    follow,
                    token,
                    shutdown,
                    tx,
                )
                .await;
                debug!(agency = %agency, "inbox stream ended");
            }
            .instrument(tracing::Span::current()),
        );
        if follow && self.state.shutdown.is_triggered() {
            warn!(agency = %caller.agency, "inbox stream opened while draining");
        }
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
