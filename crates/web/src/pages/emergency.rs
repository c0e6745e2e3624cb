//! Break-glass for emergency clinicians: a required reason, then medicines and allergies
//! only, under a banner saying the access is flagged for review.
//!
//! The form shows nothing of any record (only the id the clinician typed), so it reads
//! nothing. Posting it records `access.emergency` through the API's own checks
//! (`careledger_api::handlers::record_emergency`), then sends the clinician to the
//! person's medicines page, whose view is one gate read allowed by that emergency basis.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use careledger_api::handlers::record_emergency;
use careledger_api::App;
use careledger_care::Role;
use maud::html;

use crate::layout::{self, text_area, text_field, Errors};
use crate::pages::{Posted, Viewer};
use crate::{error_page, Ctx};

#[derive(serde::Deserialize, Default)]
pub struct Asked {
    #[serde(default)]
    person: String,
}

/// How long break-glass may last, as offered on the form (the service's limit is 12 hours).
const DURATIONS: &[(&str, &str)] = &[
    ("30", "30 minutes"),
    ("60", "1 hour"),
    ("240", "4 hours"),
    ("720", "12 hours"),
];

fn form(ctx: &Ctx, errors: &Errors, person: &str, reason: &str, minutes: &str) -> Response {
    let minutes = if minutes.is_empty() { "60" } else { minutes };
    let body = html! {
        h1 { "Emergency access to medicines" }
        div class="banner-flag" role="note" {
            "Use this only in an emergency. Every emergency access is recorded, shown to the person, and reviewed by the provider's registered manager."
        }
        p { "You will see the person's medicines and allergies, and nothing else, for the time you choose." }
        form method="post" action="/emergency" novalidate {
            (layout::token(ctx))
            (text_field(errors, "person", "The person's careledger ID", Some("On the person's care folder in the home, or ask the care provider."), person, "text", None))
            (text_area(errors, "reason", "Why you need access now", Some("For example: collapsed at home, paramedic needs the medicines list."), reason))
            (layout::choices(errors, "minutes", "For how long", "radio", DURATIONS, &[minutes]))
            button type="submit" class="button warning" { "Open medicines and allergies" }
        }
    };
    crate::pages::form_page(ctx, "Emergency access", errors, body)
}

fn clinicians_only(ctx: &Ctx) -> Option<Response> {
    (ctx.who.role != Role::EmergencyClinician).then(|| {
        error_page(
            Some(ctx),
            &careledger_api::ApiError::forbidden(
                "emergency access is for emergency clinicians; staff read records for care",
            ),
        )
    })
}

pub async fn emergency_page(Viewer(ctx): Viewer, Query(asked): Query<Asked>) -> Response {
    if let Some(r) = clinicians_only(&ctx) {
        return r;
    }
    form(&ctx, &Errors::default(), &asked.person, "", "")
}

pub async fn break_glass(State(app): State<App>, Posted(ctx, form_): Posted) -> Response {
    if let Some(r) = clinicians_only(&ctx) {
        return r;
    }
    let person = form_.get("person").to_string();
    let reason = form_.get("reason").to_string();
    let minutes_text = form_.get("minutes").to_string();
    let mut errors = Errors::default();
    if person.is_empty() {
        errors.add("person", "Enter the person's careledger ID");
    }
    if reason.is_empty() {
        errors.add("reason", "Enter why you need access now");
    }
    let minutes = match minutes_text.parse::<u32>() {
        Ok(m) if DURATIONS.iter().any(|(v, _)| *v == minutes_text) => Some(m),
        _ => {
            errors.add("minutes", "Select for how long");
            None
        }
    };
    if errors.is_empty() {
        match record_emergency(&app, &ctx.who, &person, reason.clone(), minutes, None).await {
            Ok(_) => {
                return Redirect::to(&format!("/people/{person}/medicines")).into_response();
            }
            Err(e) if matches!(e.status.as_u16(), 400 | 404 | 422) => {
                let field = match e.field.as_deref() {
                    Some("reason") => "reason",
                    Some("minutes") => "minutes",
                    _ => "person",
                };
                let message = if e.status == StatusCode::NOT_FOUND {
                    format!("There is nobody with the ID {person:?}: check it on the care folder")
                } else {
                    e.detail
                };
                errors.add(field, message);
            }
            Err(e) => return error_page(Some(&ctx), &e),
        }
    }
    form(&ctx, &errors, &person, &reason, &minutes_text)
}
