//! How documents say times, dates and people: in UK time, in words, never a raw id where
//! a name is known.

use careledger_care::uk_time;
use careledger_care::State;
use chrono::NaiveDate;

/// "2 December 2026 at 14:05" (UK time).
pub fn when(us: i64) -> String {
    uk_time::local(us).format("%-d %B %Y at %H:%M").to_string()
}

/// "2 December 2026".
pub fn date(d: NaiveDate) -> String {
    d.format("%-d %B %Y").to_string()
}

/// "2 Dec 2026", in a narrow column.
pub fn short_date(d: NaiveDate) -> String {
    d.format("%-d %b %Y").to_string()
}

/// "Mon 2 Nov", a column of a grid.
pub fn day(d: NaiveDate) -> String {
    d.format("%a %-d %b").to_string()
}

/// "14:05" (UK time).
pub fn time(us: i64) -> String {
    uk_time::local(us).format("%H:%M").to_string()
}

/// The UK date of an instant.
pub fn uk_date(us: i64) -> NaiveDate {
    uk_time::local(us).date()
}

/// Who an actor is: a staff member's name (and id, for the signature to be traced), else
/// the id itself (a person, a representative, a council officer).
pub fn who(state: &State, actor: &str) -> String {
    match state.staff.get(actor) {
        Some(s) => s.name.clone(),
        None => actor.to_string(),
    }
}

/// "1 item" / "3 items".
pub fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}
