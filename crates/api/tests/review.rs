//! Regression tests from a review of the service: each one failed before its fix.

mod common;

use careledger_store::now_us;
use common::Harness;
use serde_json::{json, Value};

/// An outage declared two hours ago and ended an hour ago, so that staff may back-enter
/// paper entries written during it; returns an RFC 3339 time inside it.
async fn past_outage(h: &Harness) -> String {
    let at = |minutes_ago: i64| careledger_api::extract::time(now_us() - minutes_ago * 60_000_000);
    let a = h
        .post(
            "staff-rm01",
            "/v1/events",
            json!({"kind": "outage.declared", "occurred_at": at(120),
                   "payload": {"outage_id": "out-1", "reason": "network down"}}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text());
    let a = h
        .post(
            "staff-rm01",
            "/v1/events",
            json!({"kind": "outage.ended", "occurred_at": at(60),
                   "payload": {"outage_id": "out-1"}}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text());
    at(90)
}

fn back_entry(occurred_at: &str, entry: Value) -> Value {
    json!({"kind": "outage.back_entered", "subject": "person-a", "occurred_at": occurred_at,
           "payload": {"outage_id": "out-1", "paper_reference": "sheet 1", "entry": entry}})
}

/// A back-entry carries any care event; the role that back-enters it must be one that may
/// record that event itself, or a care worker could grant themselves access to a record
/// (or link a representative) by wrapping the event in a back-entry.
#[tokio::test]
async fn a_back_entry_may_not_carry_a_kind_the_role_may_not_record() {
    let h = Harness::seeded().await;
    let during = past_outage(&h).await;
    let cw = "staff-cw01";
    // The care worker may not read the access log, nor record a grant directly.
    h.get(Some(cw), "/v1/people/person-a/access-log")
        .await
        .assert_problem(403, None);
    let grant = json!({"AccessGranted": {
        "grant_id": "g-cw", "grantee": {"Principal": cw}, "categories": ["AccessLog"],
        "purpose": "DirectCare", "expires_at_us": null, "decided_by": "person-a",
        "basis": "PersonHasCapacity"}});
    h.post(
        cw,
        "/v1/events",
        json!({"kind": "access.granted", "subject": "person-a", "payload": grant["AccessGranted"]}),
    )
    .await
    .assert_problem(403, Some("kind"));
    let before = h.size();
    let a = h.post(cw, "/v1/events", back_entry(&during, grant)).await;
    a.assert_problem(403, Some("payload.entry"));
    assert_eq!(h.size(), before, "nothing appended");
    h.get(Some(cw), "/v1/people/person-a/access-log")
        .await
        .assert_problem(403, None);

    let link = json!({"RepresentativeLinked": {
        "representative_id": "rep-x", "name": "X", "relationship": "LpaHealthWelfare",
        "evidence_of_authority": "made up", "may_contribute": true}});
    h.post(cw, "/v1/events", back_entry(&during, link))
        .await
        .assert_problem(403, Some("payload.entry"));

    // What the care worker records itself may still be back-entered.
    let note = json!({"DiaryNote": {"author": "Staff", "text": "written on paper"}});
    let a = h.post(cw, "/v1/events", back_entry(&during, note)).await;
    assert_eq!(a.status, 201, "{}", a.text());
}

/// `after` is a client's number: the largest one is a page after everything, not a panic
/// (debug builds) or a wrap to the first page (release builds).
#[tokio::test]
async fn after_the_largest_event_number_is_an_empty_page() {
    let h = Harness::seeded().await;
    let max = u64::MAX;
    let a = h
        .get(
            Some("staff-cw01"),
            &format!("/v1/people/person-a/daily-notes?after={max}"),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["data"]["items"], json!([]));
    assert_eq!(a.json()["data"]["next_after"], Value::Null);
    for query in [
        format!("person=person-a&after={max}"),
        format!("after={max}"),
    ] {
        let a = h
            .get(Some("auditor-01"), &format!("/v1/audit/access?{query}"))
            .await;
        assert_eq!(a.status, 200, "{query}: {}", a.text());
        let body = a.json();
        let items = body.get("data").map_or(&body["items"], |d| &d["items"]);
        assert_eq!(items, &json!([]), "{query}");
    }
}

/// A coordinator may record the person's grant to someone else, but not to themselves or
/// their own role: that would be access they gave themselves.
#[tokio::test]
async fn staff_may_not_record_a_grant_to_themselves() {
    let h = Harness::seeded().await;
    let before = h.size();
    for grantee in [
        json!({"Principal": "staff-co01"}),
        json!({"Role": "Coordinator"}),
    ] {
        let a = h
            .post("staff-co01", "/v1/events", json!({"kind": "access.granted", "subject": "person-a", "payload": {
                "grant_id": "g-self", "grantee": grantee, "categories": ["AccessLog"], "purpose": "DirectCare",
                "expires_at_us": null, "decided_by": "person-a", "basis": "PersonHasCapacity"}}))
            .await;
        a.assert_problem(403, Some("payload.grantee"));
    }
    assert_eq!(h.size(), before);
    // To someone else, on the person's behalf: recorded.
    h.event("staff-co01", "access.granted", Some("person-a"), json!({
        "grant_id": "g-cw", "grantee": {"Principal": "staff-cw01"}, "categories": ["ConsentRecords"], "purpose": "DirectCare",
        "expires_at_us": null, "decided_by": "person-a", "basis": "PersonHasCapacity"}))
        .await;
    // And the person may grant to anyone, a member of staff included.
    h.event("person-a", "access.granted", Some("person-a"), json!({
        "grant_id": "g-co", "grantee": {"Principal": "staff-co01"}, "categories": ["AccessLog"], "purpose": "DirectCare",
        "expires_at_us": null, "decided_by": "person-a", "basis": "PersonHasCapacity"}))
        .await;
}

/// The checks on whose behalf an event is recorded apply to a back-entry's entry too.
#[tokio::test]
async fn a_back_entered_grant_to_oneself_is_refused() {
    let h = Harness::seeded().await;
    let at = past_outage(&h).await;
    let before = h.size();
    let grant = json!({"AccessGranted": {
        "grant_id": "g-self", "grantee": {"Principal": "staff-co01"}, "categories": ["AccessLog"],
        "purpose": "DirectCare", "expires_at_us": null, "decided_by": "person-a", "basis": "PersonHasCapacity"}});
    let a = h
        .post("staff-co01", "/v1/events", back_entry(&at, grant))
        .await;
    a.assert_problem(403, Some("payload.grantee"));
    assert_eq!(h.size(), before);
}
