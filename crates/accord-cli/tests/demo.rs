//! `accord demo` runs its four exchanges and the audit trail, and succeeds.

mod common;

use common::accord;
use predicates::prelude::*;

#[test]
fn accord_demo_succeeds() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = tmp.path().join("demo");
    accord()
        .arg("demo")
        .arg("--dir")
        .arg(&dir)
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .success()
        .stdout(predicate::str::contains("R06-explicit-consent-required"))
        .stdout(predicate::str::contains("partly_approved"))
        .stdout(predicate::str::contains(
            "the approver who declined cannot decide the escalation",
        ))
        .stdout(predicate::str::contains("R16-immediate-risk-tell-police"))
        .stdout(predicate::str::contains("OK: the log is intact"))
        .stdout(predicate::str::contains("Demo complete"));
    // --dir keeps the setup and the database.
    assert!(dir.join("accord.toml").is_file());
    assert!(dir.join("accord.db").is_file());
    // ...and refuses to overwrite it.
    accord()
        .arg("demo")
        .arg("--dir")
        .arg(&dir)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "already holds a development setup",
        ));
}
