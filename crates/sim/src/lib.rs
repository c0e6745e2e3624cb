//! A deterministic generator of realistic home-care history (`careledger simulate`).
//!
//! Given a seed, a number of people, a number of days and the day the history ends, it
//! produces the same events every time: staff and partners, people registered and started
//! on care (most at the beginning, some admitted later, a few whose care ends), care plans
//! with reviews and new versions, visits several times a day with tasks, medicines given at
//! the visits (with occasional refusals and omissions), diary notes by staff and by
//! families, reads by care workers, families, council officers and, rarely, a paramedic
//! under break-glass; choices discussions (and a few people with none), paper copies in
//! the home (some out of date, some declined), AIS needs (a few documents in the wrong
//! format), council requests answered early, late and never, and one outage whose paper
//! notes are back-entered afterwards.
//!
//! Every event passes the care rules: a refused one is a bug in the generator.
//!
//! This is not ledger logic: it is a writer like any other, going through
//! [`careledger_ledger::Ledger`] and its rules. It lives in its own crate so that the
//! ledger's API is the ledger's alone.
//!
//! The modules, in the order a day runs: `world` (the organisation and the people, made
//! once from the seed), `day` (the [`Simulator`] and one person's day), `admission` (the
//! first day of care), `visits` (visits, tasks and medicines rounds), `reviews` (care plan
//! reviews and MAR changes), `council` (council requests and their SLA events), `run`
//! (writing the days into a ledger). `rng` is the generator all of them draw from, in a
//! fixed order: changing that order changes every history after it.
#![forbid(unsafe_code)]

mod admission;
mod config;
mod council;
mod day;
pub mod guide;
mod reviews;
mod rng;
mod run;
mod visits;
mod world;

pub use config::SimConfig;
pub use day::Simulator;
pub use run::{run, SimReport, REQUESTS_IN_FLIGHT_MAX, REQUEST_COMMANDS_MAX};
