//! Writing a simulated history into a ledger: each day's commands in requests of up to
//! [`REQUEST_COMMANDS_MAX`], with up to [`REQUESTS_IN_FLIGHT_MAX`] in flight.

use std::collections::VecDeque;

use careledger_ledger::{Command, Ledger, LedgerError};

use crate::config::SimConfig;
use crate::day::Simulator;

/// Most commands in one append request.
pub const REQUEST_COMMANDS_MAX: usize = 2_000;
/// Requests in flight while simulating.
pub const REQUESTS_IN_FLIGHT_MAX: usize = 8;

/// What a simulation wrote.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimReport {
    pub events: u64,
    pub days: u32,
}

/// Runs the simulator into `ledger`, calling `progress(days_done, days_total, events)`.
pub fn run(
    ledger: &Ledger,
    config: SimConfig,
    mut progress: impl FnMut(u32, u32, u64),
) -> Result<SimReport, LedgerError> {
    let mut sim = Simulator::new(config);
    let mut report = SimReport::default();
    let mut in_flight = VecDeque::new();
    for d in 0..sim.days() {
        let commands = sim.day(d);
        let mut commands = commands.into_iter().peekable();
        while commands.peek().is_some() {
            let request: Vec<Command> = commands.by_ref().take(REQUEST_COMMANDS_MAX).collect();
            report.events += request.len() as u64;
            submit(ledger, request, &mut in_flight)?;
        }
        report.days = d + 1;
        progress(d + 1, sim.days(), report.events);
    }
    while !in_flight.is_empty() {
        wait(&mut in_flight)?;
    }
    Ok(report)
}

/// Submits `request`, then waits for the oldest request in flight if there are
/// [`REQUESTS_IN_FLIGHT_MAX`].
fn submit(
    ledger: &Ledger,
    request: Vec<Command>,
    in_flight: &mut VecDeque<Pending>,
) -> Result<(), LedgerError> {
    let mut backoff = Backoff::new();
    // The store drops a request it is too busy to queue, so each attempt sends a copy; the
    // back-off bounds how often that happens.
    let receiver = loop {
        match ledger.submit(request.clone()) {
            Err(LedgerError::Append(careledger_store::AppendError::Busy(_))) => {
                if in_flight.is_empty() {
                    // The queue is full of another writer's requests: none of ours to wait
                    // for, so sleep rather than spin.
                    std::thread::sleep(backoff.next());
                } else {
                    wait(in_flight)?;
                }
            }
            other => break other?,
        }
    };
    in_flight.push_back(receiver);
    if in_flight.len() >= REQUESTS_IN_FLIGHT_MAX {
        wait(in_flight)?;
    }
    Ok(())
}

/// Sleeps between attempts while the store is busy with requests not ours: 1 ms, doubling
/// to at most 50 ms (a busy queue drains in milliseconds; 50 ms keeps the wake-ups rare
/// without adding much latency once it has).
struct Backoff(std::time::Duration);

impl Backoff {
    const FIRST: std::time::Duration = std::time::Duration::from_millis(1);
    const MAX: std::time::Duration = std::time::Duration::from_millis(50);

    fn new() -> Self {
        Backoff(Self::FIRST)
    }

    fn next(&mut self) -> std::time::Duration {
        let sleep = self.0;
        self.0 = (sleep * 2).min(Self::MAX);
        sleep
    }
}

type Pending = tokio::sync::oneshot::Receiver<
    Result<Vec<careledger_store::Receipt>, careledger_store::AppendError>,
>;

fn wait(in_flight: &mut VecDeque<Pending>) -> Result<(), LedgerError> {
    if let Some(r) = in_flight.pop_front() {
        r.blocking_recv()
            .map_err(|_| careledger_store::AppendError::Closed)??;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_from_1_ms_to_at_most_50_ms() {
        let mut backoff = Backoff::new();
        let sleeps: Vec<Duration> = (0..9).map(|_| backoff.next()).collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(
            sleeps,
            [
                ms(1),
                ms(2),
                ms(4),
                ms(8),
                ms(16),
                ms(32),
                ms(50),
                ms(50),
                ms(50)
            ]
        );
    }
}
