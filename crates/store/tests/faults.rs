//! The fault-injection suite: every write step of a group, failed in every way a disk
//! fails, each followed by a reopen. In the spirit of TigerBeetle's and SQLite's: faults are
//! injected deterministically at the store's file boundary (`careledger_store::fault`), one
//! store per fault, and after each the bars are checked:
//!
//! - no acknowledged event is lost (each is there after reopening, with its payload);
//! - no ledger is left unopenable, and each verifies;
//! - nothing hangs (every close and reopen is bounded in time);
//! - nothing panics;
//! - after a fault, appends are refused until the store is reopened, and reads go on.
//!
//! The counts are printed (`--nocapture`) for the record.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use careledger_store::fault::{Fault, Faults, Step};
use careledger_store::{AppendError, NewEvent, RequestKey, Store, StoreConfig};

const WRITERS: u64 = 4;
/// Longest a close or an open may take before it counts as a hang.
const BOUND: Duration = Duration::from_secs(30);

fn event(writer: u64, n: u64) -> NewEvent {
    NewEvent {
        actor: format!("staff:w{writer}"),
        subject: Some(format!("person:p{}", n % 5)),
        kind: "visit.completed".into(),
        occurred_at_us: 1_790_000_000_000_000 + n as i64,
        payload: format!("{{\"writer\":{writer},\"n\":{n}}}").into_bytes(),
    }
}

/// Writer 0's key for its request `n`, with a digest of its own.
fn request_key(n: u64) -> RequestKey {
    let mut digest = [0u8; 32];
    digest[..8].copy_from_slice(&n.to_le_bytes());
    RequestKey {
        key: format!("w0-{n}").into_bytes(),
        digest,
    }
}

fn config(faults: Option<Arc<Faults>>) -> StoreConfig {
    StoreConfig {
        checkpoint_every_events: 50,
        checkpoint_every: Duration::from_millis(200),
        free_bytes_min: 0,
        free_bytes_reserve: 0,
        faults,
        ..StoreConfig::default()
    }
}

#[derive(Default, Debug)]
struct Tally {
    faults: u64,
    acknowledged: u64,
    lost: u64,
    unopenable: u64,
    hangs: u64,
    panics: u64,
    refused_after: u64,
    keyed_retries: u64,
}

/// Runs `f` on its own thread; `None` if it did not finish within `BOUND` (a hang) or
/// panicked (counted as such).
fn bounded<T: Send + 'static>(
    tally: &mut Tally,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(BOUND) {
        Ok(value) => {
            let _ = handle.join();
            Some(value)
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            eprintln!("HANG: {what}");
            tally.hangs += 1;
            None
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            eprintln!("PANIC: {what}");
            tally.panics += 1;
            None
        }
    }
}

/// One case: a fresh ledger with some history, then writers until `fault` fires at the
/// `skip`-th call of `step` after the history, then close, reopen and check.
fn case(step: Step, fault: Fault, skip: u64, tally: &mut Tally) {
    let what = format!("{step:?} {fault:?} after {skip}");
    let dir = tempfile::tempdir().unwrap();
    Store::init(dir.path(), "test.careledger/faults").unwrap();
    // A history written without faults, closed cleanly.
    let acked: Arc<Mutex<BTreeMap<u64, Vec<u8>>>> = Arc::default();
    {
        let store = Store::open(dir.path(), config(None)).unwrap();
        for r in store
            .append((0..30).map(|n| event(9, n)).collect())
            .unwrap()
        {
            let payload = event(9, r.seq).payload;
            acked.lock().unwrap().insert(r.seq, payload);
        }
    }
    let faults = Arc::new(Faults::default());
    faults.fail(step, skip, fault);
    let store = match Store::open(dir.path(), config(Some(faults.clone()))) {
        Ok(store) => store,
        Err(e) => panic!("{what}: the first open failed: {e}"),
    };
    let failed = Arc::new(AtomicBool::new(false));
    // Writer 0's keyed requests: key, events, and the answer if it was acknowledged.
    type Keyed = (
        RequestKey,
        Vec<NewEvent>,
        Option<Vec<careledger_store::Receipt>>,
    );
    let keyed: Arc<Mutex<Vec<Keyed>>> = Arc::default();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for writer in 0..WRITERS {
            let (store, acked, failed) = (store.clone(), acked.clone(), failed.clone());
            let keyed = keyed.clone();
            scope.spawn(move || {
                for n in 0.. {
                    if failed.load(Ordering::Relaxed) || started.elapsed() > Duration::from_secs(4)
                    {
                        return;
                    }
                    let batch: Vec<NewEvent> =
                        (0..1 + n % 3).map(|i| event(writer, n * 10 + i)).collect();
                    let payloads: Vec<Vec<u8>> = batch.iter().map(|e| e.payload.clone()).collect();
                    // Writer 0 sends every request under a key, as a careful client does.
                    let key = (writer == 0).then(|| request_key(n));
                    let answer = store
                        .submit_keyed(batch.clone(), key.clone())
                        .and_then(|rx| rx.blocking_recv().map_err(|_| AppendError::Closed)?);
                    if let Some(key) = &key {
                        keyed
                            .lock()
                            .unwrap()
                            .push((key.clone(), batch, answer.clone().ok()));
                    }
                    match answer {
                        Ok(receipts) => {
                            let mut acked = acked.lock().unwrap();
                            for (r, p) in receipts.iter().zip(payloads) {
                                acked.insert(r.seq, p);
                            }
                        }
                        Err(AppendError::WriteFailed(_)) => {
                            failed.store(true, Ordering::Relaxed);
                            return;
                        }
                        Err(AppendError::Busy(_)) => std::thread::sleep(Duration::from_millis(1)),
                        Err(e) => panic!("unexpected append error: {e}"),
                    }
                }
            });
        }
    });
    let fired = failed.load(Ordering::Relaxed);
    if fired {
        tally.faults += 1;
        // Refused until reopened; reads of acknowledged events go on.
        match store.append(vec![event(8, 0)]) {
            Err(AppendError::WriteFailed(_)) => tally.refused_after += 1,
            other => panic!("{what}: an append after the fault was not refused: {other:?}"),
        }
        let some = *acked.lock().unwrap().keys().next().unwrap();
        store
            .get(some)
            .unwrap_or_else(|e| panic!("{what}: a read after the fault: {e}"));
    } else {
        eprintln!(
            "{what}: the fault did not fire (the step ran {} times)",
            faults.calls(step)
        );
    }
    // Close, bounded.
    if bounded(tally, &format!("{what}: close"), move || drop(store)).is_none() {
        return;
    }
    // Reopen without faults: every acknowledged event, verified.
    let path = dir.path().to_path_buf();
    let reopened = bounded(tally, &format!("{what}: reopen"), move || {
        Store::open(&path, config(None)).map_err(|e| e.to_string())
    });
    let Some(reopened) = reopened else { return };
    let store = match reopened {
        Ok(store) => store,
        Err(e) => {
            eprintln!("UNOPENABLE: {what}: {e}");
            tally.unopenable += 1;
            return;
        }
    };
    let acked = acked.lock().unwrap();
    tally.acknowledged += acked.len() as u64;
    for (seq, payload) in acked.iter() {
        match store.get(*seq) {
            Ok(e) if e.payload.as_ref().map(|(_, p)| p) == Some(payload) => {}
            Ok(_) => {
                eprintln!("LOST: {what}: event {seq} has another payload");
                tally.lost += 1;
            }
            Err(e) => {
                eprintln!("LOST: {what}: event {seq}: {e}");
                tally.lost += 1;
            }
        }
    }
    if let Err(e) = store.verify(|_, _| {}) {
        eprintln!("UNOPENABLE: {what}: reopened but does not verify: {e}");
        tally.unopenable += 1;
    }
    // Every keyed request retried: an acknowledged one is answered with its receipts; one
    // whose answer was lost is either answered with events that are there, as sent, or
    // written now. Never a receipt for an event that is not its own.
    for (key, events, answer) in keyed.lock().unwrap().iter() {
        let retry = store
            .submit_keyed(events.clone(), Some(key.clone()))
            .and_then(|rx| rx.blocking_recv().map_err(|_| AppendError::Closed)?)
            .unwrap_or_else(|e| panic!("{what}: a retry failed: {e}"));
        if let Some(first) = answer {
            if !retry[0].replayed || retry[0].seq != first[0].seq {
                eprintln!("LOST: {what}: an acknowledged keyed request was not replayed");
                tally.lost += 1;
            }
        }
        for (r, e) in retry.iter().zip(events) {
            let stored = store.get(r.seq).unwrap();
            if stored.payload.map(|(_, p)| p) != Some(e.payload.clone()) {
                eprintln!(
                    "LOST: {what}: a retry was answered with another event ({})",
                    r.seq
                );
                tally.lost += 1;
            }
        }
        tally.keyed_retries += 1;
    }
    // And it takes appends again.
    store
        .append(vec![event(7, 0)])
        .unwrap_or_else(|e| panic!("{what}: no append after reopening: {e}"));
    drop(store);
    Store::verify_dir(dir.path(), |_, _| {})
        .unwrap_or_else(|e| panic!("{what}: the closed folder does not verify: {e}"));
}

#[test]
fn every_fault_at_every_write_step_keeps_every_acknowledged_event() {
    let mut tally = Tally::default();
    for step in [Step::LogWrite, Step::LogSync, Step::SledApply] {
        for fault in [Fault::Io, Fault::Partial, Fault::NoSpace] {
            for skip in [0, 1, 3, 10] {
                case(step, fault, skip, &mut tally);
            }
        }
    }
    // sled's flush runs once a second, off the acknowledgement path.
    for fault in [Fault::Io, Fault::NoSpace] {
        for skip in [0, 1] {
            case(Step::SledFlush, fault, skip, &mut tally);
        }
    }
    eprintln!("fault suite: {tally:?}");
    assert_eq!(
        tally.faults,
        3 * 3 * 4 + 2 * 2,
        "every injected fault fired"
    );
    assert_eq!(tally.refused_after, tally.faults);
    assert!(tally.acknowledged > 0);
    assert!(tally.keyed_retries > 0);
    assert_eq!(
        (tally.lost, tally.unopenable, tally.hangs, tally.panics),
        (0, 0, 0, 0),
        "{tally:?}"
    );
}

#[test]
fn below_the_free_space_floor_appends_are_refused_and_reads_go_on() {
    let dir = tempfile::tempdir().unwrap();
    Store::init(dir.path(), "test.careledger/floor").unwrap();
    let faults = Arc::new(Faults::default());
    let config = StoreConfig {
        free_bytes_min: 256 << 20,
        free_bytes_reserve: 64 << 20,
        reserve_kinds: vec!["access.read".into()],
        faults: Some(faults.clone()),
        ..config(None)
    };
    let store = Store::open(dir.path(), config).unwrap();
    store
        .append((0..10).map(|n| event(0, n)).collect())
        .unwrap();
    let size = store.size();
    let log_len = std::fs::metadata(dir.path().join(careledger_store::EVENTS_FILE))
        .unwrap()
        .len();
    faults.set_free_bytes(Some(100 << 20));
    let err = store.append(vec![event(0, 10)]).unwrap_err();
    let AppendError::DiskFull { free, floor } = err else {
        panic!("{err}");
    };
    assert_eq!((free, floor), (100 << 20, 256 << 20));
    let message = err.to_string();
    assert!(
        message.contains("100 MiB free") && message.contains("floor of 256 MiB"),
        "{message}"
    );
    // Nothing of it was written; reads go on; a reader's own event may use the reserve.
    assert_eq!(store.size(), size);
    assert_eq!(
        std::fs::metadata(dir.path().join(careledger_store::EVENTS_FILE))
            .unwrap()
            .len(),
        log_len
    );
    assert_eq!(store.range(0, 100).unwrap().len(), 10);
    let read = NewEvent {
        kind: "access.read".into(),
        ..event(0, 11)
    };
    store.append(vec![read.clone()]).unwrap();
    // Below the reserve too: nothing at all.
    faults.set_free_bytes(Some(10 << 20));
    assert!(matches!(
        store.append(vec![read]).unwrap_err(),
        AppendError::DiskFull { floor, .. } if floor == 64 << 20
    ));
    // Space freed: appends are taken again, without a restart (nothing failed).
    faults.set_free_bytes(None);
    store.append(vec![event(0, 12)]).unwrap();
    store.verify(|_, _| {}).unwrap();
}

/// The trial's hang: a write of sled's state that never returns, as on a disk that
/// stopped answering. Appends were acknowledged without it (sled is off the
/// acknowledgement path), and closing gives up after `CLOSE_WAIT` instead of hanging.
#[test]
fn a_hanging_sled_write_does_not_hang_appends_or_the_close() {
    let dir = tempfile::tempdir().unwrap();
    Store::init(dir.path(), "test.careledger/hang").unwrap();
    let faults = Arc::new(Faults::default());
    faults.fail(Step::SledFlush, 0, Fault::Hang);
    let store = Store::open(dir.path(), config(Some(faults.clone()))).unwrap();
    // The flusher runs once a second: by 1.5 s it is stuck; appends go on regardless.
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_millis(1500) || faults.calls(Step::SledFlush) == 0 {
        store.append(vec![event(0, n)]).unwrap();
        n += 1;
    }
    store.append(vec![event(0, n)]).unwrap();
    let closing = Instant::now();
    drop(store);
    let took = closing.elapsed();
    assert!(
        took >= careledger_store::CLOSE_WAIT
            && took < careledger_store::CLOSE_WAIT + Duration::from_secs(10),
        "closing took {took:?}"
    );
    // Everything acknowledged is in the events file, readable without sled.
    let report = Store::verify_dir(dir.path(), |_, _| {}).unwrap();
    assert_eq!(report.events, n + 1);
}
