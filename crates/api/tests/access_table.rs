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

/// Users with no tie to person-a's record and no role that reads every record: their
/// refusals must not tell them that person-a exists.
const UNTIED: &[&str] = &["person-b", "council-scp01", "clinician-01"];

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
                if UNTIED.contains(user) {
                    // Recorded, but the answer says nothing an unknown id would not get.
                    assert!(body.get("access_event").is_none(), "{body}");
                    assert!(
                        body["detail"]
                            .as_str()
                            .is_some_and(|d| d.starts_with("access refused: nothing gives")),
                        "{body}"
                    );
                } else {
                    assert_eq!(body["access_event"], before, "{body}");
                }
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

/// Every role against every endpoint that is not a section of one record: who gets an
/// answer, and that none of them writes an access event except where the endpoint says so.
#[tokio::test]
async fn every_role_against_every_other_endpoint() {
    let h = Harness::seeded().await;
    // Accesses for the auditors to see.
    h.get(Some("staff-cw01"), "/v1/people/person-a/care-plan")
        .await;
    h.get(Some("person-b"), "/v1/people/person-b/care-plan")
        .await;
    // Columns: me, audit across people, provider findings, council requests, response-time
    // report, envelope bytes, inclusion proof, break-glass.
    const TABLE: &[(&str, &str)] = &[
        ("staff-cw01", "Y N N N N N Y N"),
        ("staff-co01", "Y N N Y Y N Y N"),
        ("staff-rm01", "Y Y Y Y Y Y Y N"),
        ("staff-pa01", "Y N Y Y Y Y Y N"),
        ("person-a", "Y N N N N N Y N"),
        ("person-b", "Y N N N N N Y N"),
        ("rep-a-lpa", "Y N N N N N Y N"),
        ("rep-a-family", "Y N N N N N Y N"),
        ("partner-dn", "Y N N N N N Y N"),
        ("council-mo01", "Y N Y Y Y Y Y N"),
        ("council-scp01", "Y N Y Y Y Y Y N"),
        ("auditor-01", "Y Y N Y Y Y Y N"),
        ("clinician-01", "Y N N N N N Y Y"),
    ];
    assert_eq!(TABLE.len(), common::USERS.len());
    let mut failures = Vec::new();
    for (user, row) in TABLE {
        let expected: Vec<bool> = row.split(' ').map(|c| c == "Y").collect();
        for (column, allowed) in expected.into_iter().enumerate() {
            let before = h.size();
            let (what, a) = match column {
                0 => ("me", h.get(Some(user), "/v1/me").await),
                1 => ("audit", h.get(Some(user), "/v1/audit/access?limit=5").await),
                2 => ("findings", h.get(Some(user), "/v1/provider/findings").await),
                3 => ("requests", h.get(Some(user), "/v1/requests").await),
                4 => (
                    "report",
                    h.get(Some(user), "/v1/reports/response-times").await,
                ),
                5 => ("envelope", h.get(Some(user), "/v1/ledger/events/0").await),
                6 => (
                    "inclusion",
                    h.get(Some(user), "/v1/ledger/proofs/inclusion?seq=0").await,
                ),
                _ => (
                    "break-glass",
                    h.post(
                        user,
                        "/v1/people/person-a/emergency-access",
                        serde_json::json!({"reason": "collapsed"}),
                    )
                    .await,
                ),
            };
            let want = if allowed { 200 } else { 403 };
            if a.status.as_u16() != want {
                failures.push(format!("{user} {what}: {} {}", a.status, a.text()));
                continue;
            }
            let events = h.events_from(before);
            let expected_events = match (what, allowed) {
                // One access event per person whose accesses are in the page.
                ("audit", true) => {
                    let body = a.json();
                    let mut people: Vec<String> = body["items"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(|i| i["person"].as_str().map(str::to_string))
                        .collect();
                    people.sort();
                    people.dedup();
                    assert!(!people.is_empty());
                    people.len()
                }
                // The emergency access, then the read it allows.
                ("break-glass", true) => 2,
                _ => 0,
            };
            if events.len() != expected_events {
                failures.push(format!(
                    "{user} {what}: {} events, expected {expected_events}: {events:?}",
                    events.len()
                ));
            }
            if events.iter().any(|e| e.1 != *user) {
                failures.push(format!(
                    "{user} {what}: an event by someone else: {events:?}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} unexpected:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Person ids are no oracle: to a principal with no tie to a record, an unknown id and a
/// real one get the same answer (and the real one's refusal is still recorded); staff and
/// auditors, who read every record, are told that an id is unknown.
#[tokio::test]
async fn unknown_and_untied_records_answer_alike() {
    let h = Harness::seeded().await;
    for user in UNTIED {
        for section in SECTIONS {
            let before = h.size();
            let real = h
                .get(Some(user), &format!("/v1/people/person-a/{section}"))
                .await;
            let recorded = h.events_from(before);
            let unknown = h
                .get(Some(user), &format!("/v1/people/person-zzz/{section}"))
                .await;
            assert_eq!(real.status.as_u16(), 403, "{user} {section}");
            assert_eq!(unknown.status.as_u16(), 403, "{user} {section}");
            let masked = |text: String, id: &str| text.replace(id, "ID");
            assert_eq!(
                masked(real.text(), "person-a"),
                masked(unknown.text(), "person-zzz"),
                "{user} {section}"
            );
            assert_eq!(
                recorded.len(),
                1,
                "{user} {section}: the refusal is recorded"
            );
            assert_eq!(recorded[0].0, "access.refused");
            assert_eq!(
                h.size(),
                before + 1,
                "nothing is recorded for an unknown id"
            );
        }
    }
    for user in ["staff-cw01", "staff-pa01", "auditor-01"] {
        let a = h.get(Some(user), "/v1/people/person-zzz/care-plan").await;
        a.assert_problem(404, Some("person"));
    }
    let a = h
        .get(Some("clinician-01"), "/v1/people/person-a/medicines")
        .await;
    assert!(
        a.text().contains("/v1/people/person-a/emergency-access"),
        "a clinician is told how to get break-glass access: {}",
        a.text()
    );
}
