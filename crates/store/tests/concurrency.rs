//! Regressions from a review of the store: reads while appends go on, pausing, the
//! barrier while sled churns its blob files, and inputs that must be refused.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use careledger_store::{keys, NewEvent, Store, StoreConfig, StoreError};

fn ev(n: u64, subject: &str) -> NewEvent {
    NewEvent {
        actor: "staff:s1".into(),
        subject: Some(subject.into()),
        kind: "test.event".into(),
        occurred_at_us: n as i64,
        payload: format!("{{\"n\":{n}}}").into_bytes(),
    }
}

fn fresh(config: StoreConfig) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    Store::init(dir.path(), "test.careledger/review").unwrap();
    let store = Store::open(dir.path(), config).unwrap();
    (dir, store)
}

/// Runs `body` while another thread appends one event at a time.
fn while_appending(store: &Store, body: impl FnOnce()) {
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                store.append(vec![ev(n, "person:p1")]).unwrap();
                n += 1;
            }
            n
        })
    };
    body();
    stop.store(true, Ordering::Relaxed);
    assert!(writer.join().unwrap() > 0, "the writer appended nothing");
}

#[test]
fn only_durable_checkpoints_are_handed_out() {
    let config = StoreConfig {
        checkpoint_every_events: 1,
        ..StoreConfig::default()
    };
    let (_dir, store) = fresh(config);
    let mut seen = 0;
    while_appending(&store, || {
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(1500) {
            if let Some(note) = store.latest_checkpoint().unwrap() {
                let size: u64 = note.lines().nth(1).unwrap().parse().unwrap();
                // Read after the checkpoint, the durable size can only be larger.
                assert!(
                    size <= store.size(),
                    "checkpoint for {size} events handed out before it was durable"
                );
                seen += 1;
            }
        }
    });
    assert!(seen > 0);
}

#[test]
fn verify_passes_while_appends_go_on() {
    let config = StoreConfig {
        checkpoint_every_events: 1,
        ..StoreConfig::default()
    };
    let (_dir, store) = fresh(config);
    store
        .append((0..100).map(|n| ev(n, "person:p1")).collect())
        .unwrap();
    while_appending(&store, || {
        for _ in 0..20 {
            store.verify(|_, _| {}).unwrap();
        }
    });
    store.verify(|_, _| {}).unwrap();
}

#[test]
fn dropping_the_store_while_paused_does_not_hang() {
    let (_dir, store) = fresh(StoreConfig::default());
    store.append(vec![ev(0, "person:p1")]).unwrap();
    let paused = store.pause().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(store);
        drop(paused);
        tx.send(()).unwrap();
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(10)).is_ok(),
        "dropping a paused store hung"
    );
}

#[test]
fn the_barrier_survives_sled_removing_blobs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("db"), b"x").unwrap();
    let blobs = dir.path().join("blobs");
    std::fs::create_dir(&blobs).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let (blobs, stop) = (blobs.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let p = blobs.join(i.to_string());
                std::fs::write(&p, b"blob").unwrap();
                let _ = std::fs::remove_file(&p);
                i += 1;
            }
        })
    };
    let mut barrier = careledger_store::barrier::Barrier::new(dir.path()).unwrap();
    let started = Instant::now();
    let mut result = Ok(());
    while started.elapsed() < Duration::from_secs(2) && result.is_ok() {
        result = barrier.sync();
    }
    stop.store(true, Ordering::Relaxed);
    churn.join().unwrap();
    result.unwrap();
}

#[test]
fn a_missing_chunk_is_an_error_not_an_empty_read() {
    let (_dir, store) = fresh(StoreConfig::default());
    for start in [0, 10, 20] {
        store
            .append((start..start + 10).map(|n| ev(n, "person:p1")).collect())
            .unwrap();
    }
    store.raw_db().remove(keys::chunk_at(10)).unwrap();
    let err = store.range(12, 5).unwrap_err();
    assert!(err.to_string().contains("event 12 is missing"), "{err}");
    let err = store.get(15).unwrap_err();
    assert!(err.to_string().contains("event 15 is missing"), "{err}");
}

#[test]
fn a_subject_with_a_control_character_is_refused() {
    let (_dir, store) = fresh(StoreConfig::default());
    store
        .append((0..100).map(|n| ev(n, "person:p1")).collect())
        .unwrap();
    let err = store.by_subject("person:p1\0", 0, 100).unwrap_err();
    assert!(matches!(err, StoreError::InvalidArgument(_)), "{err}");
    assert!(err.to_string().contains("control character"), "{err}");
    assert_eq!(store.by_subject("person:p1", 0, 1000).unwrap().len(), 100);
}

#[test]
fn settings_that_would_stall_or_spin_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    Store::init(dir.path(), "test.careledger/config").unwrap();
    for (config, what) in [
        (
            StoreConfig {
                checkpoint_every: Duration::ZERO,
                ..StoreConfig::default()
            },
            "checkpoint_every",
        ),
        (
            StoreConfig {
                queue_requests_max: 0,
                ..StoreConfig::default()
            },
            "queue_requests_max",
        ),
        (
            StoreConfig {
                payload_bytes_max: 1 << 20,
                ..StoreConfig::default()
            },
            "payload_bytes_max",
        ),
    ] {
        let err = Store::open(dir.path(), config).err().unwrap();
        assert!(matches!(err, StoreError::InvalidConfig(_)), "{err}");
        assert!(err.to_string().contains(what), "{err}");
    }
}
