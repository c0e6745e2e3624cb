//! For managers and council officers: what needs doing (the findings) and council requests.

use crate::pages::Viewer;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use careledger_api::App;
use maud::html;

use crate::layout::{page, time_el, Errors};
use crate::{error_page, html as respond};

pub async fn findings(State(app): State<App>, Viewer(ctx): Viewer) -> Response {
    let report = match careledger_api::handlers::findings_as(&app, &ctx.who, None, None).await {
        Ok(r) => r,
        Err(e) => return error_page(Some(&ctx), &e),
    };
    let staff = ctx.who.role.is_staff();
    let body = html! {
        h1 { @if staff { "What needs doing" } @else { "The provider's findings" } }
        p class="lede" { (report.findings.len()) " findings across " (report.people_receiving_care) " people receiving care." }
        dl class="summary" {
            dt { "Choices discussion held" } dd { (report.with_choices_discussion) " of " (report.people_receiving_care) }
            dt { "Told access is free" } dd { (report.told_access_is_free) }
            dt { "Paper copies in the home" } dd { (report.with_paper_copies) }
            dt { "Chose no paper" } dd { (report.declined_paper) }
            dt { "With communication needs" } dd { (report.with_ais_needs) ", of whom " (report.ais_format_not_met) " were sent a format they cannot use" }
        }
        @if report.findings.is_empty() {
            p { "Nothing needs doing." }
        } @else {
            div class="table-wrap" {
                table {
                    caption { "Findings, with the events that prove them" }
                    thead { tr { th scope="col" { "Person" } th scope="col" { "What" } th scope="col" { "Since" } th scope="col" { "Evidence" } } }
                    tbody {
                        @for f in &report.findings {
                            tr {
                                td { @if let Some(p) = &f.person { @if staff { a href={ "/people/" (p) "/choices" } { (p) } } @else { (p) } } @else { "The provider" } }
                                td { (f.message) }
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

pub async fn requests(State(app): State<App>, Viewer(ctx): Viewer) -> Response {
    let list = match careledger_api::handlers::requests_as(&app, &ctx.who, None, 200, false) {
        Ok(r) => r,
        Err(e) => return error_page(Some(&ctx), &e),
    };
    let body = html! {
        h1 { "Council requests" }
        p class="lede" { "A council's request for information must be answered within 24 hours." }
        @if list.items.is_empty() { p { "No requests." } } @else {
            div class="table-wrap" {
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
    };
    respond(
        StatusCode::OK,
        page(Some(&ctx), "Council requests", &Errors::default(), body),
    )
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
