//! Behaviour of the store through its public API, and what it does when its bytes are
//! altered underneath it.

use std::time::Duration;

use careledger_log::merkle::{
    self, verify_consistency, verify_inclusion, Blake3Hasher, TreeHasher,
};
use careledger_log::{Checkpoint, Envelope, NodeSource};
use careledger_store::events_log::{self, FrameKind};
use careledger_store::tamper::{self, RawFrame};
use careledger_store::{
    keys, AppendError, Clock, NewEvent, Receipt, RequestKey, Store, StoreConfig, StoreError,
    VerifyFailure, VerifyReport,
};

fn event(n: u64) -> NewEvent {
    NewEvent {
        actor: format!("staff:s{}", n % 3),
        subject: Some(format!("person:p{}", n % 4)),
        kind: "visit.completed".into(),
        occurred_at_us: 1_790_000_000_000_000 + n as i64,
        payload: format!("{{\"n\":{n}}}").into_bytes(),
    }
}

fn small_config() -> StoreConfig {
    StoreConfig {
        checkpoint_every_events: 10,
        checkpoint_every: Duration::from_secs(3600),
        ..StoreConfig::default()
    }
}

fn fresh(config: StoreConfig) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    Store::init(dir.path(), "test.careledger/store").unwrap();
    let store = Store::open(dir.path(), config).unwrap();
    (dir, store)
}

#[test]
fn appends_read_back_and_prove() {
    let (_dir, store) = fresh(small_config());
    let mut leaves = Vec::new();
    for n in 0..37u64 {
        let receipts = store.append(vec![event(n)]).unwrap();
        assert_eq!(receipts[0].seq, n);
        let stored = store.get(n).unwrap();
        assert_eq!(stored.envelope.seq, n);
        let (salt, payload) = stored.payload.as_ref().unwrap();
        assert_eq!(payload, &event(n).payload);
        stored.envelope.check_payload(salt, payload).unwrap();
        assert_eq!(
            Envelope::decode(&stored.envelope_bytes).unwrap(),
            stored.envelope
        );
        leaves.push(Blake3Hasher::hash_leaf(&stored.envelope_bytes));
    }
    assert_eq!(store.size(), 37);
    for size in 1..=37u64 {
        let root = merkle::reference_root::<Blake3Hasher>(&leaves[..size as usize]);
        assert_eq!(store.root_at(size).unwrap(), root);
        for seq in [0, size / 2, size - 1] {
            let proof = store.inclusion_proof(seq, size).unwrap();
            verify_inclusion::<Blake3Hasher, _>(seq, size, &leaves[seq as usize], &proof, &root)
                .unwrap();
        }
        for size1 in [1, size / 2 + 1, size] {
            let proof = store.consistency_proof(size1, size).unwrap();
            let root1 = merkle::reference_root::<Blake3Hasher>(&leaves[..size1 as usize]);
            verify_consistency::<Blake3Hasher, _>(size1, size, &proof, &root1, &root).unwrap();
        }
    }
    assert!(matches!(
        store.root_at(38),
        Err(StoreError::SizeBeyondLog {
            size: 38,
            current: 37
        })
    ));
    assert!(matches!(
        store.get(37),
        Err(StoreError::NoSuchEvent { seq: 37, size: 37 })
    ));
}

#[test]
fn recorded_at_never_decreases_and_reads_are_bounded() {
    let (_dir, store) = fresh(small_config());
    store.append((0..50).map(event).collect()).unwrap();
    let all = store.range(0, usize::MAX).unwrap();
    assert_eq!(all.len(), 50);
    assert!(all
        .windows(2)
        .all(|w| w[0].envelope.recorded_at_us <= w[1].envelope.recorded_at_us));
    assert_eq!(store.range(45, 10).unwrap().len(), 5);
    assert!(store.range(50, 10).unwrap().is_empty());
    let p1: Vec<u64> = store
        .by_subject("person:p1", 0, 100)
        .unwrap()
        .iter()
        .map(|e| e.envelope.seq)
        .collect();
    assert_eq!(p1, (0..50).filter(|n| n % 4 == 1).collect::<Vec<_>>());
    let later: Vec<u64> = store
        .by_subject("person:p1", 20, 2)
        .unwrap()
        .iter()
        .map(|e| e.envelope.seq)
        .collect();
    assert_eq!(later, vec![21, 25]);
    // A subject that is a prefix of another must not see the other's events.
    assert!(store.by_subject("person:p", 0, 100).unwrap().is_empty());
}

/// A simulated history is recorded on its own clock: each event at its occurred-at, and an
/// event back-dated behind an earlier one at the latest time already recorded.
#[test]
fn a_simulated_clock_records_at_occurred_at_and_never_goes_back() {
    let (_dir, store) = fresh(StoreConfig {
        clock: careledger_store::Clock::Simulated,
        ..small_config()
    });
    let mut events: Vec<NewEvent> = (0..10).map(event).collect();
    events[7].occurred_at_us = events[2].occurred_at_us;
    store.append(events.clone()).unwrap();
    let all = store.range(0, usize::MAX).unwrap();
    for (n, stored) in all.iter().enumerate() {
        let expected = if n == 7 {
            events[6].occurred_at_us
        } else {
            events[n].occurred_at_us
        };
        assert_eq!(stored.envelope.recorded_at_us, expected, "event {n}");
    }
    // The wall clock is far later than these times: a real ledger records them now.
    let (_dir, wall) = fresh(small_config());
    wall.append(vec![event(0)]).unwrap();
    assert!(wall.get(0).unwrap().envelope.recorded_at_us > event(0).occurred_at_us + 1_000_000);
}

#[test]
fn bad_requests_are_refused_and_nothing_is_written() {
    let config = StoreConfig {
        request_events_max: 5,
        payload_bytes_max: 100,
        ..small_config()
    };
    let (_dir, store) = fresh(config);
    assert_eq!(store.append(vec![]), Err(AppendError::Empty));
    assert!(matches!(
        store.append((0..6).map(event).collect()),
        Err(AppendError::TooManyEvents { count: 6, max: 5 })
    ));
    let mut big = event(1);
    big.payload = vec![b'x'; 101];
    assert!(matches!(
        store.append(vec![event(0), big]),
        Err(AppendError::PayloadTooLarge {
            index: 1,
            len: 101,
            max: 100
        })
    ));
    let mut bad = event(2);
    bad.kind = String::new();
    assert!(matches!(
        store.append(vec![event(0), bad]),
        Err(AppendError::Invalid { index: 1, .. })
    ));
    assert_eq!(store.size(), 0);
    assert!(store.range(0, 10).unwrap().is_empty());
}

#[test]
fn full_queue_answers_busy_and_then_drains() {
    let config = StoreConfig {
        queue_requests_max: 3,
        ..small_config()
    };
    let (_dir, store) = fresh(config);
    let paused = store.pause().unwrap();
    let waiting: Vec<_> = (0..3)
        .map(|n| store.submit(vec![event(n)]).unwrap())
        .collect();
    assert_eq!(
        store.submit(vec![event(3)]).err(),
        Some(AppendError::Busy(3))
    );
    assert_eq!(store.size(), 0, "nothing is written while paused");
    drop(paused);
    let seqs: Vec<u64> = waiting
        .into_iter()
        .map(|rx| rx.blocking_recv().unwrap().unwrap()[0].seq)
        .collect();
    assert_eq!(seqs, vec![0, 1, 2]);
    assert_eq!(store.append(vec![event(3)]).unwrap()[0].seq, 3);
}

#[test]
fn checkpoints_every_n_events_and_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let verifier = Store::init(dir.path(), "test.careledger/cp").unwrap();
    let store = Store::open(dir.path(), small_config()).unwrap();
    for n in 0..25 {
        store.append(vec![event(n)]).unwrap();
    }
    let sizes: Vec<u64> = store
        .checkpoints()
        .unwrap()
        .iter()
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(sizes, vec![10, 20]);
    let note = store.checkpoint_now().unwrap();
    let cp = Checkpoint::open(&note, &verifier).unwrap();
    assert_eq!(cp.size, 25);
    assert_eq!(cp.root, store.root_at(25).unwrap());
    // Asking again without growth returns the same checkpoint, not a new signature.
    assert_eq!(store.checkpoint_now().unwrap(), note);
    assert_eq!(store.latest_checkpoint().unwrap(), Some(note));
    // Every pair of checkpoints is consistent.
    let all = store.checkpoints().unwrap();
    for (i, (_, a)) in all.iter().enumerate() {
        for (_, b) in &all[i + 1..] {
            let a = Checkpoint::open(a, &verifier).unwrap();
            let b = Checkpoint::open(b, &verifier).unwrap();
            let proof = store.consistency_proof(a.size, b.size).unwrap();
            verify_consistency::<Blake3Hasher, _>(a.size, b.size, &proof, &a.root, &b.root)
                .unwrap();
        }
    }
    let report = store.verify(|_, _| {}).unwrap();
    assert_eq!((report.events, report.checkpoints), (25, 3));
}

#[test]
fn timed_checkpoint_is_signed_when_the_log_grew() {
    let config = StoreConfig {
        checkpoint_every_events: 1_000_000,
        checkpoint_every: Duration::from_millis(50),
        ..StoreConfig::default()
    };
    let (_dir, store) = fresh(config);
    store.append(vec![event(0), event(1)]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.checkpoints().unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no timed checkpoint within 10 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(store.checkpoints().unwrap()[0].0, 2);
}

#[test]
fn reopen_keeps_everything_and_continues_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    Store::init(dir.path(), "test.careledger/reopen").unwrap();
    let store = Store::open(dir.path(), small_config()).unwrap();
    store.append((0..13).map(event).collect()).unwrap();
    let root13 = store.root_at(13).unwrap();
    drop(store);
    let store = Store::open(dir.path(), small_config()).unwrap();
    assert_eq!(store.size(), 13);
    assert_eq!(store.root_at(13).unwrap(), root13);
    store.append((13..20).map(event).collect()).unwrap();
    let leaves: Vec<_> = store
        .range(0, 100)
        .unwrap()
        .iter()
        .map(|e| Blake3Hasher::hash_leaf(&e.envelope_bytes))
        .collect();
    assert_eq!(
        store.root_at(20).unwrap(),
        merkle::reference_root::<Blake3Hasher>(&leaves)
    );
    store.verify(|_, _| {}).unwrap();
    assert!(matches!(
        Store::init(dir.path(), "again"),
        Err(StoreError::AlreadyInitialised(_))
    ));
}

#[test]
fn a_missing_ledger_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = Store::open(dir.path(), small_config()).err().unwrap();
    assert!(matches!(err, StoreError::NotInitialised(_)));
    assert!(err.to_string().contains("careledger init"));
}

/// Appends 20 events in two requests of 10 (two chunks, checkpoints at 10 and 20), closes
/// the store, lets `alter` change the events file's frames (their checks recomputed, as
/// an attacker would), and returns what verification of the folder says.
fn tampered(alter: impl FnOnce(&mut Vec<RawFrame>)) -> Result<VerifyReport, VerifyFailure> {
    let dir = tempfile::tempdir().unwrap();
    Store::init(dir.path(), "test.careledger/store").unwrap();
    {
        let store = Store::open(dir.path(), small_config()).unwrap();
        store.append((0..10).map(event).collect()).unwrap();
        store.append((10..20).map(event).collect()).unwrap();
    }
    let mut frames = tamper::read_frames(dir.path()).unwrap();
    alter(&mut frames);
    tamper::write_frames(dir.path(), &frames).unwrap();
    // The durable mark names most of these changes as damage before verification starts
    // (another test shows it); whoever rewrites the file can remove it, and then
    // verification must find the change itself.
    std::fs::remove_file(dir.path().join(careledger_store::MARK_FILE)).unwrap();
    Store::verify_dir(dir.path(), |_, _| {})
}

/// Flips one bit of event `seq`'s stored record, at the offset `at` picks in the record.
fn flip_in_record(frames: &mut [RawFrame], seq: u64, at: impl FnOnce(&[u8]) -> usize) {
    let (i, range) = tamper::record_of(frames, seq).unwrap();
    let offset = range.start + at(&frames[i].body[range.clone()]);
    frames[i].body[offset] ^= 0x01;
}

fn envelope_len(record: &[u8]) -> usize {
    u32::from_le_bytes(record[..4].try_into().unwrap()) as usize
}

#[test]
fn an_untouched_ledger_verifies_from_its_folder() {
    let report = tampered(|_| {}).unwrap();
    assert_eq!((report.events, report.checkpoints), (20, 2));
    assert_eq!(report.payloads_checked, 20);
}

#[test]
fn verify_names_the_event_whose_envelope_was_altered() {
    // Byte 40 of a record is inside the actor string (4 length bytes + 25 fixed + 8 length).
    let err = tampered(|f| flip_in_record(f, 7, |_| 40)).unwrap_err();
    assert!(matches!(err, VerifyFailure::Event { seq: 7, .. }), "{err}");
    assert!(err.to_string().starts_with("event 7:"), "{err}");
    // The commitment: the last byte of the envelope.
    let err = tampered(|f| flip_in_record(f, 3, |r| 4 + envelope_len(r) - 1)).unwrap_err();
    assert!(matches!(err, VerifyFailure::Event { seq: 3, .. }), "{err}");
}

#[test]
fn verify_names_the_event_whose_payload_was_altered_or_removed() {
    let err = tampered(|f| flip_in_record(f, 11, |r| r.len() - 2)).unwrap_err();
    assert!(matches!(err, VerifyFailure::Event { seq: 11, .. }), "{err}");
    assert!(err.to_string().contains("payload"), "{err}");
    // The erased shape: salt and payload gone, the envelope and its nodes kept. Nothing in
    // the ledger authorises an erasure, so it is a failure naming the event.
    let err = tampered(|frames| {
        let (i, range) = tamper::record_of(frames, 4).unwrap();
        let chunk = keys::Chunk::parse(frames[i].first, &frames[i].body).unwrap();
        let mut records: Vec<Vec<u8>> = (chunk.first..chunk.end())
            .map(|s| chunk.record(s).unwrap().to_vec())
            .collect();
        let record = &frames[i].body[range];
        let nodes = record[4 + envelope_len(record)] as usize;
        records[4].truncate(4 + envelope_len(record) + 1 + 32 * nodes);
        frames[i].body = keys::chunk_bytes(&records);
    })
    .unwrap_err();
    assert!(matches!(err, VerifyFailure::Event { seq: 4, .. }), "{err}");
    assert!(err.to_string().contains("no erasure event"), "{err}");
}

#[test]
fn verify_catches_altered_nodes_leaves_checkpoints_and_missing_events() {
    // Node (level 2, index 1) covers events 4 to 7 and is stored in event 7's record.
    let err = tampered(|f| flip_in_record(f, 7, |r| keys::node_offset(r, 2).unwrap())).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyFailure::Node {
                level: 2,
                index: 1,
                first: 4,
                last: 7,
                ..
            }
        ),
        "{err}"
    );
    let err =
        tampered(|f| flip_in_record(f, 5, |r| keys::node_offset(r, 0).unwrap() + 31)).unwrap_err();
    assert!(matches!(err, VerifyFailure::Event { seq: 5, .. }), "{err}");
    // Removing the chunk that holds events 0 to 9, and the checkpoint that signs them.
    let err = tampered(|frames| {
        let (i, _) = tamper::record_of(frames, 9).unwrap();
        assert_eq!(frames[i].first, 0);
        assert_eq!(
            (frames[i + 1].kind, frames[i + 1].first),
            (FrameKind::Checkpoint, 10)
        );
        frames.drain(i..i + 2);
    })
    .unwrap_err();
    assert!(matches!(err, VerifyFailure::Event { seq: 0, .. }), "{err}");
    assert!(err.to_string().contains("missing"), "{err}");
    // A chunk whose offsets do not add up is named by its first event.
    let err = tampered(|frames| {
        let (i, _) = tamper::record_of(frames, 9).unwrap();
        frames[i].body.pop();
    })
    .unwrap_err();
    assert!(matches!(err, VerifyFailure::Event { seq: 0, .. }), "{err}");
    let err = tampered(|frames| {
        let at = frames
            .iter()
            .position(|f| f.kind == FrameKind::Checkpoint && f.first == 20)
            .unwrap();
        let note = String::from_utf8(frames[at].body.clone())
            .unwrap()
            .replacen("\n20\n", "\n19\n", 1);
        frames[at].body = note.into_bytes();
    })
    .unwrap_err();
    assert!(
        matches!(err, VerifyFailure::Checkpoint { size: 20, .. }),
        "{err}"
    );
}

#[test]
fn a_damaged_frame_in_the_middle_of_the_events_file_is_not_taken_for_a_torn_end() {
    let dir = tempfile::tempdir().unwrap();
    Store::init(dir.path(), "test.careledger/frames").unwrap();
    {
        let store = Store::open(dir.path(), small_config()).unwrap();
        for n in 0..5 {
            store.append(vec![event(n)]).unwrap();
        }
    }
    let path = dir.path().join(careledger_store::EVENTS_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    // A byte inside the second chunk's frame: whole frames follow it.
    let frames = tamper::read_frames(dir.path()).unwrap();
    let header_and_first: usize = frames[..2]
        .iter()
        .map(|f| events_log::FRAME_HEAD + f.body.len() + events_log::FRAME_CHECK)
        .sum();
    assert_eq!(frames[2].kind, FrameKind::Events);
    bytes[header_and_first + 20] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    // Opening reads the frames sled does not reflect yet, and reads the others when it
    // needs them (verification reads them all): here it needs the damaged one at once.
    let err = Store::open(dir.path(), small_config()).err().unwrap();
    assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
    assert!(err.to_string().contains("fails its check"), "{err}");
    let err = Store::verify_dir(dir.path(), |_, _| {}).unwrap_err();
    assert!(matches!(err, VerifyFailure::Event { seq: 1, .. }), "{err}");
    // Rebuilding sled from the file reads every frame: the damage is not taken for a torn
    // end (which would drop the events after it).
    std::fs::remove_dir_all(dir.path().join(careledger_store::SLED_DIR)).unwrap();
    let err = Store::open(dir.path(), small_config()).err().unwrap();
    assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
    assert!(
        err.to_string().contains("not an interrupted write"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "nothing was cut off");
}

#[test]
fn start_up_check_refuses_a_tree_that_disagrees_with_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    Store::init(dir.path(), "test.careledger/startup").unwrap();
    let leaves: Vec<_> = {
        let config = StoreConfig {
            checkpoint_every_events: 12,
            ..small_config()
        };
        let store = Store::open(dir.path(), config).unwrap();
        store.append((0..12).map(event).collect()).unwrap();
        (0..12).map(|i| store.leaf_hash(i).unwrap()).collect()
    };
    // Rewrite leaf 3 and every node above it consistently: only the signed checkpoint (at
    // size 12) still holds the true root. The durable mark would catch it too; without it,
    // the checkpoint must.
    let mut tree = merkle::MemoryTree::<Blake3Hasher>::new();
    for (i, leaf) in leaves.iter().enumerate() {
        tree.push(if i == 3 { [0xee; 32] } else { *leaf });
    }
    let mut frames = tamper::read_frames(dir.path()).unwrap();
    for level in 0..4u8 {
        for index in 0..(12u64 >> level) {
            let hash = tree.perfect_node(level, index).unwrap();
            let leaf = keys::completing_leaf(level, index);
            let (i, range) = tamper::record_of(&frames, leaf).unwrap();
            let at =
                range.start + keys::node_offset(&frames[i].body[range.clone()], level).unwrap();
            frames[i].body[at..at + 32].copy_from_slice(&hash);
        }
    }
    tamper::write_frames(dir.path(), &frames).unwrap();
    std::fs::remove_file(dir.path().join(careledger_store::MARK_FILE)).unwrap();
    let message = Store::open(dir.path(), small_config())
        .err()
        .expect("open must fail")
        .to_string();
    assert!(message.contains("signed checkpoint"), "{message}");
    assert!(message.contains("12 events"), "{message}");
}

#[test]
fn sled_lost_behind_or_ahead_of_the_events_file_is_rebuilt_from_it() {
    let dir = tempfile::tempdir().unwrap();
    Store::init(dir.path(), "test.careledger/derived").unwrap();
    let root = {
        let store = Store::open(dir.path(), small_config()).unwrap();
        for start in (0..300).step_by(30) {
            store
                .append((start..start + 30).map(event).collect())
                .unwrap();
        }
        store.root_at(300).unwrap()
    };
    let check = |what: &str| {
        let store = Store::open(dir.path(), small_config()).unwrap();
        assert_eq!(store.size(), 300, "{what}");
        assert_eq!(store.root_at(300).unwrap(), root, "{what}");
        assert_eq!(page_all(&store, "person:p1").len(), 75, "{what}");
        assert_eq!(store.checkpoints().unwrap().len(), 10, "{what}");
        store.verify(|_, _| {}).unwrap();
    };
    // Deleted.
    std::fs::remove_dir_all(dir.path().join(careledger_store::SLED_DIR)).unwrap();
    check("sled deleted");
    // Ahead: it says it reflects more of the file than the file holds (a machine crash
    // after sled's write reached the disk and before the file's did).
    {
        let db = sled::open(dir.path().join(careledger_store::SLED_DIR)).unwrap();
        let ahead = keys::Logged {
            offset: 1 << 40,
            size: 10_000,
            batch_start: 1 << 40,
        };
        db.insert(keys::LOGGED, &ahead.encode()[..]).unwrap();
        db.flush().unwrap();
    }
    check("sled ahead");
    // Behind: its mark and the last chunks' locations taken back.
    {
        let db = sled::open(dir.path().join(careledger_store::SLED_DIR)).unwrap();
        let (first, at) = keys::chunk_location(&db, 150).unwrap().unwrap();
        for kv in db.range(keys::chunk_at(first)..keys::chunk_at(u64::MAX)) {
            db.remove(kv.unwrap().0).unwrap();
        }
        let behind = keys::Logged {
            offset: at.offset,
            size: first,
            batch_start: at.offset,
        };
        db.insert(keys::LOGGED, &behind.encode()[..]).unwrap();
        db.flush().unwrap();
    }
    check("sled behind");
    // Another ledger's sled folder.
    let other = tempfile::tempdir().unwrap();
    Store::init(other.path(), "test.careledger/other").unwrap();
    std::fs::remove_dir_all(dir.path().join(careledger_store::SLED_DIR)).unwrap();
    tamper::copy_dir(
        &other.path().join(careledger_store::SLED_DIR),
        &dir.path().join(careledger_store::SLED_DIR),
    )
    .unwrap();
    check("another ledger's sled");
}

#[test]
fn a_torn_last_frame_is_removed_at_open_and_nothing_acknowledged_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    Store::init(dir.path(), "test.careledger/torn").unwrap();
    {
        let store = Store::open(dir.path(), small_config()).unwrap();
        store.append((0..40).map(event).collect()).unwrap();
    }
    let path = dir.path().join(careledger_store::EVENTS_FILE);
    let whole = std::fs::read(&path).unwrap();
    // Every cut inside a frame appended after the acknowledged ones: the 41st event's
    // frame, as a crash in the middle of its write would leave it.
    let mut more = Vec::new();
    let frame_len = events_log::encode_frame(&mut more, FrameKind::Events, 40, b"\x01\x00junk");
    for cut in [1, 5, 13, frame_len - 1] {
        let mut bytes = whole.clone();
        bytes.extend_from_slice(&more[..cut]);
        std::fs::write(&path, &bytes).unwrap();
        let store = Store::open(dir.path(), small_config()).unwrap();
        assert_eq!(store.size(), 40, "cut at {cut}");
        assert_eq!(store.torn_bytes_removed(), cut as u64, "cut at {cut}");
        store.verify(|_, _| {}).unwrap();
        store.append(vec![event(40)]).unwrap();
        drop(store);
        let store = Store::open(dir.path(), small_config()).unwrap();
        assert_eq!((store.size(), store.torn_bytes_removed()), (41, 0));
        drop(store);
        std::fs::write(&path, &whole).unwrap();
        std::fs::remove_file(dir.path().join(careledger_store::MARK_FILE)).unwrap();
    }
}

#[test]
fn empty_ledger_root_is_the_hash_of_nothing() {
    let (_dir, store) = fresh(small_config());
    assert_eq!(store.root_at(0).unwrap(), Blake3Hasher::empty_root());
    let note = store.checkpoint_now().unwrap();
    assert!(note.contains("\n0\n"), "{note}");
    store.verify(|_, _| {}).unwrap();
}

#[test]
fn chunks_split_by_count_and_bytes_and_read_back_across_boundaries() {
    let (_dir, store) = fresh(small_config());
    // 300 events in one request: chunks of 64. Then 40 events of 8 KiB: chunks close at
    // 32 KiB. Then single events: a chunk each.
    store.append((0..300).map(event).collect()).unwrap();
    let big: Vec<NewEvent> = (300..340)
        .map(|n| NewEvent {
            payload: vec![b'x'; 8 * 1024],
            ..event(n)
        })
        .collect();
    store.append(big).unwrap();
    for n in 340..350 {
        store.append(vec![event(n)]).unwrap();
    }
    let db = store.raw_db();
    let firsts: Vec<u64> = db
        .scan_prefix([keys::CHUNK_AT])
        .map(|kv| keys::trailing_u64(&kv.unwrap().0).unwrap())
        .collect();
    assert_eq!(&firsts[..6], &[0, 64, 128, 192, 256, 300]);
    assert_eq!(firsts[6], 304, "four 8 KiB records reach the 32 KiB target");
    assert_eq!(
        &firsts[firsts.len() - 10..],
        &(340..350).collect::<Vec<_>>()[..]
    );
    let all = store.range(0, 1000).unwrap();
    assert_eq!(all.len(), 350);
    assert!(all
        .iter()
        .enumerate()
        .all(|(i, e)| e.envelope.seq == i as u64));
    let middle = store.range(62, 5).unwrap();
    assert_eq!(
        middle.iter().map(|e| e.envelope.seq).collect::<Vec<_>>(),
        vec![62, 63, 64, 65, 66]
    );
    assert_eq!(store.get(303).unwrap().payload.unwrap().1.len(), 8 * 1024);
    let p2: Vec<u64> = store
        .by_subject("person:p2", 60, 5)
        .unwrap()
        .iter()
        .map(|e| e.envelope.seq)
        .collect();
    assert_eq!(p2, vec![62, 66, 70, 74, 78]);
    let leaves: Vec<_> = all
        .iter()
        .map(|e| Blake3Hasher::hash_leaf(&e.envelope_bytes))
        .collect();
    let root = merkle::reference_root::<Blake3Hasher>(&leaves);
    for seq in [0, 63, 64, 299, 300, 349] {
        let proof = store.inclusion_proof(seq, 350).unwrap();
        verify_inclusion::<Blake3Hasher, _>(seq, 350, &leaves[seq as usize], &proof, &root)
            .unwrap();
    }
    store.verify(|_, _| {}).unwrap();
}

#[test]
fn subject_index_survives_reopen_across_its_persist_point() {
    let dir = tempfile::tempdir().unwrap();
    Store::init(dir.path(), "test.careledger/index").unwrap();
    let subjects = 7u64;
    let event = |n: u64| NewEvent {
        subject: (!n.is_multiple_of(11)).then(|| format!("person:q{}", n % subjects)),
        ..event(n)
    };
    let total = 70_000u64;
    let expected = |s: u64| -> Vec<u64> {
        (0..total)
            .filter(|n| !n.is_multiple_of(11) && n % subjects == s)
            .collect()
    };
    {
        let store = Store::open(dir.path(), small_config()).unwrap();
        for start in (0..total).step_by(10_000) {
            store
                .append((start..start + 10_000).map(event).collect())
                .unwrap();
        }
        for s in 0..subjects {
            let got: Vec<u64> = page_all(&store, &format!("person:q{s}"));
            assert_eq!(got, expected(s), "subject {s} before reopen");
        }
    }
    // The index's persisted part covers the first 65,536 events; the rest is rebuilt.
    let store = Store::open(dir.path(), small_config()).unwrap();
    let mark = store.raw_db().get(keys::INDEXED).unwrap().unwrap();
    assert_eq!(
        u64::from_le_bytes(mark.as_ref().try_into().unwrap()),
        65_536
    );
    for s in 0..subjects {
        assert_eq!(
            page_all(&store, &format!("person:q{s}")),
            expected(s),
            "subject {s}"
        );
    }
    // Paging from the middle of a chunk.
    let from = store.by_subject("person:q3", 30_001, 3).unwrap();
    let want: Vec<u64> = expected(3)
        .into_iter()
        .filter(|&n| n >= 30_001)
        .take(3)
        .collect();
    assert_eq!(
        from.iter().map(|e| e.envelope.seq).collect::<Vec<_>>(),
        want
    );
}

/// Every event of a subject, read in pages as the CLI does.
fn page_all(store: &Store, subject: &str) -> Vec<u64> {
    let mut out = Vec::new();
    let mut next = 0;
    loop {
        let page = store.by_subject(subject, next, 1000).unwrap();
        let Some(last) = page.last() else { return out };
        next = last.envelope.seq + 1;
        out.extend(page.iter().map(|e| e.envelope.seq));
    }
}

#[test]
fn a_ledger_open_elsewhere_is_reported_as_in_use() {
    let (dir, _store) = fresh(small_config());
    let started = std::time::Instant::now();
    let err = Store::open(dir.path(), small_config())
        .err()
        .expect("second open must fail");
    assert!(matches!(err, StoreError::Locked(_)), "{err}");
    assert!(err.to_string().contains("in use"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

fn keyed(
    store: &Store,
    n: u64,
    at_us: i64,
    key: &str,
    digest: u8,
) -> Result<Vec<Receipt>, AppendError> {
    let mut e = event(n);
    e.occurred_at_us = at_us;
    store
        .submit_keyed(
            vec![e],
            Some(RequestKey {
                key: key.as_bytes().to_vec(),
                digest: [digest; 32],
            }),
        )?
        .blocking_recv()
        .map_err(|_| AppendError::Closed)?
}

#[test]
fn request_keys_answer_retries_expire_and_are_bounded() {
    const HOUR_US: i64 = 3_600_000_000;
    let t0 = 1_790_000_000_000_000;
    let (dir, store) = fresh(StoreConfig {
        clock: Clock::Simulated,
        request_keys_max: 3,
        request_keys_keep: Duration::from_secs(3600),
        ..small_config()
    });
    let first = keyed(&store, 0, t0, "k1", 1).unwrap();
    assert!(!first[0].replayed);
    keyed(&store, 1, t0, "k2", 1).unwrap();
    keyed(&store, 2, t0, "k3", 1).unwrap();
    assert_eq!(store.size(), 3);

    // A retry is the first answer again, and writes nothing.
    let again = keyed(&store, 0, t0 + 5, "k1", 1).unwrap();
    assert_eq!(
        (again[0].seq, again[0].recorded_at_us),
        (first[0].seq, first[0].recorded_at_us)
    );
    assert!(again[0].replayed);
    assert_eq!(
        keyed(&store, 9, t0 + 5, "k1", 2).unwrap_err(),
        AppendError::KeyReused { first_seq: Some(0) }
    );
    // Full: a new key is refused, nothing written; an unkeyed append goes on.
    assert_eq!(
        keyed(&store, 3, t0 + 5, "k4", 1).unwrap_err(),
        AppendError::KeysFull { max: 3 }
    );
    assert_eq!(store.size(), 3);

    // Kept across a reopen.
    drop(store);
    let store = Store::open(
        dir.path(),
        StoreConfig {
            clock: Clock::Simulated,
            request_keys_max: 3,
            request_keys_keep: Duration::from_secs(3600),
            ..small_config()
        },
    )
    .unwrap();
    assert!(keyed(&store, 0, t0 + 6, "k1", 1).unwrap()[0].replayed);
    assert_eq!(
        keyed(&store, 3, t0 + 6, "k4", 1).unwrap_err(),
        AppendError::KeysFull { max: 3 }
    );

    // Two hours on, the batch that records this prunes the three expired keys...
    let mut later = event(3);
    later.occurred_at_us = t0 + 2 * HOUR_US;
    store.append(vec![later]).unwrap();
    // ...so there is room, and an expired key is a new key.
    assert!(!keyed(&store, 4, t0 + 2 * HOUR_US, "k4", 1).unwrap()[0].replayed);
    let reused = keyed(&store, 5, t0 + 2 * HOUR_US, "k1", 2).unwrap();
    assert!(!reused[0].replayed);
    assert_eq!(reused[0].seq, 5);
    assert_eq!(store.size(), 6);
}

#[test]
fn an_oversized_request_key_is_refused() {
    let (_dir, store) = fresh(small_config());
    let err = store
        .submit_keyed(
            vec![event(0)],
            Some(RequestKey {
                key: vec![b'k'; careledger_store::request_keys::KEY_BYTES_MAX + 1],
                digest: [0; 32],
            }),
        )
        .unwrap_err();
    assert!(matches!(err, AppendError::KeyTooLong { .. }), "{err}");
    assert_eq!(store.size(), 0);
}

/// A stored tree node damaged under a running store (a bad disk, a stray writer): the
/// appender's check of the stored tree after its next batch finds it, nothing of that
/// batch is acknowledged, and later appends are refused, as after a failed write.
#[test]
fn a_stored_tree_node_damaged_under_a_running_store_stops_appends() {
    let (_dir, store) = fresh(small_config());
    for n in 0..8 {
        store.append(vec![event(n)]).unwrap();
    }
    // Event 7's record holds the node over events 0..8 (level 3), which the tree's right
    // edge reads from now on. A stray write flips a byte of it in the events file.
    let (first, at) = keys::chunk_location(store.raw_db(), 7).unwrap().unwrap();
    assert_eq!(first, 7, "event 7 starts its own chunk");
    let path = store.dir().join(careledger_store::EVENTS_FILE);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .read(true)
        .open(&path)
        .unwrap();
    let mut frame = vec![0u8; at.len as usize];
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut frame, at.offset).unwrap();
    let body = &frame[events_log::FRAME_HEAD..frame.len() - events_log::FRAME_CHECK];
    let chunk = keys::Chunk::parse(7, body).unwrap();
    let range = chunk.record_range(7).unwrap();
    let record = keys::split_record(&body[range.clone()]).unwrap();
    assert_eq!(record.nodes.len(), 4, "leaf 7 completes levels 0 to 3");
    let offset = events_log::FRAME_HEAD + range.start + 4 + record.envelope.len() + 1 + 32 * 3;
    std::os::unix::fs::FileExt::write_all_at(
        &file,
        &[frame[offset] ^ 0xff],
        at.offset + offset as u64,
    )
    .unwrap();

    let err = store.append(vec![event(8)]).unwrap_err();
    assert!(
        matches!(&err, AppendError::WriteFailed(reason) if reason.contains("stored tree")),
        "{err}"
    );
    assert_eq!(store.size(), 8, "nothing of the batch was acknowledged");
    assert!(matches!(
        store.append(vec![event(9)]).unwrap_err(),
        AppendError::WriteFailed(_)
    ));
}

/// Request keys are in the events file too: a sled rebuilt from it answers a retry of a
/// key still kept, and does not bring back one that had expired.
#[test]
fn request_keys_survive_a_rebuild_of_sled_and_expired_ones_stay_gone() {
    const HOUR_US: i64 = 3_600_000_000;
    let t0 = 1_790_000_000_000_000;
    let config = || StoreConfig {
        clock: Clock::Simulated,
        request_keys_keep: Duration::from_secs(3600),
        ..small_config()
    };
    let (dir, store) = fresh(config());
    let old = keyed(&store, 0, t0, "old", 1).unwrap();
    let recent = keyed(&store, 1, t0 + 2 * HOUR_US, "recent", 1).unwrap();
    drop(store);
    std::fs::remove_dir_all(dir.path().join(careledger_store::SLED_DIR)).unwrap();
    let store = Store::open(dir.path(), config()).unwrap();
    let again = keyed(&store, 1, t0 + 2 * HOUR_US + 5, "recent", 1).unwrap();
    assert!(again[0].replayed);
    assert_eq!(again[0].seq, recent[0].seq);
    // Expired two hours before the latest event: the same key is new again.
    let fresh_again = keyed(&store, 0, t0 + 2 * HOUR_US + 6, "old", 1).unwrap();
    assert!(!fresh_again[0].replayed);
    assert_ne!(fresh_again[0].seq, old[0].seq);
}
