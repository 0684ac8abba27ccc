//! Checks the API contract's shape and style rules against the compiled descriptor set, so a
//! change to `proto/accord/v1/` that breaks them fails here rather than in review.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use accord_proto::FILE_DESCRIPTOR_SET;
use prost::Message;
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorProto, FileDescriptorSet};

const PACKAGE: &str = "accord.v1";

// Field numbers in descriptor.proto, used to build source-code-info paths.
const FILE_MESSAGE_TYPE: i32 = 4;
const FILE_ENUM_TYPE: i32 = 5;
const FILE_SERVICE: i32 = 6;
const MESSAGE_FIELD: i32 = 2;
const MESSAGE_NESTED_TYPE: i32 = 3;
const MESSAGE_ENUM_TYPE: i32 = 4;
const MESSAGE_ONEOF_DECL: i32 = 8;
const ENUM_VALUE: i32 = 2;
const SERVICE_METHOD: i32 = 2;

fn accord_files() -> Vec<FileDescriptorProto> {
    let set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("descriptor set decodes");
    let files: Vec<_> = set
        .file
        .into_iter()
        .filter(|f| f.package() == PACKAGE)
        .collect();
    assert!(!files.is_empty(), "no files in package {PACKAGE}");
    files
}

/// Every enum in the package, top level or nested in a message, with its qualified name.
fn all_enums(files: &[FileDescriptorProto]) -> Vec<(String, EnumDescriptorProto)> {
    fn walk(prefix: &str, msg: &DescriptorProto, out: &mut Vec<(String, EnumDescriptorProto)>) {
        let name = format!("{prefix}.{}", msg.name());
        for e in &msg.enum_type {
            out.push((format!("{name}.{}", e.name()), e.clone()));
        }
        for nested in &msg.nested_type {
            walk(&name, nested, out);
        }
    }
    let mut out = Vec::new();
    for file in files {
        for e in &file.enum_type {
            out.push((format!("{PACKAGE}.{}", e.name()), e.clone()));
        }
        for msg in &file.message_type {
            walk(PACKAGE, msg, &mut out);
        }
    }
    out
}

/// `LevelOfNeed` -> `LEVEL_OF_NEED`.
fn screaming_snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 && c.is_ascii_uppercase() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[test]
fn screaming_snake_converts_enum_names() {
    assert_eq!(screaming_snake("LevelOfNeed"), "LEVEL_OF_NEED");
    assert_eq!(screaming_snake("Role"), "ROLE");
    assert_eq!(screaming_snake("HTTPStatus"), "HTTP_STATUS");
}

#[test]
fn every_service_and_rpc_is_present() {
    let expected: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
        (
            "ExchangeService",
            vec![
                "SubmitRequest",
                "CheckRequest",
                "GetExchange",
                "ListExchanges",
                "WithdrawRequest",
                "AnswerInformationRequest",
                "SubmitResponse",
                "FetchResponse",
                "AcknowledgeResponse",
                "EscalateDecline",
            ],
        ),
        ("InboxService", vec!["WatchInbox"]),
        ("ApprovalService", vec!["ListPending", "Decide"]),
        (
            "AuditService",
            vec!["QueryAudit", "VerifyAudit", "ExportAudit", "GetStatistics"],
        ),
        (
            "RegistryService",
            vec![
                "ListProtocols",
                "GetProtocol",
                "ListSignatories",
                "SuspendSignatory",
                "ReinstateSignatory",
                "ReaffirmSignatory",
            ],
        ),
    ]);

    let files = accord_files();
    let services: BTreeMap<&str, Vec<&str>> = files
        .iter()
        .flat_map(|f| &f.service)
        .map(|s| (s.name(), s.method.iter().map(|m| m.name()).collect()))
        .collect();

    for (service, methods) in &expected {
        let Some(actual) = services.get(service) else {
            panic!("service {PACKAGE}.{service} is missing");
        };
        for method in methods {
            assert!(
                actual.contains(method),
                "rpc {PACKAGE}.{service}.{method} is missing"
            );
        }
    }

    // Exactly these RPCs stream, and only from the server.
    let mut streaming = BTreeSet::new();
    for service in files.iter().flat_map(|f| &f.service) {
        for method in &service.method {
            let name = format!("{}.{}", service.name(), method.name());
            assert!(
                !method.client_streaming(),
                "rpc {name} must not be client-streaming"
            );
            if method.server_streaming() {
                streaming.insert(name);
            }
        }
    }
    let expected_streaming: BTreeSet<String> = [
        "InboxService.WatchInbox".into(),
        "AuditService.ExportAudit".into(),
    ]
    .into();
    assert_eq!(streaming, expected_streaming, "server-streaming rpcs");
}

#[test]
fn every_enum_starts_with_unspecified_zero() {
    let enums = all_enums(&accord_files());
    assert!(!enums.is_empty());
    for (name, e) in &enums {
        let Some(first) = e.value.first() else {
            panic!("enum {name} has no values");
        };
        assert!(
            first.name().ends_with("_UNSPECIFIED"),
            "enum {name}: first value {} must end in _UNSPECIFIED",
            first.name()
        );
        assert_eq!(
            first.number(),
            0,
            "enum {name}: first value {} must be 0",
            first.name()
        );
        let expected = format!("{}_UNSPECIFIED", screaming_snake(e.name()));
        assert_eq!(first.name(), expected, "enum {name}: first value");
    }
}

#[test]
fn every_enum_value_is_prefixed_with_its_enum_name() {
    for (name, e) in all_enums(&accord_files()) {
        let prefix = format!("{}_", screaming_snake(e.name()));
        for value in &e.value {
            assert!(
                value.name().starts_with(&prefix),
                "enum {name}: value {} must start with {prefix}",
                value.name()
            );
            let rest = &value.name()[prefix.len()..];
            assert!(
                !rest.is_empty()
                    && rest
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
                "enum {name}: value {} must be SCREAMING_SNAKE_CASE",
                value.name()
            );
        }
    }
}

#[test]
fn every_rpc_has_its_own_request_and_response_messages() {
    let mut used = HashSet::new();
    for file in accord_files() {
        for service in &file.service {
            for method in &service.method {
                let rpc = format!("{}.{}", service.name(), method.name());
                let input = format!(".{PACKAGE}.{}Request", method.name());
                let output = format!(".{PACKAGE}.{}Response", method.name());
                assert_eq!(method.input_type(), input, "rpc {rpc}: request type");
                assert_eq!(method.output_type(), output, "rpc {rpc}: response type");
                assert!(used.insert(input), "rpc {rpc}: request type shared");
                assert!(used.insert(output), "rpc {rpc}: response type shared");
            }
        }
    }
}

#[test]
fn every_element_is_documented() {
    let mut missing = Vec::new();
    for file in accord_files() {
        let documented: HashSet<Vec<i32>> = file
            .source_code_info
            .as_ref()
            .expect("descriptor set carries source info")
            .location
            .iter()
            .filter(|l| !l.leading_comments().trim().is_empty())
            .map(|l| l.path.clone())
            .collect();
        let mut check = |path: Vec<i32>, what: String| {
            if !documented.contains(&path) {
                missing.push(format!("{}: {what}", file.name()));
            }
        };

        fn walk_message(
            msg: &DescriptorProto,
            path: Vec<i32>,
            qualified: String,
            check: &mut dyn FnMut(Vec<i32>, String),
        ) {
            check(path.clone(), format!("message {qualified}"));
            for (i, field) in msg.field.iter().enumerate() {
                let mut p = path.clone();
                p.extend([MESSAGE_FIELD, i as i32]);
                check(p, format!("field {qualified}.{}", field.name()));
            }
            for (i, oneof) in msg.oneof_decl.iter().enumerate() {
                // `optional` fields live in a synthetic oneof that has no source text.
                let synthetic = msg
                    .field
                    .iter()
                    .any(|f| f.oneof_index == Some(i as i32) && f.proto3_optional());
                if synthetic {
                    continue;
                }
                let mut p = path.clone();
                p.extend([MESSAGE_ONEOF_DECL, i as i32]);
                check(p, format!("oneof {qualified}.{}", oneof.name()));
            }
            for (i, e) in msg.enum_type.iter().enumerate() {
                let mut p = path.clone();
                p.extend([MESSAGE_ENUM_TYPE, i as i32]);
                walk_enum(e, p, format!("{qualified}.{}", e.name()), check);
            }
            for (i, nested) in msg.nested_type.iter().enumerate() {
                let mut p = path.clone();
                p.extend([MESSAGE_NESTED_TYPE, i as i32]);
                walk_message(nested, p, format!("{qualified}.{}", nested.name()), check);
            }
        }

        fn walk_enum(
            e: &EnumDescriptorProto,
            path: Vec<i32>,
            qualified: String,
            check: &mut dyn FnMut(Vec<i32>, String),
        ) {
            check(path.clone(), format!("enum {qualified}"));
            for (i, value) in e.value.iter().enumerate() {
                let mut p = path.clone();
                p.extend([ENUM_VALUE, i as i32]);
                check(p, format!("enum value {qualified}.{}", value.name()));
            }
        }

        for (i, msg) in file.message_type.iter().enumerate() {
            walk_message(
                msg,
                vec![FILE_MESSAGE_TYPE, i as i32],
                msg.name().to_string(),
                &mut check,
            );
        }
        for (i, e) in file.enum_type.iter().enumerate() {
            walk_enum(
                e,
                vec![FILE_ENUM_TYPE, i as i32],
                e.name().to_string(),
                &mut check,
            );
        }
        for (i, service) in file.service.iter().enumerate() {
            check(
                vec![FILE_SERVICE, i as i32],
                format!("service {}", service.name()),
            );
            for (j, method) in service.method.iter().enumerate() {
                check(
                    vec![FILE_SERVICE, i as i32, SERVICE_METHOD, j as i32],
                    format!("rpc {}.{}", service.name(), method.name()),
                );
            }
        }
    }
    assert!(
        missing.is_empty(),
        "elements without a leading comment:\n{}",
        missing.join("\n")
    );
}
