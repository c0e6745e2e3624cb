//! Keys at rest: the master key, and the data keys it wraps.
//!
//! Every payload of a sealed ledger is encrypted with a **data key** ([`seal`]): one per
//! person the event is about, one for the organisation (events about no one, and the
//! kinds a ledger names as the organisation's, such as its access log), and one for the
//! derived state in sled. Data keys are random, never derived from anything, so that
//! destroying one makes what it sealed unreadable for good.
//!
//! Data keys live in `data.keys` in the ledger's folder, each wrapped (sealed) under the
//! **master key**, which lives outside the folder, in a file of its own. `data.keys` is a
//! file careledger writes itself: a header line, then one checked record per key, appended
//! and synced before any event sealed with the key is written (so that a crash can never
//! leave an event whose key was lost). Rewriting it (a new master key; a key destroyed) is
//! a new file, synced, renamed over the old one, and the folder synced: the old file's
//! blocks are released, unlike a value sled deletes, which stays in its old segments.
//!
//! ```text
//! data.keys := "careledger data keys v1 " master-id "\n" record*
//! record    := u32 LE body length | body | first 16 bytes of BLAKE3(length | body)
//! body      := entry+   (the keys of one write: all of them or, torn, none)
//! entry     := u8 owner tag | u16 LE owner length | owner | 24-byte nonce | wrapped key (48)
//! wrapped   := XChaCha20-Poly1305(master, nonce, "careledger data key v1\0" | tag | owner, key)
//! ```

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use base64::Engine;
use zeroize::Zeroizing;

use crate::seal::{self, Key, KEY_LEN, NONCE_LEN, TAG_LEN};
use crate::{barrier, StoreError};

/// The data keys' file in a ledger's folder.
pub const DATA_KEYS_FILE: &str = "data.keys";
const HEADER_PREFIX: &str = "careledger data keys v1 ";
const MASTER_MAGIC: &str = "careledger master key v1";
const WRAP_AAD: &[u8] = b"careledger data key v1\0";
const CHECK_LEN: usize = 16;
/// Longest owner name (the envelope's subject limit).
const OWNER_MAX: usize = 200;

/// Whose data key seals a payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    /// Events about no one, and the kinds the ledger names as the organisation's.
    Organisation,
    /// The person (or other subject) the event is about.
    Subject(String),
    /// The derived state in sled (the projections' pairs).
    Derived,
}

impl Owner {
    pub(crate) fn tag(&self) -> u8 {
        match self {
            Owner::Organisation => 1,
            Owner::Subject(_) => 2,
            Owner::Derived => 3,
        }
    }

    fn name(&self) -> &str {
        match self {
            Owner::Subject(s) => s,
            _ => "",
        }
    }

    fn from_parts(tag: u8, name: &str) -> Option<Self> {
        match (tag, name.is_empty()) {
            (1, true) => Some(Owner::Organisation),
            (2, false) => Some(Owner::Subject(name.to_string())),
            (3, true) => Some(Owner::Derived),
            _ => None,
        }
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Organisation => f.write_str("the organisation"),
            Owner::Subject(s) => f.write_str(s),
            Owner::Derived => f.write_str("the derived state"),
        }
    }
}

/// The key that wraps every data key of a ledger. Kept outside the ledger's folder.
#[derive(Clone)]
pub struct MasterKey {
    key: Key,
    id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

/// Where a ledger's master key is looked for when none is named: beside the folder, never
/// in it (`/srv/ledger` has `/srv/ledger.master-key`).
pub fn default_master_key_path(dir: &Path) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "ledger".into());
    dir.with_file_name(format!("{name}.master-key"))
}

impl MasterKey {
    pub fn generate() -> Result<Self, StoreError> {
        Ok(Self::from_key(Key::generate().map_err(random_failed)?))
    }

    fn from_key(key: Key) -> Self {
        let id = blake3::derive_key("careledger master key id v1", key.as_bytes());
        Self {
            key,
            id: crate::hex(&id[..8]),
        }
    }

    /// A short public name of the key (not secret): `data.keys` names the master key its
    /// keys are wrapped under, so a wrong key file is told apart from damage.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Writes a new master key to `path` (which must not exist), readable by its owner
    /// only, synced with its folder.
    pub fn create_file(path: &Path) -> Result<Self, StoreError> {
        let key = Self::generate()?;
        key.write_file(path)?;
        Ok(key)
    }

    /// Writes this key to `path`, which must not exist.
    pub fn write_file(&self, path: &Path) -> Result<(), StoreError> {
        let text = Zeroizing::new(format!(
            "{MASTER_MAGIC}\n{}\n",
            base64::engine::general_purpose::STANDARD.encode(self.key.as_bytes())
        ));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let io = crate::io_err(path);
        let mut file = options.open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                StoreError::InvalidArgument(format!(
                    "{} already exists: a master key is never overwritten",
                    path.display()
                ))
            } else {
                io(e)
            }
        })?;
        file.write_all(text.as_bytes())
            .map_err(crate::io_err(path))?;
        file.sync_all().map_err(crate::io_err(path))?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            barrier::sync_dir(parent).map_err(crate::io_err(parent))?;
        }
        Ok(())
    }

    /// Reads the master key at `path`.
    pub fn read_file(path: &Path) -> Result<Self, StoreError> {
        let bytes =
            Zeroizing::new(fs::read(path).map_err(|e| {
                StoreError::MasterKey(format!("cannot read {}: {e}", path.display()))
            })?);
        let bad = || {
            StoreError::MasterKey(format!(
                "{} is not a careledger master key (it should be the line `{MASTER_MAGIC}` \
                 and a line of base64)",
                path.display()
            ))
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| bad())?;
        let mut lines = text.lines();
        if lines.next() != Some(MASTER_MAGIC) {
            return Err(bad());
        }
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(lines.next().ok_or_else(bad)?.trim())
                .map_err(|_| bad())?,
        );
        Ok(Self::from_key(Key::from_slice(&bytes).ok_or_else(bad)?))
    }

    fn wrap(&self, owner: &Owner, key: &Key) -> Result<Vec<u8>, StoreError> {
        let nonce = seal::nonce().map_err(random_failed)?;
        let mut body = Vec::with_capacity(3 + owner.name().len() + NONCE_LEN + KEY_LEN + TAG_LEN);
        body.push(owner.tag());
        body.extend_from_slice(&(owner.name().len() as u16).to_le_bytes());
        body.extend_from_slice(owner.name().as_bytes());
        body.extend_from_slice(&nonce);
        seal::seal_into(
            &self.key,
            &nonce,
            &wrap_aad(owner),
            key.as_bytes(),
            &mut body,
        );
        Ok(body)
    }

    /// Every key in a record's body (one entry after another).
    fn unwrap_all(&self, body: &[u8]) -> Result<Vec<(Owner, Key)>, String> {
        let mut out = Vec::new();
        let mut rest = body;
        while !rest.is_empty() {
            let len = rest
                .get(1..3)
                .map(|l| u16::from_le_bytes(l.try_into().expect("2 bytes")) as usize)
                .ok_or("an entry cut short")?;
            let end = 3 + len + NONCE_LEN + KEY_LEN + TAG_LEN;
            let entry = rest.get(..end).ok_or("an entry cut short")?;
            out.push(self.unwrap(entry)?);
            rest = &rest[end..];
        }
        if out.is_empty() {
            return Err("an empty record".into());
        }
        Ok(out)
    }

    fn unwrap(&self, body: &[u8]) -> Result<(Owner, Key), String> {
        let (&tag, rest) = body.split_first().ok_or("an empty record")?;
        let len = u16::from_le_bytes(
            rest.get(..2)
                .ok_or("a record cut short")?
                .try_into()
                .expect("2 bytes"),
        ) as usize;
        let rest = &rest[2..];
        let name = rest.get(..len).ok_or("a record cut short")?;
        let name = std::str::from_utf8(name).map_err(|_| "an owner that is not UTF-8")?;
        let owner = Owner::from_parts(tag, name).ok_or("an owner of no known kind")?;
        let rest = &rest[len..];
        if rest.len() != NONCE_LEN + KEY_LEN + TAG_LEN {
            return Err("a wrapped key of the wrong length".into());
        }
        let nonce: [u8; NONCE_LEN] = rest[..NONCE_LEN].try_into().expect("24 bytes");
        let plain = seal::open(&self.key, &nonce, &wrap_aad(&owner), &rest[NONCE_LEN..])
            .ok_or_else(|| format!("the key of {owner} does not unwrap under this master key"))?;
        Ok((owner, Key::from_slice(&plain).expect("32 bytes")))
    }
}

fn wrap_aad(owner: &Owner) -> Vec<u8> {
    let mut aad = WRAP_AAD.to_vec();
    aad.push(owner.tag());
    aad.extend_from_slice(owner.name().as_bytes());
    aad
}

fn random_failed(e: getrandom::Error) -> StoreError {
    StoreError::MasterKey(format!("the system's random generator failed: {e}"))
}

/// Whether `record` (length, body, check) is whole and passes its check.
fn record_checks(record: &[u8]) -> bool {
    let Some(len) = record.get(..4) else {
        return false;
    };
    let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
    if record.len() != 4 + len + CHECK_LEN {
        return false;
    }
    blake3::hash(&record[..4 + len]).as_bytes()[..CHECK_LEN] == record[4 + len..]
}

/// Whether a whole record that passes its check starts at byte `at` of `bytes`.
fn record_checks_at(bytes: &[u8], at: usize) -> bool {
    let Some(len) = bytes.get(at..at + 4) else {
        return false;
    };
    let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
    bytes
        .get(at..at + 4 + len + CHECK_LEN)
        .is_some_and(record_checks)
}

fn frame(body: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    let check = blake3::hash(&out[start..]);
    out.extend_from_slice(&check.as_bytes()[..CHECK_LEN]);
}

/// Data keys by owner; a subject's is found by its name without making an [`Owner`] (the
/// hot path: every payload read or written looks one up).
#[derive(Default)]
pub(crate) struct KeyMap {
    organisation: Option<Arc<Key>>,
    derived: Option<Arc<Key>>,
    subjects: HashMap<String, Arc<Key>>,
}

impl KeyMap {
    fn get(&self, owner: &Owner) -> Option<&Arc<Key>> {
        match owner {
            Owner::Organisation => self.organisation.as_ref(),
            Owner::Derived => self.derived.as_ref(),
            Owner::Subject(s) => self.subjects.get(s.as_str()),
        }
    }

    fn insert(&mut self, owner: Owner, key: Arc<Key>) {
        match owner {
            Owner::Organisation => self.organisation = Some(key),
            Owner::Derived => self.derived = Some(key),
            Owner::Subject(s) => {
                self.subjects.insert(s, key);
            }
        }
    }

    fn len(&self) -> usize {
        usize::from(self.organisation.is_some())
            + usize::from(self.derived.is_some())
            + self.subjects.len()
    }

    fn all(&self) -> Vec<(Owner, Arc<Key>)> {
        let mut out = Vec::with_capacity(self.len());
        out.extend(self.organisation.clone().map(|k| (Owner::Organisation, k)));
        out.extend(self.derived.clone().map(|k| (Owner::Derived, k)));
        let mut subjects: Vec<_> = self.subjects.iter().collect();
        subjects.sort_by(|a, b| a.0.cmp(b.0));
        out.extend(
            subjects
                .into_iter()
                .map(|(s, k)| (Owner::Subject(s.clone()), k.clone())),
        );
        out
    }
}

/// The data keys of one ledger, unwrapped, and the file they are kept in.
pub struct Keyring {
    path: PathBuf,
    master: MasterKey,
    keys: RwLock<KeyMap>,
    /// Records of keys made since the last [`Keyring::write_pending`], not yet in the file.
    pending: Mutex<Vec<u8>>,
    /// Where the next record goes; `None` for a keyring opened to read only.
    end: Mutex<Option<u64>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Keyring({}, master {})",
            self.path.display(),
            self.master.id
        )
    }
}

impl Keyring {
    /// Writes a new `data.keys` in `dir` holding a fresh derived-state key and (with
    /// `organisation`; a replica takes its primary's) organisation key, wrapped under
    /// `master`.
    pub(crate) fn create(
        dir: &Path,
        master: &MasterKey,
        organisation: bool,
    ) -> Result<(), StoreError> {
        let path = dir.join(DATA_KEYS_FILE);
        let mut bytes = format!("{HEADER_PREFIX}{}\n", master.id()).into_bytes();
        let owners: &[Owner] = if organisation {
            &[Owner::Organisation, Owner::Derived]
        } else {
            &[Owner::Derived]
        };
        let mut body = Vec::new();
        for owner in owners {
            let key = Key::generate().map_err(random_failed)?;
            body.extend_from_slice(&master.wrap(owner, &key)?);
        }
        frame(&body, &mut bytes);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(crate::io_err(&path))?;
        file.write_all(&bytes).map_err(crate::io_err(&path))?;
        file.sync_all().map_err(crate::io_err(&path))
    }

    /// Reads the data keys of the ledger at `dir`. With `write` the keyring can add keys;
    /// its first write removes a torn last record (a write a crash cut short: no event
    /// sealed with it was written).
    pub fn open(dir: &Path, master: &MasterKey, write: bool) -> Result<Self, StoreError> {
        let path = dir.join(DATA_KEYS_FILE);
        let bytes = fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                StoreError::Corrupt(format!(
                    "{DATA_KEYS_FILE} is missing: without it no payload of this ledger can \
                     be read (restore it from the latest backup)"
                ))
            } else {
                crate::io_err(&path)(e)
            }
        })?;
        // A torn last record is cut off by the first write after it, not here: opening
        // changes nothing.
        let (keys, whole) = Self::parse(&bytes, master)?;
        Ok(Self {
            path,
            master: master.clone(),
            keys: RwLock::new(keys),
            pending: Mutex::new(Vec::new()),
            end: Mutex::new(write.then_some(whole)),
        })
    }

    /// The keys in `bytes`, and where the last whole record ends.
    pub(crate) fn parse(bytes: &[u8], master: &MasterKey) -> Result<(KeyMap, u64), StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt(format!("{DATA_KEYS_FILE}: {reason}"));
        let line_end = bytes
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| corrupt("its header line is missing".into()))?;
        let header = std::str::from_utf8(&bytes[..line_end])
            .ok()
            .and_then(|h| h.strip_prefix(HEADER_PREFIX))
            .ok_or_else(|| corrupt("its header line is not careledger's".into()))?;
        if header != master.id() {
            return Err(StoreError::MasterKey(format!(
                "the master key given (id {}) is not this ledger's: its data keys are \
                 wrapped under the master key with id {header}",
                master.id()
            )));
        }
        let mut keys = KeyMap::default();
        let mut at = line_end + 1;
        loop {
            let rest = &bytes[at..];
            if rest.is_empty() {
                break;
            }
            let Some(len) = rest.get(..4) else { break };
            let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
            let Some(record) = rest.get(..4 + len + CHECK_LEN) else {
                // Cut short at the end: a torn last write.
                break;
            };
            if !record_checks(record) {
                // The keys of one write are one record, synced before anything sealed with
                // them is written: a crash during that write tears only the last record,
                // and nothing whole can follow it. A whole record after a bad one is damage.
                if record_checks_at(bytes, at + record.len()) {
                    return Err(corrupt(format!(
                        "the record at byte {at} fails its check, and whole records follow \
                         it: the file is damaged. Restore data.keys from the latest backup \
                         (it holds every key the events in that backup need)"
                    )));
                }
                break;
            }
            for (owner, key) in master
                .unwrap_all(&record[4..4 + len])
                .map_err(|reason| corrupt(format!("the record at byte {at}: {reason}")))?
            {
                if let Some(before) = keys.get(&owner) {
                    let before: &Key = before;
                    if before.as_bytes() != key.as_bytes() {
                        return Err(corrupt(format!(
                            "two different keys for {owner} (the second at byte {at})"
                        )));
                    }
                }
                keys.insert(owner, Arc::new(key));
            }
            at += record.len();
        }
        Ok((keys, at as u64))
    }

    pub fn master_id(&self) -> &str {
        self.master.id()
    }

    /// The key of `owner`, if the ledger has one.
    pub fn key(&self, owner: &Owner) -> Option<Arc<Key>> {
        self.keys.read().ok()?.get(owner).cloned()
    }

    /// The key of the subject named `subject`, if it has one.
    pub fn subject_key(&self, subject: &str) -> Option<Arc<Key>> {
        self.keys.read().ok()?.subjects.get(subject).cloned()
    }

    /// How many data keys the ledger holds.
    pub fn len(&self) -> usize {
        self.keys.read().map_or(0, |k| k.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key of `owner`, made now if it has none: a new key is in memory at once and
    /// in the file after the next [`Keyring::write_pending`], which the appender calls
    /// before it writes anything sealed with it.
    pub(crate) fn key_or_new(&self, owner: &Owner) -> Result<Arc<Key>, String> {
        if let Some(key) = self.key(owner) {
            return Ok(key);
        }
        if owner.name().len() > OWNER_MAX {
            return Err(format!("the owner name {owner} is too long for a data key"));
        }
        let key = Arc::new(Key::generate().map_err(|e| format!("no random key: {e}"))?);
        let entry = self.master.wrap(owner, &key).map_err(|e| e.to_string())?;
        let mut pending = self.pending.lock().map_err(|_| "the keyring's lock")?;
        let mut keys = self.keys.write().map_err(|_| "the keyring's lock")?;
        // Whoever got here first made the key.
        if let Some(existing) = keys.get(owner) {
            return Ok(existing.clone());
        }
        pending.extend_from_slice(&entry);
        keys.insert(owner.clone(), key.clone());
        Ok(key)
    }

    /// Appends the keys made since the last call to the file, as one record, and syncs
    /// it. Returns whether there were any.
    pub(crate) fn write_pending(
        &self,
        faults: Option<&crate::fault::Faults>,
    ) -> Result<bool, String> {
        let mut pending = self.pending.lock().map_err(|_| "the keyring's lock")?;
        if pending.is_empty() {
            return Ok(false);
        }
        let mut end = self.end.lock().map_err(|_| "the keyring's lock")?;
        let Some(at) = *end else {
            return Err("the keyring was opened to read only".into());
        };
        let mut record = Vec::with_capacity(pending.len() + 4 + CHECK_LEN);
        frame(&pending, &mut record);
        let write = || -> std::io::Result<()> {
            let file = OpenOptions::new().write(true).open(&self.path)?;
            if file.metadata()?.len() > at {
                // A torn record after the last whole one: no event was sealed with it.
                file.set_len(at)?;
            }
            crate::fault::write_at(faults, crate::fault::Step::KeysWrite, &file, &record, at)?;
            crate::fault::sync_data(faults, crate::fault::Step::KeysSync, &file)
        };
        write().map_err(|e| format!("writing {DATA_KEYS_FILE} failed: {e}"))?;
        *end = Some(at + record.len() as u64);
        pending.clear();
        Ok(true)
    }

    /// The wrapped records of `owners`' keys, as the file holds them (for a replica, which
    /// has the same master key).
    pub(crate) fn wrapped(&self, owners: &[Owner]) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        for owner in owners {
            if let Some(key) = self.key(owner) {
                frame(
                    &self.master.wrap(owner, &key).map_err(|e| e.to_string())?,
                    &mut out,
                );
            }
        }
        Ok(out)
    }

    /// Takes the keys in `records` (from [`Keyring::wrapped`]) that this keyring lacks,
    /// into memory and the pending records.
    pub(crate) fn take_wrapped(&self, records: &[u8]) -> Result<(), String> {
        let mut at = 0;
        while at < records.len() {
            let rest = &records[at..];
            let len = rest
                .get(..4)
                .map(|l| u32::from_le_bytes(l.try_into().expect("4 bytes")) as usize)
                .ok_or("a wrapped key cut short")?;
            let record = rest
                .get(..4 + len + CHECK_LEN)
                .ok_or("a wrapped key cut short")?;
            if !record_checks(record) {
                return Err("a wrapped key fails its check".into());
            }
            let body = &record[4..4 + len];
            let mut entries = body;
            for (owner, key) in self.master.unwrap_all(body)? {
                let entry_len = 3 + owner.name().len() + NONCE_LEN + KEY_LEN + TAG_LEN;
                let (entry, rest) = entries.split_at(entry_len);
                entries = rest;
                let mut pending = self.pending.lock().map_err(|_| "the keyring's lock")?;
                let mut keys = self.keys.write().map_err(|_| "the keyring's lock")?;
                match keys.get(&owner) {
                    Some(mine) if mine.as_bytes() == key.as_bytes() => {}
                    Some(_) => {
                        return Err(format!(
                            "the primary's key for {owner} is not this replica's: the two \
                             are not copies of one ledger"
                        ))
                    }
                    None => {
                        pending.extend_from_slice(entry);
                        keys.insert(owner, Arc::new(key));
                    }
                }
            }
            at += record.len();
        }
        Ok(())
    }

    /// Rewraps every data key of the ledger at `dir` under `new`: a new file, synced,
    /// renamed over `data.keys`, the folder synced. Until the rename the old master key
    /// opens the ledger, after it only the new one. The caller holds the ledger's lock.
    pub(crate) fn rewrap(
        dir: &Path,
        old: &MasterKey,
        new: &MasterKey,
    ) -> Result<usize, StoreError> {
        let path = dir.join(DATA_KEYS_FILE);
        let bytes = fs::read(&path).map_err(crate::io_err(&path))?;
        let (keys, _) = Self::parse(&bytes, old)?;
        let mut out = format!("{HEADER_PREFIX}{}\n", new.id()).into_bytes();
        let owners = keys.all();
        let mut body = Vec::new();
        for (owner, key) in &owners {
            body.extend_from_slice(&new.wrap(owner, key)?);
        }
        if !body.is_empty() {
            frame(&body, &mut out);
        }
        replace_file(dir, DATA_KEYS_FILE, &out)?;
        Ok(owners.len())
    }
}

/// Replaces `dir/name` with `bytes`: a new file, synced, renamed over it, the folder
/// synced.
pub(crate) fn replace_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let path = dir.join(name);
    let temp = dir.join(format!("{name}.new"));
    let mut file = File::create(&temp).map_err(crate::io_err(&temp))?;
    file.write_all(bytes).map_err(crate::io_err(&temp))?;
    file.sync_all().map_err(crate::io_err(&temp))?;
    drop(file);
    fs::rename(&temp, &path).map_err(crate::io_err(&path))?;
    barrier::sync_dir(dir).map_err(crate::io_err(dir))
}
