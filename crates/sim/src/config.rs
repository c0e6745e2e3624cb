//! What a simulation is asked for.

use chrono::NaiveDate;

/// The size, seed and end of a simulated history: the same four give the same events.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub people: u32,
    pub days: u32,
    pub seed: u64,
    /// The history covers the `days` days before this date (UTC).
    pub end: NaiveDate,
}
