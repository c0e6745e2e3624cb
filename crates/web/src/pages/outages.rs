//! Outages: when careledger could not be used, care went on paper (the guidance's
//! "contingency in place should systems go down"). The registered manager or the provider
//! admin declares an outage, from the time it began, and ends it once systems are back;
//! care staff then add what was written on paper to each person's record ("Add from
//! paper", [`crate::pages::person::from_paper`]), each entry at the time it happened and
//! naming where its paper original is kept. The care rules accept a back-entry only
//! inside an ended outage.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use careledger_api::handlers::record;
use careledger_api::{ApiError, App};
use careledger_care::event::{OutageDeclared, OutageEnded};
use careledger_care::state::Outage;
use careledger_care::{policy, CareEvent};
use maud::html;

use crate::form::Form;
use crate::layout::{self, text_field, Errors};
use crate::pages::{random_id, Posted, Viewer};
use crate::{error_page, Ctx};

/// How many outages the page lists, newest first.
pub const OUTAGES_SHOWN: usize = 20;

/// Who declares and ends outages (the organisation's events).
fn declares(ctx: &Ctx) -> bool {
    policy::may_record(ctx.who.role, "outage.declared")
}

/// Who sees the outages page: those who declare them and those who back-enter.
fn sees(ctx: &Ctx) -> bool {
    declares(ctx) || policy::may_record(ctx.who.role, "outage.back_entered")
}

/// The newest outages first, at most `max`.
pub fn recent(app: &App, max: usize) -> Result<Vec<(String, Outage)>, ApiError> {
    let mut all: Vec<(String, Outage)> = app.ledger.read(|s| {
        s.outages
            .iter()
            .map(|(id, o)| (id.clone(), o.clone()))
            .collect()
    })?;
    all.sort_by_key(|(_, o)| std::cmp::Reverse(o.declared.seq));
    all.truncate(max);
    Ok(all)
}

/// "Network down, Tue 1 Dec 09:00 to 13:30".
pub fn describe(o: &Outage) -> String {
    match &o.ended {
        Some(e) => format!(
            "{}, {} to {}",
            o.reason,
            layout::when(o.declared.occurred_at_us),
            layout::when(e.occurred_at_us)
        ),
        None => format!(
            "{}, since {} (still going on)",
            o.reason,
            layout::when(o.declared.occurred_at_us)
        ),
    }
}

use crate::pages::Recorded as Shown;

pub async fn outages(
    State(app): State<App>,
    Viewer(ctx): Viewer,
    Query(shown): Query<Shown>,
) -> Response {
    render(&app, &ctx, &Errors::default(), &Form::default(), &shown).await
}

async fn render(app: &App, ctx: &Ctx, errors: &Errors, f: &Form, shown: &Shown) -> Response {
    if !sees(ctx) {
        return error_page(
            Some(ctx),
            &ApiError::forbidden("outages are for the provider's staff"),
        );
    }
    let list = match recent(app, OUTAGES_SHOWN) {
        Ok(l) => l,
        Err(e) => return error_page(Some(ctx), &e),
    };
    let open = list.iter().find(|(_, o)| o.ended.is_none());
    let now = layout::uk(careledger_store::now_us());
    let (today, this_minute) = (
        now.format("%Y-%m-%d").to_string(),
        now.format("%H:%M").to_string(),
    );
    let or = |v: &'static str, d: &str| -> String {
        if f.get(v).is_empty() {
            d.to_string()
        } else {
            f.get(v).to_string()
        }
    };
    let body = html! {
        h1 { "Outages" }
        @if let Some(seq) = shown.recorded { (layout::notice(&format!("Recorded (event {seq} in the ledger)."))) }
        p { "When careledger cannot be used, care goes on paper. Afterwards, what was written on paper is added to each person's record with the time it happened: open the person's record and choose " strong { "Add from paper" } "." }
        @if let Some((id, o)) = open {
            div class="banner-flag" role="note" { "Outage going on: " (describe(o)) }
            @if declares(ctx) {
                h2 { "End the outage" }
                form method="post" action={ "/outages/" (id) "/end" } novalidate {
                    (layout::token(ctx))
                    (text_field(errors, "end_date", "Date systems came back", None, &or("end_date", &today), "date", None))
                    (text_field(errors, "end_time", "Time systems came back (UK time)", Some("For example 13:30."), &or("end_time", &this_minute), "time", None))
                    button type="submit" class="button" { "End the outage" }
                }
            }
        } @else if declares(ctx) {
            h2 { "Declare an outage" }
            p { "Declare it from the time careledger stopped being usable, even if that was before now, so that what was written on paper in that time can be added." }
            form method="post" novalidate {
                (layout::token(ctx))
                (text_field(errors, "reason", "What happened", Some("For example: no internet in the office, power cut."), f.get("reason"), "text", None))
                (text_field(errors, "start_date", "Date it began", None, &or("start_date", &today), "date", None))
                (text_field(errors, "start_time", "Time it began (UK time)", Some("For example 09:00."), &or("start_time", &this_minute), "time", None))
                button type="submit" class="button" { "Declare the outage" }
            }
        }
        h2 { "Outages so far" }
        @if list.is_empty() { p { "No outage has been declared." } } @else {
            div class="table-wrap" {
                table {
                    caption class="visually-hidden" { "Outages, newest first" }
                    thead { tr { th scope="col" { "What happened" } th scope="col" { "From" } th scope="col" { "To" } th scope="col" { "Entries added from paper" } } }
                    tbody {
                        @for (_, o) in &list {
                            tr {
                                td { (o.reason) }
                                td { (layout::when(o.declared.occurred_at_us)) }
                                td { @if let Some(e) = &o.ended { (layout::when(e.occurred_at_us)) } @else { "Still going on" } }
                                td { (o.back_entries) }
                            }
                        }
                    }
                }
            }
        }
    };
    crate::pages::form_page(ctx, "Outages", errors, body)
}

/// Records an organisation event at `at`, then back to the page; a refusal about the
/// time is shown by `time_field`, any other by `other_field`.
async fn record_at(
    app: &App,
    ctx: &Ctx,
    event: CareEvent,
    at: i64,
    (time_field, other_field): (&str, &str),
    f: &Form,
) -> Response {
    match record(app, &ctx.who, None, Some(at), event, None).await {
        Ok(r) => Redirect::to(&format!("/outages?recorded={}", r.seq)).into_response(),
        Err(e) if crate::pages::person::is_form_error(&e) => {
            let mut errors = Errors::default();
            let field = if e.field.as_deref() == Some("occurred_at") {
                time_field
            } else {
                other_field
            };
            errors.add(field, e.detail);
            render(app, ctx, &errors, f, &Shown::default()).await
        }
        Err(e) => error_page(Some(ctx), &e),
    }
}

fn forbidden(ctx: &Ctx) -> Response {
    error_page(
        Some(ctx),
        &ApiError::forbidden(
            "outages are declared and ended by the registered manager or the provider admin",
        ),
    )
}

pub async fn declare(State(app): State<App>, Posted(ctx, f): Posted) -> Response {
    if !declares(&ctx) {
        return forbidden(&ctx);
    }
    let mut errors = Errors::default();
    let reason = f.get("reason").trim().to_string();
    if reason.is_empty() {
        errors.add("reason", "Enter what happened");
    }
    let at = layout::from_uk(f.get("start_date"), f.get("start_time"));
    if let Err(why) = at {
        errors.add(
            if why.contains("date") {
                "start_date"
            } else {
                "start_time"
            },
            why,
        );
    }
    let Ok(at) = at else {
        return render(&app, &ctx, &errors, &f, &Shown::default()).await;
    };
    if !errors.is_empty() {
        return render(&app, &ctx, &errors, &f, &Shown::default()).await;
    }
    let event = CareEvent::OutageDeclared(OutageDeclared {
        outage_id: random_id("outage"),
        reason,
    });
    record_at(&app, &ctx, event, at, ("start_time", "reason"), &f).await
}

pub async fn end(
    State(app): State<App>,
    Path(outage): Path<String>,
    Posted(ctx, f): Posted,
) -> Response {
    if !declares(&ctx) {
        return forbidden(&ctx);
    }
    let at = match layout::from_uk(f.get("end_date"), f.get("end_time")) {
        Ok(at) => at,
        Err(why) => {
            let mut errors = Errors::default();
            errors.add(
                if why.contains("date") {
                    "end_date"
                } else {
                    "end_time"
                },
                why,
            );
            return render(&app, &ctx, &errors, &f, &Shown::default()).await;
        }
    };
    let event = CareEvent::OutageEnded(OutageEnded { outage_id: outage });
    record_at(&app, &ctx, event, at, ("end_time", "end_time"), &f).await
}
