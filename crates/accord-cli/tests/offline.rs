//! Commands that need no broker: `protocol check`, `dev init`, `dev token`.

mod common;

use common::{accord, repo};
use predicates::prelude::*;

#[test]
fn protocol_check_accepts_the_example_protocols() {
    let dir = repo().join("deploy/protocols");
    accord()
        .arg("protocol")
        .arg("check")
        .arg(dir.join("sandwell-partnership.toml"))
        .arg(dir.join("banes-guidance.toml"))
        .arg(dir.join("prevent-channel.toml"))
        .assert()
        .success()
        .stdout(predicate::str::contains("protocol sandwell-scsp-isp v1.0"))
        .stdout(predicate::str::contains("protocol banes-lscb-guidance"))
        .stdout(predicate::str::contains("protocol prevent-channel-isa"));
}

#[test]
fn protocol_check_reports_every_problem_of_a_broken_file() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(repo().join("deploy/protocols/sandwell-partnership.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let broken = text
        .replacen("capacity_age = 12", "capacity_age = \"twelve\"", 1)
        .replacen("kind = \"police\"", "kind = \"constabulary\"", 1);
    let path = tmp.path().join("broken.toml");
    std::fs::write(&path, broken).unwrap_or_else(|e| panic!("{e}"));
    accord()
        .args(["protocol", "check"])
        .arg(&path)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("FAIL"))
        .stderr(predicate::str::contains("2 problem(s)"))
        .stderr(predicate::str::contains("capacity_age"))
        .stderr(predicate::str::contains("constabulary"));
    // The JSON form names each problem's key.
    let out = accord()
        .args(["protocol", "check", "--json"])
        .arg(&path)
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v[0]["ok"], false);
    assert_eq!(v[0]["problems"].as_array().map(Vec::len), Some(2));
}

#[test]
fn dev_init_creates_certificates_keys_and_a_configuration() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = tmp.path().join("dev");
    accord()
        .args(["dev", "init"])
        .arg(&dir)
        .assert()
        .success()
        .stdout(predicate::str::contains("broker configuration"))
        .stdout(predicate::str::contains("west-midlands-police"))
        .stdout(predicate::str::contains("accord serve --config"));
    for f in [
        "accord.toml",
        "ca.pem",
        "ca.key",
        "server.pem",
        "server.key",
        "keys/audit.key",
        "keys/content.key",
        "keys/signing.pem",
        "protocols/sandwell-partnership.toml",
        "protocols/banes-guidance.toml",
        "protocols/prevent-channel.toml",
        "agencies/west-midlands-police/client.pem",
        "agencies/west-midlands-police/client.key",
        "agencies/west-midlands-police/jwt.key",
        "agencies/west-midlands-police/jwt.pub.pem",
        "agencies/nspcc/client.pem",
    ] {
        assert!(dir.join(f).is_file(), "{f} was not created");
    }
    let config = std::fs::read_to_string(dir.join("accord.toml")).unwrap_or_default();
    assert!(config.contains("sqlite://accord.db"), "{config}");
    assert!(
        config.contains("protocols/sandwell-partnership.toml"),
        "{config}"
    );

    // A second init does not overwrite keys the database depends on...
    accord()
        .args(["dev", "init"])
        .arg(&dir)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "already holds a development setup",
        ))
        .stderr(predicate::str::contains("--force"));
    // ...unless asked to, and another protocol can be chosen by name.
    let out = accord()
        .args([
            "dev",
            "init",
            "--force",
            "--json",
            "--protocol",
            "banes-guidance",
        ])
        .arg(&dir)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v["protocol_id"], "banes-lscb-guidance");
    assert_eq!(v["agencies"].as_array().map(Vec::len), Some(7));

    accord()
        .args(["dev", "init", "--protocol", "nowhere"])
        .arg(tmp.path().join("other"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "sandwell-partnership, banes-guidance, prevent-channel",
        ));
}

#[test]
fn dev_token_prints_a_jwt_that_verifies() {
    let tmp = common::dev_setup();
    let dir = tmp.path().join("dev");
    let out = accord()
        .args([
            "dev",
            "token",
            "--agency",
            "west-midlands-police",
            "--role",
            "ig_lead,auditor",
        ])
        .args([
            "--sub",
            "ig-patel",
            "--name",
            "Ravi Patel",
            "--ttl",
            "30m",
            "--dir",
        ])
        .arg(&dir)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let token = String::from_utf8_lossy(&out).trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "{token}");

    let public = std::fs::read(dir.join("agencies/west-midlands-police/jwt.pub.pem"))
        .unwrap_or_else(|e| panic!("{e}"));
    let key = jsonwebtoken::DecodingKey::from_ed_pem(&public).unwrap_or_else(|e| panic!("{e}"));
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&["accord"]);
    validation.set_issuer(&["https://id.west-midlands-police.example/"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation)
        .unwrap_or_else(|e| panic!("the token does not verify: {e}"));
    let c = data.claims;
    assert_eq!(c["sub"], "ig-patel");
    assert_eq!(c["agency"], "west-midlands-police");
    assert_eq!(c["roles"], serde_json::json!(["ig_lead", "auditor"]));
    assert_eq!(c["name"], "Ravi Patel");
    let lifetime = c["exp"].as_i64().unwrap_or(0) - c["iat"].as_i64().unwrap_or(0);
    assert_eq!(lifetime, 30 * 60);

    // Another agency's key does not verify it.
    let other = std::fs::read(dir.join("agencies/nspcc/jwt.pub.pem")).unwrap_or_default();
    let other = jsonwebtoken::DecodingKey::from_ed_pem(&other).unwrap_or_else(|e| panic!("{e}"));
    assert!(jsonwebtoken::decode::<serde_json::Value>(&token, &other, &validation).is_err());

    accord()
        .args([
            "dev", "token", "--agency", "nobody", "--role", "admin", "--dir",
        ])
        .arg(&dir)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("agencies there: sandwell-council"));
    accord()
        .args([
            "dev", "token", "--agency", "nspcc", "--role", "boss", "--dir",
        ])
        .arg(&dir)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not a role"));
}

#[test]
fn client_commands_say_what_credentials_are_missing() {
    accord()
        .args(["request", "list"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("missing --ca (ACCORD_CA)"))
        .stderr(predicate::str::contains("--dev DIR --agency ID"));
    accord()
        .args([
            "audit",
            "verify",
            "--dev",
            "/nonexistent/dev",
            "--agency",
            "x",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("accord dev init"));
}
