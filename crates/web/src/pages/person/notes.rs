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
    Viewer(ctx): Viewer,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
) -> Response {
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
    render_notes(&app, &ctx, &id, &errors, &text, &Shown::default()).await
}
