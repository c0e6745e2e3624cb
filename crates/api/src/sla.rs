//! The SLA timer task (R12): driven by the log and the clock. It asks the care domain which
//! warnings and breaches are due now ([`careledger_care::sla::due_events`]), appends them,
//! then sleeps until the next deadline, or until a council request is recorded, or at most
//! [`SLA_SLEEP_MAX`]. The projections record each warning and breach and the rules refuse a
//! second or an early one, so after a restart the first pass catches up on whatever fell due
//! while the service was down, without repeating anything.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use careledger_care::sla::{due_events, next_deadline};
use careledger_care::CareEvent;
use careledger_ledger::{Command, LedgerError};

use crate::{App, SLA_ACTOR};

/// The longest the task sleeps without looking again (a clock step, or a request recorded
/// by another process, is noticed within this).
pub const SLA_SLEEP_MAX: Duration = Duration::from_secs(30);
/// After a failed append, wait this long before trying again.
pub const SLA_RETRY: Duration = Duration::from_secs(1);

/// One pass: appends what is due now; returns how many events were appended.
pub async fn tick(app: &App) -> Result<usize, crate::ApiError> {
    let now = careledger_store::now_us();
    let due = app.ledger.read(|s| due_events(s, now))?;
    let mut appended = 0;
    for event in due {
        let breach = matches!(event, CareEvent::SlaBreached(_));
        // One event per append: a refusal (another writer got there first) must not hold
        // back the others.
        match app
            .append_ledger(vec![Command::organisation(SLA_ACTOR, now, event)])
            .await
        {
            Ok(_) => {
                appended += 1;
                let counter = if breach {
                    &app.metrics.sla_breaches
                } else {
                    &app.metrics.sla_warnings
                };
                counter.fetch_add(1, Relaxed);
            }
            // Refused by the rules: already recorded (by another writer), or no longer due.
            Err(LedgerError::Refused { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(appended)
}

/// Runs until the service shuts down.
pub async fn run(app: App) {
    while !app.shutting_down.load(Relaxed) {
        let wait = match tick(&app).await {
            Err(e) => {
                if app.limits.log_requests {
                    eprintln!(
                        "{}",
                        serde_json::json!({"level": "error", "task": "sla", "error": e.to_string()})
                    );
                }
                SLA_RETRY
            }
            Ok(appended) => {
                let next = app.ledger.read(next_deadline).ok().flatten();
                let now = careledger_store::now_us();
                match next {
                    // Still due after a pass that appended nothing: the rules refused it;
                    // look again shortly rather than spin.
                    Some(at) if at <= now && appended == 0 => SLA_RETRY,
                    Some(at) if at <= now => Duration::ZERO,
                    Some(at) => Duration::from_micros((at - now) as u64).min(SLA_SLEEP_MAX),
                    None => SLA_SLEEP_MAX,
                }
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
