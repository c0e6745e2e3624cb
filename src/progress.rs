//! A progress line on stderr, drawn only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

const REDRAW_EVERY: Duration = Duration::from_millis(100);
const BAR_WIDTH: u64 = 30;

pub struct Progress {
    label: &'static str,
    started: Instant,
    last_drawn: Option<Instant>,
    enabled: bool,
}

impl Progress {
    pub fn new(label: &'static str) -> Self {
        Self {
            label,
            started: Instant::now(),
            last_drawn: None,
            enabled: std::io::stderr().is_terminal(),
        }
    }

    pub fn update(&mut self, done: u64, total: u64) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if done < total && self.last_drawn.is_some_and(|t| now - t < REDRAW_EVERY) {
            return;
        }
        self.last_drawn = Some(now);
        let filled = (done * BAR_WIDTH).checked_div(total).unwrap_or(BAR_WIDTH);
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        let bar: String = (0..BAR_WIDTH)
            .map(|i| if i < filled { '#' } else { ' ' })
            .collect();
        eprint!(
            "\r{} [{bar}] {done}/{total} events, {:.0} events/s ",
            self.label, rate
        );
        let _ = std::io::stderr().flush();
    }

    pub fn finish(&mut self) {
        if self.enabled && self.last_drawn.is_some() {
            eprintln!();
        }
    }
}
