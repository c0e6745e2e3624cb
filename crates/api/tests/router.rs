//! Every endpoint in-process, through the router: what it answers, and what it appends.

mod common;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use careledger_log::merkle::{verify_consistency, verify_inclusion, Blake3Hasher};
use careledger_log::note::NoteVerifier;
use careledger_log::Checkpoint;
use common::Harness;
use serde_json::{json, Value};

fn b64(v: &Value) -> Vec<u8> {
    B64.decode(v.as_str().unwrap()).unwrap()
}

fn proof(v: &Value) -> Vec<Vec<u8>> {
    v.as_array().unwrap().iter().map(b64).collect()
}

#[tokio::test]
async fn operations_endpoints() {
    let h = Harness::seeded().await;
    let a = h.get(None, "/healthz").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.text(), "ok\n");
    let a = h.get(None, "/readyz").await;
    assert_eq!(a.status, 200);
    assert!(a.text().starts_with("ready: "), "{}", a.text());
    assert!(a.headers.contains_key("x-request-id"));

    let a = h.get(None, "/openapi.json").await;
    assert_eq!(a.status, 200);
    assert!(a.json()["openapi"].as_str().unwrap().starts_with("3."));

    // Metrics count what happened, by route template (no ids in labels).
    h.get(Some("person-a"), "/v1/people/person-a/care-plan")
        .await;
    let a = h.get(None, "/metrics").await;
    assert_eq!(a.status, 200);
    let text = a.text();
    assert!(
        text.contains("careledger_http_requests_total{method=\"GET\",route=\"/v1/people/{id}/care-plan\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(!text.contains("person-a"), "no personal ids in metrics");
    for name in [
        "careledger_http_request_duration_seconds_bucket",
        "careledger_appends_total",
        "careledger_append_queue_depth 0",
        "careledger_sla_breaches_total 0",
        "careledger_access_allowed_total 1",
    ] {
        assert!(text.contains(name), "{name} in\n{text}");
    }
}

/// The served document against the real router: every documented operation, called as
/// documented, is matched by the router to that very route (its metrics count the request
/// under the documented template), and is not answered 405; a path nobody documented is
/// the router's 404.
#[tokio::test]
async fn every_documented_operation_is_routed() {
    let h = Harness::seeded().await;
    let doc = h.get(None, "/openapi.json").await.json();
    let operations = common::operations(&doc);
    assert!(
        operations.len() > 20,
        "only {} operations",
        operations.len()
    );
    for op in &operations {
        let (method, template) = (op.method.as_str(), op.template);
        let before = common::routed(&h.app, method, template);
        let a = h.request(op.request(Some(h.token("staff-rm01")))).await;
        assert_ne!(a.status, 405, "{method} {template}: {}", a.text());
        assert_eq!(
            common::routed(&h.app, method, template),
            before + 1,
            "{method} {template} was not routed to its documented route: {} {}",
            a.status,
            a.text()
        );
    }
    assert_eq!(common::routed(&h.app, "GET", "unmatched"), 0);
    let a = h.get(Some("staff-rm01"), "/v1/undocumented").await;
    assert_eq!(a.status, 404);
    assert_eq!(common::routed(&h.app, "GET", "unmatched"), 1);
}

#[tokio::test]
async fn me_and_authentication() {
    let h = Harness::empty();
    let a = h.get(Some("council-mo01"), "/v1/me").await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.json(),
        json!({"id": "council-mo01", "role": "MonitoringOfficer", "default_purpose": "StatutoryReview"})
    );

    let a = h.get(None, "/v1/me").await;
    a.assert_problem(401, Some("authorization"));
    assert_eq!(a.headers["www-authenticate"], "Bearer realm=\"careledger\"");
    let bad = axum::http::Request::get("/v1/me")
        .header("authorization", "Bearer clt_0000000000000000_nope")
        .body(axum::body::Body::empty())
        .unwrap();
    h.request(bad)
        .await
        .assert_problem(401, Some("authorization"));
    // A token for a user, tampered with in its secret, is refused.
    let token = h.token("auditor-01").to_string();
    let tampered = format!("{}x", &token[..token.len() - 1]);
    let req = axum::http::Request::get("/v1/me")
        .header("authorization", format!("Bearer {tampered}"))
        .body(axum::body::Body::empty())
        .unwrap();
    h.request(req).await.assert_problem(401, None);
}

#[tokio::test]
async fn failed_attempts_are_limited_per_client() {
    let h = Harness::empty();
    let attempt = |client: [u8; 4], token: &str| {
        let mut req = axum::http::Request::get("/v1/me")
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .unwrap();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(careledger_api::ClientAddr(
                std::net::SocketAddr::from((client, 5000)),
            )));
        req
    };
    let router = h.router.clone();
    let send = |req| {
        let router = router.clone();
        async move {
            use tower::ServiceExt;
            router.oneshot(req).await.unwrap()
        }
    };
    for _ in 0..careledger_api::auth::FAILED_ATTEMPTS_MAX {
        assert_eq!(
            send(attempt([10, 0, 0, 1], "clt_bad_token")).await.status(),
            401
        );
    }
    // Now even a good token from that client waits; another client is not affected.
    let good = h.token("auditor-01").to_string();
    let r = send(attempt([10, 0, 0, 1], &good)).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 300, "{retry}");
    assert_eq!(send(attempt([10, 0, 0, 2], &good)).await.status(), 200);

    // IPv6 clients are counted by /64: moving within it does not reset the count.
    let v6 = |last: u16, token: &str| {
        let mut req = axum::http::Request::get("/v1/me")
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let ip = std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, last);
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(careledger_api::ClientAddr(
                std::net::SocketAddr::from((ip, 5000)),
            )));
        req
    };
    for i in 0..careledger_api::auth::FAILED_ATTEMPTS_MAX as u16 {
        assert_eq!(send(v6(i, "clt_bad_token")).await.status(), 401);
    }
    assert_eq!(send(v6(999, &good)).await.status(), 429);
}

#[tokio::test]
async fn record_sections_carry_the_flag_and_their_data() {
    let h = Harness::seeded().await;
    let a = h
        .get(Some("person-a"), "/v1/people/person-a/care-plan")
        .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let body = a.json();
    assert_eq!(body["data"]["current"]["version"], 1);
    assert_eq!(body["data"]["current"]["sections"]["about_me"], "likes tea");
    assert_eq!(body["access"]["basis"][0]["basis"]["kind"], "OwnRecord");
    assert_eq!(body["ais_flag"], "information format: large print");

    // A second version, then the first one shown whole from the log.
    h.event("staff-co01", "careplan.published", Some("person-a"), json!({"version": 2, "sections": {
        "about_me": "likes coffee now", "needs": ["washing"], "goals": [], "actions": ["morning visit"],
        "risks": [], "contingency_plan": "call the office", "agreed_with": ["person-a"], "review_date": "2027-02-01",
    }}))
    .await;
    let a = h
        .get(Some("person-a"), "/v1/people/person-a/care-plan?version=1")
        .await;
    let body = a.json();
    assert_eq!(body["data"]["current"]["version"], 2);
    assert_eq!(body["data"]["versions"].as_array().unwrap().len(), 2);
    assert_eq!(
        body["data"]["version"]["payload"]["sections"]["about_me"],
        "likes tea"
    );
    h.get(Some("person-a"), "/v1/people/person-a/care-plan?version=9")
        .await
        .assert_problem(404, Some("version"));

    let a = h
        .get(Some("person-a"), "/v1/people/person-a/medicines")
        .await;
    let body = a.json();
    assert_eq!(body["data"]["allergies"], json!(["penicillin"]));
    assert_eq!(
        body["data"]["medicines"][0]["details"]["name"],
        "Paracetamol"
    );
    assert_eq!(body["data"]["medicines"][0]["given"], 1);
    let kinds: Vec<&str> = body["data"]["administrations"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["mar.administration"],
        "doses only: medicines added are the list's"
    );
    assert_eq!(
        body["data"]["name"], "Alice Able",
        "the MAR names the person (NG67)"
    );
    assert_eq!(body["data"]["date_of_birth"], "1940-02-03");

    // Daily notes hold the person's own entry, attributed to them; pages go on by cursor.
    let a = h
        .get(Some("person-a"), "/v1/people/person-a/daily-notes?limit=1")
        .await;
    let body = a.json();
    let items = body["data"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["actor"], "staff-cw01");
    let next = body["data"]["next_after"].as_u64().unwrap();
    let a = h
        .get(
            Some("person-a"),
            &format!("/v1/people/person-a/daily-notes?limit=5&after={next}"),
        )
        .await;
    let body = a.json();
    let items = body["data"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["actor"], "person-a");
    assert_eq!(items[0]["payload"]["author"], "Person");
    assert_eq!(body["data"]["next_after"], Value::Null);

    let a = h
        .get(Some("person-a"), "/v1/people/person-a/paper-copies")
        .await;
    assert_eq!(a.json()["data"]["copies"][0]["document"], "CarePlan");
    let a = h.get(Some("person-a"), "/v1/people/person-a/grants").await;
    assert_eq!(a.json()["data"]["grants"].as_array().unwrap().len(), 2);
    let a = h
        .get(Some("council-mo01"), "/v1/people/person-a/evidence")
        .await;
    let body = a.json();
    assert_eq!(body["data"]["last_discussion"]["chosen"], json!(["Paper"]));
    let notes = "Wants the paper diary kept in the kitchen drawer.";
    assert_eq!(
        body["data"]["last_discussion"]["notes"], notes,
        "the words are shown back"
    );
    let a = h.get(Some("person-a"), "/v1/people/person-a/consent").await;
    assert_eq!(a.json()["data"]["last_discussion"]["notes"], notes);
    assert_eq!(
        body["access"]["basis"][0]["basis"]["kind"],
        "CouncilRequest"
    );
    assert_eq!(body["access"]["basis"][0]["basis"]["request_id"], "req-1");
}

#[tokio::test]
async fn who_looked_at_my_record() {
    let h = Harness::seeded().await;
    let read = h
        .get(Some("staff-cw01"), "/v1/people/person-a/medicines")
        .await
        .json()["access"]["event"]
        .clone();
    // person-b has no tie to person-a's record: the answer does not number the refusal,
    // but the access log shows it.
    let before = h.size();
    let a = h
        .get(Some("person-b"), "/v1/people/person-a/medicines")
        .await;
    assert_eq!(a.status, 403);
    let refused = json!(before);
    for reader in ["person-a", "rep-a-lpa"] {
        let a = h
            .get(Some(reader), "/v1/people/person-a/access-log?limit=1000")
            .await;
        assert_eq!(a.status, 200);
        let items = a.json()["data"]["items"].as_array().unwrap().clone();
        let read_row = items
            .iter()
            .find(|i| i["event"] == read)
            .expect("the care worker's read");
        assert_eq!(read_row["actor"], "staff-cw01");
        assert_eq!(read_row["reader"]["role"], "CareWorker");
        assert_eq!(
            read_row["payload"]["basis"],
            json!([{"category": "Medicines", "basis": "RoleDefault"}]),
            "the log says on what basis the read was allowed"
        );
        assert_eq!(read_row["reader"]["name"], "Staff staff-cw01", "{read_row}");
        assert_eq!(read_row["payload"]["categories"], json!(["Medicines"]));
        assert_eq!(read_row["payload"]["purpose"], "DirectCare");
        let refused_row = items
            .iter()
            .find(|i| i["event"] == refused)
            .expect("the refusal");
        assert_eq!(refused_row["kind"], "access.refused");
        assert!(refused_row["payload"]["reason"]
            .as_str()
            .unwrap()
            .contains("no grant"));
    }
}

#[tokio::test]
async fn break_glass_needs_a_reason_and_is_flagged() {
    let h = Harness::seeded().await;
    let before = h.size();
    let a = h
        .post(
            "clinician-01",
            "/v1/people/person-a/emergency-access",
            json!({"reason": "  "}),
        )
        .await;
    a.assert_problem(400, Some("reason"));
    let a = h
        .post(
            "clinician-01",
            "/v1/people/person-a/emergency-access",
            json!({"reason": "x", "minutes": 100000}),
        )
        .await;
    a.assert_problem(400, Some("minutes"));
    let a = h
        .post(
            "staff-cw01",
            "/v1/people/person-a/emergency-access",
            json!({"reason": "collapsed"}),
        )
        .await;
    a.assert_problem(403, None);
    assert_eq!(
        h.size(),
        before,
        "nothing appended for refused break-glass requests"
    );

    let a = h
        .post(
            "clinician-01",
            "/v1/people/person-a/emergency-access",
            json!({"reason": "collapsed at home, paramedic attending", "minutes": 30}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let body = a.json();
    assert_eq!(body["access"]["flagged"], true);
    assert_eq!(body["data"]["allergies"], json!(["penicillin"]));
    let events = h.events_from(before);
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].0, "access.emergency");
    assert_eq!(events[1].0, "access.read");
    // Medicines only: the care plan stays closed, and that refusal is recorded too.
    let a = h
        .get(
            Some("clinician-01"),
            "/v1/people/person-a/care-plan?purpose=Emergency",
        )
        .await;
    a.assert_problem(403, None);
}

#[tokio::test]
async fn commands_are_checked_by_role_and_rules() {
    let h = Harness::seeded().await;
    let before = h.size();
    // Roles may record only their kinds.
    let a = h
        .post(
            "staff-cw01",
            "/v1/events",
            json!({"kind": "careplan.published", "subject": "person-a", "payload": {}}),
        )
        .await;
    a.assert_problem(403, Some("kind"));
    for kind in ["access.read", "access.refused", "request.sla_breached"] {
        let a = h
            .post(
                "staff-rm01",
                "/v1/events",
                json!({"kind": kind, "payload": {}}),
            )
            .await;
        assert_eq!(a.status, 403, "{kind}: {}", a.text());
    }
    // A person writes about themselves only, and decides only as themselves.
    let a = h
        .post("person-b", "/v1/events", json!({"kind": "diary.note", "subject": "person-a", "payload": {"author": "Person", "text": "hi"}}))
        .await;
    a.assert_problem(403, Some("subject"));
    let a = h
        .post("rep-a-family", "/v1/events", json!({"kind": "access.granted", "subject": "person-a", "payload": {
            "grant_id": "g-x", "grantee": {"Role": "Partner"}, "categories": ["CarePlan"], "purpose": "Handover",
            "expires_at_us": null, "decided_by": "rep-a-lpa", "basis": "LastingPowerOfAttorney"}}))
        .await;
    a.assert_problem(403, Some("payload.decided_by"));
    // A family member has no authority to grant, even as themselves: the care rules say so.
    let a = h
        .post("rep-a-family", "/v1/events", json!({"kind": "access.granted", "subject": "person-a", "payload": {
            "grant_id": "g-x", "grantee": {"Role": "Partner"}, "categories": ["CarePlan"], "purpose": "Handover",
            "expires_at_us": null, "decided_by": "rep-a-family", "basis": "LastingPowerOfAttorney"}}))
        .await;
    a.assert_problem(422, None);
    // Optimistic concurrency on the care plan: a stale version is a conflict.
    let a = h
        .post("staff-co01", "/v1/events", json!({"kind": "careplan.published", "subject": "person-a", "payload": {"version": 1, "sections": {
            "about_me": "x", "needs": ["x"], "goals": [], "actions": ["x"], "risks": [], "contingency_plan": "x",
            "agreed_with": ["person-a"], "review_date": "2027-01-01"}}}))
        .await;
    a.assert_problem(409, Some("payload.version"));
    // A request opens records to its officer, so the provider records its receipt: an
    // officer cannot open records to themselves.
    let a = h
        .post("council-mo01", "/v1/events", json!({"kind": "request.received", "payload": {
            "request_id": "req-x", "requester": "council-mo01", "organisation": "County Council", "people": ["person-b"],
            "categories": ["CarePlan"], "description": "x", "received_at_us": 0, "due_at_us": 1}}))
        .await;
    a.assert_problem(403, Some("kind"));
    // They may withdraw their own requests, not another officer's.
    let a = h
        .post("council-scp01", "/v1/events", json!({"kind": "request.withdrawn", "payload": {"request_id": "req-1", "reason": "not mine"}}))
        .await;
    a.assert_problem(403, Some("payload.request_id"));
    assert_eq!(h.size(), before, "nothing appended");

    // Accepted: 201 with the event number, durable and applied.
    let a = h
        .post("staff-cw01", "/v1/events", json!({"kind": "diary.note", "subject": "person-a", "occurred_at": "2026-01-02T10:00:00Z", "payload": {"author": "Staff", "text": "walked to the shop"}}))
        .await;
    assert_eq!(a.status, 201, "{}", a.text());
    let seq = a.json()["event"].as_u64().unwrap();
    let stored = h.app.ledger.store().get(seq).unwrap();
    assert_eq!(stored.envelope.occurred_at_us, 1_767_348_000_000_000);
    assert_eq!(stored.envelope.actor, "staff-cw01");
}

#[tokio::test]
async fn auditors_see_who_saw_what() {
    let h = Harness::seeded().await;
    h.get(Some("staff-cw01"), "/v1/people/person-a/medicines")
        .await;
    h.get(Some("staff-cw01"), "/v1/people/person-b/care-plan")
        .await;
    h.get(Some("person-b"), "/v1/people/person-a/care-plan")
        .await;

    // By actor, across people: one access event per person in the page.
    let before = h.size();
    let a = h
        .get(Some("auditor-01"), "/v1/audit/access?actor=staff-cw01")
        .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let body = a.json();
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{body}");
    assert!(items.iter().all(|i| i["actor"] == "staff-cw01"));
    let events = h.events_from(before);
    let mut people: Vec<_> = events.iter().map(|e| e.2.clone().unwrap()).collect();
    people.sort();
    assert_eq!(people, ["person-a", "person-b"]);
    assert!(events
        .iter()
        .all(|e| e.0 == "access.read" && e.1 == "auditor-01"));
    assert_eq!(body["access_events"].as_array().unwrap().len(), 2);

    // By category and by person.
    let a = h
        .get(Some("auditor-01"), "/v1/audit/access?category=CarePlan")
        .await;
    let items = a.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2, "the read and the refusal of a care plan");
    let before = h.size();
    let a = h
        .get(
            Some("auditor-01"),
            "/v1/audit/access?person=person-a&actor=person-b",
        )
        .await;
    let body = a.json();
    assert_eq!(body["items"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["items"][0]["kind"], "access.refused");
    assert_eq!(
        body["access_events"],
        json!([before]),
        "one shape with or without person"
    );
    assert_eq!(
        h.size(),
        before + 1,
        "one access event for one person's log"
    );

    // By the role read in, and by the purpose of use recorded.
    let rows = |a: common::Answer| a.json()["items"].as_array().unwrap().clone();
    let by_role = rows(
        h.get(Some("auditor-01"), "/v1/audit/access?role=CareWorker")
            .await,
    );
    assert_eq!(by_role.len(), 2, "{by_role:?}");
    assert!(by_role.iter().all(|i| i["actor"] == "staff-cw01"));
    let audits = rows(
        h.get(Some("auditor-01"), "/v1/audit/access?purpose=Audit")
            .await,
    );
    assert!(audits.len() >= 3, "the auditor's own queries: {audits:?}");
    assert!(audits.iter().all(|i| i["actor"] == "auditor-01"));
    let personal = rows(
        h.get(
            Some("auditor-01"),
            "/v1/audit/access?purpose=PersonalAccess&role=Person",
        )
        .await,
    );
    assert_eq!(personal.len(), 1, "{personal:?}");
    assert_eq!(personal[0]["kind"], "access.refused");
    h.get(Some("auditor-01"), "/v1/audit/access?role=Nobody")
        .await
        .assert_problem(400, Some("role"));
    h.get(Some("auditor-01"), "/v1/audit/access?purpose=Curiosity")
        .await
        .assert_problem(400, Some("purpose"));

    // By time: nothing recorded in the future.
    let a = h
        .get(
            Some("auditor-01"),
            "/v1/audit/access?from=2099-01-01T00:00:00Z",
        )
        .await;
    assert_eq!(a.json()["items"], json!([]));
    // Bad ranges and parameters are named.
    h.get(
        Some("auditor-01"),
        "/v1/audit/access?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
    )
    .await
    .assert_problem(400, Some("to"));
    h.get(Some("auditor-01"), "/v1/audit/access?category=Everything")
        .await
        .assert_problem(400, Some("category"));
    h.get(Some("auditor-01"), "/v1/audit/access?actr=x")
        .await
        .assert_problem(400, Some("actr"));
    // Across people is for auditors and registered managers only; no event is written.
    let before = h.size();
    h.get(Some("staff-cw01"), "/v1/audit/access")
        .await
        .assert_problem(403, None);
    assert_eq!(h.size(), before);
}

#[tokio::test]
async fn monitoring_officers_see_findings_requests_and_proved_response_times() {
    let h = Harness::seeded().await;
    let a = h.get(Some("council-mo01"), "/v1/provider/findings").await;
    assert_eq!(a.status, 200, "{}", a.text());
    let body = a.json();
    assert_eq!(body["people_receiving_care"], 2);
    assert_eq!(body["with_choices_discussion"], 1);
    let rules: Vec<&str> = body["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(
        rules.contains(&"R8-no-discussion"),
        "person-b has had no discussion: {rules:?}"
    );
    h.get(Some("person-a"), "/v1/provider/findings")
        .await
        .assert_problem(403, None);

    let a = h.get(Some("council-mo01"), "/v1/requests").await;
    let items = a.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["sla"]["state"], "due");
    // Another officer does not see it.
    let a = h.get(Some("council-scp01"), "/v1/requests").await;
    assert_eq!(a.json()["items"], json!([]));
    // Pages go on by request id.
    let now = careledger_store::now_us();
    h.event("staff-rm01", "request.received", None, json!({
        "request_id": "req-2", "requester": "council-mo01", "organisation": "County Council", "people": [],
        "categories": ["ConsentRecords"], "description": "staffing", "received_at_us": now, "due_at_us": now + 3_600_000_000i64}))
        .await;
    let first = h
        .get(Some("council-mo01"), "/v1/requests?limit=1")
        .await
        .json();
    assert_eq!(first["items"][0]["request_id"], "req-1");
    assert_eq!(first["next_after"], "req-1");
    let second = h
        .get(Some("council-mo01"), "/v1/requests?limit=1&after=req-1")
        .await
        .json();
    assert_eq!(second["items"][0]["request_id"], "req-2");
    let open = h
        .get(Some("council-mo01"), "/v1/requests?open=true&after=req-2")
        .await
        .json();
    assert_eq!(open["items"], json!([]));
    assert_eq!(open["next_after"], Value::Null);

    // Respond, then the report proves each line against a signed checkpoint.
    h.event("staff-rm01", "request.responded", None, json!({"request_id": "req-1", "digest": vec![7u8; 32], "channel": "SecureEmail", "items": 3}))
        .await;
    let a = h
        .get(Some("council-mo01"), "/v1/reports/response-times")
        .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let body = a.json();
    let verifier = NoteVerifier::parse(&h.app.ledger.store().verifier().to_string()).unwrap();
    let checkpoint = Checkpoint::open(body["checkpoint"].as_str().unwrap(), &verifier).unwrap();
    assert_eq!(checkpoint.size, body["tree_size"].as_u64().unwrap());
    let line = &body["items"][0];
    assert_eq!(line["request_id"], "req-1");
    assert_eq!(line["breached"], false);
    let whats: Vec<&str> = line["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["what"].as_str().unwrap())
        .collect();
    assert_eq!(whats, ["received", "responded"]);
    for e in line["events"].as_array().unwrap() {
        let p = &e["proof"];
        let seq = e["event"].as_u64().unwrap();
        // The leaf hash is BLAKE3(0x00 || the stored envelope), and the proof reaches the root.
        let envelope = h
            .get(Some("council-mo01"), &format!("/v1/ledger/events/{seq}"))
            .await;
        assert_eq!(envelope.content_type(), "application/octet-stream");
        let mut leaf = blake3::Hasher::new();
        leaf.update(&[0]);
        leaf.update(&envelope.bytes);
        assert_eq!(leaf.finalize().as_bytes().to_vec(), b64(&p["leaf_hash"]));
        verify_inclusion::<Blake3Hasher, _>(
            seq,
            checkpoint.size,
            &b64(&p["leaf_hash"]),
            &proof(&p["proof"]),
            &checkpoint.root,
        )
        .unwrap();
    }
}

#[tokio::test]
async fn ledger_endpoints_for_outside_verification() {
    let h = Harness::seeded().await;
    let key = h.get(None, "/v1/ledger/key").await;
    assert_eq!(key.status, 200);
    assert!(key.content_type().starts_with("text/plain"));
    let verifier = NoteVerifier::parse(key.text().trim()).unwrap();
    let note = h.get(None, "/v1/ledger/checkpoint").await;
    assert!(note.content_type().starts_with("text/plain"));
    let old = Checkpoint::open(&note.text(), &verifier).unwrap();
    h.event(
        "staff-cw01",
        "diary.note",
        Some("person-a"),
        json!({"author": "Staff", "text": "more"}),
    )
    .await;
    let store = h.app.ledger.store().clone();
    tokio::task::spawn_blocking(move || store.checkpoint_now().unwrap())
        .await
        .unwrap();
    let new = Checkpoint::open(
        &h.get(None, "/v1/ledger/checkpoint").await.text(),
        &verifier,
    )
    .unwrap();
    assert!(new.size > old.size);

    let a = h
        .get(
            Some("auditor-01"),
            &format!(
                "/v1/ledger/proofs/consistency?from={}&to={}",
                old.size, new.size
            ),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let c = a.json();
    assert_eq!(b64(&c["root1"]), old.root.to_vec());
    verify_consistency::<Blake3Hasher, _>(
        old.size,
        new.size,
        &proof(&c["proof"]),
        &old.root,
        &new.root,
    )
    .unwrap();

    let a = h
        .get(
            Some("person-a"),
            &format!("/v1/ledger/proofs/inclusion?seq=3&size={}", new.size),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let p = a.json();
    verify_inclusion::<Blake3Hasher, _>(
        3,
        new.size,
        &b64(&p["leaf_hash"]),
        &proof(&p["proof"]),
        &new.root,
    )
    .unwrap();

    h.get(Some("auditor-01"), "/v1/ledger/proofs/inclusion")
        .await
        .assert_problem(400, Some("seq"));
    h.get(
        Some("auditor-01"),
        "/v1/ledger/proofs/inclusion?seq=5&size=999999",
    )
    .await
    .assert_problem(404, Some("size"));
    h.get(Some("auditor-01"), "/v1/ledger/proofs/consistency?from=0")
        .await
        .assert_problem(400, Some("from"));
    h.get(Some("auditor-01"), "/v1/ledger/events/99999")
        .await
        .assert_problem(404, Some("seq"));
    h.get(Some("auditor-01"), "/v1/ledger/events/abc")
        .await
        .assert_problem(400, Some("seq"));
    // Envelopes name people: not for everyone.
    h.get(Some("person-a"), "/v1/ledger/events/3")
        .await
        .assert_problem(403, None);
    // The envelope decodes to the event it claims to be.
    let bytes = h.get(Some("auditor-01"), "/v1/ledger/events/0").await.bytes;
    let envelope = careledger_log::envelope::Envelope::decode(&bytes).unwrap();
    assert_eq!(envelope.seq, 0);
    assert_eq!(envelope.kind, "staff.registered");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let h = Harness::empty();
    let a = h.get(None, "/v2/nothing").await;
    a.assert_problem(404, None);
    assert!(
        a.headers.contains_key("x-request-id"),
        "unmatched requests are observed too"
    );
    let metrics = h.get(None, "/metrics").await.text();
    assert!(
        metrics.contains(
            "careledger_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1"
        ),
        "{metrics}"
    );
    let req = axum::http::Request::delete("/v1/me")
        .body(axum::body::Body::empty())
        .unwrap();
    h.request(req).await.assert_problem(405, None);
}

/// A query that reads its bound of events before filling its page answers with a cursor,
/// and following the cursors reaches every row.
#[tokio::test]
async fn a_scan_bound_ends_the_page_with_a_cursor() {
    let limits = careledger_api::Limits {
        audit_scan_events_max: 7,
        ..common::quiet()
    };
    let h = Harness::with(careledger_store::StoreConfig::default(), limits);
    h.seed().await;
    for _ in 0..3 {
        h.get(Some("staff-cw01"), "/v1/people/person-a/care-plan")
            .await;
    }
    let reads = h.size();
    let mut after: Option<u64> = None;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let path = match after {
            Some(a) => format!("/v1/audit/access?actor=staff-cw01&after={a}"),
            None => "/v1/audit/access?actor=staff-cw01".to_string(),
        };
        let body = h.get(Some("auditor-01"), &path).await.json();
        pages += 1;
        seen.extend(
            body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["event"].as_u64().unwrap()),
        );
        match body["next_after"].as_u64() {
            Some(n) => after = Some(n),
            None => break,
        }
        assert!(pages < 100, "the cursors go on");
    }
    assert!(
        pages > 3,
        "seven events a page over {reads} events: {pages} pages"
    );
    assert_eq!(
        seen,
        [reads - 3, reads - 2, reads - 1],
        "each of the care worker's reads once"
    );
}

#[tokio::test]
async fn a_plan_version_older_than_the_projection_indexes_is_read_from_the_history() {
    let h = Harness::seeded().await;
    let kept = careledger_care::state::PLAN_VERSIONS_KEPT as u32;
    for version in 2..=kept + 2 {
        h.event("staff-co01", "careplan.published", Some("person-a"), json!({"version": version, "sections": {
            "about_me": format!("version {version}"), "needs": ["washing"], "goals": [], "actions": ["morning visit"],
            "risks": [], "contingency_plan": "call the office", "agreed_with": ["person-a"], "review_date": "2027-02-01",
        }}))
        .await;
    }
    let body = h
        .get(Some("person-a"), "/v1/people/person-a/care-plan?version=1")
        .await
        .json();
    assert_eq!(
        body["data"]["version"]["payload"]["sections"]["about_me"], "likes tea",
        "version 1 is no longer indexed, and is found in the log"
    );
    assert_eq!(
        body["data"]["versions"].as_array().unwrap().len(),
        kept as usize
    );
    let body = h
        .get(
            Some("person-a"),
            "/v1/people/person-a/care-plan?version=200",
        )
        .await
        .json();
    assert_eq!(
        body["data"]["version"]["payload"]["sections"]["about_me"],
        "version 200"
    );
    h.get(
        Some("person-a"),
        "/v1/people/person-a/care-plan?version=9999",
    )
    .await
    .assert_problem(404, Some("version"));
}
