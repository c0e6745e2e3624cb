//! A person's record, section by section, and the forms that add to it.
//!
//! Each GET of a section is one `gate::read` of that section's categories (the same
//! builders as `GET /v1/people/{id}/{section}`), so the access log gets exactly one event,
//! or one refusal, per page view. Each form records through
//! `careledger_api::handlers::record`, the same checks as `POST /v1/events`, and redirects
//! to the section (POST, redirect, GET); a refusal by the care rules is shown next to the
//! field it concerns, with the error summary at the top.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use careledger_api::gate::{self, Granted};
use careledger_api::handlers::{default_purpose, record};
use careledger_api::views::{self, Page};
use careledger_api::wire::{self, EventItem};
use careledger_api::{ApiError, App};
use careledger_care::event::{
    AccessGranted, AccessRevoked, AdministrationRecorded, ChoicesDiscussed, DiaryNote,
    SharingConsentRecorded,
};
use careledger_care::{
    AdministrationOutcome, Author, CapacityBasis, CareEvent, Category, Grantee, InfoOption,
    Purpose, Role,
};
use maud::{html, Markup};

use crate::form::Form;
use crate::layout::{
    self, choices as choice_group, text_area, text_field, time_el, Display, Errors,
};
use crate::pages::{Posted, Viewer};
use crate::{error_page, Ctx};

/// The sections of a record the pages show, in the order of the record's navigation.
const SECTIONS: &[(&str, &str, &str)] = &[
    ("", "About", "About me"),
    ("care-plan", "Care plan", "My care plan"),
    ("daily-notes", "Daily notes", "My daily notes"),
    ("handovers", "Handovers", "Shared with other services"),
    ("medicines", "Medicines", "My medicines"),
    ("who-looked", "Who looked", "Who looked at my record"),
    ("sharing", "Who can see what", "Who can see my record"),
    ("choices", "Information choices", "My information choices"),
];

/// The display a person's recorded communication needs call for, before they choose one.
pub fn display_from_needs(app: &App, user: &str) -> Display {
    use careledger_care::Format;
    let formats = app
        .ledger
        .read(|s| s.person(user).map(|p| p.needed_formats()))
        .ok()
        .flatten()
        .unwrap_or_default();
    if formats.contains(&Format::EasyRead) {
        Display::Easy
    } else if formats.contains(&Format::LargePrint) {
        Display::Large
    } else {
        Display::Standard
    }
}

/// In easy read: short sentences, common words, one idea each (the person chose it, or
/// their recorded needs call for it).
fn easy(ctx: &Ctx) -> bool {
    ctx.display == Display::Easy
}

/// `standard`, or in easy read `easy`.
fn say<'a>(ctx: &Ctx, standard: &'a str, easy_words: &'a str) -> &'a str {
    if easy(ctx) {
        easy_words
    } else {
        standard
    }
}

fn own(ctx: &Ctx, id: &str) -> bool {
    ctx.who.role == Role::Person && ctx.who.id == id
}

/// The record's heading and its section navigation.
fn record_header(
    ctx: &Ctx,
    id: &str,
    current: &str,
    ais_flag: Option<&str>,
    flagged: bool,
) -> Markup {
    let mine = own(ctx, id);
    html! {
        @if flagged {
            div class="banner-flag" role="note" {
                "Emergency access: this look at the record is flagged for review by the registered manager."
            }
        }
        @if let Some(flag) = ais_flag {
            @if ctx.who.role != Role::Person {
                div class="ais" role="note" {
                    strong { "Communication needs: " } (flag)
                }
            }
        }
        nav aria-label="Record" {
            ul class="record-nav" {
                @for (seg, staff_label, own_label) in SECTIONS.iter().filter(|(seg, _, _)| ctx.who.role != Role::EmergencyClinician || *seg == "medicines") {
                    @let href = if seg.is_empty() { format!("/people/{id}") } else { format!("/people/{id}/{seg}") };
                    li {
                        a href=(href) aria-current=[(*seg == current).then_some("page")] {
                            @if mine { (own_label) } @else { (staff_label) }
                        }
                    }
                }
            }
        }
        @if !mine {
            p class="muted" { "Record of " (id) }
        }
    }
}

/// One gate read of `categories` of `id` for the viewer's purpose, building with `build`.
async fn read<T: Send + 'static>(
    app: &App,
    ctx: &Ctx,
    id: &str,
    categories: &'static [Category],
    build: impl FnOnce(&App, &careledger_api::blocking::Deadline, &str) -> Result<(T, u32), ApiError>
        + Send
        + 'static,
) -> Result<Granted<T>, Response> {
    let person = id.to_string();
    gate::read(
        app,
        &ctx.who,
        id,
        categories,
        default_purpose(ctx.who.role),
        move |app, deadline| build(app, deadline, &person),
    )
    .await
    .map_err(|e| error_page(Some(ctx), &e))
}

const PAGE: Page = Page {
    after: None,
    limit: 50,
    version: None,
};

#[derive(serde::Deserialize, Default)]
pub struct Shown {
    /// The event a form just recorded, for the confirmation.
    #[serde(default)]
    recorded: Option<u64>,
    #[serde(default)]
    version: Option<u32>,
}

fn recorded_notice(shown: &Shown, what: &str) -> Markup {
    match shown.recorded {
        Some(seq) => layout::notice(&format!("{what} (event {seq} in the ledger).")),
        None => html! {},
    }
}

/// A section page: one gate read of `categories` of `id` built by `build`, rendered by
/// `render`, titled `titles.0` for the person's own record and `titles.1` for anyone else.
#[allow(clippy::too_many_arguments)]
async fn section<T: Send + 'static>(
    app: &App,
    ctx: &Ctx,
    id: &str,
    categories: &'static [Category],
    titles: (&str, &str),
    errors: &Errors,
    build: impl FnOnce(&App, &careledger_api::blocking::Deadline, &str) -> Result<(T, u32), ApiError>
        + Send
        + 'static,
    render: impl FnOnce(&Granted<T>) -> Markup,
) -> Response {
    let g = match read(app, ctx, id, categories, build).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let title = if own(ctx, id) { titles.0 } else { titles.1 };
    ok(ctx, title, errors, render(&g))
}

use crate::pages::form_page as ok;

mod about;
mod access;
mod choices;
mod documents;
mod email;
mod from_paper;
mod handovers;
mod medicines;
mod notes;
mod sharing;

pub use about::{care_plan, overview, publish_plan};
pub use access::{access_sentence, who_looked};
pub use choices::{choices, place_paper, record_choices};
pub use documents::document;
use documents::print_links;
pub use email::{email_addresses, email_document, record_email_address};
pub use from_paper::{add_from_paper, from_paper};
pub use handovers::{
    handovers, partner_handover, partner_handover_page, record_received, record_sent,
};
pub use medicines::{medicines, record_dose};
pub use notes::{add_note, daily_notes, end_visit, record_task, start_visit};
pub use sharing::{give_access, share_with_partner, sharing, stop_sharing, take_back};

/// The field of a form a refusal concerns, from the API error's field (a JSON path such as
/// `payload.text`) or, for the care rules' refusals, `default`.
pub(super) fn field_of(e: &ApiError, default: &str) -> String {
    e.field
        .as_deref()
        .and_then(|f| f.strip_prefix("payload."))
        .map(|f| f.split('.').next().unwrap_or(f).to_string())
        .unwrap_or_else(|| default.to_string())
}

/// A refusal a person can act on, or an answer that is not about the form at all.
pub(super) fn is_form_error(e: &ApiError) -> bool {
    // 404 too: the care rules answer "has no care plan yet" as not found.
    matches!(e.status.as_u16(), 400 | 404 | 409 | 422)
}

/// `FamilyMember` as "family member".
pub(super) fn split_words(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out
}

pub(super) use crate::pages::random_id;

/// An item as the record shows it: a back-entry shows as the entry it holds (its kind
/// and fields), with where its paper original is.
pub(super) struct Entry<'a> {
    pub kind: &'a str,
    pub payload: &'a serde_json::Value,
    pub paper: Option<&'a str>,
}

pub(super) fn entry_of(item: &EventItem) -> Entry<'_> {
    let p = &item.payload;
    if item.kind == "outage.back_entered" {
        // The entry is a care event by its variant's name (`{"DiaryNote": {...}}`); its
        // kind is the care crate's own.
        let entry = p.get("entry");
        let kind = entry
            .and_then(|e| serde_json::from_value::<CareEvent>(e.clone()).ok())
            .map(|e| e.kind());
        if let (Some(kind), Some((_, inner))) = (
            kind,
            entry
                .and_then(|e| e.as_object())
                .and_then(|o| o.iter().next()),
        ) {
            return Entry {
                kind,
                payload: inner,
                paper: p.get("paper_reference").and_then(|v| v.as_str()),
            };
        }
    }
    Entry {
        kind: &item.kind,
        payload: p,
        paper: None,
    }
}

/// The last `keep` items of a history the sections read forward, oldest first: `page`
/// answers the items after a cursor and the cursor to go on from. The pages show the
/// newest; the scan is bounded by the request's deadline, which `page` checks.
fn last_items<T>(
    keep: usize,
    mut page: impl FnMut(Option<u64>) -> Result<(Vec<T>, Option<u64>), ApiError>,
) -> Result<Vec<T>, ApiError> {
    let mut out = std::collections::VecDeque::with_capacity(keep);
    let mut after = None;
    loop {
        let (items, next) = page(after)?;
        for item in items {
            if out.len() == keep {
                out.pop_front();
            }
            out.push_back(item);
        }
        match next {
            Some(n) => after = Some(n),
            None => return Ok(out.into()),
        }
    }
}

/// A page of a history from the cursor `after`.
fn from(after: Option<u64>, limit: usize) -> Page {
    Page {
        after,
        limit,
        version: None,
    }
}
