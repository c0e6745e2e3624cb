//! careledger's documents: the care plan, the MAR chart, diary records and the contingency
//! pack that the guidance asks to be kept in the home, as tagged PDF (standard print, large
//! print, easy read) or plain text for screen readers and braille transcription.
//!
//! Pure: the ledger's read models ([`careledger_care::State`], the person's events as
//! [`Entry`]s) and the checkpoint the document is printed from go in, bytes come out. No IO,
//! no clock, no random ids: the same state and checkpoint give the same bytes.
//!
//! - [`doc`]: what a document says (blocks), whatever it is printed as.
//! - [`care_plan`], [`mar`], [`diary`], [`pack`]: each document built from the read models.
//! - [`pdf`] (typst) and [`text`]: the renderers. [`stamp`]: the checkpoint and reference
//!   every page carries. [`fonts`]: the embedded fonts.
#![forbid(unsafe_code)]

pub mod care_plan;
pub mod check;
pub mod diary;
pub mod doc;
pub mod fonts;
pub mod guide;
pub mod mar;
pub mod pack;
pub mod pdf;
pub mod reports;
pub mod stamp;
pub mod text;
mod words;

use careledger_care::event::CareEvent;
use careledger_care::state::PersonState;
use careledger_care::State;
use chrono::NaiveDate;

pub use stamp::{Checkpoint, Reference};

/// The documents careledger prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    CarePlan,
    Mar,
    Diary,
    /// The provider's Service User Guide (current version), for every home.
    Guide,
    /// The current care plan and MAR chart of each person, with an index.
    Contingency,
    /// For the council: choices, paper copies, information needs met, and every finding.
    Monitoring,
    /// For the council: every council request's times, warnings and breaches.
    ResponseTimes,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::CarePlan,
        Kind::Mar,
        Kind::Guide,
        Kind::Diary,
        Kind::Contingency,
        Kind::Monitoring,
        Kind::ResponseTimes,
    ];

    /// The name in commands, references and file names: `care-plan`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::CarePlan => "care-plan",
            Kind::Mar => "mar",
            Kind::Diary => "diary",
            Kind::Guide => "guide",
            Kind::Contingency => "contingency",
            Kind::Monitoring => "monitoring",
            Kind::ResponseTimes => "response-times",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The document as the ledger's `paper.copy_placed` names it, if it is one the home
    /// keeps.
    pub fn document(self) -> Option<careledger_care::Document> {
        match self {
            Kind::CarePlan => Some(careledger_care::Document::CarePlan),
            Kind::Mar => Some(careledger_care::Document::Mar),
            Kind::Diary => Some(careledger_care::Document::DiaryRecords),
            Kind::Guide => Some(careledger_care::Document::ServiceUserGuide),
            Kind::Contingency | Kind::Monitoring | Kind::ResponseTimes => None,
        }
    }

    /// A provider-wide report for the council (no subject, not about one person).
    pub fn is_report(self) -> bool {
        matches!(self, Kind::Monitoring | Kind::ResponseTimes)
    }
}

/// How a document is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Tagged PDF at 11 point.
    Pdf,
    /// Tagged PDF following RNIB's clear print guidance: every text at least 16 point,
    /// sans serif, left aligned, no italics or blocks of capitals, black on white.
    LargePrint,
    /// Tagged PDF in easy read: short sentences, one idea per line, plain headings, large
    /// type.
    EasyRead,
    /// UTF-8 plain text at most 80 columns wide, tables as labelled lines: for screen
    /// readers, text to speech and braille transcription.
    Text,
}

impl Format {
    pub const ALL: [Format; 4] = [
        Format::Pdf,
        Format::LargePrint,
        Format::EasyRead,
        Format::Text,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::LargePrint => "large-print",
            Format::EasyRead => "easy-read",
            Format::Text => "text",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Text => "txt",
            _ => "pdf",
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; charset=utf-8",
            _ => "application/pdf",
        }
    }

    /// The format a person's recorded information needs (Accessible Information Standard)
    /// ask for: the first of large print, easy read, or a text format (braille, audio and
    /// electronic plain text are all made from the plain text); otherwise standard print.
    pub fn for_person(person: &PersonState) -> Format {
        use careledger_care::Format as Need;
        for need in person.needed_formats() {
            match need {
                Need::LargePrint => return Format::LargePrint,
                Need::EasyRead => return Format::EasyRead,
                Need::Braille | Need::Audio | Need::ElectronicPlainText => return Format::Text,
                Need::StandardPrint => {}
            }
        }
        Format::Pdf
    }

    /// The format as the ledger records it in `paper.copy_placed`.
    pub fn recorded(self) -> careledger_care::Format {
        match self {
            Format::Pdf => careledger_care::Format::StandardPrint,
            Format::LargePrint => careledger_care::Format::LargePrint,
            Format::EasyRead => careledger_care::Format::EasyRead,
            Format::Text => careledger_care::Format::ElectronicPlainText,
        }
    }
}

/// One event about a person, as the documents read it: its envelope's facts and its
/// payload (`None` where the payload cannot be read: erased).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub seq: u64,
    pub occurred_at_us: i64,
    pub recorded_at_us: i64,
    pub actor: String,
    pub event: Option<CareEvent>,
}

/// The days a MAR chart or a diary covers, in UK dates: `days` days ending on `last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub last: NaiveDate,
    pub days: u32,
}

/// Days a MAR chart or a diary covers unless asked otherwise: four weeks, as a paper MAR.
pub const PERIOD_DAYS_DEFAULT: u32 = 28;
/// The longest period one document covers: a quarter of a year.
pub const PERIOD_DAYS_MAX: u32 = 92;
/// People in one contingency pack.
pub const PACK_PEOPLE_MAX: usize = 2000;

impl Period {
    pub fn first(&self) -> NaiveDate {
        self.last - chrono::Duration::days(i64::from(self.days.max(1)) - 1)
    }

    /// The period of `days` days ending on the checkpoint's UK date.
    pub fn ending_at(checkpoint: &Checkpoint, days: u32) -> Period {
        Period {
            last: careledger_care::uk_time::local(checkpoint.at_us).date(),
            days,
        }
    }

    pub fn contains_us(&self, us: i64) -> bool {
        let day = careledger_care::uk_time::local(us).date();
        day >= self.first() && day <= self.last
    }
}

/// What a document is about and covers.
#[derive(Debug, Clone)]
pub enum Request<'a> {
    /// A document about one person: their events (`entries`, oldest first) must hold what
    /// it covers (the plan's publication event; the period's administrations and notes).
    Person {
        kind: Kind,
        id: &'a str,
        entries: &'a [Entry],
        period: Period,
    },
    /// A provider-wide report for the council ([`Kind::is_report`]), from the state alone.
    Report { kind: Kind },
    /// The provider's current Service User Guide, from the state alone.
    Guide,
    /// The contingency pack: each person's id and events, in the order printed.
    Pack {
        people: &'a [(String, Vec<Entry>)],
        period: Period,
        /// Which volume of a larger pack these people are ([`pack::Volume::split`]);
        /// `None`: the whole pack.
        volume: Option<pack::Volume>,
    },
}

/// A printed document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Printed {
    pub bytes: Vec<u8>,
    pub format: Format,
    pub title: String,
    /// The reference every page carries.
    pub reference: Reference,
    /// BLAKE3 of `bytes`, in hex: what `paper.copy_placed` records of the copy in the home.
    pub digest: String,
}

/// Why a document could not be printed.
#[derive(Debug, thiserror::Error)]
pub enum PrintError {
    #[error("there is no person {0:?}")]
    NoPerson(String),
    #[error("{0} has no published care plan yet")]
    NoPlan(String),
    #[error("the period is {0} days; at most {PERIOD_DAYS_MAX}")]
    PeriodTooLong(u32),
    #[error("the pack names {0} people; at most {PACK_PEOPLE_MAX}")]
    PackTooLarge(usize),
    #[error("no Service User Guide has been published yet (record guide.published first)")]
    NoGuide,
    #[error("the pack names nobody")]
    PackEmpty,
    #[error("{0} is a document of its own kind, not about one person")]
    NotAboutAPerson(&'static str),
    #[error("{0} is not a report for the council; those are monitoring and response-times")]
    NotAReport(&'static str),
    #[error(transparent)]
    Pdf(#[from] pdf::PdfError),
}

/// Prints `request` from `state` as it stood at `checkpoint`, in `format`.
pub fn print(
    state: &State,
    request: &Request<'_>,
    format: Format,
    checkpoint: &Checkpoint,
) -> Result<Printed, PrintError> {
    let (built, reference) = build(state, request, format, checkpoint)?;
    Ok(render(&built, reference, format, checkpoint)?)
}

/// A document built, before it is rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Built {
    /// A document laid out as a whole.
    Doc(doc::Doc),
    /// The contingency pack, laid out a part at a time.
    Pack(pack::Pack),
}

impl Built {
    /// What the document says, as one document.
    pub fn doc(&self) -> doc::Doc {
        match self {
            Built::Doc(d) => d.clone(),
            Built::Pack(p) => p.doc(),
        }
    }
}

/// The document `request` asks for, and its reference.
pub fn build(
    state: &State,
    request: &Request<'_>,
    format: Format,
    checkpoint: &Checkpoint,
) -> Result<(Built, Reference), PrintError> {
    let person_of = |id: &str| {
        state
            .person(id)
            .ok_or_else(|| PrintError::NoPerson(id.to_string()))
    };
    let (doc, kind, version, subject) = match request {
        Request::Person {
            kind,
            id,
            entries,
            period,
        } => {
            let person = person_of(id)?;
            check_period(period)?;
            let (doc, version) = match kind {
                Kind::CarePlan => {
                    let doc = care_plan::build(state, person, entries, format)?;
                    (doc, person.plan.as_ref().map(|p| p.version))
                }
                Kind::Mar => (
                    mar::build(state, person, entries, *period, format),
                    Some(person.mar_revision),
                ),
                Kind::Diary => (diary::build(state, person, entries, *period, format), None),
                Kind::Guide | Kind::Contingency | Kind::Monitoring | Kind::ResponseTimes => {
                    return Err(PrintError::NotAboutAPerson(kind.name()))
                }
            };
            (Built::Doc(doc), *kind, version, Some(id.to_string()))
        }
        Request::Report { kind } => {
            let doc = match kind {
                Kind::Monitoring => reports::monitoring(state, checkpoint.at_us),
                Kind::ResponseTimes => reports::response_times(state, checkpoint.at_us),
                other => return Err(PrintError::NotAReport(other.name())),
            };
            (Built::Doc(doc), *kind, None, None)
        }
        Request::Guide => {
            let guide = state.current_guide().ok_or(PrintError::NoGuide)?;
            let doc = guide::build(state, guide, format);
            (Built::Doc(doc), Kind::Guide, Some(guide.version), None)
        }
        Request::Pack {
            people,
            period,
            volume,
        } => {
            check_period(period)?;
            if people.is_empty() {
                return Err(PrintError::PackEmpty);
            }
            if people.len() > PACK_PEOPLE_MAX {
                return Err(PrintError::PackTooLarge(people.len()));
            }
            let pack = pack::build(state, people, *period, checkpoint, format, *volume)?;
            (Built::Pack(pack), Kind::Contingency, None, None)
        }
    };
    let reference = Reference {
        kind,
        version,
        size: checkpoint.size,
        root_start: checkpoint.root_start(),
        subject,
    };
    Ok((doc, reference))
}

fn check_period(period: &Period) -> Result<(), PrintError> {
    if period.days > PERIOD_DAYS_MAX {
        return Err(PrintError::PeriodTooLong(period.days));
    }
    Ok(())
}

/// The line every page carries about the checkpoint.
pub fn checkpoint_line(checkpoint: &Checkpoint) -> String {
    format!(
        "Printed from {}, checkpoint of {} events (root {}), as it stood at {}.",
        checkpoint.origin,
        checkpoint.size,
        checkpoint.root_start(),
        words::when(checkpoint.at_us)
    )
}

/// Renders a built document.
pub fn render(
    built: &Built,
    reference: Reference,
    format: Format,
    checkpoint: &Checkpoint,
) -> Result<Printed, pdf::PdfError> {
    let title = match built {
        Built::Doc(d) => d.title.clone(),
        Built::Pack(p) => p.title.clone(),
    };
    let bytes = match (format, built) {
        (Format::Text, _) => text::render(&built.doc(), &reference, checkpoint).into_bytes(),
        (_, Built::Doc(doc)) => pdf::render(
            page_json(doc, None, None, format, &reference, checkpoint),
            stamp::qr_svg(&reference),
            checkpoint.at_us,
            &ident(&reference),
        )?,
        (_, Built::Pack(pack)) => {
            let parts = (1..=pack.people.len())
                .map(|n| {
                    let (doc, label) = pack.part(n);
                    page_json(&doc, Some(&label), None, format, &reference, checkpoint)
                })
                .collect();
            // Each person's part: the care plan's pages (upright), then the chart's
            // (landscape).
            let front = |counts: &[pdf::PartPages], front_pages: usize| {
                let mut at = front_pages;
                let mut next = |count: usize| {
                    let p = pack::Pages {
                        first: at + 1,
                        last: at + count.max(1),
                    };
                    at += count;
                    p
                };
                let pages: Vec<(pack::Pages, pack::Pages)> = counts
                    .iter()
                    .map(|c| {
                        let plan = next(c.upright);
                        (plan, next(c.landscape))
                    })
                    .collect();
                // The front's footer counts the whole pack's pages.
                let total = front_pages
                    + counts
                        .iter()
                        .map(|c| c.upright + c.landscape)
                        .sum::<usize>();
                page_json(
                    &pack.front(&pages),
                    None,
                    Some(total),
                    format,
                    &reference,
                    checkpoint,
                )
            };
            pdf::render_parts(
                parts,
                &front,
                stamp::qr_svg(&reference),
                checkpoint.at_us,
                &ident(&reference),
            )?
        }
    };
    let digest = blake3::hash(&bytes).to_hex().to_string();
    Ok(Printed {
        bytes,
        format,
        title,
        reference,
        digest,
    })
}

/// The PDF's stable identity: the document's kind and subject.
fn ident(reference: &Reference) -> String {
    format!(
        "{}:{}",
        reference.kind.name(),
        reference.subject.as_deref().unwrap_or("-")
    )
}

/// What the template reads: the document, its style, the stamp every page carries and,
/// for a part of a larger document, which part it is (said in each page's footer); `pages`:
/// the page count the footer gives ("Page 1 of 3012"), where it is not the document's own
/// (the front of a document laid out in parts).
fn page_json(
    doc: &doc::Doc,
    part: Option<&str>,
    pages: Option<usize>,
    format: Format,
    reference: &Reference,
    checkpoint: &Checkpoint,
) -> String {
    serde_json::json!({
        "doc": doc,
        "part": part,
        "pages": pages,
        "style": Style::of(format),
        "stamp": {
            "origin": checkpoint.origin,
            "line": checkpoint_line(checkpoint),
            "reference": reference.to_string(),
            "qr_alt": format!(
                "QR code of this copy's reference, {reference}, to check it is current"
            ),
        },
    })
    .to_string()
}

/// Sizes (points, millimetres) and spacing the template reads.
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct Style {
    size: f32,
    small: f32,
    h1: f32,
    h2: f32,
    h3: f32,
    leading: f32,
    spacing: f32,
    footer: f32,
    qr: f32,
    blank: f32,
}

impl Style {
    fn of(format: Format) -> Style {
        match format {
            Format::LargePrint | Format::EasyRead => Style {
                size: 16.0,
                // RNIB: nothing smaller than 16 point, the footer included.
                small: 16.0,
                h1: 26.0,
                h2: 22.0,
                h3: 18.0,
                leading: 0.75,
                spacing: 1.3,
                footer: 58.0,
                qr: 26.0,
                blank: 14.0,
            },
            _ => Style {
                size: 11.0,
                small: 8.5,
                h1: 20.0,
                h2: 15.0,
                h3: 12.5,
                leading: 0.6,
                spacing: 1.0,
                footer: 32.0,
                qr: 18.0,
                blank: 10.0,
            },
        }
    }
}
