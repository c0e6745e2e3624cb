//! The contingency pack, printed before an outage: for each person in care (or each person
//! asked for), the current care plan and the MAR chart, with an index at the front. Each
//! person's pages start on a new page, the MAR chart landscape, so the pack can be split
//! into each home's file.
//!
//! As PDF each person's care plan and chart is laid out on its own (on every core, so a pack
//! of hundreds of people never holds more than a few people's layout at once) and the
//! pages are joined behind the index: see [`crate::pdf::render_parts`]. Every page of a
//! person's part says whose it is and its page among that person's pages, so a page taken
//! out of the pack can be put back; the index gives each care plan's and chart's pages in
//! the pack.

use careledger_care::State;

use crate::doc::{Block, Doc, Section};
use crate::{care_plan, mar, words};
use crate::{Checkpoint, Entry, Format, Period, PrintError};

/// The pack, built: what goes before the index, and each person's two parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pack {
    pub title: String,
    pub subtitle: String,
    /// What the pack is and how to use it, before the index.
    pub intro: Vec<Block>,
    pub people: Vec<Person>,
    /// Which volume this is, for a pack printed in several.
    pub volume: Volume,
}

/// People in one volume of a pack: about 300 pages, a ring binder's worth. A larger pack is
/// printed as volumes, each with its own index, so that no binder (and no layout in
/// memory) holds more.
pub const VOLUME_PEOPLE: usize = 50;

/// One volume of a pack: its number and how many there are, and the people in it counted
/// among the whole pack's (`first`, from 1, of `total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Volume {
    pub number: usize,
    pub of: usize,
    pub first: usize,
    pub total: usize,
}

impl Volume {
    /// The whole pack in one volume.
    pub fn whole(total: usize) -> Volume {
        Volume {
            number: 1,
            of: 1,
            first: 1,
            total,
        }
    }

    /// The volumes of a pack of `total` people, [`VOLUME_PEOPLE`] to a volume, each with
    /// the range of the people (indices from 0) it holds.
    pub fn split(total: usize) -> Vec<(std::ops::Range<usize>, Volume)> {
        let of = total.div_ceil(VOLUME_PEOPLE).max(1);
        (0..of)
            .map(|v| {
                let start = v * VOLUME_PEOPLE;
                let end = (start + VOLUME_PEOPLE).min(total);
                (
                    start..end,
                    Volume {
                        number: v + 1,
                        of,
                        first: start + 1,
                        total,
                    },
                )
            })
            .collect()
    }
}

/// One person's pages in the pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// "Joan Hill (person-1)".
    pub label: String,
    /// The care plan (or why there is none), upright; its first block is its heading.
    pub plan: Vec<Block>,
    /// The MAR chart, landscape; its first block is its heading.
    pub chart: Vec<Block>,
}

/// The pages of one part in the pack: the first and the last, counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pages {
    pub first: usize,
    pub last: usize,
}

impl Pages {
    fn said(self) -> String {
        if self.first == self.last {
            format!("page {}", self.first)
        } else {
            format!("pages {} to {}", self.first, self.last)
        }
    }
}

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
    volume: Option<Volume>,
) -> Result<Pack, PrintError> {
    let volume = volume.unwrap_or(Volume::whole(people.len()));
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
        parts.push(Person {
            label: format!("{name} ({id})"),
            plan,
            chart,
        });
    }
    let last = volume.first + people.len().saturating_sub(1);
    let whose = if volume.of > 1 {
        format!(
            "people {} to {last} of the {} in this pack (volume {} of {})",
            volume.first, volume.total, volume.number, volume.of
        )
    } else {
        words::count(people.len(), "person", "people")
    };
    let mut intro = vec![Block::p(format!(
        "The current care plan and MAR chart of {whose}, printed from the ledger as it stood \
         at {}. Keep it where staff can reach it if the system goes down; record care on \
         paper in it and enter it afterwards.",
        words::when(checkpoint.at_us)
    ))];
    if format == Format::EasyRead {
        intro.insert(
            0,
            Block::p("This pack has care plans and medicines charts."),
        );
    }
    Ok(Pack {
        title: if volume.of > 1 {
            format!(
                "Contingency pack, volume {} of {}",
                volume.number, volume.of
            )
        } else {
            "Contingency pack".into()
        },
        subtitle: format!(
            "{} to {}, {}.",
            words::date(period.first()),
            words::date(period.last),
            whose
        ),
        intro,
        people: parts,
        volume,
    })
}

fn heading_of(blocks: &[Block]) -> String {
    match blocks.first() {
        Some(Block::Heading { text, .. }) => text.clone(),
        _ => String::new(),
    }
}

impl Pack {
    /// The whole pack as one document, its index listing the parts in order (plain text,
    /// where there are no pages).
    pub fn doc(&self) -> Doc {
        let index = self
            .people
            .iter()
            .flat_map(|p| [heading_of(&p.plan), heading_of(&p.chart)])
            .collect();
        let mut front = self.intro.clone();
        front.push(Block::h(1, "Index"));
        front.push(Block::Contents { items: index });
        let mut sections = vec![Section {
            landscape: false,
            blocks: front,
        }];
        for p in &self.people {
            sections.push(Section {
                landscape: false,
                blocks: p.plan.clone(),
            });
            sections.push(Section {
                landscape: true,
                blocks: p.chart.clone(),
            });
        }
        Doc {
            title: self.title.clone(),
            subtitle: self.subtitle.clone(),
            sections,
        }
    }

    /// The front of the printed pack: what it is and an index giving the pages of each
    /// person's care plan and MAR chart in the pack (`pages`, in the order of
    /// [`Pack::people`]).
    pub fn front(&self, pages: &[(Pages, Pages)]) -> Doc {
        let rows = self
            .people
            .iter()
            .zip(pages)
            .enumerate()
            .map(|(n, (p, (plan, chart)))| {
                vec![
                    (self.volume.first + n).to_string(),
                    p.label.clone(),
                    plan.said(),
                    chart.said(),
                ]
            })
            .collect();
        let mut blocks = self.intro.clone();
        blocks.push(Block::h(1, "Index"));
        blocks.push(Block::p(
            "Page numbers are the pack's, as a PDF reader and a printer count them. On paper, \
             find a person by the line at the foot of their pages (\"person 12 of 40\"), \
             which also gives the page among that person's pages.",
        ));
        blocks.push(Block::Table {
            caption: "Each person's pages in the pack".into(),
            header: vec![
                "Person".into(),
                "Name".into(),
                "Care plan".into(),
                "MAR chart".into(),
            ],
            rows,
            widths: vec![1, 5, 3, 3],
            blank_rows: 0,
        });
        Doc::single(self.title.clone(), self.subtitle.clone(), false, blocks)
    }

    /// One person's part (their care plan upright, then their MAR chart landscape) as a
    /// document of its own, to be laid out alone, and the line its footer says: `n` counts
    /// the people from 1.
    pub fn part(&self, n: usize) -> (Doc, String) {
        let p = &self.people[n - 1];
        let label = format!(
            "person {} of {}, {}",
            self.volume.first + n - 1,
            self.volume.total,
            p.label
        );
        (
            Doc {
                title: self.title.clone(),
                subtitle: String::new(),
                sections: vec![
                    Section {
                        landscape: false,
                        blocks: p.plan.clone(),
                    },
                    Section {
                        landscape: true,
                        blocks: p.chart.clone(),
                    },
                ],
            },
            label,
        )
    }
}
