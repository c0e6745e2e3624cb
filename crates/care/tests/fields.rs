//! The field rules (`careledger_care::fields`): what each field must be, where in the
//! payload an error is, and that lengths are counted in characters.

mod common;

use careledger_care::event::*;
use careledger_care::fields::{self, ID_CHARS_MAX, LIST_ITEMS_MAX, TEXT_CHARS_MAX};
use careledger_care::*;
use common::*;

fn missing_at(event: &CareEvent) -> (String, String) {
    match fields::check(event) {
        Err(RuleError::Missing { field, path }) => (field.to_string(), path),
        other => panic!("expected a missing field, got {other:?}"),
    }
}

#[test]
fn every_fixture_event_passes() {
    for e in [
        person("Joan Hill"),
        plan(1),
        plan_reviewed(1),
        medicine_added(MED, 240),
        given(MED),
        task(Some("v1"), TaskOutcome::Done),
        diary(Author::Staff, "Had breakfast"),
        request("req-1", &[PERSON], BASE_US, BASE_US + 1),
        back_entered("out-1", diary(Author::Staff, "on paper")),
        CareEvent::AccessGranted(grant(
            "g1",
            Grantee::Principal("friend".into()),
            &[Category::DailyNotes],
            PERSON,
            CapacityBasis::PersonHasCapacity,
        )),
    ] {
        assert_eq!(fields::check(&e), Ok(()), "{}", e.kind());
    }
}

#[test]
fn errors_name_the_field_and_its_place_in_the_payload() {
    let CareEvent::CarePlanPublished(mut p) = plan(1) else {
        unreachable!()
    };
    p.sections.about_me = " \n".into();
    assert_eq!(
        missing_at(&CareEvent::CarePlanPublished(p.clone())),
        ("about me".into(), "sections.about_me".into())
    );

    // An entry of a list of texts is never blank, even in a list that may be empty.
    p.sections.about_me = "Joan likes mornings slow".into();
    p.sections.goals = vec!["walk to the shop".into(), "  ".into()];
    assert_eq!(
        missing_at(&CareEvent::CarePlanPublished(p.clone())),
        ("goals".into(), "sections.goals.1".into())
    );
    p.sections.goals.clear();
    assert_eq!(
        fields::check(&CareEvent::CarePlanPublished(p.clone())),
        Ok(())
    );
    p.sections.needs.clear();
    assert_eq!(
        missing_at(&CareEvent::CarePlanPublished(p)),
        ("needs".into(), "sections.needs".into())
    );

    let not_done = task(
        None,
        TaskOutcome::NotDone {
            reason: String::new(),
        },
    );
    assert_eq!(
        missing_at(&not_done),
        ("reason".into(), "outcome.NotDone.reason".into())
    );

    let blank_grantee = CareEvent::AccessGranted(grant(
        "g1",
        Grantee::Principal(" ".into()),
        &[Category::DailyNotes],
        PERSON,
        CapacityBasis::PersonHasCapacity,
    ));
    assert_eq!(
        missing_at(&blank_grantee),
        ("grantee".into(), "grantee.Principal".into())
    );

    // A back-entered event is checked as itself, inside the back-entry.
    let inner = back_entered("out-1", diary(Author::Staff, ""));
    assert_eq!(
        missing_at(&inner),
        ("text".into(), "entry.DiaryNote.text".into())
    );
}

#[test]
fn ids_are_required_and_short() {
    assert_eq!(
        missing_at(&visit_completed("")),
        ("visit id".into(), "visit_id".into())
    );
    let long = "v".repeat(ID_CHARS_MAX + 1);
    match fields::check(&visit_started(&long)) {
        Err(RuleError::TooLong {
            field, path, max, ..
        }) => {
            assert_eq!(
                (field, path.as_str(), max),
                ("visit id", "visit_id", ID_CHARS_MAX)
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fields::check(&visit_started(&"v".repeat(ID_CHARS_MAX))),
        Ok(())
    );
    // An optional id may be left out; given, it is an id.
    assert_eq!(fields::check(&task(None, TaskOutcome::Done)), Ok(()));
    assert_eq!(
        missing_at(&task(Some(" "), TaskOutcome::Done)),
        ("visit id".into(), "visit_id".into())
    );
}

#[test]
fn lengths_are_characters_not_bytes() {
    // Three bytes a character: within the limit in characters, three times over in bytes.
    let note = "\u{6C34}".repeat(TEXT_CHARS_MAX);
    assert_eq!(fields::check(&diary(Author::Person, &note)), Ok(()));
    let over = format!("{note}a");
    match fields::check(&diary(Author::Person, &over)) {
        Err(RuleError::TooLong { len, max, path, .. }) => {
            assert_eq!(
                (len, max, path.as_str()),
                (TEXT_CHARS_MAX + 1, TEXT_CHARS_MAX, "text")
            );
        }
        other => panic!("{other:?}"),
    }
    // Fields with no rule of their own are bounded too.
    let CareEvent::Observation(mut o) = observation("37.2") else {
        unreachable!()
    };
    o.unit = "c".repeat(TEXT_CHARS_MAX + 1);
    assert!(matches!(
        fields::check(&CareEvent::Observation(o)),
        Err(RuleError::TooLong { field: "unit", .. })
    ));
}

#[test]
fn lists_are_bounded_everywhere() {
    let r = request(
        "req-1",
        &vec![PERSON; LIST_ITEMS_MAX + 3],
        BASE_US,
        BASE_US + 1,
    );
    match fields::check(&r) {
        Err(RuleError::TooMany {
            field,
            path,
            count,
            max,
        }) => {
            assert_eq!(
                (field, path.as_deref(), count, max),
                ("people", Some("people"), LIST_ITEMS_MAX + 3, LIST_ITEMS_MAX)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_table_names_each_field_once() {
    let mut seen = std::collections::BTreeSet::new();
    for f in fields::FIELDS {
        assert!(
            seen.insert((f.owner, f.field)),
            "{}.{} twice",
            f.owner,
            f.field
        );
        assert!(
            !fields::blank(f.label),
            "{}.{} has no label",
            f.owner,
            f.field
        );
    }
}

#[test]
fn an_nhs_number_is_checked_with_the_fields_shape_and_check_digit() {
    let with = |nhs: &str| {
        let CareEvent::PersonRegistered(mut e) = person("Joan Hill") else {
            unreachable!()
        };
        e.nhs_number = Some(nhs.into());
        fields::check(&CareEvent::PersonRegistered(e))
    };
    assert_eq!(with("943 476 5919"), Ok(()));
    assert_eq!(with("9434765919"), Ok(()));
    for bad in ["943 476 5918", "", "943-476-5919", "94347659190"] {
        assert_eq!(
            with(bad),
            Err(RuleError::InvalidNhsNumber { value: bad.into() }),
            "{bad:?}"
        );
    }
}

#[test]
fn control_characters_are_refused_naming_the_field_and_where_they_are() {
    let refused = |text: &str| match fields::check(&diary(Author::Staff, text)) {
        Err(RuleError::ControlCharacter {
            field,
            path,
            code,
            at,
        }) => (field.to_string(), path, code, at),
        other => panic!("expected a control character refused in {text:?}, got {other:?}"),
    };
    assert_eq!(
        refused("Ate well\0"),
        ("text".into(), "text".into(), "U+0000".into(), 9)
    );
    assert_eq!(refused("\u{1b}[2J cleared").2, "U+001B");
    // A carriage return too: a line ends with a newline in the ledger (the pages turn a
    // browser's CR LF into LF before anything is recorded).
    assert_eq!(refused("line one\r\nline two").2, "U+000D");
    // C1 controls, not only ASCII's.
    assert_eq!(refused("caf\u{85}e").2, "U+0085");
    let message = fields::check(&diary(Author::Staff, "a\u{7}b"))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("U+0007") && message.contains("newlines and tabs"),
        "{message}"
    );

    // Newlines and tabs are text; so is every other character, in any script.
    for ok in [
        "Ate well.\nSlept well.",
        "Dose\t10 mg",
        "Zoë took tea — ok ✓",
        "Łódź 東京",
    ] {
        assert_eq!(fields::check(&diary(Author::Staff, ok)), Ok(()), "{ok:?}");
    }

    // Inside a nested text and a list entry: the path says where.
    let CareEvent::CarePlanPublished(mut p) = plan(1) else {
        unreachable!()
    };
    p.sections.goals = vec!["walk".into(), "shop\u{0}".into()];
    match fields::check(&CareEvent::CarePlanPublished(p)) {
        Err(RuleError::ControlCharacter { path, at, .. }) => {
            assert_eq!((path.as_str(), at), ("sections.goals.1", 5))
        }
        other => panic!("{other:?}"),
    }
}

/// The patterns the OpenAPI document gives for texts say what the rules say: compiled by a
/// real regular expression engine, they accept a string exactly when the rules do.
#[test]
fn the_schema_patterns_agree_with_the_rules_on_every_boundary() {
    let text = regex::Regex::new(fields::text_pattern()).unwrap();
    let not_blank = regex::Regex::new(fields::not_blank_pattern()).unwrap();
    let clean = |s: &str| !s.chars().any(fields::forbidden_control);
    // Every character on either side of a range's boundary: controls, white space (the
    // Unicode spaces, line and paragraph separators) and their neighbours.
    let class = |c: char| (fields::forbidden_control(c), c.is_whitespace());
    let mut singles: Vec<char> = Vec::new();
    for n in (0u32..0x3100).chain(0xFEFE..0xFF01) {
        let Some(c) = char::from_u32(n) else { continue };
        let before = n.checked_sub(1).and_then(char::from_u32);
        if n < 0x100 || before.is_some_and(|b| class(b) != class(c)) {
            singles.extend(before);
            singles.push(c);
        }
    }
    assert!(singles.contains(&'\u{2028}') && singles.contains(&'\u{3000}'));
    let mut cases: Vec<String> = vec![String::new(), " ".into(), "\n\t".into()];
    for c in &singles {
        cases.push(c.to_string());
        cases.push(format!("ab{c}"));
        cases.push(format!(" {c} "));
        cases.push(format!("x\n{c}\ty"));
    }
    for s in &cases {
        assert_eq!(text.is_match(s), clean(s), "text_pattern on {s:?}");
        assert_eq!(
            not_blank.is_match(s),
            clean(s) && !fields::blank(s),
            "not_blank_pattern on {s:?}"
        );
    }
}
