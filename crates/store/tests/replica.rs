//! Replicas through the store's API: a primary's frames taken byte for byte, every check
//! a replica makes before it writes (a fork, damage in transit, another ledger's frames),
//! restarts and faults on the replica's side, and promotion.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use careledger_log::NoteSigner;
use careledger_store::fault::{Fault, Faults, Step};
use careledger_store::replica::{ReplicateError, REPLICA_FILE};
use careledger_store::{
    AppendError, NewEvent, RequestKey, Store, StoreConfig, StoreError, EVENTS_FILE, KEY_FILE,
};

fn event(tag: &str, n: u64) -> NewEvent {
    NewEvent {
        actor: format!("staff:s{}", n % 3),
        subject: Some(format!("person:p{}", n % 5)),
        kind: "visit.completed".into(),
        occurred_at_us: 1_790_000_000_000_000 + n as i64,
        payload: format!("{{\"tag\":\"{tag}\",\"n\":{n}}}").into_bytes(),
    }
}

fn config() -> StoreConfig {
    StoreConfig {
        checkpoint_every_events: 50,
        checkpoint_every: Duration::from_secs(3600),
        ..StoreConfig::default()
    }
}

fn header(primary: &Store) -> Vec<u8> {
    let slice = primary.log_slice(0, 0, 1).unwrap();
    let first = careledger_store::events_log::parse_frames(&slice.bytes, 0).unwrap();
    slice.bytes[..first[0].len as usize].to_vec()
}

/// A new replica of `primary` in `dir`, opened.
fn replica_of(primary: &Store, dir: &Path, faults: Option<Arc<Faults>>) -> Store {
    Store::init_replica(dir, "http://primary.test", &header(primary), None, None).unwrap();
    Store::open(dir, StoreConfig { faults, ..config() }).unwrap()
}

/// Hands the replica everything the primary has made durable, `max` bytes at a time.
fn follow(primary: &Store, replica: &Store, max: usize) -> Result<u64, ReplicateError> {
    let mut slices = 0;
    loop {
        let slice = primary
            .log_slice(replica.durable_bytes(), replica.size(), max)
            .unwrap();
        if slice.bytes.is_empty() {
            return Ok(slices);
        }
        let done = replica.replicate(slice.bytes, slice.checkpoint.unwrap())?;
        assert_eq!(done.log_end, slice.end);
        slices += 1;
    }
}

fn file_bytes(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join(EVENTS_FILE)).unwrap()
}

#[test]
fn a_replica_holds_its_primarys_events_file_byte_for_byte_and_refuses_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let (pdir, rdir) = (tmp.path().join("primary"), tmp.path().join("replica"));
    Store::init(&pdir, "test.careledger/replica").unwrap();
    let primary = Store::open(&pdir, config()).unwrap();
    let replica = replica_of(&primary, &rdir, None);
    assert_eq!(replica.primary(), Some("http://primary.test"));
    assert_eq!(replica.verifier(), primary.verifier());
    for round in 0..5u64 {
        // Keyed requests too: their frames come across with the events they answer.
        let key = RequestKey {
            key: format!("k{round}").into_bytes(),
            digest: [round as u8; 32],
        };
        primary
            .submit_keyed(
                (0..37).map(|n| event("a", round * 100 + n)).collect(),
                Some(key),
            )
            .unwrap()
            .blocking_recv()
            .unwrap()
            .unwrap();
        primary.append(vec![event("a", round)]).unwrap();
        // Refused first (a checkpoint for another tree): the request keys its frames
        // staged are forgotten, as the check at the end shows.
        let slice = primary
            .log_slice(replica.durable_bytes(), replica.size(), 1 << 20)
            .unwrap();
        let stale = replica.latest_checkpoint().unwrap().unwrap_or_default();
        assert!(replica.replicate(slice.bytes, stale).is_err());
        // Small slices: a slice is whole frames, however small the limit.
        follow(&primary, &replica, 1 + round as usize * 3000).unwrap();
        assert_eq!(replica.size(), primary.size());
        assert_eq!(
            replica.root_at(replica.size()).unwrap(),
            primary.root_at(primary.size()).unwrap()
        );
    }
    assert_eq!(file_bytes(&rdir), file_bytes(&pdir));
    // One request key a round, counted once though each round's first try was refused.
    let count = replica
        .raw_db()
        .get(careledger_store::keys::REQUEST_KEYS)
        .unwrap()
        .map(|v| u64::from_le_bytes(v.as_ref().try_into().unwrap()));
    assert_eq!(count, Some(5));
    // A replica signs nothing, so it serves no replicas of its own.
    assert_eq!(replica.log_slice(0, 0, 1).unwrap().checkpoint, None);
    assert_eq!(
        replica.latest_checkpoint().unwrap(),
        primary.latest_checkpoint().unwrap()
    );
    // Reads by subject see replicated events (the index is fed like the primary's).
    let mine = replica.by_subject("person:p3", 0, 1000).unwrap();
    let theirs = primary.by_subject("person:p3", 0, 1000).unwrap();
    assert_eq!(mine.len(), theirs.len());
    assert!(!mine.is_empty());
    // A replica writes nothing of its own.
    let refused = replica.append(vec![event("r", 0)]).unwrap_err();
    assert!(
        matches!(&refused, AppendError::Replica { primary } if primary == "http://primary.test"),
        "{refused:?}"
    );
    assert!(matches!(
        replica.checkpoint_now(),
        Err(AppendError::Replica { .. })
    ));
    // A primary takes no frames.
    assert!(matches!(
        primary.replicate(header(&primary), String::new()),
        Err(ReplicateError::Invalid(_))
    ));
    drop(primary);
    // Reopened, it is still a replica, with everything, and verifies.
    drop(replica);
    let replica = Store::open(&rdir, config()).unwrap();
    assert_eq!(replica.primary(), Some("http://primary.test"));
    assert_eq!(replica.size(), 5 * 38);
    drop(replica);
    let report = Store::verify_dir(&rdir, |_, _| {}).unwrap();
    assert_eq!(report.events, 5 * 38);

    // A backup taken from a replica holds no key and restores to a replica.
    let backup = tmp.path().join("replica.backup");
    let info = careledger_store::backup::backup(&rdir, &backup, None, &[]).unwrap();
    let restored = tmp.path().join("restored");
    careledger_store::backup::restore(std::slice::from_ref(&backup), &restored).unwrap();
    assert!(!restored.join(KEY_FILE).exists());
    let back = Store::open(&restored, config()).unwrap();
    assert_eq!(back.primary(), Some("http://primary.test"));
    assert_eq!(back.size(), info.events);
}

#[test]
fn frames_that_do_not_continue_the_replicas_history_are_a_fork_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, rdir) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("replica"),
    );
    Store::init(&a, "test.careledger/fork").unwrap();
    {
        let store = Store::open(&a, config()).unwrap();
        store
            .append((0..60).map(|n| event("shared", n)).collect())
            .unwrap();
    }
    // The same ledger twice (as a primary restored from a backup beside the old one
    // would be), then each given a different history.
    careledger_store::tamper::copy_dir(&a, &b).unwrap();
    let a = Store::open(&a, config()).unwrap();
    let b = Store::open(&b, config()).unwrap();
    a.append((0..70).map(|n| event("a", n)).collect()).unwrap();
    b.append((0..70).map(|n| event("b", n)).collect()).unwrap();
    a.checkpoint_now().unwrap();
    b.checkpoint_now().unwrap();
    let replica = replica_of(&a, &rdir, None);
    follow(&a, &replica, 1 << 20).unwrap();
    let before = file_bytes(&rdir);
    let size = replica.size();
    // B goes on: its frames after the replica's end are whole, numbered as the next
    // events and signed with the same key, but their tree nodes and checkpoint cover
    // B's 70 events where the replica holds A's.
    b.append((0..10).map(|n| event("b2", n)).collect()).unwrap();
    b.checkpoint_now().unwrap();
    let theirs = b
        .log_slice(replica.durable_bytes(), replica.size(), 1 << 20)
        .unwrap();
    assert!(!theirs.bytes.is_empty());
    let err = replica
        .replicate(theirs.bytes.clone(), theirs.checkpoint.clone().unwrap())
        .unwrap_err();
    assert!(matches!(err, ReplicateError::Fork(_)), "{err:?}");
    // Frames that start at another event than the replica's next one.
    let early = a.log_slice(header(&a).len() as u64, 0, 1 << 20).unwrap();
    let err = replica
        .replicate(early.bytes, early.checkpoint.unwrap())
        .unwrap_err();
    assert!(
        matches!(&err, ReplicateError::Fork(r) if r.contains("where this replica's next event is 130")),
        "{err:?}"
    );
    // Nothing of them was written, and the replica goes on following its own primary.
    assert_eq!(file_bytes(&rdir), before);
    assert_eq!(replica.size(), size);
    a.append(vec![event("a", 999)]).unwrap();
    follow(&a, &replica, 1 << 20).unwrap();
    assert_eq!(replica.size(), a.size());
}

#[test]
fn damaged_or_foreign_frames_are_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let (pdir, other, rdir) = (
        tmp.path().join("primary"),
        tmp.path().join("other"),
        tmp.path().join("replica"),
    );
    Store::init(&pdir, "test.careledger/damage").unwrap();
    Store::init(&other, "test.careledger/damage").unwrap();
    let primary = Store::open(&pdir, config()).unwrap();
    let other = Store::open(&other, config()).unwrap();
    primary
        .append((0..120).map(|n| event("p", n)).collect())
        .unwrap();
    other
        .append((0..120).map(|n| event("p", n)).collect())
        .unwrap();
    primary.checkpoint_now().unwrap();
    other.checkpoint_now().unwrap();
    let replica = replica_of(&primary, &rdir, None);
    let from = replica.durable_bytes();
    let good_slice = primary.log_slice(from, 0, 1 << 20).unwrap();
    let (good, signed) = (good_slice.bytes, good_slice.checkpoint.unwrap());
    let before = file_bytes(&rdir);
    // A flipped bit anywhere fails a frame's check.
    for at in [0, 13, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        let err = replica.replicate(bad, signed.clone()).unwrap_err();
        assert!(
            matches!(err, ReplicateError::Invalid(_)),
            "byte {at}: {err:?}"
        );
    }
    // Cut short inside a frame.
    let err = replica
        .replicate(good[..good.len() - 5].to_vec(), signed.clone())
        .unwrap_err();
    assert!(
        matches!(&err, ReplicateError::Invalid(r) if r.contains("end inside")),
        "{err:?}"
    );
    // Another ledger's frames (another key, the same origin): its checkpoints do not
    // verify, so they are not this ledger's.
    let foreign = other.log_slice(from, 0, 1 << 20).unwrap();
    let err = replica
        .replicate(foreign.bytes, foreign.checkpoint.unwrap())
        .unwrap_err();
    assert!(matches!(err, ReplicateError::Invalid(_)), "{err:?}");
    // Even one chunk of it alone, which continues an empty tree as well as any: its
    // checkpoint is not signed by this ledger's key, and this ledger's key signed none
    // for that tree.
    let one = other.log_slice(from, 0, 1).unwrap();
    assert!(!one.bytes.is_empty());
    for note in [
        one.checkpoint.clone().unwrap(),
        signed.clone(),
        String::new(),
    ] {
        let err = replica.replicate(one.bytes.clone(), note).unwrap_err();
        assert!(
            matches!(err, ReplicateError::Invalid(_) | ReplicateError::Fork(_)),
            "{err:?}"
        );
    }
    // Good frames with a checkpoint of another size.
    let first = primary.log_slice(from, 0, 1).unwrap();
    let err = replica.replicate(first.bytes, signed.clone()).unwrap_err();
    assert!(
        matches!(&err, ReplicateError::Invalid(r) if r.contains("they end at")),
        "{err:?}"
    );
    // A second header.
    let err = replica
        .replicate(header(&primary), signed.clone())
        .unwrap_err();
    assert!(matches!(err, ReplicateError::Invalid(_)), "{err:?}");
    assert!(matches!(
        replica.replicate(Vec::new(), signed.clone()),
        Err(ReplicateError::Invalid(_))
    ));
    assert_eq!(file_bytes(&rdir), before);
    assert_eq!(replica.size(), 0);
    // And the good frames are taken after all that.
    replica.replicate(good, signed).unwrap();
    assert_eq!(replica.size(), 120);
    // A primary refuses an offset that is not a frame's start, and one past its end.
    assert!(matches!(
        primary.log_slice(from + 1, 0, 100),
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        primary.log_slice(primary.durable_bytes() + 1, 0, 100),
        Err(StoreError::InvalidArgument(_))
    ));
    // A replica refuses a header naming another key than the one it was given.
    let err = Store::init_replica(
        &tmp.path().join("r2"),
        "http://primary.test",
        &header(&primary),
        Some(other.verifier()),
        None,
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::InvalidArgument(_)), "{err}");
}

#[test]
fn a_failed_write_on_the_replica_costs_nothing_it_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let (pdir, rdir) = (tmp.path().join("primary"), tmp.path().join("replica"));
    Store::init(&pdir, "test.careledger/replica-faults").unwrap();
    let primary = Store::open(&pdir, config()).unwrap();
    primary
        .append((0..200).map(|n| event("p", n)).collect())
        .unwrap();
    for (step, fault) in [
        (Step::LogWrite, Fault::Partial),
        (Step::LogWrite, Fault::NoSpace),
        (Step::LogSync, Fault::Io),
        (Step::SledApply, Fault::Io),
    ] {
        let rdir = rdir.join(format!("{step:?}-{fault:?}"));
        let faults = Arc::new(Faults::default());
        let replica = replica_of(&primary, &rdir, Some(faults.clone()));
        // Some frames taken, then the fault.
        let first = primary
            .log_slice(replica.durable_bytes(), replica.size(), 4000)
            .unwrap();
        let taken = replica
            .replicate(first.bytes, first.checkpoint.unwrap())
            .unwrap();
        faults.fail(step, 0, fault);
        let next = primary
            .log_slice(replica.durable_bytes(), replica.size(), 4000)
            .unwrap();
        let err = replica
            .replicate(next.bytes, next.checkpoint.unwrap())
            .unwrap_err();
        assert!(
            matches!(err, ReplicateError::Append(AppendError::WriteFailed(_))),
            "{step:?} {fault:?}: {err:?}"
        );
        drop(replica);
        // Reopened: what it acknowledged is there, and it follows on to the end.
        let replica = Store::open(&rdir, config()).unwrap();
        assert!(replica.size() >= taken.size, "{step:?} {fault:?}");
        follow(&primary, &replica, 4000).unwrap();
        assert_eq!(replica.size(), primary.size());
        assert_eq!(replica.root_at(200).unwrap(), primary.root_at(200).unwrap());
    }
}

#[test]
fn promotion_needs_the_ledgers_own_key_and_then_the_replica_signs_on() {
    let tmp = tempfile::tempdir().unwrap();
    let (pdir, rdir) = (tmp.path().join("primary"), tmp.path().join("replica"));
    Store::init(&pdir, "test.careledger/promote").unwrap();
    let primary = Store::open(&pdir, config()).unwrap();
    primary
        .append((0..80).map(|n| event("p", n)).collect())
        .unwrap();
    let replica = replica_of(&primary, &rdir, None);
    follow(&primary, &replica, 1 << 20).unwrap();
    let root = primary.root_at(80).unwrap();
    drop(primary);
    // Not while it runs.
    let key = std::fs::read_to_string(pdir.join(KEY_FILE)).unwrap();
    assert!(matches!(
        Store::promote(&rdir, &key),
        Err(StoreError::Locked(_))
    ));
    drop(replica);
    // Not with another key.
    let stranger = NoteSigner::generate("test.careledger/promote").unwrap();
    let err = Store::promote(&rdir, &stranger.private_key_string()).unwrap_err();
    assert!(
        matches!(&err, StoreError::InvalidArgument(m) if m.contains("own key")),
        "{err}"
    );
    assert!(rdir.join(REPLICA_FILE).exists());
    assert!(!rdir.join(KEY_FILE).exists());
    // With the ledger's key: a primary, signing with the same verifier.
    let verifier = Store::promote(&rdir, &key).unwrap();
    assert!(!rdir.join(REPLICA_FILE).exists());
    let promoted = Store::open(&rdir, config()).unwrap();
    assert_eq!(promoted.primary(), None);
    assert_eq!(promoted.verifier(), &verifier);
    assert_eq!(promoted.root_at(80).unwrap(), root);
    promoted.append(vec![event("after", 0)]).unwrap();
    let note = promoted.checkpoint_now().unwrap();
    let checkpoint = careledger_log::Checkpoint::open(&note, &verifier).unwrap();
    assert_eq!(checkpoint.size, 81);
    drop(promoted);
    Store::verify_dir(&rdir, |_, _| {}).unwrap();
    // A primary is not promoted again.
    assert!(matches!(
        Store::promote(&rdir, &key),
        Err(StoreError::InvalidArgument(_))
    ));
}
