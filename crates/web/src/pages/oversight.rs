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
    axum::extract::Query(shown): axum::extract::Query<Shown>,
) -> Response {
    let report = match careledger_api::handlers::findings_as(&app, &ctx.who, None, None).await {
        Ok(r) => r,
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

#[derive(serde::Deserialize, Default)]
pub struct Shown {
    #[serde(default)]
    recorded: Option<u64>,
}

pub async fn requests(
    State(app): State<App>,
    Viewer(ctx): Viewer,
    axum::extract::Query(shown): axum::extract::Query<Shown>,
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
            (response_chart(&list.items))
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
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    respond(status, page(Some(ctx), "Council requests", errors, body))
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

/// One request on the chart: its id, hours it took (or has been open), hours it was due
/// within, and whether it is answered.
struct Bar {
    id: String,
    taken_h: f64,
    due_h: f64,
    answered: bool,
}

/// Requests the page lists at most (by id); the chart draws the latest of them.
pub const REQUESTS_LISTED_MAX: usize = 1000;

/// Rows the chart draws at most (the latest requests); the table lists every one listed.
const CHART_ROWS_MAX: usize = 30;

/// Each request's response time against its due line, drawn here as SVG (no script): a bar
/// per request, the due time as a tick across its row, and the time in words at the bar's
/// end, so nothing is told by colour alone. The table under it holds the same data for
/// screen readers (the chart is an image with a text alternative).
fn response_chart(items: &[careledger_api::wire::Request]) -> maud::Markup {
    use careledger_api::wire::Sla;
    let now = careledger_store::now_us();
    let hours = |us: i64| us as f64 / 3_600_000_000.0;
    let bars: Vec<Bar> = items
        .iter()
        .take(CHART_ROWS_MAX)
        .filter_map(|r| {
            let received = crate::layout::us_of(&r.received_at);
            let due = crate::layout::us_of(&r.due_at);
            let (taken, answered) = match &r.sla {
                Sla::Responded { took_minutes } | Sla::RespondedLate { took_minutes } => {
                    (*took_minutes as f64 / 60.0, true)
                }
                Sla::Withdrawn => return None,
                _ => (hours(now - received), false),
            };
            Some(Bar {
                id: r.request_id.clone(),
                taken_h: taken.max(0.0),
                due_h: hours(due - received).max(0.0),
                answered,
            })
        })
        .collect();
    if bars.is_empty() {
        return maud::html! {};
    }
    let (label_w, bar_w, row_h, top) = (150.0, 420.0, 30.0, 28.0);
    let scale_max = bars
        .iter()
        .map(|b| b.taken_h.max(b.due_h))
        .fold(24.0_f64, f64::max)
        .min(24.0 * 14.0);
    let x = |h: f64| label_w + bar_w * (h.min(scale_max) / scale_max);
    let height = top + row_h * bars.len() as f64 + 10.0;
    let width = label_w + bar_w + 190.0;
    let late = bars.iter().filter(|b| b.taken_h > b.due_h).count();
    let words = |b: &Bar| {
        let m = (b.taken_h * 60.0).round() as i64;
        let state = match (b.answered, b.taken_h > b.due_h) {
            (true, false) => "answered in time",
            (true, true) => "answered late",
            (false, false) => "open",
            (false, true) => "open and late",
        };
        format!("{} h {} min, {state}", m / 60, m % 60)
    };
    let desc = format!(
        "{} requests: {} answered or open within their due time, {} late. The table below gives each.",
        bars.len(),
        bars.len() - late,
        late
    );
    maud::html! {
        figure class="chart-figure" {
            svg class="chart" role="img" aria-labelledby="rt-title rt-desc" viewBox={ "0 0 " (width) " " (height) } width=(width) height=(height) xmlns="http://www.w3.org/2000/svg" {
                title id="rt-title" { "Response time of each council request against its due time" }
                desc id="rt-desc" { (desc) }
                text x=(label_w) y="16" font-size="13" fill="#0b0c0c" { "0 h" }
                text x=(label_w + bar_w) y="16" font-size="13" fill="#0b0c0c" text-anchor="end" { (format!("{scale_max:.0} h")) }
                @for (i, b) in bars.iter().enumerate() {
                    @let y = top + row_h * i as f64;
                    @let late_bar = b.taken_h > b.due_h;
                    text x=(label_w - 8.0) y=(y + 18.0) font-size="13" fill="#0b0c0c" text-anchor="end" { (b.id) }
                    rect x=(label_w) y=(y + 5.0) width=((x(b.taken_h) - label_w).max(1.0)) height="16"
                        fill=(if late_bar { "#b10e1e" } else { "#1d4f91" })
                        stroke="#0b0c0c" stroke-width="1"
                        stroke-dasharray=[(!b.answered).then_some("4 2")] {}
                    line x1=(x(b.due_h)) x2=(x(b.due_h)) y1=(y + 1.0) y2=(y + row_h - 3.0) stroke="#0b0c0c" stroke-width="3" {}
                    text x=(x(b.taken_h.max(b.due_h)) + 6.0) y=(y + 18.0) font-size="13" fill="#0b0c0c" { (words(b)) }
                }
            }
            figcaption { "Each bar is a request's time to answer (dashed while open); the black tick is when it was due. " (desc) }
        }
    }
}
