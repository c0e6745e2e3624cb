//! Backups and restores.
//!
//! A backup is the events file up to a signed checkpoint, with the files a restore needs
//! beside it (the signing key, and whatever the caller names: the service's users and
//! token hashes). The events file only ever grows at its end and every frame carries its
//! own check, so a consistent backup needs neither the writer's lock nor its help: it is a
//! prefix of the file, cut at the end of a checkpoint frame, read while the service goes
//! on appending. The live file is synced before the backup is written, so a backup never
//! holds an event the ledger itself could still lose in a crash.
//!
//! An incremental backup holds the bytes after a previous backup's cut. It records the
//! BLAKE3 hash of the whole prefix it ends at, and is only taken if the live file's first
//! bytes hash to what the previous backup recorded: a ledger whose history changed since
//! the previous backup is refused, loudly, as a fork. A restore concatenates a full backup
//! and its incrementals, checks each link, verifies the result (the same size and root as
//! the last backup's checkpoint) and rebuilds sled from it.
//!
//! ```text
//! backup := "careledger backup 1\n" | sections | footer | footer length:u64 LE | "CLBKEND\n"
//! footer := lines of "name value": origin, verifier, events, bytes, root, prefix,
//!           [from EVENTS BYTES PREFIX], created, checkpoint (hex of the note),
//!           and one "file NAME OFFSET LENGTH BLAKE3" per section, events.log first
//! ```

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use careledger_log::{Checkpoint, NoteVerifier};

use crate::events_log::{EventsLog, FrameKind, EVENTS_FILE};
use crate::{barrier, hex, keys, MasterKey, StoreError, KEY_FILE};

pub const BACKUP_MAGIC: &[u8] = b"careledger backup 1\n";
const FOOTER_MAGIC: &[u8; 8] = b"CLBKEND\n";
/// Longest footer a reader accepts.
const FOOTER_BYTES_MAX: u64 = 1 << 20;
/// Bytes copied at a time.
const COPY_BYTES: usize = 1 << 20;
/// Largest file other than the events a backup holds (the signing key, the service's
/// users and token hashes are a few KiB): each is read whole.
const SIDE_FILE_BYTES_MAX: u64 = 16 << 20;

/// One file held in a backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    /// Where its bytes start in the backup file, and how many.
    pub offset: u64,
    pub len: u64,
    pub blake3: [u8; 32],
}

/// Where an incremental backup starts: the previous backup's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub events: u64,
    pub bytes: u64,
    pub prefix: [u8; 32],
}

/// What a backup holds (its footer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    pub origin: String,
    pub verifier: String,
    /// The ledger up to the checkpoint: its events, the events file's length, the root,
    /// and the BLAKE3 hash of the events file up to there.
    pub events: u64,
    pub bytes: u64,
    pub root: [u8; 32],
    pub prefix: [u8; 32],
    pub from: Option<Link>,
    pub created_us: i64,
    pub checkpoint: String,
    pub sections: Vec<Section>,
}

impl BackupInfo {
    /// Where a backup taken after this one starts.
    pub fn end(&self) -> Link {
        Link {
            events: self.events,
            bytes: self.bytes,
            prefix: self.prefix,
        }
    }

    fn footer(&self) -> String {
        let mut f = String::new();
        f.push_str(&format!("origin {}\n", self.origin));
        f.push_str(&format!("verifier {}\n", self.verifier));
        f.push_str(&format!("events {}\n", self.events));
        f.push_str(&format!("bytes {}\n", self.bytes));
        f.push_str(&format!("root {}\n", hex(&self.root)));
        f.push_str(&format!("prefix {}\n", hex(&self.prefix)));
        if let Some(l) = &self.from {
            f.push_str(&format!(
                "from {} {} {}\n",
                l.events,
                l.bytes,
                hex(&l.prefix)
            ));
        }
        f.push_str(&format!("created {}\n", self.created_us));
        f.push_str(&format!("checkpoint {}\n", hex(self.checkpoint.as_bytes())));
        for s in &self.sections {
            f.push_str(&format!(
                "file {} {} {} {}\n",
                s.name,
                s.offset,
                s.len,
                hex(&s.blake3)
            ));
        }
        f
    }

    fn parse(text: &str) -> Result<Self, String> {
        let mut info = BackupInfo {
            origin: String::new(),
            verifier: String::new(),
            events: 0,
            bytes: 0,
            root: [0; 32],
            prefix: [0; 32],
            from: None,
            created_us: 0,
            checkpoint: String::new(),
            sections: Vec::new(),
        };
        let number = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{v:?} is not a number"))
        };
        for line in text.lines() {
            let (name, value) = line.split_once(' ').ok_or("a footer line has no value")?;
            match name {
                "origin" => info.origin = value.to_string(),
                "verifier" => info.verifier = value.to_string(),
                "events" => info.events = number(value)?,
                "bytes" => info.bytes = number(value)?,
                "root" => info.root = unhex32(value)?,
                "prefix" => info.prefix = unhex32(value)?,
                "from" => {
                    let parts: Vec<&str> = value.split(' ').collect();
                    let [events, bytes, prefix] = parts[..] else {
                        return Err("the from line is malformed".into());
                    };
                    info.from = Some(Link {
                        events: number(events)?,
                        bytes: number(bytes)?,
                        prefix: unhex32(prefix)?,
                    });
                }
                "created" => {
                    info.created_us = value.parse().map_err(|_| "created is not a number")?
                }
                "checkpoint" => {
                    info.checkpoint = String::from_utf8(unhex(value)?)
                        .map_err(|_| "the checkpoint is not UTF-8")?
                }
                "file" => {
                    let parts: Vec<&str> = value.split(' ').collect();
                    let [name, offset, len, hash] = parts[..] else {
                        return Err("a file line is malformed".into());
                    };
                    info.sections.push(Section {
                        name: name.to_string(),
                        offset: number(offset)?,
                        len: number(len)?,
                        blake3: unhex32(hash)?,
                    });
                }
                other => return Err(format!("unknown footer line {other:?}")),
            }
        }
        if info.sections.first().map(|s| s.name.as_str()) != Some(EVENTS_FILE) {
            return Err(format!("its first section is not {EVENTS_FILE}"));
        }
        Ok(info)
    }

    pub fn events_section(&self) -> &Section {
        &self.sections[0]
    }
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err("odd-length hex".into());
    }
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| "bad hex".into()))
        .collect()
}

fn unhex32(text: &str) -> Result<[u8; 32], String> {
    unhex(text)?
        .try_into()
        .map_err(|_| "a hash is not 32 bytes".into())
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn bad_backup(path: &Path, reason: impl std::fmt::Display) -> StoreError {
    StoreError::InvalidArgument(format!(
        "{} is not a usable backup: {reason}",
        path.display()
    ))
}

/// The end of the last checkpoint frame at or after `start`, with its size and note: the
/// cut of a backup. `first` is the event the frame at `start` must begin with (the end of
/// the previous backup).
fn find_cut(
    log: &EventsLog,
    start: u64,
    first: u64,
) -> Result<Option<(u64, u64, String)>, StoreError> {
    let mut frames = log.frames_from(start).map_err(io_at(log.path()))?;
    let file_len = log.len().map_err(io_at(log.path()))?;
    let mut size = first;
    let mut cut = None;
    loop {
        let frame = match frames.next_frame() {
            Ok(frame) => frame,
            // The end, or a frame being written right now: the cut is before it.
            // The end, a frame being written right now, or damage (an error).
            Err(stop) => {
                crate::recover::end_of_frames(log, frames.offset(), stop, file_len)?;
                break;
            }
        };
        match frame.kind {
            FrameKind::Events => {
                if frame.first != size {
                    return Err(StoreError::Corrupt(format!(
                        "{EVENTS_FILE}: a chunk from event {} where event {size} comes next",
                        frame.first
                    )));
                }
                size = keys::Chunk::parse(frame.first, &frame.body)
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("event {}: a malformed chunk", frame.first))
                    })?
                    .end();
            }
            FrameKind::Checkpoint if frame.first == size => {
                let note = String::from_utf8(frame.body).map_err(|_| {
                    StoreError::Corrupt(format!("the checkpoint for {size} events is not UTF-8"))
                })?;
                cut = Some((frames.offset(), size, note));
            }
            _ => {}
        }
    }
    Ok(cut)
}

/// Copies `len` bytes of `from` at `offset` to `out`, feeding every hasher.
fn copy_range(
    from: &File,
    offset: u64,
    len: u64,
    out: &mut impl Write,
    hashers: &mut [&mut blake3::Hasher],
) -> std::io::Result<()> {
    let mut buf = vec![0u8; COPY_BYTES];
    let mut done = 0u64;
    while done < len {
        let n = COPY_BYTES.min((len - done) as usize);
        from.read_exact_at(&mut buf[..n], offset + done)?;
        for h in hashers.iter_mut() {
            h.update(&buf[..n]);
        }
        out.write_all(&buf[..n])?;
        done += n as u64;
    }
    Ok(())
}

/// Hashes the first `len` bytes of `file`.
fn hash_prefix(file: &File, len: u64) -> std::io::Result<blake3::Hasher> {
    let mut hasher = blake3::Hasher::new();
    copy_range(file, 0, len, &mut std::io::sink(), &mut [&mut hasher])?;
    Ok(hasher)
}

/// Takes a backup of the ledger at `dir` into `out`, at the latest signed checkpoint
/// (after `previous`'s end, for an incremental backup), with the signing key and the
/// `extra` files of the folder that exist. Safe while the ledger is open and appended to.
/// The backup is written to `out` with `.partial` added, synced, checked, then renamed.
pub fn backup(
    dir: &Path,
    out: &Path,
    previous: Option<&BackupInfo>,
    extra: &[&str],
) -> Result<BackupInfo, StoreError> {
    let log = EventsLog::open_read(dir).map_err(io_at(&dir.join(EVENTS_FILE)))?;
    let verifier = crate::verify::verifier_of(&log).map_err(|e| match e {
        crate::VerifyFailure::Store(e) => e,
        other => StoreError::Corrupt(other.to_string()),
    })?;
    let verifier_text = verifier.to_string();
    if let Some(p) = previous {
        if p.verifier != verifier_text {
            return Err(StoreError::InvalidArgument(format!(
                "the previous backup is of another ledger (its key is {})",
                p.verifier
            )));
        }
    }
    let (start, first) = previous.map_or((0, 0), |p| (p.bytes, p.events));
    let Some((cut, events, note)) = find_cut(&log, start, first)? else {
        return Err(StoreError::InvalidArgument(match previous {
            None => "the ledger has no signed checkpoint to back up to yet: run `careledger \
                     checkpoint`, or wait for the service to sign one (it does every minute \
                     while the log grows)"
                .to_string(),
            Some(p) => format!(
                "no checkpoint has been signed since the previous backup ({} events): nothing \
                 new to back up",
                p.events
            ),
        }));
    };
    let checkpoint = Checkpoint::open(&note, &verifier)?;
    // What is copied must be durable in the ledger itself.
    log.file().sync_data().map_err(io_at(log.path()))?;
    let mut prefix = hash_prefix(log.file(), start).map_err(io_at(log.path()))?;
    if let Some(p) = previous {
        if *prefix.clone().finalize().as_bytes() != p.prefix {
            return Err(StoreError::Corrupt(format!(
                "the ledger's first {} bytes are not the ones the previous backup ends with: \
                 its history changed since that backup (a fork). Take a full backup, keep \
                 the old ones, and find out why",
                p.bytes
            )));
        }
    }
    let partial = PathBuf::from(format!("{}.partial", out.display()));
    let mut file = File::create(&partial).map_err(io_at(&partial))?;
    let mut w = std::io::BufWriter::with_capacity(COPY_BYTES, &mut file);
    w.write_all(BACKUP_MAGIC).map_err(io_at(&partial))?;
    let mut offset = BACKUP_MAGIC.len() as u64;
    let mut sections = Vec::new();
    let mut section = blake3::Hasher::new();
    copy_range(
        log.file(),
        start,
        cut - start,
        &mut w,
        &mut [&mut prefix, &mut section],
    )
    .map_err(io_at(&partial))?;
    sections.push(Section {
        name: EVENTS_FILE.to_string(),
        offset,
        len: cut - start,
        blake3: *section.finalize().as_bytes(),
    });
    offset += cut - start;
    // A replica's folder has no key but names its primary: a backup of it restores to
    // a replica, which `Store::promote` can make a primary with the ledger's key.
    // The data keys after the events: every key an event in the copy was sealed with was
    // durable before that event was written.
    let own = [
        KEY_FILE,
        crate::replica::REPLICA_FILE,
        crate::keyring::DATA_KEYS_FILE,
    ];
    for name in own.into_iter().chain(extra.iter().copied()) {
        let path = dir.join(name);
        let bytes = match fs::metadata(&path) {
            Ok(meta) if meta.len() > SIDE_FILE_BYTES_MAX => {
                return Err(StoreError::InvalidArgument(format!(
                    "{} is {} bytes; a backup holds such a file only up to {SIDE_FILE_BYTES_MAX}",
                    path.display(),
                    meta.len()
                )))
            }
            Ok(_) => fs::read(&path).map_err(io_at(&path))?,
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && name == crate::keyring::DATA_KEYS_FILE
                    && crate::Store::is_sealed(dir)? =>
            {
                return Err(StoreError::Corrupt(format!(
                    "{} is missing: the ledger is encrypted at rest and a backup without its \
                     data keys could never be read",
                    path.display()
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_at(&path)(e)),
        };
        w.write_all(&bytes).map_err(io_at(&partial))?;
        sections.push(Section {
            name: name.to_string(),
            offset,
            len: bytes.len() as u64,
            blake3: *blake3::hash(&bytes).as_bytes(),
        });
        offset += bytes.len() as u64;
    }
    let info = BackupInfo {
        origin: checkpoint.origin.clone(),
        verifier: verifier_text,
        events,
        bytes: cut,
        root: checkpoint.root,
        prefix: *prefix.finalize().as_bytes(),
        from: previous.map(BackupInfo::end),
        created_us: crate::now_us(),
        checkpoint: note,
        sections,
    };
    let footer = info.footer();
    w.write_all(footer.as_bytes()).map_err(io_at(&partial))?;
    w.write_all(&(footer.len() as u64).to_le_bytes())
        .map_err(io_at(&partial))?;
    w.write_all(FOOTER_MAGIC).map_err(io_at(&partial))?;
    w.flush().map_err(io_at(&partial))?;
    drop(w);
    file.sync_all().map_err(io_at(&partial))?;
    drop(file);
    let checked = check(&partial)?;
    debug_assert_eq!(checked, info);
    fs::rename(&partial, out).map_err(io_at(out))?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        barrier::sync_dir(parent).map_err(io_at(parent))?;
    }
    Ok(info)
}

/// The footer of the backup at `path`.
pub fn read_info(path: &Path) -> Result<BackupInfo, StoreError> {
    let mut file = File::open(path).map_err(io_at(path))?;
    let len = file.metadata().map_err(io_at(path))?.len();
    let mut magic = vec![0u8; BACKUP_MAGIC.len()];
    file.read_exact(&mut magic)
        .map_err(|_| bad_backup(path, "it is too short"))?;
    if magic != BACKUP_MAGIC {
        return Err(bad_backup(
            path,
            "it does not start as a careledger backup does",
        ));
    }
    let mut tail = [0u8; 16];
    if len < (BACKUP_MAGIC.len() + 16) as u64 {
        return Err(bad_backup(path, "it is cut short"));
    }
    file.read_exact_at(&mut tail, len - 16)
        .map_err(io_at(path))?;
    if &tail[8..] != FOOTER_MAGIC {
        return Err(bad_backup(path, "it is cut short (no end marker)"));
    }
    let footer_len = u64::from_le_bytes(tail[..8].try_into().expect("8 bytes"));
    if footer_len > FOOTER_BYTES_MAX || footer_len + 16 + BACKUP_MAGIC.len() as u64 > len {
        return Err(bad_backup(path, "its footer length is wrong"));
    }
    let mut footer = vec![0u8; footer_len as usize];
    file.read_exact_at(&mut footer, len - 16 - footer_len)
        .map_err(io_at(path))?;
    let text =
        String::from_utf8(footer).map_err(|_| bad_backup(path, "its footer is not UTF-8"))?;
    let info = BackupInfo::parse(&text).map_err(|e| bad_backup(path, e))?;
    let body_end = len - 16 - footer_len;
    let mut expected = BACKUP_MAGIC.len() as u64;
    for (i, s) in info.sections.iter().enumerate() {
        if s.offset != expected || s.offset + s.len > body_end {
            return Err(bad_backup(
                path,
                format!("section {} is out of place", s.name),
            ));
        }
        if i > 0 && s.len > SIDE_FILE_BYTES_MAX {
            return Err(bad_backup(path, format!("section {} is too large", s.name)));
        }
        expected += s.len;
    }
    if expected != body_end {
        return Err(bad_backup(path, "its sections do not fill it"));
    }
    Ok(info)
}

/// Checks the backup at `path`: every section against its hash, and, for a full backup,
/// the events in it verified as `verify` does, ending at the checkpoint's size and root.
pub fn check(path: &Path) -> Result<BackupInfo, StoreError> {
    let info = read_info(path)?;
    let file = File::open(path).map_err(io_at(path))?;
    for s in &info.sections {
        let mut hasher = blake3::Hasher::new();
        copy_range(
            &file,
            s.offset,
            s.len,
            &mut std::io::sink(),
            &mut [&mut hasher],
        )
        .map_err(io_at(path))?;
        if *hasher.finalize().as_bytes() != s.blake3 {
            return Err(bad_backup(
                path,
                format!("its copy of {} does not match its hash", s.name),
            ));
        }
    }
    let verifier = NoteVerifier::parse(&info.verifier).map_err(|e| bad_backup(path, e))?;
    let checkpoint =
        Checkpoint::open(&info.checkpoint, &verifier).map_err(|e| bad_backup(path, e))?;
    if checkpoint.size != info.events || checkpoint.root != info.root {
        return Err(bad_backup(
            path,
            "its checkpoint is not the one it says it ends at",
        ));
    }
    let has_keys = info
        .sections
        .iter()
        .any(|s| s.name == crate::keyring::DATA_KEYS_FILE);
    if info.from.is_none() {
        let events = info.events_section();
        let log = EventsLog::window(path, events.offset, events.len).map_err(io_at(path))?;
        if crate::payloads_of(path, &log, None, false)?.is_sealed() && !has_keys {
            return Err(bad_backup(
                path,
                "its events are encrypted at rest but it holds no data keys: it can never be read",
            ));
        }
        // Without the master key: the payloads of a sealed ledger are checked by
        // `careledger verify` once restored.
        let payloads = crate::payloads_of(path, &log, None, false)?;
        let report = crate::verify::verify(&log, &verifier, (None, &[]), &payloads, |_, _| {})
            .map_err(|e| bad_backup(path, format!("its events do not verify: {e}")))?;
        if report.events != info.events || report.root != info.root || report.torn_bytes != 0 {
            return Err(bad_backup(
                path,
                format!(
                    "it holds {} events with root {}, not the {} of its checkpoint",
                    report.events,
                    hex(&report.root),
                    info.events
                ),
            ));
        }
    }
    Ok(info)
}

/// Whether `master` opens the data keys a restore of `backups` would write (the last
/// backup's): a backup of a ledger encrypted at rest needs its master key, which no backup
/// holds. Checked before anything is written; a plain ledger's backups need none.
pub fn check_master_key(backups: &[PathBuf], master: Option<&MasterKey>) -> Result<(), StoreError> {
    let Some(last) = backups.last() else {
        return Ok(());
    };
    let info = read_info(last)?;
    let Some(keys) = info
        .sections
        .iter()
        .find(|s| s.name == crate::keyring::DATA_KEYS_FILE)
    else {
        return Ok(());
    };
    let Some(master) = master else {
        return Err(StoreError::MasterKey(format!(
            "{} is a backup of a ledger encrypted at rest: restoring it needs the ledger's \
             master key (--master-key FILE), which backups never hold",
            last.display()
        )));
    };
    if keys.len > SIDE_FILE_BYTES_MAX {
        return Err(bad_backup(
            last,
            "its data keys are larger than a backup holds",
        ));
    }
    let mut bytes = Vec::with_capacity(keys.len as usize);
    let file = File::open(last).map_err(io_at(last))?;
    copy_range(&file, keys.offset, keys.len, &mut bytes, &mut []).map_err(io_at(last))?;
    crate::keyring::Keyring::parse(&bytes, master).map(|_| ())
}

/// Restores a ledger into `new_dir` (which must not exist, or be empty) from a full backup
/// and the incremental backups that follow it, in order. Checks every backup and every
/// link, writes the files, verifies the result against the last backup's checkpoint (the
/// same size and root) and its prefix hash, and returns the last backup's footer. The
/// caller opens the ledger, which rebuilds sled from the events file.
pub fn restore(backups: &[PathBuf], new_dir: &Path) -> Result<BackupInfo, StoreError> {
    let Some(first) = backups.first() else {
        return Err(StoreError::InvalidArgument("no backup given".into()));
    };
    if let Ok(mut entries) = fs::read_dir(new_dir) {
        if entries.next().is_some() {
            return Err(StoreError::InvalidArgument(format!(
                "{} is not empty: restore into a new folder",
                new_dir.display()
            )));
        }
    }
    let mut infos = Vec::new();
    for (i, path) in backups.iter().enumerate() {
        let info = check(path)?;
        match (i, &info.from, infos.last()) {
            (0, Some(_), _) => {
                return Err(bad_backup(
                    first,
                    "it is incremental; a restore starts from a full backup",
                ))
            }
            (_, None, Some(_)) => {
                return Err(bad_backup(path, "it is a full backup, not one that follows the one before it"))
            }
            (_, Some(link), Some(prev)) if *link != BackupInfo::end(prev) => {
                return Err(bad_backup(
                    path,
                    format!(
                        "it follows a backup that ends at {} events, not the one before it (which ends at {})",
                        link.events,
                        BackupInfo::end(prev).events
                    ),
                ))
            }
            _ => {}
        }
        if let Some(prev) = infos.last() {
            let prev: &BackupInfo = prev;
            if prev.verifier != info.verifier {
                return Err(bad_backup(path, "it is of another ledger"));
            }
        }
        infos.push(info);
    }
    let last = infos.last().expect("at least one").clone();
    let existed = new_dir.exists();
    fs::create_dir_all(new_dir).map_err(io_at(new_dir))?;
    let written = write_restored(backups, &infos, &last, new_dir);
    if written.is_err() {
        // Nothing half-restored is left behind.
        if existed {
            if let Ok(entries) = fs::read_dir(new_dir) {
                for entry in entries.flatten() {
                    let _ = fs::remove_file(entry.path());
                }
            }
        } else {
            let _ = fs::remove_dir_all(new_dir);
        }
    }
    written.map(|()| last)
}

fn write_restored(
    backups: &[PathBuf],
    infos: &[BackupInfo],
    last: &BackupInfo,
    new_dir: &Path,
) -> Result<(), StoreError> {
    let events_path = new_dir.join(EVENTS_FILE);
    let mut events = File::create(&events_path).map_err(io_at(&events_path))?;
    let mut prefix = blake3::Hasher::new();
    for (path, info) in backups.iter().zip(infos) {
        let file = File::open(path).map_err(io_at(path))?;
        let s = info.events_section();
        copy_range(&file, s.offset, s.len, &mut events, &mut [&mut prefix])
            .map_err(io_at(&events_path))?;
    }
    events.sync_all().map_err(io_at(&events_path))?;
    if *prefix.finalize().as_bytes() != last.prefix {
        return Err(StoreError::Corrupt(format!(
            "the restored {EVENTS_FILE} is not the one the last backup ends with"
        )));
    }
    let file = File::open(backups.last().expect("one")).map_err(io_at(new_dir))?;
    for s in &last.sections[1..] {
        if s.name.contains('/') || s.name.starts_with('.') {
            return Err(bad_backup(
                backups.last().expect("one"),
                format!("it names a file {:?}", s.name),
            ));
        }
        let mut bytes = vec![0u8; s.len as usize];
        file.read_exact_at(&mut bytes, s.offset)
            .map_err(io_at(new_dir))?;
        let path = new_dir.join(&s.name);
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut out = options.open(&path).map_err(io_at(&path))?;
        out.write_all(&bytes).map_err(io_at(&path))?;
        out.sync_all().map_err(io_at(&path))?;
    }
    barrier::sync_dir(new_dir).map_err(io_at(new_dir))?;
    let report = crate::Store::verify_dir(new_dir, |_, _| {})
        .map_err(|e| StoreError::Corrupt(format!("the restored ledger does not verify: {e}")))?;
    if report.events != last.events || report.root != last.root {
        return Err(StoreError::Corrupt(format!(
            "the restored ledger holds {} events with root {}, not the backup's {} with root {}",
            report.events,
            hex(&report.root),
            last.events,
            hex(&last.root)
        )));
    }
    Ok(())
}
