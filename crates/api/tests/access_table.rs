//! Every role against every section of a person's record: only the reads the policy allows
//! succeed, and every read, allowed or refused, leaves exactly one access event naming the
//! reader, the categories and the outcome.

mod common;

use careledger_care::CareEvent;
use common::Harness;

const SECTIONS: [&str; 12] = [
    "details",
    "care-plan",
    "daily-notes",
    "medicines",
    "observations",
    "communication-needs",
    "consent",
    "paper-copies",
    "grants",
    "incidents",
    "access-log",
    "evidence",
];

/// Who may read which section of person-a's record, in the seeded world, in the column
/// order of [`SECTIONS`]: the policy of crates/care/src/policy.rs written out.
const TABLE: &[(&str, &str)] = &[
    //                 det plan notes med obs comm cons paper grant inc log evid
    ("staff-cw01", "Y Y Y Y Y Y N N N Y N N"),
    ("staff-co01", "Y Y Y Y Y Y Y Y Y Y N Y"),
    ("staff-rm01", "Y Y Y Y Y Y Y Y Y Y Y Y"),
    ("staff-pa01", "Y N N N N Y Y Y Y N Y Y"),
    ("person-a", "Y Y Y Y Y Y Y Y Y Y Y Y"),
    ("person-b", "N N N N N N N N N N N N"),
    // An attorney reads as the person; a family member only what a grant gives.
    ("rep-a-lpa", "Y Y Y Y Y Y Y Y Y Y Y Y"),
    ("rep-a-family", "N N Y N N N N N N N N N"),
    // The person granted the district nurses the care plan and medicines, for handover.
    ("partner-dn", "N Y N Y N N N N N N N N"),
    // Council request req-1 by council-mo01 covers consent records and communication needs.
    ("council-mo01", "N N N N N Y Y Y Y N N Y"),
    ("council-scp01", "N N N N N N N N N N N N"),
    ("auditor-01", "N N N N N N N N N N Y N"),
    // No break-glass access recorded: nothing.
    ("clinician-01", "N N N N N N N N N N N N"),
];

#[tokio::test]
async fn every_role_against_every_section() {
    let h = Harness::seeded().await;
    assert_eq!(
        TABLE.len(),
        common::USERS.len(),
        "every user is in the table"
    );
    let mut failures = Vec::new();
    for (user, row) in TABLE {
        let expected: Vec<bool> = row.split(' ').map(|c| c == "Y").collect();
        assert_eq!(expected.len(), SECTIONS.len(), "row of {user}");
        for (section, allowed) in SECTIONS.iter().zip(expected) {
            let before = h.size();
            let a = h
                .get(Some(user), &format!("/v1/people/person-a/{section}"))
                .await;
            let events = h.events_from(before);
            let got = a.status.as_u16();
            if got != if allowed { 200 } else { 403 } {
                failures.push(format!("{user} {section}: {got} {}", a.text()));
                continue;
            }
            assert_eq!(
                events.len(),
                1,
                "{user} {section}: exactly one event, got {events:?}"
            );
            let (kind, actor, subject, event) = &events[0];
            assert_eq!(actor, user);
            assert_eq!(subject.as_deref(), Some("person-a"));
            let body = a.json();
            if allowed {
                assert_eq!(kind, "access.read", "{user} {section}");
                assert_eq!(body["access"]["event"], before, "{body}");
                assert_eq!(body["person"], "person-a");
                assert_eq!(
                    body["ais_flag"], "information format: large print",
                    "{body}"
                );
                assert!(body["data"].is_object(), "{body}");
                let Some(CareEvent::RecordAccessed(r)) = event else {
                    panic!("{event:?}")
                };
                assert!(!r.categories.is_empty());
            } else {
                assert_eq!(kind, "access.refused", "{user} {section}");
                assert_eq!(body["access_event"], before, "{body}");
                assert!(
                    body.get("data").is_none(),
                    "a refusal carries no data: {body}"
                );
                let Some(CareEvent::AccessRefused(r)) = event else {
                    panic!("{event:?}")
                };
                assert!(!r.reason.is_empty());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} unexpected answers:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn reads_that_reach_no_record_leave_no_event() {
    let h = Harness::seeded().await;
    let before = h.size();
    let a = h
        .get(Some("staff-rm01"), "/v1/people/person-zzz/care-plan")
        .await;
    a.assert_problem(404, Some("person"));
    let a = h.get(Some("staff-rm01"), "/v1/people/person-a/diary").await;
    a.assert_problem(404, Some("section"));
    let a = h.get(None, "/v1/people/person-a/care-plan").await;
    a.assert_problem(401, Some("authorization"));
    let a = h
        .get(
            Some("staff-rm01"),
            "/v1/people/person-a/care-plan?purpose=Sightseeing",
        )
        .await;
    a.assert_problem(400, Some("purpose"));
    assert_eq!(h.size(), before, "nothing appended");
}

#[tokio::test]
async fn a_purpose_outside_the_basis_is_refused_and_recorded() {
    let h = Harness::seeded().await;
    // The partner's grant is for handover; reading for direct care is refused.
    let before = h.size();
    let a = h
        .get(
            Some("partner-dn"),
            "/v1/people/person-a/care-plan?purpose=DirectCare",
        )
        .await;
    a.assert_problem(403, None);
    let events = h.events_from(before);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, "access.refused");
}

#[tokio::test]
async fn a_revoked_grant_stops_the_next_read() {
    let h = Harness::seeded().await;
    let a = h
        .get(Some("partner-dn"), "/v1/people/person-a/medicines")
        .await;
    assert_eq!(a.status, 200, "{}", a.text());
    h.event(
        "person-a",
        "access.revoked",
        Some("person-a"),
        serde_json::json!({"grant_id": "g-partner", "decided_by": "person-a", "basis": "PersonHasCapacity"}),
    )
    .await;
    let before = h.size();
    let a = h
        .get(Some("partner-dn"), "/v1/people/person-a/medicines")
        .await;
    a.assert_problem(403, None);
    assert_eq!(h.events_from(before)[0].0, "access.refused");
}
