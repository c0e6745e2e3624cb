//! Information choices: the last choices discussion, and recording one.

use super::*;
use crate::form::pick;

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
        (recorded_notice(shown, "Recorded"))
        @match &c.last_discussion {
            Some(d) => {
                p class="lede" { "Last talked about " (time_el(&d.held.occurred_at)) "." }
                h2 { @if mine { "What you chose" } @else { "What was chosen" } }
                ul { @for o in &d.chosen { li { (option_words(o.0)) } } }
                p { @if d.told_access_is_free { "Told that seeing the record is free of charge." } @else { "Not recorded as told that access is free of charge." } }
                @if let Some(n) = &d.notes { @if !n.is_empty() { h3 { "Notes" } p { (n) } } }
            }
            None => { p { @if mine { (say(ctx, "Nobody has talked with you about your choices yet. Ask your care manager.", "Nobody has asked you yet how you want your record. Ask your care manager.")) } @else { "No choices discussion has been recorded." } } }
        }
        @if !c.findings.is_empty() {
            h2 { "Needs doing" }
            ul { @for f in &c.findings { li { (f.message) } } }
        }
        (paper_section(ctx, id, &c.paper, errors))
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
    let titles = ("My information choices", "Information choices");
    section(
        app,
        ctx,
        id,
        &[Category::ConsentRecords],
        titles,
        errors,
        |a, d, p| views::consent(a, d, p, &PAGE),
        |g| choices_markup(ctx, id, g, errors, entered, shown),
    )
    .await
}

pub async fn choices(
    State(app): State<App>,
    Viewer(ctx): Viewer,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
) -> Response {
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
    Path(id): Path<String>,
    Posted(ctx, form): Posted,
) -> Response {
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

const DOCUMENTS: &[(&str, &str)] = &[
    ("CarePlan", "Care plan"),
    ("Mar", "MAR chart"),
    ("ServiceUserGuide", "Service User Guide"),
    ("DiaryRecords", "Diary records"),
];

const FORMATS: &[(&str, &str)] = &[
    ("StandardPrint", "Standard print"),
    ("LargePrint", "Large print"),
    ("EasyRead", "Easy read"),
    ("Braille", "Braille"),
    ("Audio", "Audio"),
    ("ElectronicPlainText", "Electronic plain text"),
];

fn may_place_paper(ctx: &Ctx) -> bool {
    matches!(
        ctx.who.role,
        Role::CareWorker | Role::Coordinator | Role::RegisteredManager | Role::ProviderAdmin
    )
}

/// The paper copies in the home, whether each is the current version, and (for staff) the
/// form to record one placed.
fn paper_section(ctx: &Ctx, id: &str, paper: &wire::Paper, errors: &Errors) -> Markup {
    let current = |doc: careledger_care::Document| match doc {
        careledger_care::Document::CarePlan => paper.current_care_plan_version,
        careledger_care::Document::Mar => Some(paper.mar_revision),
        careledger_care::Document::ServiceUserGuide => paper.current_guide_version,
        _ => None,
    };
    html! {
        h2 id="paper" { "Paper copies in the home" }
        @if let Some(d) = &paper.declined {
            p { "Paper copies were declined by " (d.declined_by) ", " (time_el(&d.decided.occurred_at)) "." }
        }
        @if paper.copies.is_empty() {
            p { "No paper copies are recorded." }
        } @else {
            ul {
                @for c in &paper.copies {
                    // Current or out of date where the document and the copy have versions
                    // (diary records have none; a guide printed outside careledger names
                    // none), so nothing is claimed of the rest.
                    @let state = match (c.version, current(c.document.0)) { (Some(v), Some(now)) => Some(v >= now), _ => None };
                    li {
                        (c.document.0.name()) @if let Some(v) = c.version { ", version " (v) } ", " (c.format.0.name()) ", placed " (time_el(&c.placed.occurred_at))
                        @match state {
                            Some(true) => { " " span class="tag good" { "Current" } }
                            Some(false) => { " " span class="tag bad" { "Out of date" } }
                            None => {}
                        }
                    }
                }
            }
        }
        @if careledger_care::policy::may_record(ctx.who.role, "email.address_recorded") {
            p { a href={ "/people/" (id) "/email-address" } { "Email addresses for secure email" } }
        }
        @if may_place_paper(ctx) {
            form method="post" action={ "/people/" (id) "/paper" } novalidate {
                (layout::token(ctx))
                (choice_group(errors, "document", "Paper copy placed in the home", "radio", DOCUMENTS, &[]))
                (choice_group(errors, "format", "In which format", "radio", FORMATS, &["StandardPrint"]))
                button type="submit" class="button secondary" { "Record paper copy placed" }
            }
        }
    }
}

pub async fn place_paper(
    State(app): State<App>,
    Path(id): Path<String>,
    Posted(ctx, form): Posted,
) -> Response {
    if !may_place_paper(&ctx) {
        return error_page(
            Some(&ctx),
            &ApiError::forbidden(format!(
                "{} does not record paper copies",
                ctx.who.role.with_article()
            )),
        );
    }
    let mut errors = Errors::default();
    let document: Option<careledger_care::Document> = pick(DOCUMENTS, form.get("document"));
    if document.is_none() {
        errors.add("document", "Select the document placed");
    }
    let format: Option<careledger_care::Format> = pick(FORMATS, form.get("format"));
    if format.is_none() {
        errors.add("format", "Select the format");
    }
    let (Some(document), Some(format)) = (document, format) else {
        return render_choices(
            &app,
            &ctx,
            &id,
            &errors,
            &ChoicesForm::default(),
            &Shown::default(),
        )
        .await;
    };
    // The version placed is the current one: read from the projection the rules check.
    let version = app.ledger.read(|s| {
        s.person(&id).and_then(|p| match document {
            careledger_care::Document::CarePlan => p.plan.as_ref().map(|plan| plan.version),
            careledger_care::Document::Mar => Some(p.mar_revision),
            careledger_care::Document::ServiceUserGuide => s.current_guide().map(|g| g.version),
            _ => None,
        })
    });
    let version = match version {
        Ok(v) => v,
        Err(e) => return error_page(Some(&ctx), &e.into()),
    };
    let event = CareEvent::PaperCopyPlaced(careledger_care::event::PaperCopyPlaced {
        document,
        version,
        format,
        digest: None,
    });
    match record(&app, &ctx.who, Some(&id), None, event, None).await {
        Ok(r) => {
            Redirect::to(&format!("/people/{id}/choices?recorded={}#paper", r.seq)).into_response()
        }
        Err(e) if is_form_error(&e) => {
            errors.add("document", e.detail);
            render_choices(
                &app,
                &ctx,
                &id,
                &errors,
                &ChoicesForm::default(),
                &Shown::default(),
            )
            .await
        }
        Err(e) => error_page(Some(&ctx), &e),
    }
}
