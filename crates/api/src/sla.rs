//! The SLA timer task (R12): driven by the log and a clock. It asks the care domain which
//! warnings and breaches are due now ([`careledger_care::sla::due_events`]), appends them,
//! then sleeps until the next deadline, or until a council request is recorded, or at most
//! [`SLA_SLEEP_MAX`]. The projections record each warning and breach and the rules refuse a
//! second or an early one, so after a restart the first pass catches up on whatever fell due
//! while the service was down, without repeating anything.
//!
//! The clock is passed in ([`Timer::tick`] takes `now`, [`run_with_clock`] a clock), as the
//! care crate's pure functions take it, so that tests drive time instead of sleeping.
//! What goes wrong is said through `tracing` and counted in the metrics: a pass that fails
//! (the store busy or failed, the projections unavailable) is retried after [`SLA_RETRY`];
//! an event the rules refuse is not offered again by this task.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use careledger_care::sla::{due_events, next_deadline_except};
use careledger_care::{CareEvent, State};
use careledger_ledger::{Command, LedgerError};

use crate::{App, SLA_ACTOR};

/// The longest the task sleeps without looking again (a clock step, or a request recorded
/// by another process, is noticed within this).
pub const SLA_SLEEP_MAX: Duration = Duration::from_secs(30);
/// After a failed pass, wait this long before trying again.
pub const SLA_RETRY: Duration = Duration::from_secs(1);

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Warnings and breaches appended.
    pub appended: usize,
    /// Warnings and breaches the care rules refused (logged, counted, not offered again).
    pub refused: usize,
}

/// A warning (`false`) or breach (`true`) of a council request.
type SlaKey = (String, bool);

fn sla_key(event: &CareEvent) -> Option<SlaKey> {
    match event {
        CareEvent::SlaWarning(w) => Some((w.request_id.clone(), false)),
        CareEvent::SlaBreached(b) => Some((b.request_id.clone(), true)),
        _ => None,
    }
}

/// The task's memory between passes: the events the rules refused.
///
/// A refusal of an event `due_events` called due means the request was closed in between
/// (it is then no longer due) or the timer and the rules disagree, which trying again every
/// second cannot mend: it is logged, counted in `careledger_sla_refused_total`, and left
/// alone until the service restarts. Bounded: only refusals of events still due are kept,
/// so at most two per open request.
#[derive(Debug, Default)]
pub struct Timer {
    refused: BTreeSet<SlaKey>,
}

impl Timer {
    pub fn new() -> Self {
        Self::default()
    }

    /// One pass at `now_us`: appends what is due then and not refused before, one event per
    /// append, with `now_us` as its occurred-at.
    pub async fn tick(&mut self, app: &App, now_us: i64) -> Result<Pass, crate::ApiError> {
        let due = app.ledger.read(|s| due_events(s, now_us))?;
        let due: Vec<(SlaKey, CareEvent)> = due
            .into_iter()
            .filter_map(|e| Some((sla_key(&e)?, e)))
            .collect();
        // Forget refusals of what is no longer due (recorded since, or the request closed).
        let still_due: BTreeSet<&SlaKey> = due.iter().map(|(k, _)| k).collect();
        self.refused.retain(|k| still_due.contains(k));
        let mut pass = Pass::default();
        for (key, event) in due {
            if self.refused.contains(&key) {
                continue;
            }
            let (request_id, breach) = (&key.0, key.1);
            // One event per append: a refusal must not hold back the others.
            match app
                .append_ledger(vec![Command::organisation(SLA_ACTOR, now_us, event)])
                .await
            {
                Ok(_) => {
                    pass.appended += 1;
                    let counter = if breach {
                        &app.metrics.sla_breaches
                    } else {
                        &app.metrics.sla_warnings
                    };
                    counter.fetch_add(1, Relaxed);
                }
                Err(LedgerError::Refused { error, .. }) => {
                    tracing::warn!(
                        task = "sla",
                        request_id = %request_id,
                        event = if breach { "breach" } else { "warning" },
                        error = %error,
                        "the care rules refused an SLA event; not offered again until restart"
                    );
                    app.metrics.sla_refused.fetch_add(1, Relaxed);
                    pass.refused += 1;
                    self.refused.insert(key);
                }
                Err(e) => return Err(e.into()),
            }
        }
        app.metrics.sla_passes.fetch_add(1, Relaxed);
        Ok(pass)
    }

    /// The next time something falls due that this timer has not given up on.
    pub fn next_deadline(&self, state: &State) -> Option<i64> {
        next_deadline_except(state, |id, breach| {
            self.refused.contains(&(id.to_string(), breach))
        })
    }

    /// A pass, then how long to sleep before the next one.
    async fn pass(
        &mut self,
        app: &App,
        clock: &impl Fn() -> i64,
    ) -> Result<Duration, crate::ApiError> {
        self.tick(app, clock()).await?;
        let next = app.ledger.read(|s| self.next_deadline(s))?;
        let now = clock();
        Ok(match next {
            // Fell due during the pass: at once. This cannot repeat without progress: what
            // was due at the pass's `now` was appended or refused (and is then left out).
            Some(at) if at <= now => Duration::ZERO,
            Some(at) => Duration::from_micros((at - now) as u64).min(SLA_SLEEP_MAX),
            None => SLA_SLEEP_MAX,
        })
    }
}

/// Runs on the ledger's clock until the service shuts down.
pub async fn run(app: App) {
    run_with_clock(app, careledger_store::now_us).await
}

/// [`run`], reading the time (microseconds since the Unix epoch) from `clock`. The sleeps
/// between passes are real; a test that moves its clock wakes the task with `sla_wake`.
pub async fn run_with_clock(app: App, clock: impl Fn() -> i64) {
    let mut timer = Timer::new();
    while !app.shutting_down.load(Relaxed) {
        let wait = match timer.pass(&app, &clock).await {
            Ok(wait) => wait,
            Err(e) => {
                app.metrics.sla_pass_failures.fetch_add(1, Relaxed);
                tracing::error!(
                    task = "sla",
                    error = %e,
                    retry_in_s = SLA_RETRY.as_secs(),
                    "an SLA pass failed"
                );
                SLA_RETRY
            }
        };
        if wait.is_zero() {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = app.sla_wake.notified() => {}
        }
    }
}
