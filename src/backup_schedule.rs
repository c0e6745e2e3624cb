//! `serve --backup-dir D --backup-every 1h --backup-keep N`: scheduled backups of the
//! running ledger, each at a checkpoint signed for it, checked after writing, the oldest
//! removed beyond N. Each is a full backup (`careledger backup --after` makes incremental
//! ones from the command line).

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use careledger_store::{backup, Store};

/// How scheduled backups are named: `careledger-<UTC time>-<events>.backup`, so that
/// their names sort in the order they were taken.
const PREFIX: &str = "careledger-";
const SUFFIX: &str = ".backup";

/// A duration as people write it: `90s`, `30m`, `1h`, `2d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (such as 90s, 30m, 1h, 2d)"))?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => {
            return Err(format!(
                "{text:?} is not a duration (such as 90s, 30m, 1h, 2d)"
            ))
        }
    };
    if seconds < 10 {
        return Err("backups at most every 10 seconds".into());
    }
    Ok(Duration::from_secs(seconds))
}

/// Takes one backup of `store` into `dir` and removes all but the newest `keep`.
pub fn take(
    store: &Store,
    dir: &Path,
    keep: usize,
) -> Result<(PathBuf, backup::BackupInfo), String> {
    store.checkpoint_now().map_err(|e| e.to_string())?;
    let now = chrono::DateTime::from_timestamp_micros(careledger_store::now_us())
        .unwrap_or_default()
        .format("%Y%m%dT%H%M%SZ");
    let name = format!("{PREFIX}{now}-{}{SUFFIX}", store.size());
    let out = dir.join(name);
    let info = backup::backup(store.dir(), &out, None, &crate::cli::SERVICE_FILES)
        .map_err(|e| e.to_string())?;
    let mut taken: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .collect();
    taken.sort();
    let excess = taken.len().saturating_sub(keep.max(1));
    for old in &taken[..excess] {
        if let Err(e) = std::fs::remove_file(old) {
            tracing::warn!(file = %old.display(), error = %e, "an old backup could not be removed");
        }
    }
    Ok((out, info))
}

/// Backs up every `every` until `stop` is dropped or sent to.
pub fn run(store: Store, dir: PathBuf, every: Duration, keep: usize, stop: Receiver<()>) {
    loop {
        match stop.recv_timeout(every) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        match take(&store, &dir, keep) {
            Ok((out, info)) => tracing::info!(
                file = %out.display(),
                events = info.events,
                "backup taken and checked"
            ),
            Err(e) => {
                tracing::error!(dir = %dir.display(), error = %e, "a scheduled backup failed")
            }
        }
    }
}
