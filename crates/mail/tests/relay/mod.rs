//! A real SMTP relay for tests: `smtp_server.py` (aiosmtpd, STARTTLS required, a test CA)
//! in a folder of its own, until dropped. Shared by this crate's tests and the binary's
//! (`tests/email.rs`, through `#[path]`).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Whether Python with aiosmtpd and cryptography is here; under CI (which installs them)
/// their absence fails the test rather than skipping it.
pub fn smtp_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd, cryptography"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with aiosmtpd and cryptography is needed (.ci/run installs them)"
        );
        eprintln!("skipped: python3 with aiosmtpd and cryptography is not installed");
    }
    ok
}

/// The relay, listening on `port`, writing what it receives under `dir`.
pub struct Relay {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Drop for Relay {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// The server's script, from this crate's tests or the workspace root's.
fn script() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        here.join("tests/smtp_server.py"),
        here.join("crates/mail/tests/smtp_server.py"),
    ]
    .into_iter()
    .find(|p| p.exists())
    .expect("crates/mail/tests/smtp_server.py")
}

impl Relay {
    /// Starts the relay in `mode` (accept, fail-first:N, reject, plain).
    pub fn start(mode: &str) -> Relay {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("python3")
            .arg(script())
            .arg(dir.path())
            .args(["--mode", mode])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // aiosmtpd logs each refused handshake with a traceback: kept beside the mail.
            .stderr(std::fs::File::create(dir.path().join("server.log")).unwrap())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("the SMTP server said {line:?}"))
            .trim()
            .parse()
            .unwrap();
        Relay { child, port, dir }
    }

    /// Writes a configuration for this relay (STARTTLS, its account, its test CA, a
    /// `[secure]` tag, a 1 s first wait) with `extra` JSON fields; its path.
    pub fn config(&self, extra: &str) -> PathBuf {
        let dir = self.dir.path();
        std::fs::write(dir.join("password"), b"relay-password-1\n").unwrap();
        let path = dir.join("mail.json");
        std::fs::write(
            &path,
            format!(
                r#"{{"relay": "localhost", "port": {}, "security": "starttls",
                    "username": "care@test.example", "password_file": "password",
                    "from": "Sunrise Home Care <care@test.example>", "subject_tag": "[secure]",
                    "ca_file": "ca.pem", "retry_first_seconds": 1{extra}}}"#,
                self.port
            ),
        )
        .unwrap();
        path
    }

    /// The folders of the messages received so far, in order.
    pub fn received(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("messages"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("message.json").exists())
            .collect();
        out.sort();
        out
    }
}
