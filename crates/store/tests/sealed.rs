//! Encryption at rest: a sealed ledger keeps no payload, and no projection value, in clear
//! in any file of its folder or its backups; reads, verification, replay, replicas and
//! backups see the payloads as written; the master key is needed, checked, and can be
//! changed; a sealed payload altered on disk is caught and named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use careledger_log::envelope::Envelope;
use careledger_store::projection::{Projection, ProjectionHandle, Refusal};
use careledger_store::{
    backup, keys, tamper, MasterKey, NewEvent, Store, StoreConfig, StoreError, DATA_KEYS_FILE,
};

/// Unique text, so that a search of the folder's bytes finds only what this test wrote.
const NAME: &str = "Philippa Quennell-Ashdown";
const NOTE: &str = "prefers the blue mug, tea with two sugars";

fn event(n: u64, subject: &str, text: &str) -> NewEvent {
    NewEvent {
        actor: "staff:s1".into(),
        subject: Some(subject.into()),
        kind: if n % 4 == 3 {
            "access.read".into()
        } else {
            "visit.completed".into()
        },
        occurred_at_us: 1_790_000_000_000_000 + n as i64,
        payload: format!("{{\"n\":{n},\"text\":\"{text}\"}}").into_bytes(),
    }
}

fn config(master: &Arc<MasterKey>) -> StoreConfig {
    StoreConfig {
        checkpoint_every_events: 16,
        checkpoint_every: Duration::from_secs(3600),
        projection_persist_every_events: 8,
        master_key: Some(master.clone()),
        organisation_key_kinds: vec!["access.read".into()],
        ..StoreConfig::default()
    }
}

/// Keeps each subject's latest payload as a pair: projection values that hold what the
/// payloads hold, as the care projections do.
#[derive(Default)]
struct Latest {
    pairs: BTreeMap<Vec<u8>, Vec<u8>>,
    changed: Vec<Vec<u8>>,
}

impl Projection for Latest {
    fn begin(&mut self) {}
    fn apply(&mut self, envelope: &Envelope, payload: &[u8]) -> Result<(), Refusal> {
        self.replay(envelope, Some(payload)).unwrap();
        Ok(())
    }
    fn commit(&mut self) {}
    fn rollback(&mut self) {}
    fn replay(&mut self, envelope: &Envelope, payload: Option<&[u8]>) -> Result<(), String> {
        let key = envelope.subject.clone().unwrap_or_default().into_bytes();
        self.pairs
            .insert(key.clone(), payload.unwrap_or(b"").to_vec());
        self.changed.push(key);
        Ok(())
    }
    fn take_changes(&mut self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let changed = std::mem::take(&mut self.changed);
        changed
            .into_iter()
            .map(|k| {
                let v = self.pairs.get(&k).cloned();
                (k, v)
            })
            .collect()
    }
    fn clear(&mut self) {
        self.pairs.clear();
        self.changed.clear();
    }
    fn load(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        self.pairs.insert(key.to_vec(), value.to_vec());
        Ok(())
    }
}

fn latest() -> ProjectionHandle {
    Arc::new(RwLock::new(Latest::default()))
}

fn files_under(path: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(path).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The files under `path` whose bytes hold `needle`.
fn holding(path: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if path.is_dir() {
        files_under(path, &mut files);
    } else {
        files.push(path.to_path_buf());
    }
    files
        .into_iter()
        .filter(|f| {
            std::fs::read(f)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle)
        })
        .collect()
}

/// A sealed ledger of `n` events about five people, with the projection, closed.
fn sealed_ledger(dir: &Path, master: &Arc<MasterKey>, n: u64) {
    Store::init_sealed(dir, "care.example/ledger", master).unwrap();
    let store = Store::open_with_projection(dir, config(master), latest()).unwrap();
    for i in 0..n {
        let text = if i == 5 {
            format!("{NAME}: {NOTE}")
        } else {
            format!("visit {i}")
        };
        store
            .append(vec![event(i, &format!("person:p{}", i % 5), &text)])
            .unwrap();
    }
    store.checkpoint_now().unwrap();
}

#[test]
fn no_file_of_a_sealed_ledger_or_its_backup_holds_a_payload_in_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let master = Arc::new(MasterKey::generate().unwrap());
    sealed_ledger(&dir, &master, 40);
    // The search finds the text when it is there: in a plain ledger.
    let plain = tmp.path().join("plain");
    Store::init(&plain, "care.example/plain").unwrap();
    {
        let store = Store::open_with_projection(&plain, StoreConfig::default(), latest()).unwrap();
        store
            .append(vec![event(0, "person:p0", &format!("{NAME}: {NOTE}"))])
            .unwrap();
    }
    assert!(!holding(&plain, NAME.as_bytes()).is_empty());

    for needle in [NAME, NOTE, "visit 17"] {
        assert_eq!(
            holding(&dir, needle.as_bytes()),
            Vec::<PathBuf>::new(),
            "{needle}"
        );
    }
    let out = tmp.path().join("full.backup");
    let info = backup::backup(&dir, &out, None, &[]).unwrap();
    assert!(info.sections.iter().any(|s| s.name == DATA_KEYS_FILE));
    // Every file holding the name is the plain ledger's.
    let found = holding(tmp.path(), NAME.as_bytes());
    assert!(
        !found.is_empty() && found.iter().all(|f| f.starts_with(&plain)),
        "{found:?}"
    );
    assert!(holding(&out, NAME.as_bytes()).is_empty());

    // And a restore of the backup reads every payload again, with the master key.
    let restored = tmp.path().join("restored");
    backup::restore(std::slice::from_ref(&out), &restored).unwrap();
    let store = Store::open_with_projection(&restored, config(&master), latest()).unwrap();
    let text = String::from_utf8(store.get(5).unwrap().payload.unwrap().1).unwrap();
    assert!(text.contains(NOTE), "{text}");
}

#[test]
fn reads_replay_and_verification_see_the_payloads_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let master = Arc::new(MasterKey::generate().unwrap());
    sealed_ledger(&dir, &master, 40);
    let store = Store::open_with_projection(&dir, config(&master), latest()).unwrap();
    for (seq, stored) in store.range(0, 100).unwrap().into_iter().enumerate() {
        let (salt, payload) = stored.payload.unwrap();
        stored.envelope.check_payload(&salt, &payload).unwrap();
        assert!(String::from_utf8(payload)
            .unwrap()
            .starts_with(&format!("{{\"n\":{seq},")));
    }
    let about: Vec<u64> = store
        .by_subject("person:p0", 0, 100)
        .unwrap()
        .iter()
        .map(|e| e.envelope.seq)
        .collect();
    assert_eq!(about, (0..40).step_by(5).collect::<Vec<_>>());
    // The projection's pairs open to the payloads they hold.
    let pairs = store.projection_pairs().unwrap();
    let p0 = pairs.iter().find(|(k, _)| k == b"person:p0").unwrap();
    assert!(String::from_utf8_lossy(&p0.1).contains("visit 35"));
    drop(store);

    // Verification with the master key opens and checks every payload; without it,
    // everything but the payloads.
    let report = Store::verify_dir_at(&dir, Some(&master), &[], |_, _| {}).unwrap();
    assert_eq!((report.payloads_checked, report.payloads_unread), (40, 0));
    let report = Store::verify_dir(&dir, |_, _| {}).unwrap();
    assert_eq!((report.payloads_checked, report.payloads_unread), (0, 40));

    // Rebuilt from the events file alone, the projection is the same.
    Store::drop_projections(&dir).unwrap();
    let store = Store::open_with_projection(&dir, config(&master), latest()).unwrap();
    assert_eq!(store.projection_replayed(), 40);
    assert_eq!(store.projection_pairs().unwrap(), pairs);
    drop(store);
    Store::verify_derived_dir(&dir, Some(&master), &latest()).unwrap();
}

#[test]
fn access_events_are_sealed_with_the_organisation_key_and_care_events_with_the_persons() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let master = Arc::new(MasterKey::generate().unwrap());
    sealed_ledger(&dir, &master, 8);
    let frames = tamper::read_frames(&dir).unwrap();
    for seq in 0..8u64 {
        let (i, range) = tamper::record_of(&frames, seq).unwrap();
        let record = keys::split_record(&frames[i].body[range])
            .unwrap()
            .tail
            .to_vec();
        let expected = if seq % 4 == 3 { 1 } else { 2 };
        assert_eq!(record[0], expected, "event {seq}");
    }
}

#[test]
fn the_master_key_is_needed_checked_and_can_be_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let master = Arc::new(MasterKey::generate().unwrap());
    sealed_ledger(&dir, &master, 10);

    let none = StoreConfig {
        master_key: None,
        ..config(&master)
    };
    let err = Store::open(&dir, none).map(|_| ()).unwrap_err();
    assert!(
        matches!(&err, StoreError::MasterKey(m) if m.contains("encrypted at rest") && m.contains("--master-key")),
        "{err}"
    );
    let other = Arc::new(MasterKey::generate().unwrap());
    let err = Store::open(&dir, config(&other)).map(|_| ()).unwrap_err();
    assert!(
        matches!(&err, StoreError::MasterKey(m) if m.contains(master.id()) && m.contains(other.id())),
        "{err}"
    );

    // A master key file: written once, read back, never overwritten.
    let key_file = tmp.path().join("ledger.master-key");
    master.write_file(&key_file).unwrap();
    assert_eq!(MasterKey::read_file(&key_file).unwrap().id(), master.id());
    assert!(master.write_file(&key_file).is_err());
    let err = MasterKey::read_file(&dir.join(DATA_KEYS_FILE)).unwrap_err();
    assert!(
        err.to_string().contains("not a careledger master key"),
        "{err}"
    );

    // Rotation: the new key opens the ledger, the old one no longer does.
    let new = Arc::new(MasterKey::generate().unwrap());
    let keys = Store::rotate_master_key(&dir, &master, &new).unwrap();
    assert_eq!(keys, 2 + 5, "organisation, derived state and five people");
    assert!(Store::open(&dir, config(&master)).is_err());
    let store = Store::open_with_projection(&dir, config(&new), latest()).unwrap();
    assert!(String::from_utf8(store.get(9).unwrap().payload.unwrap().1)
        .unwrap()
        .contains("visit 9"));
    // A rotation with the wrong old key changes nothing.
    drop(store);
    assert!(Store::rotate_master_key(&dir, &master, &other).is_err());
    Store::open(&dir, config(&new)).unwrap();
}

#[test]
fn a_sealed_payload_altered_on_disk_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let master = Arc::new(MasterKey::generate().unwrap());
    sealed_ledger(&dir, &master, 10);
    tamper::alter_record(&dir, 6, |record| {
        let last = record.len() - 1;
        record[last] ^= 1;
    })
    .unwrap();
    let err = Store::verify_dir_at(&dir, Some(&master), &[], |_, _| {}).unwrap_err();
    assert!(
        err.to_string().contains("event 6") && err.to_string().contains("altered"),
        "{err}"
    );
}

#[test]
fn a_torn_last_key_record_is_cut_off_by_the_next_write() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let master = Arc::new(MasterKey::generate().unwrap());
    sealed_ledger(&dir, &master, 5);
    let path = dir.join(DATA_KEYS_FILE);
    let whole = std::fs::read(&path).unwrap();
    // A crash while a new key's record was being written.
    let mut torn = whole.clone();
    torn.extend_from_slice(&[90, 0, 0, 0, 2, 7]);
    std::fs::write(&path, &torn).unwrap();
    let store = Store::open(&dir, config(&master)).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        torn,
        "opening changes nothing"
    );
    store
        .append(vec![event(5, "person:new", "first visit")])
        .unwrap();
    drop(store);
    let after = std::fs::read(&path).unwrap();
    assert!(after.starts_with(&whole) && after.len() > whole.len() && after[whole.len()] != 90);
    let store = Store::open(&dir, config(&master)).unwrap();
    assert!(String::from_utf8(store.get(5).unwrap().payload.unwrap().1)
        .unwrap()
        .contains("first visit"));
    drop(store);
    // A bad record with whole ones after it is damage, not a torn write: refused, naming
    // the way out, and nothing is cut.
    let mut damaged = std::fs::read(&path).unwrap();
    let first_record = damaged.iter().position(|&b| b == b'\n').unwrap() + 1;
    damaged[first_record + 10] ^= 1;
    std::fs::write(&path, &damaged).unwrap();
    let err = Store::open(&dir, config(&master)).map(|_| ()).unwrap_err();
    assert!(
        err.to_string().contains("damaged") && err.to_string().contains("backup"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), damaged);
}

#[test]
fn a_replica_of_a_sealed_ledger_takes_its_keys_with_its_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("primary");
    let master = Arc::new(MasterKey::generate().unwrap());
    sealed_ledger(&dir, &master, 30);
    let primary = Store::open(&dir, config(&master)).unwrap();
    let header = {
        let slice = primary.log_slice(0, 0, 1).unwrap();
        let first = careledger_store::events_log::parse_frames(&slice.bytes, 0).unwrap();
        slice.bytes[..first[0].len as usize].to_vec()
    };
    let rdir = tmp.path().join("replica");
    let err = Store::init_replica(&rdir, "http://primary.test", &header, None, None).unwrap_err();
    assert!(matches!(err, StoreError::MasterKey(_)), "{err}");
    Store::init_replica(&rdir, "http://primary.test", &header, None, Some(&master)).unwrap();
    let replica = Store::open_with_projection(&rdir, config(&master), latest()).unwrap();
    // Frames without their keys are refused, nothing written.
    let slice = primary
        .log_slice(replica.durable_bytes(), replica.size(), 4096)
        .unwrap();
    assert!(!slice.data_keys.is_empty());
    assert!(replica
        .replicate(slice.bytes.clone(), slice.checkpoint.clone().unwrap())
        .is_err());
    assert_eq!(replica.size(), 0);
    drop(replica);
    let replica = Store::open_with_projection(&rdir, config(&master), latest()).unwrap();
    loop {
        let slice = primary
            .log_slice(replica.durable_bytes(), replica.size(), 2048)
            .unwrap();
        if slice.bytes.is_empty() {
            break;
        }
        replica.take_data_keys(&slice.data_keys).unwrap();
        replica
            .replicate(slice.bytes, slice.checkpoint.unwrap())
            .unwrap();
    }
    assert_eq!(replica.size(), 30);
    for seq in 0..30 {
        assert_eq!(replica.get(seq).unwrap(), primary.get(seq).unwrap());
    }
    drop(replica);
    let report = Store::verify_dir_at(&rdir, Some(&master), &[], |_, _| {}).unwrap();
    assert_eq!(report.payloads_checked, 30);
    assert_eq!(holding(&rdir, NAME.as_bytes()), Vec::<PathBuf>::new());
}

/// src/seal.rs (HChaCha20 and ring's ChaCha20-Poly1305) seals exactly as the reference
/// XChaCha20-Poly1305 of the `chacha20poly1305` crate, and each opens the other's.
#[test]
fn sealing_is_the_reference_xchacha20_poly1305() {
    use careledger_store::seal;
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    for len in [0usize, 1, 15, 16, 17, 63, 64, 65, 250, 1000, 4096, 65_600] {
        let key = seal::Key::generate().unwrap();
        let nonce = seal::nonce().unwrap();
        let plaintext: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
        let aad = format!("careledger payload v1 {len}").into_bytes();
        let mut ours = Vec::new();
        seal::seal_into(&key, &nonce, &aad, &plaintext, &mut ours);
        let reference = chacha20poly1305::XChaCha20Poly1305::new(key.as_bytes().into());
        let theirs = reference
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: &plaintext,
                    aad: &aad,
                },
            )
            .unwrap();
        assert_eq!(ours, theirs, "{len} bytes");
        assert_eq!(
            seal::open(&key, &nonce, &aad, &theirs).unwrap().as_slice(),
            plaintext
        );
    }
}

/// A write or sync of `data.keys` that fails (EIO, a half-done write, a full disk), for
/// the key of a person's first event: that event is not acknowledged, nothing after it is
/// taken until the store is reopened, and the reopened ledger holds every acknowledged
/// event, readable, takes the person's event again, and verifies.
#[test]
fn a_failed_write_or_sync_of_the_data_keys_loses_no_acknowledged_event() {
    use careledger_store::fault::{Fault, Faults, Step};
    use careledger_store::AppendError;
    for step in [Step::KeysWrite, Step::KeysSync] {
        for fault in [Fault::Io, Fault::Partial, Fault::NoSpace] {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("ledger");
            let master = Arc::new(MasterKey::generate().unwrap());
            sealed_ledger(&dir, &master, 10);
            let faults = Arc::new(Faults::default());
            let with_faults = StoreConfig {
                faults: Some(faults.clone()),
                ..config(&master)
            };
            let store = Store::open_with_projection(&dir, with_faults, latest()).unwrap();
            // Known people need no new key: no write of data.keys at all.
            store
                .append(vec![event(10, "person:p1", "visit 10")])
                .unwrap();
            assert_eq!(faults.calls(Step::KeysWrite), 0, "{step:?} {fault:?}");
            faults.fail(step, 0, fault);
            // (Event 11 would be an access event, sealed with the organisation's key.)
            let Err(err) = store.append(vec![event(13, "person:newcomer", "first visit")]) else {
                panic!("{step:?} {fault:?}: the newcomer's event was taken");
            };
            assert!(
                matches!(err, AppendError::WriteFailed(_)),
                "{step:?} {fault:?}: {err}"
            );
            let err = store
                .append(vec![event(14, "person:p2", "later")])
                .unwrap_err();
            assert!(matches!(err, AppendError::WriteFailed(_)), "{err}");
            drop(store);

            let store = Store::open_with_projection(&dir, config(&master), latest()).unwrap();
            assert_eq!(store.size(), 11, "{step:?} {fault:?}");
            for seq in 0..11 {
                assert!(store.get(seq).unwrap().payload.is_some());
            }
            let receipts = store
                .append(vec![event(13, "person:newcomer", "first visit")])
                .unwrap();
            assert_eq!(receipts[0].seq, 11);
            drop(store);
            let store = Store::open(&dir, config(&master)).unwrap();
            assert!(String::from_utf8(store.get(11).unwrap().payload.unwrap().1)
                .unwrap()
                .contains("first visit"));
            drop(store);
            let report = Store::verify_dir_at(&dir, Some(&master), &[], |_, _| {}).unwrap();
            assert_eq!(report.payloads_checked, 12, "{step:?} {fault:?}");
        }
    }
}
