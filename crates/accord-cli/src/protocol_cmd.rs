//! `accord protocol check FILE`: validates a protocol file offline and prints every problem.

use std::path::PathBuf;
use std::process::ExitCode;

use accord_domain::load_protocol_file;

#[derive(Debug, clap::Subcommand)]
pub enum ProtocolCommand {
    /// Validate protocol files and summarise them; exits 1 if any has a problem.
    Check {
        /// Protocol TOML files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: ProtocolCommand) -> ExitCode {
    let ProtocolCommand::Check { files, json } = cmd;
    let mut failed = false;
    let mut report = Vec::new();
    for file in &files {
        match load_protocol_file(file) {
            Ok(p) => {
                if json {
                    report.push(serde_json::json!({
                        "file": file.display().to_string(),
                        "ok": true,
                        "id": p.id.as_str(),
                        "version": p.version,
                        "signatories": p.signatories.len(),
                        "purposes": p.purposes.len(),
                        "categories": p.categories.len(),
                        "review_due": p.review_due.to_string(),
                    }));
                } else {
                    outln!(
                        "ok  {}: protocol {} v{} — {} signatories, {} purposes, {} categories, review due {}",
                        file.display(),
                        p.id,
                        p.version,
                        p.signatories.len(),
                        p.purposes.len(),
                        p.categories.len(),
                        p.review_due
                    );
                }
            }
            Err(errors) => {
                failed = true;
                if json {
                    let problems: Vec<_> = errors
                        .0
                        .iter()
                        .map(|e| serde_json::json!({"key": e.key, "reason": e.reason}))
                        .collect();
                    report.push(serde_json::json!({
                        "file": file.display().to_string(),
                        "ok": false,
                        "problems": problems,
                    }));
                } else {
                    eprintln!("FAIL {}: {} problem(s)", file.display(), errors.0.len());
                    for e in &errors.0 {
                        eprintln!("  {e}");
                    }
                }
            }
        }
    }
    if json {
        outln!("{}", serde_json::Value::Array(report));
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
