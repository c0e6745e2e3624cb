//! Projections: derived state kept in step with the log by the appender.
//!
//! A [`Projection`] is state computed from the events (in careledger, the care domain's
//! current plans, grants, medicines...). The store knows nothing of what it holds; it only
//! guarantees four things:
//!
//! 1. **Serialised checks.** The appender calls [`Projection::apply`] for every event of a
//!    request, in log order, holding the projection's write lock for the whole batch. A
//!    projection may refuse an event ([`Refusal`]); the whole request is then rolled back,
//!    answered [`AppendError::Refused`](crate::AppendError::Refused), consumes no sequence
//!    numbers and writes nothing. Two requests can never both pass a check that only one
//!    of them should.
//! 2. **Read after write.** A request's changes are applied before it is acknowledged, so
//!    a read of the projection after an acknowledged append sees it. (They are applied
//!    before the batch is durable: a reader may briefly see an event whose write then
//!    fails, after which the store refuses every append until restarted.)
//! 3. **Persisted with the events.** Every
//!    [`projection_persist_every_events`](crate::StoreConfig::projection_persist_every_events)
//!    events, and when the store closes, the projection's changes
//!    ([`Projection::take_changes`]) go into the same atomic sled batch as events, under
//!    `p` + key, with `mprojected`, the number of events they reflect (see [`keys`]).
//!    Opening loads the pairs and replays only the events above the mark.
//! 4. **Derived.** Without a mark (a new projection, or after [`Store::drop_projections`])
//!    opening replays the whole log ([`Projection::replay`]) and rewrites every pair; a
//!    deterministic projection gives the same bytes again.
//!
//! [`keys`]: crate::keys
//! [`Store::drop_projections`]: crate::Store::drop_projections

use std::sync::{Arc, RwLock};

use careledger_log::envelope::Envelope;

use crate::keys;
use crate::{Events, EventsError, Opened, Payloads, StoreError};

/// Why a projection refused an event. Carries the projection's own typed error so callers
/// can downcast it ([`Refusal::downcast_ref`]).
#[derive(Clone, Debug)]
pub struct Refusal(pub Arc<dyn std::error::Error + Send + Sync + 'static>);

impl Refusal {
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(error))
    }

    /// The projection's own error, if it is a `T`.
    pub fn downcast_ref<T: std::error::Error + 'static>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Refusals compare by their message: `AppendError` is `PartialEq`.
impl PartialEq for Refusal {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for Refusal {}

impl std::error::Error for Refusal {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // Transparent: the refusal's message is the inner error's.
        self.0.source()
    }
}

/// Derived state kept by the appender; see the [module documentation](self).
///
/// Calls come from one thread at a time, under the write lock of the
/// [`ProjectionHandle`]: per request `begin`, `apply` for each event, then `commit` or
/// `rollback`; now and then `take_changes`.
pub trait Projection: Send + Sync + 'static {
    /// A request (one `submit` call, all-or-nothing) starts; changes from here on may be
    /// rolled back.
    fn begin(&mut self);
    /// Check `envelope` (seq and recorded_at already assigned) with `payload` against the
    /// state and apply it, or refuse it leaving the state unchanged by this event.
    fn apply(&mut self, envelope: &Envelope, payload: &[u8]) -> Result<(), Refusal>;
    /// The request was accepted whole.
    fn commit(&mut self);
    /// Undo every change since `begin`.
    fn rollback(&mut self);
    /// Apply an event that is already in the log (start-up catch-up and rebuild). Never
    /// refuses on rules; an Err means the projection cannot read the event (the store
    /// reports it as corrupt, naming the seq). `payload` is None when erased.
    fn replay(&mut self, envelope: &Envelope, payload: Option<&[u8]>) -> Result<(), String>;
    /// Key/value changes since the last call (None = delete), in the projection's own key
    /// space.
    fn take_changes(&mut self) -> Vec<(Vec<u8>, Option<Vec<u8>>)>;
    /// Forget everything (before a full replay).
    fn clear(&mut self);
    /// Load one persisted pair at start-up (keys come in sled order).
    fn load(&mut self, key: &[u8], value: &[u8]) -> Result<(), String>;
}

/// A stored projection pair: key (without the store's `p` prefix) and value.
pub type Pair = (Vec<u8>, Vec<u8>);

/// How the store and the projection's readers share it.
pub type ProjectionHandle = Arc<RwLock<dyn Projection>>;

/// Most pairs in one sled batch when persisting a replay: sled's batch holds a lock that
/// would stall everything else for a very large one.
pub(crate) const PERSIST_SLICE: usize = 16_384;

/// How often replay progress is reported, in events.
const PROGRESS_EVERY: u64 = 1 << 16;

/// Adds the projection's changes under `p` + key to a sled batch, each value sealed in a
/// sealed ledger ([`Payloads::seal_pair`]).
pub(crate) fn stage_changes(
    batch: &mut sled::Batch,
    changes: impl IntoIterator<Item = (Vec<u8>, Option<Vec<u8>>)>,
    payloads: &Payloads,
) -> Result<(), String> {
    for (key, value) in changes {
        match value {
            Some(value) => {
                let value = payloads.seal_pair(&key, value)?;
                batch.insert(keys::projection(&key), value)
            }
            None => batch.remove(keys::projection(&key)),
        }
    }
    Ok(())
}

/// The `mprojected` mark, if any.
pub(crate) fn read_mark(db: &sled::Db) -> Result<Option<u64>, StoreError> {
    match db.get(keys::PROJECTED)? {
        None => Ok(None),
        Some(v) => Ok(Some(u64::from_le_bytes(v.as_ref().try_into().map_err(
            |_| StoreError::Corrupt("the projection mark is malformed".into()),
        )?))),
    }
}

fn poisoned() -> StoreError {
    StoreError::InvalidArgument(
        "the projection's lock is poisoned (a thread panicked while changing it)".into(),
    )
}

/// Brings the projection up to `size` events at start-up and persists what that changed.
/// Returns the number of events replayed.
pub(crate) fn catch_up(
    db: &sled::Db,
    (log, payloads): (&crate::events_log::EventsLog, &Payloads),
    handle: &ProjectionHandle,
    size: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64, StoreError> {
    let mut projection = handle.write().map_err(|_| poisoned())?;
    let mark = read_mark(db)?;
    if let Some(mark) = mark {
        if mark > size {
            return Err(StoreError::Corrupt(format!(
                "the projection reflects {mark} events but the log holds {size}"
            )));
        }
    }
    projection.clear();
    // Without a mark, whatever pairs are stored are left from an older projection: they
    // are removed as the replay's result is written.
    let mut stale = Vec::new();
    for kv in db.scan_prefix([keys::PROJECTION]) {
        let (key, value) = kv?;
        match mark {
            Some(_) => payloads
                .open_pair(&key[1..], &value)
                .and_then(|value| projection.load(&key[1..], &value))
                .map_err(|reason| {
                    StoreError::Corrupt(format!(
                        "projection cannot load its stored key {}: {reason}",
                        crate::hex(&key[1..])
                    ))
                })?,
            None => stale.push(key),
        }
    }
    let from = mark.unwrap_or(0);
    let total = size - from;
    let mut reached = from;
    for item in Events::new(db, log, from, size)? {
        let (seq, chunk, at) = item.map_err(EventsError::into_store)?;
        if seq != reached {
            return Err(StoreError::Corrupt(format!("event {reached} is missing")));
        }
        let (record, envelope) = crate::checked_record(seq, &chunk[at])?;
        let opened = payloads
            .open_for(&envelope, record.tail)
            .map_err(|reason| StoreError::Corrupt(format!("event {seq}: {reason}")))?;
        let payload = match &opened {
            Opened::Payload(_, payload) => Some(payload.as_slice()),
            Opened::Erased => None,
            Opened::Unread => {
                return Err(StoreError::Corrupt(format!(
                    "event {seq}: its payload cannot be read without the ledger's keys"
                )))
            }
        };
        projection.replay(&envelope, payload).map_err(|reason| {
            StoreError::Corrupt(format!("projection cannot read event {seq}: {reason}"))
        })?;
        reached = seq + 1;
        if (reached - from) % PROGRESS_EVERY == 0 {
            progress(reached - from, total);
        }
    }
    if reached != size {
        return Err(StoreError::Corrupt(format!("event {reached} is missing")));
    }
    progress(total, total);
    let changes = projection.take_changes();
    drop(projection);
    if total == 0 && stale.is_empty() && changes.is_empty() {
        return Ok(0);
    }
    // Stale removals first, the replay's pairs after them (a later write of the same key
    // wins), the mark only in the last batch: a crash in between leaves the old mark (or
    // none), and the next start replays again.
    let mut ops: Vec<(Vec<u8>, Option<Vec<u8>>)> = stale
        .into_iter()
        .map(|key| (key[1..].to_vec(), None))
        .collect();
    ops.extend(changes);
    let mut ops = ops.into_iter().peekable();
    loop {
        let mut batch = sled::Batch::default();
        stage_changes(&mut batch, ops.by_ref().take(PERSIST_SLICE), payloads)
            .map_err(StoreError::Corrupt)?;
        if let Some(keyring) = payloads.keyring() {
            keyring.write_pending(None).map_err(StoreError::Corrupt)?;
        }
        let last = ops.peek().is_none();
        if last {
            batch.insert(keys::PROJECTED, &size.to_le_bytes()[..]);
        }
        db.apply_batch(batch)?;
        if last {
            break;
        }
    }
    db.flush()?;
    Ok(total)
}
