//! `/check`: anyone holding a printed copy checks it by the reference at the foot of its
//! pages (or in its QR code): was it printed from this ledger, and is it still the current
//! version? No sign-in (a visiting GP or paramedic has no account); the answer says no
//! more than the paper does (`careledger_api::documents::check_reference`).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use careledger_api::App;
use maud::html;

use crate::html as respond;
use crate::layout::{page, text_field, Errors};

#[derive(serde::Deserialize, Default)]
pub struct CheckQuery {
    #[serde(default)]
    reference: Option<String>,
}

pub async fn check(State(app): State<App>, Query(q): Query<CheckQuery>) -> Response {
    let mut errors = Errors::default();
    let asked = q.reference.as_deref().unwrap_or("");
    let found = match q.reference.as_deref() {
        None => None,
        Some(r) => match careledger_api::documents::check_reference(&app, r).await {
            Ok(c) => Some(c),
            Err(e) => {
                errors.add("reference", e.detail.clone());
                None
            }
        },
    };
    let body = html! {
        h1 { "Check a printed copy" }
        p class="lede" {
            "Every page careledger prints ends with a reference that starts CL1, also in its \
             QR code. Type or scan it here to see whether the copy came from this service's \
             ledger. Whether a person's document is still the current version is for the \
             provider to check: ask them."
        }
        @if let Some(c) = &found {
            @let good = c.checkpoint_verified && c.current != Some(false);
            div class=(if good { "notice" } else { "ais" }) role="status" {
                @if !c.checkpoint_verified {
                    p { strong { "Not printed from this ledger." } " The ledger holds no checkpoint matching this reference." }
                    p { "Do not rely on this copy: ask the provider for a current one." }
                } @else {
                    p { strong { "Printed from this ledger." } " " (c.checkpoint) }
                    @if let Some(said) = &c.said { p { (said) } }
                    @if c.current == Some(false) { p { "Ask the provider for a current copy." } }
                }
            }
        }
        form method="get" action="/check" novalidate {
            (text_field(&errors, "reference", "Reference", Some("For example CL1:mar:2:5213:9d439852349b:person-0003"), asked, "text", Some("off")))
            button type="submit" class="button" { "Check" }
        }
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    respond(status, page(None, "Check a printed copy", &errors, body))
}
