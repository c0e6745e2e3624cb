//! What a newcomer's first hour with the API found: findings as of an earlier time, the
//! provider report for one person, problem documents for undecodable paths, and whole
//! numbers written as `30.0`.

mod common;

use careledger_store::now_us;
use common::Harness;
use serde_json::{json, Value};

fn rules_of(body: &Value) -> Vec<(String, Option<String>)> {
    body["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["person"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[tokio::test]
async fn findings_as_of_an_earlier_time_answer_from_the_state_then() {
    let h = Harness::seeded().await;
    // Before anything was recorded: nobody in care, no finding.
    let a = h
        .get(
            Some("staff-rm01"),
            "/v1/provider/findings?at=1970-01-01T00:00:00Z",
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let body = a.json();
    assert_eq!(body["events"], 0);
    assert_eq!(body["people_receiving_care"], 0);
    assert_eq!(body["findings"], json!([]));

    // A request recorded after `mid`, already overdue when it is recorded.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let mid = now_us();
    let size_at_mid = h.size();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let now = now_us();
    h.event(
        "staff-rm01",
        "request.received",
        None,
        json!({
            "request_id": "req-late", "requester": "council-mo01", "organisation": "County Council",
            "people": ["person-a"], "categories": ["CarePlan"], "description": "care plan",
            "received_at_us": now - 30 * 3_600_000_000i64, "due_at_us": now - 6 * 3_600_000_000i64,
        }),
    )
    .await;
    let at = careledger_api::extract::time(mid);
    let then = h
        .get(
            Some("staff-rm01"),
            &format!("/v1/provider/findings?at={at}"),
        )
        .await
        .json();
    assert_eq!(then["events"], size_at_mid, "{then}");
    let today = h
        .get(Some("staff-rm01"), "/v1/provider/findings")
        .await
        .json();
    assert_eq!(today["events"], h.size());
    let late = |body: &Value| {
        body["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["message"].as_str().unwrap_or("").contains("req-late"))
    };
    assert!(late(&today), "today the late request is a finding: {today}");
    assert!(!late(&then), "before it was recorded it is not: {then}");
    assert_eq!(
        then["people_receiving_care"],
        today["people_receiving_care"]
    );
}

#[tokio::test]
async fn the_provider_report_for_one_person() {
    let h = Harness::seeded().await;
    let all = h
        .get(Some("staff-rm01"), "/v1/provider/findings")
        .await
        .json();
    let a = h
        .get(
            Some("council-mo01"),
            "/v1/provider/findings?person=person-a",
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let one = a.json();
    assert_eq!(one["person"], "person-a");
    assert_eq!(one["people_receiving_care"], 1);
    let expected: Vec<_> = rules_of(&all)
        .into_iter()
        .filter(|(_, p)| p.as_deref() == Some("person-a"))
        .collect();
    assert_eq!(rules_of(&one), expected);
    let a = h
        .get(
            Some("staff-rm01"),
            "/v1/provider/findings?person=person-zzz",
        )
        .await;
    a.assert_problem(404, Some("person"));
}

#[tokio::test]
async fn undecodable_paths_get_problem_documents() {
    let h = Harness::seeded().await;
    let before = h.size();
    let a = h
        .get(Some("staff-rm01"), "/v1/people/person-%FF%FE/care-plan")
        .await;
    assert_eq!(a.content_type(), "application/problem+json");
    let body = a.assert_problem(400, Some("id"));
    assert!(body["detail"].as_str().unwrap().contains("UTF-8"), "{body}");
    assert_eq!(h.size(), before, "nothing recorded");
}

#[tokio::test]
async fn whole_numbers_may_be_written_with_a_fraction_of_zero() {
    let h = Harness::seeded().await;
    // Break-glass for 30.0 minutes is 30 minutes; 30.5 is refused, naming the field.
    let a = h
        .post(
            "clinician-01",
            "/v1/people/person-a/emergency-access",
            json!({"reason": "collapsed at home", "minutes": 30.5}),
        )
        .await;
    a.assert_problem(400, Some("minutes"));
    let a = h
        .post(
            "clinician-01",
            "/v1/people/person-a/emergency-access",
            json!({"reason": "collapsed at home", "minutes": 30.0}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let body = a.json();
    assert!(body["access"]["flagged"].as_bool().unwrap());
    assert!(body["data"]["medicines"].is_array());

    // A payload's integers too.
    let now = now_us() as f64;
    let a = h
        .post(
            "staff-rm01",
            "/v1/events",
            json!({"kind": "request.received", "payload": {
                "request_id": "req-float", "requester": "council-mo01",
                "organisation": "County Council", "people": ["person-a"],
                "categories": ["CarePlan"], "description": "care plan",
                "received_at_us": now, "due_at_us": now + 3_600_000_000.0,
            }}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text());
}

/// A request hyper cannot parse (a raw 0xFF byte in the path) is answered by hyper itself,
/// before routing: that answer is a problem document too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_byte_in_the_path_gets_a_problem_document() {
    use std::io::{Read, Write};
    let h = Harness::seeded().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(careledger_api::serve(h.app.clone(), listener, async {
        let _ = stopped.await;
    }));
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        s.write_all(b"GET /v1/people/person-\xff\xfe/care-plan HTTP/1.1\r\nhost: x\r\n\r\n")
            .unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .unwrap();
    let _ = stop.send(());
    let _ = server.await;
    let (head, body) = answer.split_once("\r\n\r\n").expect("a whole answer");
    assert!(head.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        head.contains("content-type: application/problem+json"),
        "{head}"
    );
    let problem: Value = serde_json::from_str(body).expect("a JSON body");
    assert_eq!(problem["status"], 400);
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("percent-encode"));
}

/// What a schema-driven fuzzer found the schema and the code disagreeing on.
#[tokio::test]
async fn the_code_refuses_what_the_schema_refuses() {
    let h = Harness::seeded().await;
    let before = h.size();
    // Empty query values: the schema says minLength 1.
    for path in [
        "/v1/audit/access?actor=",
        "/v1/requests?after=",
        "/v1/reports/response-times?after=",
    ] {
        let a = h.get(Some("staff-rm01"), path).await;
        let field = path.split('?').nth(1).unwrap().trim_end_matches('=');
        a.assert_problem(400, Some(field));
    }
    // A break-glass reason over 1000 characters: the schema says maxLength 1000.
    let a = h
        .post(
            "clinician-01",
            "/v1/people/person-a/emergency-access",
            json!({"reason": "x".repeat(1001)}),
        )
        .await;
    a.assert_problem(400, Some("reason"));
    // A control character in the reason: 400 `reason` as the other reason checks, not a
    // rule's 422 about the payload.
    let a = h
        .post(
            "clinician-01",
            "/v1/people/person-a/emergency-access",
            json!({"reason": "collapsed\u{7}at home"}),
        )
        .await;
    a.assert_problem(400, Some("reason"));
    assert!(a.text().contains("U+0007"), "{}", a.text());
    // A subject with a control character, or longer than 50 characters.
    for subject in ["\u{85}x".to_string(), "p".repeat(51)] {
        let a = h
            .post(
                "staff-rm01",
                "/v1/events",
                json!({"kind": "care.ended", "subject": subject, "payload": {"reason": "moved"}}),
            )
            .await;
        let body = a.assert_problem(400, Some("subject"));
        assert!(
            !body["detail"].as_str().unwrap().contains("event 0"),
            "{body}"
        );
    }
    assert_eq!(h.size(), before, "nothing was written");
    // A tree larger than the ledger is not there: 404, as for an event.
    let too_big = h.size() + 10;
    let a = h
        .get(
            Some("auditor-01"),
            &format!("/v1/ledger/proofs/inclusion?seq=0&size={too_big}"),
        )
        .await;
    a.assert_problem(404, Some("size"));
    let a = h
        .get(
            Some("auditor-01"),
            &format!("/v1/ledger/proofs/consistency?from=1&to={too_big}"),
        )
        .await;
    a.assert_problem(404, Some("to"));
}

/// The auditor query's `from` starts at the first access recorded at or after it.
#[tokio::test]
async fn the_audit_query_starts_at_from() {
    let h = Harness::seeded().await;
    h.get(Some("staff-cw01"), "/v1/people/person-a/care-plan")
        .await;
    std::thread::sleep(std::time::Duration::from_millis(5));
    let mid = careledger_api::extract::time(now_us());
    std::thread::sleep(std::time::Duration::from_millis(5));
    let later = h
        .get(Some("staff-cw01"), "/v1/people/person-a/medicines")
        .await
        .json()["access"]["event"]
        .clone();
    let page = h
        .get(Some("auditor-01"), &format!("/v1/audit/access?from={mid}"))
        .await
        .json();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items[0]["event"], later, "{page}");
    assert!(items
        .iter()
        .all(|i| i["recorded_at"].as_str().unwrap() >= mid.as_str()));
}
