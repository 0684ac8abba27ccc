//! Per-call context every handler can rely on: a request id (UUID v7) and a tracing span
//! (`rpc{request_id method agency}`) created for every call by [`RequestContextLayer`], the
//! clock, and the shutdown signal long-running streams watch.
//!
//! The span carries the request id, the RPC path and, once [`crate::auth`] has identified the
//! caller, the agency. Never add content, names or child identifiers to it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response};
use time::OffsetDateTime;
use tokio::sync::watch;
use tracing::Instrument;
use uuid::Uuid;

/// Response header carrying the request id, so a caller can quote it when reporting a problem.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of one call; in the request extensions of every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(pub Uuid);

impl RequestId {
    pub fn new() -> RequestId {
        RequestId(Uuid::now_v7())
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

/// Tower layer that gives every call a [`RequestId`] and runs it inside an `rpc` span.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestContextLayer;

impl<S> tower::Layer<S> for RequestContextLayer {
    type Service = RequestContext<S>;

    fn layer(&self, inner: S) -> RequestContext<S> {
        RequestContext { inner }
    }
}

#[derive(Debug, Clone)]
pub struct RequestContext<S> {
    inner: S,
}

impl<S, B, RB> tower::Service<Request<B>> for RequestContext<S>
where
    S: tower::Service<Request<B>, Response = Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<RB>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let id = RequestId::new();
        req.extensions_mut().insert(id);
        let span = tracing::info_span!(
            "rpc",
            request_id = %id.0,
            method = %req.uri().path(),
            agency = tracing::field::Empty,
        );
        let fut = span.in_scope(|| self.inner.call(req));
        Box::pin(
            async move {
                let mut response = fut.await?;
                if let Ok(v) = HeaderValue::from_str(&id.0.to_string()) {
                    response.headers_mut().insert(REQUEST_ID_HEADER, v);
                }
                Ok(response)
            }
            .instrument(span),
        )
    }
}

/// The time source. Handlers and the token check read the time through it so tests can
/// fix it.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> OffsetDateTime + Send + Sync>);

impl Clock {
    pub fn system() -> Clock {
        Clock(Arc::new(OffsetDateTime::now_utc))
    }

    /// Always returns `at`.
    pub fn fixed(at: OffsetDateTime) -> Clock {
        Clock(Arc::new(move || at))
    }

    pub fn from_fn(f: impl Fn() -> OffsetDateTime + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(f))
    }

    pub fn now(&self) -> OffsetDateTime {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Clock").field(&self.now()).finish()
    }
}

/// Tells long-running calls (inbox streams with `follow`, audit exports) that the server is
/// draining, so they can end cleanly within the grace period.
#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown {
            tx: Arc::new(watch::channel(false).0),
        }
    }

    /// Starts the drain; idempotent.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// Completes once the drain has started (at once if it already has).
    pub fn triggered(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.tx.subscribe();
        async move {
            // An error means the sender is gone, which also means shutting down.
            let _ = rx.wait_for(|v| *v).await;
        }
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shutdown_signal_reaches_waiters() {
        let s = Shutdown::new();
        let waiter = tokio::spawn(s.triggered());
        assert!(!s.is_triggered());
        s.trigger();
        s.trigger();
        assert!(s.is_triggered());
        waiter.await.unwrap_or_else(|e| panic!("{e}"));
        // A waiter created after the trigger completes at once.
        s.triggered().await;
    }

    #[test]
    fn fixed_clock() {
        let t = OffsetDateTime::UNIX_EPOCH;
        assert_eq!(Clock::fixed(t).now(), t);
    }
}
