//! Break-glass review: every emergency access is on the registered manager's "what needs
//! doing" until they record their review of it (appropriate, or not and the action taken),
//! as an `access.emergency_reviewed` event about the person. Who broke the glass and the
//! reason they gave are the person's access log: the review page reads them through the
//! gate (one access event), and the finding names only the person and the event.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use careledger_api::gate;
use careledger_api::handlers::{default_purpose, record};
use careledger_api::{ApiError, App};
use careledger_care::event::{EmergencyReviewed, ReviewOutcome};
use careledger_care::state::{emergency_key, Unreviewed};
use careledger_care::{policy, CareEvent, Category};
use maud::html;

use crate::form::Form;
use crate::layout::{self, choices, text_area, Errors};
use crate::pages::{Posted, Viewer};
use crate::{error_page, Ctx};

fn reviews(ctx: &Ctx) -> bool {
    policy::may_record(ctx.who.role, "access.emergency_reviewed")
}

const OUTCOMES: &[(&str, &str)] = &[
    (
        "Appropriate",
        "Appropriate: there was an emergency and the access fitted it",
    ),
    ("NotAppropriate", "Not appropriate"),
];

fn waiting(app: &App, seq: u64) -> Result<Option<Unreviewed>, ApiError> {
    Ok(app
        .ledger
        .read(|s| s.unreviewed.get(&emergency_key(seq)).cloned())?)
}

async fn render(app: &App, ctx: &Ctx, seq: u64, errors: &Errors, f: &Form) -> Response {
    if !reviews(ctx) {
        return error_page(
            Some(ctx),
            &ApiError::forbidden("break-glass accesses are reviewed by the registered manager"),
        );
    }
    let waiting = match waiting(app, seq) {
        Ok(Some(u)) => u,
        Ok(None) => {
            return error_page(
                Some(ctx),
                &ApiError::not_found(format!(
                    "event {seq} is not a break-glass access waiting for review"
                )),
            )
        }
        Err(e) => return error_page(Some(ctx), &e),
    };
    // One read of the person's access log: the access under review is part of it, and
    // is shown only once the gate allows it.
    let person = waiting.person.clone();
    let g = match gate::read(
        app,
        &ctx.who,
        &person,
        &[Category::AccessLog],
        default_purpose(ctx.who.role),
        move |_, _| Ok((waiting, 1)),
    )
    .await
    {
        Ok(g) => g,
        Err(e) => return error_page(Some(ctx), &e),
    };
    let u = &g.data;
    let body = html! {
        h1 { "Review an emergency access" }
        dl class="summary" {
            dt { "Whose record" } dd { a href={ "/people/" (u.person) } { (u.person) } }
            dt { "Who" } dd { (u.principal) ", " (u.role.name()) }
            dt { "When" } dd { (layout::when(u.stamp.occurred_at_us)) }
            dt { "Reason they gave" } dd { (u.reason) }
            dt { "In the ledger" } dd { a href={ "/audit/events/" (u.stamp.seq) } { "event " (u.stamp.seq) } }
        }
        p { "Check the reason against what happened (the call, the visit notes, the person or their family), then record what you found." }
        form method="post" novalidate {
            (layout::token(ctx))
            (choices(errors, "outcome", "Was the access appropriate?", "radio", OUTCOMES, &[f.get("outcome")]))
            (text_area(errors, "action", "If not, what was done about it", Some("For example: reported to the GP practice, access withdrawn, the person told."), f.get("action")))
            (text_area(errors, "notes", "What you looked at and found", None, f.get("notes")))
            button type="submit" class="button" { "Record the review" }
        }
    };
    crate::pages::form_page(ctx, "Review an emergency access", errors, body)
}

pub async fn review_page(
    State(app): State<App>,
    Viewer(ctx): Viewer,
    Path(seq): Path<u64>,
) -> Response {
    render(&app, &ctx, seq, &Errors::default(), &Form::default()).await
}

pub async fn review(
    State(app): State<App>,
    Path(seq): Path<u64>,
    Posted(ctx, f): Posted,
) -> Response {
    if !reviews(&ctx) {
        return render(&app, &ctx, seq, &Errors::default(), &f).await;
    }
    let person = match waiting(&app, seq) {
        Ok(Some(u)) => u.person,
        Ok(None) => return render(&app, &ctx, seq, &Errors::default(), &f).await,
        Err(e) => return error_page(Some(&ctx), &e),
    };
    let mut errors = Errors::default();
    let outcome = match f.get("outcome") {
        "Appropriate" => Some(ReviewOutcome::Appropriate),
        "NotAppropriate" if f.get("action").trim().is_empty() => {
            errors.add(
                "action",
                "Enter what was done about an access that was not appropriate",
            );
            None
        }
        "NotAppropriate" => Some(ReviewOutcome::NotAppropriate {
            action_taken: f.get("action").trim().to_string(),
        }),
        _ => {
            errors.add("outcome", "Select whether the access was appropriate");
            None
        }
    };
    if f.get("notes").trim().is_empty() {
        errors.add("notes", "Enter what you looked at and found");
    }
    let (true, Some(outcome)) = (errors.is_empty(), outcome) else {
        return render(&app, &ctx, seq, &errors, &f).await;
    };
    let event = CareEvent::EmergencyReviewed(EmergencyReviewed {
        emergency_event: seq,
        outcome,
        notes: f.get("notes").trim().to_string(),
    });
    match record(&app, &ctx.who, Some(&person), None, event, None).await {
        Ok(r) => Redirect::to(&format!("/findings?recorded={}", r.seq)).into_response(),
        Err(e) if crate::pages::person::is_form_error(&e) => {
            let field = match crate::pages::person::field_of(&e, "notes").as_str() {
                "outcome" => "action",
                "emergency_event" => "outcome",
                _ => "notes",
            };
            errors.add(field, e.detail);
            render(&app, &ctx, seq, &errors, &f).await
        }
        Err(e) => error_page(Some(&ctx), &e),
    }
}
