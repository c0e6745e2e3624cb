//! SLA timers: warnings and breaches appended when the clock says so, after a restart
//! caught up with nothing missed and nothing twice, refusals counted and not retried.
//!
//! The timer's clock is the test's. The rules check an SLA event against the time the
//! ledger records it (the real clock), so the requests here are received and due in the
//! real past, and the test's clock walks through that past: nothing waits on real time.

mod common;

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use careledger_api::sla::{self, Pass, Timer};
use careledger_care::{CareEvent, HOUR_US, MINUTE_US};
use careledger_store::{now_us, StoreConfig};
use common::{open, quiet, Harness};
use serde_json::json;

/// Records a council request received at `received` and due at `due`.
async fn request(h: &Harness, id: &str, received: i64, due: i64) {
    h.event(
        "staff-rm01",
        "request.received",
        None,
        json!({
            "request_id": id, "requester": "council-mo01", "organisation": "County Council",
            "people": [], "categories": ["ConsentRecords"], "description": "staffing figures",
            "received_at_us": received, "due_at_us": due,
        }),
    )
    .await;
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

fn passed(appended: usize) -> Pass {
    Pass {
        appended,
        refused: 0,
    }
}

#[tokio::test]
async fn a_restart_catches_up_without_missing_or_repeating() {
    let h = Harness::seeded().await;
    let real = now_us();
    // Due while the service is down: both the warning and the breach are owed.
    let due_a = real - 2 * HOUR_US;
    request(&h, "req-down", real - 4 * HOUR_US, due_a).await;
    // Warned before the restart, breached after it: a three-hour window is warned a
    // quarter of it (45 minutes) before it is due.
    let due_b = real - HOUR_US;
    request(&h, "req-split", real - 4 * HOUR_US, due_b).await;
    let warn_b = due_b - 45 * MINUTE_US;
    let mut timer = Timer::new();
    let before = real - 3 * HOUR_US;
    assert_eq!(
        timer.tick(&h.app, before).await.unwrap(),
        passed(0),
        "nothing is due yet"
    );

    let Harness {
        dir, app, router, ..
    } = h;
    drop(router);
    drop(app);
    let app = open(dir.path(), StoreConfig::default(), quiet());
    let mut timer = Timer::new();
    // req-down: warning and breach; req-split: only its warning is owed yet.
    assert_eq!(
        timer.tick(&app, warn_b + MINUTE_US).await.unwrap(),
        passed(3)
    );
    assert_eq!(
        sla_events(&app, "req-down"),
        (1, 1, Some(warn_b + MINUTE_US)),
        "the breach is recorded as of the pass that found it, after the due time"
    );
    assert!(warn_b + MINUTE_US > due_a);
    assert_eq!(sla_events(&app, "req-split"), (1, 0, None));
    assert_eq!(
        timer.tick(&app, warn_b + MINUTE_US).await.unwrap(),
        passed(0),
        "nothing twice"
    );
    // Just before req-split's due time nothing more is owed; just after, its breach.
    assert_eq!(timer.tick(&app, due_b).await.unwrap(), passed(0));

    drop(app);
    let app = open(dir.path(), StoreConfig::default(), quiet());
    let mut timer = Timer::new();
    assert_eq!(
        timer.tick(&app, due_b + 1).await.unwrap(),
        passed(1),
        "only req-split's breach"
    );
    assert_eq!(sla_events(&app, "req-split"), (1, 1, Some(due_b + 1)));
    drop(app);

    let app = open(dir.path(), StoreConfig::default(), quiet());
    assert_eq!(
        Timer::new().tick(&app, due_b + HOUR_US).await.unwrap(),
        passed(0),
        "a further restart adds nothing"
    );
    assert_eq!(
        sla_events(&app, "req-down"),
        (1, 1, Some(warn_b + MINUTE_US))
    );
    assert_eq!(sla_events(&app, "req-split"), (1, 1, Some(due_b + 1)));
    // The 24-hour request of the seed is untouched.
    assert_eq!(sla_events(&app, "req-1"), (0, 0, None));
}

/// A timer whose clock runs ahead of the ledger's offers a warning and a breach that the
/// rules refuse (the ledger records them before they are due): both are counted, and the
/// timer does not offer them again, nor plan its next pass around them.
#[tokio::test]
async fn a_refused_event_is_counted_and_not_retried() {
    let h = Harness::seeded().await;
    let real = now_us();
    let due = real + HOUR_US;
    request(&h, "req-ahead", real, due).await;
    let mut timer = Timer::new();
    assert_eq!(
        timer.tick(&h.app, due + 1).await.unwrap(),
        Pass {
            appended: 0,
            refused: 2
        }
    );
    let metric = |h: &Harness| h.app.metrics.sla_refused.load(Relaxed);
    assert_eq!(metric(&h), 2);
    assert_eq!(
        timer.tick(&h.app, due + 1).await.unwrap(),
        passed(0),
        "not offered again"
    );
    assert_eq!(metric(&h), 2);
    assert_eq!(sla_events(&h.app, "req-ahead"), (0, 0, None));
    // The next deadline it plans for is the seed's 24-hour request, not the refused ones.
    let seed_warning = h
        .app
        .ledger
        .read(|s| careledger_care::sla::warn_at(s.requests.get("req-1").unwrap()))
        .unwrap();
    assert!(seed_warning > due + 1);
    assert_eq!(
        h.app.ledger.read(|s| timer.next_deadline(s)).unwrap(),
        Some(seed_warning)
    );
    let text = h.get(None, "/metrics").await.text();
    assert!(text.contains("careledger_sla_refused_total 2"), "{text}");
    // A new timer (a restart) tries once more.
    assert_eq!(Timer::new().tick(&h.app, due + 1).await.unwrap().refused, 2);
}

/// Waits (bounded) until `done` holds, checking every few milliseconds.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within 60 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The task on the test's clock: moved past the warning time it appends the warning, past
/// the due time the breach; once the request is answered, passes that began after the
/// answer add nothing, while the task still runs; shutdown stops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_appends_warning_then_breach_as_its_clock_passes_them() {
    let h = Harness::seeded().await;
    let real = now_us();
    let due = real - HOUR_US;
    let warn = due - 45 * MINUTE_US;
    let clock = Arc::new(AtomicI64::new(warn - 1));
    let task = tokio::spawn(sla::run_with_clock(h.app.clone(), {
        let clock = clock.clone();
        move || clock.load(Relaxed)
    }));
    let passes = || h.app.metrics.sla_passes.load(Relaxed);
    // Recorded through the API, which wakes the task.
    request(&h, "req-live", real - 4 * HOUR_US, due).await;
    // Waits for a pass that began after this call.
    let a_fresh_pass = || async {
        let first = passes();
        h.app.sla_wake.notify_one();
        until("a pass", || passes() > first).await;
        // That pass may have begun before the wake-up; the one after it did not.
        let second = passes();
        h.app.sla_wake.notify_one();
        until("a second pass", || passes() > second).await;
    };
    a_fresh_pass().await;
    assert_eq!(sla_events(&h.app, "req-live"), (0, 0, None), "not yet due");

    clock.store(warn, Relaxed);
    a_fresh_pass().await;
    assert_eq!(
        sla_events(&h.app, "req-live"),
        (1, 0, None),
        "warned, on time"
    );

    clock.store(due + MINUTE_US, Relaxed);
    a_fresh_pass().await;
    assert_eq!(
        sla_events(&h.app, "req-live"),
        (1, 1, Some(due + MINUTE_US)),
        "breached, once"
    );

    // Responded late: the report says so, and no further SLA events come.
    h.event("staff-rm01", "request.responded", None, json!({"request_id": "req-live", "digest": vec![1u8; 32], "channel": "SecureEmail", "items": 1}))
        .await;
    clock.store(due + 2 * HOUR_US, Relaxed);
    a_fresh_pass().await;
    assert_eq!(
        sla_events(&h.app, "req-live"),
        (1, 1, Some(due + MINUTE_US))
    );
    let a = h.get(Some("council-mo01"), "/v1/requests").await;
    let items = a.json()["items"].as_array().unwrap().clone();
    let line = items
        .iter()
        .find(|i| i["request_id"] == "req-live")
        .unwrap();
    assert_eq!(line["sla"]["state"], "responded_late");
    let metrics = h.get(None, "/metrics").await.text();
    for line in [
        "careledger_sla_warnings_total 1",
        "careledger_sla_breaches_total 1",
        "careledger_sla_refused_total 0",
        "careledger_sla_pass_failures_total 0",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    assert!(!task.is_finished(), "the task still runs");

    h.app.shutting_down.store(true, Relaxed);
    h.app.sla_wake.notify_one();
    tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("the task stops")
        .unwrap();
}
