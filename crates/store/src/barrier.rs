//! The durability barrier.
//!
//! `sled::Db::flush` writes the log buffers and then calls `sync_file_range` on Linux,
//! which neither flushes the drive's cache nor persists the file size after the file grew.
//! After every flush the appender therefore calls `fdatasync` on sled's log file, and on
//! every blob file sled created (large values live in `blobs/`, written without sync).

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

pub struct Barrier {
    log: File,
    blobs_dir: PathBuf,
    synced_blobs: HashSet<std::ffi::OsString>,
}

impl Barrier {
    /// Opens sled's log file in the sled directory `dir`.
    pub fn new(dir: &Path) -> io::Result<Self> {
        let log = File::open(dir.join("db"))?;
        Ok(Self {
            log,
            blobs_dir: dir.join("blobs"),
            synced_blobs: HashSet::new(),
        })
    }

    /// Makes everything sled has flushed so far durable.
    pub fn sync(&mut self) -> io::Result<()> {
        self.log.sync_data()?;
        let mut new_blob = false;
        match std::fs::read_dir(&self.blobs_dir) {
            Ok(entries) => {
                // Keep only names still present, so the set is bounded by sled's blob count.
                let mut present = HashSet::new();
                for entry in entries {
                    let entry = entry?;
                    let name = entry.file_name();
                    if !self.synced_blobs.contains(&name) {
                        File::open(entry.path())?.sync_data()?;
                        new_blob = true;
                    }
                    present.insert(name);
                }
                self.synced_blobs = present;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
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
