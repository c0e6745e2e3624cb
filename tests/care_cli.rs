//! The care verbs of the `careledger` binary (`simulate`, `findings`, `person`, `requests`,
//! `rebuild`, and `append` of typed care events), run as a user would run them, on a small
//! deterministic simulated history.

mod common;

use common::{copy_dir, err, ok};

use std::collections::BTreeSet;
use std::path::Path;

use careledger_care::CareEvent;

/// The simulated history every test starts from: fixed, so deterministic.
const SIMULATE: [&str; 8] = [
    "--people",
    "8",
    "--days",
    "20",
    "--seed",
    "1",
    "--end",
    "2026-11-01",
];
const AT: &str = "2026-11-01T00:00:00Z";

/// Simulates the small history into `dir/name`; returns the data directory and the number
/// of events the simulator reported.
fn simulate(dir: &Path, name: &str) -> (String, u64) {
    let data = dir.join(name).to_str().unwrap().to_string();
    let mut args = vec!["simulate", "--data", &data];
    args.extend(SIMULATE);
    let out = ok(&args, None);
    let first = out.lines().next().unwrap();
    let prefix = "simulated 8 people over 20 days ending 2026-11-01: ";
    assert!(first.starts_with(prefix), "{out}");
    let events: u64 = first[prefix.len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(events > 500, "{out}");
    // Then the signed checkpoint of the whole history: origin, size, root, signature.
    let checkpoint: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(
        checkpoint[0], "simulated.careledger.local/home-care",
        "{out}"
    );
    assert_eq!(checkpoint[1], events.to_string(), "{out}");
    (data, events)
}

fn size(data: &str) -> u64 {
    let verified = ok(&["verify", "--data", data], None);
    verified
        .strip_prefix("verified ")
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{verified}"))
}

/// Every event as `log` lists it.
fn log(data: &str) -> Vec<serde_json::Value> {
    ok(&["log", "--data", data, "--limit", "1000000"], None)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The subjects of the listed events of `kind`.
fn subjects_of(events: &[serde_json::Value], kind: &str) -> BTreeSet<String> {
    events
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["subject"].as_str().unwrap().to_string())
        .collect()
}

/// Kind and subject of event `seq`, from `show`.
fn shown(data: &str, seq: u64) -> (String, Option<String>) {
    let e: serde_json::Value = serde_json::from_str(&ok(
        &["show", "--data", data, "--seq", &seq.to_string()],
        None,
    ))
    .unwrap();
    (
        e["kind"].as_str().unwrap().to_string(),
        e["subject"].as_str().map(str::to_string),
    )
}

/// The numbers in the last `[event N]` or `[events N, M]` of a line.
fn evidence(line: &str) -> Vec<u64> {
    let at = line
        .rfind("[event")
        .unwrap_or_else(|| panic!("no events in {line:?}"));
    let end = at + line[at..].find(']').unwrap();
    line[at..end]
        .trim_start_matches("[events")
        .trim_start_matches("[event")
        .split(',')
        .map(|n| {
            n.trim()
                .parse()
                .unwrap_or_else(|_| panic!("bad number in {line:?}"))
        })
        .collect()
}

fn findings(data: &str, person: Option<&str>) -> String {
    let mut args = vec!["findings", "--data", data, "--at", AT];
    if let Some(p) = person {
        args.extend(["--person", p]);
    }
    ok(&args, None)
}

/// One care event as an `append` input line.
fn care_line(
    actor: &str,
    subject: Option<&str>,
    kind: &str,
    occurred_at: &str,
    payload: serde_json::Value,
) -> String {
    serde_json::json!({
        "actor": actor,
        "subject": subject,
        "kind": kind,
        "occurred_at": occurred_at,
        "payload": payload,
    })
    .to_string()
        + "\n"
}

#[test]
fn simulate_writes_a_history_that_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, events) = simulate(tmp.path(), "ledger");
    assert_eq!(size(&data), events);
    let listed = log(&data);
    assert_eq!(listed.len() as u64, events);
    // Eight people, registered and cared for.
    assert_eq!(subjects_of(&listed, "person.registered").len(), 8);
    assert_eq!(subjects_of(&listed, "care.started").len(), 8);
    for kind in ["visit.started", "mar.administration", "access.read"] {
        assert!(listed.iter().any(|e| e["kind"] == kind), "no {kind}");
    }
    // Every event is a care event whose kind this build knows.
    assert!(listed
        .iter()
        .all(|e| CareEvent::KINDS.contains(&e["kind"].as_str().unwrap())));
    // Nothing happened after the end of the history.
    assert!(listed
        .iter()
        .all(|e| e["occurred_at"].as_str().unwrap() < "2026-11-01T00:00:00"));
}

#[test]
fn findings_name_rules_and_the_events_that_prove_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, events) = simulate(tmp.path(), "ledger");
    let out = findings(&data, None);
    assert_eq!(
        out,
        findings(&data, None),
        "the same question, the same answer"
    );
    let mut lines = out.lines();
    let header = lines.next().unwrap();
    let count: usize = header.split(' ').next().unwrap().parse().unwrap();
    assert_eq!(
        header,
        format!(
            "{count} findings at 2026-11-01 00:00 UTC \
             (as of the {events} events recorded by then; {events} in the ledger)"
        )
    );
    assert!(count > 0, "{out}");
    // A summary by rule, a blank line, then one line per finding.
    let summary: Vec<&str> = lines.by_ref().take_while(|l| !l.is_empty()).collect();
    let listed: Vec<&str> = lines.collect();
    assert_eq!(listed.len(), count, "{out}");
    let summed: usize = summary
        .iter()
        .map(|l| l.rsplit(": ").next().unwrap().parse::<usize>().unwrap())
        .sum();
    assert_eq!(summed, count, "{out}");
    let mut people = BTreeSet::new();
    for line in &listed {
        let mut words = line.split_whitespace();
        let rule = words.next().unwrap();
        let who = words.next().unwrap();
        assert!(
            rule.starts_with('R') && rule.contains('-'),
            "{rule:?} is not a rule id: {line}"
        );
        assert!(
            summary
                .iter()
                .any(|s| s.trim().starts_with(&format!("{rule}:"))),
            "{rule} is not in the summary"
        );
        let proof = evidence(line);
        assert!(!proof.is_empty(), "{line}");
        // The evidence is in the log and about the finding's subject.
        for seq in proof {
            assert!(seq < events, "{line}");
            let (kind, subject) = shown(&data, seq);
            if who == "(provider)" {
                assert_eq!(subject, None, "event {seq} ({kind}) for {line}");
            } else {
                assert_eq!(
                    subject.as_deref(),
                    Some(who),
                    "event {seq} ({kind}) for {line}"
                );
                people.insert(who.to_string());
            }
        }
    }
    // One person's findings are their lines of the whole list.
    for person in &people {
        let own = findings(&data, Some(person));
        let expected: Vec<&str> = listed
            .iter()
            .copied()
            .filter(|l| l.split_whitespace().nth(1) == Some(person.as_str()))
            .collect();
        assert!(
            own.starts_with(&format!("{} findings at", expected.len())),
            "{own}"
        );
        let own_lines: Vec<&str> = own.lines().skip_while(|l| !l.is_empty()).skip(1).collect();
        assert_eq!(own_lines, expected);
    }
    // The same history simulated again gives the same findings.
    let (again, _) = simulate(tmp.path(), "again");
    assert_eq!(findings(&again, None), out);
}

#[test]
fn findings_for_an_unknown_person_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, _) = simulate(tmp.path(), "ledger");
    let (code, message) = err(
        &[
            "findings",
            "--data",
            &data,
            "--person",
            "person-9999",
            "--at",
            AT,
        ],
        None,
    );
    assert_eq!(code, 1, "{message}");
    assert!(
        message.contains("person-9999 is not registered"),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");
    let (code, message) = err(&["findings", "--data", &data, "--at", "yesterday"], None);
    assert_eq!(code, 1, "{message}");
    assert!(message.contains("--at"), "{message}");
}

#[test]
fn person_shows_the_ais_flag_first_the_plan_and_who_looked() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, _) = simulate(tmp.path(), "ledger");
    let listed = log(&data);
    let people = subjects_of(&listed, "person.registered");
    let with_needs = subjects_of(&listed, "ais.needs_recorded");
    let mut flagged = 0;
    for person in &people {
        let out = ok(&["person", "--data", &data, person, "--looked", "5"], None);
        let lines: Vec<&str> = out.lines().collect();
        // The AIS flag is the first thing shown, and only where needs are recorded.
        let details = if lines[0].starts_with("!! ACCESSIBLE INFORMATION: ") {
            assert!(
                with_needs.contains(person),
                "{person} flagged without needs"
            );
            flagged += 1;
            1
        } else {
            0
        };
        assert_eq!(
            out.matches("ACCESSIBLE INFORMATION").count(),
            details,
            "{out}"
        );
        assert!(
            lines[details].starts_with(&format!("{person}: ")),
            "{person}: {out}"
        );
        // The care plan's current version and the event that published it.
        let plan = lines
            .iter()
            .position(|l| *l == "Care plan")
            .unwrap_or_else(|| panic!("no care plan section: {out}"));
        let version = lines[plan + 1];
        assert!(version.starts_with("  version "), "{out}");
        let [published] = evidence(version)[..] else {
            panic!("{version}")
        };
        assert_eq!(
            shown(&data, published),
            ("careplan.published".to_string(), Some(person.clone()))
        );
        assert!(
            lines[plan + 2].starts_with("  history: v1 [event "),
            "{out}"
        );
        // Who looked: the latest reads, from the log, at most as many as asked.
        let looked = lines
            .iter()
            .position(|l| l.starts_with("Who looked (latest "))
            .unwrap_or_else(|| panic!("no 'Who looked': {out}"));
        let accesses = &lines[looked + 1..];
        assert!(!accesses.is_empty() && accesses.len() <= 5, "{out}");
        assert_eq!(
            lines[looked],
            format!("Who looked (latest {}):", accesses.len())
        );
        for access in accesses {
            let [seq] = evidence(access)[..] else {
                panic!("{access}")
            };
            let (kind, subject) = shown(&data, seq);
            assert!(kind.starts_with("access."), "{access}: {kind}");
            assert_eq!(subject.as_deref(), Some(person.as_str()));
        }
    }
    assert!(flagged > 0, "no one in the simulation has AIS needs");
    let (code, message) = err(&["person", "--data", &data, "nobody"], None);
    assert_eq!(code, 1);
    assert!(message.contains("nobody is not registered"), "{message}");
}

#[test]
fn requests_lists_each_request_with_its_events() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, _) = simulate(tmp.path(), "ledger");
    let received: Vec<u64> = log(&data)
        .iter()
        .filter(|e| e["kind"] == "request.received")
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert!(
        !received.is_empty(),
        "the simulation has no council requests"
    );
    let out = ok(&["requests", "--data", &data], None);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("request "), "{out}");
    assert!(lines[0].trim_end().ends_with("events"), "{out}");
    let rows: Vec<&str> = lines[1..]
        .iter()
        .copied()
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(rows.len(), received.len(), "{out}");
    assert!(
        out.contains(&format!("\n{} requests: ", received.len())),
        "{out}"
    );
    for row in rows {
        assert!(row.starts_with("request-"), "{row}");
        let events: Vec<u64> = row
            .rsplit(' ')
            .next()
            .unwrap()
            .split(',')
            .map(|n| n.parse().unwrap())
            .collect();
        assert!(received.contains(&events[0]), "{row}");
        for seq in events {
            let (kind, subject) = shown(&data, seq);
            assert!(kind.starts_with("request."), "{row}: {kind}");
            assert_eq!(subject, None);
        }
    }
}

#[test]
fn rebuild_replays_every_event_and_changes_no_finding() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, events) = simulate(tmp.path(), "ledger");
    let before = findings(&data, None);
    let requests = ok(&["requests", "--data", &data], None);
    let out = ok(&["rebuild", "--data", &data], None);
    assert!(out.starts_with("removed the derived state ("), "{out}");
    assert!(
        out.contains(&format!("; rebuilt it from {events} events in ")),
        "{out}"
    );
    assert_eq!(findings(&data, None), before);
    assert_eq!(ok(&["requests", "--data", &data], None), requests);
    assert_eq!(size(&data), events);
    ok(&["verify", "--data", &data, "--derived"], None);
    // A ledger that does not verify is not rebuilt from: nothing is removed.
    careledger_store::tamper::alter_record(Path::new(&data), 3, |r| {
        let last = r.len() - 1;
        r[last] ^= 1;
    })
    .unwrap();
    std::fs::remove_file(Path::new(&data).join(careledger_store::MARK_FILE)).unwrap();
    let (code, message) = err(&["rebuild", "--data", &data], None);
    assert_eq!(code, 3, "{message}");
    assert!(message.contains("nothing was rebuilt"), "{message}");
}

#[test]
fn simulate_refuses_a_ledger_that_holds_events() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, events) = simulate(tmp.path(), "ledger");
    let mut args = vec!["simulate", "--data", &data];
    args.extend(SIMULATE);
    let (code, message) = err(&args, None);
    assert_eq!(code, 1);
    assert!(
        message.contains(&format!("already holds {events} events")),
        "{message}"
    );
    assert_eq!(size(&data), events);

    // Also a ledger made with `init` that holds one event of its own.
    let other = tmp.path().join("other").to_str().unwrap().to_string();
    ok(
        &["init", "--data", &other, "--origin", "test.careledger/care"],
        None,
    );
    let staff = care_line(
        "manager:m1",
        None,
        "staff.registered",
        "2026-10-01T09:00:00Z",
        serde_json::json!({"staff_id": "staff:s1", "name": "Ann", "role": "CareWorker"}),
    );
    assert_eq!(ok(&["append", "--data", &other], Some(&staff)), "0\n");
    let mut args = vec!["simulate", "--data", &other];
    args.extend(SIMULATE);
    let (code, message) = err(&args, None);
    assert_eq!(code, 1);
    assert!(message.contains("already holds 1 events"), "{message}");
    assert_eq!(log(&other).len(), 1);
}

#[test]
fn append_checks_care_events_against_the_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, events) = simulate(tmp.path(), "ledger");
    let at = "2026-10-31T20:00:00Z";
    let person = "person-0003";
    let note = care_line(
        "staff-cw01",
        Some(person),
        "diary.note",
        at,
        serde_json::json!({"author": "Staff", "text": "Settled for the night."}),
    );
    let unregistered = care_line(
        "staff-cw01",
        Some("person-9999"),
        "visit.started",
        at,
        serde_json::json!({"visit_id": "visit-x"}),
    );
    let not_staff = care_line(
        "stranger",
        Some(person),
        "visit.started",
        at,
        serde_json::json!({"visit_id": "visit-y"}),
    );
    let twice = note.replace(
        r#""text":"Settled for the night.""#,
        r#""text":"Fell in the night.","text":"Settled for the night.""#,
    );
    assert_ne!(twice, note);
    let cases = [
        (
            twice,
            "line 1: payload.text is given twice; give each key once",
        ),
        (
            format!("{note}{}", note.replace("Settled", "Settled\\u0000")),
            "event 2 (counting non-empty lines) refused: text holds a control character (U+0000) at character 8",
        ),
        (
            unregistered.clone(),
            "event 1 (counting non-empty lines) refused: person-9999 is not registered; nothing was appended",
        ),
        (
            format!("{note}{unregistered}"),
            "event 2 (counting non-empty lines) refused: person-9999 is not registered; nothing was appended",
        ),
        (
            format!("{note}\n{not_staff}"),
            "event 2 (counting non-empty lines) refused: stranger is not a registered member of staff",
        ),
    ];
    for (input, expected) in cases {
        let (code, message) = err(&["append", "--data", &data], Some(&input));
        assert_eq!(code, 1, "{message}");
        assert!(
            message.contains(expected),
            "{message:?} should contain {expected:?}"
        );
        assert_eq!(message.lines().count(), 1, "{message}");
        assert_eq!(
            ok(
                &["log", "--data", &data, "--from", &events.to_string()],
                None
            ),
            "",
            "nothing was appended"
        );
    }
    assert_eq!(size(&data), events);

    // The valid event alone is accepted and reaches the person's record, also from a file
    // that starts with a byte-order mark (as some editors save it).
    let notes = |out: &str| -> u64 {
        let activity = out.lines().find(|l| l.starts_with("Activity: ")).unwrap();
        let at = activity.find(" staff notes").unwrap();
        activity[..at].rsplit(' ').next().unwrap().parse().unwrap()
    };
    let before = notes(&ok(&["person", "--data", &data, person], None));
    assert_eq!(
        ok(
            &["append", "--data", &data],
            Some(&format!("\u{feff}{note}"))
        ),
        format!("{events}\n")
    );
    assert_eq!(
        notes(&ok(&["person", "--data", &data, person], None)),
        before + 1
    );
    let listed = ok(
        &["log", "--data", &data, "--from", &events.to_string()],
        None,
    );
    let appended: serde_json::Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(
        (&appended["kind"], &appended["subject"], &appended["actor"]),
        (
            &serde_json::json!("diary.note"),
            &serde_json::json!(person),
            &serde_json::json!("staff-cw01")
        )
    );
    assert_eq!(size(&data), events + 1);
}

#[test]
fn append_of_an_unknown_kind_lists_the_known_kinds() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, events) = simulate(tmp.path(), "ledger");
    let input = care_line(
        "staff-cw01",
        Some("person-0003"),
        "medication.given",
        "2026-10-31T20:00:00Z",
        serde_json::json!({"medicine": "paracetamol"}),
    );
    let (code, message) = err(&["append", "--data", &data], Some(&input));
    assert_eq!(code, 1, "{message}");
    assert!(
        message.contains("line 1: medication.given: unknown event kind \"medication.given\""),
        "{message}"
    );
    let known = message
        .split("(known kinds: ")
        .nth(1)
        .unwrap_or_else(|| panic!("{message}"))
        .trim_end()
        .trim_end_matches(')');
    assert_eq!(known.split(", ").collect::<Vec<_>>(), CareEvent::KINDS);
    assert_eq!(size(&data), events);
}

/// A simulated history is recorded as it happened: findings as of a day in the middle of
/// it answer from the events recorded by then, and as of before it from nothing.
#[test]
fn findings_as_of_a_day_in_a_simulated_history() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, events) = simulate(tmp.path(), "ledger");
    let header = |at: &str| {
        ok(&["findings", "--data", &data, "--at", at], None)
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    let as_of = |line: &str| -> u64 {
        let after = line.split("as of the ").nth(1).unwrap();
        after.split(' ').next().unwrap().parse().unwrap()
    };
    let middle = header("2026-10-22T00:00:00Z");
    let mid_events = as_of(&middle);
    assert!(mid_events > 0 && mid_events < events, "{middle}");
    let before = header("2026-01-01T00:00:00Z");
    assert_eq!(as_of(&before), 0, "{before}");
    assert!(before.starts_with("0 findings"), "{before}");
    // Every event of the first half was recorded by the middle day, as it occurred.
    let listed = log(&data);
    let recorded_by_middle = listed
        .iter()
        .filter(|e| e["recorded_at"].as_str().unwrap() <= "2026-10-22T00:00:00")
        .count() as u64;
    assert_eq!(recorded_by_middle, mid_events);
}

/// `verify --derived` rebuilds everything sled holds from the log and compares: a
/// simulated ledger agrees; one whose stored projection, subject index or chunk
/// locations were altered (each would make `findings`, `person` or reads wrong) does not,
/// and the message names what differs. The folder is not changed by verifying it.
#[test]
fn verify_derived_compares_what_sled_holds_with_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, events) = simulate(tmp.path(), "derived");
    let said = ok(&["verify", "--data", &data, "--derived"], None);
    assert!(said.contains("derived state agrees with the log"), "{said}");
    assert!(
        said.contains(&format!("the projections of {events} events")),
        "{said}"
    );

    // Every file in the folder, byte for byte, before and after verifying.
    fn hashes(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let entry = entry.unwrap();
                if entry.file_type().unwrap().is_dir() {
                    stack.push(entry.path());
                } else {
                    let bytes = std::fs::read(entry.path()).unwrap();
                    let name = entry.path().display().to_string();
                    out.push((name, blake3::hash(&bytes).as_bytes().to_vec()));
                }
            }
        }
        out.sort();
        out
    }
    let before = hashes(Path::new(&data));
    ok(&["verify", "--data", &data, "--derived"], None);
    ok(&["verify", "--data", &data], None);
    assert_eq!(
        hashes(Path::new(&data)),
        before,
        "verify changed the folder"
    );

    type Alter = fn(&sled::Db);
    let alterations: [(&str, Alter, &str); 3] = [
        (
            "a projection value",
            |db| {
                let (k, mut v) = db
                    .scan_prefix([careledger_store::keys::PROJECTION])
                    .last()
                    .unwrap()
                    .map(|(k, v)| (k, v.to_vec()))
                    .unwrap();
                let last = v.len() - 1;
                v[last] ^= 1;
                db.insert(k, v).unwrap();
            },
            "stored projection's value",
        ),
        (
            "an index posting",
            |db| {
                // Event 0 (the organisation's first) is about nobody.
                let (k, v) = db
                    .scan_prefix([careledger_store::keys::SUBJECT])
                    .next()
                    .unwrap()
                    .unwrap();
                // The posting's first event replaced by event 0.
                let mut seqs: Vec<u64> = careledger_store::keys::posting_seqs(&v)
                    .map(Result::unwrap)
                    .collect();
                seqs[0] = 0;
                db.insert(k, careledger_store::keys::posting_value(&seqs))
                    .unwrap();
            },
            "lists event 0 under",
        ),
        (
            "a chunk location",
            |db| {
                let (k, v) = db
                    .scan_prefix([careledger_store::keys::CHUNK_AT])
                    .nth(3)
                    .unwrap()
                    .unwrap();
                let mut at = careledger_store::keys::ChunkAt::decode(&v).unwrap();
                at.offset += 1;
                db.insert(k, &at.encode()[..]).unwrap();
            },
            "the location of the chunk",
        ),
    ];
    for (n, (what, alter, expected)) in alterations.iter().enumerate() {
        let copy = tmp.path().join(format!("altered-{n}"));
        copy_dir(Path::new(&data), &copy);
        std::fs::copy(
            format!("{data}.master-key"),
            format!("{}.master-key", copy.display()),
        )
        .unwrap();
        {
            let db = sled::open(copy.join(careledger_store::SLED_DIR)).unwrap();
            alter(&db);
            db.flush().unwrap();
        }
        let copy = copy.to_str().unwrap();
        // The log itself is untouched: plain verification passes.
        ok(&["verify", "--data", copy], None);
        let (code, message) = err(&["verify", "--data", copy, "--derived"], None);
        assert_eq!(code, 3, "{what}: {message}");
        assert!(
            message.contains("derived state") && message.contains(expected),
            "{what}: {message}"
        );
    }
}
