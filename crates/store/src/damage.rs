//! The damage boundary at open: sled panics on some damaged files (a truncated segment
//! indexes past its end) instead of returning an error. Opening runs under
//! [`quietly`], which turns such a panic into an error and keeps the default panic hook
//! from printing it, on this thread only: a person running `careledger verify` on a
//! damaged folder sees one line saying so, not a backtrace.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// A panic on this thread is caught by [`quietly`]: do not print it.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

static HOOK: Once = Once::new();

/// Runs `f`; a panic inside it is its message as an error, and is not printed.
pub(crate) fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic with no message".to_string())
    })
}

/// Whether a sled error at open means damaged files rather than, say, a folder the
/// process may not read.
pub(crate) fn is_damage(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(io) => !matches!(
            io.kind(),
            std::io::ErrorKind::PermissionDenied
                | std::io::ErrorKind::WouldBlock
                | std::io::ErrorKind::StorageFull
        ),
        sled::Error::CollectionNotFound(_) => false,
        _ => true,
    }
}
