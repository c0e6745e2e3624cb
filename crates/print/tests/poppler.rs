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

/// The page ranges the pack's index gives, in order: "page 4" or "pages 4 to 9".
fn ranges(index: &str) -> Vec<(usize, usize)> {
    let words: Vec<&str> = index.split_whitespace().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let n = |w: &str| w.trim_end_matches(['.', ',']).parse::<usize>().ok();
        match (words[i], words.get(i + 1).and_then(|w| n(w))) {
            ("page", Some(a)) => {
                out.push((a, a));
                i += 2;
            }
            ("pages", Some(a)) if words.get(i + 2) == Some(&"to") => {
                let b = words.get(i + 3).and_then(|w| n(w)).expect("pages A to B");
                out.push((a, b));
                i += 4;
            }
            _ => i += 1,
        }
    }
    out
}

#[test]
fn the_contingency_pack_is_one_tagged_pdf_whose_index_gives_each_parts_pages() {
    if !poppler() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let h = home(vec!["Penicillin".into()]);
    let checkpoint = h.checkpoint();
    // The same person twice: the parts are laid out apart from identical text, and still
    // join into one valid structure.
    let people = vec![
        (PERSON.to_string(), h.entries.clone()),
        (PERSON.to_string(), h.entries.clone()),
    ];
    let request = careledger_print::Request::Pack {
        people: &people,
        period: careledger_print::Period::ending_at(&checkpoint, 28),
        volume: None,
    };
    let printed = careledger_print::print(&h.state, &request, Format::Pdf, &checkpoint).unwrap();
    let path = dir.path().join("pack.pdf");
    std::fs::write(&path, &printed.bytes).unwrap();
    let info = run("pdfinfo", &[], &path);
    assert!(info.contains("Tagged:          yes"), "{info}");
    assert!(info.contains("Title:           Contingency pack"), "{info}");
    let pages: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let meta = run("pdfinfo", &["-meta"], &path);
    assert!(meta.contains("<pdfuaid:part>1</pdfuaid:part>"), "{meta}");
    let front = run("pdftotext", &["-f", "1", "-l", "1"], &path);
    assert!(front.contains("Index"), "{front}");
    // The front's footer counts the whole pack.
    assert!(
        front
            .replace('\n', " ")
            .contains(&format!("Page 1 of {pages}")),
        "{front}"
    );
    let index = ranges(&front);
    assert_eq!(
        index.len(),
        4,
        "two people, a plan and a chart each: {front}"
    );
    // The parts follow the front without gaps and end on the last page.
    assert!(index[0].0 >= 2, "{index:?}");
    for w in index.windows(2) {
        assert_eq!(w[1].0, w[0].1 + 1, "{index:?}");
    }
    assert_eq!(index[3].1, pages, "{index:?}");
    // Each person's pages say whose they are and their page among that person's pages:
    // the care plan's first page is their first, the chart's last page their last.
    for n in 0..2 {
        let (first, last) = (index[2 * n].0, index[2 * n + 1].1);
        let chart = index[2 * n + 1].0;
        let whose = format!("person {} of 2, Joan Hill (person-1)", n + 1);
        let len = last - first + 1;
        for (page, said) in [
            (first, format!("Page 1 of {len}")),
            (chart, format!("Page {} of {len}", chart - first + 1)),
            (last, format!("Page {len} of {len}")),
        ] {
            let p = page.to_string();
            let t = run("pdftotext", &["-f", &p, "-l", &p], &path).replace('\n', " ");
            assert!(t.contains(&whose), "page {page} lacks {whose:?}: {t}");
            assert!(t.contains(&said), "page {page} lacks {said:?}: {t}");
        }
    }
    // The care plan's content is there, for each person.
    let all = run("pdftotext", &[], &path);
    assert_eq!(all.matches("Risks and how they are managed").count(), 2);
    // Laid out in parallel, printed again: the same bytes.
    let again = careledger_print::print(&h.state, &request, Format::Pdf, &checkpoint).unwrap();
    assert!(again.bytes == printed.bytes, "the pack is not reproducible");
}

#[test]
fn the_councils_reports_are_tagged_titled_pdfs_with_their_tables() {
    if !poppler() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let h = home(vec!["Penicillin".into()]);
    let checkpoint = h.checkpoint();
    for (kind, title, table) in [
        (Kind::Monitoring, "Monitoring report", "Each person"),
        (Kind::ResponseTimes, "Response-time report", "Each request"),
    ] {
        let p = careledger_print::print(
            &h.state,
            &careledger_print::Request::Report { kind },
            Format::Pdf,
            &checkpoint,
        )
        .unwrap();
        let path = dir.path().join(format!("{}.pdf", kind.name()));
        std::fs::write(&path, &p.bytes).unwrap();
        let info = run("pdfinfo", &[], &path);
        assert!(info.contains("Tagged:          yes"), "{kind:?}: {info}");
        assert!(
            info.contains(&format!("Title:           {title}")),
            "{info}"
        );
        // Landscape A4: the tables are wide.
        let size = info
            .lines()
            .find(|l| l.starts_with("Page size:"))
            .unwrap_or("");
        assert!(
            size.contains("841.89 x 595.2"),
            "{kind:?} is not landscape: {size}"
        );
        let text = run("pdftotext", &[], &path);
        assert!(text.contains(table), "{kind:?}: {text}");
        assert!(
            text.contains("Joan Hill (person-1)") || kind == Kind::ResponseTimes,
            "{text}"
        );
    }
}

#[test]
fn the_service_user_guide_is_a_tagged_pdf_ua_document_in_clear_print_when_asked() {
    if !poppler() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Four versions: the rules take each in turn, and the fourth is printed.
    let mut h = home(vec![]);
    for version in 1..=4 {
        h.record(
            RM,
            None,
            h.now_us + HOUR_US,
            careledger_care::CareEvent::GuidePublished(careledger_care::event::GuidePublished {
                version,
                title: "Service User Guide".into(),
                sections: vec![careledger_care::event::GuideSection {
                    heading: "Your records and your choices".into(),
                    body: "You can have paper copies. Seeing your records is free.".into(),
                }],
            }),
        );
    }
    for format in [Format::Pdf, Format::LargePrint, Format::EasyRead] {
        let p = careledger_print::print(
            &h.state,
            &careledger_print::Request::Guide,
            format,
            &h.checkpoint(),
        )
        .unwrap();
        let path = dir.path().join(format!("guide-{}.pdf", format.name()));
        std::fs::write(&path, &p.bytes).unwrap();
        let info = run("pdfinfo", &[], &path);
        assert!(info.contains("Tagged:          yes"), "{format:?}: {info}");
        assert!(
            info.contains("Title:           Service User Guide"),
            "{format:?}: {info}"
        );
        let meta = run("pdfinfo", &["-meta"], &path);
        assert!(
            meta.contains("<pdfuaid:part>1</pdfuaid:part>"),
            "{format:?}"
        );
        assert!(meta.contains("<rdf:li>en-GB</rdf:li>"), "{format:?}");
        let text = run("pdftotext", &[], &path);
        assert!(text.contains("Version 4, published"), "{format:?}: {text}");
        assert!(
            text.contains("Seeing your records is free."),
            "{format:?}: {text}"
        );
        let smallest = smallest_text_points(&run("pdftotext", &["-bbox"], &path));
        if format == Format::Pdf {
            assert!(smallest < 12.0, "standard print at {smallest:.1} pt");
        } else {
            assert!(smallest >= 15.9, "{format:?}: text at {smallest:.1} pt");
        }
    }
}
