//! Council requests, recorded by the provider on the requests page: a request received,
//! its acknowledgement, and the response with the digest of exactly what was sent.
//!
//! Each form records through `careledger_api::handlers::record` (the checks of `POST
//! /v1/events`, then the care rules, which check ids, due times and order), and wakes the
//! SLA timer as the API does.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use careledger_api::handlers::record;
use careledger_api::{ApiError, App};
use careledger_care::event::{RequestAcknowledged, RequestReceived, RequestResponded};
use careledger_care::{CareEvent, Category, Channel, Role, HOUR_US};
use maud::{html, Markup};

use crate::form::{pick, Form};
use crate::layout::{self, choices, text_area, text_field, Errors};
use crate::pages::Posted;
use crate::{error_page, Ctx};

/// Who records council requests: the provider's managers (an officer recording their own
/// would open records to themselves, see `careledger_care::policy::may_record`).
pub fn records_requests(ctx: &Ctx) -> bool {
    matches!(ctx.who.role, Role::RegisteredManager | Role::ProviderAdmin)
}

const CATEGORIES: &[(&str, &str)] = &[
    ("CarePlan", "Care plan"),
    ("DailyNotes", "Daily notes"),
    ("Medicines", "Medicines and allergies"),
    ("ConsentRecords", "Consent records"),
    ("Incidents", "Incidents"),
    ("CommunicationNeeds", "Communication needs"),
];

const DUE: &[(&str, &str)] = &[("24", "24 hours"), ("12", "12 hours"), ("4", "4 hours")];

const CHANNELS: &[(&str, &str)] = &[
    ("SecureEmail", "Secure email"),
    ("Portal", "This website"),
    ("Paper", "Paper"),
    ("InPerson", "In person"),
    ("Telephone", "Telephone"),
];

/// The forms on the requests page: a new request, and for each open one, acknowledge and
/// respond.
pub fn forms(ctx: &Ctx, open: &[(String, bool)], errors: &Errors, f: &Form) -> Markup {
    let chosen_cats = f.all("categories");
    let due = if f.get("due").is_empty() {
        "24"
    } else {
        f.get("due")
    };
    html! {
        @for (id, acknowledged) in open {
            section class="request-actions" aria-labelledby={ "act-" (id) } {
                h3 id={ "act-" (id) } { "Answer " (id) }
                @if !acknowledged {
                    form method="post" action={ "/requests/" (id) "/acknowledge" } class="inline-form" {
                        (layout::token(ctx))
                        button type="submit" class="button secondary" { "Acknowledge " (id) }
                    }
                }
                @let sent_id = format!("sent-{id}");
                @let channel_id = format!("channel-{id}");
                @let items_id = format!("items-{id}");
                form method="post" action={ "/requests/" (id) "/respond" } novalidate {
                    (layout::token(ctx))
                    (text_area(errors, &sent_id, "What was sent", Some("Paste exactly what was sent (line ends are taken as LF), or give its BLAKE3 digest (64 hex digits, from b3sum): the ledger keeps only the digest."), f.get(&sent_id)))
                    (choices(errors, &channel_id, "How it was sent", "radio", CHANNELS, &[f.get(&channel_id)]))
                    (text_field(errors, &items_id, "How many items were sent", None, f.get(&items_id), "text", None))
                    button type="submit" class="button" { "Record the response to " (id) }
                }
            }
        }
        h2 { "Record a request received" }
        form method="post" action="/requests" novalidate {
            (layout::token(ctx))
            (text_field(errors, "requester", "Council officer's user ID", None, f.get("requester"), "text", None))
            (text_field(errors, "organisation", "Council", Some("For example: Hertfordshire County Council."), f.get("organisation"), "text", None))
            (text_area(errors, "people", "About whom", Some("The people's careledger IDs, one per line. Leave empty for a request about the provider as a whole."), f.get("people")))
            (choices(errors, "categories", "What is asked for", "checkbox", CATEGORIES, &chosen_cats))
            (text_area(errors, "description", "The request, in the council's words", None, f.get("description")))
            (choices(errors, "due", "To be answered within", "radio", DUE, &[due]))
            button type="submit" class="button" { "Record request" }
        }
    }
}

fn back(seq: u64) -> Response {
    Redirect::to(&format!("/requests?recorded={seq}")).into_response()
}

fn managers_only(ctx: &Ctx) -> Option<Response> {
    (!records_requests(ctx)).then(|| {
        error_page(
            Some(ctx),
            &ApiError::forbidden(
                "council requests are recorded by the registered manager or the provider admin",
            ),
        )
    })
}

/// Records `event`; on a refusal the caller shows the page again with the error by `field`.
async fn record_request(
    app: &App,
    ctx: &Ctx,
    event: CareEvent,
    field: &str,
) -> Result<Response, Errors> {
    match record(app, &ctx.who, None, None, event, None).await {
        Ok(r) => Ok(back(r.seq)),
        Err(e) if matches!(e.status.as_u16(), 400 | 404 | 409 | 422) => {
            // By the field the refusal names (the people, the due time), else `field`.
            let named = e.field.as_deref().unwrap_or("");
            let field = if named.contains("people")
                || named.contains("subject")
                || e.detail.contains("not registered")
            {
                "people"
            } else if named.contains("due") {
                "due"
            } else {
                field
            };
            let mut errors = Errors::default();
            errors.add(field, e.detail);
            Err(errors)
        }
        Err(e) => Ok(error_page(Some(ctx), &e)),
    }
}

pub async fn received(State(app): State<App>, Posted(ctx, form): Posted) -> Response {
    if let Some(r) = managers_only(&ctx) {
        return r;
    }
    let mut errors = Errors::default();
    let requester = form.get("requester").to_string();
    let organisation = form.get("organisation").to_string();
    let description = form.get("description").to_string();
    if requester.is_empty() {
        errors.add("requester", "Enter the council officer's user ID");
    }
    if organisation.is_empty() {
        errors.add("organisation", "Enter the council");
    }
    let categories: Vec<Category> = form
        .all("categories")
        .into_iter()
        .filter_map(|v| pick(CATEGORIES, v))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if categories.is_empty() {
        errors.add("categories", "Select what is asked for");
    }
    if description.is_empty() {
        errors.add("description", "Enter the request");
    }
    let hours: i64 = match form.get("due") {
        "24" => 24,
        "12" => 12,
        "4" => 4,
        _ => {
            errors.add("due", "Select when it must be answered");
            24
        }
    };
    let people: Vec<String> = form
        .get("people")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if !errors.is_empty() {
        return super::oversight::requests_page(&app, &ctx, &errors, &form, None).await;
    }
    let now = careledger_store::now_us();
    let id = crate::pages::random_id("request");
    let event = CareEvent::RequestReceived(RequestReceived {
        request_id: id,
        requester,
        organisation,
        people,
        categories,
        description,
        received_at_us: now,
        due_at_us: now + hours * HOUR_US,
    });
    match record_request(&app, &ctx, event, "requester").await {
        Ok(r) => r,
        Err(errors) => super::oversight::requests_page(&app, &ctx, &errors, &form, None).await,
    }
}

pub async fn acknowledge(
    State(app): State<App>,
    Path(id): Path<String>,
    Posted(ctx, form): Posted,
) -> Response {
    if let Some(r) = managers_only(&ctx) {
        return r;
    }
    let event = CareEvent::RequestAcknowledged(RequestAcknowledged {
        request_id: id.clone(),
    });
    // A request closed meanwhile has no form any more: the refusal points at the list.
    match record_request(&app, &ctx, event, "requests").await {
        Ok(r) => r,
        Err(errors) => super::oversight::requests_page(&app, &ctx, &errors, &form, None).await,
    }
}

/// The 32 bytes of a 64-digit hex digest.
fn hex_digest(text: &str) -> Option<[u8; 32]> {
    let t = text.trim();
    if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&t[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

pub async fn respond(
    State(app): State<App>,
    Path(id): Path<String>,
    Posted(ctx, form): Posted,
) -> Response {
    if let Some(r) = managers_only(&ctx) {
        return r;
    }
    let (sent_id, channel_id, items_id) = (
        format!("sent-{id}"),
        format!("channel-{id}"),
        format!("items-{id}"),
    );
    let mut errors = Errors::default();
    // A textarea's CRLF line ends arrive as LF (`form::read`): what was sent (a file, an
    // email body) most often has LF, and it is hashed with LF, as the hint says.
    let sent = form.raw(&sent_id);
    if sent.trim().is_empty() {
        errors.add(&sent_id, "Paste what was sent, or its digest");
    }
    let digest = hex_digest(&sent).unwrap_or_else(|| *blake3::hash(sent.as_bytes()).as_bytes());
    let channel: Option<Channel> = pick(CHANNELS, form.get(&channel_id));
    if channel.is_none() {
        errors.add(&channel_id, "Select how it was sent");
    }
    let items = match form.get(&items_id).parse::<u32>() {
        Ok(n) => n,
        Err(_) => {
            errors.add(&items_id, "Enter how many items were sent, as a number");
            0
        }
    };
    let (true, Some(channel)) = (errors.is_empty(), channel) else {
        return super::oversight::requests_page(&app, &ctx, &errors, &form, None).await;
    };
    let event = CareEvent::RequestResponded(RequestResponded {
        request_id: id.clone(),
        digest,
        channel,
        items,
    });
    match record_request(&app, &ctx, event, "requests").await {
        Ok(r) => r,
        Err(errors) => super::oversight::requests_page(&app, &ctx, &errors, &form, None).await,
    }
}
