//! The projection hook: checks serialised with the append, all-or-nothing requests,
//! read-after-write, persistence with the events, catch-up and rebuild.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use careledger_log::Envelope;
use careledger_store::{
    keys, AppendError, NewEvent, Projection, ProjectionHandle, Refusal, Store, StoreConfig,
    StoreError,
};

/// What the toy projection refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum ToyError {
    #[error("{subject} has {balance}; cannot spend {amount}")]
    Overdrawn {
        subject: String,
        balance: i64,
        amount: i64,
    },
    #[error("amount {0:?} is not a number")]
    BadAmount(String),
}

/// Per subject: how many events, and a balance that "earn" raises and "spend" lowers but
/// never below zero. Keys are subject bytes; values count u64 LE || balance i64 LE.
#[derive(Default)]
struct Toy {
    state: BTreeMap<String, (u64, i64)>,
    /// Values before the current request changed them (None: absent).
    undo: BTreeMap<String, Option<(u64, i64)>>,
    dirty: BTreeSet<String>,
    in_request: bool,
    /// Events seen through `replay`.
    replayed: u64,
}

fn amount(kind: &str, payload: &[u8]) -> Result<i64, ToyError> {
    match kind {
        "earn" | "spend" => {
            let text = String::from_utf8_lossy(payload).to_string();
            text.parse().map_err(|_| ToyError::BadAmount(text))
        }
        _ => Ok(0),
    }
}

impl Toy {
    fn change(&mut self, subject: &str, count: u64, balance: i64) {
        if self.in_request && !self.undo.contains_key(subject) {
            self.undo
                .insert(subject.to_string(), self.state.get(subject).copied());
        }
        self.state.insert(subject.to_string(), (count, balance));
        self.dirty.insert(subject.to_string());
    }

    fn step(
        &mut self,
        envelope: &Envelope,
        payload: Option<&[u8]>,
        check: bool,
    ) -> Result<(), ToyError> {
        let Some(subject) = envelope.subject.as_deref() else {
            return Ok(());
        };
        let amount = match payload {
            Some(p) => amount(&envelope.kind, p)?,
            None => 0,
        };
        let (count, balance) = self.state.get(subject).copied().unwrap_or((0, 0));
        let balance = match envelope.kind.as_str() {
            "earn" => balance + amount,
            "spend" => {
                if check && balance < amount {
                    return Err(ToyError::Overdrawn {
                        subject: subject.to_string(),
                        balance,
                        amount,
                    });
                }
                balance - amount
            }
            _ => balance,
        };
        self.change(subject, count + 1, balance);
        Ok(())
    }

    fn of(&self, subject: &str) -> Option<(u64, i64)> {
        self.state.get(subject).copied()
    }
}

impl Projection for Toy {
    fn begin(&mut self) {
        self.in_request = true;
        self.undo.clear();
    }
    fn apply(&mut self, envelope: &Envelope, payload: &[u8]) -> Result<(), Refusal> {
        self.step(envelope, Some(payload), true)
            .map_err(Refusal::new)
    }
    fn commit(&mut self) {
        self.in_request = false;
        self.undo.clear();
    }
    fn rollback(&mut self) {
        for (subject, before) in std::mem::take(&mut self.undo) {
            match before {
                Some(v) => self.state.insert(subject, v),
                None => self.state.remove(&subject),
            };
        }
        self.in_request = false;
    }
    fn replay(&mut self, envelope: &Envelope, payload: Option<&[u8]>) -> Result<(), String> {
        self.replayed += 1;
        self.step(envelope, payload, false)
            .map_err(|e| e.to_string())
    }
    fn take_changes(&mut self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        std::mem::take(&mut self.dirty)
            .into_iter()
            .map(|subject| {
                let value = self.state.get(&subject).map(|(count, balance)| {
                    let mut v = count.to_le_bytes().to_vec();
                    v.extend_from_slice(&balance.to_le_bytes());
                    v
                });
                (subject.into_bytes(), value)
            })
            .collect()
    }
    fn clear(&mut self) {
        *self = Toy::default();
    }
    fn load(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        let subject = String::from_utf8(key.to_vec()).map_err(|e| e.to_string())?;
        if value.len() != 16 {
            return Err(format!("value of {} bytes", value.len()));
        }
        let count = u64::from_le_bytes(value[..8].try_into().unwrap());
        let balance = i64::from_le_bytes(value[8..].try_into().unwrap());
        self.state.insert(subject, (count, balance));
        Ok(())
    }
}

fn ev(subject: &str, kind: &str, payload: &str) -> NewEvent {
    NewEvent {
        actor: "staff:s1".into(),
        subject: Some(subject.into()),
        kind: kind.into(),
        occurred_at_us: 1_790_000_000_000_000,
        payload: payload.as_bytes().to_vec(),
    }
}

fn config(persist_every: u64) -> StoreConfig {
    StoreConfig {
        checkpoint_every: Duration::from_secs(3600),
        projection_persist_every_events: persist_every,
        ..StoreConfig::default()
    }
}

fn new_ledger() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    Store::init(dir.path(), "test.careledger/projection").unwrap();
    dir
}

fn new_toy() -> (Arc<RwLock<Toy>>, ProjectionHandle) {
    let toy = Arc::new(RwLock::new(Toy::default()));
    let handle: ProjectionHandle = toy.clone();
    (toy, handle)
}

fn open(dir: &tempfile::TempDir, persist_every: u64) -> (Store, Arc<RwLock<Toy>>) {
    let (toy, handle) = new_toy();
    let store = Store::open_with_projection(dir.path(), config(persist_every), handle).unwrap();
    (store, toy)
}

fn mark(store: &Store) -> Option<u64> {
    store
        .raw_db()
        .get(keys::PROJECTED)
        .unwrap()
        .map(|v| u64::from_le_bytes(v.as_ref().try_into().unwrap()))
}

/// A mix of subjects and kinds; every spend is covered.
fn workload(store: &Store, n: u64) {
    for i in 0..n {
        let subject = format!("person:p{}", i % 7);
        let event = match i % 3 {
            0 => ev(&subject, "earn", &(i % 11 + 1).to_string()),
            1 => ev(&subject, "visit", "{}"),
            _ => ev(&subject, "spend", "1"),
        };
        match store.append(vec![event]) {
            Ok(_) | Err(AppendError::Refused { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn refused_event_appends_nothing_and_its_error_downcasts() {
    let dir = new_ledger();
    let (store, toy) = open(&dir, 16_384);
    store.append(vec![ev("person:p1", "earn", "5")]).unwrap();
    let err = store
        .append(vec![ev("person:p1", "spend", "6")])
        .unwrap_err();
    let AppendError::Refused { index, reason } = &err else {
        panic!("expected a refusal, got {err:?}");
    };
    assert_eq!(*index, 0);
    assert_eq!(
        reason.downcast_ref::<ToyError>(),
        Some(&ToyError::Overdrawn {
            subject: "person:p1".into(),
            balance: 5,
            amount: 6
        })
    );
    assert_eq!(
        err.to_string(),
        "event 0 refused: person:p1 has 5; cannot spend 6"
    );
    assert_eq!(store.size(), 1);
    assert_eq!(toy.read().unwrap().of("person:p1"), Some((1, 5)));
    // No sequence number was used.
    let receipts = store.append(vec![ev("person:p1", "spend", "5")]).unwrap();
    assert_eq!(receipts[0].seq, 1);
    assert_eq!(toy.read().unwrap().of("person:p1"), Some((2, 0)));
    store.verify(|_, _| {}).unwrap();
}

#[test]
fn refusal_rolls_back_its_request_only_within_one_batch() {
    let dir = new_ledger();
    let (store, toy) = open(&dir, 16_384);
    let paused = store.pause().unwrap();
    // Queued together: the appender takes both into one batch once released.
    let refused = store
        .submit(vec![
            ev("person:alice", "earn", "5"),
            ev("person:bob", "earn", "1"),
            ev("person:alice", "spend", "20"),
        ])
        .unwrap();
    let accepted = store
        .submit(vec![
            ev("person:bob", "earn", "10"),
            ev("person:bob", "spend", "3"),
        ])
        .unwrap();
    drop(paused);
    let err = refused.blocking_recv().unwrap().unwrap_err();
    match &err {
        AppendError::Refused { index: 2, reason } => {
            assert!(matches!(
                reason.downcast_ref::<ToyError>(),
                Some(ToyError::Overdrawn {
                    balance: 5,
                    amount: 20,
                    ..
                })
            ));
        }
        other => panic!("expected event 2 refused, got {other:?}"),
    }
    let receipts = accepted.blocking_recv().unwrap().unwrap();
    let seqs: Vec<u64> = receipts.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [0, 1], "the refused request used no sequence numbers");
    assert!(receipts[0].recorded_at_us <= receipts[1].recorded_at_us);
    assert_eq!(store.size(), 2);
    let events = store.range(0, 10).unwrap();
    assert_eq!(events.len(), 2);
    assert!(events
        .iter()
        .all(|e| e.envelope.subject.as_deref() == Some("person:bob")));
    let toy = toy.read().unwrap();
    assert_eq!(toy.of("person:alice"), None, "earlier events rolled back");
    assert_eq!(toy.of("person:bob"), Some((2, 7)));
    drop(toy);
    assert!(store.by_subject("person:alice", 0, 10).unwrap().is_empty());
    store.verify(|_, _| {}).unwrap();
}

#[test]
fn read_after_append_sees_the_event() {
    let dir = new_ledger();
    let (store, toy) = open(&dir, 16_384);
    for i in 1..=50i64 {
        store.append(vec![ev("person:p1", "earn", "2")]).unwrap();
        assert_eq!(toy.read().unwrap().of("person:p1"), Some((i as u64, 2 * i)));
    }
    // The projection seen through the store is the same one.
    let handle = store.projection().unwrap().clone();
    drop(handle.read().unwrap());
}

#[test]
fn concurrent_spends_never_overdraw() {
    let dir = new_ledger();
    let (store, toy) = open(&dir, 16_384);
    store.append(vec![ev("person:p1", "earn", "100")]).unwrap();
    let accepted: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let store = &store;
                scope.spawn(move || {
                    let mut ok = 0;
                    for _ in 0..25 {
                        match store.append(vec![ev("person:p1", "spend", "1")]) {
                            Ok(_) => ok += 1,
                            Err(AppendError::Refused { .. }) => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                    ok
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(accepted, 100);
    assert_eq!(store.size(), 101);
    assert_eq!(toy.read().unwrap().of("person:p1"), Some((101, 0)));
}

#[test]
fn pairs_persist_every_n_events_and_on_clean_close() {
    let dir = new_ledger();
    let (store, _toy) = open(&dir, 10);
    for _ in 0..9 {
        store.append(vec![ev("person:p1", "earn", "1")]).unwrap();
    }
    assert_eq!(mark(&store), None);
    assert!(store.projection_pairs().unwrap().is_empty());
    store.append(vec![ev("person:p2", "earn", "4")]).unwrap();
    // Written with the tenth event, in its batch.
    assert_eq!(mark(&store), Some(10));
    let mut value = 9u64.to_le_bytes().to_vec();
    value.extend_from_slice(&9i64.to_le_bytes());
    let mut value2 = 1u64.to_le_bytes().to_vec();
    value2.extend_from_slice(&4i64.to_le_bytes());
    assert_eq!(
        store.projection_pairs().unwrap(),
        vec![
            (b"person:p1".to_vec(), value),
            (b"person:p2".to_vec(), value2.clone())
        ]
    );
    for _ in 0..3 {
        store.append(vec![ev("person:p1", "spend", "1")]).unwrap();
    }
    assert_eq!(mark(&store), Some(10));
    // A checkpoint and a pause do not disturb it.
    store.checkpoint_now().unwrap();
    drop(store.pause().unwrap());
    drop(store);

    let plain = Store::open(dir.path(), config(10)).unwrap();
    assert_eq!(mark(&plain), Some(13), "a clean close writes the rest");
    let mut value = 12u64.to_le_bytes().to_vec();
    value.extend_from_slice(&6i64.to_le_bytes());
    assert_eq!(
        plain.projection_pairs().unwrap(),
        vec![
            (b"person:p1".to_vec(), value),
            (b"person:p2".to_vec(), value2)
        ]
    );
    assert_eq!(plain.projection_replayed(), 0);
    plain.verify(|_, _| {}).unwrap();
}

#[test]
fn clean_reopen_replays_nothing() {
    let dir = new_ledger();
    let (store, toy) = open(&dir, 16_384);
    workload(&store, 300);
    let before = toy.read().unwrap().state.clone();
    let size = store.size();
    drop(store);

    let (store, toy) = open(&dir, 16_384);
    assert_eq!(store.projection_replayed(), 0);
    assert_eq!(toy.read().unwrap().replayed, 0);
    assert_eq!(toy.read().unwrap().state, before);
    assert_eq!(mark(&store), Some(size));
    // And it goes on from there.
    store.append(vec![ev("person:p0", "visit", "{}")]).unwrap();
    assert_eq!(
        toy.read().unwrap().of("person:p0").unwrap().0,
        before["person:p0"].0 + 1
    );
}

#[test]
fn dropped_projections_rebuild_to_identical_bytes() {
    let dir = new_ledger();
    let (store, _) = open(&dir, 64);
    workload(&store, 500);
    let size = store.size();
    drop(store);
    let (store, toy) = open(&dir, 64);
    let before = store.projection_pairs().unwrap();
    let state = toy.read().unwrap().state.clone();
    assert_eq!(before.len(), 7);
    drop(store);

    let removed = Store::drop_projections(dir.path()).unwrap();
    assert_eq!(removed, before.len() as u64 + 1, "the pairs and the mark");
    let plain = Store::open(dir.path(), config(64)).unwrap();
    assert!(plain.projection_pairs().unwrap().is_empty());
    assert_eq!(mark(&plain), None);
    drop(plain);

    let (toy2, handle) = new_toy();
    let mut calls = Vec::new();
    let store = Store::open_with_projection_progress(dir.path(), config(64), handle, |d, t| {
        calls.push((d, t))
    })
    .unwrap();
    assert_eq!(store.projection_replayed(), size);
    assert_eq!(calls.last(), Some(&(size, size)));
    assert_eq!(store.projection_pairs().unwrap(), before);
    assert_eq!(mark(&store), Some(size));
    assert_eq!(toy2.read().unwrap().state, state);
    store.verify(|_, _| {}).unwrap();
    drop(store);
    assert_eq!(Store::drop_projections(dir.path()).unwrap(), 8);
    assert_eq!(Store::drop_projections(dir.path()).unwrap(), 0);
}

#[test]
fn full_replay_removes_pairs_an_older_projection_left() {
    let dir = new_ledger();
    let (store, _) = open(&dir, 16_384);
    workload(&store, 30);
    let size = store.size();
    let expected = {
        drop(store);
        let (store, _) = open(&dir, 16_384);
        store.projection_pairs().unwrap()
    };
    // A pair with no mark, as an interrupted removal or an older projection leaves.
    {
        let plain = Store::open(dir.path(), config(16_384)).unwrap();
        plain.raw_db().remove(keys::PROJECTED).unwrap();
        plain
            .raw_db()
            .insert(keys::projection(b"person:gone"), &[1u8; 16][..])
            .unwrap();
        plain.raw_db().flush().unwrap();
    }
    let (store, _) = open(&dir, 16_384);
    assert_eq!(store.projection_replayed(), size);
    assert_eq!(store.projection_pairs().unwrap(), expected);
}

#[test]
fn catches_up_with_events_written_without_the_projection() {
    let dir = new_ledger();
    // A ledger written before it had a projection: replayed whole.
    {
        let plain = Store::open(dir.path(), config(16_384)).unwrap();
        workload(&plain, 20);
    }
    let (store, toy) = open(&dir, 16_384);
    assert_eq!(store.projection_replayed(), 20);
    assert_eq!(toy.read().unwrap().replayed, 20);
    assert_eq!(mark(&store), Some(20));
    workload(&store, 10);
    let size = store.size();
    drop(store);

    // More events written without it: exactly those are replayed.
    {
        let plain = Store::open(dir.path(), config(16_384)).unwrap();
        workload(&plain, 15);
        assert_eq!(plain.size(), size + 15);
    }
    let (store, toy) = open(&dir, 16_384);
    assert_eq!(store.projection_replayed(), 15);
    assert_eq!(toy.read().unwrap().replayed, 15);
    assert_eq!(mark(&store), Some(size + 15));
    let caught_up = store.projection_pairs().unwrap();
    let state = toy.read().unwrap().state.clone();
    drop(store);

    // The same as a rebuild from nothing.
    Store::drop_projections(dir.path()).unwrap();
    let (store, toy) = open(&dir, 16_384);
    assert_eq!(store.projection_replayed(), size + 15);
    assert_eq!(store.projection_pairs().unwrap(), caught_up);
    assert_eq!(toy.read().unwrap().state, state);
}

#[test]
fn unreadable_event_is_reported_as_corrupt_naming_it() {
    let dir = new_ledger();
    {
        let plain = Store::open(dir.path(), config(16_384)).unwrap();
        plain.append(vec![ev("person:p1", "earn", "3")]).unwrap();
        plain
            .append(vec![ev("person:p1", "earn", "three")])
            .unwrap();
    }
    let (_, handle) = new_toy();
    match Store::open_with_projection(dir.path(), config(16_384), handle) {
        Err(StoreError::Damaged { reason, .. }) => assert_eq!(
            reason,
            "projection cannot read event 1: amount \"three\" is not a number"
        ),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("opened"),
    }
}

#[test]
fn config_refuses_a_zero_persist_interval() {
    let config = StoreConfig {
        projection_persist_every_events: 0,
        ..StoreConfig::default()
    };
    assert!(matches!(config.check(), Err(StoreError::InvalidConfig(_))));
    assert_eq!(
        StoreConfig::default().projection_persist_every_events,
        131_072
    );
    let dir = new_ledger();
    let (_, handle) = new_toy();
    assert!(matches!(
        Store::open_with_projection(dir.path(), config, handle),
        Err(StoreError::InvalidConfig(_))
    ));
}

#[test]
fn plain_open_has_no_projection() {
    let dir = new_ledger();
    let store = Store::open(dir.path(), config(16_384)).unwrap();
    assert!(store.projection().is_none());
    assert_eq!(store.projection_replayed(), 0);
    store.append(vec![ev("person:p1", "spend", "5")]).unwrap();
    assert_eq!(mark(&store), None);
}

const CHILD_DIR: &str = "CARELEDGER_PROJECTION_CHILD_DIR";

/// The child of the crash test: appends with the projection until killed.
#[test]
fn child_projection_appender() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return; // Only meaningful as the child of the test below.
    };
    let (_, handle) = new_toy();
    let store = Store::open_with_projection(std::path::Path::new(&dir), config(7), handle).unwrap();
    std::thread::scope(|scope| {
        for writer in 0..3u64 {
            let store = store.clone();
            scope.spawn(move || {
                for i in 0.. {
                    let subject = format!("person:p{}", (i + writer) % 5);
                    let request = match i % 4 {
                        0 => vec![ev(&subject, "earn", "3")],
                        1 => vec![ev(&subject, "spend", "2"), ev(&subject, "visit", "{}")],
                        2 => vec![ev(&subject, "spend", "4")],
                        _ => vec![ev(&subject, "visit", "{}")],
                    };
                    match store.append(request) {
                        Ok(receipts) => println!("ACK {}", receipts[0].seq),
                        Err(AppendError::Refused { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            });
        }
    });
}

/// SIGKILLs at random moments: the stored pairs and mark always go with the events (in one
/// sled batch), so a catch-up from whatever sled kept gives what a full rebuild gives.
#[test]
fn sigkill_leaves_a_projection_that_catches_up_exactly() {
    use std::io::{BufRead, BufReader};
    let dir = new_ledger();
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("seed {seed}");
    let mut kills_after_acks = 0;
    for cycle in 0..8 {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let acks_before_kill = 1 + (seed >> 33) % 300;
        let mut process = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_projection_appender",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap();
        let mut acks = 0;
        for line in BufReader::new(process.stdout.take().unwrap()).lines() {
            if line.unwrap().contains("ACK ") {
                acks += 1;
                if acks >= acks_before_kill {
                    break;
                }
            }
        }
        process.kill().unwrap(); // SIGKILL on Unix
        process.wait().unwrap();
        if acks > 0 {
            kills_after_acks += 1;
        }

        let (store, toy) = open(&dir, 7);
        let size = store.size();
        // The pairs and mark go with the events into sled, which writes its state out once
        // a second (it is derived: the events file is what is synced before an
        // acknowledgement), so the replay covers at most the last second or so.
        assert!(
            store.projection_replayed() <= size,
            "cycle {cycle}: replayed {} events of {size}",
            store.projection_replayed()
        );
        eprintln!(
            "cycle {cycle}: {size} events, replayed {}",
            store.projection_replayed()
        );
        let caught_up = toy.read().unwrap().state.clone();
        store.verify(|_, _| {}).unwrap();
        drop(store);
        let persisted = Store::open(dir.path(), config(7))
            .unwrap()
            .projection_pairs()
            .unwrap();
        Store::drop_projections(dir.path()).unwrap();
        let (store, toy) = open(&dir, 7);
        assert_eq!(store.projection_replayed(), size);
        assert_eq!(
            toy.read().unwrap().state,
            caught_up,
            "cycle {cycle}: catch-up differs from a rebuild"
        );
        assert_eq!(store.projection_pairs().unwrap(), persisted);
    }
    assert!(kills_after_acks >= 4, "most kills must land mid-append");
}
