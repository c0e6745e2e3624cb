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
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;
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

/// Lays out `json` (the template's `/doc.json`: document, style, stamp) with `qr_svg` as
/// the QR code, dated `at_us` (the checkpoint's time), as tagged PDF/UA-1. `ident` is the
/// document's stable identity (kind and subject), hashed into the PDF's identifier.
pub fn render(json: String, qr_svg: String, at_us: i64, ident: &str) -> Result<Vec<u8>, PdfError> {
    let at = chrono::DateTime::from_timestamp_micros(at_us).unwrap_or_default();
    let today = {
        use chrono::{Datelike, Timelike};
        Datetime::from_ymd_hms(
            at.year(),
            at.month() as u8,
            at.day() as u8,
            at.hour() as u8,
            at.minute() as u8,
            at.second() as u8,
        )
        .ok_or_else(|| PdfError(format!("the checkpoint's time {at} is out of range")))?
    };
    let main = id("/main.typ");
    let sheet = Sheet {
        main,
        data: id("/doc.json"),
        qr: id("/qr.svg"),
        source: Source::new(main, TEMPLATE.to_string()),
        json: Bytes::from_string(json),
        svg: Bytes::from_string(qr_svg),
        today,
    };
    let result = typst::compile::<PagedDocument>(&sheet).output;
    let out = result
        .map_err(|e| PdfError(messages(&e)))
        .and_then(|document| {
            let standards = PdfStandards::new(&[PdfStandard::Ua_1])
                .map_err(|e| PdfError(e.message().to_string()))?;
            let options = PdfOptions {
                ident: Smart::Custom(ident.to_string()),
                creator: Smart::Custom(Some("careledger".to_string())),
                timestamp: Some(Timestamp::new_utc(today)),
                page_ranges: None,
                standards,
                tagged: true,
                pretty: false,
            };
            typst_pdf::pdf(&document, &options).map_err(|e| PdfError(messages(&e)))
        });
    // Each document is laid out once: keep nothing memoised for the next.
    comemo::evict(0);
    out
}
