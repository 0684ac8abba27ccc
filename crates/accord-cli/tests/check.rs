//! `accord request check FILE` against a real `accord serve`: the findings as a table or as
//! JSON, exit status 0 whether the draft would go to approval or be refused, 1 for an invalid
//! draft, a refused call or an unreachable broker, and nothing stored.

mod common;

use common::{example, json, text, Server};
use predicates::prelude::*;

const TRUST: &str = "sandwell-childrens-trust";

/// The example request with `from` replaced by `to`, written to the server's temporary
/// directory as `name`.
fn variant(s: &Server, name: &str, from: &str, to: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(example("request.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert!(text.contains(from), "{from} not in the example");
    let path = s.tmp.path().join(name);
    std::fs::write(&path, text.replace(from, to)).unwrap_or_else(|e| panic!("{e}"));
    path
}

#[test]
fn check_shows_the_findings_and_stores_nothing() {
    let s = Server::start();

    // A draft that would go to approval: a table of findings, exit 0.
    s.as_(TRUST, "request")
        .args(["--sub", "sw-4471", "check"])
        .arg(example("request.toml"))
        .assert()
        .success()
        .stdout(predicate::str::contains("would be"))
        .stdout(predicate::str::contains("awaiting_approval"))
        .stdout(predicate::str::contains("nothing was submitted"))
        .stdout(predicate::str::contains("proposed scope"))
        .stdout(predicate::str::contains("respond by"))
        .stdout(predicate::str::contains("SEVERITY"))
        .stdout(predicate::str::contains(
            "R23-special-category-without-consent",
        ));

    // The same as JSON, for scripts: no exchange id, no version.
    let checked = json(
        s.as_(TRUST, "request")
            .args(["--sub", "sw-4471", "--json", "check"])
            .arg(example("request.toml")),
    );
    assert_eq!(
        checked["state"], "EXCHANGE_STATE_AWAITING_APPROVAL",
        "{checked}"
    );
    assert_eq!(
        checked["assessment"]["proposed_scope"]
            .as_array()
            .map(Vec::len),
        Some(3),
        "{checked}"
    );
    assert!(checked["assessment"]["respond_by"].is_string(), "{checked}");
    assert!(checked.get("exchange_id").is_none(), "{checked}");

    // A draft the check would refuse: still exit 0, with the blocking findings.
    let refused = variant(
        &s,
        "refused.toml",
        "anonymised_would_suffice = false",
        "anonymised_would_suffice = true",
    );
    s.as_(TRUST, "request")
        .args(["--sub", "sw-4471", "check"])
        .arg(&refused)
        .assert()
        .success()
        .stdout(predicate::str::contains("refused"))
        .stdout(predicate::str::contains("blocking"));
    let checked = json(
        s.as_(TRUST, "request")
            .args(["--sub", "sw-4471", "--json", "check"])
            .arg(&refused),
    );
    assert_eq!(checked["state"], "EXCHANGE_STATE_REFUSED", "{checked}");
    assert_eq!(
        checked["assessment"]["outcome"], "ASSESSMENT_OUTCOME_REFUSE",
        "{checked}"
    );

    // Standard input works as for submit.
    let stdin = std::fs::read(example("request.toml")).unwrap_or_else(|e| panic!("{e}"));
    s.as_(TRUST, "request")
        .args(["--sub", "sw-4471", "check", "-"])
        .write_stdin(stdin)
        .assert()
        .success()
        .stdout(predicate::str::contains("awaiting_approval"));

    // An invalid draft: exit 1, with the field the broker names...
    let bad = variant(
        &s,
        "bad.toml",
        "records_from = \"2023-01-01\"",
        "records_from = \"1899-12-31\"",
    );
    s.as_(TRUST, "request")
        .args(["--sub", "sw-4471", "check"])
        .arg(&bad)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "CheckRequest failed: INVALID_ARGUMENT",
        ))
        .stderr(predicate::str::contains("request.records_from"));
    // ... or that the command finds before calling it.
    let unreadable = variant(
        &s,
        "unreadable.toml",
        "records_from = \"2023-01-01\"",
        "records_from = \"2023-13-01\"",
    );
    s.as_(TRUST, "request")
        .args(["--sub", "sw-4471", "check"])
        .arg(&unreadable)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("records_from"));

    // A role that may not submit may not check either.
    s.as_(TRUST, "request")
        .args(["--role", "ig_lead", "check"])
        .arg(example("request.toml"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "CheckRequest failed: PERMISSION_DENIED",
        ));

    // A file that does not exist.
    s.as_(TRUST, "request")
        .args(["check", "no-such-file.toml"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no-such-file.toml"));

    // Nothing was stored: the trust has no exchanges.
    let listed = text(s.as_(TRUST, "request").args(["list"]));
    assert!(listed.contains("no exchanges"), "{listed}");
}

#[test]
fn check_against_no_broker_fails() {
    let tmp = common::dev_setup();
    common::accord()
        .args(["request", "--server", "https://127.0.0.1:1", "--dev"])
        .arg(tmp.path().join("dev"))
        .args(["--agency", TRUST, "check"])
        .arg(example("request.toml"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("error:"));
}
