//! Mapping of every error the broker produces to a gRPC status: the one exhaustive
//! `StoreError → Status` table, field violations → `INVALID_ARGUMENT` with a
//! `google.rpc.BadRequest` detail, and the single spelling of "exchange not found" so that a
//! non-party cannot tell a hidden exchange from a missing one.

use std::collections::HashSet;

use accord_domain::FieldViolation;
use accord_domain::Refusal;
use accord_store::StoreError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tracing::error;
use uuid::Uuid;

/// Short alias for handler results.
pub type RpcResult<T> = Result<tonic::Response<T>, Status>;

/// Most field names listed in the status message; the `BadRequest` detail has them all.
const MAX_FIELDS_IN_MESSAGE: usize = 10;

/// The status for an exchange that does not exist *or* that the caller's agency is not a
/// party to. Both cases must produce exactly this status, so every path uses this function.
pub fn exchange_not_found(id: Uuid) -> Status {
    Status::not_found(format!("exchange {id} not found"))
}

/// Every error a handler answers with, by meaning. `From<ApiError> for Status` is the one
/// place a meaning becomes a gRPC code (with the `google.rpc.BadRequest` detail for bad
/// input); store errors and domain refusals convert into it exhaustively.
#[derive(Debug)]
pub enum ApiError {
    /// Bad input: every problem with its field (`INVALID_ARGUMENT` + `BadRequest`).
    Invalid(Vec<FieldViolation>),
    /// The exchange does not exist or the caller may not know it does (`NOT_FOUND`).
    ExchangeNotFound(Uuid),
    /// Something else named in the call does not exist: a protocol, a signatory
    /// (`NOT_FOUND`).
    NotFound(String),
    /// Someone else changed it first (`ABORTED`).
    Conflict(String),
    /// Not allowed in the exchange's state (`FAILED_PRECONDITION`).
    Precondition(String),
    /// The person may not do this (`PERMISSION_DENIED`).
    NotPermitted(String),
    /// The broker is shutting down (`UNAVAILABLE`).
    Unavailable,
    /// Anything else: logged, never described to the client (`INTERNAL`).
    Internal,
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(id) => ApiError::ExchangeNotFound(id),
            e @ StoreError::Conflict { .. } => {
                ApiError::Conflict(format!("{e}; read it again and retry"))
            }
            StoreError::InvalidTransition(t) => ApiError::Precondition(t.to_string()),
            StoreError::Refused(r) => r.into(),
            StoreError::InvalidInput { field, reason } => {
                ApiError::Invalid(vec![FieldViolation::new(field, reason)])
            }
            StoreError::MalformedEntry(what) => {
                ApiError::Invalid(vec![FieldViolation::new("entries", what)])
            }
            // Database and configuration detail may name tables, hosts or constraint values:
            // it goes to the log, never to the client.
            StoreError::Config(detail) => {
                error!(detail = %detail, "store configuration error");
                ApiError::Internal
            }
            StoreError::Database(detail) => {
                error!(detail = %detail, "database error");
                ApiError::Internal
            }
            StoreError::Closed => ApiError::Unavailable,
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Invalid(v) => ApiError::Invalid(v),
            Refusal::NotPermitted(m) => ApiError::NotPermitted(m),
            r @ (Refusal::Transition(_)
            | Refusal::WrongState(_)
            | Refusal::NoResponse
            | Refusal::Purged
            | Refusal::NotDue(_)) => ApiError::Precondition(r.to_string()),
        }
    }
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Invalid(v) => invalid_argument(v),
            ApiError::ExchangeNotFound(id) => exchange_not_found(id),
            ApiError::NotFound(m) => Status::not_found(m),
            ApiError::Conflict(m) => Status::aborted(m),
            ApiError::Precondition(m) => Status::failed_precondition(m),
            ApiError::NotPermitted(m) => Status::permission_denied(m),
            ApiError::Unavailable => {
                Status::unavailable("the broker is shutting down; retry shortly")
            }
            ApiError::Internal => Status::internal("internal error"),
        }
    }
}

/// The status for a store error (through [`ApiError`]).
pub fn store_status(e: StoreError) -> Status {
    ApiError::from(e).into()
}

/// `store.get(id).await.or_status()?` in a handler.
pub trait StoreResultExt<T> {
    fn or_status(self) -> Result<T, Status>;
}

impl<T> StoreResultExt<T> for Result<T, StoreError> {
    fn or_status(self) -> Result<T, Status> {
        self.map_err(store_status)
    }
}

pub use accord_domain::validation::{
    push_violation, violations_full, MAX_VIOLATIONS, MORE_PROBLEMS,
};

/// `INVALID_ARGUMENT` with a `google.rpc.BadRequest` detail holding the violations (at most
/// [`MAX_VIOLATIONS`], then [`more_problems`]); the message names the fields (at most ten,
/// then a count) so a person reading a log or a command-line error sees what to fix.
pub fn invalid_argument(violations: Vec<FieldViolation>) -> Status {
    let mut capped: Vec<FieldViolation> = Vec::new();
    for v in violations {
        if violations_full(&capped) {
            break;
        }
        push_violation(&mut capped, v);
    }
    let more = violations_full(&capped);
    let mut seen: HashSet<&str> = HashSet::new();
    let fields: Vec<&str> = capped
        .iter()
        .filter(|v| !v.is_more_problems())
        .map(|v| v.field.as_str())
        .filter(|f| seen.insert(f))
        .collect();
    let listed = fields
        .iter()
        .take(MAX_FIELDS_IN_MESSAGE)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    let mut message = match fields.len() {
        0 => "invalid request".to_owned(),
        n if n > MAX_FIELDS_IN_MESSAGE => {
            format!(
                "invalid request: {listed} and {} more field(s)",
                n - MAX_FIELDS_IN_MESSAGE
            )
        }
        _ => format!("invalid request: {listed}"),
    };
    if more {
        message.push_str(" (");
        message.push_str(MORE_PROBLEMS);
        message.push(')');
    }
    let details = ErrorDetails::with_bad_request(
        capped
            .into_iter()
            .map(|v| tonic_types::FieldViolation::new(v.field, v.reason))
            .collect::<Vec<_>>(),
    );
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// One violation, for the common case of a single bad field.
pub fn invalid_field(field: impl Into<String>, reason: impl Into<String>) -> Status {
    invalid_argument(vec![FieldViolation::new(field, reason)])
}

/// Prefixes every violation's field path, e.g. `request.` for the `InformationRequest` inside
/// a `SubmitRequestRequest`.
pub fn prefixed(prefix: &str, violations: Vec<FieldViolation>) -> Vec<FieldViolation> {
    violations
        .into_iter()
        .map(|v| {
            if v.is_more_problems() {
                v
            } else {
                FieldViolation::new(format!("{prefix}.{}", v.field), v.reason)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use accord_domain::{Action, ExchangeState, InvalidTransition};

    #[test]
    fn every_store_error_has_its_code() {
        let id = Uuid::nil();
        let cases = [
            (StoreError::NotFound(id), Code::NotFound),
            (
                StoreError::Conflict {
                    id,
                    expected: 1,
                    found: 2,
                },
                Code::Aborted,
            ),
            (
                StoreError::InvalidTransition(InvalidTransition {
                    from: ExchangeState::Refused,
                    action: Action::Approve,
                }),
                Code::FailedPrecondition,
            ),
            (
                StoreError::Refused(Refusal::NoResponse),
                Code::FailedPrecondition,
            ),
            (StoreError::Config("bad key".into()), Code::Internal),
            (
                StoreError::Database("relation \"x\" does not exist".into()),
                Code::Internal,
            ),
            (StoreError::Closed, Code::Unavailable),
        ];
        for (e, code) in cases {
            let s = store_status(e);
            assert_eq!(s.code(), code, "{s:?}");
        }
    }

    #[test]
    fn internal_errors_are_opaque() {
        let s = store_status(StoreError::Database(
            "password authentication failed for user x".into(),
        ));
        assert_eq!(s.message(), "internal error");
        let s = store_status(StoreError::Config("secret".into()));
        assert_eq!(s.message(), "internal error");
    }

    #[test]
    fn not_found_is_one_spelling() {
        let id = Uuid::now_v7();
        let a = store_status(StoreError::NotFound(id));
        let b = exchange_not_found(id);
        assert_eq!((a.code(), a.message()), (b.code(), b.message()));
        let r: Result<(), StoreError> = Err(StoreError::Closed);
        assert_eq!(
            r.or_status().err().map(|s| s.code()),
            Some(Code::Unavailable)
        );
    }

    #[test]
    fn invalid_argument_carries_bad_request_detail() {
        let s = invalid_argument(vec![
            FieldViolation::new("request.child.date_of_birth", "must be YYYY-MM-DD"),
            FieldViolation::new("request.urgency", "is required"),
            FieldViolation::new("request.urgency", "second problem, same field"),
        ]);
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(
            s.message(),
            "invalid request: request.child.date_of_birth, request.urgency"
        );
        let details = s.get_error_details();
        let bad = details
            .bad_request()
            .map(|b| b.field_violations.clone())
            .unwrap_or_default();
        assert_eq!(bad.len(), 3);
        assert_eq!(bad[0].field, "request.child.date_of_birth");
        assert_eq!(bad[0].description, "must be YYYY-MM-DD");
    }

    #[test]
    fn long_lists_are_summarised_in_the_message() {
        let v = (0..15)
            .map(|i| FieldViolation::new(format!("f{i}"), "bad"))
            .collect();
        let s = invalid_argument(v);
        assert!(
            s.message().ends_with("and 5 more field(s)"),
            "{}",
            s.message()
        );
        assert_eq!(
            s.get_error_details()
                .bad_request()
                .map(|b| b.field_violations.len()),
            Some(15)
        );
    }

    #[test]
    fn violations_stop_at_the_cap_with_one_summary() {
        let mut out = Vec::new();
        for i in 0..1_000_000 {
            push_violation(&mut out, FieldViolation::new(format!("f{i}"), "bad"));
        }
        assert_eq!(out.len(), MAX_VIOLATIONS + 1);
        assert_eq!(out[MAX_VIOLATIONS].reason, MORE_PROBLEMS);
        assert!(violations_full(&out));

        // A long list handed over whole is cut the same way, and the message says so.
        let v: Vec<FieldViolation> = (0..1_000_000)
            .map(|i| FieldViolation::new(format!("items[{i}]"), "bad"))
            .collect();
        let s = invalid_argument(v);
        let bad = s
            .get_error_details()
            .bad_request()
            .map(|b| b.field_violations.clone())
            .unwrap_or_default();
        assert_eq!(bad.len(), MAX_VIOLATIONS + 1);
        assert_eq!(bad[MAX_VIOLATIONS].description, MORE_PROBLEMS);
        assert!(
            s.message().ends_with("(… and more problems)"),
            "{}",
            s.message()
        );
        // The summary keeps its empty field when prefixed.
        let p = prefixed("request", vec![FieldViolation::more_problems()]);
        assert_eq!(p[0].field, "");
    }
}
