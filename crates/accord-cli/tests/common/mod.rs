//! Helpers for the CLI tests: the real `accord` binary, a development setup in a temporary
//! directory, and `accord serve` on 127.0.0.1:0 as a child process.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_accord");

/// Environment variables the tests must not inherit.
const CLEARED: &[&str] = &[
    "ACCORD_SERVER",
    "ACCORD_CA",
    "ACCORD_CERT",
    "ACCORD_KEY",
    "ACCORD_TOKEN",
    "ACCORD_DEV",
    "ACCORD_AGENCY",
    "ACCORD_ROLE",
    "ACCORD_SUB",
    "ACCORD_CONFIG",
    "ACCORD_LISTEN",
    "ACCORD_DATABASE_URL",
    "ACCORD_STORE_DATABASE_URL",
];

/// `accord` with a clean environment.
pub fn accord() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::new(BIN);
    for v in CLEARED {
        c.env_remove(v);
    }
    c
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `accord dev init DIR` into a fresh temporary directory.
pub fn dev_setup() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    accord()
        .arg("dev")
        .arg("init")
        .arg(tmp.path().join("dev"))
        .assert()
        .success();
    tmp
}

/// A broker started with `accord serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub tmp: tempfile::TempDir,
    pub log: PathBuf,
}

impl Server {
    /// `accord dev init` into a temporary directory, then `accord serve --config
    /// DIR/accord.toml --listen 127.0.0.1:0`; returns once it has printed `listening on`.
    pub fn start() -> Server {
        let tmp = dev_setup();
        let log = tmp.path().join("serve.log");
        let stderr = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{e}"));
        let mut cmd = Command::new(BIN);
        for v in CLEARED {
            cmd.env_remove(v);
        }
        let mut child = cmd
            .arg("serve")
            .arg("--config")
            .arg(tmp.path().join("dev/accord.toml"))
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start accord serve: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(a) = line.strip_prefix("listening on ") {
                        break a.trim().to_owned();
                    }
                }
                _ => {
                    let _ = child.kill();
                    panic!(
                        "accord serve ended before listening:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
            }
        };
        Server {
            child,
            addr,
            tmp,
            log,
        }
    }

    pub fn dev(&self) -> PathBuf {
        self.tmp.path().join("dev")
    }

    /// `accord GROUP` connected to this server through the development setup, acting for
    /// `agency` (the connection options belong to the command group).
    pub fn as_(&self, agency: &str, group: &str) -> assert_cmd::Command {
        let mut c = accord();
        c.arg(group)
            .arg("--server")
            .arg(format!("https://{}", self.addr))
            .arg("--dev")
            .arg(self.dev())
            .arg("--agency")
            .arg(agency);
        c
    }

    /// The same, as a `std::process::Command` (for long-running children).
    pub fn std_as(&self, agency: &str, group: &str) -> Command {
        let mut c = Command::new(BIN);
        for v in CLEARED {
            c.env_remove(v);
        }
        c.arg(group)
            .arg("--server")
            .arg(format!("https://{}", self.addr))
            .arg("--dev")
            .arg(self.dev())
            .arg("--agency")
            .arg(agency);
        c
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Standard output of a successful command as JSON.
pub fn json(cmd: &mut assert_cmd::Command) -> serde_json::Value {
    let out = cmd.assert().success().get_output().stdout.clone();
    serde_json::from_slice(&out)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", String::from_utf8_lossy(&out)))
}

/// Standard output of a successful command as text.
pub fn text(cmd: &mut assert_cmd::Command) -> String {
    let out = cmd.assert().success().get_output().stdout.clone();
    String::from_utf8_lossy(&out).into_owned()
}

/// The example files shipped with the CLI.
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}
