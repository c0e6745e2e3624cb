//! Browser sessions, kept by the service in the ledger folder (`sessions.json`, mode 0600).
//!
//! A session id is 256 random bits, sent once in the cookie and never stored: the file and
//! the map hold `BLAKE3(id)`, so a copy of the file cannot be used to sign in. Each session
//! has its own form token (checked on every POST) and a last-seen time; one idle for longer
//! than the idle timeout is over. The file is rewritten whole (temporary file, fsync,
//! rename) when a session opens or closes, and every [`FLUSH_EVERY`] with the last-seen
//! times, so a restart keeps people signed in and an idle timeout is at most that late.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use careledger_care::Role;
use serde::{Deserialize, Serialize};

pub const SESSIONS_FILE: &str = "sessions.json";
/// Sessions kept at once (every user's); one more signs the least recently seen out.
pub const SESSIONS_MAX: usize = 10_000;
/// How often last-seen times are written and idle sessions closed.
pub const FLUSH_EVERY: Duration = Duration::from_secs(30);

/// One signed-in browser.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    pub role: Role,
    pub created_at_us: i64,
    pub last_seen_us: i64,
    /// The form token every POST of this session must carry.
    pub form_token: String,
    /// The session's name in the ledger's events: the first 16 hex digits of its key.
    pub name: String,
}

#[derive(Default, Serialize, Deserialize)]
struct File {
    /// By hex BLAKE3 of the session id.
    sessions: HashMap<String, Session>,
}

/// A session that ended without its user asking: to be recorded as `session.signed_out`.
#[derive(Debug, Clone)]
pub struct Ended {
    pub session: Session,
    pub reason: careledger_care::event::SignOutReason,
}

pub struct Sessions {
    path: PathBuf,
    idle_us: i64,
    inner: Mutex<Inner>,
}

struct Inner {
    file: File,
    /// Last-seen times changed since the file was written.
    dirty: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot read or write {path}: {source}", path = .0.display(), source = .1)]
    Io(PathBuf, std::io::Error),
    #[error("{path} is damaged ({why}); remove it to sign everyone out and start afresh", path = .0.display(), why = .1)]
    Damaged(PathBuf, String),
    #[error("random source failed: {0}")]
    Random(String),
}

fn random_id() -> Result<String, SessionError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| SessionError::Random(e.to_string()))?;
    Ok(B64URL.encode(bytes))
}

/// The key a session id is kept under.
pub fn key_of(id: &str) -> String {
    blake3::hash(id.as_bytes()).to_hex().to_string()
}

impl Sessions {
    /// The sessions in `dir`, with sessions idle for `idle` closed.
    pub fn open(dir: &Path, idle: Duration) -> Result<Self, SessionError> {
        let path = dir.join(SESSIONS_FILE);
        let file = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| SessionError::Damaged(path.clone(), e.to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => File::default(),
            Err(e) => return Err(SessionError::Io(path, e)),
        };
        Ok(Self {
            path,
            idle_us: i64::try_from(idle.as_micros()).unwrap_or(i64::MAX),
            inner: Mutex::new(Inner { file, dirty: false }),
        })
    }

    pub fn idle_us(&self) -> i64 {
        self.idle_us
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens a session for `user`: returns its id (for the cookie, not kept) and the
    /// session, plus any session closed to make room (the user's oldest past
    /// [`careledger_care::state::SESSIONS_PER_USER_MAX`], or everyone's least recently
    /// seen past [`SESSIONS_MAX`]).
    pub fn create(
        &self,
        user: &str,
        role: Role,
        now_us: i64,
    ) -> Result<(String, Session, Vec<Session>), SessionError> {
        let id = random_id()?;
        let key = key_of(&id);
        let session = Session {
            user: user.to_string(),
            role,
            created_at_us: now_us,
            last_seen_us: now_us,
            form_token: random_id()?,
            name: key[..16].to_string(),
        };
        let mut inner = self.lock();
        let mut evicted = Vec::new();
        let mut theirs: Vec<(String, i64)> = inner
            .file
            .sessions
            .iter()
            .filter(|(_, s)| s.user == user)
            .map(|(k, s)| (k.clone(), s.created_at_us))
            .collect();
        theirs.sort_by_key(|(_, t)| *t);
        let over = (theirs.len() + 1).saturating_sub(careledger_care::state::SESSIONS_PER_USER_MAX);
        for (k, _) in theirs.into_iter().take(over) {
            evicted.extend(inner.file.sessions.remove(&k));
        }
        if inner.file.sessions.len() >= SESSIONS_MAX {
            let oldest = inner
                .file
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.last_seen_us)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                evicted.extend(inner.file.sessions.remove(&k));
            }
        }
        inner.file.sessions.insert(key, session.clone());
        self.save(&mut inner)?;
        Ok((id, session, evicted))
    }

    /// The live session `id` names, seen now. `None` when there is none, or it has been
    /// idle too long (then it is closed and returned in the second place, to be recorded).
    pub fn touch(&self, id: &str, now_us: i64) -> (Option<Session>, Option<Ended>) {
        let key = key_of(id);
        let mut inner = self.lock();
        let Some(s) = inner.file.sessions.get_mut(&key) else {
            return (None, None);
        };
        if now_us - s.last_seen_us > self.idle_us {
            let session = inner.file.sessions.remove(&key).expect("just found");
            let _ = self.save(&mut inner);
            return (
                None,
                Some(Ended {
                    session,
                    reason: careledger_care::event::SignOutReason::IdleTimeout,
                }),
            );
        }
        s.last_seen_us = now_us;
        let s = s.clone();
        inner.dirty = true;
        (Some(s), None)
    }

    /// Closes session `id`; returns it if it was open.
    pub fn remove(&self, id: &str) -> Result<Option<Session>, SessionError> {
        let mut inner = self.lock();
        let removed = inner.file.sessions.remove(&key_of(id));
        if removed.is_some() {
            self.save(&mut inner)?;
        }
        Ok(removed)
    }

    /// Closes every session idle too long, and every session `still_valid` rejects (a
    /// revoked user, a password set again); writes the last-seen times. Returns what it
    /// closed, to be recorded.
    pub fn sweep(
        &self,
        now_us: i64,
        still_valid: impl Fn(&Session) -> bool,
    ) -> Result<Vec<Ended>, SessionError> {
        use careledger_care::event::SignOutReason;
        let mut inner = self.lock();
        let mut ended = Vec::new();
        let idle_us = self.idle_us;
        inner.file.sessions.retain(|_, s| {
            let reason = if now_us - s.last_seen_us > idle_us {
                SignOutReason::IdleTimeout
            } else if !still_valid(s) {
                SignOutReason::UserRevoked
            } else {
                return true;
            };
            ended.push(Ended {
                session: s.clone(),
                reason,
            });
            false
        });
        if inner.dirty || !ended.is_empty() {
            self.save(&mut inner)?;
        }
        Ok(ended)
    }

    /// The names of every open session.
    pub fn names(&self) -> std::collections::HashSet<String> {
        self.lock()
            .file
            .sessions
            .values()
            .map(|s| s.name.clone())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.lock().file.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the file whole or not at all.
    fn save(&self, inner: &mut Inner) -> Result<(), SessionError> {
        use std::os::unix::fs::OpenOptionsExt;
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |e| SessionError::Io(p, e)
        };
        let bytes = serde_json::to_vec(&inner.file).expect("sessions serialize");
        let tmp = self.path.with_extension("json.tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(&bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &self.path).map_err(io(&self.path))?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io(dir))?;
        }
        inner.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_kept_by_the_hash_of_its_id_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let sessions = Sessions::open(dir.path(), Duration::from_secs(1800)).unwrap();
        let (id, s, evicted) = sessions
            .create("staff-cw01", Role::CareWorker, 1_000)
            .unwrap();
        assert!(evicted.is_empty());
        let bytes = std::fs::read_to_string(dir.path().join(SESSIONS_FILE)).unwrap();
        assert!(
            !bytes.contains(&id),
            "the session id itself is never stored"
        );
        assert!(bytes.contains(&key_of(&id)));
        drop(sessions);
        let again = Sessions::open(dir.path(), Duration::from_secs(1800)).unwrap();
        let (found, ended) = again.touch(&id, 2_000);
        assert_eq!(found.map(|f| f.form_token), Some(s.form_token));
        assert!(ended.is_none());
        assert!(again.touch("another id", 2_000).0.is_none());
    }

    #[test]
    fn an_idle_session_is_over_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let sessions = Sessions::open(dir.path(), Duration::from_secs(60)).unwrap();
        let (id, _, _) = sessions.create("u", Role::Person, 0).unwrap();
        assert!(sessions.touch(&id, 59_000_000).0.is_some());
        let (found, ended) = sessions.touch(&id, 59_000_000 + 60_000_001);
        assert!(found.is_none());
        assert_eq!(
            ended.map(|e| e.reason),
            Some(careledger_care::event::SignOutReason::IdleTimeout)
        );
        assert!(sessions.is_empty());
    }

    #[test]
    fn a_user_holds_at_most_sixteen_sessions_and_the_oldest_goes_first() {
        let dir = tempfile::tempdir().unwrap();
        let sessions = Sessions::open(dir.path(), Duration::from_secs(1800)).unwrap();
        let mut first = None;
        for i in 0..16 {
            let (id, _, evicted) = sessions.create("u", Role::Person, i).unwrap();
            assert!(evicted.is_empty());
            first.get_or_insert(id);
        }
        let (_, _, evicted) = sessions.create("u", Role::Person, 100).unwrap();
        assert_eq!(evicted.len(), 1);
        assert_eq!(evicted[0].created_at_us, 0);
        assert!(sessions.touch(&first.unwrap(), 101).0.is_none());
        assert_eq!(sessions.len(), 16);
    }

    #[test]
    fn sweep_closes_the_sessions_of_revoked_users() {
        let dir = tempfile::tempdir().unwrap();
        let sessions = Sessions::open(dir.path(), Duration::from_secs(1800)).unwrap();
        let (kept, _, _) = sessions.create("kept", Role::Person, 0).unwrap();
        sessions.create("gone", Role::Person, 0).unwrap();
        let ended = sessions.sweep(10, |s| s.user != "gone").unwrap();
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].session.user, "gone");
        assert!(sessions.touch(&kept, 11).0.is_some());
    }

    #[test]
    fn a_damaged_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SESSIONS_FILE), b"{not json").unwrap();
        let e = Sessions::open(dir.path(), Duration::from_secs(1))
            .err()
            .unwrap();
        assert!(e.to_string().contains("sessions.json is damaged"), "{e}");
    }
}
