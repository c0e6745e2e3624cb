//! `GET /v1/people/{id}/documents/{kind}` through the access gate, with a printer that
//! writes what it was asked (the real one, crates/print, is the binary's; tests/serve.rs
//! reads its PDF back over HTTP).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use careledger_api::documents::{DocumentCheck, Documents, PrintRefused, Printed};
use careledger_ledger::Ledger;
use common::Harness;
use serde_json::json;

/// Prints "KIND for NAME in FORMAT over DAYS days" from the ledger's state, counting calls.
#[derive(Default)]
struct Echo {
    calls: AtomicUsize,
}

impl Documents for Echo {
    fn person(
        &self,
        ledger: &Ledger,
        kind: &'static str,
        person: &str,
        format: Option<&'static str>,
        days: u32,
    ) -> Result<Printed, PrintRefused> {
        self.calls.fetch_add(1, SeqCst);
        let name = ledger
            .read(|s| s.person(person).map(|p| p.details.name.clone()))
            .map_err(|e| PrintRefused::Failed(e.to_string()))?
            .ok_or_else(|| PrintRefused::Failed("no such person".into()))?;
        if person == "person-b" && kind == "diary" {
            return Err(PrintRefused::Nothing("Bob Baker has no diary yet".into()));
        }
        let format = format.unwrap_or("pdf");
        Ok(Printed {
            bytes: format!("{kind} for {name} in {format} over {days} days").into_bytes(),
            media_type: "text/plain; charset=utf-8",
            format,
            file_name: format!("{kind}-{person}.txt"),
            reference: format!("CL1:{kind}:1:10:abcdefabcdef:{person}"),
            version: Some(1),
            digest: "0".repeat(64),
        })
    }

    fn report(
        &self,
        ledger: &Ledger,
        kind: &'static str,
        format: Option<&'static str>,
    ) -> Result<Printed, PrintRefused> {
        self.calls.fetch_add(1, SeqCst);
        let people = ledger
            .read(|s| s.people.len())
            .map_err(|e| PrintRefused::Failed(e.to_string()))?;
        let format = format.unwrap_or("pdf");
        Ok(Printed {
            bytes: format!("{kind} of {people} people in {format}").into_bytes(),
            media_type: "text/plain; charset=utf-8",
            format,
            file_name: format!("{kind}.txt"),
            reference: format!("CL1:{kind}:-:10:abcdefabcdef:-"),
            version: None,
            digest: "0".repeat(64),
        })
    }

    fn guide(
        &self,
        ledger: &Ledger,
        format: Option<&'static str>,
    ) -> Result<Printed, PrintRefused> {
        self.calls.fetch_add(1, SeqCst);
        let version = ledger
            .read(|s| s.current_guide().map(|g| g.version))
            .map_err(|e| PrintRefused::Failed(e.to_string()))?
            .ok_or_else(|| PrintRefused::Nothing("no Service User Guide is published".into()))?;
        let format = format.unwrap_or("pdf");
        Ok(Printed {
            bytes: format!("guide version {version} in {format}").into_bytes(),
            media_type: "text/plain; charset=utf-8",
            format,
            file_name: "guide.txt".into(),
            reference: format!("CL1:guide:{version}:10:abcdefabcdef:-"),
            version: Some(version),
            digest: "0".repeat(64),
        })
    }

    /// A reference is "current" when it ends `:current`, not this ledger's when it holds
    /// `foreign`, and malformed without `CL1:`.
    fn check(&self, _: &Ledger, reference: &str) -> Result<DocumentCheck, PrintRefused> {
        if !reference.starts_with("CL1:") {
            return Err(PrintRefused::Bad(format!(
                "{reference:?} does not start CL1:"
            )));
        }
        let ours = !reference.contains("foreign");
        Ok(DocumentCheck {
            reference: reference.to_string(),
            checkpoint_verified: ours,
            checkpoint: "checked".into(),
            current: ours.then(|| reference.ends_with(":current")),
            said: ours.then(|| "said".to_string()),
        })
    }
}

async fn harness() -> (Harness, Arc<Echo>) {
    let h = Harness::seeded().await;
    let echo = Arc::new(Echo::default());
    assert!(h.app.set_documents(echo.clone()));
    assert!(
        !h.app.set_documents(Arc::new(Echo::default())),
        "set once only"
    );
    (h, echo)
}

fn header<'a>(a: &'a common::Answer, name: &str) -> &'a str {
    a.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header"))
}

#[tokio::test]
async fn a_document_is_sent_once_its_access_event_is_durable() {
    let (h, echo) = harness().await;
    let before = h.size();
    let a = h
        .get(
            Some("staff-rm01"),
            "/v1/people/person-a/documents/mar?format=large-print&days=7",
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.text(), "mar for Alice Able in large-print over 7 days");
    assert_eq!(
        header(&a, "careledger-reference"),
        "CL1:mar:1:10:abcdefabcdef:person-a"
    );
    assert_eq!(header(&a, "careledger-format"), "large-print");
    assert_eq!(header(&a, "cache-control"), "no-store");
    assert!(header(&a, "content-disposition").contains("mar-person-a.txt"));
    // One access event, for the document's categories, and it is the one named.
    assert_eq!(h.size(), before + 1);
    let seq: u64 = header(&a, "careledger-access-event").parse().unwrap();
    let events = h.events_from(seq);
    let (kind, actor, subject, event) = &events[0];
    assert_eq!(
        (kind.as_str(), actor.as_str()),
        ("access.read", "staff-rm01")
    );
    assert_eq!(subject.as_deref(), Some("person-a"));
    let json = serde_json::to_value(event.as_ref().unwrap()).unwrap();
    let read = &json["RecordAccessed"];
    assert_eq!(
        read["categories"],
        serde_json::json!(["Medicines"]),
        "{json}"
    );
    assert_eq!(read["items"], 1, "{json}");
    assert_eq!(echo.calls.load(SeqCst), 1);
    // Without format or days: the printer chooses the format, and 28 days.
    let a = h
        .get(
            Some("staff-rm01"),
            "/v1/people/person-a/documents/care-plan",
        )
        .await;
    assert_eq!(a.text(), "care-plan for Alice Able in pdf over 28 days");
}

#[tokio::test]
async fn a_refused_reader_gets_no_document_and_nothing_is_printed() {
    let (h, echo) = harness().await;
    // Another person, and a clinician without break-glass, are refused; the refusal is recorded.
    for who in ["person-b", "clinician-01"] {
        let before = h.size();
        h.get(Some(who), "/v1/people/person-a/documents/care-plan")
            .await
            .assert_problem(403, None);
        assert_eq!(h.size(), before + 1, "{who}: the refusal is an event");
    }
    // The person reads their own.
    let a = h
        .get(Some("person-a"), "/v1/people/person-a/documents/diary")
        .await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(echo.calls.load(SeqCst), 1, "only the allowed read printed");
    // After break-glass, the clinician may print the MAR chart (flagged), not the plan.
    let e = h
        .post(
            "clinician-01",
            "/v1/people/person-a/emergency-access",
            serde_json::json!({"reason": "collapsed; the paramedic needs the medicines"}),
        )
        .await;
    assert_eq!(e.status, 200, "{}", e.text());
    let a = h
        .get(Some("clinician-01"), "/v1/people/person-a/documents/mar")
        .await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(header(&a, "careledger-access-flagged"), "true");
    h.get(
        Some("clinician-01"),
        "/v1/people/person-a/documents/care-plan",
    )
    .await
    .assert_problem(403, None);
    h.get(None, "/v1/people/person-a/documents/care-plan")
        .await
        .assert_problem(401, None);
}

#[tokio::test]
async fn bad_requests_name_what_is_wrong_and_record_nothing() {
    let (h, echo) = harness().await;
    let before = h.size();
    for (path, status, field) in [
        ("/v1/people/person-a/documents/letter", 404, "kind"),
        (
            "/v1/people/person-a/documents/mar?format=braille",
            400,
            "format",
        ),
        ("/v1/people/person-a/documents/mar?days=0", 400, "days"),
        ("/v1/people/person-a/documents/mar?days=93", 400, "days"),
        (
            "/v1/people/person-a/documents/mar?colour=red",
            400,
            "colour",
        ),
        (
            "/v1/people/person-a/documents/mar?purpose=Shopping",
            400,
            "purpose",
        ),
    ] {
        let p = h
            .get(Some("staff-rm01"), path)
            .await
            .assert_problem(status, Some(field));
        assert!(p["detail"].as_str().unwrap().len() > 10, "{path}: {p}");
    }
    assert_eq!(h.size(), before, "nothing recorded for a bad request");
    assert_eq!(echo.calls.load(SeqCst), 0);
    // Nothing to print: 404 naming why, and no access event (no data left).
    let p = h
        .get(Some("staff-rm01"), "/v1/people/person-b/documents/diary")
        .await
        .assert_problem(404, Some("kind"));
    assert!(p["detail"].as_str().unwrap().contains("no diary"), "{p}");
    assert_eq!(h.size(), before);
    h.get(Some("staff-rm01"), "/v1/people/person-z/documents/mar")
        .await
        .assert_problem(404, Some("person"));
}

#[tokio::test]
async fn a_copy_is_checked_by_anyone_holding_its_reference() {
    let (h, _) = harness().await;
    let before = h.size();
    let a = h
        .get(
            None,
            "/v1/documents/check?reference=CL1:mar:1:10:abcdefabcdef:current",
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let j = a.json();
    assert_eq!(j["checkpoint_verified"], true, "{j}");
    assert_eq!(j["current"], true, "{j}");
    let j = h
        .get(None, "/v1/documents/check?reference=CL1:mar:1:10:foreign:x")
        .await
        .json();
    assert_eq!(j["checkpoint_verified"], false, "{j}");
    assert!(
        j["current"].is_null(),
        "nothing more is said of a foreign copy: {j}"
    );
    for path in [
        "/v1/documents/check",
        "/v1/documents/check?reference=",
        "/v1/documents/check?reference=letter",
    ] {
        h.get(None, path)
            .await
            .assert_problem(400, Some("reference"));
    }
    let long = format!("/v1/documents/check?reference=CL1:{}", "a".repeat(400));
    h.get(None, &long)
        .await
        .assert_problem(400, Some("reference"));
    h.get(None, "/v1/documents/check?reference=CL1:x&colour=red")
        .await
        .assert_problem(400, Some("colour"));
    assert_eq!(h.size(), before, "a check records nothing");
}

#[tokio::test]
async fn the_councils_reports_are_printed_for_the_roles_that_see_them() {
    let (h, echo) = harness().await;
    let before = h.size();
    let a = h
        .get(
            Some("staff-pa01"),
            "/v1/reports/monitoring/document?format=text",
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.text(), "monitoring of 2 people in text");
    assert_eq!(
        header(&a, "careledger-reference"),
        "CL1:monitoring:-:10:abcdefabcdef:-"
    );
    assert!(a.headers.get("careledger-access-event").is_none());
    let a = h
        .get(Some("staff-rm01"), "/v1/reports/response-times/document")
        .await;
    assert_eq!(a.text(), "response-times of 2 people in pdf");
    assert_eq!(h.size(), before, "a report records no access event");
    // A council officer reads only their own requests' lines, so not the printed report;
    // a care worker sees neither; an unknown report or format is named.
    let calls = echo.calls.load(SeqCst);
    // A council officer reads people's records only through their own requests, so
    // neither printed report (they read the findings and their own requests as JSON).
    for report in ["monitoring", "response-times"] {
        h.get(
            Some("council-mo01"),
            &format!("/v1/reports/{report}/document"),
        )
        .await
        .assert_problem(403, None);
    }
    h.get(Some("staff-cw01"), "/v1/reports/monitoring/document")
        .await
        .assert_problem(403, None);
    h.get(Some("staff-rm01"), "/v1/reports/audit/document")
        .await
        .assert_problem(404, Some("kind"));
    h.get(
        Some("staff-rm01"),
        "/v1/reports/monitoring/document?format=word",
    )
    .await
    .assert_problem(400, Some("format"));
    assert_eq!(
        echo.calls.load(SeqCst),
        calls,
        "nothing printed for a refusal"
    );
}

#[tokio::test]
async fn the_service_user_guide_is_printed_for_anyone_signed_in_once_published() {
    let (h, echo) = harness().await;
    h.get(Some("staff-cw01"), "/v1/guide/document")
        .await
        .assert_problem(404, None);
    // Only the organisation's managers publish it; a care worker is refused.
    let guide = json!({"version": 1, "title": "Service User Guide", "sections": [
        {"heading": "About us", "body": "We care for people at home."}
    ]});
    let refused = h
        .post(
            "staff-cw01",
            "/v1/events",
            json!({"kind": "guide.published", "payload": guide}),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    h.event("staff-rm01", "guide.published", None, guide.clone())
        .await;
    // Publishing version 1 again names the version expected.
    let again = h
        .post(
            "staff-rm01",
            "/v1/events",
            json!({"kind": "guide.published", "payload": guide}),
        )
        .await;
    again.assert_problem(409, Some("payload.version"));
    assert!(
        again.text().contains("the next must be 2"),
        "{}",
        again.text()
    );
    let before = h.size();
    for user in ["staff-cw01", "person-a", "council-mo01"] {
        let a = h
            .get(Some(user), "/v1/guide/document?format=large-print")
            .await;
        assert_eq!(a.status, 200, "{user}: {}", a.text());
        assert_eq!(a.text(), "guide version 1 in large-print");
        assert_eq!(
            header(&a, "careledger-reference"),
            "CL1:guide:1:10:abcdefabcdef:-"
        );
        assert!(a.headers.get("careledger-access-event").is_none());
    }
    assert_eq!(
        h.size(),
        before,
        "the guide is about nobody: no access event"
    );
    let calls = echo.calls.load(SeqCst);
    h.get(Some("staff-cw01"), "/v1/guide/document?format=word")
        .await
        .assert_problem(400, Some("format"));
    h.get(None, "/v1/guide/document")
        .await
        .assert_problem(401, None);
    assert_eq!(
        echo.calls.load(SeqCst),
        calls,
        "nothing printed for a bad request"
    );
}

#[tokio::test]
async fn without_a_printer_the_route_says_so() {
    let h = Harness::seeded().await;
    let p = h
        .get(Some("staff-rm01"), "/v1/people/person-a/documents/mar")
        .await
        .assert_problem(501, None);
    assert!(p["detail"].as_str().unwrap().contains("printer"), "{p}");
    h.get(
        None,
        "/v1/documents/check?reference=CL1:mar:1:10:abcdefabcdef:x",
    )
    .await
    .assert_problem(501, None);
}
