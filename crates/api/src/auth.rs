//! Users, bearer tokens and the limit on failed attempts.
//!
//! Users and tokens live beside the ledger in `auth.json`; the key that hashes tokens lives
//! in `auth.key` (both mode 0600). A token is shown once when issued and stored only as
//! `BLAKE3-keyed(auth.key, token)`, so a copy of `auth.json` alone cannot be used to sign
//! in. Tokens look like `clt_<id>_<secret>`: the id finds the record (and names it for
//! revocation), the secret proves possession.
//!
//! `careledger user add` and `careledger token issue|revoke` change the files while the
//! service runs; the service notices a changed file within [`RELOAD_CHECK`] and reloads it,
//! so a revocation takes effect within a second.
//!
//! Who a user is (their id and role) comes from here; what the ledger knows of them
//! (registered staff, the person's representatives) is checked by the policy on each read.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;
use careledger_care::Role;
use serde::{Deserialize, Serialize};

pub const AUTH_FILE: &str = "auth.json";
pub const KEY_FILE: &str = "auth.key";

/// How often the service looks for changes made by the CLI.
pub const RELOAD_CHECK: Duration = Duration::from_secs(1);
/// Failed attempts allowed from one client within [`FAILED_WINDOW`].
pub const FAILED_ATTEMPTS_MAX: u32 = 10;
pub const FAILED_WINDOW: Duration = Duration::from_secs(300);
/// Clients whose failures are remembered; beyond it the oldest window is forgotten.
pub const FAILED_CLIENTS_MAX: usize = 10_000;
/// Bounds on what `user add` accepts.
pub const USER_ID_BYTES_MAX: usize = 128;
pub const USERS_MAX: usize = 100_000;
pub const TOKENS_PER_USER_MAX: usize = 32;

/// Who is asking, as authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub id: String,
    pub role: Role,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is damaged: {reason}")]
    Damaged { path: PathBuf, reason: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{} is held by another careledger command; try again when it has finished", .0.display())]
    Locked(PathBuf),
    #[error("no user {0:?} (add one with `careledger user add`)")]
    UnknownUser(String),
    #[error("no token {0:?}")]
    UnknownToken(String),
    #[error("random source failed: {0}")]
    Random(String),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct AuthFile {
    users: BTreeMap<String, User>,
    tokens: BTreeMap<String, TokenRecord>,
    /// Invitations to set a password, and the demo's sign-in links, by id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    invitations: BTreeMap<String, Invitation>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub role: Role,
    pub name: String,
    pub added_at_us: i64,
    /// The browser sign-in password as an argon2id PHC string ([`password`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Revoked: no token, password or session of theirs works any more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at_us: Option<i64>,
    /// Browser sessions opened before this are over (set when the password is set again
    /// and when the user is revoked).
    #[serde(default)]
    pub sessions_from_us: i64,
    /// How the pages are shown to them (`standard`, `large`, `easy`, `contrast`), once
    /// they have chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// What an invitation link does when followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InvitationKind {
    /// Sets the user's password, once, within [`INVITATION_VALID_US`].
    SetPassword,
    /// Signs the user in, as often as followed until it expires: made only by `serve
    /// --demo`, so a newcomer is one click from each role.
    DemoSignIn,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invitation {
    pub user: String,
    pub kind: InvitationKind,
    /// Base64 of the keyed BLAKE3 hash of the whole link secret.
    pub hash: String,
    pub issued_at_us: i64,
    pub expires_at_us: i64,
    pub used_at_us: Option<i64>,
    /// Who issued it (a manager's id, or `cli`).
    pub issued_by: String,
}

/// An invitation to set a password is valid for 72 hours.
pub const INVITATION_VALID_US: i64 = 72 * careledger_care::HOUR_US;
/// Open invitations kept at once; used and expired ones are dropped first.
pub const INVITATIONS_MAX: usize = 10_000;
/// Shortest and longest password accepted (NCSC: length, not composition rules).
pub const PASSWORD_CHARS_MIN: usize = 12;
pub const PASSWORD_BYTES_MAX: usize = 256;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    pub user: String,
    /// Base64 of the keyed BLAKE3 hash of the whole token.
    pub hash: String,
    pub issued_at_us: i64,
    pub expires_at_us: Option<i64>,
    pub revoked_at_us: Option<i64>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AuthError + '_ {
    move |source| AuthError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn random<const N: usize>() -> Result<[u8; N], AuthError> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).map_err(|e| AuthError::Random(e.to_string()))?;
    Ok(bytes)
}

/// Writes `bytes` to `path` whole or not at all (temporary file, fsync, rename), mode 0600.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), AuthError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    Ok(())
}

pub const LOCK_FILE: &str = "auth.lock";
/// How long opening the files waits for another editor.
pub const LOCK_WAIT_MAX: Duration = Duration::from_secs(10);

/// The files, as the CLI edits them. Holds an exclusive lock on `auth.lock` from open to
/// drop, so that two commands editing at once cannot lose one's change (a revocation
/// undone by a concurrent issue).
pub struct AuthFiles {
    dir: PathBuf,
    key: [u8; 32],
    file: AuthFile,
    /// The BLAKE3 hash of the `auth.json` bytes `file` was read from (`None`: no file).
    read_hash: Option<blake3::Hash>,
    _lock: std::fs::File,
}

impl AuthFiles {
    /// Opens the files in the ledger's directory, creating the key and an empty user list
    /// the first time. Waits for any other editor to finish, up to [`LOCK_WAIT_MAX`].
    pub fn open(dir: &Path) -> Result<Self, AuthError> {
        Self::open_waiting(dir, LOCK_WAIT_MAX)
    }

    /// [`AuthFiles::open`], waiting at most `wait_max` for another editor (zero: not at
    /// all) before answering [`AuthError::Locked`].
    pub fn open_waiting(dir: &Path, wait_max: Duration) -> Result<Self, AuthError> {
        let lock_path = dir.join(LOCK_FILE);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        // Wait, but not for ever: a command stuck holding the lock is reported, not waited on.
        let started = Instant::now();
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < wait_max => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(AuthError::Locked(lock_path));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
            }
        }
        let key_path = dir.join(KEY_FILE);
        let key = match std::fs::read(&key_path) {
            Ok(bytes) => bytes.try_into().map_err(|_| AuthError::Damaged {
                path: key_path.clone(),
                reason: "the key is not 32 bytes".into(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = random::<32>()?;
                write_atomic(&key_path, &key)?;
                key
            }
            Err(e) => return Err(io(&key_path)(e)),
        };
        let (file, read_hash) = read_file(&dir.join(AUTH_FILE))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            key,
            file,
            read_hash,
            _lock: lock,
        })
    }

    fn save(&self) -> Result<(), AuthError> {
        let json = serde_json::to_vec_pretty(&self.file).expect("the auth file serialises");
        write_atomic(&self.dir.join(AUTH_FILE), &json)
    }

    pub fn add_user(
        &mut self,
        id: &str,
        role: Role,
        name: &str,
        now_us: i64,
    ) -> Result<(), AuthError> {
        if id.is_empty()
            || id.len() > USER_ID_BYTES_MAX
            || id.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(AuthError::Invalid(format!(
                "user id {id:?} must be 1 to {USER_ID_BYTES_MAX} bytes without spaces"
            )));
        }
        if self.file.users.contains_key(id) {
            return Err(AuthError::Invalid(format!("user {id:?} already exists")));
        }
        if self.file.users.len() >= USERS_MAX {
            return Err(AuthError::Invalid(format!(
                "the limit of {USERS_MAX} users is reached"
            )));
        }
        self.file.users.insert(
            id.to_string(),
            User {
                role,
                name: name.to_string(),
                added_at_us: now_us,
                password: None,
                revoked_at_us: None,
                sessions_from_us: 0,
                display: None,
            },
        );
        self.save()
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.file.users.get(id)
    }

    /// Revokes `id`: every token, their password and their browser sessions stop working
    /// (the service notices within [`RELOAD_CHECK`]). Returns how many tokens it revoked.
    pub fn revoke_user(&mut self, id: &str, now_us: i64) -> Result<usize, AuthError> {
        let user = self
            .file
            .users
            .get_mut(id)
            .ok_or_else(|| AuthError::UnknownUser(id.into()))?;
        user.revoked_at_us.get_or_insert(now_us);
        user.password = None;
        user.sessions_from_us = now_us;
        for inv in self.file.invitations.values_mut() {
            if inv.user == id && inv.used_at_us.is_none() {
                inv.used_at_us = Some(now_us);
            }
        }
        let mut revoked = 0;
        for t in self.file.tokens.values_mut() {
            if t.user == id && t.revoked_at_us.is_none() {
                t.revoked_at_us = Some(now_us);
                revoked += 1;
            }
        }
        self.save()?;
        Ok(revoked)
    }

    /// Issues a link for `user` (returns the link's secret, `inv_<id>_<secret>`, which is
    /// not kept): to set their password, or for the demo, to sign in.
    pub fn invite(
        &mut self,
        user: &str,
        kind: InvitationKind,
        issued_by: &str,
        now_us: i64,
        valid_us: i64,
    ) -> Result<String, AuthError> {
        let u = self
            .file
            .users
            .get(user)
            .ok_or_else(|| AuthError::UnknownUser(user.into()))?;
        if u.revoked_at_us.is_some() {
            return Err(AuthError::Invalid(format!(
                "{user} is revoked; add them again under a new id"
            )));
        }
        // Links already used or expired are kept only until room is needed.
        if self.file.invitations.len() >= INVITATIONS_MAX {
            self.file
                .invitations
                .retain(|_, i| i.used_at_us.is_none() && i.expires_at_us > now_us);
        }
        if self.file.invitations.len() >= INVITATIONS_MAX {
            return Err(AuthError::Invalid(format!(
                "{INVITATIONS_MAX} invitations are open (the limit); wait for some to be used \
                 or to expire"
            )));
        }
        let id = hex(&random::<8>()?);
        let secret = format!("inv_{id}_{}", B64URL.encode(random::<32>()?));
        self.file.invitations.insert(
            id,
            Invitation {
                user: user.into(),
                kind,
                hash: B64.encode(blake3::keyed_hash(&self.key, secret.as_bytes()).as_bytes()),
                issued_at_us: now_us,
                expires_at_us: now_us + valid_us,
                used_at_us: None,
                issued_by: issued_by.into(),
            },
        );
        self.save()?;
        Ok(secret)
    }

    /// The invitation `secret` names, if it is genuine, unused (or a demo link) and not
    /// expired: (its id, the invitation).
    pub fn invitation(&self, secret: &str, now_us: i64) -> Result<(String, Invitation), AuthError> {
        let (id, inv) = find_invitation(&self.key, &self.file, secret)
            .ok_or_else(|| AuthError::Invalid("this link is not one careledger issued".into()))?;
        if inv.kind == InvitationKind::SetPassword && inv.used_at_us.is_some() {
            return Err(AuthError::Invalid(
                "this invitation has been used already: sign in with your password, or ask \
                 your manager for a new invitation"
                    .into(),
            ));
        }
        if inv.expires_at_us <= now_us {
            return Err(AuthError::Invalid(
                "this link has expired: ask your manager for a new invitation".into(),
            ));
        }
        match self.file.users.get(&inv.user) {
            Some(u) if u.revoked_at_us.is_none() => Ok((id.to_string(), inv.clone())),
            _ => Err(AuthError::Invalid(
                "this link's user no longer exists".into(),
            )),
        }
    }

    /// Sets the password of the user invited by `secret` (which it uses up), ending their
    /// earlier browser sessions. `phc` is the password's hash ([`password::hash`]).
    pub fn accept_invitation(
        &mut self,
        secret: &str,
        phc: String,
        now_us: i64,
    ) -> Result<String, AuthError> {
        let (id, inv) = self.invitation(secret, now_us)?;
        if inv.kind != InvitationKind::SetPassword {
            return Err(AuthError::Invalid(
                "this link does not set a password".into(),
            ));
        }
        // A link a manager made (not the operator's) only ever sets a first password:
        // otherwise a link kept back could reset the password of an account in use.
        if inv.issued_by != "cli" && in_use(&self.file, &inv.user, now_us) {
            return Err(AuthError::Invalid(
                "this account is already in use, so this link no longer works: ask the \
                 service's operator for a new one"
                    .into(),
            ));
        }
        let user = self
            .file
            .users
            .get_mut(&inv.user)
            .ok_or_else(|| AuthError::UnknownUser(inv.user.clone()))?;
        user.password = Some(phc);
        user.sessions_from_us = now_us;
        // Every other open link for this user is spent with this one.
        for i in self.file.invitations.values_mut() {
            if i.user == inv.user && i.kind == InvitationKind::SetPassword && i.used_at_us.is_none()
            {
                i.used_at_us = Some(now_us);
            }
        }
        if let Some(i) = self.file.invitations.get_mut(&id) {
            i.used_at_us = Some(now_us);
        }
        self.save()?;
        Ok(inv.user)
    }

    /// Whether `user` already signs in (a password, or a live token): a manager's link
    /// may not be made for them ([`in_use`]).
    pub fn in_use(&self, user: &str, now_us: i64) -> bool {
        in_use(&self.file, user, now_us)
    }

    /// Remembers how `user` wants the pages shown.
    pub fn set_display(&mut self, user: &str, display: &str) -> Result<(), AuthError> {
        let u = self
            .file
            .users
            .get_mut(user)
            .ok_or_else(|| AuthError::UnknownUser(user.into()))?;
        if u.display.as_deref() != Some(display) {
            u.display = Some(display.to_string());
            self.save()?;
        }
        Ok(())
    }

    pub fn users(&self) -> impl Iterator<Item = (&String, &User)> {
        self.file.users.iter()
    }

    /// Issues a token for `user`, returning (token id, token). The token is not kept.
    pub fn issue(
        &mut self,
        user: &str,
        now_us: i64,
        expires_at_us: Option<i64>,
    ) -> Result<(String, String), AuthError> {
        match self.file.users.get(user) {
            None => return Err(AuthError::UnknownUser(user.into())),
            Some(u) if u.revoked_at_us.is_some() => {
                return Err(AuthError::Invalid(format!("{user} is revoked")))
            }
            Some(_) => {}
        }
        let live = self
            .file
            .tokens
            .values()
            .filter(|t| {
                t.user == user
                    && t.revoked_at_us.is_none()
                    && t.expires_at_us.is_none_or(|e| e > now_us)
            })
            .count();
        if live >= TOKENS_PER_USER_MAX {
            return Err(AuthError::Invalid(format!(
                "{user} already has {live} live tokens (the limit); revoke one first"
            )));
        }
        let id = hex(&random::<8>()?);
        let token = format!("clt_{id}_{}", B64URL.encode(random::<32>()?));
        self.file.tokens.insert(
            id.clone(),
            TokenRecord {
                user: user.into(),
                hash: B64.encode(blake3::keyed_hash(&self.key, token.as_bytes()).as_bytes()),
                issued_at_us: now_us,
                expires_at_us,
                revoked_at_us: None,
            },
        );
        self.save()?;
        Ok((id, token))
    }

    /// Revokes every live token of `user`; returns how many.
    pub fn revoke_all(&mut self, user: &str, now_us: i64) -> Result<usize, AuthError> {
        let mut revoked = 0;
        for t in self.file.tokens.values_mut() {
            if t.user == user && t.revoked_at_us.is_none() {
                t.revoked_at_us = Some(now_us);
                revoked += 1;
            }
        }
        if revoked > 0 {
            self.save()?;
        }
        Ok(revoked)
    }

    /// Revokes a token by its id (or by the token itself).
    pub fn revoke(&mut self, id_or_token: &str, now_us: i64) -> Result<String, AuthError> {
        let id = token_id(id_or_token).unwrap_or(id_or_token).to_string();
        let record = self
            .file
            .tokens
            .get_mut(&id)
            .ok_or_else(|| AuthError::UnknownToken(id.clone()))?;
        if record.revoked_at_us.is_none() {
            record.revoked_at_us = Some(now_us);
            self.save()?;
        }
        Ok(id)
    }
}

/// The users, token hashes and token key in `dir`, as a replica copies them.
pub fn copy_files(dir: &Path) -> Result<crate::replication::AuthCopy, AuthError> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let key_path = dir.join(KEY_FILE);
    let key = std::fs::read(&key_path).map_err(io(&key_path))?;
    let json = read_bytes(&dir.join(AUTH_FILE))?.map(|(bytes, _)| bytes);
    let mut digest = blake3::Hasher::new();
    digest.update(&key);
    if let Some(json) = &json {
        digest.update(json);
    }
    Ok(crate::replication::AuthCopy {
        auth_json: json.map(|j| b64.encode(j)),
        auth_key: b64.encode(&key),
        digest: digest.finalize().to_hex().to_string(),
    })
}

/// Puts a primary's users and token key into a replica's `dir` (each file whole or not
/// at all, under the editors' lock), where they differ; returns whether anything did.
/// Unless `key_may_change` (before the replica's service has read its key), a token key
/// other than the one in `dir` is refused: a running service keeps the key it started
/// with, so tokens hashed with another would all fail.
pub fn install_copy(
    dir: &Path,
    copy: &crate::replication::AuthCopy,
    key_may_change: bool,
) -> Result<bool, AuthError> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let bad =
        |what: &str| AuthError::Invalid(format!("the primary's copy of its {what} is not base64"));
    let key = b64.decode(&copy.auth_key).map_err(|_| bad(KEY_FILE))?;
    if key.len() != 32 {
        return Err(AuthError::Invalid(format!(
            "the primary's {KEY_FILE} is {} bytes, not 32",
            key.len()
        )));
    }
    let json = match &copy.auth_json {
        Some(j) => {
            let bytes = b64.decode(j).map_err(|_| bad(AUTH_FILE))?;
            parse_file(&dir.join(AUTH_FILE), &bytes)?;
            Some(bytes)
        }
        None => None,
    };
    let _files = AuthFiles::open(dir)?;
    let mut changed = false;
    let key_path = dir.join(KEY_FILE);
    if std::fs::read(&key_path).ok().as_deref() != Some(&key[..]) {
        if !key_may_change {
            return Err(AuthError::Invalid(format!(
                "the primary's {KEY_FILE} (the key tokens are hashed with) changed: restart \
                 the replica to take it; until then its users are not copied"
            )));
        }
        write_atomic(&key_path, &key)?;
        changed = true;
    }
    let json_path = dir.join(AUTH_FILE);
    let current = read_bytes(&json_path)?.map(|(bytes, _)| bytes);
    match json {
        Some(json) if current.as_deref() != Some(&json[..]) => {
            write_atomic(&json_path, &json)?;
            changed = true;
        }
        None if current.is_some() => {
            std::fs::remove_file(&json_path).map_err(io(&json_path))?;
            changed = true;
        }
        _ => {}
    }
    Ok(changed)
}

/// The file's bytes and their BLAKE3 hash; `None` when there is no file yet.
fn read_bytes(path: &Path) -> Result<Option<(Vec<u8>, blake3::Hash)>, AuthError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let hash = blake3::hash(&bytes);
            Ok(Some((bytes, hash)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

fn parse_file(path: &Path, bytes: &[u8]) -> Result<AuthFile, AuthError> {
    serde_json::from_slice(bytes).map_err(|e| AuthError::Damaged {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// The file, and the hash of the bytes it was parsed from.
fn read_file(path: &Path) -> Result<(AuthFile, Option<blake3::Hash>), AuthError> {
    match read_bytes(path)? {
        Some((bytes, hash)) => Ok((parse_file(path, &bytes)?, Some(hash))),
        None => Ok((AuthFile::default(), None)),
    }
}

/// Whether `user` has a password or a live token.
fn in_use(file: &AuthFile, user: &str, now_us: i64) -> bool {
    file.users.get(user).is_some_and(|u| u.password.is_some())
        || file.tokens.values().any(|t| {
            t.user == user
                && t.revoked_at_us.is_none()
                && t.expires_at_us.is_none_or(|e| e > now_us)
        })
}

/// The invitation whose keyed hash is `secret`'s.
fn find_invitation<'a>(
    key: &[u8; 32],
    file: &'a AuthFile,
    secret: &str,
) -> Option<(&'a str, &'a Invitation)> {
    let rest = secret.strip_prefix("inv_")?;
    let (id, tail) = rest.split_once('_')?;
    if id.is_empty() || tail.is_empty() {
        return None;
    }
    let (id, inv) = file.invitations.get_key_value(id)?;
    let expected: [u8; 32] = B64.decode(&inv.hash).ok()?.try_into().ok()?;
    // blake3::Hash compares in constant time.
    (blake3::keyed_hash(key, secret.as_bytes()) == blake3::Hash::from(expected))
        .then_some((id.as_str(), inv))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The id part of a `clt_<id>_<secret>` token.
fn token_id(token: &str) -> Option<&str> {
    let rest = token.strip_prefix("clt_")?;
    let (id, secret) = rest.split_once('_')?;
    (!id.is_empty() && !secret.is_empty()).then_some(id)
}

/// Why a bearer token was not accepted. Deliberately coarse towards the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    Missing,
    Invalid,
    /// Too many failures from this client; retry after this many seconds.
    TooManyAttempts(u64),
}

struct Loaded {
    file: AuthFile,
    /// The BLAKE3 hash of the bytes `file` was parsed from (`None`: there was no file).
    hash: Option<blake3::Hash>,
}

/// The service's view of the files, reloaded when the CLI changes them.
pub struct Authenticator {
    path: PathBuf,
    key: [u8; 32],
    loaded: RwLock<Loaded>,
    checked: Mutex<Instant>,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Authenticator {
    pub fn open(dir: &Path) -> Result<Self, AuthError> {
        let files = AuthFiles::open(dir)?;
        Ok(Self {
            key: files.key,
            loaded: RwLock::new(Loaded {
                hash: files.read_hash,
                file: files.file,
            }),
            path: dir.join(AUTH_FILE),
            checked: Mutex::new(Instant::now()),
            failures: Mutex::new(HashMap::new()),
        })
    }

    /// Reloads the file if its content changed since it was read (checked at most every
    /// [`RELOAD_CHECK`]).
    ///
    /// The content is compared, not the metadata: two edits of the same length within one
    /// tick of the file system's clock leave size and mtime as they were, and a rename can
    /// reuse a freed inode. Reading and hashing the file once a second costs about 1 ms
    /// per MB (BLAKE3 runs at several GB/s; the read is from the page cache).
    fn refresh(&self) {
        {
            let mut checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
            if checked.elapsed() < RELOAD_CHECK {
                return;
            }
            *checked = Instant::now();
        }
        self.reload();
    }

    /// Reads the file now and loads it if its content differs from what is in force;
    /// returns whether it did. An unreadable or damaged file keeps the last good copy in
    /// force (and is read again at the next check).
    pub fn reload(&self) -> bool {
        let Ok(read) = read_bytes(&self.path) else {
            return false;
        };
        let hash = read.as_ref().map(|(_, hash)| *hash);
        if hash == self.loaded.read().unwrap_or_else(|p| p.into_inner()).hash {
            return false;
        }
        let file = match &read {
            Some((bytes, _)) => match parse_file(&self.path, bytes) {
                Ok(file) => file,
                Err(_) => return false,
            },
            None => AuthFile::default(),
        };
        *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = Loaded { file, hash };
        true
    }

    /// Checks the `Authorization` header's value for a client.
    ///
    /// Whether the client is locked out, the token check and the counting of a failure are
    /// one critical section under the failures lock: otherwise parallel bad tokens from one
    /// client would all pass the lockout check before any of their failures was counted,
    /// and get more than [`FAILED_ATTEMPTS_MAX`] guesses. What it holds the lock for is a
    /// keyed BLAKE3 hash of the token and two map look-ups (well under a microsecond); the
    /// file reload happens before it.
    pub fn authenticate(
        &self,
        client: Option<IpAddr>,
        header: Option<&str>,
        now_us: i64,
    ) -> Result<Principal, Rejected> {
        // No credentials is no attempt: always 401, never the lockout's 429, so that a
        // client told to authenticate is told so even while its address is locked out.
        let Some(header) = header else {
            return Err(Rejected::Missing);
        };
        self.refresh();
        let client = client.map(client_key);
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(seconds) = client.and_then(|c| locked_out(&failures, c)) {
            return Err(Rejected::TooManyAttempts(seconds));
        }
        // The scheme is case-insensitive (RFC 9110 section 11.1).
        let found = header
            .get(..7)
            .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
            .map(|_| header[7..].trim())
            .and_then(|token| self.principal(token, now_us));
        match found {
            Some(p) => Ok(p),
            None => {
                if let Some(client) = client {
                    fail(&mut failures, client);
                }
                Err(Rejected::Invalid)
            }
        }
    }

    fn principal(&self, token: &str, now_us: i64) -> Option<Principal> {
        let id = token_id(token)?;
        let loaded = self.loaded.read().unwrap_or_else(|p| p.into_inner());
        let record = loaded.file.tokens.get(id)?;
        let expected = B64.decode(&record.hash).ok()?;
        let expected: [u8; 32] = expected.try_into().ok()?;
        // blake3::Hash compares in constant time.
        if blake3::keyed_hash(&self.key, token.as_bytes()) != blake3::Hash::from(expected) {
            return None;
        }
        if record.revoked_at_us.is_some() || record.expires_at_us.is_some_and(|t| t <= now_us) {
            return None;
        }
        let user = loaded.file.users.get(&record.user)?;
        if user.revoked_at_us.is_some() {
            return None;
        }
        Some(Principal {
            id: record.user.clone(),
            role: user.role,
        })
    }
}

/// What a browser sign-in attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    Ok(Principal),
    /// Wrong user id or password (the caller is not told which).
    Refused,
    /// Too many failures from this client; retry after this many seconds.
    LockedOut(u64),
}

impl Authenticator {
    /// Checks a browser sign-in: `user`'s password against `password`, under the same
    /// per-client limit on failures as bearer tokens. The attempt is counted as a failure
    /// before the (slow, deliberately) password hash is checked and taken back if it
    /// matches, so parallel guesses cannot outrun the limit. Runs the hash on the calling
    /// thread: call it from the blocking pool.
    pub fn sign_in(&self, client: Option<IpAddr>, user: &str, password: &str) -> SignIn {
        self.refresh();
        let client = client.map(client_key);
        {
            let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(seconds) = client.and_then(|c| locked_out(&failures, c)) {
                return SignIn::LockedOut(seconds);
            }
            if let Some(c) = client {
                fail(&mut failures, c);
            }
        }
        let (stored, principal) = {
            let loaded = self.loaded.read().unwrap_or_else(|p| p.into_inner());
            match loaded.file.users.get(user) {
                Some(u) if u.revoked_at_us.is_none() => (
                    u.password.clone(),
                    Some(Principal {
                        id: user.to_string(),
                        role: u.role,
                    }),
                ),
                _ => (None, None),
            }
        };
        // An unknown user costs the same hash as a known one: timing tells no user ids.
        let matched = password::verify(password, stored.as_deref());
        match (matched, principal) {
            (true, Some(p)) => {
                if let Some(c) = client {
                    let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(entry) = failures.get_mut(&c) {
                        entry.0 = entry.0.saturating_sub(1);
                    }
                }
                SignIn::Ok(p)
            }
            _ => SignIn::Refused,
        }
    }

    /// Seconds until `client` may try again, if it is locked out now.
    pub fn locked_out(&self, client: Option<IpAddr>) -> Option<u64> {
        let client = client.map(client_key)?;
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        locked_out(&failures, client)
    }

    /// Counts a failed attempt of another kind (a forged form) towards `client`'s limit.
    pub fn count_failure(&self, client: Option<IpAddr>) {
        if let Some(c) = client.map(client_key) {
            let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            fail(&mut failures, c);
        }
    }

    /// The user `id` as the files now say, if they exist and are not revoked.
    pub fn live_user(&self, id: &str) -> Option<User> {
        self.refresh();
        let loaded = self.loaded.read().unwrap_or_else(|p| p.into_inner());
        loaded
            .file
            .users
            .get(id)
            .filter(|u| u.revoked_at_us.is_none())
            .cloned()
    }

    /// Every user, by id, as the files now say, and whether each already signs in (a
    /// password or a live token), for the managers' staff page.
    pub fn users(&self, now_us: i64) -> Vec<(String, User, bool)> {
        self.refresh();
        let loaded = self.loaded.read().unwrap_or_else(|p| p.into_inner());
        loaded
            .file
            .users
            .iter()
            .map(|(id, u)| (id.clone(), u.clone(), in_use(&loaded.file, id, now_us)))
            .collect()
    }

    /// The invitation `secret` names, as [`AuthFiles::invitation`] finds it.
    pub fn invitation(&self, secret: &str, now_us: i64) -> Option<Invitation> {
        self.refresh();
        let found = {
            let loaded = self.loaded.read().unwrap_or_else(|p| p.into_inner());
            find_invitation(&self.key, &loaded.file, secret).is_some()
        };
        // An invitation made by the CLI a moment ago: read the file now rather than
        // answer "not valid" until the next reload check.
        if !found {
            self.reload();
        }
        let loaded = self.loaded.read().unwrap_or_else(|p| p.into_inner());
        let (_, inv) = find_invitation(&self.key, &loaded.file, secret)?;
        let usable = inv.expires_at_us > now_us
            && (inv.kind == InvitationKind::DemoSignIn || inv.used_at_us.is_none())
            && loaded
                .file
                .users
                .get(&inv.user)
                .is_some_and(|u| u.revoked_at_us.is_none());
        usable.then(|| inv.clone())
    }
}

/// Passwords for browser sign-in: argon2id with the parameters OWASP recommends (19 MiB,
/// two passes, one lane), stored as PHC strings, so parameters can be raised later and
/// old hashes still verify.
pub mod password {
    use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
    use argon2::{Algorithm, Argon2, Params, Version};

    pub const MEMORY_KIB: u32 = 19 * 1024;
    pub const PASSES: u32 = 2;
    pub const LANES: u32 = 1;

    fn argon2() -> Argon2<'static> {
        let params = Params::new(MEMORY_KIB, PASSES, LANES, None).expect("valid parameters");
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// Checks a new password: at least [`super::PASSWORD_CHARS_MIN`] characters, at most
    /// [`super::PASSWORD_BYTES_MAX`] bytes, not only spaces.
    pub fn check(password: &str) -> Result<(), String> {
        if password.chars().count() < super::PASSWORD_CHARS_MIN {
            return Err(format!(
                "Enter a password of at least {} characters (three random words work well)",
                super::PASSWORD_CHARS_MIN
            ));
        }
        if password.len() > super::PASSWORD_BYTES_MAX {
            return Err(format!(
                "Enter a password of at most {} characters",
                super::PASSWORD_BYTES_MAX
            ));
        }
        if password.trim().is_empty() {
            return Err("Enter a password that is not only spaces".into());
        }
        Ok(())
    }

    /// The PHC string of `password` under a fresh random salt.
    pub fn hash(password: &str) -> Result<String, String> {
        let mut salt = [0u8; 16];
        getrandom::getrandom(&mut salt).map_err(|e| e.to_string())?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())
    }

    /// Whether `password` matches `stored`; with nothing stored, spends the same time and
    /// answers no.
    pub fn verify(password: &str, stored: Option<&str>) -> bool {
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let dummy =
            DUMMY.get_or_init(|| hash("no password is set for this user").unwrap_or_default());
        let (phc, real) = match stored {
            Some(s) => (s, true),
            None => (dummy.as_str(), false),
        };
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
            && real
    }
}

/// Seconds until `client` may try again, if it has failed too often.
fn locked_out(failures: &HashMap<IpAddr, (u32, Instant)>, client: IpAddr) -> Option<u64> {
    let (count, since) = failures.get(&client)?;
    let elapsed = since.elapsed();
    (*count >= FAILED_ATTEMPTS_MAX && elapsed < FAILED_WINDOW)
        .then(|| (FAILED_WINDOW - elapsed).as_secs().max(1))
}

/// Counts a failure of `client`, forgetting the oldest client at [`FAILED_CLIENTS_MAX`].
fn fail(failures: &mut HashMap<IpAddr, (u32, Instant)>, client: IpAddr) {
    if failures.len() >= FAILED_CLIENTS_MAX && !failures.contains_key(&client) {
        failures.retain(|_, (_, since)| since.elapsed() < FAILED_WINDOW);
        if failures.len() >= FAILED_CLIENTS_MAX {
            let oldest = failures
                .iter()
                .min_by_key(|(_, (_, since))| *since)
                .map(|(ip, _)| *ip);
            if let Some(ip) = oldest {
                failures.remove(&ip);
            }
        }
    }
    let entry = failures.entry(client).or_insert((0, Instant::now()));
    if entry.1.elapsed() >= FAILED_WINDOW {
        *entry = (0, Instant::now());
    }
    entry.0 += 1;
}

/// The unit the failed-attempt limit counts: an IPv4 address, or an IPv6 /64 (one site's
/// network; a single host can take any address in it at will).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut bits = u128::from(v6);
                bits &= !((1u128 << 64) - 1);
                IpAddr::V6(std::net::Ipv6Addr::from(bits))
            }
        },
    }
}
