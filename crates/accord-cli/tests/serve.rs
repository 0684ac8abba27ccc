//! `accord serve`: configuration errors (exit 64), the `listening on` line, and a graceful
//! shutdown on SIGTERM.

mod common;

use common::{accord, Server};
use predicates::prelude::*;

#[test]
fn serve_with_a_bad_config_exits_64_and_lists_every_problem() {
    let tmp = common::dev_setup();
    let config = tmp.path().join("dev/accord.toml");
    let text = std::fs::read_to_string(&config).unwrap_or_default();
    let bad = text
        .replacen("listen = \"127.0.0.1:7443\"", "listen = \"nowhere\"", 1)
        .replacen("leeway_seconds = 30", "leeway_seconds = 30\nlee_way = 1", 1);
    std::fs::write(&config, bad).unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_file(tmp.path().join("dev/server.key")).unwrap_or_else(|e| panic!("{e}"));
    accord()
        .args(["serve", "--config"])
        .arg(&config)
        .env("ACCORD_STORE_MAX_BATCH", "many")
        .assert()
        .code(64)
        .stderr(predicate::str::contains("problem(s) in the configuration"))
        .stderr(predicate::str::contains(
            "listen: \"nowhere\" is not a socket address",
        ))
        .stderr(predicate::str::contains("auth.lee_way: unknown key"))
        .stderr(predicate::str::contains("tls.server_key: cannot read"))
        .stderr(predicate::str::contains(
            "store.max_batch (ACCORD_STORE_MAX_BATCH): must be a whole number",
        ));
}

#[test]
fn serve_without_a_config_explains_dev_init() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    accord()
        .arg("serve")
        .current_dir(tmp.path())
        .assert()
        .code(64)
        .stderr(predicate::str::contains("accord dev init"));
    accord()
        .args(["serve", "--config", "missing.toml"])
        .current_dir(tmp.path())
        .assert()
        .code(64)
        .stderr(predicate::str::contains("cannot read missing.toml"));
}

#[test]
fn serve_listens_answers_and_drains_on_sigterm() {
    let mut server = Server::start();
    assert!(server.addr.starts_with("127.0.0.1:"), "{}", server.addr);
    assert!(!server.addr.ends_with(":0"), "the real port is printed");
    server
        .as_("sandwell-council", "registry")
        .arg("show")
        .assert()
        .success()
        .stdout(predicate::str::contains("sandwell-scsp-isp"));

    let pid = server.child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(killed.success());
    let status = server.child.wait().unwrap_or_else(|e| panic!("{e}"));
    let log = server.log_text();
    assert!(status.success(), "exit {status:?}\n{log}");
    assert!(log.contains("draining"), "{log}");
    assert!(log.contains("accord stopped"), "{log}");
}
