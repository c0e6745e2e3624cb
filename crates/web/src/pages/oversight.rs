//! For managers and council officers: what needs doing (the findings) and council requests.

use crate::pages::Viewer;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use careledger_api::App;
use maud::html;

use crate::layout::{page, time_el, Errors};
use crate::{error_page, html as respond};

pub async fn findings(
    State(app): State<App>,
    Viewer(ctx): Viewer,
    axum::extract::Query(shown): axum::extract::Query<crate::pages::Recorded>,
) -> Response {
    let report = match careledger_api::handlers::findings_as(&app, &ctx.who, None, None).await {
        Ok(r) => r,
        Err(e) => return error_page(Some(&ctx), &e),
    };
    let daily = match careledger_api::handlers::findings_daily_as(&app, &ctx.who) {
        Ok(d) => d,
        Err(e) => return error_page(Some(&ctx), &e),
    };
    let staff = ctx.who.role.is_staff();
    let reviewer = careledger_care::policy::may_record(ctx.who.role, "access.emergency_reviewed");
    let break_glass = careledger_care::findings::Rule::BreakGlassUnreviewed.id();
    let body = html! {
        h1 { @if staff { "What needs doing" } @else { "The provider's findings" } }
        @if let Some(seq) = shown.recorded { (crate::layout::notice(&format!("Recorded (event {seq} in the ledger)."))) }
        p class="lede" { (report.findings.len()) " findings across " (report.people_receiving_care) " people receiving care." }
        dl class="summary" {
            dt { "Choices discussion held" } dd { (report.with_choices_discussion) " of " (report.people_receiving_care) }
            dt { "Told access is free" } dd { (report.told_access_is_free) }
            dt { "Paper copies in the home" } dd { (report.with_paper_copies) }
            dt { "Chose no paper" } dd { (report.declined_paper) }
            dt { "With communication needs" } dd { (report.with_ais_needs) ", of whom " (report.ais_format_not_met) " were sent a format they cannot use" }
        }
        h2 { "Findings over time" }
        (crate::pages::charts::findings_chart(&daily))
        h2 { "Open now" }
        @if report.findings.is_empty() {
            p { "Nothing needs doing." }
        } @else {
            div class="table-wrap" {
                table id="open-findings" {
                    caption { "Findings, with the events that prove them" }
                    thead { tr { th scope="col" { "Person" } th scope="col" { "What" } th scope="col" { "Since" } th scope="col" { "Evidence" } } }
                    tbody {
                        @for f in &report.findings {
                            tr {
                                td { @if let Some(p) = &f.person { @if staff { a href={ "/people/" (p) @if f.rule != break_glass { "/choices" } } { (p) } } @else { (p) } } @else { "The provider" } }
                                td {
                                    (f.message)
                                    @if reviewer && f.rule == break_glass {
                                        @if let Some(seq) = f.evidence.first() {
                                            " " a href={ "/findings/break-glass/" (seq) } { "Review it" span class="visually-hidden" { " (event " (seq) ")" } }
                                        }
                                    }
                                }
                                td { (time_el(&f.since)) }
                                td { @for (i, e) in f.evidence.iter().enumerate() { @if i > 0 { ", " } "event " (e) } }
                            }
                        }
                    }
                }
            }
        }
    };
    respond(
        StatusCode::OK,
        page(
            Some(&ctx),
            if staff {
                "What needs doing"
            } else {
                "Findings"
            },
            &Errors::default(),
            body,
        ),
    )
}

pub async fn requests(
    State(app): State<App>,
    Viewer(ctx): Viewer,
    axum::extract::Query(shown): axum::extract::Query<crate::pages::Recorded>,
) -> Response {
    requests_page(
        &app,
        &ctx,
        &Errors::default(),
        &crate::form::Form::default(),
        shown.recorded,
    )
    .await
}

/// The requests page: the chart, the list, and for managers the forms (with `errors` and
/// what was `entered` when a form is shown again).
pub async fn requests_page(
    app: &App,
    ctx: &crate::Ctx,
    errors: &Errors,
    entered: &crate::form::Form,
    recorded: Option<u64>,
) -> Response {
    let listed = careledger_api::handlers::requests_as;
    let mut list = match listed(app, &ctx.who, None, REQUESTS_LISTED_MAX, false) {
        Ok(r) => r,
        Err(e) => return error_page(Some(ctx), &e),
    };
    // Latest first (request ids are random, so the API's id order is no time order).
    list.items
        .sort_by_key(|r| std::cmp::Reverse(crate::layout::us_of(&r.received_at)));
    // Every open request gets its forms, however many closed ones there are.
    let open: Vec<(String, bool)> = match listed(app, &ctx.who, None, REQUESTS_LISTED_MAX, true) {
        Ok(r) => r
            .items
            .iter()
            .filter(|r| r.responded.is_none())
            .map(|r| (r.request_id.clone(), r.acknowledged.is_some()))
            .collect(),
        Err(e) => return error_page(Some(ctx), &e),
    };
    let body = html! {
        h1 { "Council requests" }
        p class="lede" { "A council's request for information must be answered within 24 hours." }
        @if let Some(seq) = recorded { (crate::layout::notice(&format!("Recorded (event {seq} in the ledger)."))) }
        @if list.items.is_empty() { p { "No requests." } } @else {
            (crate::pages::charts::response_chart(&list.items))
            div class="table-wrap" id="requests" tabindex="-1" {
                table {
                    caption class="visually-hidden" { "Council requests and their time limits" }
                    thead { tr { th scope="col" { "Request" } th scope="col" { "From" } th scope="col" { "Received" } th scope="col" { "Due" } th scope="col" { "State" } } }
                    tbody {
                        @for r in &list.items {
                            tr {
                                td { (r.request_id) br; span class="muted" { (r.description) } }
                                td { (r.requester) ", " (r.organisation) }
                                td { (time_el(&r.received_at)) }
                                td { (time_el(&r.due_at)) }
                                td { (sla_words(&r.sla)) }
                            }
                        }
                    }
                }
            }
        }
        @if super::requests::records_requests(ctx) {
            (super::requests::forms(ctx, &open, errors, entered))
        }
    };
    crate::pages::form_page(ctx, "Council requests", errors, body)
}

/// An SLA state in words, never by colour alone.
fn sla_words(sla: &careledger_api::wire::Sla) -> String {
    use careledger_api::wire::Sla;
    let hm = |m: i64| format!("{} h {} min", m / 60, m % 60);
    match sla {
        Sla::Due { due_in_minutes } => format!("Open: {} left", hm(*due_in_minutes)),
        Sla::Warned { due_in_minutes } => format!("Open, nearly due: {} left", hm(*due_in_minutes)),
        Sla::Breached => "Late: not answered within the time limit".into(),
        Sla::Responded { took_minutes } => format!("Answered in {}", hm(*took_minutes)),
        Sla::RespondedLate { took_minutes } => format!("Answered late, in {}", hm(*took_minutes)),
        Sla::Withdrawn => "Withdrawn".into(),
    }
}

/// Requests the page lists at most (by id); the chart draws the latest of them.
pub const REQUESTS_LISTED_MAX: usize = 1000;
