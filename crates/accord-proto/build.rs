//! Compiles `proto/accord/v1/*.proto` with protox (pure Rust, no system `protoc`) and generates
//! the prost messages and tonic clients and servers, plus the encoded descriptor set that
//! server reflection serves. That set also holds `google/rpc/error_details.proto`, the types of
//! the error details the broker sends, so reflection clients can decode them.

use std::path::PathBuf;

use anyhow::Context;

const PROTO_ROOT: &str = "../../proto";
const PROTO_DIR: &str = "../../proto/accord/v1";
/// Reflection-only files (relative to [`PROTO_ROOT`]): described, never generated, because
/// `tonic-types` already provides their Rust types and the server builds details with those.
const REFLECTION_ONLY: &[&str] = &["google/rpc/error_details.proto"];

fn main() -> anyhow::Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(PROTO_DIR)
        .with_context(|| format!("reading {PROTO_DIR}"))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|ext| ext == "proto"));
    // Sorted so the descriptor set, and so the generated code, do not depend on directory order.
    files.sort();

    println!("cargo:rerun-if-changed={PROTO_DIR}");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    for file in REFLECTION_ONLY {
        println!("cargo:rerun-if-changed={PROTO_ROOT}/{file}");
    }

    let mut compiler = protox::Compiler::new([PROTO_ROOT])?;
    // Source info carries the proto comments into the generated docs and to reflection clients;
    // imports make the set self-contained (it includes google/protobuf/*.proto).
    compiler.include_source_info(true).include_imports(true);
    compiler
        .open_files(&files)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    // Taken before the reflection-only files are opened, so no Rust code is generated for them
    // (a second `google.rpc` module would clash with tonic-types').
    let generated = compiler.file_descriptor_set();
    compiler
        .open_files(REFLECTION_ONLY)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;

    let out_dir = PathBuf::from(std::env::var("OUT_DIR").context("OUT_DIR not set")?);
    let descriptor_path = out_dir.join("accord_descriptor.bin");
    // prost-build writes the descriptor set only when it runs protoc itself, so write it here.
    std::fs::write(&descriptor_path, compiler.encode_file_descriptor_set())
        .with_context(|| format!("writing {}", descriptor_path.display()))?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(generated)?;
    Ok(())
}
