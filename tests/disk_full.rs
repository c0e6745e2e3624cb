//! A real full disk under the command line: a ledger on a small tmpfs, appended to until
//! the disk is full, then given space again. Every acknowledged event must be there, the
//! ledger must open and verify, and no command may hang or print more than one line.
//! Needs root to mount the tmpfs (CI has it; elsewhere the test is skipped).

mod common;

use std::time::Duration;

use common::{careledger_within, Tmpfs};

/// A command that must finish: a hang is a failure.
const BOUND: Duration = Duration::from_secs(90);

/// `count` staff registrations, each with a long name (about 2 KiB), from `from` on.
fn staff_lines(tag: &str, from: usize, count: usize) -> String {
    (from..from + count)
        .map(|n| {
            serde_json::json!({
                "actor": format!("manager:m{n}"),
                "subject": null,
                "kind": "staff.registered",
                "occurred_at": "2026-11-01T10:00:00Z",
                "payload": {
                    "staff_id": format!("staff:{tag}{n}"),
                    "name": format!("Care Worker {n} {}", "x".repeat(2000)),
                    "role": "CareWorker",
                },
            })
            .to_string()
                + "\n"
        })
        .collect()
}

/// Runs `careledger ARGS` with `stdin`, bounded in time.
fn run(args: &[&str], stdin: &str) -> std::process::Output {
    let input = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(input.path(), stdin).unwrap();
    let mut all: Vec<&str> = args.to_vec();
    let path = input.path().to_str().unwrap().to_string();
    if !stdin.is_empty() {
        all.push(&path);
        return careledger_within(&all, BOUND);
    }
    careledger_within(args, BOUND)
}

#[test]
fn a_full_disk_under_the_cli_loses_nothing_acknowledged_and_never_hangs() {
    let Some(disk) = Tmpfs::mount(6) else { return };
    let data = disk.path.join("ledger");
    let data = data.to_str().unwrap();
    let out = run(
        &["init", "--data", data, "--origin", "test.careledger/full"],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The default floor (256 MiB) is far above this disk: refused at once, nothing written.
    let out = run(&["append", "--data", data], &staff_lines("a", 0, 10));
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("below the floor of 256 MiB") && said.contains("reads go on"),
        "{said}"
    );
    assert_eq!(said.lines().count(), 1, "{said}");

    // With no floor, append until the disk is full.
    let mut acknowledged: Vec<String> = Vec::new();
    let mut failures = 0;
    for round in 0..40 {
        let out = run(
            &["--free-space-floor", "0", "append", "--data", data],
            &staff_lines(&format!("r{round}s"), 0, 300),
        );
        // Each line on stdout is the sequence number of an acknowledged event.
        acknowledged.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string),
        );
        if !out.status.success() {
            assert_eq!(out.status.code(), Some(1), "round {round}");
            let said = String::from_utf8_lossy(&out.stderr);
            let last = said.lines().last().unwrap_or_default();
            assert!(last.starts_with("careledger: "), "round {round}: {said}");
            assert!(!said.contains("panicked"), "round {round}: {said}");
            failures += 1;
            if failures == 3 {
                break;
            }
        }
    }
    assert!(failures > 0, "the disk never filled");
    assert!(
        !acknowledged.is_empty(),
        "nothing was written before the disk filled"
    );
    let last_acked: u64 = acknowledged.last().unwrap().parse().unwrap();

    // Reading without writing works on the full disk.
    let out = run(&["verify", "--data", data], "");
    assert!(
        out.status.success(),
        "verify on a full disk: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Space freed: the ledger opens with every acknowledged event, verifies, and takes
    // appends again.
    disk.resize(64);
    let out = run(
        &[
            "log",
            "--data",
            data,
            "--from",
            &last_acked.to_string(),
            "--limit",
            "1",
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(line.contains(&format!("\"seq\":{last_acked}")), "{line}");
    let out = run(&["verify", "--data", data], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    let verified: u64 = said
        .strip_prefix("verified ")
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(verified > last_acked, "{said}");
    // Events written but not acknowledged (the write of their group failed after it
    // reached the file) may be there too; every acknowledged one is.
    assert!(verified >= acknowledged.len() as u64, "{said}");
    let out = run(
        &["--free-space-floor", "0", "append", "--data", data],
        &staff_lines("after", 0, 5),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
