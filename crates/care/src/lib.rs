//! The care domain of careledger: the vocabulary of adult social care as typed, versioned
//! events ([`event`]), the rules that refuse bad ones and the projections that answer "what
//! is true now" ([`state`]), who may read what ([`policy`]), and the compliance findings a
//! council monitoring officer would raise ([`findings`]).
//!
//! Everything here is a pure function of its inputs: no IO, no clock reads. Time comes in as
//! a parameter (the envelope's recorded-at when an event is checked, `now` for findings and
//! SLA timers).
#![forbid(unsafe_code)]

pub mod codec;
pub mod error;
pub mod event;
pub mod fields;
pub mod findings;
pub mod input;
pub mod policy;
pub mod rules;
pub mod sla;
pub mod state;
pub mod table;
pub mod types;
pub mod uk_time;

pub use error::RuleError;
pub use event::{CareEvent, Scope};
pub use state::{Meta, State};
pub use types::*;
