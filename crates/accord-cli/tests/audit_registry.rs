//! The auditor's and the administrator's commands against a real `accord serve`: audit
//! query / verify / export / stats, registry show / suspend / reinstate / reaffirm.

mod common;

use common::{example, json, text, Server};
use predicates::prelude::*;

#[test]
fn auditor_and_administrator_commands() {
    let s = Server::start();
    let submitted = json(
        s.as_("sandwell-childrens-trust", "request")
            .args(["--sub", "sw-4471", "--json", "submit", "--file"])
            .arg(example("request.toml")),
    );
    let id = submitted["exchange_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!id.is_empty(), "{submitted}");

    // Registry: everyone reads it.
    s.as_("nspcc", "registry")
        .args(["show"])
        .assert()
        .success()
        .stdout(predicate::str::contains("== Signatories"))
        .stdout(predicate::str::contains("s47-enquiry"))
        .stdout(predicate::str::contains("domestic-abuse"))
        .stdout(predicate::str::contains("== Consent by level of need"))
        .stdout(predicate::str::contains("not_required"))
        .stdout(predicate::str::contains("safeguarding_children"))
        .stdout(predicate::str::contains("ca1989_s47 (duty)"));
    let p = json(
        s.as_("nspcc", "registry")
            .args(["--json", "show", "sandwell-scsp-isp"]),
    );
    assert_eq!(p["id"], "sandwell-scsp-isp");
    // The JSON carries each purpose's terms, the consent rule's three states by name.
    let s47 = p["purposes"]
        .as_array()
        .and_then(|a| a.iter().find(|u| u["id"] == "s47-enquiry"))
        .cloned()
        .unwrap_or_default();
    let states: Vec<&str> = s47["consent_rules"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["requirement"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        states,
        [
            "CONSENT_REQUIREMENT_EXPLICIT",
            "CONSENT_REQUIREMENT_SOUGHT",
            "CONSENT_REQUIREMENT_NOT_REQUIRED",
            "CONSENT_REQUIREMENT_NOT_REQUIRED"
        ],
        "{s47}"
    );
    assert_eq!(
        s47["special_conditions"][0], "SPECIAL_CATEGORY_CONDITION_SAFEGUARDING_CHILDREN",
        "{s47}"
    );
    assert_eq!(
        s47["approving_roles_without_consent"],
        serde_json::json!([])
    );
    assert_eq!(s47["duty_gateways"][0], "STATUTORY_GATEWAY_CA1989_S47");
    assert!(
        s47["allowed_categories"][0]["description"].is_string(),
        "{s47}"
    );

    // Admin changes; a practitioner may not make them.
    s.as_("sandwell-council", "registry")
        .args([
            "--role",
            "practitioner",
            "suspend",
            "nspcc",
            "--reason",
            "breach",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("PERMISSION_DENIED"));
    s.as_("sandwell-council", "registry")
        .args(["--sub", "scsp-admin", "suspend", "nspcc"])
        .args([
            "--reason",
            "Data breach reported on 2 November; under review",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("nspcc suspended"))
        .stdout(predicate::str::contains("suspended: Data breach"));
    // A suspended agency's calls are refused.
    s.as_("nspcc", "registry")
        .args(["show"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("PERMISSION_DENIED"));
    s.as_("sandwell-council", "registry")
        .args([
            "--sub",
            "scsp-admin",
            "reinstate",
            "nspcc",
            "--reason",
            "Review complete",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("nspcc reinstated"));
    let today = time::OffsetDateTime::now_utc().date();
    s.as_("sandwell-council", "registry")
        .args(["--sub", "scsp-admin", "reaffirm", "nspcc"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("re-affirmed on {today}")));

    // Audit: query, filters, verify, export, stats.
    let all = text(s.as_("sandwell-council", "audit").args(["query", "--all"]));
    assert!(all.contains("SEQ"), "{all}");
    assert!(all.contains("awaiting_approval"), "{all}");
    let q = json(
        s.as_("sandwell-council", "audit")
            .args(["--json", "query", "--exchange", &id]),
    );
    let entries = q["entries"].as_array().cloned().unwrap_or_default();
    assert!(!entries.is_empty(), "{q}");
    assert!(
        entries.iter().all(|e| e["exchange_id"] == id.as_str()),
        "{q}"
    );
    let by_child = json(s.as_("sandwell-council", "audit").args([
        "--json",
        "query",
        "--child-id",
        "nhs_number=9434765919",
    ]));
    assert!(
        by_child["entries"]
            .as_array()
            .is_some_and(|e| !e.is_empty()),
        "the child is found by identifier: {by_child}"
    );
    let admin_changes = json(s.as_("sandwell-council", "audit").args([
        "--json",
        "query",
        "--from",
        "2020-01-01",
        "--limit",
        "2",
    ]));
    assert_eq!(admin_changes["entries"].as_array().map(Vec::len), Some(2));
    assert!(admin_changes["page"]["next_page_token"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));

    s.as_("sandwell-council", "audit")
        .args(["verify"])
        .assert()
        .success()
        .stdout(predicate::str::contains("OK: the log is intact"));
    let v = json(
        s.as_("sandwell-council", "audit")
            .args(["--json", "verify"]),
    );
    assert_eq!(v["ok"], true);

    let out = s.tmp.path().join("audit.jsonl");
    s.as_("sandwell-council", "audit")
        .args(["export", "--out"])
        .arg(&out)
        .assert()
        .success()
        .stderr(predicate::str::contains("exported"));
    let exported = std::fs::read_to_string(&out).unwrap_or_default();
    let lines: Vec<serde_json::Value> = exported
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(lines.len() >= 4, "{exported}");
    for w in lines.windows(2) {
        assert_eq!(w[1]["prev_hash"], w[0]["entry_hash"]);
    }

    s.as_("sandwell-council", "audit")
        .args(["stats"])
        .assert()
        .success()
        .stdout(predicate::str::contains("exchanges"))
        .stdout(predicate::str::contains("s47-enquiry"));

    // Auditors never read exchanges, even their own agency's.
    s.as_("sandwell-childrens-trust", "request")
        .args(["--role", "auditor", "show", &id])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("PERMISSION_DENIED"));
}
