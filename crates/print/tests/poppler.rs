//! Every PDF read back with Debian's poppler-utils, as a reader's software reads it:
//! `pdfinfo` (tagged, titled, PDF/UA-1 identified, en-GB), `pdffonts` (every font
//! embedded), `pdftotext` (the NG67 fields and the allergies on the MAR chart's first page;
//! a person's words printed as written) and `pdftotext -bbox` (large print and easy read
//! have no text under 16 point). .ci/run installs poppler-utils; elsewhere the test is
//! skipped when it is missing.

mod common;

use std::path::Path;
use std::process::Command;

use careledger_print::{Format, Kind};
use common::*;

fn poppler() -> bool {
    let ok = Command::new("pdfinfo")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "pdfinfo is missing; .ci/run installs poppler-utils"
        );
        eprintln!("skipping: poppler-utils is not installed");
    }
    ok
}

fn run(tool: &str, args: &[&str], file: &Path) -> String {
    let out = Command::new(tool)
        .args(args)
        .arg(file)
        .args(if tool == "pdftotext" {
            &["-"][..]
        } else {
            &[][..]
        })
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn write(dir: &Path, h: &Home, kind: Kind, format: Format) -> std::path::PathBuf {
    let p = person_doc(h, kind, format);
    let path = dir.join(format!("{}-{}.pdf", kind.name(), format.name()));
    std::fs::write(&path, &p.bytes).unwrap();
    path
}

/// The smallest text on the first page, in points: a word's box is 1.24 times the size
/// the text is set in, for the fonts embedded.
fn smallest_text_points(bbox_html: &str) -> f64 {
    let attr = |line: &str, name: &str| -> f64 {
        let at = line.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        line[at..].split('"').next().unwrap().parse().unwrap()
    };
    bbox_html
        .lines()
        .filter(|l| l.trim_start().starts_with("<word"))
        .map(|l| (attr(l, "yMax") - attr(l, "yMin")) / 1.24)
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn every_pdf_is_tagged_titled_pdf_ua_in_en_gb_with_its_fonts_embedded() {
    if !poppler() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let h = home(vec!["Penicillin".into()]);
    for kind in [Kind::CarePlan, Kind::Mar, Kind::Diary] {
        for format in [Format::Pdf, Format::LargePrint, Format::EasyRead] {
            let path = write(dir.path(), &h, kind, format);
            let info = run("pdfinfo", &[], &path);
            let what = format!("{kind:?} {format:?}");
            assert!(info.contains("Tagged:          yes"), "{what}: {info}");
            let title = info.lines().find(|l| l.starts_with("Title:")).unwrap_or("");
            assert!(title.ends_with("for Joan Hill"), "{what}: {title}");
            let meta = run("pdfinfo", &["-meta"], &path);
            assert!(
                meta.contains("<pdfuaid:part>1</pdfuaid:part>"),
                "{what}: {meta}"
            );
            assert!(meta.contains("<rdf:li>en-GB</rdf:li>"), "{what}: {meta}");
            let fonts = run("pdffonts", &[], &path);
            for line in fonts.lines().skip(2) {
                let cols: Vec<&str> = line.split_whitespace().collect();
                assert_eq!(
                    cols.get(cols.len() - 5),
                    Some(&"yes"),
                    "{what}: not embedded: {line}"
                );
            }
        }
    }
}

#[test]
fn the_mar_charts_first_page_has_the_person_and_their_allergies() {
    if !poppler() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let h = home(vec!["Penicillin".into()]);
    for format in [Format::Pdf, Format::LargePrint, Format::EasyRead] {
        let path = write(dir.path(), &h, Kind::Mar, format);
        let first = run("pdftotext", &["-f", "1", "-l", "1"], &path);
        let first = first.split_whitespace().collect::<Vec<_>>().join(" ");
        for said in [
            "Joan Hill",
            "17 May 1938",
            "943 476 5919",
            "Hyde Park Surgery",
            "Allergies: Penicillin",
        ] {
            assert!(
                first.contains(said),
                "{format:?}: {said:?} not on page 1: {first}"
            );
        }
        // In the order it was laid out, cell by cell: wrapped cells are not interleaved.
        let all = run("pdftotext", &["-raw"], &path);
        let all = all.split_whitespace().collect::<Vec<_>>().join(" ");
        for said in [
            "Amlodipine",
            "tablet, 5 mg",
            "oral",
            "once a day at 08:00",
            // The stop or review date.
            "1 Feb 2027",
            "Prescribed by Dr",
            "Given 1 tablet, signed Sam Patel",
            "Refused: said she felt sick",
            "As-needed",
            "Paracetamol",
        ] {
            assert!(all.contains(said), "{format:?}: {said:?} missing: {all}");
        }
    }
}

#[test]
fn large_print_and_easy_read_have_nothing_under_16_point() {
    if !poppler() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let h = home(vec!["Penicillin".into()]);
    for kind in [Kind::CarePlan, Kind::Mar, Kind::Diary] {
        for format in [Format::LargePrint, Format::EasyRead] {
            let path = write(dir.path(), &h, kind, format);
            let smallest = smallest_text_points(&run("pdftotext", &["-bbox"], &path));
            assert!(
                smallest >= 15.9,
                "{kind:?} {format:?}: text at {smallest:.1} pt"
            );
        }
        // Standard print is smaller: the measure can tell them apart.
        let path = write(dir.path(), &h, kind, Format::Pdf);
        let smallest = smallest_text_points(&run("pdftotext", &["-bbox"], &path));
        assert!(
            smallest < 12.0,
            "{kind:?} standard print at {smallest:.1} pt"
        );
    }
}
