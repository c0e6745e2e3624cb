//! The durability barrier.
//!
//! `sled::Db::flush` writes the log buffers and then calls `sync_file_range` on Linux,
//! which neither flushes the drive's cache nor persists the file size after the file grew.
//! After every flush the appender therefore calls `fdatasync` on sled's log file, and on
//! every blob file sled created (large values live in `blobs/`, written without sync).

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

pub struct Barrier {
    log: File,
    blobs_dir: PathBuf,
    /// Each blob file's length when it was last synced.
    synced_blobs: HashMap<std::ffi::OsString, u64>,
}

impl Barrier {
    /// Opens sled's log file in the sled directory `dir`.
    pub fn new(dir: &Path) -> io::Result<Self> {
        let log = File::open(dir.join("db"))?;
        Ok(Self {
            log,
            blobs_dir: dir.join("blobs"),
            synced_blobs: HashMap::new(),
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
        // sled may be writing a blob for a later batch while this runs, and may remove an
        // obsolete one at any moment. A blob is synced again whenever its length changed
        // since its last sync (blobs are written once, front to back), and one that
        // vanished is simply gone. The map keeps only names still present.
        let mut new_blob = false;
        let mut present = HashMap::new();
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let name = entry.file_name();
            let synced = match File::open(entry.path()) {
                Ok(file) => {
                    let len = file.metadata()?.len();
                    if self.synced_blobs.get(&name) != Some(&len) {
                        file.sync_data()?;
                        new_blob = true;
                    }
                    len
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            present.insert(name, synced);
        }
        self.synced_blobs = present;
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
