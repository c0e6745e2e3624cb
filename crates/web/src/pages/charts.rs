//! Pictures where people would rather look than read, drawn here as SVG (no script):
//! each an image with a title and a text alternative, nothing told by colour alone, and
//! the same data as a table beside it for screen readers.

use careledger_api::wire::FindingsDaily;
use maud::{html, Markup};

/// One request on the chart: its id, hours it took (or has been open), hours it was due
/// within, and whether it is answered.
struct Bar {
    id: String,
    taken_h: f64,
    due_h: f64,
    answered: bool,
}

/// Rows the chart draws at most (the latest requests); the table lists every one listed.
const CHART_ROWS_MAX: usize = 30;

/// Each request's response time against its due line, drawn here as SVG (no script): a bar
/// per request, the due time as a tick across its row, and the time in words at the bar's
/// end, so nothing is told by colour alone. The table under it holds the same data for
/// screen readers (the chart is an image with a text alternative).
pub fn response_chart(items: &[careledger_api::wire::Request]) -> maud::Markup {
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

/// Days the findings chart draws (the newest); the table beside it lists the same days.
pub const FINDINGS_DAYS_DRAWN: usize = 30;

/// What a rule's findings are, in a few words.
pub fn rule_words(rule: &str) -> &'static str {
    match rule {
        "R8-no-discussion" => "no choices discussion",
        "R8-stale-discussion" => "choices discussion out of date",
        "R3-no-paper-in-home" => "no paper copy in the home",
        "R3-paper-plan-outdated" => "paper care plan out of date",
        "R3-paper-guide-outdated" => "paper Service User Guide out of date",
        "R5-no-paper-mar" => "no current paper MAR",
        "R2-format-not-met" => "format not met",
        "R12-request-breached" => "council request late",
        "R5-break-glass-unreviewed" => "emergency access to review",
        _ => "other",
    }
}

/// The findings open at the end of each of the last days, a column per day, with the
/// count above it; the table beside it gives each day's findings by rule.
pub fn findings_chart(daily: &FindingsDaily) -> Markup {
    let skip = daily.days.len().saturating_sub(FINDINGS_DAYS_DRAWN);
    let days = &daily.days[skip..];
    if days.is_empty() {
        return html! {
            p { "The chart of findings over time starts once a day has ended with the ledger in use." }
        };
    }
    let (left, col_w, chart_h, top, bottom) = (40.0, 22.0, 160.0, 24.0, 40.0);
    let max = days.iter().map(|d| d.total).max().unwrap_or(0).max(1) as f64;
    let width = left + col_w * days.len() as f64 + 20.0;
    let height = top + chart_h + bottom;
    let y = |n: u32| top + chart_h - chart_h * (f64::from(n) / max);
    let first = &days[0];
    let last = &days[days.len() - 1];
    let highest = days.iter().max_by_key(|d| d.total).unwrap_or(last);
    let desc = format!(
        "Findings open at the end of each day from {} to {}: {} at the start, {} at the end, at most {} (on {}). The table below gives each day.",
        first.day, last.day, first.total, last.total, highest.total, highest.day
    );
    html! {
        figure class="chart-figure" {
            svg class="chart" role="img" aria-labelledby="fd-title fd-desc" viewBox={ "0 0 " (width) " " (height) } width=(width) height=(height) xmlns="http://www.w3.org/2000/svg" {
                title id="fd-title" { "Findings open at the end of each day" }
                desc id="fd-desc" { (desc) }
                line x1=(left) x2=(left) y1=(top) y2=(top + chart_h) stroke="#0b0c0c" stroke-width="1" {}
                line x1=(left) x2=(width - 10.0) y1=(top + chart_h) y2=(top + chart_h) stroke="#0b0c0c" stroke-width="1" {}
                text x=(left - 6.0) y=(top + 4.0) font-size="12" fill="#0b0c0c" text-anchor="end" { (max as u32) }
                text x=(left - 6.0) y=(top + chart_h) font-size="12" fill="#0b0c0c" text-anchor="end" { "0" }
                @for (i, d) in days.iter().enumerate() {
                    @let x = left + col_w * i as f64 + 3.0;
                    rect x=(x) y=(y(d.total)) width=(col_w - 6.0) height=((top + chart_h - y(d.total)).max(0.0)) fill="#1d4f91" stroke="#0b0c0c" stroke-width="1" {}
                    text x=(x + (col_w - 6.0) / 2.0) y=(y(d.total) - 4.0) font-size="11" fill="#0b0c0c" text-anchor="middle" { (d.total) }
                    @if (days.len() - 1 - i).is_multiple_of(7) {
                        text x=(x + (col_w - 6.0) / 2.0) y=(top + chart_h + 16.0) font-size="11" fill="#0b0c0c" text-anchor="middle" { (d.day.get(5..).unwrap_or(&d.day)) }
                    }
                }
            }
            figcaption { "Each column is one day (month and day below every seventh, the last is the newest), its height and the number above it the findings open when the day ended (midnight UTC). " (desc) }
        }
        details {
            summary { "The same, day by day" }
            div class="table-wrap" {
                table {
                    caption class="visually-hidden" { "Findings open at the end of each day" }
                    thead { tr { th scope="col" { "Day" } th scope="col" { "Findings" } th scope="col" { "Of which" } } }
                    tbody {
                        @for d in days.iter().rev() {
                            tr {
                                td { (d.day) }
                                td { (d.total) }
                                td { (d.by_rule.iter().map(|(r, n)| format!("{n} {}", rule_words(r))).collect::<Vec<_>>().join(", ")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use careledger_api::wire::FindingsDay;

    fn day(day: &str, by_rule: &[(&str, u32)]) -> FindingsDay {
        FindingsDay {
            day: day.into(),
            total: by_rule.iter().map(|(_, n)| n).sum(),
            by_rule: by_rule.iter().map(|(r, n)| (r.to_string(), *n)).collect(),
        }
    }

    #[test]
    fn every_rule_has_words_of_its_own() {
        for rule in careledger_care::findings::Rule::ALL {
            assert_ne!(rule_words(rule.id()), "other", "{rule:?}");
        }
    }

    #[test]
    fn the_findings_chart_draws_each_day_and_tables_the_same() {
        let daily = FindingsDaily {
            days: vec![
                day(
                    "2026-11-29",
                    &[("R8-no-discussion", 3), ("R3-no-paper-in-home", 1)],
                ),
                day("2026-11-30", &[("R8-no-discussion", 1)]),
                day("2026-12-01", &[]),
            ],
        };
        let s = findings_chart(&daily).into_string();
        assert!(s.contains("Findings open at the end of each day from 2026-11-29 to 2026-12-01: 4 at the start, 0 at the end, at most 4 (on 2026-11-29)"), "{s}");
        assert_eq!(s.matches("<rect").count(), 3, "a column per day");
        assert!(s.contains("<td>2026-11-29</td><td>4</td><td>1 no paper copy in the home, 3 no choices discussion</td>"), "{s}");
        assert!(s.contains("<td>2026-12-01</td><td>0</td><td></td>"), "{s}");
        // Newest first in the table, oldest first in the chart.
        assert!(s.find("<td>2026-12-01</td>") < s.find("<td>2026-11-29</td>"));
        // Only the newest days are drawn.
        let many = FindingsDaily {
            days: (0..40)
                .map(|i| {
                    day(
                        &format!("2026-10-{:02}", i % 28 + 1),
                        &[("R8-no-discussion", i)],
                    )
                })
                .collect(),
        };
        let s = findings_chart(&many).into_string();
        assert_eq!(s.matches("<rect").count(), FINDINGS_DAYS_DRAWN);
        assert!(
            !s.contains("<td>9</td>"),
            "the tenth oldest is not among the newest 30"
        );
        assert!(s.contains("<td>10</td>"));
    }

    #[test]
    fn no_day_yet_says_when_the_chart_starts() {
        let s = findings_chart(&FindingsDaily { days: vec![] }).into_string();
        assert!(s.contains("starts once a day has ended"));
        assert!(!s.contains("<svg"));
    }
}
