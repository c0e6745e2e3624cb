//! The contingency pack, printed before an outage: for each person in care (or each person
//! asked for), the current care plan and the MAR chart, with an index at the front. Each
//! person's pages start on a new page, the MAR chart landscape, so the pack can be split
//! into each home's file.

use careledger_care::State;

use crate::doc::{Block, Doc, Section};
use crate::{care_plan, mar, words};
use crate::{Checkpoint, Entry, Format, Period, PrintError};

/// A document as a part of the pack: under `heading`, its subtitle, then its blocks a
/// heading level deeper.
fn part(heading: String, doc: Doc) -> Vec<Block> {
    let mut blocks = vec![Block::h(1, heading), Block::p(doc.subtitle)];
    blocks.extend(
        doc.sections
            .into_iter()
            .flat_map(|s| s.blocks)
            .map(Block::deeper),
    );
    blocks
}

/// Builds the pack for `people` (each id with their events), in the order given.
pub fn build(
    state: &State,
    people: &[(String, Vec<Entry>)],
    period: Period,
    checkpoint: &Checkpoint,
    format: Format,
) -> Result<Doc, PrintError> {
    let easy = format == Format::EasyRead;
    let mut index = Vec::new();
    let mut parts = Vec::new();
    for (id, entries) in people {
        let person = state
            .person(id)
            .ok_or_else(|| PrintError::NoPerson(id.clone()))?;
        let name = &person.details.name;
        let plan = match care_plan::build(state, person, entries, format) {
            Ok(doc) => part(format!("{name} ({id}): care plan"), doc),
            Err(PrintError::NoPlan(_)) => vec![
                Block::h(1, format!("{name} ({id}): no care plan")),
                Block::p(format!(
                    "{name} has no published care plan. Follow the provider's contingency \
                     arrangements and record care on paper."
                )),
            ],
            Err(e) => return Err(e),
        };
        let chart = part(
            format!("{name} ({id}): MAR chart"),
            mar::build(state, person, entries, period, format),
        );
        for b in [&plan[0], &chart[0]] {
            if let Block::Heading { text, .. } = b {
                index.push(text.clone());
            }
        }
        parts.push(Section {
            landscape: false,
            blocks: plan,
        });
        parts.push(Section {
            landscape: true,
            blocks: chart,
        });
    }
    let mut front = vec![
        Block::p(format!(
            "The current care plan and MAR chart of {}, printed from the ledger as it stood \
             at {}. Keep it where staff can reach it if the system goes down; record care on \
             paper in it and enter it afterwards.",
            words::count(people.len(), "person", "people"),
            words::when(checkpoint.at_us)
        )),
        Block::h(1, "Index"),
        Block::Contents {
            items: index.clone(),
        },
    ];
    if easy {
        front.insert(
            0,
            Block::p("This pack has care plans and medicines charts."),
        );
    }
    let mut sections = vec![Section {
        landscape: false,
        blocks: front,
    }];
    sections.extend(parts);
    Ok(Doc {
        title: "Contingency pack".into(),
        subtitle: format!(
            "{} to {}, {}.",
            words::date(period.first()),
            words::date(period.last),
            words::count(people.len(), "person", "people")
        ),
        sections,
    })
}
