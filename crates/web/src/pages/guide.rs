//! `/guide`: the provider's Service User Guide, which the guidance asks to be in every
//! home. Anyone signed in reads the current version and prints it in any format; the
//! registered manager and provider admins publish a new version (`guide.published`, the
//! whole text, so any version can be printed again) and see which version is in which
//! home, from the copies recorded as placed (`paper.copy_placed`).

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use careledger_api::handlers::record;
use careledger_api::{ApiError, App};
use careledger_care::event::{GuidePublished, GuideSection};
use careledger_care::state::{Guide, PaperCopy};
use careledger_care::{policy, CareEvent, Document};
use maud::{html, Markup};

use crate::form::Form;
use crate::layout::{self, text_area, text_field, Errors};
use crate::pages::{Posted, Recorded, Viewer};
use crate::{error_page, Ctx};

/// Empty sections the form offers beyond the current ones, for a new version to add.
pub const NEW_SECTIONS_OFFERED: usize = 2;
/// Homes the page lists as needing the current guide; the rest are counted.
pub const HOMES_LISTED_MAX: usize = 100;
/// Sections a guide may have: the care rules' bound on a list in a payload.
pub const SECTIONS_MAX: usize = careledger_care::fields::LIST_ITEMS_MAX;

/// Who publishes the guide (an organisation event) and sees which home has which version.
fn publishes(ctx: &Ctx) -> bool {
    policy::may_record(ctx.who.role, "guide.published")
}

/// Where each home's copy stands against the current version.
#[derive(Default)]
struct Homes {
    current: usize,
    /// People whose copy is of an older version: id, name, the version in the home.
    older: Vec<(String, String, u32)>,
    /// Copies placed without a version (printed outside careledger).
    unversioned: usize,
    /// People in care with no copy who have not declined paper.
    without: Vec<(String, String)>,
    declined: usize,
}

fn homes(app: &App, guide: &Guide) -> Result<Homes, ApiError> {
    Ok(app.ledger.read(|s| {
        let mut h = Homes::default();
        for (id, p) in s.people.iter().filter(|(_, p)| p.care_active()) {
            let name = p.details.name.clone();
            match (p.paper.get(&Document::ServiceUserGuide), &p.paper_declined) {
                (_, Some(_)) => h.declined += 1,
                (None, None) => h.without.push((id.clone(), name)),
                (Some(PaperCopy { version: None, .. }), None) => h.unversioned += 1,
                (
                    Some(PaperCopy {
                        version: Some(v), ..
                    }),
                    None,
                ) if *v >= guide.version => h.current += 1,
                (
                    Some(PaperCopy {
                        version: Some(v), ..
                    }),
                    None,
                ) => h.older.push((id.clone(), name, *v)),
            }
        }
        h
    })?)
}

pub async fn guide(
    State(app): State<App>,
    Viewer(ctx): Viewer,
    Query(shown): Query<Recorded>,
) -> Response {
    render(&app, &ctx, &Errors::default(), None, &shown)
}

/// `GET /guide/document?format=`: the current guide, printed.
#[derive(serde::Deserialize, Default)]
pub struct DocumentQuery {
    #[serde(default)]
    format: Option<String>,
}

pub async fn document(
    State(app): State<App>,
    Viewer(ctx): Viewer,
    Query(q): Query<DocumentQuery>,
) -> Response {
    match careledger_api::documents::send_guide(&app, q.format.as_deref()).await {
        Ok(r) => r,
        Err(e) => error_page(Some(&ctx), &e),
    }
}

fn print_links(app: &App) -> Markup {
    if app.documents.get().is_none() {
        return html! {};
    }
    let href = |format: &str| format!("/guide/document?format={format}");
    html! {
        section class="print" aria-labelledby="print-guide" {
            h2 id="print-guide" { "Print the guide" }
            p { "Each copy says its version and which checkpoint of the ledger it came from, so anyone can check it is still the current one." }
            ul class="print-links" {
                li { a href=(href("pdf")) { "Standard print (PDF)" } }
                li { a href=(href("large-print")) { "Large print (PDF)" } }
                li { a href=(href("easy-read")) { "Easy read (PDF)" } }
                li { a href=(href("text")) { "Plain text, for a screen reader or braille" } }
            }
        }
    }
}

fn homes_section(h: &Homes, guide: &Guide) -> Markup {
    html! {
        section aria-labelledby="in-homes" {
            h2 id="in-homes" { "In people's homes" }
            ul {
                li { (h.current) " with version " (guide.version) ", the current one" }
                li { (h.older.len()) " with an older version" }
                li { (h.unversioned) " with a copy that names no version (printed outside careledger)" }
                li { (h.without.len()) " with no copy recorded" }
                li { (h.declined) " chose not to have paper copies" }
            }
            @if !h.older.is_empty() || !h.without.is_empty() {
                div class="table-wrap" {
                    table {
                        caption { "Homes that need the current guide" }
                        thead { tr { th scope="col" { "Person" } th scope="col" { "In the home" } } }
                        tbody {
                            @for (id, name, v) in h.older.iter().take(HOMES_LISTED_MAX) {
                                tr { td { a href={ "/people/" (id) } { (name) } } td { "Version " (v) } }
                            }
                            @for (id, name) in h.without.iter().take(HOMES_LISTED_MAX.saturating_sub(h.older.len())) {
                                tr { td { a href={ "/people/" (id) } { (name) } } td { "No copy recorded" } }
                            }
                        }
                    }
                }
                @let listed = (h.older.len() + h.without.len()).min(HOMES_LISTED_MAX);
                @if h.older.len() + h.without.len() > listed {
                    p { "The first " (listed) " are listed; " (h.older.len() + h.without.len() - listed) " more homes need it (the findings list every one)." }
                }
                p { "Print the guide, take it to the home, then record the copy on the person's record (Paper copies in the home), or print it with " code { "careledger print guide --person ID --placed-by STAFF" } "." }
            }
        }
    }
}

/// The guide's text as the page shows it: each section's paragraphs.
fn guide_text(guide: &Guide) -> Markup {
    html! {
        @for s in &guide.sections {
            h2 { (s.heading) }
            @for line in s.body.split('\n').map(str::trim).filter(|l| !l.is_empty()) {
                p { (line) }
            }
        }
    }
}

/// The form for the next version: the current sections to edit, and room for more.
fn publish_form(ctx: &Ctx, errors: &Errors, f: Option<&Form>, guide: Option<&Guide>) -> Markup {
    let next = guide.map_or(1, |g| g.version + 1);
    let current: Vec<GuideSection> = guide.map(|g| g.sections.clone()).unwrap_or_default();
    let slots = (current.len() + NEW_SECTIONS_OFFERED).min(SECTIONS_MAX);
    let value = |name: &str, current: &str| -> String {
        match f {
            Some(f) => f.get(name).to_string(),
            None => current.to_string(),
        }
    };
    html! {
        section aria-labelledby="publish" {
            h2 id="publish" { "Publish version " (next) }
            p { "Edit the text, then publish. The new version replaces the current one for everyone; homes with an older copy are listed above until a new copy is recorded. Leave a section's heading and text empty to leave it out." }
            form method="post" action="/guide" novalidate {
                (layout::token(ctx))
                input type="hidden" name="version" value=(next);
                (text_field(errors, "title", "Title", None, &value("title", guide.map_or("Service User Guide", |g| g.title.as_str())), "text", None))
                @for n in 1..=slots {
                    @let s = current.get(n - 1);
                    fieldset class="field" {
                        legend { "Section " (n) }
                        (text_field(errors, &format!("heading-{n}"), "Heading", None, &value(&format!("heading-{n}"), s.map_or("", |s| s.heading.as_str())), "text", None))
                        (text_area(errors, &format!("body-{n}"), "Text", Some("Leave an empty line between paragraphs."), &value(&format!("body-{n}"), s.map_or("", |s| s.body.as_str()))))
                    }
                }
                button type="submit" class="button" { "Publish version " (next) }
            }
        }
    }
}

fn render(app: &App, ctx: &Ctx, errors: &Errors, f: Option<&Form>, shown: &Recorded) -> Response {
    let current = match app.ledger.read(|s| s.current_guide().cloned()) {
        Ok(g) => g,
        Err(e) => return error_page(Some(ctx), &e.into()),
    };
    let homes = match (&current, publishes(ctx)) {
        (Some(g), true) => match homes(app, g) {
            Ok(h) => Some(h),
            Err(e) => return error_page(Some(ctx), &e),
        },
        _ => None,
    };
    let body = html! {
        h1 { "Service User Guide" }
        @if let Some(seq) = shown.recorded { (layout::notice(&format!("Published (event {seq} in the ledger)."))) }
        @match &current {
            None => {
                p { "No Service User Guide has been published in careledger yet." }
            }
            Some(g) => {
                p class="lede" {
                    (g.title) ": version " (g.version) ", published " (layout::when(g.published.occurred_at_us)) "."
                }
                (print_links(app))
                @if let Some(h) = &homes { (homes_section(h, g)) }
                section aria-labelledby="guide-text" {
                    h2 id="guide-text" class="visually-hidden" { "The guide" }
                    (guide_text(g))
                }
            }
        }
        @if publishes(ctx) { (publish_form(ctx, errors, f, current.as_ref())) }
    };
    crate::pages::form_page(ctx, "Service User Guide", errors, body)
}

/// The sections the form holds, in order, each with its number on the form; or each
/// field at fault.
fn sections_of(f: &Form, errors: &mut Errors) -> Vec<(usize, GuideSection)> {
    let mut out = Vec::new();
    for n in 1..=SECTIONS_MAX + NEW_SECTIONS_OFFERED {
        let (h, b) = (format!("heading-{n}"), format!("body-{n}"));
        let (heading, body) = (f.get(&h).trim(), f.get(&b).trim());
        match (heading.is_empty(), body.is_empty()) {
            (true, true) => continue,
            (true, false) => errors.add(&h, format!("Enter a heading for section {n}")),
            (false, true) => errors.add(&b, format!("Enter the text of section {n}")),
            (false, false) => out.push((
                n,
                GuideSection {
                    heading: heading.to_string(),
                    body: body.replace("\r\n", "\n").replace('\r', "\n"),
                },
            )),
        }
    }
    out
}

pub async fn publish(State(app): State<App>, Posted(ctx, f): Posted) -> Response {
    if !publishes(&ctx) {
        return error_page(
            Some(&ctx),
            &ApiError::forbidden(
                "the Service User Guide is published by the registered manager or the provider admin",
            ),
        );
    }
    let mut errors = Errors::default();
    let title = f.get("title").trim().to_string();
    if title.is_empty() {
        errors.add("title", "Enter the guide's title");
    }
    let numbered = sections_of(&f, &mut errors);
    let numbers: Vec<usize> = numbered.iter().map(|(n, _)| *n).collect();
    let sections: Vec<GuideSection> = numbered.into_iter().map(|(_, s)| s).collect();
    if sections.is_empty() && errors.is_empty() {
        errors.add("heading-1", "Write at least one section");
    }
    let version = f.get("version").parse::<u32>().ok();
    if !errors.is_empty() {
        return render(&app, &ctx, &errors, Some(&f), &Recorded::default());
    }
    let Some(version) = version else {
        errors.add(
            "title",
            "The form's version is missing: reload the page and try again",
        );
        return render(&app, &ctx, &errors, Some(&f), &Recorded::default());
    };
    let event = CareEvent::GuidePublished(GuidePublished {
        version,
        title,
        sections,
    });
    match record(&app, &ctx.who, None, None, event, None).await {
        Ok(r) => Redirect::to(&format!("/guide?recorded={}", r.seq)).into_response(),
        Err(e) if matches!(e.status.as_u16(), 400 | 409 | 422) => {
            // A field the rules name (a section's text too long) or, for a version
            // published meanwhile, the title: the message says what happened.
            let field = match e.field.as_deref() {
                Some(p) => field_of(p, &numbers),
                None => "title".to_string(),
            };
            errors.add(&field, e.detail);
            render(&app, &ctx, &errors, Some(&f), &Recorded::default())
        }
        Err(e) => error_page(Some(&ctx), &e),
    }
}

/// The form field a payload path names: `payload.sections.2.body` is the body of the
/// third section sent, whose number on the form is `numbers[2]`.
fn field_of(path: &str, numbers: &[usize]) -> String {
    let parts: Vec<&str> = path.trim_start_matches("payload.").split('.').collect();
    match parts.as_slice() {
        ["sections", i, field] => match i.parse::<usize>().ok().and_then(|i| numbers.get(i)) {
            Some(n) => format!(
                "{}-{n}",
                if *field == "heading" {
                    "heading"
                } else {
                    "body"
                }
            ),
            None => "title".into(),
        },
        _ => "title".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn a_payload_path_names_its_form_field() {
        // Section 2 of the form was left empty, so the second sent is the form's third.
        let numbers = [1, 3, 4];
        assert_eq!(field_of("payload.sections.1.body", &numbers), "body-3");
        assert_eq!(
            field_of("payload.sections.0.heading", &numbers),
            "heading-1"
        );
        assert_eq!(field_of("payload.sections.9.body", &numbers), "title");
        assert_eq!(field_of("payload.version", &numbers), "title");
    }
}
