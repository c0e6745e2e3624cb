//! The `careledger` binary, run as a user would run it.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use careledger_log::merkle::{verify_consistency, verify_inclusion, Blake3Hasher, TreeHasher};
use careledger_log::{Checkpoint, Envelope, NoteVerifier};

fn careledger(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_careledger"));
    cmd.args(args)
        .env_remove("CARELEDGER_DATA")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

fn ok(args: &[&str], stdin: Option<&str>) -> String {
    let out = careledger(args, stdin);
    assert!(
        out.status.success(),
        "careledger {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn err(args: &[&str], stdin: Option<&str>) -> (i32, String) {
    let out = careledger(args, stdin);
    assert!(
        !out.status.success(),
        "careledger {args:?} should have failed"
    );
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn line(n: usize, subject: &str) -> String {
    format!(
        r#"{{"actor":"staff:s{n}","subject":"{subject}","kind":"visit.started","occurred_at":"2026-11-25T09:{:02}:00Z","payload":{{"n":{n}}}}}"#,
        n % 60
    )
}

fn init(dir: &Path) -> String {
    let data = dir.join("ledger");
    ok(
        &[
            "init",
            "--data",
            data.to_str().unwrap(),
            "--origin",
            "test.careledger/cli",
        ],
        None,
    );
    data.to_str().unwrap().to_string()
}

#[test]
fn append_log_and_show() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    let input: String = (0..5)
        .map(|n| line(n, if n % 2 == 0 { "person:a" } else { "person:b" }) + "\n")
        .collect();
    let seqs = ok(&["append", "--data", &data], Some(&input));
    assert_eq!(seqs, "0\n1\n2\n3\n4\n");
    let listed = ok(&["log", "--data", &data, "--subject", "person:a"], None);
    let events: Vec<serde_json::Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        events
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![0, 2, 4]
    );
    assert_eq!(events[1]["payload"], serde_json::json!({"n": 2}));
    assert_eq!(events[1]["payload_erased"], false);
    assert_eq!(events[1]["occurred_at"], "2026-11-25T09:02:00.000000Z");
    let page = ok(
        &["log", "--data", &data, "--from", "3", "--limit", "1"],
        None,
    );
    assert_eq!(page.lines().count(), 1);
    assert!(page.contains("\"seq\":3"));
    let raw = ok(&["show", "--data", &data, "--seq", "3", "--raw"], None);
    let envelope = Envelope::decode(&B64.decode(raw.trim()).unwrap()).unwrap();
    assert_eq!((envelope.seq, envelope.actor.as_str()), (3, "staff:s3"));
}

#[test]
fn a_malformed_line_is_refused_by_number_and_nothing_is_appended() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    let big_payload = format!(
        r#"{{"actor":"a","kind":"k","occurred_at":"2026-01-01T00:00:00Z","payload":"{}"}}"#,
        "x".repeat(70_010)
    );
    let cases = [
        ("{not json}", "line 3:"),
        (
            r#"{"actor":"a","kind":"k","occurred_at":"yesterday","payload":1}"#,
            "line 3: occurred_at",
        ),
        (
            r#"{"actor":"a","kind":"k","occurred_at":"2026-01-01T00:00:00Z","payload":1,"x":1}"#,
            "unknown field `x`",
        ),
        (
            r#"{"actor":"","kind":"k","occurred_at":"2026-01-01T00:00:00Z","payload":1}"#,
            "line 3: actor is empty",
        ),
        (
            r#"{"actor":"a","occurred_at":"2026-01-01T00:00:00Z","payload":1}"#,
            "missing field `kind`",
        ),
        (
            big_payload.as_str(),
            "line 3: payload is 70012 bytes; the limit is 65536",
        ),
    ];
    for (bad, expected) in cases {
        let input = format!(
            "{}\n{}\n{bad}\n{}\n",
            line(0, "p"),
            line(1, "p"),
            line(2, "p")
        );
        let (code, message) = err(&["append", "--data", &data], Some(&input));
        assert_eq!(code, 1);
        assert!(
            message.contains(expected),
            "{message:?} should contain {expected:?}"
        );
    }
    assert_eq!(
        ok(&["log", "--data", &data], None),
        "",
        "nothing was appended"
    );
    let (_, message) = err(&["append", "--data", &data], Some("\n\n"));
    assert!(message.contains("no events"), "{message}");
}

/// The `proof` list of a printed proof, decoded.
fn proof_hashes(proof: &serde_json::Value) -> Vec<Vec<u8>> {
    proof["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| B64.decode(h.as_str().unwrap()).unwrap())
        .collect()
}

#[test]
fn proofs_and_checkpoint_verify_with_the_log_crate() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    let input: String = (0..23).map(|n| line(n, "person:x") + "\n").collect();
    ok(&["append", "--data", &data], Some(&input));
    let verifier = NoteVerifier::parse(ok(&["key", "--data", &data], None).trim()).unwrap();
    let checkpoint =
        Checkpoint::open(&ok(&["checkpoint", "--data", &data], None), &verifier).unwrap();
    assert_eq!(checkpoint.size, 23);
    for seq in [0u64, 7, 22] {
        let proof: serde_json::Value = serde_json::from_str(&ok(
            &[
                "prove",
                "inclusion",
                "--data",
                &data,
                "--seq",
                &seq.to_string(),
            ],
            None,
        ))
        .unwrap();
        assert_eq!(proof["leaf_index"], seq);
        assert_eq!(proof["tree_size"], 23);
        let leaf = B64.decode(proof["leaf_hash"].as_str().unwrap()).unwrap();
        let raw = ok(
            &["show", "--data", &data, "--seq", &seq.to_string(), "--raw"],
            None,
        );
        assert_eq!(
            leaf,
            Blake3Hasher::hash_leaf(&B64.decode(raw.trim()).unwrap())
        );
        let hashes = proof_hashes(&proof);
        verify_inclusion::<Blake3Hasher, _>(seq, 23, &leaf, &hashes, &checkpoint.root).unwrap();
    }
    let proof: serde_json::Value = serde_json::from_str(&ok(
        &[
            "prove",
            "consistency",
            "--data",
            &data,
            "--from",
            "9",
            "--to",
            "23",
        ],
        None,
    ))
    .unwrap();
    let root2 = B64.decode(proof["root2"].as_str().unwrap()).unwrap();
    assert_eq!(root2, checkpoint.root);
    let hashes = proof_hashes(&proof);
    let root1 = B64.decode(proof["root1"].as_str().unwrap()).unwrap();
    verify_consistency::<Blake3Hasher, _>(9, 23, &hashes, &root1, &root2).unwrap();
    let verified = ok(&["verify", "--data", &data], None);
    assert!(verified.starts_with("verified 23 events"), "{verified}");
}

#[test]
fn errors_are_one_line_with_non_zero_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nothing-here");
    let (code, message) = err(&["verify", "--data", missing.to_str().unwrap()], None);
    assert_eq!(code, 1);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains("no ledger at"), "{message}");
    let data = init(tmp.path());
    let (_, message) = err(&["init", "--data", &data], None);
    assert!(message.contains("already exists"), "{message}");
    let (_, message) = err(&["show", "--data", &data, "--seq", "0"], None);
    assert!(message.contains("event 0 does not exist"), "{message}");
    let (_, message) = err(
        &[
            "prove",
            "consistency",
            "--data",
            &data,
            "--from",
            "0",
            "--to",
            "1",
        ],
        None,
    );
    assert!(message.contains("--from"), "{message}");
    let (code, _) = err(&["prove", "inclusion", "--data", &data], None);
    assert_eq!(code, 2, "missing --seq is a usage error");
    let (_, message) = err(
        &[
            "init",
            "--data",
            tmp.path().join("o").to_str().unwrap(),
            "--origin",
            "has space",
        ],
        None,
    );
    assert!(message.contains("key name"), "{message}");
}

#[test]
fn every_verb_has_help() {
    for verb in [
        "init",
        "append",
        "log",
        "checkpoint",
        "key",
        "prove",
        "show",
        "verify",
        "export",
        "demo",
        "bench",
    ] {
        let help = ok(&[verb, "--help"], None);
        assert!(help.contains("Usage:"), "{verb}: {help}");
    }
}

#[test]
fn demo_builds_a_ledger_that_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("demo");
    let out = ok(&["demo", "--data", data.to_str().unwrap()], None);
    assert!(out.contains("verified: root"), "{out}");
    let verified = ok(&["verify", "--data", data.to_str().unwrap()], None);
    assert!(verified.starts_with("verified 1051 events"), "{verified}");
    let (_, message) = err(&["demo", "--data", data.to_str().unwrap()], None);
    assert!(message.contains("already exists"), "{message}");
}

#[test]
fn verify_names_an_altered_event_and_exits_3() {
    use careledger_store::{keys, Store, StoreConfig};
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    let input: String = (0..12).map(|n| line(n, "person:x") + "\n").collect();
    ok(&["append", "--data", &data], Some(&input));
    {
        let store = Store::open(Path::new(&data), StoreConfig::default()).unwrap();
        let db = store.raw_db();
        let (key, value, at) = keys::locate(db, 7).unwrap().found(7).unwrap();
        let mut value = value.to_vec();
        // Inside the actor string of event 7's envelope.
        value[at.start + 40] ^= 0x01;
        db.insert(key, value).unwrap();
        db.flush().unwrap();
    }
    let (code, message) = err(&["verify", "--data", &data], None);
    assert_eq!(code, 3, "{message}");
    assert!(
        message.starts_with("careledger: verification failed: event 7:"),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");
}
