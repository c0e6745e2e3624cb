//! The durability barrier.
//!
//! `sled::Db::flush` writes the log buffers and then calls `sync_file_range` on Linux,
//! which neither flushes the drive's cache nor persists the file size after the file grew.
//! After every flush the appender therefore calls `fdatasync` on sled's log file, and on
//! every blob file sled created (large values live in `blobs/`, written without sync).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

pub struct Barrier {
    log: File,
    blobs_dir: PathBuf,
    /// Blob files synced at least once.
    known_blobs: HashSet<std::ffi::OsString>,
    /// Blob files first seen by the last pass, with the length synced then.
    recent_blobs: HashMap<std::ffi::OsString, u64>,
}

impl Barrier {
    /// Opens sled's log file in the sled directory `dir`.
    pub fn new(dir: &Path) -> io::Result<Self> {
        let log = File::open(dir.join("db"))?;
        Ok(Self {
            log,
            blobs_dir: dir.join("blobs"),
            known_blobs: HashSet::new(),
            recent_blobs: HashMap::new(),
        })
    }

    /// Makes everything sled has flushed so far durable.
    pub fn sync(&mut self) -> io::Result<()> {
        self.log.sync_data()?;
        let entries = match std::fs::read_dir(&self.blobs_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        // sled writes a blob once, front to back, and may remove an obsolete one at any
        // moment. A blob can still be being written during the pass that first sees it (for
        // an item beyond what this flush covered), but it is complete by the next pass,
        // whose flush covers that item: so a blob is synced when first seen and once more
        // if it grew by the next pass. Older blobs cost only their directory entry.
        let mut new_blob = false;
        let mut present = HashSet::new();
        let mut recent = HashMap::new();
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let name = entry.file_name();
            let first_seen = !self.known_blobs.contains(&name);
            let grew = match self.recent_blobs.get(&name) {
                Some(&synced) => match entry.metadata() {
                    Ok(meta) => meta.len() != synced,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                },
                None => false,
            };
            if first_seen || grew {
                let file = match File::open(entry.path()) {
                    Ok(file) => file,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                // The length before the sync: at least this much is durable after it.
                let len = file.metadata()?.len();
                file.sync_data()?;
                new_blob = true;
                if first_seen {
                    recent.insert(name.clone(), len);
                }
            }
            present.insert(name);
        }
        self.known_blobs = present;
        self.recent_blobs = recent;
        if new_blob {
            sync_dir(&self.blobs_dir)?;
        }
        Ok(())
    }
}

/// Persists a directory's entries (new files in it).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
