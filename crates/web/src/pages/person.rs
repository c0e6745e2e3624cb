//! A person's record, section by section, and the forms that add to it.
//!
//! Each GET of a section is one `gate::read` of that section's categories (the same
//! builders as `GET /v1/people/{id}/{section}`), so the access log gets exactly one event,
//! or one refusal, per page view. Each form records through
//! `careledger_api::handlers::record`, the same checks as `POST /v1/events`, and redirects
//! to the section (POST, redirect, GET); a refusal by the care rules is shown next to the
//! field it concerns, with the error summary at the top.

use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use careledger_api::gate::{self, Granted};
use careledger_api::handlers::{default_purpose, record};
use careledger_api::views::{self, Page};
use careledger_api::wire::{self, EventItem};
use careledger_api::{ApiError, App};
use careledger_care::event::{
    AccessGranted, AccessRevoked, AdministrationRecorded, ChoicesDiscussed, DiaryNote,
};
use careledger_care::{
    AdministrationOutcome, Author, CapacityBasis, CareEvent, Category, Grantee, InfoOption,
    Purpose, Role,
};
use maud::{html, Markup};

use crate::layout::{
    self, choices as choice_group, page, text_area, text_field, time_el, Display, Errors,
};
use crate::{error_page, html as respond, Ctx, Web};

/// The sections of a record the pages show, in the order of the record's navigation.
const SECTIONS: &[(&str, &str, &str)] = &[
    ("", "About", "About me"),
    ("care-plan", "Care plan", "My care plan"),
    ("daily-notes", "Daily notes", "My daily notes"),
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
                @for (seg, staff_label, own_label) in SECTIONS {
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

async fn start(app: &App, web: &Web, headers: &HeaderMap, uri: &Uri) -> Result<Ctx, Response> {
    super::viewer(app, web, headers, uri.path()).await
}

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

fn ok(ctx: &Ctx, title: &str, errors: &Errors, body: Markup) -> Response {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    respond(status, page(Some(ctx), title, errors, body))
}

// ------------------------------------------------------------------ about (details)

pub async fn overview(
    State(app): State<App>,
    Extension(web): Extension<Arc<Web>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ctx = match start(&app, &web, &headers, &uri).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let g = match read(&app, &ctx, &id, &[Category::PersonalDetails], |a, d, p| {
        views::details(a, d, p, &PAGE)
    })
    .await
    {
        Ok(g) => g,
        Err(r) => return r,
    };
    let d = &g.data;
    let mine = own(&ctx, &id);
    let body = html! {
        (record_header(&ctx, &id, "", g.ais_flag.as_deref(), g.flagged))
        h1 { @if mine { "My record" } @else { (d.name) } }
        @if mine {
            p class="lede" { "This is your care record. You can see all of it, add your own notes, and choose who else can see it. It is free." }
        }
        dl class="summary" {
            dt { "Name" } dd { (d.name) }
            dt { "Date of birth" } dd { (layout::date(d.date_of_birth.0)) }
            dt { "NHS number" } dd { (d.nhs_number.as_deref().unwrap_or("Not recorded")) }
            dt { "Address" } dd { (d.address) }
            dt { "GP practice" } dd { (d.gp_practice) }
            dt { "Care" } dd {
                @match (&d.care_started, &d.care_ended) {
                    (_, Some(ended)) => { "Ended " (time_el(&ended.occurred_at)) }
                    (Some(started), None) => { "Receiving care since " (time_el(&started.occurred_at)) }
                    (None, None) => { "Not started" }
                }
            }
        }
        h2 { "Representatives" }
        @if d.representatives.is_empty() {
            p { "No representatives are recorded." }
        } @else {
            ul {
                @for r in &d.representatives {
                    li { (r.name) " (" (relationship(&r.relationship.0)) ")" }
                }
            }
        }
    };
    ok(
        &ctx,
        if mine { "My record" } else { "About" },
        &Errors::default(),
        body,
    )
}

fn relationship(r: &careledger_care::Relationship) -> String {
    let json = serde_json::to_value(r).ok();
    let name = json
        .as_ref()
        .and_then(|v| v.as_str())
        .unwrap_or("representative");
    match name {
        "LpaHealthWelfare" => "lasting power of attorney for health and welfare".into(),
        "CourtDeputy" => "court-appointed deputy".into(),
        other => split_words(other),
    }
}

/// `FamilyMember` as "family member".
fn split_words(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out
}

// ------------------------------------------------------------------ care plan

pub async fn care_plan(
    State(app): State<App>,
    Extension(web): Extension<Arc<Web>>,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ctx = match start(&app, &web, &headers, &uri).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let wanted = Page {
        version: shown.version.filter(|v| *v > 0),
        ..PAGE
    };
    let g = match read(&app, &ctx, &id, &[Category::CarePlan], move |a, d, p| {
        views::care_plan(a, d, p, &wanted)
    })
    .await
    {
        Ok(g) => g,
        Err(r) => return r,
    };
    let plan = &g.data;
    let mine = own(&ctx, &id);
    let easy = ctx.display == Display::Easy;
    let earlier: Option<careledger_care::event::PlanSections> = plan
        .version
        .as_ref()
        .and_then(|v| v.payload.get("sections").cloned())
        .and_then(|s| serde_json::from_value(s).ok());
    let body = html! {
        (record_header(&ctx, &id, "care-plan", g.ais_flag.as_deref(), g.flagged))
        h1 { @if mine { "My care plan" } @else { "Care plan" } }
        @match (&earlier, &plan.current) {
            (Some(sections), _) => {
                p class="lede" { "An earlier version: " (shown.version.unwrap_or(0)) ". " a href={ "/people/" (id) "/care-plan" } { "See the current version" } }
                (plan_sections(sections, easy))
            }
            (None, Some(current)) => {
                p class="lede" {
                    "Version " (current.version) ", published " (time_el(&current.published.occurred_at)) "."
                    " Next review by " (layout::date(current.next_review_date.0)) "."
                }
                (plan_sections(&current.sections.0, easy))
            }
            (None, None) => { p { "No care plan has been published yet." } }
        }
        @if plan.versions.len() > 1 {
            h2 { @if easy { "Older plans" } @else { "Earlier versions" } }
            ul {
                @for v in plan.versions.iter().rev() {
                    li { a href={ "/people/" (id) "/care-plan?version=" (v.version) } { "Version " (v.version) } ", published " (time_el(&v.published.occurred_at)) }
                }
            }
        }
    };
    ok(
        &ctx,
        if mine { "My care plan" } else { "Care plan" },
        &Errors::default(),
        body,
    )
}

fn plan_sections(s: &careledger_care::event::PlanSections, easy: bool) -> Markup {
    let list = |items: &Vec<String>| {
        html! {
            @if items.is_empty() { p { "None recorded." } } @else { ul { @for i in items { li { (i) } } } }
        }
    };
    html! {
        h2 { "About me" }
        p { (s.about_me) }
        h2 { @if easy { "What I need help with" } @else { "Needs" } }
        (list(&s.needs))
        h2 { @if easy { "What I want to do" } @else { "Goals and outcomes" } }
        (list(&s.goals))
        h2 { @if easy { "What my carers will do" } @else { "Actions and support" } }
        (list(&s.actions))
        h2 { @if easy { "Things to be careful about" } @else { "Risks" } }
        (list(&s.risks))
        h2 { @if easy { "If things go wrong" } @else { "Contingency plan" } }
        p { (s.contingency_plan) }
        h2 { @if easy { "Who agreed this plan" } @else { "Agreed with" } }
        (list(&s.agreed_with))
    }
}

// ------------------------------------------------------------------ daily notes

/// Who may add a diary note to `id`'s record, and as whom.
fn note_author(ctx: &Ctx, id: &str) -> Option<Author> {
    match ctx.who.role {
        Role::CareWorker | Role::Coordinator | Role::RegisteredManager => Some(Author::Staff),
        Role::Person if ctx.who.id == id => Some(Author::Person),
        Role::Representative => Some(Author::Representative),
        _ => None,
    }
}

fn event_line(item: &EventItem) -> Markup {
    let p = &item.payload;
    let s = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let inner = if item.kind == "outage.back_entered" {
        p.get("entry").cloned().unwrap_or_default()
    } else {
        p.clone()
    };
    let _ = inner;
    html! {
        @match item.kind.as_str() {
            "diary.note" => {
                @let by = match s("author").as_str() { "Person" => "Written by the person", "Representative" => "Written by a representative", _ => "Written by staff" };
                p { (s("text")) }
                p class="muted" { (by) " (" (item.actor) ")" }
            }
            "visit.started" => { p { "Visit started" } }
            "visit.completed" => { p { "Visit completed" } }
            "task.recorded" => { p { "Task: " (s("task")) " – " (split_words(&s("outcome"))) } }
            "outage.back_entered" => { p { "Entered after an outage from paper: " (s("paper_reference")) } }
            other => { p { (other) } }
        }
    }
}

fn notes_markup(
    ctx: &Ctx,
    id: &str,
    g: &Granted<wire::History>,
    errors: &Errors,
    text: &str,
    shown: &Shown,
) -> Markup {
    let mine = own(ctx, id);
    html! {
        (record_header(ctx, id, "daily-notes", g.ais_flag.as_deref(), g.flagged))
        h1 { @if mine { "My daily notes" } @else { "Daily notes" } }
        (recorded_notice(shown, "Your note was added"))
        @if note_author(ctx, id).is_some() {
            form method="post" novalidate {
                (layout::token(ctx))
                (text_area(errors, "text", if mine { "Add your own note" } else { "Add a diary note" },
                    Some(if mine { "Your note is added to your record with your name." } else { "What happened, what the person said, anything to follow up." }), text))
                button type="submit" class="button" { "Add note" }
            }
        }
        h2 { "Latest first" }
        @if g.data.items.is_empty() {
            p { "Nothing recorded yet." }
        } @else {
            ol class="timeline" reversed {
                @for item in g.data.items.iter().rev() {
                    li {
                        h3 { (time_el(&item.occurred_at)) }
                        (event_line(item))
                    }
                }
            }
        }
    }
}

pub async fn daily_notes(
    State(app): State<App>,
    Extension(web): Extension<Arc<Web>>,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ctx = match start(&app, &web, &headers, &uri).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    render_notes(&app, &ctx, &id, &Errors::default(), "", &shown).await
}

async fn render_notes(
    app: &App,
    ctx: &Ctx,
    id: &str,
    errors: &Errors,
    text: &str,
    shown: &Shown,
) -> Response {
    let page_of = Page { limit: 100, ..PAGE };
    // The latest notes: the history is read oldest first, so read the last page.
    let g = match read(app, ctx, id, &[Category::DailyNotes], move |a, d, p| {
        latest_notes(a, d, p, page_of)
    })
    .await
    {
        Ok(g) => g,
        Err(r) => return r,
    };
    let mine = own(ctx, id);
    ok(
        ctx,
        if mine {
            "My daily notes"
        } else {
            "Daily notes"
        },
        errors,
        notes_markup(ctx, id, &g, errors, text, shown),
    )
}

/// The last `page.limit` daily-notes events (the section reads forward from a cursor).
fn latest_notes(
    app: &App,
    deadline: &careledger_api::blocking::Deadline,
    id: &str,
    page: Page,
) -> Result<(wire::History, u32), ApiError> {
    let mut keep: std::collections::VecDeque<EventItem> = std::collections::VecDeque::new();
    let mut after = None;
    loop {
        let (h, _) = views::daily_notes(
            app,
            deadline,
            id,
            &Page {
                after,
                limit: 500,
                version: None,
            },
        )?;
        for item in h.items {
            if keep.len() == page.limit {
                keep.pop_front();
            }
            keep.push_back(item);
        }
        match h.next_after {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let n = keep.len() as u32;
    Ok((
        wire::History {
            items: keep.into(),
            next_after: None,
        },
        n,
    ))
}

/// The field of a form a refusal concerns, from the API error's field (a JSON path such as
/// `payload.text`) or, for the care rules' refusals, `default`.
fn field_of(e: &ApiError, default: &str) -> String {
    e.field
        .as_deref()
        .and_then(|f| f.strip_prefix("payload."))
        .map(|f| f.split('.').next().unwrap_or(f).to_string())
        .unwrap_or_else(|| default.to_string())
}

/// A refusal a person can act on, or an answer that is not about the form at all.
fn is_form_error(e: &ApiError) -> bool {
    matches!(e.status.as_u16(), 400 | 409 | 422)
}

pub async fn add_note(
    State(app): State<App>,
    Extension(web): Extension<Arc<Web>>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let (ctx, form) = match super::posted(&app, &web, req).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let text = form.get("text").to_string();
    let mut errors = Errors::default();
    let Some(author) = note_author(&ctx, &id) else {
        return error_page(
            Some(&ctx),
            &ApiError::forbidden(format!(
                "{} may not add diary notes",
                ctx.who.role.with_article()
            )),
        );
    };
    if text.is_empty() {
        errors.add("text", "Enter the note");
    }
    if errors.is_empty() {
        let event = CareEvent::DiaryNote(DiaryNote {
            author,
            text: text.clone(),
        });
        match record(&app, &ctx.who, Some(&id), None, event, None).await {
            Ok(r) => {
                return Redirect::to(&format!("/people/{id}/daily-notes?recorded={}", r.seq))
                    .into_response()
            }
            Err(e) if is_form_error(&e) => errors.add(&field_of(&e, "text"), e.detail),
            Err(e) => return error_page(Some(&ctx), &e),
        }
    }
    render_notes(&app, &ctx, &id, &errors, &text, &Shown::default()).await
}

// ------------------------------------------------------------------ medicines (the MAR)

/// What a care worker entered for one medicine, to show again with its errors.
#[derive(Default)]
struct DoseForm {
    medicine: String,
    outcome: String,
    dose: String,
    reason: String,
}

fn medicines_markup(
    ctx: &Ctx,
    id: &str,
    g: &Granted<wire::Medicines>,
    errors: &Errors,
    entered: &DoseForm,
    shown: &Shown,
) -> Markup {
    let m = &g.data;
    let mine = own(ctx, id);
    let may_give = matches!(
        ctx.who.role,
        Role::CareWorker | Role::Coordinator | Role::RegisteredManager
    );
    html! {
        (record_header(ctx, id, "medicines", g.ais_flag.as_deref(), g.flagged))
        h1 { @if mine { "My medicines" } @else { "Medicines (MAR)" } }
        (recorded_notice(shown, "The dose was recorded"))
        dl class="summary" {
            dt { "Name" } dd { (m.name) }
            dt { "Date of birth" } dd { (layout::date(m.date_of_birth.0)) }
            dt { "NHS number" } dd { (m.nhs_number.as_deref().unwrap_or("Not recorded")) }
            dt { "GP practice" } dd { (m.gp_practice) }
        }
        div class="ais" role="note" {
            strong { "Allergies: " }
            @if m.allergies.is_empty() { "None known" } @else { (m.allergies.join(", ")) }
        }
        @let active: Vec<&wire::Medicine> = m.medicines.iter().filter(|x| x.stopped.is_none()).collect();
        h2 { "Current medicines" }
        @if active.is_empty() { p { "No current medicines." } }
        @for med in &active {
            @let d = &med.details.0;
            @let mid = &med.medicine_id;
            section class="medicine" aria-labelledby={ "med-" (mid) } {
                h3 id={ "med-" (mid) } { (d.name) " " (d.strength) " " (d.formulation) }
                dl class="summary" {
                    dt { "Dose" } dd { (d.dose) }
                    dt { "Route" } dd { (d.route) }
                    dt { "When" } dd { (d.frequency) @if d.as_required { " (as needed)" } }
                    dt { "At least" } dd { (d.min_interval_minutes / 60) " hours " (d.min_interval_minutes % 60) " minutes between doses" }
                    dt { "Last given" } dd { @if let Some(l) = &med.last_given { (time_el(&l.occurred_at)) } @else { "Not yet given" } }
                    @if let Some(r) = d.stop_or_review_date { dt { "Review or stop" } dd { (layout::date(r)) } }
                }
                @if may_give {
                    @let this = entered.medicine == *mid;
                    @let none = Errors::default();
                    @let errs = if this { errors } else { &none };
                    @let outcome_id = format!("outcome-{mid}");
                    @let dose_id = format!("dose-{mid}");
                    @let reason_id = format!("reason-{mid}");
                    form method="post" action={ "/people/" (id) "/medicines/" (mid) } novalidate {
                        (layout::token(ctx))
                        (choice_group(errs, &outcome_id, "Record this dose", "radio",
                            &[("Given", "Given"), ("Refused", "Refused by the person"), ("Omitted", "Not given (omitted)"), ("Withheld", "Withheld")],
                            &[if this { entered.outcome.as_str() } else { "" }]))
                        (text_field(errs, &dose_id, "Dose given", Some("For a dose given, as on the label, such as “two tablets”."), if this { &entered.dose } else { "" }, "text", None))
                        (text_field(errs, &reason_id, "Reason, if not given", None, if this { &entered.reason } else { "" }, "text", None))
                        button type="submit" class="button" { "Record dose of " (d.name) }
                    }
                }
            }
        }
        h2 { "Doses recorded" }
        @if m.administrations.items.is_empty() { p { "None yet." } } @else {
            div class="table-wrap" {
                table {
                    caption class="visually-hidden" { "Doses given and not given" }
                    thead { tr { th scope="col" { "When" } th scope="col" { "Medicine" } th scope="col" { "Outcome" } th scope="col" { "By" } } }
                    tbody {
                        @for a in m.administrations.items.iter().rev().take(50) {
                            @let p = &a.payload;
                            tr {
                                td { (time_el(&a.occurred_at)) }
                                td { (p.get("medicine_id").and_then(|v| v.as_str()).unwrap_or("")) }
                                td { (p.get("outcome").and_then(|v| v.as_str()).unwrap_or("")) @if let Some(r) = p.get("reason").and_then(|v| v.as_str()) { ": " (r) } }
                                td { (a.actor) }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub async fn medicines(
    State(app): State<App>,
    Extension(web): Extension<Arc<Web>>,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ctx = match start(&app, &web, &headers, &uri).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    render_medicines(
        &app,
        &ctx,
        &id,
        &Errors::default(),
        &DoseForm::default(),
        &shown,
    )
    .await
}

async fn render_medicines(
    app: &App,
    ctx: &Ctx,
    id: &str,
    errors: &Errors,
    entered: &DoseForm,
    shown: &Shown,
) -> Response {
    let g = match read(app, ctx, id, &[Category::Medicines], |a, d, p| {
        // The latest doses: the section pages forward, so find the last page.
        let (mut mar, n) = views::medicines(
            a,
            d,
            p,
            &Page {
                limit: 1000,
                ..PAGE
            },
        )?;
        let mut after = mar.administrations.next_after;
        while let Some(a_) = after {
            let (more, _) = views::medicines(
                a,
                d,
                p,
                &Page {
                    after: Some(a_),
                    limit: 1000,
                    version: None,
                },
            )?;
            mar.administrations.items.extend(more.administrations.items);
            let keep = mar.administrations.items.len().saturating_sub(200);
            mar.administrations.items.drain(..keep);
            after = more.administrations.next_after;
        }
        mar.administrations.next_after = None;
        Ok((mar, n))
    })
    .await
    {
        Ok(g) => g,
        Err(r) => return r,
    };
    let mine = own(ctx, id);
    ok(
        ctx,
        if mine { "My medicines" } else { "Medicines" },
        errors,
        medicines_markup(ctx, id, &g, errors, entered, shown),
    )
}

pub async fn record_dose(
    State(app): State<App>,
    Extension(web): Extension<Arc<Web>>,
    Path((id, medicine)): Path<(String, String)>,
    req: Request,
) -> Response {
    let (ctx, form) = match super::posted(&app, &web, req).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let outcome_id = format!("outcome-{medicine}");
    let dose_id = format!("dose-{medicine}");
    let reason_id = format!("reason-{medicine}");
    let entered = DoseForm {
        medicine: medicine.clone(),
        outcome: form.get(&outcome_id).to_string(),
        dose: form.get(&dose_id).to_string(),
        reason: form.get(&reason_id).to_string(),
    };
    let mut errors = Errors::default();
    let outcome = match entered.outcome.as_str() {
        "Given" => Some(AdministrationOutcome::Given),
        "Refused" => Some(AdministrationOutcome::Refused),
        "Omitted" => Some(AdministrationOutcome::Omitted),
        "Withheld" => Some(AdministrationOutcome::Withheld),
        _ => {
            errors.add(&outcome_id, "Select whether the dose was given");
            None
        }
    };
    if outcome == Some(AdministrationOutcome::Given) && entered.dose.is_empty() {
        errors.add(&dose_id, "Enter the dose given");
    }
    if outcome.is_some_and(|o| o != AdministrationOutcome::Given) && entered.reason.is_empty() {
        errors.add(&reason_id, "Enter why the dose was not given");
    }
    if let (true, Some(outcome)) = (errors.is_empty(), outcome) {
        let given = outcome == AdministrationOutcome::Given;
        let event = CareEvent::AdministrationRecorded(AdministrationRecorded {
            medicine_id: medicine.clone(),
            outcome,
            dose_given: given.then(|| entered.dose.clone()),
            reason: (!given).then(|| entered.reason.clone()),
            witnessed_by: None,
        });
        match record(&app, &ctx.who, Some(&id), None, event, None).await {
            Ok(r) => {
                return Redirect::to(&format!(
                    "/people/{id}/medicines?recorded={}#med-{medicine}",
                    r.seq
                ))
                .into_response()
            }
            Err(e) if is_form_error(&e) => {
                let field = match field_of(&e, "outcome").as_str() {
                    "dose_given" => dose_id.clone(),
                    "reason" => reason_id.clone(),
                    _ => outcome_id.clone(),
                };
                errors.add(&field, e.detail);
            }
            Err(e) => return error_page(Some(&ctx), &e),
        }
    }
    render_medicines(&app, &ctx, &id, &errors, &entered, &Shown::default()).await
}

// ------------------------------------------------------------------ who looked

/// "for your care": why, in words for the person.
fn purpose_words(p: Purpose, mine: bool) -> &'static str {
    match (p, mine) {
        (Purpose::DirectCare, true) => "for your care",
        (Purpose::DirectCare, false) => "for care",
        (Purpose::PersonalAccess, true) => "on your behalf",
        (Purpose::PersonalAccess, false) => "on the person's behalf",
        (Purpose::StatutoryReview, _) => "for a council review",
        (Purpose::QualityAssurance, _) => "to check the quality of care",
        (Purpose::Audit, _) => "for an audit",
        (Purpose::Emergency, _) => "in an emergency",
        (Purpose::Handover, _) => "to hand over care",
        (Purpose::Administration, _) => "to run the service",
    }
}

fn categories_words(cats: &[Category], mine: bool) -> String {
    let names: Vec<String> = cats
        .iter()
        .map(|c| {
            if mine {
                format!("your {}", c.name())
            } else {
                c.name().to_string()
            }
        })
        .collect();
    match names.as_slice() {
        [] => "the record".into(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// One access event in plain words: "Sam Carter, care worker, read your care plan for
/// your care".
pub fn access_sentence(item: &wire::AccessItem, mine: bool) -> String {
    let p = &item.event.payload;
    let cats: Vec<Category> = p
        .get("categories")
        .cloned()
        .and_then(|c| serde_json::from_value(c).ok())
        .unwrap_or_default();
    let purpose: Option<Purpose> = p
        .get("purpose")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok());
    let themselves = item
        .reader
        .role
        .as_ref()
        .is_some_and(|r| r.0 == Role::Person);
    let who = match (&item.reader.name, &item.reader.role) {
        (_, Some(r)) if mine && r.0 == Role::Person => "You".to_string(),
        (Some(n), Some(r)) => format!("{n}, {},", r.0.name()),
        (None, Some(r)) => format!("{}, {},", item.reader.id, r.0.name()),
        (Some(n), None) => n.clone(),
        (None, None) => item.reader.id.clone(),
    };
    let what = categories_words(&cats, mine);
    let why = if themselves {
        ""
    } else {
        purpose.map(|p| purpose_words(p, mine)).unwrap_or("")
    };
    let why = if why.is_empty() {
        String::new()
    } else {
        format!(" {why}")
    };
    match item.event.kind.as_str() {
        "access.refused" => format!("{who} asked to read {what}{why} and was refused"),
        "access.emergency" => {
            format!("{who} used emergency access to {what}; this is flagged for review")
        }
        _ => format!("{who} read {what}{why}"),
    }
}

pub async fn who_looked(
    State(app): State<App>,
    Extension(web): Extension<Arc<Web>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ctx = match start(&app, &web, &headers, &uri).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let g = match read(&app, &ctx, &id, &[Category::AccessLog], |a, d, p| {
        latest_access(a, d, p)
    })
    .await
    {
        Ok(g) => g,
        Err(r) => return r,
    };
    let mine = own(&ctx, &id);
    let body = html! {
        (record_header(&ctx, &id, "who-looked", g.ais_flag.as_deref(), g.flagged))
        h1 { @if mine { "Who looked at my record" } @else { "Who looked at the record" } }
        p class="lede" { @if mine { "Every time someone opens your record, it is written here. This list includes you." } @else { "Every read and refusal, latest first." } }
        ol class="access-list" {
            @for item in g.data.iter().rev() {
                li { (access_sentence(item, mine)) ", " (time_el(&item.event.recorded_at)) "." }
            }
        }
    };
    ok(
        &ctx,
        if mine {
            "Who looked at my record"
        } else {
            "Who looked"
        },
        &Errors::default(),
        body,
    )
}

/// The latest 200 access events of the record.
fn latest_access(
    app: &App,
    deadline: &careledger_api::blocking::Deadline,
    id: &str,
) -> Result<(Vec<wire::AccessItem>, u32), ApiError> {
    let mut keep: std::collections::VecDeque<wire::AccessItem> = Default::default();
    let mut after = None;
    loop {
        let (h, _) = views::access_log(
            app,
            deadline,
            id,
            &Page {
                after,
                limit: 1000,
                version: None,
            },
        )?;
        for item in h.items {
            if keep.len() == 200 {
                keep.pop_front();
            }
            keep.push_back(item);
        }
        match h.next_after {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let n = keep.len() as u32;
    Ok((keep.into(), n))
}

// ------------------------------------------------------------------ who can see what

/// Kinds of information a person can share, as they would name them.
const SHAREABLE: &[(Category, &str, &str)] = &[
    (Category::CarePlan, "CarePlan", "My care plan"),
    (Category::DailyNotes, "DailyNotes", "My daily notes"),
    (
        Category::Medicines,
        "Medicines",
        "My medicines and allergies",
    ),
    (
        Category::HealthObservations,
        "HealthObservations",
        "My health observations",
    ),
    (Category::Incidents, "Incidents", "Incidents"),
    (Category::AccessLog, "AccessLog", "Who looked at my record"),
];

#[derive(Default)]
struct GrantForm {
    grantee: String,
    categories: Vec<String>,
    until: String,
}

/// Who may decide about `id`'s grants: the person, or a legal representative.
fn decides(ctx: &Ctx, id: &str) -> Option<CapacityBasis> {
    match ctx.who.role {
        Role::Person if ctx.who.id == id => Some(CapacityBasis::PersonHasCapacity),
        Role::Representative => Some(CapacityBasis::LastingPowerOfAttorney),
        _ => None,
    }
}

fn sharing_markup(
    ctx: &Ctx,
    id: &str,
    g: &Granted<wire::Grants>,
    errors: &Errors,
    entered: &GrantForm,
    shown: &Shown,
) -> Markup {
    let mine = own(ctx, id);
    let now = careledger_store::now_us();
    let live: Vec<&wire::Grant> = g
        .data
        .grants
        .iter()
        .filter(|x| {
            x.revoked.is_none() && x.expires_at.as_ref().is_none_or(|e| layout::us_of(e) > now)
        })
        .collect();
    html! {
        (record_header(ctx, id, "sharing", g.ais_flag.as_deref(), g.flagged))
        h1 { @if mine { "Who can see my record" } @else { "Who can see what" } }
        (recorded_notice(shown, "Done"))
        p { "Staff who care for " @if mine { "you" } @else { "the person" } " can see what they need for care. Anyone else sees only what is given here." }
        h2 { "Access given" }
        @if live.is_empty() { p { "Nobody else has been given access." } } @else {
            div class="table-wrap" {
                table {
                    caption class="visually-hidden" { "Access given to others" }
                    thead { tr { th scope="col" { "Who" } th scope="col" { "Can see" } th scope="col" { "Until" } th scope="col" { span class="visually-hidden" { "Action" } } } }
                    tbody {
                        @for gr in &live {
                            tr {
                                td { @match &gr.grantee.0 { Grantee::Principal(p) => (p), Grantee::Role(r) => { "Every " (r.name()) } } }
                                td { (categories_words(&gr.categories.iter().map(|c| c.0).collect::<Vec<_>>(), false)) }
                                td { @if let Some(e) = &gr.expires_at { (time_el(e)) } @else { "No end date" } }
                                td {
                                    @if decides(ctx, id).is_some() {
                                        form method="post" action={ "/people/" (id) "/sharing/" (gr.grant_id) "/take-back" } class="inline-form" {
                                            (layout::token(ctx))
                                            button type="submit" class="button warning" { "Take back access" span class="visually-hidden" { " from " @match &gr.grantee.0 { Grantee::Principal(p) => (p), Grantee::Role(r) => (r.name()) } } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if decides(ctx, id).is_some() {
            h2 { "Give someone access" }
            form method="post" novalidate {
                (layout::token(ctx))
                (text_field(errors, "grantee", "Their careledger user ID", Some("Ask them for it: it is on their invitation."), &entered.grantee, "text", None))
                (choice_group(errors, "categories", "What they can see", "checkbox",
                    &SHAREABLE.iter().map(|(_, v, l)| (*v, *l)).collect::<Vec<_>>(),
                    &entered.categories.iter().map(String::as_str).collect::<Vec<_>>()))
                (text_field(errors, "until", "Until (optional)", Some("The last day they can see it. Leave empty for no end date."), &entered.until, "date", None))
                button type="submit" class="button" { "Give access" }
            }
        }
    }
}

async fn render_sharing(
    app: &App,
    ctx: &Ctx,
    id: &str,
    errors: &Errors,
    entered: &GrantForm,
    shown: &Shown,
) -> Response {
    let g = match read(app, ctx, id, &[Category::ConsentRecords], |a, d, p| {
        views::grants(a, d, p, &PAGE)
    })
    .await
    {
        Ok(g) => g,
        Err(r) => return r,
    };
    let mine = own(ctx, id);
    ok(
        ctx,
        if mine {
            "Who can see my record"
        } else {
            "Who can see what"
        },
        errors,
        sharing_markup(ctx, id, &g, errors, entered, shown),
    )
}

pub async fn sharing(
    State(app): State<App>,
    Extension(web): Extension<Arc<Web>>,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ctx = match start(&app, &web, &headers, &uri).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    render_sharing(
        &app,
        &ctx,
        &id,
        &Errors::default(),
        &GrantForm::default(),
        &shown,
    )
    .await
}

fn random_id(prefix: &str) -> String {
    let mut b = [0u8; 6];
    getrandom::getrandom(&mut b).expect("the operating system's random source");
    format!(
        "{prefix}-{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

pub async fn give_access(
    State(app): State<App>,
    Extension(web): Extension<Arc<Web>>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let (ctx, form) = match super::posted(&app, &web, req).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let entered = GrantForm {
        grantee: form.get("grantee").to_string(),
        categories: form
            .all("categories")
            .into_iter()
            .map(str::to_string)
            .collect(),
        until: form.get("until").to_string(),
    };
    let mut errors = Errors::default();
    let Some(basis) = decides(&ctx, &id) else {
        return error_page(
            Some(&ctx),
            &ApiError::forbidden(
                "only the person, or their attorney or deputy, decides who can see their record",
            ),
        );
    };
    if entered.grantee.is_empty() {
        errors.add(
            "grantee",
            "Enter the user ID of the person to give access to",
        );
    }
    let categories: Vec<Category> = SHAREABLE
        .iter()
        .filter(|(_, v, _)| entered.categories.iter().any(|x| x == v))
        .map(|(c, _, _)| *c)
        .collect();
    if categories.is_empty() {
        errors.add("categories", "Select what they can see");
    }
    let expires = if entered.until.is_empty() {
        None
    } else {
        match chrono::NaiveDate::parse_from_str(&entered.until, "%Y-%m-%d") {
            // Through the end of that day.
            Ok(d) => d
                .succ_opt()
                .and_then(|n| n.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc().timestamp_micros()),
            Err(_) => {
                errors.add(
                    "until",
                    "Enter the end date as a date, for example 31 12 2026",
                );
                None
            }
        }
    };
    if expires.is_some_and(|e| e <= careledger_store::now_us()) {
        errors.add("until", "The end date must be today or later");
    }
    if errors.is_empty() {
        let event = CareEvent::AccessGranted(AccessGranted {
            grant_id: random_id("grant"),
            grantee: Grantee::Principal(entered.grantee.clone()),
            categories,
            purpose: Purpose::PersonalAccess,
            expires_at_us: expires,
            decided_by: ctx.who.id.clone(),
            basis,
        });
        match record(&app, &ctx.who, Some(&id), None, event, None).await {
            Ok(r) => {
                return Redirect::to(&format!("/people/{id}/sharing?recorded={}", r.seq))
                    .into_response()
            }
            Err(e) if is_form_error(&e) => {
                let f = match field_of(&e, "grantee").as_str() {
                    "categories" => "categories",
                    "expires_at_us" => "until",
                    _ => "grantee",
                };
                errors.add(f, e.detail);
            }
            Err(e) => return error_page(Some(&ctx), &e),
        }
    }
    render_sharing(&app, &ctx, &id, &errors, &entered, &Shown::default()).await
}

pub async fn take_back(
    State(app): State<App>,
    Extension(web): Extension<Arc<Web>>,
    Path((id, grant)): Path<(String, String)>,
    req: Request,
) -> Response {
    let (ctx, _form) = match super::posted(&app, &web, req).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(basis) = decides(&ctx, &id) else {
        return error_page(
            Some(&ctx),
            &ApiError::forbidden(
                "only the person, or their attorney or deputy, decides who can see their record",
            ),
        );
    };
    let event = CareEvent::AccessRevoked(AccessRevoked {
        grant_id: grant,
        decided_by: ctx.who.id.clone(),
        basis,
    });
    match record(&app, &ctx.who, Some(&id), None, event, None).await {
        Ok(r) => Redirect::to(&format!("/people/{id}/sharing?recorded={}", r.seq)).into_response(),
        Err(e) => error_page(Some(&ctx), &e),
    }
}

// ------------------------------------------------------------------ information choices

const OPTIONS: &[(InfoOption, &str, &str)] = &[
    (InfoOption::Paper, "Paper", "Paper copies kept in the home"),
    (InfoOption::SecureEmail, "SecureEmail", "Secure email"),
    (InfoOption::Portal, "Portal", "This website"),
    (
        InfoOption::AccessibleFormat,
        "AccessibleFormat",
        "An accessible format (large print, easy read, braille, audio)",
    ),
];

fn option_words(o: InfoOption) -> &'static str {
    OPTIONS
        .iter()
        .find(|(x, _, _)| *x == o)
        .map_or("", |(_, _, w)| w)
}

#[derive(Default)]
struct ChoicesForm {
    present: String,
    explained: Vec<String>,
    chosen: Vec<String>,
    free: bool,
    notes: String,
}

fn may_record_choices(ctx: &Ctx) -> bool {
    matches!(ctx.who.role, Role::Coordinator | Role::RegisteredManager)
}

fn choices_markup(
    ctx: &Ctx,
    id: &str,
    g: &Granted<wire::Consent>,
    errors: &Errors,
    entered: &ChoicesForm,
    shown: &Shown,
) -> Markup {
    let c = &g.data;
    let mine = own(ctx, id);
    let opts: Vec<(&str, &str)> = OPTIONS.iter().map(|(_, v, l)| (*v, *l)).collect();
    html! {
        (record_header(ctx, id, "choices", g.ais_flag.as_deref(), g.flagged))
        h1 { @if mine { "My information choices" } @else { "Information choices" } }
        (recorded_notice(shown, "The choices discussion was recorded"))
        @match &c.last_discussion {
            Some(d) => {
                p class="lede" { "Last talked about " (time_el(&d.held.occurred_at)) "." }
                h2 { @if mine { "What you chose" } @else { "What was chosen" } }
                ul { @for o in &d.chosen { li { (option_words(o.0)) } } }
                p { @if d.told_access_is_free { "Told that seeing the record is free of charge." } @else { "Not recorded as told that access is free of charge." } }
                @if let Some(n) = &d.notes { @if !n.is_empty() { h3 { "Notes" } p { (n) } } }
            }
            None => { p { @if mine { "Nobody has talked with you about your choices yet. Ask your care manager." } @else { "No choices discussion has been recorded." } } }
        }
        @if !c.findings.is_empty() {
            h2 { "Needs doing" }
            ul { @for f in &c.findings { li { (f.message) } } }
        }
        @if may_record_choices(ctx) {
            h2 { "Record a choices discussion" }
            form method="post" novalidate {
                (layout::token(ctx))
                (text_area(errors, "present", "Who was present", Some("One per line, with their relationship: “Mary Jones (daughter)”."), &entered.present))
                (choice_group(errors, "explained", "Options explained", "checkbox", &opts, &entered.explained.iter().map(String::as_str).collect::<Vec<_>>()))
                (choice_group(errors, "chosen", "What the person chose", "checkbox", &opts, &entered.chosen.iter().map(String::as_str).collect::<Vec<_>>()))
                (choice_group(errors, "free", "Access is free", "checkbox", &[("yes", "The person was told that seeing their record is free of charge")], if entered.free { &["yes"] } else { &[] }))
                (text_area(errors, "notes", "Notes", None, &entered.notes))
                button type="submit" class="button" { "Record discussion" }
            }
        }
    }
}

async fn render_choices(
    app: &App,
    ctx: &Ctx,
    id: &str,
    errors: &Errors,
    entered: &ChoicesForm,
    shown: &Shown,
) -> Response {
    let g = match read(app, ctx, id, &[Category::ConsentRecords], |a, d, p| {
        views::consent(a, d, p, &PAGE)
    })
    .await
    {
        Ok(g) => g,
        Err(r) => return r,
    };
    let mine = own(ctx, id);
    ok(
        ctx,
        if mine {
            "My information choices"
        } else {
            "Information choices"
        },
        errors,
        choices_markup(ctx, id, &g, errors, entered, shown),
    )
}

pub async fn choices(
    State(app): State<App>,
    Extension(web): Extension<Arc<Web>>,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let ctx = match start(&app, &web, &headers, &uri).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    render_choices(
        &app,
        &ctx,
        &id,
        &Errors::default(),
        &ChoicesForm::default(),
        &shown,
    )
    .await
}

fn parse_options(values: &[String]) -> Vec<InfoOption> {
    OPTIONS
        .iter()
        .filter(|(_, v, _)| values.iter().any(|x| x == v))
        .map(|(o, _, _)| *o)
        .collect()
}

pub async fn record_choices(
    State(app): State<App>,
    Extension(web): Extension<Arc<Web>>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let (ctx, form) = match super::posted(&app, &web, req).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let entered = ChoicesForm {
        present: form.get("present").to_string(),
        explained: form
            .all("explained")
            .into_iter()
            .map(str::to_string)
            .collect(),
        chosen: form.all("chosen").into_iter().map(str::to_string).collect(),
        free: form.get("free") == "yes",
        notes: form.get("notes").to_string(),
    };
    let mut errors = Errors::default();
    let present: Vec<String> = entered
        .present
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if present.is_empty() {
        errors.add("present", "Enter who was present");
    }
    let explained = parse_options(&entered.explained);
    if explained.is_empty() {
        errors.add("explained", "Select the options that were explained");
    }
    let chosen = parse_options(&entered.chosen);
    if chosen.is_empty() {
        errors.add("chosen", "Select what the person chose");
    }
    if errors.is_empty() {
        let event = CareEvent::ChoicesDiscussed(ChoicesDiscussed {
            present,
            options_explained: explained,
            chosen,
            told_access_is_free: entered.free,
            notes: entered.notes.clone(),
        });
        match record(&app, &ctx.who, Some(&id), None, event, None).await {
            Ok(r) => {
                return Redirect::to(&format!("/people/{id}/choices?recorded={}", r.seq))
                    .into_response()
            }
            Err(e) if is_form_error(&e) => {
                let f = match field_of(&e, "present").as_str() {
                    "options_explained" => "explained",
                    "chosen" => "chosen",
                    "notes" => "notes",
                    _ => "present",
                };
                errors.add(f, e.detail);
            }
            Err(e) => return error_page(Some(&ctx), &e),
        }
    }
    render_choices(&app, &ctx, &id, &errors, &entered, &Shown::default()).await
}
