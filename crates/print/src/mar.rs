//! The MAR chart, with the content NICE NG67 (Managing medicines for adults receiving
//! social care in the community) asks of one: the person's name, date of birth, NHS number
//! and GP practice; allergies, stated even when there are none; each medicine's name,
//! formulation, strength, dose, route, frequency, start date, stop or review date and
//! instructions; and a grid, a week to a table, in which every dose given or not given is
//! signed, dated and timed. Empty cells and rows are left for entries by hand while the
//! system is down; as-needed (PRN) medicines have their own section.

use std::collections::BTreeMap;

use careledger_care::event::{AdministrationRecorded, CareEvent};
use careledger_care::state::{Medicine, PersonState};
use careledger_care::{AdministrationOutcome, State};
use chrono::NaiveDate;

use crate::care_plan::{allergies, identity};
use crate::doc::{Block, Doc, Fact};
use crate::words;
use crate::{Entry, Format, Period};

/// Empty rows under each week's grid and the as-needed record, for medicines or doses
/// written in by hand during an outage.
pub const BLANK_ROWS: u8 = 2;
pub const BLANK_ROWS_AS_NEEDED: u8 = 6;

/// One dose given or not given, as the chart shows it.
struct Dose<'a> {
    entry: &'a Entry,
    admin: &'a AdministrationRecorded,
    /// Where the paper original is, for a dose entered after an outage.
    back_entered: Option<&'a str>,
}

fn outcome(o: AdministrationOutcome) -> &'static str {
    match o {
        AdministrationOutcome::Given => "Given",
        AdministrationOutcome::Refused => "Refused",
        AdministrationOutcome::Omitted => "Omitted",
        AdministrationOutcome::Withheld => "Withheld",
    }
}

/// "08:02 Given 1 tablet, signed Sam Patel", with the reason, the witness and where the
/// paper original is when there are any.
fn cell_line(state: &State, d: &Dose<'_>, with_date: bool) -> String {
    let mut s = if with_date {
        format!(
            "{} {}",
            words::date(words::uk_date(d.entry.occurred_at_us)),
            words::time(d.entry.occurred_at_us)
        )
    } else {
        words::time(d.entry.occurred_at_us)
    };
    s.push(' ');
    s.push_str(outcome(d.admin.outcome));
    if let Some(dose) = &d.admin.dose_given {
        s.push(' ');
        s.push_str(dose);
    }
    if let Some(reason) = &d.admin.reason {
        s.push_str(": ");
        s.push_str(reason);
    }
    s.push_str(", signed ");
    s.push_str(&words::who(state, &d.entry.actor));
    if let Some(w) = &d.admin.witnessed_by {
        s.push_str(", witness ");
        s.push_str(&words::who(state, w));
    }
    if let Some(paper) = d.back_entered {
        s.push_str(&format!(" (entered later from {paper})"));
    }
    s
}

fn doses<'a>(entries: &'a [Entry], period: Period) -> Vec<Dose<'a>> {
    entries
        .iter()
        .filter(|e| period.contains_us(e.occurred_at_us))
        .filter_map(|entry| match entry.event.as_ref()? {
            CareEvent::AdministrationRecorded(admin) => Some(Dose {
                entry,
                admin,
                back_entered: None,
            }),
            CareEvent::BackEntered(b) => match b.entry.as_ref() {
                CareEvent::AdministrationRecorded(admin) => Some(Dose {
                    entry,
                    admin,
                    back_entered: Some(&b.paper_reference),
                }),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Was `m` prescribed on `day` (UK dates)?
fn active_on(m: &Medicine, day: NaiveDate) -> bool {
    words::uk_date(m.added.occurred_at_us) <= day
        && m.stopped
            .is_none_or(|s| words::uk_date(s.occurred_at_us) >= day)
}

/// Medicines the chart covers: those prescribed at some time in the period.
fn in_period(person: &PersonState, period: Period) -> Vec<(&String, &Medicine)> {
    person
        .medicines
        .iter()
        .filter(|(_, m)| {
            (0..i64::from(period.days.max(1)))
                .any(|i| active_on(m, period.first() + chrono::Duration::days(i)))
        })
        .collect()
}

fn instructions(m: &Medicine) -> String {
    let d = &m.details;
    let mut parts = Vec::new();
    if d.min_interval_minutes > 0 {
        let h = d.min_interval_minutes / 60;
        let min = d.min_interval_minutes % 60;
        parts.push(match (h, min) {
            (0, m) => format!("At least {m} minutes between doses"),
            (h, 0) => format!(
                "At least {} between doses",
                words::count(h as usize, "hour", "hours")
            ),
            (h, m) => format!("At least {h} h {m} min between doses"),
        });
    }
    if d.as_required {
        parts.push("Only when needed (PRN)".into());
    }
    parts.push(format!("Prescribed by {}", d.prescriber));
    if let Some(s) = m.stopped {
        parts.push(format!(
            "Stopped {}",
            words::date(words::uk_date(s.occurred_at_us))
        ));
    }
    parts.join(". ") + "."
}

fn medicine_rows(meds: &[(&String, &Medicine)]) -> Vec<Vec<String>> {
    meds.iter()
        .map(|(_, m)| {
            let d = &m.details;
            vec![
                d.name.clone(),
                format!("{}, {}", d.formulation, d.strength),
                d.dose.clone(),
                d.route.clone(),
                d.frequency.clone(),
                words::short_date(words::uk_date(m.added.occurred_at_us)),
                d.stop_or_review_date
                    .map(words::short_date)
                    .unwrap_or_else(|| "none set".into()),
                instructions(m),
            ]
        })
        .collect()
}

/// Builds the MAR chart of `person` for `period` from `entries` (their events: the
/// period's administrations).
pub fn build(
    state: &State,
    person: &PersonState,
    entries: &[Entry],
    period: Period,
    format: Format,
) -> Doc {
    let easy = format == Format::EasyRead;
    // Large type fits fewer days across a landscape page.
    let days_per_table: i64 = match format {
        Format::LargePrint | Format::EasyRead => 4,
        _ => 7,
    };
    let name = &person.details.name;
    let meds = in_period(person, period);
    let (regular, as_needed): (Vec<_>, Vec<_>) =
        meds.into_iter().partition(|(_, m)| !m.details.as_required);
    let doses = doses(entries, period);
    let mut blocks = Vec::new();
    if easy {
        blocks.push(Block::p("This is your medicines chart."));
        blocks.push(Block::p("It shows your medicines."));
        blocks.push(Block::p("It shows when staff gave them to you."));
        blocks.push(Block::p("Staff sign each time."));
    }
    blocks.push(Block::h(1, if easy { "About you" } else { "The person" }));
    blocks.push(identity(person, false));
    blocks.push(allergies(person, easy));
    blocks.push(Block::facts(vec![
        Fact::new(
            "Period",
            format!(
                "{} to {} ({} days)",
                words::date(period.first()),
                words::date(period.last),
                period.days
            ),
        ),
        Fact::new("Chart revision", person.mar_revision.to_string()),
    ]));
    let header = [
        "Medicine",
        "Form and strength",
        "Dose",
        "Route",
        "When",
        "Started",
        "Stop or review",
        "Instructions",
    ]
    .map(String::from)
    .to_vec();
    blocks.push(Block::h(
        1,
        if easy {
            "Your medicines"
        } else {
            "Regular medicines"
        },
    ));
    if regular.is_empty() {
        blocks.push(Block::p("No regular medicines in this period."));
    } else {
        blocks.push(Block::Table {
            caption: "Regular medicines in this period".into(),
            header: header.clone(),
            rows: medicine_rows(&regular),
            widths: vec![3, 3, 2, 2, 3, 3, 3, 4],
            blank_rows: 0,
        });
    }
    // The grid: a week (or the period's last part) to a table.
    let mut by_day: BTreeMap<(&str, NaiveDate), Vec<&Dose<'_>>> = BTreeMap::new();
    for d in &doses {
        by_day
            .entry((
                d.admin.medicine_id.as_str(),
                words::uk_date(d.entry.occurred_at_us),
            ))
            .or_default()
            .push(d);
    }
    if !regular.is_empty() {
        blocks.push(Block::h(
            1,
            if easy {
                "When you had your medicines"
            } else {
                "Administration record"
            },
        ));
        blocks.push(Block::p(
            "Each dose given or not given: its time, what happened and who signed it. An \
             empty cell is a day with nothing recorded: during an outage, write the time, what \
             happened and your signature in it.",
        ));
        let mut start = period.first();
        while start <= period.last {
            let days: Vec<NaiveDate> = (0..days_per_table)
                .map(|i| start + chrono::Duration::days(i))
                .filter(|d| *d <= period.last)
                .collect();
            let mut header = vec!["Medicine".to_string()];
            header.extend(days.iter().map(|d| words::day(*d)));
            let rows = regular
                .iter()
                .map(|(id, m)| {
                    let mut row = vec![format!(
                        "{} {}, {}, {}",
                        m.details.name, m.details.strength, m.details.dose, m.details.frequency
                    )];
                    row.extend(days.iter().map(|day| {
                        if !active_on(m, *day) {
                            return "Not prescribed".to_string();
                        }
                        by_day
                            .get(&(id.as_str(), *day))
                            .map(|ds| {
                                ds.iter()
                                    .map(|d| cell_line(state, d, false))
                                    .collect::<Vec<_>>()
                                    .join("\n")
                            })
                            .unwrap_or_default()
                    }));
                    row
                })
                .collect();
            let mut widths = vec![3u8];
            widths.extend(days.iter().map(|_| 2u8));
            blocks.push(Block::Table {
                caption: format!(
                    "{} to {}",
                    words::date(days[0]),
                    words::date(days[days.len() - 1])
                ),
                header,
                rows,
                widths,
                blank_rows: BLANK_ROWS,
            });
            start += chrono::Duration::days(days_per_table);
        }
    }
    blocks.push(Block::h(
        1,
        if easy {
            "Medicines only when you need them"
        } else {
            "As-needed (PRN) medicines"
        },
    ));
    if as_needed.is_empty() {
        blocks.push(Block::p("No as-needed medicines in this period."));
    } else {
        blocks.push(Block::Table {
            caption: "As-needed medicines in this period".into(),
            header,
            rows: medicine_rows(&as_needed),
            widths: vec![3, 3, 2, 2, 3, 3, 3, 4],
            blank_rows: 0,
        });
        let ids: Vec<&str> = as_needed.iter().map(|(id, _)| id.as_str()).collect();
        let rows: Vec<Vec<String>> = doses
            .iter()
            .filter(|d| ids.contains(&d.admin.medicine_id.as_str()))
            .map(|d| {
                let m = person.medicines.get(&d.admin.medicine_id);
                vec![
                    m.map(|m| m.details.name.clone())
                        .unwrap_or_else(|| d.admin.medicine_id.clone()),
                    cell_line(state, d, true),
                ]
            })
            .collect();
        blocks.push(Block::Table {
            caption: "As-needed doses in this period".into(),
            header: vec![
                "Medicine".into(),
                "Date, time, dose, reason and signature".into(),
            ],
            rows,
            widths: vec![1, 3],
            blank_rows: BLANK_ROWS_AS_NEEDED,
        });
    }
    Doc::single(
        format!("MAR chart for {name}"),
        format!(
            "Medicines administration record, {} to {}, chart revision {}.",
            words::date(period.first()),
            words::date(period.last),
            person.mar_revision
        ),
        true,
        blocks,
    )
}
