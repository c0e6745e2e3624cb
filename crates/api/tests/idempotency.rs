//! `Idempotency-Key` on writes: a retry whose first answer was lost leaves one event, a key
//! reused for another request is refused, keys are each client's own and survive a
//! restart.

mod common;

use axum::body::Body;
use axum::http::Request;
use careledger_store::StoreConfig;
use common::{quiet, Answer, Harness};
use serde_json::{json, Value};

const CW: &str = "staff-cw01";

async fn post_keyed(h: &Harness, user: &str, path: &str, key: &str, body: &str) -> Answer {
    let req = Request::post(path)
        .header("authorization", format!("Bearer {}", h.token(user)))
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(Body::from(body.to_string()))
        .unwrap();
    h.request(req).await
}

fn note(text: &str) -> String {
    json!({"kind": "diary.note", "subject": "person-a", "payload": {"author": "Staff", "text": text}})
        .to_string()
}

fn diary_notes(h: &Harness, from: u64) -> usize {
    h.events_from(from)
        .iter()
        .filter(|(kind, ..)| kind == "diary.note")
        .count()
}

#[tokio::test]
async fn a_write_whose_answer_is_lost_retried_with_its_key_leaves_one_event() {
    let h = Harness::seeded().await;
    let before = h.size();
    let key = "\"5f0c6f8e-1d1a-4a53-9d37-3c1f1f7e2a10\"";
    // The first answer is lost: the client never reads it.
    let first = post_keyed(&h, CW, "/v1/events", key, &note("Ate well at lunch")).await;
    assert_eq!(first.status, 201, "{}", first.text());
    let first_event = first.json()["event"].as_u64().unwrap();

    // The retry is the same request, written another way (key order, white space).
    let same = r#"{ "payload": {"text": "Ate well at lunch", "author": "Staff"},
                    "subject": "person-a", "kind": "diary.note" }"#;
    let retry = post_keyed(&h, CW, "/v1/events", key, same).await;
    assert_eq!(retry.status, 201, "{}", retry.text());
    assert_eq!(
        retry.json(),
        first.json(),
        "the retry is answered as the first was"
    );
    assert_eq!(h.size(), before + 1);
    assert_eq!(diary_notes(&h, before), 1);
    assert_eq!(first_event, before);
}

#[tokio::test]
async fn retries_sent_together_are_written_once() {
    let h = Harness::seeded().await;
    let before = h.size();
    let body = note("Walked to the garden");
    let answers = futures_join(&h, 8, "together-1", &body).await;
    let events: Vec<Value> = answers.iter().map(|a| a.json()["event"].clone()).collect();
    assert!(answers.iter().all(|a| a.status == 201));
    assert!(
        events.iter().all(|e| *e == events[0]),
        "every retry answers the one event: {events:?}"
    );
    assert_eq!(h.size(), before + 1);
}

/// `n` copies of one keyed request, in flight at once.
async fn futures_join(h: &Harness, n: usize, key: &str, body: &str) -> Vec<Answer> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let req = Request::post("/v1/events")
            .header("authorization", format!("Bearer {}", h.token(CW)))
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(Body::from(body.to_string()))
            .unwrap();
        let router = h.router.clone();
        set.spawn(async move {
            use http_body_util::BodyExt;
            use tower::ServiceExt;
            let mut req = req;
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(careledger_api::ClientAddr(
                    std::net::SocketAddr::from(([127, 0, 0, 1], 40000)),
                )));
            let response = router.oneshot(req).await.unwrap();
            let status = response.status();
            let headers = response.headers().clone();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            Answer {
                status,
                headers,
                bytes: bytes.to_vec(),
            }
        });
    }
    set.join_all().await
}

#[tokio::test]
async fn a_key_reused_for_another_request_is_refused_and_keys_are_each_clients_own() {
    let h = Harness::seeded().await;
    let before = h.size();
    let a = post_keyed(&h, CW, "/v1/events", "k-1", &note("Slept well")).await;
    assert_eq!(a.status, 201);
    let b = post_keyed(&h, CW, "/v1/events", "k-1", &note("Slept badly")).await;
    let p = b.assert_problem(422, Some("idempotency-key"));
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("event {before}")),
        "names the first request's event: {p}"
    );
    assert_eq!(h.size(), before + 1, "nothing written for the reused key");

    // Another user's key of the same name is another key.
    let other = post_keyed(&h, "staff-rm01", "/v1/events", "k-1", &note("Slept badly")).await;
    assert_eq!(other.status, 201, "{}", other.text());
    assert_eq!(h.size(), before + 2);
}

#[tokio::test]
async fn bad_keys_are_refused_before_anything_is_written() {
    let h = Harness::seeded().await;
    let before = h.size();
    for bad in [
        "\"unclosed",
        "two words",
        "\"bad \\n escape\"",
        &"k".repeat(256),
    ] {
        let a = post_keyed(&h, CW, "/v1/events", bad, &note("x")).await;
        a.assert_problem(400, Some("idempotency-key"));
    }
    assert_eq!(h.size(), before);
}

#[tokio::test]
async fn keys_survive_a_restart() {
    let h = Harness::seeded().await;
    let before = h.size();
    let first = post_keyed(
        &h,
        CW,
        "/v1/events",
        "restart-1",
        &note("Before the restart"),
    )
    .await;
    assert_eq!(first.status, 201);

    let Harness {
        dir,
        app,
        router,
        tokens,
    } = h;
    drop(router);
    drop(app);
    let app = common::open(dir.path(), StoreConfig::default(), quiet());
    let h = Harness {
        router: careledger_api::router(app.clone()),
        app,
        dir,
        tokens,
    };
    let retry = post_keyed(
        &h,
        CW,
        "/v1/events",
        "restart-1",
        &note("Before the restart"),
    )
    .await;
    assert_eq!(retry.status, 201, "{}", retry.text());
    assert_eq!(retry.json(), first.json());
    assert_eq!(h.size(), before + 1);
}

#[tokio::test]
async fn break_glass_retried_with_its_key_is_recorded_once() {
    let h = Harness::seeded().await;
    let before = h.size();
    let path = "/v1/people/person-a/emergency-access";
    let body = json!({"reason": "collapsed at home; paramedic needs her medicines", "minutes": 30})
        .to_string();
    let first = post_keyed(&h, "clinician-01", path, "glass-1", &body).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let retry = post_keyed(&h, "clinician-01", path, "glass-1", &body).await;
    assert_eq!(retry.status, 200, "{}", retry.text());
    let (f, r) = (first.json(), retry.json());
    assert_eq!(f["emergency_event"], r["emergency_event"]);
    assert_eq!(
        f["expires_at"], r["expires_at"],
        "the first access's expiry"
    );
    let kinds: Vec<String> = h.events_from(before).into_iter().map(|e| e.0).collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "access.emergency").count(),
        1,
        "{kinds:?}"
    );
    // Each answer showed medicines: each is a read, and each read is recorded.
    assert_eq!(kinds.iter().filter(|k| *k == "access.read").count(), 2);
}
