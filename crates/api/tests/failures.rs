//! Bad input gets a clear 4xx naming what is wrong and appends nothing; an access event that
//! cannot be written means an error and no data.

mod common;

use careledger_store::StoreConfig;
use common::{quiet, Harness};
use serde_json::json;

fn note(extra: serde_json::Value) -> serde_json::Value {
    let mut body = json!({"kind": "diary.note", "subject": "person-a", "payload": {"author": "Staff", "text": "ok"}});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    body
}

#[tokio::test]
async fn bad_input_is_a_clear_4xx_and_appends_nothing() {
    let h = Harness::seeded().await;
    let before = h.size();
    let cw = "staff-cw01";
    // (what, body, content type, status, field named)
    type Case = (
        &'static str,
        Vec<u8>,
        &'static str,
        u16,
        Option<&'static str>,
    );
    let cases: Vec<Case> = vec![
        ("malformed JSON", b"{\"kind\": \"diary.note\",".to_vec(), "application/json", 400, Some("body")),
        ("not an object", b"[1, 2]".to_vec(), "application/json", 400, Some("body")),
        ("trailing bytes", br#"{"kind":"diary.note","subject":"person-a","payload":{"author":"Staff","text":"x"}} x"#.to_vec(), "application/json", 400, Some("body")),
        ("wrong type at the top", note(json!({"subject": 7})).to_string().into_bytes(), "application/json", 400, Some("subject")),
        ("wrong type in the payload", note(json!({"payload": {"author": "Staff", "text": 5}})).to_string().into_bytes(), "application/json", 400, Some("payload.text")),
        ("unknown enum value", note(json!({"payload": {"author": "Robot", "text": "x"}})).to_string().into_bytes(), "application/json", 400, Some("payload.author")),
        ("unknown field at the top", note(json!({"subjekt": "x"})).to_string().into_bytes(), "application/json", 400, Some("subjekt")),
        ("unknown field in the payload", note(json!({"payload": {"author": "Staff", "text": "x", "mood": "good"}})).to_string().into_bytes(), "application/json", 400, Some("payload.mood")),
        ("missing field", note(json!({"payload": {"author": "Staff"}})).to_string().into_bytes(), "application/json", 400, Some("payload")),
        ("unknown kind", json!({"kind": "diary.nope", "payload": {}}).to_string().into_bytes(), "application/json", 400, Some("kind")),
        ("invalid time", note(json!({"occurred_at": "yesterday"})).to_string().into_bytes(), "application/json", 400, Some("occurred_at")),
        ("impossible date", note(json!({"occurred_at": "2026-02-30T10:00:00Z"})).to_string().into_bytes(), "application/json", 400, Some("occurred_at")),
        ("a time in the future", note(json!({"occurred_at": "2099-01-01T00:00:00Z"})).to_string().into_bytes(), "application/json", 422, Some("occurred_at")),
        ("unknown person", note(json!({"subject": "person-zzz"})).to_string().into_bytes(), "application/json", 404, None),
        ("no subject for a person event", json!({"kind": "diary.note", "payload": {"author": "Staff", "text": "x"}}).to_string().into_bytes(), "application/json", 400, Some("subject")),
        ("empty text", note(json!({"payload": {"author": "Staff", "text": " "}})).to_string().into_bytes(), "application/json", 422, Some("payload.text")),
        ("a key twice in the payload", br#"{"kind":"diary.note","subject":"person-a","payload":{"author":"Staff","text":"fell","text":"fine"}}"#.to_vec(), "application/json", 400, Some("payload.text")),
        ("a key twice at the top", br#"{"kind":"diary.note","subject":"person-a","subject":"person-b","payload":{"author":"Staff","text":"x"}}"#.to_vec(), "application/json", 400, Some("subject")),
        ("a NUL in free text", note(json!({"payload": {"author": "Staff", "text": "ate\u{0}well"}})).to_string().into_bytes(), "application/json", 422, Some("payload.text")),
        ("an escape character in free text", note(json!({"payload": {"author": "Staff", "text": "\u{1b}[2J"}})).to_string().into_bytes(), "application/json", 422, Some("payload.text")),
        ("a time in 1800", note(json!({"occurred_at": "1800-01-01T00:00:00Z"})).to_string().into_bytes(), "application/json", 422, Some("occurred_at")),
        ("a time in year 0", note(json!({"occurred_at": "0000-01-01T00:00:00Z"})).to_string().into_bytes(), "application/json", 422, Some("occurred_at")),
        ("not JSON", b"kind=diary.note".to_vec(), "application/x-www-form-urlencoded", 415, Some("content-type")),
        ("oversized body", vec![b' '; 300 * 1024], "application/json", 413, Some("body")),
    ];
    for (what, body, content_type, status, field) in cases {
        let a = h.post_raw(cw, "/v1/events", content_type, body).await;
        assert_eq!(a.status.as_u16(), status, "{what}: {}", a.text());
        a.assert_problem(status, field);
        assert_eq!(h.size(), before, "{what}: nothing appended");
    }
    // The messages name what is wrong.
    let said: [(Vec<u8>, &[&str]); 3] = [
        (
            br#"{"kind":"diary.note","subject":"person-a","payload":{"author":"Staff","text":"fell","text":"fine"}}"#.to_vec(),
            &["payload.text is given twice"],
        ),
        (
            note(json!({"payload": {"author": "Staff", "text": "ate\u{0}well"}})).to_string().into_bytes(),
            &["U+0000", "character 4"],
        ),
        (
            note(json!({"occurred_at": "1800-01-01T00:00:00Z"})).to_string().into_bytes(),
            &["1900-01-01"],
        ),
    ];
    for (body, words) in said {
        let a = h.post_raw(cw, "/v1/events", "application/json", body).await;
        for w in words {
            assert!(a.text().contains(w), "{w:?} in {}", a.text());
        }
    }
    // An invalid date inside a payload names its field.
    let a = h
        .post("staff-rm01", "/v1/events", json!({"kind": "person.registered", "subject": "person-c", "payload": {
            "name": "C", "date_of_birth": "1940-13-40", "nhs_number": null, "address": "x", "gp_practice": "x", "allergies": []}}))
        .await;
    a.assert_problem(400, Some("payload.date_of_birth"));
    let a = h
        .post("staff-rm01", "/v1/events", json!({"kind": "person.registered", "subject": "person-c", "payload": {
            "name": "C", "date_of_birth": "1940-01-01", "nhs_number": "1234567890", "address": "x", "gp_practice": "x", "allergies": []}}))
        .await;
    a.assert_problem(422, Some("payload.nhs_number"));
    // A rule's field, placed where it sits in the request.
    let a = h
        .post("staff-co01", "/v1/events", json!({"kind": "careplan.published", "subject": "person-a", "payload": {"version": 2, "sections": {
            "about_me": "x", "needs": ["x"], "goals": [], "actions": ["x"], "risks": [], "contingency_plan": " ",
            "agreed_with": ["person-a"], "review_date": "2027-01-01"}}}))
        .await;
    a.assert_problem(422, Some("payload.sections.contingency_plan"));
    let a = h
        .post("staff-rm01", "/v1/events", json!({"kind": "request.received", "payload": {
            "request_id": "req-late", "requester": "council-mo01", "organisation": "County Council", "people": [],
            "categories": ["ConsentRecords"], "description": "x", "received_at_us": 1_767_225_600_000_000i64, "due_at_us": 1_767_398_400_000_000i64}}))
        .await;
    a.assert_problem(422, Some("payload.due_at_us"));
    let a = h
        .post("staff-rm01", "/v1/events", json!({"kind": "request.received", "payload": {
            "request_id": "req-old", "requester": "council-mo01", "organisation": "County Council", "people": [],
            "categories": ["ConsentRecords"], "description": "x", "received_at_us": i64::MIN + 1, "due_at_us": 0}}))
        .await;
    a.assert_problem(422, Some("payload.received_at_us"));
    assert_eq!(h.size(), before);

    // Queries: huge pages, bad numbers, bad dates, unknown parameters.
    for (path, field) in [
        ("/v1/people/person-a/daily-notes?limit=100000", "limit"),
        ("/v1/people/person-a/daily-notes?limit=0", "limit"),
        ("/v1/people/person-a/daily-notes?after=-1", "after"),
        ("/v1/people/person-a/daily-notes?limit=5&limit=6", "limit"),
        ("/v1/people/person-a/care-plan?page=2", "page"),
        (
            "/v1/people/person-a/care-plan?purpose=directcare",
            "purpose",
        ),
        ("/v1/audit/access?from=2026-13-01", "from"),
        ("/v1/audit/access?limit=5000", "limit"),
        ("/v1/provider/findings?at=noon", "at"),
        ("/v1/requests?open=maybe", "open"),
    ] {
        let user = if path.starts_with("/v1/audit") {
            "auditor-01"
        } else {
            "staff-rm01"
        };
        let a = h.get(Some(user), path).await;
        a.assert_problem(400, Some(field));
        assert_eq!(h.size(), before, "{path}: nothing appended");
    }
    // No 5xx anywhere above; unknown people in reads are 404 with no event.
    h.get(Some("staff-rm01"), "/v1/people/nobody/details")
        .await
        .assert_problem(404, Some("person"));
    h.post(
        "clinician-01",
        "/v1/people/nobody/emergency-access",
        json!({"reason": "x"}),
    )
    .await
    .assert_problem(404, Some("person"));
    let a = h
        .post_raw(
            "clinician-01",
            "/v1/people/person-a/emergency-access",
            "application/json",
            b"{\"reason\": 1}".to_vec(),
        )
        .await;
    a.assert_problem(400, Some("reason"));
    assert_eq!(h.size(), before);
}

/// The appender is held and its queue (one request) is full: the access event of a read
/// cannot be written, so the read fails with 503 and Retry-After, and no data leaves.
#[test]
fn a_read_whose_access_event_cannot_be_written_returns_no_data() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = StoreConfig {
        queue_requests_max: 1,
        ..StoreConfig::default()
    };
    let h = runtime.block_on(async {
        let h = Harness::with(config, quiet());
        h.seed().await;
        h
    });
    let ledger = h.app.ledger.clone();
    let before = h.size();
    let paused = ledger.store().pause().unwrap();
    // The one request the queue holds: a note waiting for the appender.
    let filler = ledger
        .submit(vec![careledger_ledger::Command::about(
            "staff-cw01",
            "person-a",
            careledger_store::now_us(),
            careledger_care::CareEvent::DiaryNote(careledger_care::event::DiaryNote {
                author: careledger_care::Author::Staff,
                text: "waiting".into(),
            }),
        )])
        .unwrap();
    let answer = runtime.block_on(h.get(Some("person-a"), "/v1/people/person-a/medicines"));
    let problem = answer.assert_problem(503, None);
    assert!(answer.headers.contains_key("retry-after"));
    let text = answer.text();
    assert!(
        !text.contains("Paracetamol") && !text.contains("penicillin"),
        "no data: {text}"
    );
    assert!(problem.get("data").is_none());
    // A refused read whose refusal cannot be written fails the same way.
    let answer = runtime.block_on(h.get(Some("person-b"), "/v1/people/person-a/medicines"));
    answer.assert_problem(503, None);

    drop(paused);
    runtime.block_on(filler).unwrap().unwrap();
    let events = h.events_from(before);
    assert_eq!(events.len(), 1, "only the note that was queued: {events:?}");
    assert_eq!(events[0].0, "diary.note");
    // Once the appender is back, the same read works and is recorded.
    let answer = runtime.block_on(h.get(Some("person-a"), "/v1/people/person-a/medicines"));
    assert_eq!(answer.status, 200);
    assert_eq!(h.events_from(before).len(), 2);
}

/// A request still waiting for its access event when the time limit passes is answered 503
/// with Retry-After, and its data never leaves (the event may still land afterwards, which
/// records a read whose answer nobody received, never the reverse).
#[test]
fn a_request_past_its_time_limit_gets_503_and_no_data() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let limits = careledger_api::Limits {
        request_timeout: std::time::Duration::from_millis(300),
        ..quiet()
    };
    let h = runtime.block_on(async {
        let h = Harness::with(StoreConfig::default(), limits);
        h.seed().await;
        h
    });
    let paused = h.app.ledger.store().pause().unwrap();
    let answer = runtime.block_on(h.get(Some("person-a"), "/v1/people/person-a/medicines"));
    let problem = answer.assert_problem(503, None);
    assert_eq!(
        problem["type"],
        "https://careledger.example/problems/timeout"
    );
    assert!(answer.headers.contains_key("retry-after"));
    assert!(!answer.text().contains("Paracetamol"));
    drop(paused);
}

/// Every kind of care event can be recorded through the API by some role, except the ones
/// the service writes itself.
#[test]
fn every_event_kind_has_a_writer() {
    use careledger_care::policy::may_record;
    use careledger_care::{CareEvent, Role};
    let service_written = [
        "access.read",
        "access.refused",
        "request.sla_warning",
        "request.sla_breached",
        // An email the relay did not accept, by the service's sender (email.rs).
        "email.failed",
        // Browser sessions, by the pages (careledger-web).
        "session.signed_in",
        "session.signed_out",
        "session.sign_in_failed",
    ];
    for kind in CareEvent::KINDS {
        let writers: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| may_record(*r, kind))
            .collect();
        if service_written.contains(kind) {
            assert!(
                writers.is_empty(),
                "{kind} is written by the service only, not {writers:?}"
            );
        } else {
            assert!(!writers.is_empty(), "no role may record {kind}");
        }
    }
}

/// A request body that fails midway (the client reset the connection) is a 400 saying so,
/// not a 413: only the size limit is "too large". The limit itself is still 413.
#[tokio::test]
async fn a_body_that_fails_midway_is_400_and_only_the_limit_is_413() {
    use axum::body::Body;
    use axum::http::Request;
    let h = Harness::seeded().await;
    let before = h.size();
    let chunks: Vec<Result<&'static [u8], std::io::Error>> = vec![
        Ok(b"{\"kind\": \"diary.note\", "),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset by peer",
        )),
    ];
    let req = Request::post("/v1/events")
        .header("authorization", format!("Bearer {}", h.token("staff-cw01")))
        .header("content-type", "application/json")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    let a = h.request(req).await;
    let problem = a.assert_problem(400, Some("body"));
    assert_eq!(
        problem["type"],
        "https://careledger.example/problems/invalid-request"
    );
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("could not be read") && detail.contains("connection reset"),
        "{problem}"
    );
    // Streamed past the limit, with no length given up front: 413.
    let big: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..2).map(|_| Ok(vec![b' '; 200 * 1024])).collect();
    let req = Request::post("/v1/events")
        .header("authorization", format!("Bearer {}", h.token("staff-cw01")))
        .header("content-type", "application/json")
        .body(Body::from_stream(futures_util::stream::iter(big)))
        .unwrap();
    h.request(req).await.assert_problem(413, Some("body"));
    assert_eq!(h.size(), before);
}

/// Makes event `seq`'s stored payload undecodable (its version byte names no version),
/// as a bug or damage on disk would, below what the projections were built from.
fn corrupt_payload(h: &Harness, seq: u64) {
    careledger_store::tamper::alter_payload_live(h.app.ledger.store(), seq, |payload| {
        payload[0] = 0xEE;
    })
    .unwrap();
}

/// A stored event whose payload does not decode is a verification failure, answered 500
/// naming the event, not shown as an event with no content nor dropped by a filter.
#[tokio::test]
async fn an_undecodable_stored_event_is_a_500_naming_it() {
    let h = Harness::seeded().await;
    let note = h
        .event(
            "staff-cw01",
            "diary.note",
            Some("person-a"),
            json!({"author": "Staff", "text": "to be damaged"}),
        )
        .await;
    let read = h
        .get(Some("staff-cw01"), "/v1/people/person-a/care-plan")
        .await;
    assert_eq!(read.status, 200, "{}", read.text());
    let access = read.json()["access"]["event"].as_u64().unwrap();
    // Before: the category filter finds the access event.
    let path = "/v1/audit/access?person=person-a&category=CarePlan&limit=1000";
    let audit = h.get(Some("auditor-01"), path).await;
    assert_eq!(audit.status, 200, "{}", audit.text());
    assert!(audit.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["event"] == access));

    corrupt_payload(&h, note);
    corrupt_payload(&h, access);
    for (user, path, seq) in [
        (
            "staff-cw01",
            "/v1/people/person-a/daily-notes?limit=1000",
            note,
        ),
        ("auditor-01", path, access),
        (
            "auditor-01",
            "/v1/audit/access?category=CarePlan&limit=1000",
            access,
        ),
        (
            "person-a",
            "/v1/people/person-a/access-log?limit=1000",
            access,
        ),
    ] {
        let a = h.get(Some(user), path).await;
        let problem = a.assert_problem(500, None);
        assert_eq!(
            problem["type"], "https://careledger.example/problems/undecodable-event",
            "{path}"
        );
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains(&format!("event {seq} (")),
            "{path}: {detail}"
        );
        assert!(detail.contains("verification"), "{path}: {detail}");
    }
}

/// Below the free-space floor a write is 507 naming free space and floor, and nothing is
/// written; a read of a record still works, its access event taking the reserve; below
/// the reserve the read is 507 too (no data leaves without its access event). Once space
/// is back, writes are taken again without a restart.
#[tokio::test]
async fn below_the_free_space_floor_writes_are_507_and_records_stay_readable() {
    use careledger_store::fault::Faults;
    let faults = std::sync::Arc::new(Faults::default());
    let h = Harness::with(
        careledger_store::StoreConfig {
            free_bytes_min: 256 << 20,
            free_bytes_reserve: 64 << 20,
            faults: Some(faults.clone()),
            ..careledger_store::StoreConfig::default()
        },
        common::quiet(),
    );
    h.seed().await;
    let before = h.size();
    faults.set_free_bytes(Some(100 << 20));
    let note = json!({"kind": "diary.note", "subject": "person-a",
        "payload": {"author": "Staff", "text": "written on a full disk"}});
    let refused = h.post("staff-cw01", "/v1/events", note.clone()).await;
    let problem = refused.assert_problem(507, None);
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("100 MiB free") && detail.contains("floor of 256 MiB"),
        "{detail}"
    );
    assert_eq!(h.size(), before, "nothing was written");
    let read = h
        .get(Some("staff-cw01"), "/v1/people/person-a/care-plan")
        .await;
    assert_eq!(read.status, 200, "{}", read.text());
    assert_eq!(
        h.size(),
        before + 1,
        "the read's access event took the reserve"
    );
    faults.set_free_bytes(Some(10 << 20));
    let read = h
        .get(Some("staff-cw01"), "/v1/people/person-a/care-plan")
        .await;
    read.assert_problem(507, None);
    assert_eq!(h.size(), before + 1);
    faults.set_free_bytes(None);
    let written = h.post("staff-cw01", "/v1/events", note).await;
    assert_eq!(written.status, 201, "{}", written.text());
}
