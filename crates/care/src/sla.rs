//! SLA timers for council requests (R12), as pure functions of the state and the clock.
//!
//! A timer task (in the service) calls [`due_events`] with the current time and appends what
//! it returns. Because the state records each warning and breach, and the rules refuse a
//! second one or an early one, running it again after a restart neither misses nor
//! duplicates an event.

use crate::event::{CareEvent, SlaBreached, SlaWarning};
use crate::state::{CouncilRequest, State};
use crate::types::*;

/// Warn this long before the due time, or a quarter of the window for shorter requests.
pub const WARN_BEFORE_MAX_US: i64 = 4 * HOUR_US;

/// When a request's warning is due.
pub fn warn_at(r: &CouncilRequest) -> TimeUs {
    let window = r.due_at_us.saturating_sub(r.received_at_us).max(0);
    r.due_at_us
        .saturating_sub((window / 4).min(WARN_BEFORE_MAX_US))
}

/// Where a request stands at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaState {
    /// Open and not yet due; microseconds left.
    DueIn(i64),
    /// Open, past the warning time.
    Warned(i64),
    /// Open and past due.
    Breached,
    Responded {
        late: bool,
        took_us: i64,
    },
    Withdrawn,
}

pub fn sla_state(r: &CouncilRequest, now_us: TimeUs) -> SlaState {
    if let Some(resp) = &r.responded {
        return SlaState::Responded {
            late: r.answered_late(),
            took_us: resp.occurred_at_us.saturating_sub(r.received_at_us),
        };
    }
    if r.withdrawn.is_some() {
        return SlaState::Withdrawn;
    }
    if now_us > r.due_at_us {
        SlaState::Breached
    } else if now_us >= warn_at(r) {
        SlaState::Warned(r.due_at_us.saturating_sub(now_us))
    } else {
        SlaState::DueIn(r.due_at_us.saturating_sub(now_us))
    }
}

/// The warning and breach events due at `now` that are not in the log yet, in request order.
pub fn due_events(state: &State, now_us: TimeUs) -> Vec<CareEvent> {
    let mut out = Vec::new();
    for (id, r) in state.requests.iter() {
        if r.status.is_closed() {
            continue;
        }
        if r.warned.is_none() && now_us >= warn_at(r) {
            out.push(CareEvent::SlaWarning(SlaWarning {
                request_id: id.clone(),
                due_at_us: r.due_at_us,
            }));
        }
        if r.breached.is_none() && now_us > r.due_at_us {
            out.push(CareEvent::SlaBreached(SlaBreached {
                request_id: id.clone(),
                due_at_us: r.due_at_us,
            }));
        }
    }
    out
}

/// The earliest time at which [`due_events`] will return something new, if any.
pub fn next_deadline(state: &State) -> Option<TimeUs> {
    next_deadline_except(state, |_, _| false)
}

/// [`next_deadline`], leaving out the events for which `skip(request_id, breach)` is true
/// (those a timer has stopped offering, `breach` false for the warning).
pub fn next_deadline_except(state: &State, skip: impl Fn(&str, bool) -> bool) -> Option<TimeUs> {
    state
        .requests
        .iter()
        .filter(|(_, r)| !r.status.is_closed())
        .flat_map(|(id, r)| {
            let warn = (r.warned.is_none() && !skip(id, false)).then(|| warn_at(r));
            let breach = (r.breached.is_none() && !skip(id, true)).then_some(r.due_at_us + 1);
            warn.into_iter().chain(breach)
        })
        .min()
}
