//! Daily notes: visits, tasks and diary notes, and a note added by staff, the person or their representative.

use super::*;

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
    let e = entry_of(item);
    let p = e.payload;
    let s = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    html! {
        @match e.kind {
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
        @if let Some(paper) = e.paper {
            p class="muted" { "Added from paper after an outage (" (item.actor) ", " (time_el(&item.recorded_at)) "). The original: " (paper) "." }
        }
    }
}

/// What the daily-notes page shows: the latest events, and the visits in progress
/// (visit id, started at).
pub(super) struct Notes {
    history: wire::History,
    open_visits: Vec<(String, i64)>,
}

fn staff(ctx: &Ctx) -> bool {
    matches!(
        ctx.who.role,
        Role::CareWorker | Role::Coordinator | Role::RegisteredManager
    )
}

/// Starting and ending a visit, and the tasks done in it.
fn visit_panel(
    ctx: &Ctx,
    id: &str,
    open: &[(String, i64)],
    errors: &Errors,
    task: &TaskForm,
) -> Markup {
    let outcomes = [
        ("Done", "Done"),
        ("Refused", "The person did not want it"),
        ("NotDone", "Not done"),
    ];
    let none = Errors::default();
    html! {
        h2 id="visit" tabindex="-1" { "Visits" }
        @if open.is_empty() {
            p { "No visit is in progress." }
        }
        // Every visit in progress (two care workers may be there at once), each with its
        // own forms and field ids.
        @for (visit, started) in open {
            @let mine = task.visit == *visit;
            @let errs = if mine { errors } else { &none };
            @let (task_id, outcome_id, why_id) = (format!("task-{visit}"), format!("outcome-{visit}"), format!("why-{visit}"));
            section aria-labelledby={ "v-" (visit) } {
                h3 id={ "v-" (visit) } { "Visit started " (layout::when(*started)) }
                form method="post" action={ "/people/" (id) "/tasks" } novalidate {
                    (layout::token(ctx))
                    input type="hidden" name="visit" value=(visit);
                    (text_field(errs, &task_id, "Task", Some("For example: breakfast, shower, prompt medication."), if mine { &task.task } else { "" }, "text", None))
                    (choice_group(errs, &outcome_id, "Outcome", "radio", &outcomes, &[if mine { task.outcome.as_str() } else { "" }]))
                    (text_field(errs, &why_id, "Why it was not done", None, if mine { &task.why } else { "" }, "text", None))
                    button type="submit" class="button secondary" { "Record task" }
                }
                form method="post" action={ "/people/" (id) "/visits/" (visit) "/end" } {
                    (layout::token(ctx))
                    button type="submit" class="button" { "End visit" span class="visually-hidden" { " started " (layout::when(*started)) } }
                }
            }
        }
        form method="post" action={ "/people/" (id) "/visits" } {
            (layout::token(ctx))
            button type="submit" class="button" { "Start visit" }
        }
    }
}

/// A task as entered, to show again with its errors.
#[derive(Default)]
struct TaskForm {
    visit: String,
    task: String,
    outcome: String,
    why: String,
}

fn notes_markup(
    ctx: &Ctx,
    id: &str,
    g: &Granted<Notes>,
    errors: &Errors,
    text: &str,
    task: &TaskForm,
    shown: &Shown,
) -> Markup {
    let mine = own(ctx, id);
    html! {
        (record_header(ctx, id, "daily-notes", g.ais_flag.as_deref(), g.flagged))
        h1 { @if mine { "My daily notes" } @else { "Daily notes" } }
        (recorded_notice(shown, "Recorded"))
        @if staff(ctx) {
            (visit_panel(ctx, id, &g.data.open_visits, errors, task))
            p { a href={ "/people/" (id) "/from-paper" } class="button secondary" { "Add from paper after an outage" } }
        }
        @if note_author(ctx, id).is_some() {
            form method="post" novalidate {
                (layout::token(ctx))
                (text_area(errors, "text", if mine { say(ctx, "Add your own note", "Write a note") } else { "Add a diary note" },
                    Some(if mine { say(ctx, "Your note is added to your record with your name.", "Your note goes in your record. It has your name on it.") } else { "What happened, what the person said, anything to follow up." }), text))
                button type="submit" class="button" { (say(ctx, "Add note", "Save my note")) }
            }
        }
        h2 { "Latest first" }
        @if g.data.history.items.is_empty() {
            p { "Nothing recorded yet." }
        } @else {
            ol class="timeline" reversed {
                @for item in g.data.history.items.iter().rev() {
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
    Viewer(ctx): Viewer,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
) -> Response {
    render_notes(
        &app,
        &ctx,
        &id,
        &Errors::default(),
        "",
        &TaskForm::default(),
        &shown,
    )
    .await
}

async fn render_notes(
    app: &App,
    ctx: &Ctx,
    id: &str,
    errors: &Errors,
    text: &str,
    task: &TaskForm,
    shown: &Shown,
) -> Response {
    let page_of = Page { limit: 100, ..PAGE };
    // The latest notes: the history is read oldest first, so read the last page.
    let titles = ("My daily notes", "Daily notes");
    let links = print_links(app, ctx, id, "diary", "diary records");
    section(
        app,
        ctx,
        id,
        &[Category::DailyNotes],
        titles,
        errors,
        move |a, d, p| latest_notes(a, d, p, page_of),
        |g| html! { (notes_markup(ctx, id, g, errors, text, task, shown)) (links) },
    )
    .await
}

/// The last `page.limit` daily-notes events (the section reads forward from a cursor).
fn latest_notes(
    app: &App,
    deadline: &careledger_api::blocking::Deadline,
    id: &str,
    page: Page,
) -> Result<(Notes, u32), ApiError> {
    let items = last_items(page.limit, |after| {
        let (h, _) = views::daily_notes(app, deadline, id, &from(after, 500))?;
        Ok((h.items, h.next_after))
    })?;
    let n = items.len() as u32;
    let open_visits = app.ledger.read(|s| {
        s.person(id).map_or_else(Vec::new, |p| {
            p.open_visits
                .iter()
                .map(|(v, st)| (v.clone(), st.occurred_at_us))
                .collect()
        })
    })?;
    Ok((
        Notes {
            history: wire::History {
                items,
                next_after: None,
            },
            open_visits,
        },
        n,
    ))
}

pub async fn add_note(
    State(app): State<App>,
    Path(id): Path<String>,
    Posted(ctx, form): Posted,
) -> Response {
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
    render_notes(
        &app,
        &ctx,
        &id,
        &errors,
        &text,
        &TaskForm::default(),
        &Shown::default(),
    )
    .await
}

fn staff_only(ctx: &Ctx) -> Option<Response> {
    (!staff(ctx)).then(|| {
        error_page(
            Some(ctx),
            &ApiError::forbidden(format!(
                "{} does not record visits",
                ctx.who.role.with_article()
            )),
        )
    })
}

/// Records `event` and goes back to the daily notes, or shows the refusal on the page.
async fn record_and_back(
    app: &App,
    ctx: &Ctx,
    id: &str,
    event: CareEvent,
    field: &str,
    task: &TaskForm,
) -> Response {
    match record(app, &ctx.who, Some(id), None, event, None).await {
        Ok(r) => {
            Redirect::to(&format!("/people/{id}/daily-notes?recorded={}", r.seq)).into_response()
        }
        Err(e) if is_form_error(&e) => {
            let mut errors = Errors::default();
            errors.add(field, e.detail);
            render_notes(app, ctx, id, &errors, "", task, &Shown::default()).await
        }
        Err(e) => error_page(Some(ctx), &e),
    }
}

pub async fn start_visit(
    State(app): State<App>,
    Path(id): Path<String>,
    Posted(ctx, _form): Posted,
) -> Response {
    if let Some(r) = staff_only(&ctx) {
        return r;
    }
    let event = CareEvent::VisitStarted(careledger_care::event::VisitStarted {
        visit_id: random_id("visit"),
    });
    record_and_back(&app, &ctx, &id, event, "visit", &TaskForm::default()).await
}

pub async fn end_visit(
    State(app): State<App>,
    Path((id, visit)): Path<(String, String)>,
    Posted(ctx, _form): Posted,
) -> Response {
    if let Some(r) = staff_only(&ctx) {
        return r;
    }
    let event =
        CareEvent::VisitCompleted(careledger_care::event::VisitCompleted { visit_id: visit });
    record_and_back(&app, &ctx, &id, event, "visit", &TaskForm::default()).await
}

pub async fn record_task(
    State(app): State<App>,
    Path(id): Path<String>,
    Posted(ctx, form): Posted,
) -> Response {
    if let Some(r) = staff_only(&ctx) {
        return r;
    }
    let visit = form.get("visit").to_string();
    let (task_id, outcome_id, why_id) = (
        format!("task-{visit}"),
        format!("outcome-{visit}"),
        format!("why-{visit}"),
    );
    let task = TaskForm {
        visit: visit.clone(),
        task: form.get(&task_id).to_string(),
        outcome: form.get(&outcome_id).to_string(),
        why: form.get(&why_id).to_string(),
    };
    let mut errors = Errors::default();
    if task.task.is_empty() {
        errors.add(&task_id, "Enter the task");
    }
    let outcome = match task.outcome.as_str() {
        "Done" => Some(careledger_care::TaskOutcome::Done),
        "Refused" => Some(careledger_care::TaskOutcome::Refused),
        "NotDone" if task.why.is_empty() => {
            errors.add(&why_id, "Enter why the task was not done");
            None
        }
        "NotDone" => Some(careledger_care::TaskOutcome::NotDone {
            reason: task.why.clone(),
        }),
        _ => {
            errors.add(&outcome_id, "Select the outcome");
            None
        }
    };
    let (true, Some(outcome)) = (errors.is_empty(), outcome) else {
        return render_notes(&app, &ctx, &id, &errors, "", &task, &Shown::default()).await;
    };
    let event = CareEvent::TaskRecorded(careledger_care::event::TaskRecorded {
        visit_id: (!visit.is_empty()).then(|| visit.clone()),
        task: task.task.clone(),
        outcome,
    });
    record_and_back(&app, &ctx, &id, event, &task_id, &task).await
}
