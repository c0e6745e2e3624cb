//! SLA timers: warnings and breaches appended on time by the task, and after a restart
//! caught up with nothing missed and nothing twice.

mod common;

use std::time::Duration;

use careledger_api::sla;
use careledger_care::CareEvent;
use careledger_store::{now_us, StoreConfig};
use common::{open, quiet, Harness};
use serde_json::json;

/// Records a council request received now and due in `due_in`.
async fn request(h: &Harness, id: &str, due_in: Duration) -> i64 {
    let now = now_us();
    let due = now + due_in.as_micros() as i64;
    h.event(
        "staff-rm01",
        "request.received",
        None,
        json!({
            "request_id": id, "requester": "council-mo01", "organisation": "County Council",
            "people": [], "categories": ["ConsentRecords"], "description": "staffing figures",
            "received_at_us": now, "due_at_us": due,
        }),
    )
    .await;
    due
}

/// (warnings, breaches) in the log for request `id`, with the breach's occurred-at.
fn sla_events(app: &careledger_api::App, id: &str) -> (usize, usize, Option<i64>) {
    let store = app.ledger.store();
    let (mut warnings, mut breaches, mut breach_at) = (0, 0, None);
    for s in store.range(0, 10_000).unwrap() {
        let Some((_, p)) = &s.payload else { continue };
        match CareEvent::decode(&s.envelope.kind, p) {
            Ok(CareEvent::SlaWarning(w)) if w.request_id == id => warnings += 1,
            Ok(CareEvent::SlaBreached(b)) if b.request_id == id => {
                breaches += 1;
                breach_at = Some(s.envelope.occurred_at_us);
            }
            _ => {}
        }
    }
    (warnings, breaches, breach_at)
}

async fn sleep_until(at_us: i64) {
    let wait = at_us - now_us();
    if wait > 0 {
        tokio::time::sleep(Duration::from_micros(wait as u64)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_catches_up_without_missing_or_repeating() {
    let h = Harness::seeded().await;
    // Due while the service is down: both the warning and the breach are owed.
    let due_a = request(&h, "req-down", Duration::from_millis(1000)).await;
    // Warned before the restart, breached after it.
    let due_b = request(&h, "req-split", Duration::from_millis(3000)).await;
    // A quarter of the window before the due time.
    let warn_b = due_b - 750_000;
    assert_eq!(sla::tick(&h.app).await.unwrap(), 0, "nothing is due yet");

    let Harness {
        dir, app, router, ..
    } = h;
    drop(router);
    drop(app);
    sleep_until(warn_b + 100_000).await;
    let app = open(dir.path(), StoreConfig::default(), quiet());
    // req-down: warning and breach; req-split: only its warning (a quarter of its window
    // before due) is owed yet.
    assert_eq!(sla::tick(&app).await.unwrap(), 3);
    assert_eq!(sla_events(&app, "req-down").0, 1);
    let (w, b, at) = sla_events(&app, "req-down");
    assert_eq!((w, b), (1, 1));
    assert!(at.unwrap() > due_a, "breach recorded after the due time");
    assert_eq!(sla_events(&app, "req-split"), (1, 0, None));
    assert_eq!(sla::tick(&app).await.unwrap(), 0, "nothing twice");

    drop(app);
    sleep_until(due_b + 100_000).await;
    let app = open(dir.path(), StoreConfig::default(), quiet());
    assert_eq!(sla::tick(&app).await.unwrap(), 1, "only req-split's breach");
    let (w, b, at) = sla_events(&app, "req-split");
    assert_eq!((w, b), (1, 1));
    assert!(at.unwrap() > due_b);
    drop(app);

    let app = open(dir.path(), StoreConfig::default(), quiet());
    assert_eq!(
        sla::tick(&app).await.unwrap(),
        0,
        "a further restart adds nothing"
    );
    assert_eq!(sla_events(&app, "req-down").1, 1);
    assert_eq!(sla_events(&app, "req-split").1, 1);
    // The 24-hour request of the seed is untouched.
    assert_eq!(sla_events(&app, "req-1"), (0, 0, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_appends_warning_then_breach_on_time_and_stops_on_shutdown() {
    let h = Harness::seeded().await;
    let task = tokio::spawn(sla::run(h.app.clone()));
    // Recorded through the API, which wakes the task to re-plan.
    let due = request(&h, "req-live", Duration::from_millis(1500)).await;
    let deadline = due + 10_000_000;
    loop {
        let (w, b, at) = sla_events(&h.app, "req-live");
        if b == 1 {
            assert_eq!(w, 1, "the warning came first");
            let at = at.unwrap();
            assert!(at > due, "not early");
            break;
        }
        assert!(now_us() < deadline, "no breach 10 s after the due time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Responded late: the report says so, and no further SLA events come.
    h.event("staff-rm01", "request.responded", None, json!({"request_id": "req-live", "digest": vec![1u8; 32], "channel": "SecureEmail", "items": 1}))
        .await;
    let a = h.get(Some("council-mo01"), "/v1/requests").await;
    let items = a.json()["items"].as_array().unwrap().clone();
    let line = items
        .iter()
        .find(|i| i["request_id"] == "req-live")
        .unwrap();
    assert_eq!(line["sla"]["state"], "responded_late");
    let metrics = h.get(None, "/metrics").await.text();
    assert!(
        metrics.contains("careledger_sla_breaches_total 1"),
        "{metrics}"
    );

    h.app
        .shutting_down
        .store(true, std::sync::atomic::Ordering::Relaxed);
    h.app.sla_wake.notify_one();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the task stops")
        .unwrap();
    assert_eq!(
        sla_events(&h.app, "req-live"),
        (1, 1, sla_events(&h.app, "req-live").2)
    );
}
