//! Users and tokens on disk: concurrent editors do not lose each other's changes, the
//! service reloads every change, and the failed-attempt limit holds under parallel guesses.

use std::net::IpAddr;
use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

use careledger_api::auth::{
    AuthError, AuthFiles, Authenticator, Principal, Rejected, FAILED_ATTEMPTS_MAX,
};
use careledger_care::Role;

#[test]
fn a_revocation_is_not_lost_to_a_concurrent_issue() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = AuthFiles::open(dir.path()).unwrap();
    files.add_user("auditor-01", Role::Auditor, "A", 0).unwrap();
    let (id, token) = files.issue("auditor-01", 0, None).unwrap();
    drop(files);

    // One editor holds the files; a second, started meanwhile, waits for it.
    let mut first = AuthFiles::open(dir.path()).unwrap();
    let (started_tx, started_rx) = mpsc::channel();
    let (opened_tx, opened_rx) = mpsc::channel();
    let path = dir.path().to_path_buf();
    let second = std::thread::spawn(move || {
        started_tx.send(()).unwrap();
        let mut files = AuthFiles::open(&path).unwrap();
        opened_tx.send(()).unwrap();
        files.issue("auditor-01", 1, None).unwrap().1
    });
    started_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the second editor started");
    // While the first holds the files, no other editor gets them: one that will not wait
    // is told so, and the second has not opened them (whether or not it has tried yet).
    assert!(matches!(
        AuthFiles::open_waiting(dir.path(), Duration::ZERO),
        Err(AuthError::Locked(_))
    ));
    assert_eq!(
        opened_rx.try_recv(),
        Err(mpsc::TryRecvError::Empty),
        "the second editor opened the files while the first held them"
    );
    first.revoke(&id, 1).unwrap();
    drop(first);
    let issued = second.join().unwrap();
    opened_rx.try_recv().expect("the second editor opened them");

    let auth = Authenticator::open(dir.path()).unwrap();
    assert!(
        auth.authenticate(None, Some(&format!("Bearer {token}")), 2)
            .is_err(),
        "the revoked token stays revoked"
    );
    assert!(
        auth.authenticate(None, Some(&format!("Bearer {issued}")), 2)
            .is_ok(),
        "the token issued by the second editor is kept"
    );
}

/// 50 bad tokens at once from one client: exactly the limit of them are checked and
/// counted as failures, every other one is told to wait, and so is a good token after them.
#[test]
fn parallel_bad_tokens_get_no_more_than_the_limit() {
    const GUESSES: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    let mut files = AuthFiles::open(dir.path()).unwrap();
    files.add_user("auditor-01", Role::Auditor, "A", 0).unwrap();
    let (id, token) = files.issue("auditor-01", 0, None).unwrap();
    drop(files);
    let auth = Arc::new(Authenticator::open(dir.path()).unwrap());
    let client: IpAddr = [192, 0, 2, 7].into();

    let start = Arc::new(Barrier::new(GUESSES));
    let guesses: Vec<_> = (0..GUESSES)
        .map(|i| {
            let (auth, start) = (auth.clone(), start.clone());
            // The right id with a wrong secret: the check gets as far as the hash.
            let guess = format!("Bearer clt_{id}_{i:043}");
            std::thread::spawn(move || {
                start.wait();
                auth.authenticate(Some(client), Some(&guess), 1)
            })
        })
        .collect();
    let answers: Vec<_> = guesses.into_iter().map(|g| g.join().unwrap()).collect();
    let invalid = answers
        .iter()
        .filter(|a| **a == Err(Rejected::Invalid))
        .count();
    let waited = answers
        .iter()
        .filter(|a| matches!(a, Err(Rejected::TooManyAttempts(_))))
        .count();
    assert_eq!(
        (invalid, waited),
        (
            FAILED_ATTEMPTS_MAX as usize,
            GUESSES - FAILED_ATTEMPTS_MAX as usize
        ),
        "{answers:?}"
    );
    let good = format!("Bearer {token}");
    assert!(matches!(
        auth.authenticate(Some(client), Some(&good), 1),
        Err(Rejected::TooManyAttempts(_))
    ));
    // No credentials is no attempt: told to authenticate, even while locked out.
    assert!(matches!(
        auth.authenticate(Some(client), None, 1),
        Err(Rejected::Missing)
    ));
    // Another client is not held back by this one.
    let other: IpAddr = [192, 0, 2, 8].into();
    assert!(auth.authenticate(Some(other), Some(&good), 1).is_ok());
}

/// Two edits of the same length with the same mtime (an in-place rewrite within one tick
/// of the file system's clock): metadata cannot tell them apart, the content can.
#[test]
fn a_reload_sees_two_edits_of_equal_length_and_mtime() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = AuthFiles::open(dir.path()).unwrap();
    files.add_user("auditor-01", Role::Auditor, "A", 0).unwrap();
    let (a_id, a) = files.issue("auditor-01", 0, None).unwrap();
    let (b_id, b) = files.issue("auditor-01", 0, None).unwrap();
    drop(files);
    let auth = Authenticator::open(dir.path()).unwrap();
    let path = dir.path().join("auth.json");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let mtime = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    // Writes the file in place with token `revoked` revoked and the other live, and the
    // same mtime every time.
    let mut write = |revoked: &str, live: &str| {
        json["tokens"][revoked]["revoked_at_us"] = 1_000_000.into();
        json["tokens"][live]["revoked_at_us"] = serde_json::Value::Null;
        let bytes = serde_json::to_vec_pretty(&json).unwrap();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut &file, &bytes).unwrap();
        file.set_modified(mtime).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        (meta.len(), meta.modified().unwrap())
    };
    let works = |token: &str| {
        auth.authenticate(None, Some(&format!("Bearer {token}")), 2)
            .is_ok()
    };

    let first = write(&a_id, &b_id);
    assert!(auth.reload(), "the first edit is loaded");
    assert!(!works(&a) && works(&b));
    let second = write(&b_id, &a_id);
    assert_eq!(first, second, "the two edits look the same to metadata");
    assert!(auth.reload(), "the second edit is loaded");
    assert!(works(&a) && !works(&b));
    assert!(!auth.reload(), "nothing changed since");
}

#[test]
fn tokens_are_stored_only_hashed_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = AuthFiles::open(dir.path()).unwrap();
    files.add_user("person-0001", Role::Person, "P", 0).unwrap();
    let (_, token) = files.issue("person-0001", 0, Some(1_000)).unwrap();
    drop(files);
    let stored = std::fs::read_to_string(dir.path().join("auth.json")).unwrap();
    // `clt_<id>_<secret>`: the id has no `_`, the base64url secret may.
    let secret = token.splitn(3, '_').nth(2).unwrap();
    assert!(secret.len() >= 40, "{token}");
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
