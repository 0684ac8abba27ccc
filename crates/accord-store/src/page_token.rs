//! The page tokens of the store's listings, and page sizes.
//!
//! A token is base64url (no padding) of `tag|at|key`: the keyset position of the last row of
//! the previous page, an instant in microseconds and the row's tie-breaker. Callers must not
//! parse them; the tag lets a token from one listing be rejected by another.

use std::fmt::Display;
use std::str::FromStr;

use base64::Engine as _;

use crate::{Result, StoreError};

/// A listing that pages with tokens, and what its keyset is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listing {
    /// `Store::list`: newest first by (created_at, exchange id).
    Exchanges,
    /// `Store::audit_query`: by (occurred_at, sequence).
    Audit,
}

impl Listing {
    fn tag(self) -> &'static str {
        match self {
            Listing::Exchanges => "x1",
            Listing::Audit => "a1",
        }
    }

    /// The token that resumes this listing after the row at (`at`, `key`).
    pub(crate) fn encode(self, at: i64, key: impl Display) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{}|{at}|{key}", self.tag()))
    }

    /// The (`at`, `key`) a token of this listing resumes after; `InvalidInput` for anything
    /// else, including a token of another listing.
    pub(crate) fn decode<K: FromStr>(self, token: &str) -> Result<(i64, K)> {
        let bad = StoreError::bad_page_token;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| bad())?;
        let text = String::from_utf8(raw).map_err(|_| bad())?;
        let mut parts = text.splitn(3, '|');
        if parts.next() != Some(self.tag()) {
            return Err(bad());
        }
        let at = parts.next().and_then(|a| a.parse().ok()).ok_or_else(bad)?;
        let key = parts.next().and_then(|k| k.parse().ok()).ok_or_else(bad)?;
        Ok((at, key))
    }
}

/// Rows per page: `default` when the caller asks for 0, else at most `max`.
pub(crate) fn page_size(requested: u32, default: u32, max: u32) -> i64 {
    i64::from(if requested == 0 {
        default
    } else {
        requested.min(max)
    })
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn tokens_round_trip_and_stay_in_their_listing() {
        let id = Uuid::now_v7();
        let t = Listing::Exchanges.encode(-42, id);
        assert_eq!(Listing::Exchanges.decode::<Uuid>(&t).ok(), Some((-42, id)));
        assert!(Listing::Audit.decode::<i64>(&t).is_err());
        let t = Listing::Audit.encode(7, 9);
        assert_eq!(Listing::Audit.decode::<i64>(&t).ok(), Some((7, 9)));
        assert!(Listing::Audit.decode::<i64>("not a token").is_err());
    }

    #[test]
    fn tokens_keep_their_format() {
        // Tokens handed out before stay valid: base64url of `tag|at|key`.
        let id = Uuid::nil();
        assert_eq!(
            Listing::Exchanges.encode(5, id),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("x1|5|{id}"))
        );
        assert_eq!(
            Listing::Audit.encode(5, 6),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("a1|5|6")
        );
    }
}
