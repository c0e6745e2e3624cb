//! Regressions found in review of the events file's recovery: each of these once lost an
//! acknowledged event, changed a ledger it then refused, accepted a damaged one, or
//! refused a good one.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use careledger_store::fault::{Fault, Faults, Step};
use careledger_store::{AppendError, NewEvent, RequestKey, Store, StoreConfig, EVENTS_FILE};

fn event(n: u64) -> NewEvent {
    NewEvent {
        actor: "staff:s1".into(),
        subject: Some(format!("person:p{n}")),
        kind: "visit.completed".into(),
        occurred_at_us: 1_790_000_000_000_000 + n as i64,
        payload: format!("{{\"n\":{n},\"pad\":\"{}\"}}", "x".repeat(200)).into_bytes(),
    }
}

fn config(faults: Option<Arc<Faults>>) -> StoreConfig {
    StoreConfig {
        checkpoint_every_events: 1_000_000,
        checkpoint_every: Duration::from_secs(3600),
        free_bytes_min: 0,
        free_bytes_reserve: 0,
        faults,
        ..StoreConfig::default()
    }
}

fn keyed(
    store: &Store,
    e: NewEvent,
    key: &str,
) -> Result<Vec<careledger_store::Receipt>, AppendError> {
    store
        .submit_keyed(
            vec![e],
            Some(RequestKey {
                key: key.as_bytes().to_vec(),
                digest: [7; 32],
            }),
        )?
        .blocking_recv()
        .map_err(|_| AppendError::Closed)?
}

fn ledger() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    Store::init(dir.path(), "test.careledger/recovery").unwrap();
    dir
}

/// Flips one byte `back` bytes from the end of the events file; returns its bytes.
fn flip_from_end(dir: &std::path::Path, back: usize) -> Vec<u8> {
    let path = dir.join(EVENTS_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - back;
    bytes[at] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    bytes
}

/// A key's frame once came before the chunk of the events it answers: a write cut short
/// kept the key and lost the events, and a retry was answered with an event that was not
/// there, whose number then went to another event.
#[test]
fn a_write_cut_short_never_keeps_a_key_without_its_events() {
    let dir = ledger();
    let faults = Arc::new(Faults::default());
    faults.fail(Step::LogWrite, 0, Fault::NoSpace);
    {
        let store = Store::open(dir.path(), config(Some(faults))).unwrap();
        assert!(matches!(
            keyed(&store, event(1), "retry-me"),
            Err(AppendError::WriteFailed(_))
        ));
    }
    let store = Store::open(dir.path(), config(None)).unwrap();
    assert_eq!(store.size(), 0);
    let retry = keyed(&store, event(1), "retry-me").unwrap();
    assert!(
        !retry[0].replayed,
        "nothing of the first try is in the ledger"
    );
    store.append(vec![event(2)]).unwrap();
    let stored = store.get(retry[0].seq).unwrap();
    assert_eq!(stored.payload.map(|(_, p)| p), Some(event(1).payload));
}

/// A file that a power cut left ending in zeros (it grew, its last blocks were never
/// written) opens, and verifies, as a ledger with a torn end.
#[test]
fn a_zeroed_end_opens_and_verifies_alike() {
    let dir = ledger();
    {
        let s = Store::open(dir.path(), config(None)).unwrap();
        s.append(vec![event(1), event(2)]).unwrap();
        s.checkpoint_now().unwrap();
    }
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join(EVENTS_FILE))
        .unwrap()
        .write_all(&[0u8; 4096])
        .unwrap();
    let report = Store::verify_dir(dir.path(), |_, _| {}).unwrap();
    assert_eq!((report.events, report.torn_bytes), (2, 4096));
    let store = Store::open(dir.path(), config(None)).unwrap();
    assert_eq!((store.size(), store.torn_bytes_removed()), (2, 4096));
}

/// Export once read past what its sync covered, handing out an event not yet durable.
#[test]
fn export_hands_out_only_durable_events() {
    let dir = ledger();
    let faults = Arc::new(Faults::default());
    faults.fail(Step::LogSync, 1, Fault::Hang);
    let store = Store::open(dir.path(), config(Some(faults))).unwrap();
    store.append(vec![event(0)]).unwrap();
    let len0 = std::fs::metadata(dir.path().join(EVENTS_FILE))
        .unwrap()
        .len();
    let mut pending = None;
    let n = Store::each_record_in(dir.path(), None, |seq, _, _| {
        if seq == 0 {
            pending = Some(store.submit(vec![event(1)]).unwrap());
            while std::fs::metadata(dir.path().join(EVENTS_FILE))
                .unwrap()
                .len()
                == len0
            {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        Ok(())
    })
    .unwrap();
    assert!(n <= store.size(), "exported {n}, durable {}", store.size());
    // The syncer hangs for the test's lifetime: leave the store to it.
    std::mem::forget(pending);
    std::mem::forget(store);
}

/// A damaged last frame (here the checkpoint) was once cut off as a torn end: a signed
/// checkpoint erased, and the open went on.
#[test]
fn damage_in_the_last_frame_is_refused_not_cut_off() {
    let dir = ledger();
    {
        let s = Store::open(dir.path(), config(None)).unwrap();
        s.append(vec![event(1), event(2)]).unwrap();
        s.checkpoint_now().unwrap();
    }
    let before = flip_from_end(dir.path(), 20);
    std::fs::remove_dir_all(dir.path().join("sled")).unwrap();
    let err = Store::open(dir.path(), config(None)).err().unwrap();
    assert!(err.to_string().contains("is damaged"), "{err}");
    assert_eq!(std::fs::read(dir.path().join(EVENTS_FILE)).unwrap(), before);
}

/// A refused open once had already cut the file (and removed sled) before refusing.
#[test]
fn a_refused_open_changes_nothing() {
    let dir = ledger();
    {
        let s = Store::open(dir.path(), config(None)).unwrap();
        s.append(vec![event(1), event(2)]).unwrap();
    }
    let before = flip_from_end(dir.path(), 40);
    let logged = || {
        let db = sled::open(dir.path().join("sled")).unwrap();
        db.get(careledger_store::keys::LOGGED)
            .unwrap()
            .map(|v| v.to_vec())
    };
    let logged_before = logged();
    assert!(logged_before.is_some());
    let err = Store::open(dir.path(), config(None)).err().unwrap();
    assert!(err.to_string().contains("is damaged"), "{err}");
    assert_eq!(std::fs::read(dir.path().join(EVENTS_FILE)).unwrap(), before);
    // sled (which rewrites its own files whenever it is opened) was not removed or reset.
    assert_eq!(logged(), logged_before);
}

/// Without a clean close since (no mark), damage in the last chunk once opened as a
/// ledger without those events.
#[test]
fn damage_in_the_last_chunk_after_a_crash_is_refused() {
    let dir = ledger();
    {
        let s = Store::open(dir.path(), config(None)).unwrap();
        s.append(vec![event(1), event(2)]).unwrap();
    }
    std::fs::remove_file(dir.path().join(careledger_store::MARK_FILE)).unwrap();
    flip_from_end(dir.path(), 40);
    let err = Store::open(dir.path(), config(None)).err().unwrap();
    assert!(err.to_string().contains("is damaged"), "{err}");
}

/// The durable mark moves up at each signed checkpoint, not only at a clean close: an
/// events file cut short after a crash is caught too.
#[test]
fn a_file_cut_short_after_a_crash_is_refused_once_a_checkpoint_was_signed() {
    let dir = ledger();
    let store = Store::open(dir.path(), config(None)).unwrap();
    store.append(vec![event(1), event(2)]).unwrap();
    store.checkpoint_now().unwrap();
    store.append(vec![event(3)]).unwrap();
    // A crash: nothing of the close runs.
    std::mem::forget(store);
    let mark = std::fs::read_to_string(dir.path().join(careledger_store::MARK_FILE)).unwrap();
    assert!(mark.contains("size 2\n"), "{mark}");
    // Cut back to before the checkpoint: a valid-looking ledger of one event.
    let frames = careledger_store::tamper::read_frames(dir.path()).unwrap();
    let header_and_first_chunk: usize = frames[..2]
        .iter()
        .map(|f| {
            careledger_store::events_log::FRAME_HEAD
                + f.body.len()
                + careledger_store::events_log::FRAME_CHECK
        })
        .sum();
    let copy = tempfile::tempdir().unwrap();
    careledger_store::tamper::copy_dir(dir.path(), copy.path()).unwrap();
    std::fs::remove_file(copy.path().join(careledger_store::LOCK_FILE)).unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(copy.path().join(EVENTS_FILE))
        .unwrap();
    f.set_len(header_and_first_chunk as u64 - 1).unwrap();
    let err = Store::open(copy.path(), config(None)).err().unwrap();
    assert!(err.to_string().contains("is damaged"), "{err}");
}
