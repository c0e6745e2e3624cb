//! The care ledger: a [`careledger_store::Store`] with the care domain's projections
//! attached, so that every care event is checked against the rules inside the single
//! appender, applied to the projections with the append, and persisted with the events.
//!
//! ```no_run
//! # use careledger_ledger::{Ledger, Command};
//! # fn main() -> Result<(), careledger_ledger::LedgerError> {
//! let ledger = Ledger::open(std::path::Path::new("careledger-data"), Default::default())?;
//! let findings = ledger.read(|state| careledger_care::findings::findings(state, 0));
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod as_of;

use std::path::Path;
use std::sync::{Arc, RwLock};

use careledger_care::codec::DecodeError;
use careledger_care::{CareEvent, Meta, RuleError, State};
use careledger_log::envelope::Envelope;
use careledger_store::{
    AppendError, NewEvent, Projection, ProjectionHandle, Receipt, Refusal, RequestKey, Store,
    StoreConfig, StoreError, StoredEvent,
};

/// The kinds that record a reading of a person's record: the store lets them use its
/// free-space reserve below the floor, so that records stay readable (every read leaves
/// one of these) while nothing new can be written.
pub const RESERVE_KINDS: &[&str] = &["access.read", "access.refused"];

/// Kinds about a person sealed with the organisation's data key, not the person's: the
/// record of who read (or was refused, or broke glass into) a person's record, and why.
/// It is about the readers, holds no care content, and must outlive the person's data key
/// (an erasure keeps the access log). Everything else about a person is sealed with their
/// own key.
pub const ORGANISATION_KEY_KINDS: &[&str] = &[
    "access.read",
    "access.refused",
    "access.emergency",
    "access.emergency_reviewed",
];

/// Why the care projection refused an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CareRefusal {
    #[error("{0}")]
    Rule(#[from] RuleError),
    #[error("{0}")]
    Decode(#[from] DecodeError),
}

/// The care projections, as the store's appender sees them.
#[derive(Debug, Default)]
pub struct CareProjection {
    pub state: State,
    /// Events the projection reflects, by its own count (applied, replayed, or erased and
    /// skipped), checked against the log's size at open. `None` for a projection stored
    /// before the count was kept: it is taken as the log's size once, then kept.
    events: Option<u64>,
    /// Events applied since `begin`, counted once the request commits.
    pending: u64,
    /// The count changed since the last `take_changes`.
    events_changed: bool,
    /// The layout of the stored projection: [`PROJECTION_SCHEMA`] once written by this
    /// build, older (or `None`, before it was kept) for one [`Ledger::open`] replays.
    schema: Option<u8>,
    schema_changed: bool,
}

/// The projection key of the event count: a tag no state table uses.
const EVENTS_KEY: &[u8] = b"#events";
/// The projection key of its layout version (sorts before every table's keys).
const SCHEMA_KEY: &[u8] = b"#schema";

/// The care projection's layout: a stored projection of another is replayed from the log
/// when the ledger opens. 2 adds break-glass accesses waiting for review and the daily
/// findings tallies, which a projection stored before them lacks for earlier events. 3
/// adds the digest of each paper copy in the home (`PaperCopy::digest`). 4 adds the
/// provider's current Service User Guide (`State::guide`). 5 adds each person's email
/// addresses (`PersonState::email_addresses`) and failed emails.
pub const PROJECTION_SCHEMA: u8 = 5;

impl CareProjection {
    fn count(&mut self, n: u64) {
        if let Some(e) = &mut self.events {
            *e += n;
            self.events_changed = true;
        }
    }
}

fn meta(envelope: &Envelope) -> Meta<'_> {
    Meta {
        seq: envelope.seq,
        recorded_at_us: envelope.recorded_at_us,
        occurred_at_us: envelope.occurred_at_us,
        actor: &envelope.actor,
        subject: envelope.subject.as_deref(),
    }
}

impl Projection for CareProjection {
    fn begin(&mut self) {
        self.pending = 0;
        self.state.begin();
    }

    fn apply(&mut self, envelope: &Envelope, payload: &[u8]) -> Result<(), Refusal> {
        let event = CareEvent::decode(&envelope.kind, payload)
            .map_err(|e| Refusal::new(CareRefusal::Decode(e)))?;
        self.state
            .apply(&meta(envelope), &event)
            .map_err(|e| Refusal::new(CareRefusal::Rule(e)))?;
        self.pending += 1;
        Ok(())
    }

    fn commit(&mut self) {
        self.state.commit();
        let n = std::mem::take(&mut self.pending);
        self.count(n);
    }

    fn rollback(&mut self) {
        self.pending = 0;
        self.state.rollback();
    }

    fn replay(&mut self, envelope: &Envelope, payload: Option<&[u8]>) -> Result<(), String> {
        // An erased payload leaves only what the envelope says; the projections keep
        // nothing from it (its facts were about a person whose retention has ended).
        if let Some(payload) = payload {
            let event = CareEvent::decode(&envelope.kind, payload).map_err(|e| e.to_string())?;
            self.state.replay(&meta(envelope), &event);
        }
        self.count(1);
        Ok(())
    }

    fn take_changes(&mut self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let mut changes = self.state.take_changes();
        if std::mem::take(&mut self.schema_changed) {
            if let Some(schema) = self.schema {
                changes.push((SCHEMA_KEY.to_vec(), Some(vec![schema])));
            }
        }
        if std::mem::take(&mut self.events_changed) {
            if let Some(events) = self.events {
                changes.push((EVENTS_KEY.to_vec(), Some(events.to_le_bytes().to_vec())));
            }
        }
        changes
    }

    fn clear(&mut self) {
        self.state.clear();
        // A replay from nothing counts from nothing; loading stored pairs sets the count
        // (or finds none, for a projection stored before it was kept).
        self.events = Some(0);
        self.events_changed = true;
        self.pending = 0;
        // A replay from nothing is of this layout; stored pairs say theirs.
        self.schema = Some(PROJECTION_SCHEMA);
        self.schema_changed = true;
    }

    fn load(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        if key == SCHEMA_KEY {
            self.schema = value.first().copied();
            self.schema_changed = false;
            return Ok(());
        }
        // A stored projection with pairs and no layout key predates it. (Keys come in
        // order, and `#schema` sorts before every table's.)
        if self.schema_changed {
            self.schema = None;
            self.schema_changed = false;
        }
        if key == EVENTS_KEY {
            let bytes: [u8; 8] = value
                .try_into()
                .map_err(|_| format!("the event count is {} bytes, not 8", value.len()))?;
            self.events = Some(u64::from_le_bytes(bytes));
            self.events_changed = false;
            return Ok(());
        }
        // The first stored pair of a projection with no count: it predates the count.
        if self.events == Some(0) && self.events_changed {
            self.events = None;
        }
        self.state.load(key, value)
    }
}

/// One care event as a writer hands it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Who records it: a staff id, the person's id, a representative's id...
    pub actor: String,
    /// The person it is about (required for person events, absent for organisation ones).
    pub subject: Option<String>,
    pub occurred_at_us: i64,
    pub event: CareEvent,
}

impl Command {
    pub fn about(actor: &str, person: &str, occurred_at_us: i64, event: CareEvent) -> Self {
        Self {
            actor: actor.into(),
            subject: Some(person.into()),
            occurred_at_us,
            event,
        }
    }

    pub fn organisation(actor: &str, occurred_at_us: i64, event: CareEvent) -> Self {
        Self {
            actor: actor.into(),
            subject: None,
            occurred_at_us,
            event,
        }
    }

    fn into_new_event(self) -> Result<NewEvent, DecodeError> {
        Ok(NewEvent {
            payload: self.event.encode()?,
            actor: self.actor,
            subject: self.subject,
            kind: self.event.kind().to_string(),
            occurred_at_us: self.occurred_at_us,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A care rule refused event `index` of the request; nothing was appended.
    #[error("event {index} refused: {error}")]
    Refused { index: usize, error: CareRefusal },
    #[error("{0}")]
    Append(AppendError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("the ledger's projections are unavailable: a thread panicked while changing them")]
    Poisoned,
}

impl From<AppendError> for LedgerError {
    fn from(e: AppendError) -> Self {
        match e {
            AppendError::Refused { index, reason } => match reason.downcast_ref::<CareRefusal>() {
                Some(error) => LedgerError::Refused {
                    index,
                    error: error.clone(),
                },
                None => LedgerError::Append(AppendError::Refused { index, reason }),
            },
            other => LedgerError::Append(other),
        }
    }
}

/// A care event as read back from the log.
#[derive(Debug, Clone)]
pub struct CareRecord {
    pub envelope: Envelope,
    /// `None` when the payload has been erased or is not a care event.
    pub event: Option<CareEvent>,
}

/// An open care ledger. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    store: Store,
    projection: Arc<RwLock<CareProjection>>,
}

/// Most events [`Ledger::history`] returns in one call.
pub const HISTORY_PAGE_MAX: usize = careledger_store::READ_PAGE_MAX;

impl Ledger {
    /// Opens (and, at start-up, catches up) the ledger at `dir`.
    /// Opens the care ledger at `dir`. The kinds in [`RESERVE_KINDS`] are given the
    /// store's free-space reserve, whatever `config` says.
    pub fn open(dir: &Path, config: StoreConfig) -> Result<Self, LedgerError> {
        Self::open_with_progress(dir, config, |_, _| {})
    }

    /// [`Ledger::open`], reporting (replayed, to replay) while projections catch up. A
    /// projection stored by a build of another layout ([`PROJECTION_SCHEMA`]) is dropped
    /// and replayed from the log, once.
    pub fn open_with_progress(
        dir: &Path,
        config: StoreConfig,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<Self, LedgerError> {
        let ledger = Self::open_once(dir, config.clone(), &mut progress)?;
        let stored = ledger
            .projection
            .read()
            .map_err(|_| LedgerError::Poisoned)?
            .schema;
        if stored == Some(PROJECTION_SCHEMA) {
            return Ok(ledger);
        }
        tracing::warn!(
            stored = ?stored,
            current = PROJECTION_SCHEMA,
            "the care projections were stored by a build of another layout; replaying them from the log"
        );
        drop(ledger);
        Store::drop_projections(dir)?;
        Self::open_once(dir, config, &mut progress)
    }

    fn open_once(
        dir: &Path,
        config: StoreConfig,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Self, LedgerError> {
        let projection = Arc::new(RwLock::new(CareProjection::default()));
        let handle: ProjectionHandle = projection.clone();
        // Below the free-space floor, records can still be read: the events that record
        // a reading (or its refusal) may use the reserve.
        let config = StoreConfig {
            reserve_kinds: RESERVE_KINDS.iter().map(|k| k.to_string()).collect(),
            organisation_key_kinds: ORGANISATION_KEY_KINDS
                .iter()
                .map(|k| k.to_string())
                .collect(),
            ..config
        };
        let store = Store::open_with_projection_progress(dir, config, handle, progress)?;
        {
            // The projection's own count against the log: a stored projection that does
            // not reflect exactly the log (pairs from another ledger, a mark written
            // without its pairs) is refused, not served.
            let mut p = projection.write().map_err(|_| LedgerError::Poisoned)?;
            let size = store.size();
            match p.events {
                Some(events) if events != size => {
                    return Err(LedgerError::Store(StoreError::Corrupt(format!(
                        "the care projections reflect {events} events but the log holds \
                         {size}; `careledger rebuild` replays them from the log"
                    ))))
                }
                Some(_) => {}
                None => {
                    p.events = Some(size);
                    p.events_changed = true;
                }
            }
        }
        Ok(Self { store, projection })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Every pair the care projection would store now, sorted by key: the state's and its
    /// count of events. What `Store::projection_pairs` must equal once they are written.
    pub fn projection_pairs(&self) -> Result<Vec<careledger_store::projection::Pair>, LedgerError> {
        let p = self.projection.read().map_err(|_| LedgerError::Poisoned)?;
        let mut pairs = p.state.all_pairs();
        if let Some(events) = p.events {
            pairs.push((EVENTS_KEY.to_vec(), events.to_le_bytes().to_vec()));
        }
        if let Some(schema) = p.schema {
            pairs.push((SCHEMA_KEY.to_vec(), vec![schema]));
        }
        pairs.sort();
        Ok(pairs)
    }

    /// The care state from the events recorded at or before `at_us` (see [`as_of`]).
    pub fn state_as_of(
        &self,
        at_us: i64,
        events_max: u64,
    ) -> Result<as_of::AsOf, as_of::AsOfError> {
        as_of::state_as_of(&self.store, at_us, events_max)
    }

    /// Reads the projections. A read after an acknowledged append sees it.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> Result<R, LedgerError> {
        let guard = self.projection.read().map_err(|_| LedgerError::Poisoned)?;
        Ok(f(&guard.state))
    }

    fn prepare(commands: Vec<Command>) -> Result<Vec<NewEvent>, LedgerError> {
        commands
            .into_iter()
            .enumerate()
            .map(|(index, c)| {
                // What each field must be needs no state: checked here, on the caller's
                // thread, before the payload is encoded (a text far too long is named as
                // such, not as an oversized payload). The appender's rules check it again.
                careledger_care::fields::check(&c.event).map_err(|e| LedgerError::Refused {
                    index,
                    error: CareRefusal::Rule(e),
                })?;
                c.into_new_event().map_err(|e| LedgerError::Refused {
                    index,
                    error: CareRefusal::Decode(e),
                })
            })
            .collect()
    }

    /// Queues commands (all or nothing); the receiver answers once they are durable.
    pub fn submit(
        &self,
        commands: Vec<Command>,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<Vec<Receipt>, AppendError>>, LedgerError>
    {
        self.submit_keyed(commands, None)
    }

    /// As [`Ledger::submit`], under a request key: a retry with the same key and request
    /// is answered with the first append's receipts, and nothing is written again
    /// (`careledger_store::request_keys`).
    pub fn submit_keyed(
        &self,
        commands: Vec<Command>,
        key: Option<RequestKey>,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<Vec<Receipt>, AppendError>>, LedgerError>
    {
        Ok(self.store.submit_keyed(Self::prepare(commands)?, key)?)
    }

    /// Appends and waits until durable. Not for use inside an async runtime.
    pub fn append(&self, commands: Vec<Command>) -> Result<Vec<Receipt>, LedgerError> {
        let receiver = self.submit(commands)?;
        Ok(receiver
            .blocking_recv()
            .map_err(|_| AppendError::Closed)??)
    }

    pub async fn append_async(&self, commands: Vec<Command>) -> Result<Vec<Receipt>, LedgerError> {
        self.append_keyed_async(commands, None).await
    }

    pub async fn append_keyed_async(
        &self,
        commands: Vec<Command>,
        key: Option<RequestKey>,
    ) -> Result<Vec<Receipt>, LedgerError> {
        let receiver = self.submit_keyed(commands, key)?;
        Ok(receiver.await.map_err(|_| AppendError::Closed)??)
    }

    /// Events about `person` from sequence `from`, oldest first, at most `limit`
    /// (≤ [`HISTORY_PAGE_MAX`]), keeping those `keep` accepts: the histories (care plan
    /// versions, MAR administrations, who looked) are read from the log itself through
    /// the subject index.
    pub fn history(
        &self,
        person: &str,
        from: u64,
        limit: usize,
        keep: impl Fn(&str) -> bool,
    ) -> Result<Vec<CareRecord>, LedgerError> {
        let limit = limit.min(HISTORY_PAGE_MAX);
        let mut out = Vec::new();
        let mut next = from;
        while out.len() < limit {
            let page = self.store.by_subject(person, next, HISTORY_PAGE_MAX)?;
            let Some(last) = page.last() else { break };
            next = last.envelope.seq + 1;
            for stored in page {
                if out.len() < limit && keep(&stored.envelope.kind) {
                    out.push(record(stored));
                }
            }
        }
        Ok(out)
    }
}

impl Ledger {
    /// Event `seq`, read from the log, its payload decoded (`None` where it cannot be).
    pub fn event(&self, seq: u64) -> Result<CareRecord, LedgerError> {
        Ok(record(self.store.get(seq)?))
    }

    /// The first event recorded at or after `us`, or the log's size if none is: recorded
    /// times never decrease along the log, so a binary search finds it in about 20 reads.
    pub fn first_recorded_at_or_after(&self, us: i64) -> Result<u64, LedgerError> {
        let (mut lo, mut hi) = (0, self.store.size());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.store.get(mid)?.envelope.recorded_at_us < us {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// The event that published `person`'s care plan `version`, read from the log: for
    /// versions older than the projection indexes
    /// (`careledger_care::state::PLAN_VERSIONS_KEPT`).
    pub fn plan_publication(
        &self,
        person: &str,
        version: u32,
    ) -> Result<Option<CareRecord>, LedgerError> {
        let mut from = 0;
        loop {
            let page = self.history(person, from, HISTORY_PAGE_MAX, |k| {
                k == "careplan.published"
            })?;
            let Some(last) = page.last() else {
                return Ok(None);
            };
            from = last.envelope.seq + 1;
            let wanted = |r: &CareRecord| matches!(&r.event, Some(CareEvent::CarePlanPublished(p)) if p.version == version);
            if let Some(r) = page.into_iter().find(wanted) {
                return Ok(Some(r));
            }
        }
    }
}

fn record(stored: StoredEvent) -> CareRecord {
    let event = stored
        .payload
        .as_ref()
        .and_then(|(_, p)| CareEvent::decode(&stored.envelope.kind, p).ok());
    CareRecord {
        envelope: stored.envelope,
        event,
    }
}
