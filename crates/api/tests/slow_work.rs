//! Slow work: off the async workers, stopped at its deadline or when its request is
//! abandoned, and bounded in how many scans run at once.

mod common;

use std::time::{Duration, Instant};

use careledger_api::blocking::Deadline;
use careledger_api::views::{self, Source, Visit, SCAN_CHUNK};
use careledger_api::{ApiError, Limits};
use careledger_care::event::DiaryNote;
use careledger_care::{Author, CareEvent};
use careledger_ledger::Command;
use careledger_store::StoreConfig;
use common::{quiet, Harness};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The seeded world and `notes` more diary notes about person-a.
async fn with_notes(limits: Limits, notes: usize) -> Harness {
    let h = Harness::with(StoreConfig::default(), limits);
    h.seed().await;
    for batch in 0..notes.div_ceil(500) {
        let commands = (0..500.min(notes - batch * 500))
            .map(|i| {
                Command::about(
                    "staff-cw01",
                    "person-a",
                    careledger_store::now_us(),
                    CareEvent::DiaryNote(DiaryNote {
                        author: Author::Staff,
                        text: format!("note {batch}.{i}"),
                    }),
                )
            })
            .collect();
        h.app.append(commands).await.unwrap();
    }
    h
}

/// With every place for a scan taken, auditor queries, findings and the response-time
/// report are told 503 busy with Retry-After at once, and write nothing; a record read is
/// no scan and still answers. Once a place is free, the same query answers.
#[test]
fn a_scan_beyond_scans_max_is_told_busy_with_retry_after() {
    let runtime = runtime();
    let limits = Limits {
        scans_max: 1,
        ..quiet()
    };
    let h = runtime.block_on(async {
        let h = Harness::with(StoreConfig::default(), limits);
        h.seed().await;
        h
    });
    let held = h.app.scan_permit().unwrap();
    let before = h.size();
    for (user, path) in [
        ("auditor-01", "/v1/audit/access?actor=nobody"),
        ("auditor-01", "/v1/audit/access?person=person-a"),
        ("staff-rm01", "/v1/provider/findings"),
        ("staff-rm01", "/v1/reports/response-times"),
    ] {
        let answer = runtime.block_on(h.get(Some(user), path));
        let problem = answer.assert_problem(503, None);
        assert_eq!(
            problem["type"], "https://careledger.example/problems/busy",
            "{path}"
        );
        assert_eq!(answer.headers["retry-after"], "1", "{path}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("(1) are running already"),
            "{problem}"
        );
    }
    assert_eq!(h.size(), before, "a refused scan writes nothing");
    assert_eq!(
        h.app
            .metrics
            .scans_refused
            .load(std::sync::atomic::Ordering::Relaxed),
        4
    );
    let read = runtime.block_on(h.get(Some("staff-cw01"), "/v1/people/person-a/care-plan"));
    assert_eq!(read.status, 200, "{}", read.text());

    drop(held);
    let answer = runtime.block_on(h.get(Some("auditor-01"), "/v1/audit/access?actor=nobody"));
    assert_eq!(answer.status, 200, "{}", answer.text());
    let metrics = runtime.block_on(h.get(None, "/metrics")).text();
    assert!(
        metrics.contains("careledger_scans_refused_total 4"),
        "{metrics}"
    );
}

/// A scan looks at its deadline before each chunk of events: cancelled while it reads the
/// first chunk, it stops after exactly that chunk with a 503 timeout; with its deadline
/// already past it reads nothing; with time to spare it reads the whole log.
#[test]
fn a_scan_stops_between_chunks_at_its_deadline() {
    let runtime = runtime();
    let h = runtime.block_on(with_notes(quiet(), 2 * SCAN_CHUNK + 100));
    let size = h.size() as usize;
    assert!(size > 2 * SCAN_CHUNK);
    let scan = |deadline: &Deadline, cancel_at: Option<usize>| {
        let mut seen = 0;
        let result = views::scan(
            &h.app,
            deadline,
            Source::Log,
            None,
            usize::MAX,
            usize::MAX,
            |_| {
                seen += 1;
                if cancel_at == Some(seen) {
                    deadline.cancel();
                }
                Ok(Visit::Skip)
            },
        );
        (result, seen)
    };
    let limit = Duration::from_secs(10);

    let (result, seen) = scan(&Deadline::new(Instant::now() + limit, limit), Some(1));
    let e = result.unwrap_err();
    assert_eq!((e.status.as_u16(), e.kind), (503, "timeout"), "{e}");
    assert_eq!(e.retry_after, Some(1));
    assert!(e.detail.contains("abandoned"), "{e}");
    assert_eq!(seen, SCAN_CHUNK, "stopped at the first chunk boundary");

    let (result, seen) = scan(&Deadline::new(Instant::now(), limit), None);
    let e = result.unwrap_err();
    assert_eq!(e.kind, "timeout");
    assert!(
        e.detail
            .contains("longer than the request time limit of 10 s"),
        "{e}"
    );
    assert_eq!(seen, 0);

    let (result, seen) = scan(&Deadline::new(Instant::now() + limit, limit), None);
    assert_eq!(result.unwrap(), None, "the end of the log: no cursor");
    assert_eq!(seen, size);
}

/// When the request awaiting slow work is dropped (the time limit answered it, or its
/// client went away), the work's deadline is cancelled, so its next check stops it.
#[test]
fn an_abandoned_request_cancels_its_work() {
    let runtime = runtime();
    let h = runtime.block_on(async {
        let h = Harness::with(StoreConfig::default(), quiet());
        h.seed().await;
        h
    });
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    let app = h.app.clone();
    let request = runtime.spawn(async move {
        app.offload("a test scan", move |_, deadline| {
            started_tx.send(deadline.is_cancelled()).unwrap();
            go_rx.recv().unwrap();
            let checked = deadline.check();
            seen_tx
                .send((
                    deadline.is_cancelled(),
                    checked.as_ref().err().map(|e| e.kind),
                ))
                .unwrap();
            checked
        })
        .await
    });
    assert!(!started_rx.recv().unwrap(), "not cancelled while awaited");
    request.abort();
    assert!(runtime.block_on(request).unwrap_err().is_cancelled());
    go_tx.send(()).unwrap();
    assert_eq!(seen_rx.recv().unwrap(), (true, Some("timeout")));
}

/// Slow work runs on the blocking pool: on a runtime with one async thread, work that
/// waits for another task of that runtime still gets its answer. (Run on the async thread,
/// it would block the only thread that task could run on.)
#[test]
fn slow_work_runs_off_the_async_thread() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let h = runtime.block_on(async {
        let h = Harness::with(StoreConfig::default(), quiet());
        h.seed().await;
        h
    });
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let answer = runtime.block_on(async {
        let work = h.app.offload("a test scan", move |_, _| {
            // Only a guard against hanging for ever if the work did run on the async
            // thread: the answer comes as soon as the other task runs.
            rx.recv_timeout(Duration::from_secs(120))
                .map_err(|_| ApiError::internal("the other task never ran"))
        });
        let other = async move {
            tokio::task::yield_now().await;
            tx.send(()).unwrap();
        };
        tokio::join!(work, other).0
    });
    answer.unwrap();
    // A whole auditor query on that one-thread runtime answers as well.
    let audit = runtime.block_on(h.get(Some("auditor-01"), "/v1/audit/access?actor=nobody"));
    assert_eq!(audit.status, 200, "{}", audit.text());
}

/// A scan runs on one of the scan threads, at the lower CPU priority, and gives its place
/// back when it ends; other slow work runs at normal priority.
#[test]
fn scans_run_on_the_scan_threads_at_lower_priority() {
    use careledger_api::blocking::SCAN_NICE;
    let runtime = runtime();
    let h = runtime.block_on(async {
        let h = Harness::with(
            StoreConfig::default(),
            Limits {
                scans_max: 1,
                ..quiet()
            },
        );
        h.seed().await;
        h
    });
    let here = || {
        let thread = std::thread::current()
            .name()
            .unwrap_or_default()
            .to_string();
        let nice = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        (thread, nice)
    };
    // Whatever priority the tests run at: a thread cannot raise its own without privilege.
    let base = here().1;
    let permit = h.app.scan_permit().unwrap();
    assert!(h.app.scan_permit().is_err(), "the one place is taken");
    let (thread, nice) = runtime
        .block_on(h.app.offload("a test scan", move |app, deadline| {
            permit.run(app, deadline, move |_, _| Ok(here()))
        }))
        .unwrap();
    assert_eq!(thread, "careledger-scan-0");
    assert_eq!(nice, SCAN_NICE.max(base));
    assert!(h.app.scan_permit().is_ok(), "the place is back");
    let (thread, nice) = runtime
        .block_on(h.app.offload("a record read", move |_, _| Ok(here())))
        .unwrap();
    assert_ne!(thread, "careledger-scan-0");
    assert_eq!(nice, base);
}
