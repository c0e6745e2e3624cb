//! Users and tokens on disk: concurrent editors do not lose each other's changes.

use std::sync::mpsc;
use std::time::Duration;

use careledger_api::auth::{AuthFiles, Authenticator, Principal};
use careledger_care::Role;

#[test]
fn a_revocation_is_not_lost_to_a_concurrent_issue() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = AuthFiles::open(dir.path()).unwrap();
    files.add_user("auditor-01", Role::Auditor, "A", 0).unwrap();
    let (id, token) = files.issue("auditor-01", 0, None).unwrap();
    drop(files);

    // One editor holds the files; a second, opened meanwhile, waits for it.
    let mut first = AuthFiles::open(dir.path()).unwrap();
    let (opened_tx, opened_rx) = mpsc::channel();
    let path = dir.path().to_path_buf();
    let second = std::thread::spawn(move || {
        let mut files = AuthFiles::open(&path).unwrap();
        opened_tx.send(()).unwrap();
        files.issue("auditor-01", 1, None).unwrap();
    });
    assert!(
        opened_rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "the second editor waits while the first holds the files"
    );
    first.revoke(&id, 1).unwrap();
    drop(first);
    second.join().unwrap();

    let auth = Authenticator::open(dir.path()).unwrap();
    let header = format!("Bearer {token}");
    assert!(
        auth.authenticate(None, Some(&header), 2).is_err(),
        "the revoked token stays revoked"
    );
}

#[test]
fn tokens_are_stored_only_hashed_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = AuthFiles::open(dir.path()).unwrap();
    files.add_user("person-0001", Role::Person, "P", 0).unwrap();
    let (_, token) = files.issue("person-0001", 0, Some(1_000)).unwrap();
    drop(files);
    let stored = std::fs::read_to_string(dir.path().join("auth.json")).unwrap();
    let secret = token.rsplit('_').next().unwrap();
    assert!(!stored.contains(secret), "the secret is not on disk");
    use std::os::unix::fs::PermissionsExt;
    for name in ["auth.json", "auth.key"] {
        let mode = std::fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{name} is readable by its owner only");
    }
    let auth = Authenticator::open(dir.path()).unwrap();
    let header = format!("Bearer {token}");
    assert_eq!(
        auth.authenticate(None, Some(&header), 999).unwrap(),
        Principal {
            id: "person-0001".into(),
            role: Role::Person
        }
    );
    assert!(
        auth.authenticate(None, Some(&header), 1_000).is_err(),
        "expired"
    );
}
