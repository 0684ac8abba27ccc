//! The Accord gRPC API, version 1 (`accord.v1`): the contract between the broker and agency
//! systems, approvers, auditors and administrators.
//!
//! The `.proto` files in `proto/accord/v1/` are the source of truth; this crate compiles them at
//! build time with protox (no system `protoc` needed) and exposes:
//!
//! - [`v1`]: the prost messages and enums, and for each service a tonic client
//!   (`v1::exchange_service_client::ExchangeServiceClient`, ...) and server trait
//!   (`v1::exchange_service_server::ExchangeService`, ...);
//! - [`FILE_DESCRIPTOR_SET`]: the encoded descriptor set, with comments and the imported
//!   well-known types, for `tonic-reflection`;
//! - [`wire`]: timestamps and dates as the messages carry them.
//!
//! Services: `ExchangeService` (agency systems), `InboxService` (the per-agency event stream),
//! `ApprovalService` (IG leads and Caldicott Guardians), `AuditService` (auditors) and
//! `RegistryService` (protocols and signatories; admin changes).
//!
//! Bad input is reported with `INVALID_ARGUMENT` and a `google.rpc.BadRequest` detail (built
//! with `tonic-types` by the server); the google.rpc protos are not part of this crate.

pub mod wire;

/// Generated code for the `accord.v1` package.
pub mod v1 {
    tonic::include_proto!("accord.v1");
}

/// The encoded `google.protobuf.FileDescriptorSet` of every file in `proto/accord/v1/` and its
/// imports, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("accord_descriptor");
