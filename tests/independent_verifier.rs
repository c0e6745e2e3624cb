//! tools/verify_export.py, written from docs/FORMAT.md alone, must agree with careledger:
//! it accepts what `careledger verify` accepts, with the same root, checks the proofs that
//! `careledger prove` prints, and names an altered event.

mod common;

use common::ok as careledger;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Whether the independent verifier can run here; in CI it must.
fn python_ready() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import blake3, cryptography"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "python3 with blake3 and cryptography is missing; .ci/run installs them"
    );
    if !ok {
        // To the process's own stderr: libtest keeps a passing test's `eprintln!` to itself,
        // which would hide that the agreement was not checked at all.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED the independent verifier: python3 with blake3 and cryptography is not \
             installed here (pip install blake3 cryptography); with CI set this fails"
        );
    }
    ok
}

fn verifier(dir: &Path, args: &[String]) -> Output {
    Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tools/verify_export.py"
        ))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Event `n` of a run of valid care events, every one carrying the marker `#NNNN` in a
/// text field: staff registered (no subject) when n % 3 == 0, a person registered when
/// n % 3 == 1, and that person's care started when n % 3 == 2.
fn event(n: usize) -> serde_json::Value {
    let marker = format!("#{n:04}");
    let (subject, kind, payload) = match n % 3 {
        0 => (
            None,
            "staff.registered",
            serde_json::json!({
                "staff_id": format!("staff:s{n}"),
                "name": format!("Care Worker {marker}"),
                "role": "CareWorker",
            }),
        ),
        1 => (
            Some(format!("person:p{n}")),
            "person.registered",
            serde_json::json!({
                "name": format!("Person {marker}"),
                "date_of_birth": "1938-07-14",
                "nhs_number": null,
                "address": "2 Mill Lane",
                "gp_practice": "Riverside Surgery",
                "allergies": ["penicillin"],
            }),
        ),
        _ => (
            Some(format!("person:p{}", n - 1)),
            "care.started",
            serde_json::json!({"service": format!("home care {marker}")}),
        ),
    };
    serde_json::json!({
        "actor": format!("manager:m{}", n % 4),
        "subject": subject,
        "kind": kind,
        "occurred_at": "2025-11-25T10:00:00Z",
        "payload": payload,
    })
}

fn events(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|n| event(n).to_string() + "\n")
        .collect()
}

#[test]
fn the_independent_verifier_agrees_with_careledger() {
    if !python_ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("ledger");
    let data = data.to_str().unwrap();
    careledger(
        &[
            "init",
            "--data",
            data,
            "--origin",
            "test.careledger/independent",
        ],
        None,
    );
    // Several appends, so the ledger holds chunks of several sizes.
    let mut appended = 0;
    for count in [1, 150, 7, 64, 300] {
        careledger(&["append", "--data", data], Some(&events(appended, count)));
        appended += count;
    }
    let size = appended.to_string();
    careledger(
        &[
            "export",
            "--data",
            data,
            "--out",
            dir.join("ledger.export").to_str().unwrap(),
        ],
        None,
    );
    std::fs::write(
        dir.join("checkpoint.txt"),
        careledger(&["checkpoint", "--data", data], None),
    )
    .unwrap();
    let key = careledger(&["key", "--data", data], None)
        .trim()
        .to_string();
    let mut args = vec![
        "--export".to_string(),
        "ledger.export".into(),
        "--checkpoint".into(),
        "checkpoint.txt".into(),
        "--key".into(),
        key.clone(),
    ];
    for (i, (seq, tree_size)) in [
        (0, None),
        (150, None),
        (521, None),
        (63, Some("64")),
        (200, Some("300")),
    ]
    .into_iter()
    .enumerate()
    {
        let mut prove = vec!["prove", "inclusion", "--data", data, "--seq"];
        let seq = seq.to_string();
        prove.push(&seq);
        if let Some(s) = tree_size {
            prove.extend(["--size", s]);
        }
        let file = format!("inclusion{i}.json");
        std::fs::write(dir.join(&file), careledger(&prove, None)).unwrap();
        args.extend(["--inclusion".into(), file]);
        let raw = careledger(&["show", "--data", data, "--seq", &seq, "--raw"], None);
        args.extend(["--show-raw".into(), format!("{seq}={}", raw.trim())]);
    }
    for (i, (from, to)) in [("1", size.as_str()), ("151", "222"), ("64", "128")]
        .into_iter()
        .enumerate()
    {
        let file = format!("consistency{i}.json");
        std::fs::write(
            dir.join(&file),
            careledger(
                &[
                    "prove",
                    "consistency",
                    "--data",
                    data,
                    "--from",
                    from,
                    "--to",
                    to,
                ],
                None,
            ),
        )
        .unwrap();
        args.extend(["--consistency".into(), file]);
    }
    let out = verifier(dir, &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "independent verifier refused careledger's ledger: {}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    // Both name the same root.
    let verified = careledger(&["verify", "--data", data], None);
    let root = verified
        .split("root ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert!(
        stdout.contains(root),
        "roots differ: {stdout} vs {verified}"
    );
    assert!(
        stdout.contains(&format!("{appended} events verified")),
        "{stdout}"
    );
    assert!(
        stdout.contains("5 inclusion and 3 consistency proofs"),
        "{stdout}"
    );

    // One altered payload byte in the export: refused, and the event named.
    let mut export = std::fs::read(dir.join("ledger.export")).unwrap();
    // Event 300 registers a member of staff named "Care Worker #0300".
    let needle = b"#0300";
    let found: Vec<usize> = export
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| w == needle)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(found.len(), 1, "the marker is in event 300's payload only");
    let at = found[0];
    export[at + 3] ^= 0x01;
    std::fs::write(dir.join("altered.export"), export).unwrap();
    args[1] = "altered.export".into();
    let out = verifier(dir, &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an altered export was accepted");
    assert!(stderr.contains("event 300"), "{stderr}");
}
