//! Diary records for the home file: the person's daily notes for a period (by staff, by the
//! person themselves and by their representatives, each attributed), with incidents and
//! observations, oldest first, and rows left to write in by hand while the system is down.

use careledger_care::event::CareEvent;
use careledger_care::state::PersonState;
use careledger_care::{Author, State};

use crate::care_plan::identity;
use crate::doc::{Block, Doc};
use crate::words;
use crate::{Entry, Format, Period};

/// Empty rows at the end, for notes written by hand during an outage.
pub const BLANK_ROWS: u8 = 8;

fn line(state: &State, entry: &Entry, event: &CareEvent) -> Option<(String, String)> {
    let by = words::who(state, &entry.actor);
    Some(match event {
        CareEvent::DiaryNote(n) => {
            let who = match n.author {
                Author::Staff => by,
                Author::Person => format!("{by} (the person)"),
                Author::Representative => format!("{by} (representative)"),
            };
            (who, n.text.clone())
        }
        CareEvent::Incident(i) => (
            by,
            format!(
                "Incident ({:?}, {}): {}",
                i.severity, i.category, i.description
            ),
        ),
        CareEvent::Observation(o) => (
            by,
            format!("Observation: {} {} {}", o.measure, o.value, o.unit),
        ),
        CareEvent::BackEntered(b) => {
            let (who, text) = line(state, entry, &b.entry)?;
            (
                who,
                format!("{text} (entered later from {})", b.paper_reference),
            )
        }
        _ => return None,
    })
}

/// Builds the diary records of `person` for `period` from `entries` (their events).
pub fn build(
    state: &State,
    person: &PersonState,
    entries: &[Entry],
    period: Period,
    format: Format,
) -> Doc {
    let easy = format == Format::EasyRead;
    let name = &person.details.name;
    let rows: Vec<Vec<String>> = entries
        .iter()
        .filter(|e| period.contains_us(e.occurred_at_us))
        .filter_map(|e| {
            let (who, text) = match &e.event {
                Some(ev) => line(state, e, ev)?,
                None => return None,
            };
            Some(vec![
                format!(
                    "{} {}",
                    words::day(words::uk_date(e.occurred_at_us)),
                    words::time(e.occurred_at_us)
                ),
                who,
                text,
            ])
        })
        .collect();
    let mut blocks = Vec::new();
    if easy {
        blocks.push(Block::p("This is your diary."));
        blocks.push(Block::p("It has the notes staff wrote about your day."));
        blocks.push(Block::p("It has the notes you and your family wrote too."));
    }
    blocks.push(Block::h(1, if easy { "About you" } else { "The person" }));
    blocks.push(identity(person, true));
    blocks.push(Block::h(1, if easy { "Your notes" } else { "Notes" }));
    blocks.push(Block::p(format!(
        "{}, {} to {}.",
        words::count(rows.len(), "entry", "entries"),
        words::date(period.first()),
        words::date(period.last)
    )));
    blocks.push(Block::Table {
        caption: "Diary entries, oldest first".into(),
        header: vec!["Date and time".into(), "Written by".into(), "Entry".into()],
        rows,
        widths: vec![2, 2, 6],
        blank_rows: BLANK_ROWS,
    });
    Doc::single(
        format!("Diary records for {name}"),
        format!(
            "{} to {}.",
            words::date(period.first()),
            words::date(period.last)
        ),
        false,
        blocks,
    )
}
