//! Backups taken while the ledger is appended to, restored: the same root at the backup's
//! size, full and incremental; and every way a backup or its chain can be wrong, refused.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use careledger_store::backup::{self, BackupInfo};
use careledger_store::{NewEvent, Store, StoreConfig, StoreError};

fn event(writer: u64, n: u64) -> NewEvent {
    NewEvent {
        actor: format!("staff:w{writer}"),
        subject: Some(format!("person:p{}", n % 7)),
        kind: "visit.completed".into(),
        occurred_at_us: 1_790_000_000_000_000 + n as i64,
        payload: format!("{{\"writer\":{writer},\"n\":{n}}}").into_bytes(),
    }
}

fn config() -> StoreConfig {
    StoreConfig {
        // Checkpoints often, so that backups under load have recent ones to cut at.
        checkpoint_every_events: 500,
        checkpoint_every: Duration::from_millis(50),
        free_bytes_min: 0,
        free_bytes_reserve: 0,
        ..StoreConfig::default()
    }
}

fn restored(backups: &[PathBuf], into: &Path) -> (u64, [u8; 32]) {
    let info = backup::restore(backups, into).unwrap();
    let store = Store::open(into, config()).unwrap();
    assert_eq!(store.size(), info.events);
    let root = store.root_at(info.events).unwrap();
    assert_eq!(root, info.root);
    store.verify(|_, _| {}).unwrap();
    (info.events, root)
}

#[test]
fn backups_under_64_writers_restore_to_the_same_root_at_their_size() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    Store::init(&dir, "test.careledger/backup").unwrap();
    let store = Store::open(&dir, config()).unwrap();
    store
        .append((0..100).map(|n| event(99, n)).collect())
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut infos: Vec<(PathBuf, BackupInfo)> = Vec::new();
    std::thread::scope(|scope| {
        for writer in 0..64u64 {
            let (store, stop) = (store.clone(), stop.clone());
            scope.spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    match store.append(vec![event(writer, n)]) {
                        Ok(_) | Err(careledger_store::AppendError::Busy(_)) => {}
                        Err(e) => panic!("{e}"),
                    }
                    n += 1;
                }
            });
        }
        // A full backup, then incrementals, each while the writers go on.
        for i in 0..4 {
            std::thread::sleep(Duration::from_millis(300));
            let out = tmp.path().join(format!("b{i}.backup"));
            let previous = infos.last().map(|(_, info)| info.clone());
            let info = backup::backup(&dir, &out, previous.as_ref(), &["auth.json"]).unwrap();
            if let Some(p) = &previous {
                assert!(info.events > p.events, "the log grew between backups");
            }
            infos.push((out, info));
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert!(store.size() > infos.last().unwrap().1.events);
    // Each prefix of the chain restores to the live ledger's root at that size.
    for upto in 1..=infos.len() {
        let chain: Vec<PathBuf> = infos[..upto].iter().map(|(p, _)| p.clone()).collect();
        let into = tmp.path().join(format!("restored-{upto}"));
        let (size, root) = restored(&chain, &into);
        assert_eq!(size, infos[upto - 1].1.events);
        assert_eq!(root, store.root_at(size).unwrap(), "chain of {upto}");
    }
    // The ledger itself was never stopped and still verifies.
    store.verify(|_, _| {}).unwrap();
}

/// A ledger with 30 events and a checkpoint, backed up; returns the folders and backup.
fn backed_up(tmp: &Path) -> (PathBuf, PathBuf, BackupInfo) {
    let dir = tmp.join("ledger");
    Store::init(&dir, "test.careledger/backup").unwrap();
    {
        let store = Store::open(&dir, config()).unwrap();
        store
            .append((0..30).map(|n| event(1, n)).collect())
            .unwrap();
        store.checkpoint_now().unwrap();
    }
    let out = tmp.join("full.backup");
    let info = backup::backup(&dir, &out, None, &[]).unwrap();
    (dir, out, info)
}

#[test]
fn a_damaged_or_cut_backup_is_refused_and_nothing_is_restored() {
    let tmp = tempfile::tempdir().unwrap();
    let (_dir, out, info) = backed_up(tmp.path());
    assert_eq!(info.events, 30);
    let good = std::fs::read(&out).unwrap();
    let damaged = tmp.path().join("damaged.backup");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a flipped byte in the events",
            {
                let mut b = good.clone();
                b[info.events_section().offset as usize + 200] ^= 1;
                b
            },
            "does not match its hash",
        ),
        ("cut short", good[..good.len() - 40].to_vec(), "cut short"),
        ("not a backup", b"hello".to_vec(), "too short"),
    ];
    for (what, bytes, expected) in cases {
        std::fs::write(&damaged, &bytes).unwrap();
        let err = backup::check(&damaged).unwrap_err().to_string();
        assert!(err.contains(expected), "{what}: {err}");
        let into = tmp.path().join(format!("r-{}", what.len()));
        let err = backup::restore(std::slice::from_ref(&damaged), &into)
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{what}: {err}");
        assert!(!into.exists(), "{what}: nothing is written");
    }
    // Into a folder that is not empty: refused.
    let full = tmp.path().join("full");
    std::fs::create_dir_all(&full).unwrap();
    std::fs::write(full.join("x"), b"x").unwrap();
    let err = backup::restore(&[out], &full).unwrap_err();
    assert!(matches!(err, StoreError::InvalidArgument(_)), "{err}");
}

#[test]
fn an_incremental_backup_of_a_ledger_whose_history_changed_is_refused_as_a_fork() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, full, info) = backed_up(tmp.path());
    // Event 5's record rewritten, its frame's check recomputed: the prefix is not the one
    // the full backup ends with.
    careledger_store::tamper::alter_record(&dir, 5, |r| {
        let last = r.len() - 1;
        r[last] ^= 1;
    })
    .unwrap();
    std::fs::remove_file(dir.join(careledger_store::MARK_FILE)).unwrap();
    {
        let store = Store::open(&dir, config()).unwrap();
        store.append(vec![event(2, 0)]).unwrap();
        store.checkpoint_now().unwrap();
    }
    let err = backup::backup(&dir, &tmp.path().join("inc.backup"), Some(&info), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("a fork"), "{err}");
    // And a chain given out of order, or starting with an incremental, is refused.
    let (dir2, _, _) = {
        let t = tmp.path().join("second");
        std::fs::create_dir_all(&t).unwrap();
        backed_up(&t)
    };
    {
        let store = Store::open(&dir2, config()).unwrap();
        store.append(vec![event(3, 0)]).unwrap();
        store.checkpoint_now().unwrap();
    }
    let second_full = tmp.path().join("second").join("full.backup");
    let second_info = backup::check(&second_full).unwrap();
    let inc = tmp.path().join("second-inc.backup");
    backup::backup(&dir2, &inc, Some(&second_info), &[]).unwrap();
    let err = backup::restore(std::slice::from_ref(&inc), &tmp.path().join("r1")).unwrap_err();
    assert!(err.to_string().contains("incremental"), "{err}");
    let err = backup::restore(&[full, inc], &tmp.path().join("r2")).unwrap_err();
    assert!(
        err.to_string().contains("not the one before it")
            || err.to_string().contains("another ledger"),
        "{err}"
    );
}
