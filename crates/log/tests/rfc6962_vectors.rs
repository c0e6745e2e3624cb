//! Runs the RFC 6962 / RFC 9162 proof verifiers, instantiated with SHA-256, over every
//! published test vector in `tests/data/rfc6962-vectors` (from transparency-dev/merkle, with
//! its LICENSE and README saying where it comes from).
//!
//! Every file is one case: the verifier must accept it when `wantErr` is false and refuse it
//! when `wantErr` is true. All disagreements are collected and reported together.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use careledger_log::merkle::{verify_consistency, verify_inclusion};
use careledger_log::Sha256Hasher;
use serde_json::Value;

const VECTORS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rfc6962-vectors");

/// Every `*.json` file under `dir`, at any depth, in a stable order.
fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read vector directory {}: {e}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
            .path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "json") {
            out.push(path);
        }
    }
}

/// A base64 field, or why it could not be decoded. A vector whose hashes are not valid
/// base64 counts as one the verifier must refuse.
enum Decoded<T> {
    Value(T),
    Undecodable(String),
}

fn u64_field(case: &Value, name: &str) -> Result<u64, String> {
    case.get(name)
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("field {name:?} is missing or not a u64"))
}

fn bytes_field(case: &Value, name: &str) -> Result<Decoded<Vec<u8>>, String> {
    let text = case
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("field {name:?} is missing or not a string"))?;
    Ok(match B64.decode(text) {
        Ok(bytes) => Decoded::Value(bytes),
        Err(e) => Decoded::Undecodable(format!("{name} {text:?}: {e}")),
    })
}

/// `proof` is a list of base64 strings, or null for an empty proof.
fn proof_field(case: &Value) -> Result<Decoded<Vec<Vec<u8>>>, String> {
    let items = match case.get("proof") {
        None => return Err("field \"proof\" is missing".into()),
        Some(Value::Null) => return Ok(Decoded::Value(Vec::new())),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(format!(
                "field \"proof\" is neither a list nor null: {other}"
            ))
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (position, item) in items.iter().enumerate() {
        let text = item
            .as_str()
            .ok_or_else(|| format!("proof element {position} is not a string"))?;
        match B64.decode(text) {
            Ok(bytes) => out.push(bytes),
            Err(e) => {
                return Ok(Decoded::Undecodable(format!(
                    "proof element {position} {text:?}: {e}"
                )))
            }
        }
    }
    Ok(Decoded::Value(out))
}

/// What happened to one vector: `Ok(())` accepted, `Err(reason)` refused.
type Outcome = Result<(), String>;

fn run_inclusion(case: &Value) -> Result<Outcome, String> {
    let index = u64_field(case, "leafIdx")?;
    let size = u64_field(case, "treeSize")?;
    let root = bytes_field(case, "root")?;
    let leaf = bytes_field(case, "leafHash")?;
    let proof = proof_field(case)?;
    let (root, leaf, proof) = match (root, leaf, proof) {
        (Decoded::Value(r), Decoded::Value(l), Decoded::Value(p)) => (r, l, p),
        (Decoded::Undecodable(e), _, _)
        | (_, Decoded::Undecodable(e), _)
        | (_, _, Decoded::Undecodable(e)) => return Ok(Err(format!("undecodable base64 in {e}"))),
    };
    Ok(
        verify_inclusion::<Sha256Hasher, _>(index, size, &leaf, &proof, &root)
            .map_err(|e| format!("{e:?}")),
    )
}

fn run_consistency(case: &Value) -> Result<Outcome, String> {
    let size1 = u64_field(case, "size1")?;
    let size2 = u64_field(case, "size2")?;
    let root1 = bytes_field(case, "root1")?;
    let root2 = bytes_field(case, "root2")?;
    let proof = proof_field(case)?;
    let (root1, root2, proof) = match (root1, root2, proof) {
        (Decoded::Value(r1), Decoded::Value(r2), Decoded::Value(p)) => (r1, r2, p),
        (Decoded::Undecodable(e), _, _)
        | (_, Decoded::Undecodable(e), _)
        | (_, _, Decoded::Undecodable(e)) => return Ok(Err(format!("undecodable base64 in {e}"))),
    };
    Ok(
        verify_consistency::<Sha256Hasher, _>(size1, size2, &proof, &root1, &root2)
            .map_err(|e| format!("{e:?}")),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Inclusion,
    Consistency,
}

fn kind_of(relative: &Path) -> Option<Kind> {
    match relative.components().next()?.as_os_str().to_str()? {
        "inclusion" => Some(Kind::Inclusion),
        "consistency" => Some(Kind::Consistency),
        _ => None,
    }
}

#[test]
fn every_rfc6962_vector_gets_the_expected_verdict() {
    let dir = PathBuf::from(VECTORS_DIR);
    assert!(
        dir.is_dir(),
        "vector directory {} does not exist",
        dir.display()
    );
    let mut files = Vec::new();
    json_files(&dir, &mut files);
    files.sort();

    let mut failures = Vec::new();
    let (mut inclusion, mut consistency) = (0usize, 0usize);
    let (mut accepting, mut rejecting) = (0usize, 0usize);
    for path in &files {
        let relative = path.strip_prefix(&dir).unwrap_or(path);
        let shown = relative.display();
        let case: Value = match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
        {
            Ok(case) => case,
            Err(e) => {
                failures.push(format!("{shown}: cannot read the vector: {e}"));
                continue;
            }
        };
        let Some(want_err) = case.get("wantErr").and_then(Value::as_bool) else {
            failures.push(format!(
                "{shown}: field \"wantErr\" is missing or not a bool"
            ));
            continue;
        };
        let Some(kind) = kind_of(relative) else {
            failures.push(format!("{shown}: not under inclusion/ or consistency/"));
            continue;
        };
        let outcome = match kind {
            Kind::Inclusion => {
                inclusion += 1;
                run_inclusion(&case)
            }
            Kind::Consistency => {
                consistency += 1;
                run_consistency(&case)
            }
        };
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                failures.push(format!("{shown}: malformed vector: {e}"));
                continue;
            }
        };
        if want_err {
            rejecting += 1;
        } else {
            accepting += 1;
        }
        if outcome.is_err() != want_err {
            let desc = case.get("desc").and_then(Value::as_str).unwrap_or("");
            let want = if want_err { "an error" } else { "Ok" };
            failures.push(format!(
                "{shown} ({kind:?}, {desc:?}): want {want}, verifier returned {outcome:?}"
            ));
        }
    }

    let checked = inclusion + consistency;
    let mut report = String::new();
    for failure in &failures {
        let _ = writeln!(report, "  {failure}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} vector files failed:\n{report}",
        failures.len(),
        files.len()
    );
    assert!(
        checked > 100,
        "only {checked} vector files checked under {}",
        dir.display()
    );
    assert!(
        inclusion > 0 && consistency > 0,
        "{inclusion} inclusion and {consistency} consistency vectors"
    );
    assert!(
        accepting > 0 && rejecting > 0,
        "{accepting} accepting and {rejecting} rejecting vectors"
    );
    eprintln!(
        "checked {checked} vectors ({inclusion} inclusion, {consistency} consistency; \
         {accepting} accepting, {rejecting} rejecting)"
    );
}
