//! `careledger print` and `careledger check-document`, run as a manager would before an
//! outage: print a person's documents and the contingency pack from a simulated ledger,
//! then check a printed copy's reference as the ledger moves on.

mod common;

use common::{careledger, err, ok};

fn simulate(dir: &std::path::Path) -> String {
    let data = dir.join("ledger").to_str().unwrap().to_string();
    ok(
        &[
            "simulate",
            "--data",
            &data,
            "--people",
            "4",
            "--days",
            "10",
            "--seed",
            "3",
            "--end",
            "2026-11-01",
        ],
        None,
    );
    data
}

/// Prints person-0001's `kind` in `format` to `out` (with `extra` arguments); its summary.
fn print_person(
    data: &str,
    kind: &str,
    format: &str,
    out: &std::path::Path,
    extra: &[&str],
) -> String {
    let mut args = vec![
        "print",
        kind,
        "--data",
        data,
        "--person",
        "person-0001",
        "--format",
        format,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    ok(&args, None)
}

/// The `reference ...` line of a print's summary.
fn reference(summary: &str) -> String {
    summary
        .lines()
        .find_map(|l| l.strip_prefix("reference "))
        .unwrap_or_else(|| panic!("{summary}"))
        .to_string()
}

#[test]
fn a_person_s_documents_print_in_each_format_and_the_same_ledger_prints_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = simulate(tmp.path());
    for (kind, format, ext) in [
        ("care-plan", "pdf", "pdf"),
        ("mar", "large-print", "pdf"),
        ("diary", "easy-read", "pdf"),
        ("mar", "text", "txt"),
    ] {
        let out = tmp.path().join(format!("{kind}-{format}.{ext}"));
        let out_s = out.to_str().unwrap();
        let summary = ok(
            &[
                "print",
                kind,
                "--data",
                &data,
                "--person",
                "person-0001",
                "--format",
                format,
                "--out",
                out_s,
            ],
            None,
        );
        assert!(
            summary.contains(&format!(", {format}, written to {out_s}")),
            "{summary}"
        );
        let bytes = std::fs::read(&out).unwrap();
        if ext == "pdf" {
            assert!(bytes.starts_with(b"%PDF-"), "{kind} {format}");
        } else {
            let text = String::from_utf8(bytes.clone()).unwrap();
            assert!(text.starts_with("MAR chart for "), "{text}");
            assert!(text.lines().all(|l| l.chars().count() <= 80));
        }
        // The digest printed is the file's, and printing again gives the same file.
        let digest = summary
            .lines()
            .find_map(|l| l.strip_prefix("digest "))
            .unwrap();
        assert_eq!(digest, blake3::hash(&bytes).to_hex().as_str());
        ok(
            &[
                "print",
                kind,
                "--data",
                &data,
                "--person",
                "person-0001",
                "--format",
                format,
                "--out",
                out_s,
            ],
            None,
        );
        assert_eq!(
            std::fs::read(&out).unwrap(),
            bytes,
            "{kind} {format}: not reproducible"
        );
    }
    // Without --format, the person's recorded needs choose (standard print by default).
    let out = tmp.path().join("plan");
    let summary = ok(
        &[
            "print",
            "care-plan",
            "--data",
            &data,
            "--person",
            "person-0002",
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        summary.contains("from the person's recorded information needs"),
        "{summary}"
    );
}

#[test]
fn the_contingency_pack_covers_everyone_in_care_or_the_people_named() {
    let tmp = tempfile::tempdir().unwrap();
    let data = simulate(tmp.path());
    let out = tmp.path().join("pack.txt");
    let out_s = out.to_str().unwrap();
    ok(
        &[
            "print",
            "contingency",
            "--data",
            &data,
            "--format",
            "text",
            "--out",
            out_s,
        ],
        None,
    );
    let text = std::fs::read_to_string(&out).unwrap();
    for id in ["person-0000", "person-0001", "person-0002", "person-0003"] {
        assert!(text.contains(&format!("({id}): care plan")), "{id} missing");
        assert!(text.contains(&format!("({id}): MAR chart")), "{id} missing");
    }
    ok(
        &[
            "print",
            "contingency",
            "--data",
            &data,
            "--people",
            "person-0002",
            "--format",
            "text",
            "--out",
            out_s,
        ],
        None,
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("(person-0002): care plan") && !text.contains("(person-0001)"));
}

/// A pack of more people than a volume holds is written as volumes, each its own file
/// with its own index, counting people across the pack.
#[test]
fn a_large_pack_is_written_in_volumes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("ledger").to_str().unwrap().to_string();
    ok(
        &[
            "simulate",
            "--data",
            &data,
            "--people",
            "60",
            "--days",
            "2",
            "--seed",
            "5",
            "--end",
            "2026-11-01",
        ],
        None,
    );
    let out = tmp.path().join("pack.txt");
    let said = ok(
        &[
            "print",
            "contingency",
            "--data",
            &data,
            "--format",
            "text",
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        !out.exists(),
        "a pack of volumes is not written to pack.txt"
    );
    let first = std::fs::read_to_string(tmp.path().join("pack-01-of-02.txt")).unwrap();
    let second = std::fs::read_to_string(tmp.path().join("pack-02-of-02.txt")).unwrap();
    assert!(first.contains("Contingency pack, volume 1 of 2"), "{said}");
    assert!(second.contains("Contingency pack, volume 2 of 2"), "{said}");
    assert!(second.contains("people 51 to "), "{second}");
    assert_eq!(said.matches("written to").count(), 2, "{said}");
    assert_eq!(
        said.matches("reference CL1:contingency:").count(),
        1,
        "{said}"
    );
    // A folder is not a file name; an unknown person is named before anything is written.
    let (_, e) = err(
        &[
            "print",
            "contingency",
            "--data",
            &data,
            "--out",
            tmp.path().to_str().unwrap(),
        ],
        None,
    );
    assert!(e.contains("is a folder"), "{e}");
    let fresh = tmp.path().join("fresh.pdf");
    let (_, e) = err(
        &[
            "print",
            "contingency",
            "--data",
            &data,
            "--people",
            "person-0001",
            "--people",
            "person-9999",
            "--out",
            fresh.to_str().unwrap(),
        ],
        None,
    );
    assert!(e.contains("no such person: person-9999"), "{e}");
    assert!(!fresh.exists());
}

/// The council's reports, from a simulated ledger: every person in care and every council
/// request, each line naming its events; the reference checks as a report of its time.
#[test]
fn the_councils_reports_cover_the_provider_and_name_their_events() {
    let tmp = tempfile::tempdir().unwrap();
    let data = simulate(tmp.path());
    let out = tmp.path().join("report.txt");
    let out_s = out.to_str().unwrap();
    let said = ok(
        &[
            "print",
            "monitoring",
            "--data",
            &data,
            "--format",
            "text",
            "--out",
            out_s,
        ],
        None,
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("People receiving care: "), "{text}");
    for id in ["person-0000", "person-0001", "person-0002", "person-0003"] {
        assert!(text.contains(&format!("({id})")), "{id} missing");
    }
    assert!(text.contains("(event "), "no event numbers: {text}");
    let checked = ok(
        &["check-document", "--data", &data, &reference(&said)],
        None,
    );
    assert!(checked.contains("AS OF ITS CHECKPOINT"), "{checked}");
    let pdf = tmp.path().join("times.pdf");
    let said = ok(
        &[
            "print",
            "response-times",
            "--data",
            &data,
            "--out",
            pdf.to_str().unwrap(),
        ],
        None,
    );
    assert!(said.contains("Response-time report"), "{said}");
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"));
    // A report covers the provider: naming a person, or recording it as placed, is refused.
    let (code, e) = err(
        &[
            "print",
            "monitoring",
            "--data",
            &data,
            "--person",
            "person-0001",
            "--out",
            out_s,
        ],
        None,
    );
    assert_eq!(code, 1);
    assert!(e.contains("covers the whole provider"), "{e}");
    let (_, e) = err(
        &[
            "print",
            "response-times",
            "--data",
            &data,
            "--placed-by",
            "staff-rm01",
            "--out",
            out_s,
        ],
        None,
    );
    assert!(e.contains("report for the council"), "{e}");
}

#[test]
fn bad_requests_are_named_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = simulate(tmp.path());
    let out = tmp.path().join("x.pdf");
    let out_s = out.to_str().unwrap();
    for (args, said) in [
        (vec!["print", "letter", "--data", &data, "--out", out_s], "\"letter\" is not a document careledger prints; choose one of care-plan, mar, guide, diary, contingency"),
        (vec!["print", "mar", "--data", &data, "--out", out_s], "a mar is about one person: name them with --person"),
        (vec!["print", "mar", "--data", &data, "--person", "person-0001", "--format", "braille", "--out", out_s], "\"braille\" is not a format; choose one of pdf, large-print, easy-read, text"),
        (vec!["print", "mar", "--data", &data, "--person", "person-0001", "--days", "93", "--out", out_s], "--days must be between 1 and 92, not 93"),
        (vec!["print", "mar", "--data", &data, "--person", "nobody", "--out", out_s], "there is no person \"nobody\""),
        (vec!["print", "contingency", "--data", &data, "--person", "person-0001", "--out", out_s], "name them with --people"),
    ] {
        let (code, stderr) = err(&args, None);
        assert_eq!(code, 1, "{args:?}");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
        assert!(!out.exists(), "{args:?} wrote a file");
    }
    // A folder that does not exist: named, and nothing half-written is left.
    let missing = tmp.path().join("no-such-folder").join("x.pdf");
    let (_, stderr) = err(
        &[
            "print",
            "care-plan",
            "--data",
            &data,
            "--person",
            "person-0001",
            "--out",
            missing.to_str().unwrap(),
        ],
        None,
    );
    assert!(stderr.contains("cannot write"), "{stderr}");
}

#[test]
fn a_printed_copy_is_checked_against_the_ledger_as_it_moves_on() {
    let tmp = tempfile::tempdir().unwrap();
    let data = simulate(tmp.path());
    let out = tmp.path().join("mar.pdf");
    let summary = print_person(&data, "mar", "pdf", &out, &[]);
    let mar = reference(&summary);
    let checked = ok(&["check-document", "--data", &data, &mar], None);
    assert!(checked.contains("the ledger's own"), "{checked}");
    assert!(checked.contains("CURRENT: revision"), "{checked}");

    // A medicine is added: the copy in the home is out of date (exit 1, said on stdout).
    let line = serde_json::json!({
        "actor": "staff-rm01", "subject": "person-0001", "kind": "mar.medicine_added",
        "occurred_at": "2026-11-01T09:00:00Z",
        "payload": {"medicine_id": "med-new", "name": "Senna", "formulation": "tablet",
            "strength": "7.5 mg", "dose": "2 tablets", "route": "oral", "frequency": "at night",
            "min_interval_minutes": 0, "as_required": false, "prescriber": "Dr B Osei",
            "stop_or_review_date": null}
    })
    .to_string();
    ok(&["append", "--data", &data], Some(&line));
    let run = careledger(&["check-document", "--data", &data, &mar], None);
    assert_eq!(run.status.code(), Some(1));
    let said = String::from_utf8_lossy(&run.stdout);
    assert!(
        said.contains("OUT OF DATE: this copy is revision"),
        "{said}"
    );

    // A reference whose root is not the ledger's: not printed from it (exit 3).
    let mut parts: Vec<String> = mar.split(':').map(String::from).collect();
    parts[4] = "000000000000".into();
    let (code, stderr) = err(&["check-document", "--data", &data, &parts.join(":")], None);
    assert_eq!(code, 3);
    assert!(stderr.contains("not printed from this ledger"), "{stderr}");
    // Beyond the ledger's size, and not a reference at all.
    parts[3] = "99999999".into();
    let (code, _) = err(&["check-document", "--data", &data, &parts.join(":")], None);
    assert_eq!(code, 3);
    let (code, stderr) = err(&["check-document", "--data", &data, "hello"], None);
    assert_eq!(code, 1);
    assert!(stderr.contains("does not start CL1:"), "{stderr}");
}

#[test]
fn a_copy_printed_for_the_home_is_recorded_with_its_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let data = simulate(tmp.path());
    let out = tmp.path().join("plan.pdf");
    let summary = print_person(
        &data,
        "care-plan",
        "large-print",
        &out,
        &["--placed-by", "staff-rm01"],
    );
    assert!(
        summary.contains("recorded as placed in the home: event "),
        "{summary}"
    );
    let digest = summary
        .lines()
        .find_map(|l| l.strip_prefix("digest "))
        .unwrap();
    // The ledger now says which copy is in the home: this one, exactly.
    let checked = ok(
        &["check-document", "--data", &data, &reference(&summary)],
        None,
    );
    assert!(
        checked.contains(&format!(
            "in the home: version 1, large print, digest {digest}"
        )),
        "{checked}"
    );
    // A pack is not one person's copy.
    let (_, stderr) = err(
        &[
            "print",
            "contingency",
            "--data",
            &data,
            "--out",
            out.to_str().unwrap(),
            "--placed-by",
            "staff-rm01",
        ],
        None,
    );
    assert!(
        stderr.contains("not a copy of one person's document"),
        "{stderr}"
    );
}

#[test]
fn the_service_user_guide_prints_for_a_home_in_its_format_and_checks_current() {
    let tmp = tempfile::tempdir().unwrap();
    let data = simulate(tmp.path());
    let text = tmp.path().join("guide.txt");
    let summary = ok(
        &[
            "print",
            "guide",
            "--data",
            &data,
            "--format",
            "text",
            "--out",
            text.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        summary.starts_with("Service User Guide: Home Care: "),
        "{summary}"
    );
    let r = reference(&summary);
    assert!(r.starts_with("CL1:guide:1:") && r.ends_with(":-"), "{r}");
    let body = std::fs::read_to_string(&text).unwrap();
    for said in [
        "Version 1, published",
        "Your records and your choices",
        "Seeing your records is free.",
    ] {
        assert!(body.contains(said), "{said:?} not in {body}");
    }
    // For one home: recorded as placed, with its version and digest.
    let pdf = tmp.path().join("guide.pdf");
    let placed = ok(
        &[
            "print",
            "guide",
            "--data",
            &data,
            "--person",
            "person-0001",
            "--format",
            "large-print",
            "--placed-by",
            "staff-rm01",
            "--out",
            pdf.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        placed.contains("recorded as placed in the home: event "),
        "{placed}"
    );
    let checked = ok(
        &["check-document", "--data", &data, &reference(&placed)],
        None,
    );
    assert!(
        checked.contains("CURRENT: version 1 is the current Service User Guide"),
        "{checked}"
    );
    // What cannot be: named, and nothing written.
    let out = tmp.path().join("x.pdf");
    let out_s = out.to_str().unwrap();
    for (args, said) in [
        (
            vec![
                "print",
                "guide",
                "--data",
                &data,
                "--placed-by",
                "staff-rm01",
                "--out",
                out_s,
            ],
            "name them with --person",
        ),
        (
            vec![
                "print",
                "guide",
                "--data",
                &data,
                "--people",
                "person-0001",
                "--out",
                out_s,
            ],
            "the same for everyone",
        ),
        (
            vec![
                "print", "guide", "--data", &data, "--person", "nobody", "--out", out_s,
            ],
            "there is no person \"nobody\"",
        ),
    ] {
        let (code, stderr) = err(&args, None);
        assert_eq!(code, 1, "{args:?}");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
        assert!(!out.exists(), "{args:?} wrote a file");
    }
}
