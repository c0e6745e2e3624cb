//! The durable mark: a small file beside the events file, `durable.mark`, holding the size
//! and root of the log and the length of the events file when the store was last closed,
//! with every event up to it durable.
//!
//! An events file cut at a frame boundary reads as a smaller, valid ledger, and one cut
//! inside a frame as a ledger whose last write was interrupted. Nothing inside the file
//! can tell either from the real thing, so the mark lives outside it: at open, before
//! anything is changed, an events file shorter than the mark says is damaged, and after
//! the file is read, a ledger with fewer events than the mark, or other ones, is too.
//!
//! Written by the syncer once each signed checkpoint is durable, and at close, after the
//! appender and syncer have stopped (so every event up to the published size is
//! durable): a new file, fsync, rename over the old one, fsync of the folder. A crash
//! leaves the previous mark, which is never ahead of what is durable. A ledger with no
//! mark (new, never checkpointed) is opened as before.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use careledger_log::merkle::Hash;

pub const MARK_FILE: &str = "durable.mark";
const HEADER: &str = "careledger durable mark v1";
/// What a mark says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    pub(crate) size: u64,
    pub(crate) root: Hash,
    /// The events file's length; `None` in a mark from before it was recorded.
    pub(crate) bytes: Option<u64>,
}
/// Longest mark read.
const MARK_BYTES_MAX: u64 = 4096;

pub(crate) fn write(dir: &Path, size: u64, root: &Hash, bytes: u64) -> std::io::Result<()> {
    let tmp = dir.join("durable.mark.new");
    let mut f = fs::File::create(&tmp)?;
    writeln!(
        f,
        "{HEADER}\nsize {size}\nroot {}\nbytes {bytes}",
        crate::hex(root)
    )?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, dir.join(MARK_FILE))?;
    fs::File::open(dir)?.sync_all()
}

/// The mark, if there is one; `Err` names what is wrong with a mark that does not parse.
pub(crate) fn read(dir: &Path) -> Result<Option<Mark>, String> {
    let file = match fs::File::open(dir.join(MARK_FILE)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{MARK_FILE} cannot be read: {e}")),
    };
    // A mark is three short lines; anything longer is not one.
    let mut text = String::new();
    file.take(MARK_BYTES_MAX)
        .read_to_string(&mut text)
        .map_err(|e| format!("{MARK_FILE} cannot be read: {e}"))?;
    let bad = || format!("{MARK_FILE} is damaged");
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Err(bad());
    }
    let size = lines
        .next()
        .and_then(|l| l.strip_prefix("size "))
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(bad)?;
    let hex = lines
        .next()
        .and_then(|l| l.strip_prefix("root "))
        .ok_or_else(bad)?;
    if hex.len() != 64 {
        return Err(bad());
    }
    let mut root = [0u8; 32];
    for (i, byte) in root.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    let bytes = match lines.next() {
        None => None,
        Some(line) => Some(
            line.strip_prefix("bytes ")
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(bad)?,
        ),
    };
    Ok(Some(Mark { size, root, bytes }))
}
