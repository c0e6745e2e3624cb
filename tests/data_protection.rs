//! Encryption at rest through the command line, as an operator meets it: `init` makes the
//! master key beside the folder and says so; a person's name and notes are in no file of
//! the ledger or its backup; every reader needs the key; a wrong key is named; the key can
//! be changed, after which only the new one opens the ledger.

mod common;

use common::{err, ok};

use std::path::{Path, PathBuf};

const NAME: &str = "Ottoline Vandersteen-Marchbanks";
const NOTES: &str = "allergic to penicillin, takes her tea black";

fn files_under(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_file() {
        out.push(path.to_path_buf());
        return;
    }
    for entry in std::fs::read_dir(path).unwrap() {
        files_under(&entry.unwrap().path(), out);
    }
}

fn holding(path: &Path, needle: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    files_under(path, &mut files);
    files
        .into_iter()
        .filter(|f| {
            std::fs::read(f)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
        })
        .collect()
}

fn registered(person: &str) -> String {
    serde_json::json!({
        "actor": "manager:m1",
        "subject": person,
        "kind": "person.registered",
        "occurred_at": "2025-11-25T09:00:00Z",
        "payload": {
            "name": NAME,
            "date_of_birth": "1938-07-14",
            "nhs_number": null,
            "address": "7 Lark Rise, Candleford",
            "gp_practice": "Riverside Surgery",
            "allergies": [NOTES],
        },
    })
    .to_string()
        + "\n"
}

#[test]
fn a_persons_details_are_in_no_file_of_the_ledger_or_its_backup() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let data = dir.to_str().unwrap();
    // A simulated fortnight (care plans, notes, medicines, consent) in a new ledger, and
    // one more person.
    ok(
        &["simulate", "--data", data, "--people", "4", "--days", "14"],
        None,
    );
    let key = tmp.path().join("ledger.master-key");
    assert!(key.exists());
    ok(&["append", "--data", data], Some(&registered("person:p1")));

    // The details read back through the ledger...
    let log = ok(&["log", "--data", data, "--subject", "person:p1"], None);
    assert!(!log.is_empty());
    let person = ok(&["person", "--data", data, "person:p1"], None);
    assert!(person.contains(NAME), "{person}");
    // ...and are in no file of its folder.
    for needle in [NAME, NOTES, "Lark Rise"] {
        assert_eq!(holding(&dir, needle), Vec::<PathBuf>::new(), "{needle}");
    }
    // Nor in a backup, which holds the data keys but not the master key.
    let backup = tmp.path().join("ledger.backup");
    ok(&["checkpoint", "--data", data], None);
    let said = ok(
        &["backup", "--data", data, "--out", backup.to_str().unwrap()],
        None,
    );
    assert!(said.contains("needs the master key"), "{said}");
    assert_eq!(holding(&backup, NAME), Vec::<PathBuf>::new());
    let master = std::fs::read(&key).unwrap();
    assert!(!std::fs::read(&backup)
        .unwrap()
        .windows(master.len())
        .any(|w| w == master.as_slice()));

    // Verification opens and checks every payload with the key.
    let verified = ok(&["verify", "--data", data], None);
    assert!(
        verified.contains(" payloads checked)") && !verified.contains("(0 payloads checked)"),
        "{verified}"
    );

    // A restore needs the master key: without it, refused and named; with it, whole.
    let restored = tmp.path().join("restored");
    let (_, message) = err(
        &[
            "restore",
            "--from",
            backup.to_str().unwrap(),
            "--data",
            restored.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        message.contains("encrypted at rest") && message.contains("--master-key"),
        "{message}"
    );
    assert!(!restored.exists(), "nothing is written without the key");
    let restored2 = tmp.path().join("restored2");
    ok(
        &[
            "restore",
            "--from",
            backup.to_str().unwrap(),
            "--data",
            restored2.to_str().unwrap(),
            "--master-key",
            key.to_str().unwrap(),
        ],
        None,
    );
    let person = ok(
        &[
            "person",
            "--data",
            restored2.to_str().unwrap(),
            "person:p1",
            "--master-key",
            key.to_str().unwrap(),
        ],
        None,
    );
    assert!(person.contains(NAME), "{person}");
}

#[test]
fn the_master_key_is_checked_and_can_be_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let data = dir.to_str().unwrap();
    let out = ok(
        &["init", "--data", data, "--origin", "test.careledger/dp"],
        None,
    );
    let key = tmp.path().join("ledger.master-key");
    assert!(
        out.contains(&format!("new master key: {}", key.display())),
        "{out}"
    );
    ok(&["append", "--data", data], Some(&registered("person:p1")));
    let status = ok(&["keys", "status", "--data", data], None);
    assert!(
        status.contains("encrypted at rest") && status.contains("data keys: 3"),
        "{status}"
    );

    // Another ledger's key is refused, naming both ids.
    let other = tmp.path().join("other");
    ok(&["init", "--data", other.to_str().unwrap()], None);
    let other_key = tmp.path().join("other.master-key");
    let (_, message) = err(
        &[
            "log",
            "--data",
            data,
            "--master-key",
            other_key.to_str().unwrap(),
        ],
        None,
    );
    assert!(message.contains("not this ledger's"), "{message}");
    // A key inside the ledger's folder is refused at init.
    let inside = tmp.path().join("inside");
    let (_, message) = err(
        &[
            "init",
            "--data",
            inside.to_str().unwrap(),
            "--master-key",
            inside.join("k").to_str().unwrap(),
        ],
        None,
    );
    assert!(message.contains("inside the ledger's folder"), "{message}");

    // Rotation: the new key alone opens the ledger.
    let new_key = tmp.path().join("new.master-key");
    let said = ok(
        &[
            "keys",
            "rotate",
            "--data",
            data,
            "--new-master-key",
            new_key.to_str().unwrap(),
        ],
        None,
    );
    assert!(said.contains("rewrapped 3 data keys"), "{said}");
    let (_, message) = err(&["log", "--data", data], None);
    assert!(message.contains("not this ledger's"), "{message}");
    let log = ok(
        &[
            "person",
            "--data",
            data,
            "person:p1",
            "--master-key",
            new_key.to_str().unwrap(),
        ],
        None,
    );
    assert!(log.contains(NAME), "{log}");
}
