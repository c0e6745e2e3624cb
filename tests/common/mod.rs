//! Running the `careledger` binary from the end-to-end tests, as a user would.
#![allow(dead_code)]

pub mod server;

use std::process::{Command, Output, Stdio};

/// Starts `careledger ARGS` without `CARELEDGER_DATA`, stdout and stderr piped.
pub fn spawn(args: &[&str], stdin: Stdio) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_careledger"))
        .args(args)
        .env_remove("CARELEDGER_DATA")
        .env_remove("CARELEDGER_MASTER_KEY_FILE")
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs `careledger ARGS`, feeding `stdin` (or nothing), without `CARELEDGER_DATA`.
pub fn careledger(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = spawn(args, Stdio::piped());
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

/// Stdout of a command that must succeed.
pub fn ok(args: &[&str], stdin: Option<&str>) -> String {
    let out = careledger(args, stdin);
    assert!(
        out.status.success(),
        "careledger {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Exit code and stderr of a command that must fail (and print nothing on stdout).
pub fn err(args: &[&str], stdin: Option<&str>) -> (i32, String) {
    let out = careledger(args, stdin);
    assert!(
        !out.status.success(),
        "careledger {args:?} should have failed"
    );
    assert!(out.stdout.is_empty(), "{args:?} printed on failure");
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Runs `careledger ARGS` like [`careledger`], but kills it and fails the test if it has
/// not finished within `limit` (for commands that might wrongly keep running, such as a
/// `serve` that should have refused to start).
pub fn careledger_within(args: &[&str], limit: std::time::Duration) -> Output {
    use std::io::Read;
    let mut child = spawn(args, Stdio::null());
    // Drain both pipes while waiting, so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = out.read_to_end(&mut bytes);
        bytes
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = err.read_to_end(&mut bytes);
        bytes
    });
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("careledger {args:?} still running after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// A small tmpfs mounted for a test (a real disk that fills up), unmounted on drop.
/// Mounting needs root: without it the test is skipped, except in CI (`CI` set), where
/// `.ci/run` runs as root and a failure to mount is a failure.
pub struct Tmpfs {
    pub path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    pub fn mount(mib: u64) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::create_dir_all(&path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&path)
            .stderr(Stdio::null())
            .status();
        if !status.is_ok_and(|s| s.success()) {
            assert!(
                std::env::var_os("CI").is_none(),
                "mounting a tmpfs failed; CI runs the tests as root"
            );
            eprintln!("skipping: mounting a tmpfs needs root");
            return None;
        }
        Some(Tmpfs { path, _dir: dir })
    }

    /// Frees space: grows the file system to `mib`.
    pub fn resize(&self, mib: u64) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={mib}m")])
            .arg(&self.path)
            .status()
            .unwrap();
        assert!(status.success(), "remounting the tmpfs failed");
    }

    pub fn free_bytes(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.path)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// A copy of the folder `from` at `to`.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    careledger_store::tamper::copy_dir(from, to).unwrap();
}
