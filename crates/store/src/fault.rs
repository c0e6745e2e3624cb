//! The store's file boundary, where faults are injected in tests.
//!
//! Every write, sync and sled step of the write path goes through here. With no
//! [`Faults`] in the store's configuration (every real ledger), each is the plain call.
//! A test gives the store a `Faults` that fails the n-th call of one step, in one of the
//! ways disks fail (an error before anything is written, a write cut short, a full disk),
//! or that reports less free space than there is: the fault-injection suite
//! (`crates/store/tests/faults.rs`) runs one store per fault and reopens it after each.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

/// A step of the write path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// The appender's write of a batch's frames to the events file.
    LogWrite,
    /// The syncer's fdatasync of the events file.
    LogSync,
    /// The appender's sled batch of what the frames say.
    SledApply,
    /// The flusher's write of sled's state.
    SledFlush,
    /// The appender's write of new data keys to `data.keys`.
    KeysWrite,
    /// The appender's fdatasync of `data.keys`.
    KeysSync,
}

/// How a step fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// EIO before anything is written.
    Io,
    /// Half the bytes are written, then EIO (for a write; for other steps, as `Io`).
    Partial,
    /// Half the bytes are written, then ENOSPC.
    NoSpace,
    /// The call never returns (a disk that stopped answering): the thread sleeps for an
    /// hour, then fails with EIO.
    Hang,
}

/// Faults to inject, shared between a test and the store's threads.
#[derive(Debug, Default)]
pub struct Faults {
    /// Per step: fail the call when this many more have passed, and how.
    plan: Mutex<HashMap<Step, (u64, Fault)>>,
    /// Calls seen per step.
    calls: Mutex<HashMap<Step, u64>>,
    /// Free space to report instead of the file system's.
    free_bytes: Mutex<Option<u64>>,
}

impl Faults {
    /// Fails the call of `step` after `skip` more calls of it have passed, once.
    pub fn fail(&self, step: Step, skip: u64, fault: Fault) {
        if let Ok(mut plan) = self.plan.lock() {
            plan.insert(step, (skip, fault));
        }
    }

    /// Reports `free` bytes free (`None`: the file system's own answer).
    pub fn set_free_bytes(&self, free: Option<u64>) {
        if let Ok(mut f) = self.free_bytes.lock() {
            *f = free;
        }
    }

    /// Calls of `step` so far.
    pub fn calls(&self, step: Step) -> u64 {
        self.calls
            .lock()
            .map(|c| c.get(&step).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Whether this call of `step` fails, and how.
    fn take(&self, step: Step) -> Option<Fault> {
        if let Ok(mut calls) = self.calls.lock() {
            *calls.entry(step).or_default() += 1;
        }
        let mut plan = self.plan.lock().ok()?;
        let (skip, fault) = plan.get_mut(&step)?;
        if *skip > 0 {
            *skip -= 1;
            return None;
        }
        let fault = *fault;
        plan.remove(&step);
        Some(fault)
    }
}

fn injected(fault: Fault) -> io::Error {
    match fault {
        Fault::NoSpace => io::Error::from_raw_os_error(28),
        Fault::Hang => {
            std::thread::sleep(std::time::Duration::from_secs(3600));
            io::Error::from_raw_os_error(5)
        }
        Fault::Io | Fault::Partial => io::Error::from_raw_os_error(5),
    }
}

/// Writes all of `buf` at `offset`.
pub(crate) fn write_at(
    faults: Option<&Faults>,
    step: Step,
    file: &File,
    buf: &[u8],
    offset: u64,
) -> io::Result<()> {
    match faults.and_then(|f| f.take(step)) {
        None => file.write_all_at(buf, offset),
        Some(Fault::Io) => Err(injected(Fault::Io)),
        Some(fault) => {
            file.write_all_at(&buf[..buf.len() / 2], offset)?;
            Err(injected(fault))
        }
    }
}

/// fdatasync of `file`.
pub(crate) fn sync_data(faults: Option<&Faults>, step: Step, file: &File) -> io::Result<()> {
    match faults.and_then(|f| f.take(step)) {
        None => file.sync_data(),
        Some(fault) => Err(injected(fault)),
    }
}

/// A step that is not a file call of ours (sled's): fails if a fault is due.
pub(crate) fn check(faults: Option<&Faults>, step: Step) -> io::Result<()> {
    match faults.and_then(|f| f.take(step)) {
        None => Ok(()),
        Some(fault) => Err(injected(fault)),
    }
}

/// Bytes free for unprivileged writers on the file system holding `dir`.
pub(crate) fn free_bytes(faults: Option<&Faults>, dir: &Path) -> io::Result<u64> {
    if let Some(free) = faults.and_then(|f| f.free_bytes.lock().ok().and_then(|g| *g)) {
        return Ok(free);
    }
    let stat = rustix::fs::statvfs(dir).map_err(io::Error::from)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}
