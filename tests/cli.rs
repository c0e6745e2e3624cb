//! The `careledger` binary, run as a user would run it.

mod common;

use common::{careledger, copy_dir, err, ok};

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use careledger_care::CareEvent;
use careledger_log::merkle::{verify_consistency, verify_inclusion, Blake3Hasher, TreeHasher};
use careledger_log::{Checkpoint, Envelope, NoteVerifier};

/// One input line for `append`, at 09:MM on 25 November 2025.
fn event_line(
    actor: &str,
    subject: Option<&str>,
    kind: &str,
    minute: usize,
    payload: serde_json::Value,
) -> String {
    serde_json::json!({
        "actor": actor,
        "subject": subject,
        "kind": kind,
        "occurred_at": format!("2025-11-25T09:{:02}:00Z", minute % 60),
        "payload": payload,
    })
    .to_string()
}

/// The simplest valid care event: manager `manager:mN` registers care worker `staff:sN`
/// (about the organisation, so no subject).
fn staff(n: usize) -> String {
    event_line(
        &format!("manager:m{n}"),
        None,
        "staff.registered",
        n,
        serde_json::json!({
            "staff_id": format!("staff:s{n}"),
            "name": format!("Care Worker {n}"),
            "role": "CareWorker",
        }),
    )
}

/// `count` staff registrations from `from` on, as `append` input.
fn staff_lines(from: usize, count: usize) -> String {
    (from..from + count).map(|n| staff(n) + "\n").collect()
}

fn person_registered(n: usize, person: &str) -> String {
    event_line(
        &format!("manager:m{n}"),
        Some(person),
        "person.registered",
        n,
        serde_json::json!({
            "name": format!("Person {n}"),
            "date_of_birth": "1940-03-01",
            "nhs_number": null,
            "address": "1 High Street",
            "gp_practice": "Riverside Surgery",
            "allergies": [],
        }),
    )
}

/// A listed event's payload fields: `log` prints a payload that is not JSON (care
/// payloads are a version byte and bincode) as base64, which decodes as its care event.
fn payload_fields(event: &serde_json::Value) -> serde_json::Value {
    match &event["payload"] {
        serde_json::Value::String(encoded) => {
            let bytes = B64.decode(encoded).unwrap();
            CareEvent::decode(event["kind"].as_str().unwrap(), &bytes)
                .unwrap()
                .serialize_fields(serde_json::value::Serializer)
                .unwrap()
        }
        fields => fields.clone(),
    }
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
    let input = [
        person_registered(0, "person:a"),
        person_registered(1, "person:b"),
        event_line(
            "manager:m2",
            Some("person:a"),
            "care.started",
            2,
            serde_json::json!({"service": "home care 2"}),
        ),
        event_line(
            "manager:m3",
            Some("person:b"),
            "care.started",
            3,
            serde_json::json!({"service": "home care 3"}),
        ),
        event_line(
            "manager:m4",
            Some("person:a"),
            "observation.recorded",
            4,
            serde_json::json!({"measure": "pulse", "value": "72", "unit": "bpm"}),
        ),
    ]
    .map(|l| l + "\n")
    .concat();
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
    assert_eq!(events[1]["kind"], "care.started");
    assert_eq!(
        payload_fields(&events[1]),
        serde_json::json!({"service": "home care 2"})
    );
    assert_eq!(
        payload_fields(&events[2]),
        serde_json::json!({"measure": "pulse", "value": "72", "unit": "bpm"})
    );
    assert_eq!(events[1]["payload_erased"], false);
    assert_eq!(events[1]["occurred_at"], "2025-11-25T09:02:00.000000Z");
    let page = ok(
        &["log", "--data", &data, "--from", "3", "--limit", "1"],
        None,
    );
    assert_eq!(page.lines().count(), 1);
    assert!(page.contains("\"seq\":3"));
    let raw = ok(&["show", "--data", &data, "--seq", "3", "--raw"], None);
    let envelope = Envelope::decode(&B64.decode(raw.trim()).unwrap()).unwrap();
    assert_eq!(
        (
            envelope.seq,
            envelope.actor.as_str(),
            envelope.subject.as_deref()
        ),
        (3, "manager:m3", Some("person:b"))
    );
}

#[test]
fn a_malformed_line_is_refused_by_number_and_nothing_is_appended() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    let valid = serde_json::json!({"staff_id": "staff:x", "name": "X", "role": "CareWorker"});
    let with = |actor: &str, kind: &str, occurred_at: &str, payload: &serde_json::Value| {
        serde_json::json!({
            "actor": actor,
            "subject": null,
            "kind": kind,
            "occurred_at": occurred_at,
            "payload": payload,
        })
    };
    let t = "2025-01-01T00:00:00Z";
    // Every text and id within its bounds, four bytes a character: the payload as a whole
    // is past its 64 KiB.
    let wide = |n: usize| "\u{1D11E}".repeat(n);
    let big_payload = with(
        "a",
        "request.received",
        t,
        &serde_json::json!({
            "request_id": "r-1", "requester": "officer", "organisation": wide(8_000),
            "people": vec![wide(50); 64], "categories": ["CarePlan"], "description": wide(8_000),
            "received_at_us": 1_735_689_600_000_000i64, "due_at_us": 1_735_700_000_000_000i64,
        }),
    )
    .to_string();
    let mut extra_field = with("a", "staff.registered", t, &valid);
    extra_field["x"] = 1.into();
    let mut no_kind = with("a", "staff.registered", t, &valid);
    no_kind.as_object_mut().unwrap().remove("kind");
    let mut about_a_person = with("a", "staff.registered", t, &valid);
    about_a_person["subject"] = "person:p".into();
    let cases = [
        ("{not json}".to_string(), "line 3:"),
        (
            with("a", "staff.registered", "yesterday", &valid).to_string(),
            "line 3: occurred_at",
        ),
        (extra_field.to_string(), "unknown field `x`"),
        (
            with("", "staff.registered", t, &valid).to_string(),
            "line 3: actor is empty",
        ),
        (no_kind.to_string(), "missing field `kind`"),
        // An arbitrary kind: refused, naming the kinds there are.
        (
            with("a", "k", t, &serde_json::json!({"n": 1})).to_string(),
            "line 3: k: unknown event kind \"k\" (known kinds: person.registered, ",
        ),
        // A free payload for a care kind: refused, naming the missing field.
        (
            with("a", "staff.registered", t, &serde_json::json!({"n": 1})).to_string(),
            "line 3: staff.registered: unknown field `n`, expected one of `staff_id`, `name`, `role`",
        ),
        (
            with(
                "a",
                "staff.registered",
                t,
                &serde_json::json!({"staff_id": "staff:x", "name": "X", "role": "Chef"}),
            )
            .to_string(),
            "line 3: staff.registered: unknown variant `Chef`",
        ),
        // Well formed but refused by the care rules: named by its place in the input.
        (
            staff(0),
            "event 3 (counting non-empty lines) refused: staff member staff:s0 is already registered; nothing was appended",
        ),
        (
            about_a_person.to_string(),
            "event 3 (counting non-empty lines) refused: staff.registered is about the organisation and must not name a person",
        ),
        (
            big_payload,
            "event 3 (counting non-empty lines) refused: request.received: payload is too large",
        ),
    ];
    for (bad, expected) in cases {
        let input = format!("{}\n{}\n{bad}\n{}\n", staff(0), staff(1), staff(2));
        let (code, message) = err(&["append", "--data", &data], Some(&input));
        assert_eq!(code, 1);
        assert!(
            message.contains(expected),
            "{message:?} should contain {expected:?}"
        );
        assert_eq!(message.lines().count(), 1, "{message}");
    }
    assert_eq!(
        ok(&["log", "--data", &data], None),
        "",
        "nothing was appended"
    );
    let (_, message) = err(&["append", "--data", &data], Some("\n\n"));
    assert!(message.contains("no events"), "{message}");
    // The same lines without the bad one are accepted.
    let input = staff_lines(0, 3);
    assert_eq!(ok(&["append", "--data", &data], Some(&input)), "0\n1\n2\n");
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
    ok(&["append", "--data", &data], Some(&staff_lines(0, 23)));
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

/// Runs `careledger ARGS` into a reader that reads `lines` lines (0: none) and then closes
/// the pipe, as `careledger ARGS | head -1` does; returns the exit code and stderr.
fn into_closed_pipe(args: &[&str], lines: usize) -> (Option<i32>, String) {
    use std::io::{BufRead, BufReader, Read};
    let mut child = common::spawn(args, std::process::Stdio::null());
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    for _ in 0..lines {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.ends_with('\n'), "{args:?} ended after {line:?}");
    }
    drop(reader);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (child.wait().unwrap().code(), stderr)
}

#[test]
fn a_reader_that_closes_the_pipe_early_ends_a_verb_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    ok(&["append", "--data", &data], Some(&staff_lines(0, 3_000)));
    ok(
        &[
            "user",
            "add",
            "--data",
            &data,
            "auditor-1",
            "--role",
            "Auditor",
        ],
        None,
    );
    // About a megabyte of JSON lines, far more than a pipe holds (64 KiB on Linux): the
    // writes after the reader has gone fail with EPIPE.
    let (code, stderr) = into_closed_pipe(&["log", "--data", &data, "--limit", "100000"], 1);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert_eq!(stderr, "");
    // Verbs that print a line or two, into a pipe closed before they write.
    let verbs: [&[&str]; 8] = [
        &["log", "--data", &data, "--limit", "5"],
        &["key", "--data", &data],
        &["checkpoint", "--data", &data],
        &["show", "--data", &data, "--seq", "7"],
        &["prove", "inclusion", "--data", &data, "--seq", "7"],
        &["verify", "--data", &data],
        &["requests", "--data", &data],
        &["user", "list", "--data", &data],
    ];
    for args in verbs {
        let (code, stderr) = into_closed_pipe(args, 0);
        assert_eq!((code, stderr.as_str()), (Some(0), ""), "{args:?}");
    }
}

#[test]
fn demo_builds_a_ledger_that_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("demo");
    let out = ok(&["demo", "--data", data.to_str().unwrap()], None);
    // "created a demo ledger at DIR: N events about 12 people over 30 days"
    let events: u64 = out
        .split(": ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no event count in {out}"));
    assert!(events > 1_000, "{out}");
    assert!(out.contains("about 12 people over 30 days"), "{out}");
    assert!(
        out.contains(&format!(
            "verified: {events} events, every checkpoint signed"
        )),
        "{out}"
    );
    let verified = ok(&["verify", "--data", data.to_str().unwrap()], None);
    assert!(
        verified.starts_with(&format!("verified {events} events")),
        "{verified}"
    );
    let (_, message) = err(&["demo", "--data", data.to_str().unwrap()], None);
    assert!(message.contains("already exists"), "{message}");
    // Its people are the ones the README and `demo --help` name, over the month they say.
    for (person, listed) in [("person-0000", 1), ("person-0011", 1), ("person-0012", 0)] {
        let log = ok(
            &[
                "log",
                "--data",
                data.to_str().unwrap(),
                "--subject",
                person,
                "--limit",
                "1",
            ],
            None,
        );
        assert_eq!(log.lines().count(), listed, "{person}: {log}");
    }
    let help = ok(&["demo", "--help"], None);
    assert!(
        help.contains("a simulated month (30 days) of home care for twelve people (person-0000 to person-0011)"),
        "{help}"
    );
}

#[test]
fn format_md_numbers_each_section_once_and_in_order() {
    let format =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/FORMAT.md"))
            .unwrap();
    let numbers: Vec<u32> = format
        .lines()
        .filter_map(|l| l.strip_prefix("## ")?.split_once(". ")?.0.parse().ok())
        .collect();
    let expected: Vec<u32> = (1..=numbers.len() as u32).collect();
    assert_eq!(numbers, expected);
}

#[test]
fn verify_names_an_altered_event_and_exits_3() {
    use careledger_store::tamper;
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    ok(&["append", "--data", &data], Some(&staff_lines(0, 12)));
    // Inside the actor string ("manager:m7") of event 7's envelope, the frame's check
    // recomputed as a careful forger would.
    tamper::alter_record(Path::new(&data), 7, |record| record[40] ^= 0x01).unwrap();
    // The durable mark would name the change too; without it, verification must.
    std::fs::remove_file(Path::new(&data).join(careledger_store::MARK_FILE)).unwrap();
    let (code, message) = err(&["verify", "--data", &data], None);
    assert_eq!(code, 3, "{message}");
    assert!(
        message.starts_with("careledger: verification failed: event 7:"),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");
}

/// Whatever is wrong with the events file, opening says so in one line and exits 4:
/// never a panic, never a backtrace, never data served from it. Whatever is wrong with
/// sled's files (derived from the events file) is repaired: the ledger opens with every
/// event.
#[test]
fn a_damaged_store_is_one_line_and_exit_4_never_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let good = init(tmp.path());
    ok(&["append", "--data", &good], Some(&staff_lines(0, 3_000)));
    let other = {
        let dir = tmp.path().join("other");
        std::fs::create_dir_all(&dir).unwrap();
        let data = init(&dir);
        ok(&["append", "--data", &data], Some(&staff_lines(0, 5)));
        data
    };
    let events_of = |data: &Path| data.join(careledger_store::EVENTS_FILE);
    let sled_db_of = |data: &Path| data.join("sled").join("db");
    let len = std::fs::metadata(events_of(Path::new(&good)))
        .unwrap()
        .len();
    let sled_len = std::fs::metadata(sled_db_of(Path::new(&good)))
        .unwrap()
        .len();
    type Damage = Box<dyn Fn(&Path)>;
    let truncate = |file: fn(&Path) -> std::path::PathBuf, to: u64| -> Damage {
        Box::new(move |data: &Path| {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(file(data))
                .unwrap();
            f.set_len(to).unwrap();
        })
    };
    fn events(data: &Path) -> std::path::PathBuf {
        data.join(careledger_store::EVENTS_FILE)
    }
    fn sled_db(data: &Path) -> std::path::PathBuf {
        data.join("sled").join("db")
    }
    let other_events = events_of(Path::new(&other));
    let other_sled = sled_db_of(Path::new(&other));
    let damages: Vec<(&str, Damage)> = vec![
        ("truncated to nothing", truncate(events, 0)),
        ("truncated to a quarter", truncate(events, len / 4)),
        ("truncated to half", truncate(events, len / 2)),
        ("cut by one byte", truncate(events, len - 1)),
        (
            "zeroed",
            Box::new(move |data: &Path| {
                std::fs::write(events(data), vec![0u8; len as usize]).unwrap()
            }),
        ),
        (
            "deleted",
            Box::new(|data: &Path| std::fs::remove_file(events(data)).unwrap()),
        ),
        (
            "another ledger's",
            Box::new(move |data: &Path| {
                std::fs::copy(&other_events, events(data)).unwrap();
            }),
        ),
    ];
    for (n, (what, damage)) in damages.iter().enumerate() {
        let data = tmp.path().join(format!("damaged-{n}"));
        copy_dir(Path::new(&good), &data);
        // The copy's master key beside it, as the original's is.
        std::fs::copy(
            format!("{good}.master-key"),
            format!("{}.master-key", data.display()),
        )
        .unwrap();
        damage(&data);
        let data = data.to_str().unwrap();
        for verb in [
            &["verify", "--data", data][..],
            &["log", "--data", data, "--limit", "1"][..],
        ] {
            let (code, message) = err(verb, None);
            assert_eq!(code, 4, "{what}, {verb:?}: {message}");
            assert!(
                message.contains("is damaged") && message.contains("docs/OPERATIONS.md"),
                "{what}, {verb:?}: {message}"
            );
            assert_eq!(message.lines().count(), 1, "{what}, {verb:?}: {message}");
            assert!(!message.contains("panicked"), "{what}: {message}");
        }
        // The service refuses to start the same way.
        let out = common::careledger_within(
            &["serve", "--data", data, "--listen", "127.0.0.1:0"],
            std::time::Duration::from_secs(60),
        );
        let message = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{what}, serve: {message}");
        assert!(message.contains("is damaged"), "{what}, serve: {message}");
    }
    // sled's files hold only what is derived from the events file: damaged in any of
    // these ways, they are rebuilt, and the ledger opens with every event.
    let sled_damages: Vec<(&str, Damage)> = vec![
        ("sled truncated to nothing", truncate(sled_db, 0)),
        ("sled truncated to half", truncate(sled_db, sled_len / 2)),
        (
            "sled zeroed",
            Box::new(move |data: &Path| {
                std::fs::write(sled_db(data), vec![0u8; sled_len as usize]).unwrap()
            }),
        ),
        (
            "sled deleted",
            Box::new(|data: &Path| std::fs::remove_dir_all(data.join("sled")).unwrap()),
        ),
        (
            "sled another ledger's",
            Box::new(move |data: &Path| {
                std::fs::copy(&other_sled, sled_db(data)).unwrap();
            }),
        ),
    ];
    for (n, (what, damage)) in sled_damages.iter().enumerate() {
        let data = tmp.path().join(format!("sled-damaged-{n}"));
        copy_dir(Path::new(&good), &data);
        // The copy's master key beside it, as the original's is.
        std::fs::copy(
            format!("{good}.master-key"),
            format!("{}.master-key", data.display()),
        )
        .unwrap();
        damage(&data);
        let data = data.to_str().unwrap();
        let out = careledger(&["log", "--data", data, "--from", "2999"], None);
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.contains("\"seq\":2999"), "{what}: {said}");
        let said = ok(&["verify", "--data", data], None);
        assert!(said.starts_with("verified 3000 events"), "{what}: {said}");
    }
    // The undamaged ledger still opens.
    ok(&["verify", "--data", &good], None);
}
