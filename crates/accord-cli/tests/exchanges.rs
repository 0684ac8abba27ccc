//! The client commands of agency systems and IG leads against a real `accord serve`: request
//! submit / list / show / answer / escalate / withdraw, approvals list / decide, response
//! submit / fetch / ack, inbox watch (with and without --follow).

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::{example, json, text, Server};
use predicates::prelude::*;

const TRUST: &str = "sandwell-childrens-trust";
const POLICE: &str = "west-midlands-police";

fn state(v: &serde_json::Value) -> String {
    v["state"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn requests_decisions_responses_and_the_inbox() {
    let s = Server::start();

    // Follow the police inbox from the start, in the background.
    let mut follower = s
        .std_as(POLICE, "inbox")
        .args(["--role", "ig_lead", "watch", "--follow", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));

    // A request from the example file, as the trust's social worker.
    let submitted = json(
        s.as_(TRUST, "request")
            .args(["--sub", "sw-4471", "--json", "submit", "--file"])
            .arg(example("request.toml")),
    );
    let id = submitted["exchange_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        state(&submitted),
        "EXCHANGE_STATE_AWAITING_APPROVAL",
        "{submitted}"
    );
    assert_eq!(
        submitted["assessment"]["proposed_scope"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );

    // The follower sees it arrive (read on a thread, so a silent stream fails the test instead
    // of hanging it).
    let stdout = follower
        .stdout
        .take()
        .unwrap_or_else(|| panic!("no stdout"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let line = BufReader::new(stdout).lines().next().and_then(Result::ok);
        let _ = tx.send(line);
    });
    let first = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            let _ = follower.kill();
            panic!("inbox --follow printed nothing")
        });
    let event: serde_json::Value =
        serde_json::from_str(&first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert_eq!(event["exchange_id"], id.as_str());
    assert_eq!(event["kind"], "INBOX_EVENT_KIND_REQUEST_RECEIVED");
    let _ = follower.kill();
    let _ = follower.wait();

    // A request from flags: early help without consent is refused, with its reasons.
    s.as_("sandwell-schools", "request")
        .args([
            "submit",
            "--holder",
            "sandwell-council",
            "--purpose",
            "early-help",
        ])
        .args(["--level", "early_help", "--urgency", "routine"])
        .args([
            "--child-name",
            "Leo Example",
            "--child-dob",
            "2016-09-02",
            "--child-id",
            "nhs_number=4857773456",
        ])
        .args(["--category", "early-help-involvement=Whether a plan exists"])
        .args([
            "--justification",
            "Falling attendance",
            "--expected-outcome",
            "Coordinated support",
        ])
        .args([
            "--risk",
            "Signs of neglect",
            "--basis",
            "public_task",
            "--special-condition",
            "none",
        ])
        .args([
            "--consent",
            "not_sought",
            "--not-sought-reason",
            "unjustified_delay",
            "--inform",
        ])
        .args([
            "--practitioner-name",
            "Grace Okoro",
            "--job-title",
            "DSL",
            "--contact",
            "dsl@school.example",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("refused"))
        .stdout(predicate::str::contains("R06-explicit-consent-required"))
        .stdout(predicate::str::contains("002 App.2"));

    // An incomplete request never reaches the broker: every missing key at once.
    s.as_(TRUST, "request")
        .args(["submit", "--holder", POLICE])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("missing purpose_id (--purpose)"))
        .stderr(predicate::str::contains(
            "missing consent.status (--consent)",
        ));

    // Lists, detail, inbox, pending.
    s.as_(POLICE, "request")
        .args(["list", "--as", "holder"])
        .assert()
        .success()
        .stdout(predicate::str::contains(&id))
        .stdout(predicate::str::contains("awaiting_approval"));
    let listed =
        json(
            s.as_(TRUST, "request")
                .args(["list", "--state", "awaiting_approval", "--json"]),
        );
    assert_eq!(
        listed["exchanges"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    s.as_(TRUST, "request")
        .args(["show", &id])
        .assert()
        .success()
        .stdout(predicate::str::contains("domestic-abuse"))
        .stdout(predicate::str::contains("== Check"))
        .stdout(predicate::str::contains("Sam Okafor"));
    s.as_(POLICE, "inbox")
        .args(["--role", "ig_lead", "watch"])
        .assert()
        .success()
        .stdout(predicate::str::contains("request_received"))
        .stdout(predicate::str::contains("resume with: --after"));
    s.as_(POLICE, "approvals")
        .args(["list"])
        .assert()
        .success()
        .stdout(predicate::str::contains(&id));

    // Ask, answer, approve part, respond, fetch, acknowledge.
    s.as_(POLICE, "approvals")
        .args(["--sub", "ig-patel", "decide", &id])
        .args(["--ask", "Has the family been referred to MARAC?"])
        .assert()
        .success()
        .stdout(predicate::str::contains("more_info_requested"));
    s.as_(TRUST, "request")
        .args([
            "--sub",
            "sw-4471",
            "answer",
            &id,
            "--answer",
            "Not yet; the strategy meeting decides.",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("awaiting_approval"));
    let decided = json(
        s.as_(POLICE, "approvals")
            .args(["--sub", "ig-patel", "--json", "decide", &id])
            .args([
                "--approve-part",
                "domestic-abuse,household-and-relationships",
            ])
            .args([
                "--condition",
                "no_onward_disclosure",
                "--condition",
                "retention_days=30",
            ])
            .args([
                "--condition",
                "For the strategy meeting only",
                "--note",
                "Offending history not needed",
            ]),
    );
    assert_eq!(
        state(&decided),
        "EXCHANGE_STATE_PARTLY_APPROVED",
        "{decided}"
    );
    assert_eq!(decided["conditions"]["retention_days"], 30);
    assert_eq!(
        decided["conditions"]["other"],
        "For the strategy meeting only"
    );
    s.as_(POLICE, "response")
        .args(["--sub", "pc-2231", "submit", &id, "--file"])
        .arg(example("response.toml"))
        .assert()
        .success()
        .stdout(predicate::str::contains("responded"))
        .stdout(predicate::str::contains("content sha-256"));
    let out = s.tmp.path().join("response.json");
    s.as_(TRUST, "response")
        .args(["--sub", "sw-4471", "fetch", &id, "--out"])
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("delivered"))
        .stdout(predicate::str::contains("opinion"))
        .stdout(predicate::str::contains("(historical)"));
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(saved["response"]["items"].as_array().map(Vec::len), Some(3));
    s.as_(TRUST, "response")
        .args([
            "--sub",
            "sw-4471",
            "ack",
            &id,
            "--note",
            "Safety plan agreed",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("acknowledged"));

    // Decline and dispute; then withdraw another.
    let second = json(
        s.as_(TRUST, "request")
            .args(["--sub", "sw-4471", "--json", "submit", "--file"])
            .arg(example("request.toml"))
            .args([
                "--purpose",
                "child-in-need-assessment",
                "--level",
                "child_in_need",
            ])
            .args([
                "--category",
                "household-and-relationships=Who lives at the address",
            ])
            .args([
                "--gateway",
                "ca1989_s17",
                "--consent",
                "obtained",
                "--consent-by",
                "parental_responsibility",
            ])
            .args([
                "--consent-name",
                "Jo Example",
                "--consent-on",
                "2026-01-05",
                "--explicit",
            ])
            .args([
                "--consent-scope",
                "Household information for the assessment",
            ]),
    );
    let id2 = second["exchange_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        state(&second),
        "EXCHANGE_STATE_AWAITING_APPROVAL",
        "{second}"
    );
    s.as_(POLICE, "approvals")
        .args([
            "--sub",
            "ig-patel",
            "decide",
            &id2,
            "--decline",
            "Not held by the police",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("declined"));
    s.as_(TRUST, "request")
        .args([
            "--sub",
            "sw-4471",
            "escalate",
            &id2,
            "--reason",
            "Officers attended twice",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("escalated"));

    let third = json(
        s.as_(TRUST, "request")
            .args(["--sub", "sw-4471", "--json", "submit", "--file"])
            .arg(example("request.toml")),
    );
    let id3 = third["exchange_id"].as_str().unwrap_or_default().to_owned();
    s.as_(TRUST, "request")
        .args([
            "--sub",
            "sw-4471",
            "withdraw",
            &id3,
            "--reason",
            "Family moved out of area",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("withdrawn"));

    // Errors from the broker say what failed and what to do.
    s.as_(TRUST, "approvals")
        .args(["--role", "ig_lead", "decide", &id3, "--approve"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("Decide failed"))
        .stderr(predicate::str::contains("hint:"));
    s.as_(TRUST, "request")
        .args(["show", "not-an-id"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "GetExchange failed: INVALID_ARGUMENT",
        ));

    // Everything in one list.
    let all = text(s.as_(TRUST, "request").args(["list", "--all"]));
    for x in [&id, &id2, &id3] {
        assert!(all.contains(x.as_str()), "{x} missing from\n{all}");
    }
}
