//! What the bench targets share.
//!
//! Each bench target compiles this module on its own and uses a different part of it.
#![allow(dead_code)]

use std::time::Duration;

use criterion::Criterion;

/// Short runs: the machine has two cores, usually shared with builds, and a whole
/// `cargo bench` should take minutes, not tens of them. Criterion's command-line options
/// (`--warm-up-time`, `--measurement-time`) still override these.
pub fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

/// splitmix64: the same positions on every run, so two runs measure the same proofs and
/// people, without a dependency for it.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}
