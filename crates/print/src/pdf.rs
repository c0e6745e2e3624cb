//! PDF through typst, used as a library: one template (`templates/document.typ`), the
//! document as JSON, the QR code as SVG and the embedded fonts make a small in-memory world;
//! nothing is read from disk and no clock is read (the date is the checkpoint's).
//!
//! Output is tagged PDF/UA-1: a title, language en-GB, headings, tables with header cells,
//! alt text on the QR code. typst memoises layout with comemo; [`render`] evicts that cache
//! after each document, so a long-running service does not grow without bound.

use std::sync::LazyLock;

use typst::diag::{FileError, FileResult, Severity, SourceDiagnostic};
use typst::foundations::{Bytes, Datetime, Smart};
use typst::model::Document;
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::{Page, PagedDocument};
use typst_pdf::{PdfOptions, PdfStandard, PdfStandards, Timestamp};

use crate::fonts;

const TEMPLATE: &str = include_str!("../templates/document.typ");

/// What typst needs that does not change between documents: the standard library, the
/// fonts and their book.
struct Fixed {
    library: LazyHash<Library>,
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
}

static FIXED: LazyLock<Fixed> = LazyLock::new(|| {
    let fonts: Vec<Font> = fonts::ALL
        .iter()
        .flat_map(|f| Font::iter(Bytes::new(f.data)))
        .collect();
    Fixed {
        library: LazyHash::new(Library::builder().build()),
        book: LazyHash::new(FontBook::from_fonts(&fonts)),
        fonts,
    }
});

fn id(path: &str) -> FileId {
    RootedPath::new(
        VirtualRoot::Project,
        VirtualPath::new(path).expect("a fixed, valid path"),
    )
    .intern()
}

/// One document's world: the template, its data and its QR code.
struct Sheet {
    main: FileId,
    data: FileId,
    qr: FileId,
    source: Source,
    json: Bytes,
    svg: Bytes,
    today: Datetime,
}

impl World for Sheet {
    fn library(&self) -> &LazyHash<Library> {
        &FIXED.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &FIXED.book
    }

    fn main(&self) -> FileId {
        self.main
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main {
            Ok(self.source.clone())
        } else {
            Err(not_found(id))
        }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.data {
            Ok(self.json.clone())
        } else if id == self.qr {
            Ok(self.svg.clone())
        } else if id == self.main {
            Ok(Bytes::from_string(self.source.text().to_string()))
        } else {
            Err(not_found(id))
        }
    }

    fn font(&self, index: usize) -> Option<Font> {
        FIXED.fonts.get(index).cloned()
    }

    fn today(&self, _offset: Option<typst::foundations::Duration>) -> Option<Datetime> {
        Some(self.today)
    }
}

fn not_found(id: FileId) -> FileError {
    FileError::NotFound(id.vpath().get_without_slash().into())
}

/// Why typst could not make the PDF: its messages, joined.
#[derive(Debug, thiserror::Error)]
#[error("the PDF could not be laid out: {0}")]
pub struct PdfError(pub String);

fn messages(diagnostics: &[SourceDiagnostic]) -> String {
    diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| {
            let hints: Vec<&str> = d.hints.iter().map(|h| h.v.as_str()).collect();
            if hints.is_empty() {
                d.message.to_string()
            } else {
                format!("{} ({})", d.message, hints.join("; "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// typst's date for the checkpoint's time.
fn date_of(at_us: i64) -> Result<Datetime, PdfError> {
    use chrono::{Datelike, Timelike};
    let at = chrono::DateTime::from_timestamp_micros(at_us).unwrap_or_default();
    Datetime::from_ymd_hms(
        at.year(),
        at.month() as u8,
        at.day() as u8,
        at.hour() as u8,
        at.minute() as u8,
        at.second() as u8,
    )
    .ok_or_else(|| PdfError(format!("the checkpoint's time {at} is out of range")))
}

/// Lays `json` out as pages. `main` names the template's file: pages laid out apart and
/// joined must come from different names, so their elements' locations (typst derives
/// them from source positions) differ.
fn compile(
    main: FileId,
    json: String,
    svg: &str,
    today: Datetime,
) -> Result<PagedDocument, PdfError> {
    let sheet = Sheet {
        main,
        data: id("/doc.json"),
        qr: id("/qr.svg"),
        source: Source::new(main, TEMPLATE.to_string()),
        json: Bytes::from_string(json),
        svg: Bytes::from_string(svg.to_string()),
        today,
    };
    typst::compile::<PagedDocument>(&sheet)
        .output
        .map_err(|e| PdfError(messages(&e)))
}

/// Tagged PDF/UA-1 of laid-out pages.
fn export(document: &PagedDocument, ident: &str, today: Datetime) -> Result<Vec<u8>, PdfError> {
    let standards =
        PdfStandards::new(&[PdfStandard::Ua_1]).map_err(|e| PdfError(e.message().to_string()))?;
    let options = PdfOptions {
        ident: Smart::Custom(ident.to_string()),
        creator: Smart::Custom(Some("careledger".to_string())),
        timestamp: Some(Timestamp::new_utc(today)),
        page_ranges: None,
        standards,
        tagged: true,
        pretty: false,
    };
    typst_pdf::pdf(document, &options).map_err(|e| PdfError(messages(&e)))
}

/// Lays out `json` (the template's `/doc.json`: document, style, stamp) with `qr_svg` as
/// the QR code, dated `at_us` (the checkpoint's time), as tagged PDF/UA-1. `ident` is the
/// document's stable identity (kind and subject), hashed into the PDF's identifier.
pub fn render(json: String, qr_svg: String, at_us: i64, ident: &str) -> Result<Vec<u8>, PdfError> {
    let today = date_of(at_us)?;
    let out = compile(id("/main.typ"), json, &qr_svg, today)
        .and_then(|document| export(&document, ident, today));
    // Each document is laid out once: keep nothing memoised for the next beyond what
    // documents being laid out at the same time (other requests) are still using.
    comemo::evict(PART_CACHE_AGE);
    out
}

/// A part's pages as laid out: how many upright, how many landscape (a part lays its
/// upright sections out first: a person's care plan, then their MAR chart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartPages {
    pub upright: usize,
    pub landscape: usize,
}

/// Layouts of the front before its length must agree with the numbers it was given.
const FRONT_TRIES: usize = 4;

/// Where a part's pages (or why it failed) land: empty until laid out, and left empty
/// once another part has failed.
type Slot = std::sync::Mutex<Option<Result<Vec<Page>, PdfError>>>;

/// Memoised layout results survive this many evictions unused: a part being laid out on
/// one thread keeps what it is using while another thread finishes a part and evicts.
const PART_CACHE_AGE: usize = 2;

/// Lays out a document in parts, each alone, and joins their pages behind a front made
/// last: `front` is given the page count of each part and the front's own page count, and
/// returns the front's JSON (an index can then give every part's pages). Parts are laid out
/// on as many threads as the machine has cores; each part's memoised layout is evicted
/// once it is done, so memory holds the finished pages and a few parts in progress, not
/// the layout of the whole document.
pub fn render_parts(
    parts: Vec<String>,
    front: &dyn Fn(&[PartPages], usize) -> String,
    qr_svg: String,
    at_us: i64,
    ident: &str,
) -> Result<Vec<u8>, PdfError> {
    let today = date_of(at_us)?;
    // Named in order before any thread starts, so the names (and the locations derived
    // from them) do not depend on which thread got there first.
    let names: Vec<FileId> = (0..parts.len())
        .map(|n| id(&format!("/part/{n}.typ")))
        .collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, parts.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let slots: Vec<Slot> = parts.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let parts: Vec<std::sync::Mutex<Option<String>>> = parts
        .into_iter()
        .map(|j| std::sync::Mutex::new(Some(j)))
        .collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                use std::sync::atomic::Ordering::Relaxed;
                let n = next.fetch_add(1, Relaxed);
                if n >= parts.len() || failed.load(Relaxed) {
                    break;
                }
                let json = lock(&parts[n]).take().unwrap_or_default();
                let laid = compile(names[n], json, &qr_svg, today).map(|d| d.pages().to_vec());
                if laid.is_err() {
                    failed.store(true, Relaxed);
                }
                *lock(&slots[n]) = Some(laid);
                comemo::evict(PART_CACHE_AGE);
            });
        }
    });
    let out = join(slots, front, &qr_svg, ident, today);
    comemo::evict(0);
    out
}

/// The parts laid out, behind their front, as one PDF.
fn join(
    slots: Vec<Slot>,
    front: &dyn Fn(&[PartPages], usize) -> String,
    qr_svg: &str,
    ident: &str,
    today: Datetime,
) -> Result<Vec<u8>, PdfError> {
    let mut laid = Vec::with_capacity(slots.len());
    let mut left = 0;
    for slot in slots {
        match slot.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(Ok(pages)) => laid.push(pages),
            Some(Err(e)) => return Err(e),
            // A part is left only once another has failed; that failure is the answer.
            None => left += 1,
        }
    }
    if left > 0 {
        return Err(PdfError(format!("{left} parts were not laid out")));
    }
    let counts: Vec<PartPages> = laid
        .iter()
        .map(|pages| {
            let landscape = pages
                .iter()
                .filter(|p| p.frame.width() > p.frame.height())
                .count();
            PartPages {
                upright: pages.len() - landscape,
                landscape,
            }
        })
        .collect();
    // The front's length moves the parts' page numbers; lay it out until it agrees with
    // itself (once, nearly always: an index's length hardly depends on its numbers).
    let mut front_pages = 1;
    let mut front_doc = None;
    for _ in 0..FRONT_TRIES {
        let d = compile(id("/front.typ"), front(&counts, front_pages), qr_svg, today)?;
        let agrees = d.pages().len() == front_pages;
        front_pages = d.pages().len();
        if agrees {
            front_doc = Some(d);
            break;
        }
    }
    let front_doc = front_doc.ok_or_else(|| {
        PdfError(format!(
            "the front's length did not settle in {FRONT_TRIES} layouts, so its page numbers would be wrong"
        ))
    })?;
    let info = front_doc.info().clone();
    let pages = front_doc
        .pages()
        .iter()
        .cloned()
        .chain(laid.into_iter().flatten())
        .collect();
    drop(front_doc);
    export(&PagedDocument::new(pages, info), ident, today)
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
