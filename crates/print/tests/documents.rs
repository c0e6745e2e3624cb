//! The documents as their readers get them: what each says (read from the plain text, the
//! format a screen reader gets), that a PDF is a PDF/UA-1 document, that the same state
//! prints the same bytes, and that a reference reads back.

mod common;

use careledger_print::{build, check, print, text, Format, Kind, Period, Reference, Request};
use common::*;

fn text_of(h: &Home, kind: Kind) -> String {
    String::from_utf8(person_doc(h, kind, Format::Text).bytes).unwrap()
}

/// The text with its line breaks and indents as single spaces: what is said, however it
/// wrapped.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn assert_narrow(text: &str) {
    for (n, line) in text.lines().enumerate() {
        assert!(
            line.chars().count() <= text::COLUMNS,
            "line {} is {} characters: {line:?}",
            n + 1,
            line.chars().count()
        );
    }
}

#[test]
fn the_care_plan_has_the_prsb_sections_its_version_and_who_published_it() {
    let h = home(vec!["Penicillin".into()]);
    let t = text_of(&h, Kind::CarePlan);
    for said in [
        "Care plan for Joan Hill",
        "Version 1, published",
        "by Ruth Mensah",
        "About me",
        "I taught at the village school for forty years.",
        "My needs",
        "- Help to wash and dress each morning",
        "What matters to me: my goals",
        "How I will be supported: planned actions",
        "Risks and how they are managed",
        "Contingency plan: what to do if things go wrong",
        "call Joan's daughter Mary",
        "Agreed with: Joan Hill, Mary Hill (daughter)",
        "Next review by: 1 February 2027",
        "NHS number: 943 476 5919",
        "!! ALLERGIES: Penicillin",
        "CL1:care-plan:1:",
    ] {
        assert!(t.contains(said), "{said:?} missing from:\n{t}");
    }
    assert_narrow(&t);
}

#[test]
fn the_mar_chart_has_what_nice_ng67_asks_and_every_dose_signed_dated_and_timed() {
    let h = home(vec!["Penicillin".into(), "Latex".into()]);
    let t = text_of(&h, Kind::Mar);
    let f = flat(&t);
    for said in [
        "MAR chart for Joan Hill",
        "Name: Joan Hill",
        "Date of birth: 17 May 1938",
        "NHS number: 943 476 5919",
        "GP practice: Hyde Park Surgery",
        "!! ALLERGIES: Penicillin; Latex",
        // Each medicine's details.
        "Medicine: Amlodipine",
        "Form and strength: tablet, 5 mg",
        "Dose: 1 tablet",
        "Route: oral",
        "When: once a day at 08:00",
        "Stop or review: 1 Feb 2027",
        "Instructions: Prescribed by Dr A Khan.",
        // The grid: a dose given and one refused, timed and signed.
        "08:05 Given 1 tablet, signed Sam Patel",
        "08:05 Refused: said she felt sick, will try at lunch, signed Sam Patel",
        // Days with nothing recorded, left for entries by hand.
        "(nothing recorded)",
        "empty rows here for entries by hand",
        // As-needed medicines apart, with their doses.
        "As-needed (PRN) medicines",
        "Instructions: At least 4 hours between doses. Only when needed (PRN).",
        "Given 2 tablets: knee pain, signed Sam Patel",
    ] {
        assert!(f.contains(said), "{said:?} missing from:\n{t}");
    }
    // Only what NG67 asks of the person: the medicines section's categories, nothing more.
    assert!(
        !f.contains("Address:"),
        "the MAR chart prints the address:\n{t}"
    );
    assert!(flat(&text_of(&h, Kind::CarePlan)).contains("Address:"));
    assert_narrow(&t);
}

#[test]
fn no_allergies_is_said_never_left_blank() {
    let h = home(vec![]);
    let t = text_of(&h, Kind::Mar);
    assert!(t.contains("!! ALLERGIES: None known"), "{t}");
    let easy = build(
        &h.state,
        &Request::Person {
            kind: Kind::Mar,
            id: PERSON,
            entries: &h.entries,
            period: Period::ending_at(&h.checkpoint(), 28),
        },
        Format::EasyRead,
        &h.checkpoint(),
    )
    .unwrap()
    .0
    .doc();
    let alert = easy
        .sections
        .iter()
        .flat_map(|s| &s.blocks)
        .find_map(|b| match b {
            careledger_print::doc::Block::Alert { text, .. } => Some(text.clone()),
            _ => None,
        })
        .unwrap();
    assert!(alert.starts_with("None known."), "{alert}");
}

#[test]
fn diary_records_attribute_every_note_and_cover_the_period_asked() {
    let h = home(vec![]);
    let checkpoint = h.checkpoint();
    let doc = |days| {
        String::from_utf8(
            print(
                &h.state,
                &Request::Person {
                    kind: Kind::Diary,
                    id: PERSON,
                    entries: &h.entries,
                    period: Period::ending_at(&checkpoint, days),
                },
                Format::Text,
                &checkpoint,
            )
            .unwrap()
            .bytes,
        )
        .unwrap()
    };
    let all = doc(28);
    assert!(all.contains("14 entries"), "{all}");
    assert!(all.contains("Written by: Sam Patel"), "{all}");
    assert!(all.contains("Entry: Day 0: breakfast eaten"), "{all}");
    // Two days: the last two notes only.
    let two = doc(2);
    assert!(two.contains("2 entries"), "{two}");
    assert!(!two.contains("Day 0:") && two.contains("Day 13:"), "{two}");
}

#[test]
fn the_same_state_and_checkpoint_print_the_same_bytes_in_every_format() {
    let h = home(vec!["Penicillin".into()]);
    for kind in [Kind::CarePlan, Kind::Mar, Kind::Diary] {
        for format in Format::ALL {
            let a = person_doc(&h, kind, format);
            let b = person_doc(&h, kind, format);
            assert_eq!(a.bytes, b.bytes, "{kind:?} {format:?}");
            assert_eq!(a.digest, b.digest);
            assert_eq!(a.digest, blake3::hash(&a.bytes).to_hex().to_string());
        }
    }
    // A later checkpoint (one more note) prints a different copy.
    let mut later = home(vec!["Penicillin".into()]);
    later.record(
        CW,
        Some(PERSON),
        later.now_us + HOUR_US,
        careledger_care::CareEvent::DiaryNote(careledger_care::event::DiaryNote {
            author: careledger_care::Author::Staff,
            text: "One more".into(),
        }),
    );
    assert_ne!(
        person_doc(&h, Kind::CarePlan, Format::Pdf).digest,
        person_doc(&later, Kind::CarePlan, Format::Pdf).digest
    );
}

#[test]
fn a_pdf_is_tagged_pdf_ua_1_with_its_title_and_language() {
    let h = home(vec!["Penicillin".into()]);
    for format in [Format::Pdf, Format::LargePrint, Format::EasyRead] {
        let p = person_doc(&h, Kind::CarePlan, format);
        assert!(p.bytes.starts_with(b"%PDF-"), "{format:?}");
        let raw = String::from_utf8_lossy(&p.bytes);
        // The XMP metadata is stored uncompressed: the PDF/UA identification and title.
        assert!(
            raw.contains("pdfuaid:part"),
            "{format:?}: no PDF/UA identification"
        );
        assert!(
            raw.contains("Care plan for Joan Hill"),
            "{format:?}: no title"
        );
        assert!(raw.contains("/Lang"), "{format:?}: no language");
        assert!(raw.contains("/StructTreeRoot"), "{format:?}: not tagged");
    }
}

#[test]
fn text_that_looks_like_markup_is_printed_as_written() {
    let mut h = home(vec![]);
    let odd = "Said #panic(\"no\") and *this* $x$ [link](y) \\ <b> #set page(width: 1pt)";
    h.record(
        PERSON,
        Some(PERSON),
        h.now_us + HOUR_US,
        careledger_care::CareEvent::DiaryNote(careledger_care::event::DiaryNote {
            author: careledger_care::Author::Person,
            text: odd.into(),
        }),
    );
    let pdf = person_doc(&h, Kind::Diary, Format::Pdf);
    assert!(pdf.bytes.starts_with(b"%PDF-"));
    let t = text_of(&h, Kind::Diary);
    assert!(t.contains("Written by: person-1 (the person)"), "{t}");
    assert!(t.contains(odd), "{t}");
}

#[test]
fn a_reference_reads_back_and_a_bad_one_is_named() {
    let h = home(vec![]);
    let p = person_doc(&h, Kind::CarePlan, Format::Pdf);
    let text = p.reference.to_string();
    assert_eq!(
        text,
        format!("CL1:care-plan:1:{}:3f3f3f3f3f3f:person-1", h.seq)
    );
    assert_eq!(text.parse::<Reference>().unwrap(), p.reference);
    // An id with a colon in it is the last part, whole.
    let odd = Reference {
        subject: Some("home:7".into()),
        ..p.reference.clone()
    };
    assert_eq!(odd.to_string().parse::<Reference>().unwrap(), odd);
    for (bad, said) in [
        ("", "no prefix"),
        ("CL2:care-plan:1:5:3f3f3f3f3f3f:p", "does not start CL1:"),
        ("CL1:letter:1:5:3f3f3f3f3f3f:p", "\"letter\" is not a kind"),
        ("CL1:care-plan:one:5:3f3f3f3f3f3f:p", "version \"one\""),
        ("CL1:care-plan:1:x:3f3f3f3f3f3f:p", "tree size \"x\""),
        ("CL1:care-plan:1:5:3f3f:p", "not 12 hex digits"),
        ("CL1:care-plan:1:5:3f3f3f3f3f3f", "no subject"),
    ] {
        let e = bad.parse::<Reference>().unwrap_err().to_string();
        assert!(e.contains(said), "{bad:?}: {e}");
    }
}

#[test]
fn the_check_says_whether_a_copy_is_the_current_version() {
    let mut h = home(vec![]);
    let plan = person_doc(&h, Kind::CarePlan, Format::Pdf).reference;
    let mar = person_doc(&h, Kind::Mar, Format::Pdf).reference;
    assert!(check::status_of(&h.state, &plan).current);
    assert!(check::status_of(&h.state, &mar).current);
    // A new medicine makes the MAR chart out of date, not the care plan.
    h.record(
        RM,
        Some(PERSON),
        h.now_us + HOUR_US,
        careledger_care::CareEvent::MedicineAdded(medicine("med-x", "Senna", false)),
    );
    let s = check::status_of(&h.state, &mar);
    assert!(!s.current && s.said.contains("revision"), "{s:?}");
    assert!(check::status_of(&h.state, &plan).current);
    // A copy whose version was altered to the current one, under a checkpoint from before
    // that version existed, is not current.
    h.record(
        RM,
        Some(PERSON),
        h.now_us + HOUR_US,
        careledger_care::CareEvent::MedicineAdded(medicine("med-y", "Zinc", false)),
    );
    let altered = careledger_print::Reference {
        version: Some(h.state.person(PERSON).unwrap().mar_revision),
        ..mar.clone()
    };
    let s = check::status_of(&h.state, &altered);
    assert!(!s.current, "{s:?}");
    // To anyone, nothing of a person's document; a report is a report of its time.
    assert!(check::status_for_anyone(&h.state, &plan).is_none());
}

#[test]
fn a_contingency_pack_has_an_index_and_each_persons_plan_and_chart() {
    let h = home(vec!["Penicillin".into()]);
    let checkpoint = h.checkpoint();
    let people = vec![(PERSON.to_string(), h.entries.clone())];
    let request = Request::Pack {
        people: &people,
        period: Period::ending_at(&checkpoint, 28),
        volume: None,
    };
    let t = String::from_utf8(
        print(&h.state, &request, Format::Text, &checkpoint)
            .unwrap()
            .bytes,
    )
    .unwrap();
    for said in [
        "Contingency pack",
        "1. Joan Hill (person-1): care plan",
        "2. Joan Hill (person-1): MAR chart",
        "Risks and how they are managed",
        "08:05 Given 1 tablet, signed Sam Patel",
    ] {
        assert!(t.contains(said), "{said:?} missing from:\n{t}");
    }
    let pdf = print(&h.state, &request, Format::Pdf, &checkpoint).unwrap();
    assert!(pdf.bytes.starts_with(b"%PDF-"));
    assert!(pdf.reference.to_string().starts_with("CL1:contingency:-:"));
    // Nobody, or somebody unknown, is refused by name.
    let none: Vec<(String, Vec<careledger_print::Entry>)> = vec![];
    let e = print(
        &h.state,
        &Request::Pack {
            people: &none,
            period: Period::ending_at(&checkpoint, 28),
            volume: None,
        },
        Format::Pdf,
        &checkpoint,
    )
    .unwrap_err();
    assert!(e.to_string().contains("names nobody"), "{e}");
    let ghost = vec![("person-404".to_string(), vec![])];
    let e = print(
        &h.state,
        &Request::Pack {
            people: &ghost,
            period: Period::ending_at(&checkpoint, 28),
            volume: None,
        },
        Format::Pdf,
        &checkpoint,
    )
    .unwrap_err();
    assert!(e.to_string().contains("person-404"), "{e}");
}

#[test]
fn the_format_follows_the_persons_recorded_information_needs() {
    let mut h = home(vec![]);
    let p = h.state.person(PERSON).unwrap();
    assert_eq!(Format::for_person(p), Format::Pdf);
    h.record(
        RM,
        Some(PERSON),
        h.now_us + HOUR_US,
        careledger_care::CareEvent::AisNeedsRecorded(careledger_care::event::AisNeedsRecorded {
            needs: vec![careledger_care::AisNeed::InformationFormat(
                careledger_care::Format::LargePrint,
            )],
            consent_to_share: true,
        }),
    );
    assert_eq!(
        Format::for_person(h.state.person(PERSON).unwrap()),
        Format::LargePrint
    );
}

#[test]
fn the_councils_reports_name_the_events_that_prove_each_line() {
    use careledger_care::event::{
        AisNeedsRecorded, ChoicesDiscussed, PaperCopyPlaced, RequestAcknowledged, RequestReceived,
        RequestResponded,
    };
    use careledger_care::{AisNeed, CareEvent as E, Category, Channel, Document, InfoOption};
    let mut h = home(vec![]);
    let t0 = h.now_us + HOUR_US;
    let at = |h: &mut Home, dt: i64, about: Option<&str>, e: E| -> u64 {
        h.record(RM, about, t0 + dt, e);
        h.seq - 1
    };
    let discussed = at(
        &mut h,
        0,
        Some(PERSON),
        E::ChoicesDiscussed(ChoicesDiscussed {
            present: vec!["Joan Hill".into()],
            options_explained: InfoOption::ALL.to_vec(),
            chosen: vec![InfoOption::Paper],
            told_access_is_free: true,
            notes: String::new(),
        }),
    );
    let placed = at(
        &mut h,
        1,
        Some(PERSON),
        E::PaperCopyPlaced(PaperCopyPlaced {
            document: Document::CarePlan,
            version: Some(1),
            format: careledger_care::Format::LargePrint,
            digest: None,
        }),
    );
    let needs = at(
        &mut h,
        2,
        Some(PERSON),
        E::AisNeedsRecorded(AisNeedsRecorded {
            needs: vec![AisNeed::InformationFormat(
                careledger_care::Format::LargePrint,
            )],
            consent_to_share: true,
        }),
    );
    let received = at(
        &mut h,
        3,
        None,
        E::RequestReceived(RequestReceived {
            request_id: "req-1".into(),
            requester: "council-mo01".into(),
            organisation: "Camden Council".into(),
            people: vec![PERSON.into()],
            categories: vec![Category::CarePlan],
            description: "The care plan".into(),
            received_at_us: t0,
            due_at_us: t0 + DAY_US,
        }),
    );
    let acknowledged = at(
        &mut h,
        HOUR_US,
        None,
        E::RequestAcknowledged(RequestAcknowledged {
            request_id: "req-1".into(),
        }),
    );
    let responded = at(
        &mut h,
        2 * HOUR_US,
        None,
        E::RequestResponded(RequestResponded {
            request_id: "req-1".into(),
            digest: [7; 32],
            channel: Channel::SecureEmail,
            items: 1,
        }),
    );
    let checkpoint = h.checkpoint();
    let report = |kind: Kind, format: Format| {
        print(&h.state, &Request::Report { kind }, format, &checkpoint).unwrap()
    };
    let text = |kind| flat(&String::from_utf8(report(kind, Format::Text).bytes).unwrap());
    let m = text(Kind::Monitoring);
    for said in [
        "People receiving care: 1".to_string(),
        "With a choices discussion recorded: 1".into(),
        format!("chose paper; told access is free (event {discussed})"),
        format!("care plan version 1, large print (event {placed})"),
        format!("(event {needs})"),
        "Joan Hill (person-1)".into(),
    ] {
        assert!(m.contains(&said), "{said:?} missing from:\n{m}");
    }
    let r = text(Kind::ResponseTimes);
    for said in [
        "Requests: 1".to_string(),
        "Answered in time: 1".into(),
        format!("(event {received})"),
        format!("(event {acknowledged})"),
        format!("(event {responded})"),
        "by secure email, what was sent 070707070707".into(),
        "answered in time".into(),
        "2 h 00 min".into(),
    ] {
        assert!(r.contains(&said), "{said:?} missing from:\n{r}");
    }
    for kind in [Kind::Monitoring, Kind::ResponseTimes] {
        let pdf = report(kind, Format::Pdf);
        assert!(pdf.bytes.starts_with(b"%PDF-"));
        assert_eq!(
            pdf.reference.to_string(),
            format!(
                "CL1:{}:-:{}:{}:-",
                kind.name(),
                checkpoint.size,
                checkpoint.root_start()
            )
        );
        let s = check::status_of(&h.state, &pdf.reference);
        assert!(
            s.current && s.said.contains("AS OF ITS CHECKPOINT"),
            "{s:?}"
        );
        // A report is not about one person.
        let e = print(
            &h.state,
            &Request::Person {
                kind,
                id: PERSON,
                entries: &h.entries,
                period: Period::ending_at(&checkpoint, 28),
            },
            Format::Pdf,
            &checkpoint,
        )
        .unwrap_err();
        assert!(e.to_string().contains("not about one person"), "{e}");
    }
}

#[test]
fn a_large_pack_is_printed_in_volumes_that_count_people_across_the_pack() {
    use careledger_print::pack::{Volume, VOLUME_PEOPLE};
    assert_eq!(
        Volume::split(0).len(),
        1,
        "an empty pack is one (refused) volume"
    );
    let one = Volume::split(VOLUME_PEOPLE);
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].0, 0..VOLUME_PEOPLE);
    let three = Volume::split(2 * VOLUME_PEOPLE + 1);
    assert_eq!(three.len(), 3);
    assert_eq!(three[1].0, VOLUME_PEOPLE..2 * VOLUME_PEOPLE);
    assert_eq!(three[2].0, 2 * VOLUME_PEOPLE..2 * VOLUME_PEOPLE + 1);
    assert_eq!(
        three[2].1,
        Volume {
            number: 3,
            of: 3,
            first: 2 * VOLUME_PEOPLE + 1,
            total: 2 * VOLUME_PEOPLE + 1
        }
    );
    // Volume 3 of a pack of 101: its person is the 101st, in the title, the introduction
    // and the index.
    let h = home(vec![]);
    let checkpoint = h.checkpoint();
    let people = vec![(PERSON.to_string(), h.entries.clone())];
    let request = Request::Pack {
        people: &people,
        period: Period::ending_at(&checkpoint, 28),
        volume: Some(three[2].1),
    };
    let t = flat(
        &String::from_utf8(
            print(&h.state, &request, Format::Text, &checkpoint)
                .unwrap()
                .bytes,
        )
        .unwrap(),
    );
    for said in [
        "Contingency pack, volume 3 of 3",
        "people 101 to 101 of the 101 in this pack (volume 3 of 3)",
    ] {
        assert!(t.contains(said), "{said:?} missing from:\n{t}");
    }
    let pack = careledger_print::pack::build(
        &h.state,
        &people,
        Period::ending_at(&checkpoint, 28),
        &checkpoint,
        Format::Pdf,
        Some(three[2].1),
    )
    .unwrap();
    assert_eq!(pack.part(1).1, "person 101 of 101, Joan Hill (person-1)");
}

fn guide(version: u32, complaints: &str) -> careledger_care::CareEvent {
    careledger_care::CareEvent::GuidePublished(careledger_care::event::GuidePublished {
        version,
        title: "Service User Guide: Home Care".into(),
        sections: vec![
            careledger_care::event::GuideSection {
                heading: "About us".into(),
                body: "We care for people at home. Our office is open from 8am to 6pm.\n\nKeep this guide with your care plan.".into(),
            },
            careledger_care::event::GuideSection {
                heading: "Complaints".into(),
                body: complaints.into(),
            },
        ],
    })
}

#[test]
fn the_service_user_guide_prints_its_version_and_is_checked_by_anyone() {
    let mut h = home(vec![]);
    let none = print(&h.state, &Request::Guide, Format::Pdf, &h.checkpoint());
    assert!(
        matches!(none, Err(careledger_print::PrintError::NoGuide)),
        "{none:?}"
    );
    h.record(RM, None, h.now_us + HOUR_US, guide(1, "Call the office."));
    let text = print(&h.state, &Request::Guide, Format::Text, &h.checkpoint()).unwrap();
    let t = String::from_utf8(text.bytes.clone()).unwrap();
    assert_narrow(&t);
    assert!(t.starts_with("Service User Guide: Home Care\n"), "{t}");
    assert!(flat(&t).contains("Version 1, published"), "{t}");
    assert!(flat(&t).contains("by Ruth Mensah"), "{t}");
    assert!(t.contains("Complaints\n=========="), "{t}");
    assert!(t.contains("Keep this guide with your care plan."), "{t}");
    assert_eq!(text.reference.version, Some(1));
    assert_eq!(text.reference.subject, None);
    assert_eq!(text.reference.kind, Kind::Guide);
    // Easy read: one sentence to a line.
    let easy = build(&h.state, &Request::Guide, Format::EasyRead, &h.checkpoint())
        .unwrap()
        .0
        .doc();
    let paragraphs: Vec<String> = easy.sections[0]
        .blocks
        .iter()
        .filter_map(|b| match b {
            careledger_print::doc::Block::Para { text } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert!(
        paragraphs.contains(&"We care for people at home.".to_string()),
        "{paragraphs:?}"
    );
    assert!(
        paragraphs.contains(&"Our office is open from 8am to 6pm.".to_string()),
        "{paragraphs:?}"
    );
    // Every format prints, the same bytes twice.
    for format in Format::ALL {
        let a = print(&h.state, &Request::Guide, format, &h.checkpoint()).unwrap();
        let b = print(&h.state, &Request::Guide, format, &h.checkpoint()).unwrap();
        assert_eq!(a.digest, b.digest, "{format:?}");
        assert_eq!(a.title, "Service User Guide: Home Care");
    }
    // The guide is about nobody, so anyone is told whether a copy is current.
    let v1 = text.reference.clone();
    let s = check::status_for_anyone(&h.state, &v1).unwrap();
    assert!(
        s.current && s.said.contains("version 1 is the current"),
        "{s:?}"
    );
    h.record(
        RM,
        None,
        h.now_us + HOUR_US,
        guide(2, "Call the office or the council."),
    );
    let s = check::status_for_anyone(&h.state, &v1).unwrap();
    assert!(
        !s.current && s.said.contains("current Service User Guide is version 2"),
        "{s:?}"
    );
    assert_eq!(
        check::status_of(&h.state, &v1),
        s,
        "the provider is told the same"
    );
    // A reference altered to name version 2 under a checkpoint from before it is not current.
    let altered = Reference {
        version: Some(2),
        ..v1
    };
    let s = check::status_for_anyone(&h.state, &altered).unwrap();
    assert!(!s.current && s.said.contains("altered"), "{s:?}");
    let unpublished = Reference {
        version: Some(9),
        ..altered
    };
    let s = check::status_for_anyone(&h.state, &unpublished).unwrap();
    assert!(
        !s.current && s.said.contains("published no version 9"),
        "{s:?}"
    );
    let v2 = print(&h.state, &Request::Guide, Format::Text, &h.checkpoint()).unwrap();
    assert!(String::from_utf8(v2.bytes)
        .unwrap()
        .contains("or the council"));
    assert!(
        check::status_for_anyone(&h.state, &v2.reference)
            .unwrap()
            .current
    );
}
