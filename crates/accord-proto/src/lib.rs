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
//!   well-known types, for `tonic-reflection`; it also describes `google.rpc`'s error details
//!   (`proto/google/rpc/error_details.proto`) so that reflection clients such as `grpcurl` can
//!   decode them;
//! - [`wire`]: timestamps and dates as the messages carry them.
//!
//! Services: `ExchangeService` (agency systems), `InboxService` (the per-agency event stream),
//! `ApprovalService` (IG leads and Caldicott Guardians), `AuditService` (auditors) and
//! `RegistryService` (protocols and signatories; admin changes).
//!
//! Bad input is reported with `INVALID_ARGUMENT` and a `google.rpc.BadRequest` detail (built
//! with `tonic-types` by the server). This crate only describes the `google.rpc` types for
//! reflection; it generates no Rust code for them, `tonic-types` has that.

pub mod wire;

/// Generated code for the `accord.v1` package.
pub mod v1 {
    tonic::include_proto!("accord.v1");
}

/// The encoded `google.protobuf.FileDescriptorSet` of every file in `proto/accord/v1/`,
/// `google/rpc/error_details.proto` and their imports, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("accord_descriptor");

#[cfg(test)]
mod tests {
    use super::FILE_DESCRIPTOR_SET;
    use prost::Message;
    use prost_types::FileDescriptorSet;

    fn set() -> FileDescriptorSet {
        FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("descriptor set decodes")
    }

    #[test]
    fn descriptor_set_describes_the_error_details() {
        let set = set();
        let details = set
            .file
            .iter()
            .find(|f| f.name() == "google/rpc/error_details.proto")
            .expect("google/rpc/error_details.proto is in the set");
        assert_eq!(details.package(), "google.rpc");
        let bad_request = details
            .message_type
            .iter()
            .find(|m| m.name() == "BadRequest")
            .expect("google.rpc.BadRequest is described");
        let violation = bad_request
            .nested_type
            .iter()
            .find(|m| m.name() == "FieldViolation")
            .expect("google.rpc.BadRequest.FieldViolation is described");
        let fields: Vec<&str> = violation.field.iter().map(|f| f.name()).collect();
        for want in ["field", "description"] {
            assert!(fields.contains(&want), "{want} not in {fields:?}");
        }
    }

    #[test]
    fn descriptor_set_holds_every_import() {
        let set = set();
        let names: Vec<&str> = set.file.iter().map(|f| f.name()).collect();
        for file in &set.file {
            for dep in &file.dependency {
                assert!(
                    names.contains(&dep.as_str()),
                    "{} imports {dep}, which the set lacks",
                    file.name()
                );
            }
        }
        assert!(names.contains(&"google/protobuf/duration.proto"));
    }

    #[test]
    fn no_rust_code_is_generated_for_google_rpc() {
        // tonic-types owns the Rust types of google.rpc; a generated copy would be a second,
        // incompatible set of the same messages.
        let generated = std::path::Path::new(env!("OUT_DIR")).join("google.rpc.rs");
        assert!(!generated.exists(), "{} exists", generated.display());
    }
}
