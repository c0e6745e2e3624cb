//! The care state as the ledger had recorded it at an earlier time: the projections rebuilt
//! from the events recorded at or before that time, so that a report "as of T" answers from
//! what was known at T rather than judging today's state by T's clock.
//!
//! Recorded-at never decreases along the log, so the events of T are a prefix, found with
//! O(log n) reads; the prefix is then replayed from the log. The replay is bounded: a prefix
//! longer than the caller's bound is refused (a general as-of index is the council issue's).

use careledger_care::{CareEvent, State};
use careledger_store::Store;

use crate::{meta, LedgerError};

/// Events read from the log per store call while replaying.
const REPLAY_CHUNK: usize = 4096;

/// The state as of a time, and how many events it reflects.
pub struct AsOf {
    pub state: State,
    /// The events recorded at or before the time: the state reflects `0..events`.
    pub events: u64,
}

/// Why an as-of state was not built.
#[derive(Debug, thiserror::Error)]
pub enum AsOfError {
    #[error(
        "the state as of that time needs {events} events replayed, more than the {max} an \
         as-of answer may replay; ask for an earlier time or use `careledger findings` \
         on a copy of the ledger"
    )]
    TooManyEvents { events: u64, max: u64 },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// The number of events recorded at or before `at_us` (a prefix of the log).
pub fn events_recorded_by(store: &Store, at_us: i64) -> Result<u64, LedgerError> {
    let (mut lo, mut hi) = (0u64, store.size());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if store.get(mid)?.envelope.recorded_at_us <= at_us {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// Replays the events recorded at or before `at_us` into a new state, refusing to replay
/// more than `events_max`.
pub fn state_as_of(store: &Store, at_us: i64, events_max: u64) -> Result<AsOf, AsOfError> {
    let events = events_recorded_by(store, at_us)?;
    if events > events_max {
        return Err(AsOfError::TooManyEvents {
            events,
            max: events_max,
        });
    }
    let mut state = State::new();
    let mut next = 0;
    while next < events {
        let want = REPLAY_CHUNK.min((events - next) as usize);
        let chunk = store.range(next, want).map_err(LedgerError::from)?;
        let Some(last) = chunk.last() else { break };
        next = last.envelope.seq + 1;
        for stored in chunk.iter().filter(|s| s.envelope.seq < events) {
            // An erased payload leaves nothing to project, as in the live projection.
            let Some((_, payload)) = &stored.payload else {
                continue;
            };
            let event = CareEvent::decode(&stored.envelope.kind, payload).map_err(|e| {
                LedgerError::from(careledger_store::StoreError::Corrupt(format!(
                    "event {} does not decode as {}: {e}",
                    stored.envelope.seq, stored.envelope.kind
                )))
            })?;
            state.replay(&meta(&stored.envelope), &event);
        }
    }
    assert!(next >= events, "the replay stopped short of the prefix");
    Ok(AsOf { state, events })
}
