//! The page shell and the components every page is made of: one layout (language, title,
//! skip link, header with the signed-in user and sign-out, main landmark), the error
//! summary and fields of the GOV.UK Design System's form pattern, tables, and times in
//! UK local time.

use maud::{html, Markup, DOCTYPE};

use crate::Ctx;

/// How a person asked for the pages to be shown (the Accessible Information Standard).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    Standard,
    /// At least 18 px base text and 1.5 line spacing.
    Large,
    /// Short sentences and plain headings, larger text.
    Easy,
    /// Black on white, with strong outlines.
    Contrast,
}

impl Display {
    pub const ALL: [Display; 4] = [
        Display::Standard,
        Display::Large,
        Display::Easy,
        Display::Contrast,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Display::Standard => "standard",
            Display::Large => "large",
            Display::Easy => "easy",
            Display::Contrast => "contrast",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Display::Standard => "Standard",
            Display::Large => "Large print",
            Display::Easy => "Easy read",
            Display::Contrast => "High contrast",
        }
    }

    pub fn parse(text: &str) -> Option<Display> {
        Display::ALL.into_iter().find(|d| d.id() == text)
    }
}

/// Errors of a form: (field id, message), in the order of the fields.
#[derive(Debug, Default, Clone)]
pub struct Errors(pub Vec<(String, String)>);

impl Errors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push((field.to_string(), message.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn of(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }
}

/// A whole page. `title` is what the page is (the browser's title says it first, then
/// the service); with errors the title starts "Error:", as the GOV.UK pattern asks.
pub fn page(ctx: Option<&Ctx>, title: &str, errors: &Errors, body: Markup) -> Markup {
    let display = ctx.map_or(Display::Standard, |c| c.display);
    let full_title = if errors.is_empty() {
        format!("{title} – careledger")
    } else {
        format!("Error: {title} – careledger")
    };
    html! {
        (DOCTYPE)
        html lang="en-GB" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (full_title) }
                link rel="stylesheet" href=(crate::assets::CSS_PATH);
            }
            body class={ "display-" (display.id()) } {
                a class="skip-link" href="#main" { "Skip to main content" }
                header class="site-header" {
                    div class="wrap header-row" {
                        a class="service-name" href="/" { "careledger" }
                        @if let Some(ctx) = ctx {
                            p class="signed-in" {
                                span class="who" { (ctx.name) }
                                ", " (ctx.who.role.name())
                            }
                            form method="post" action="/sign-out" class="sign-out" {
                                (token(ctx))
                                button type="submit" class="link-button" { "Sign out" }
                            }
                        }
                    }
                    @if let Some(ctx) = ctx {
                        (crate::pages::home::nav(ctx))
                    }
                }
                main id="main" class="wrap" tabindex="-1" {
                    (error_summary(errors))
                    (body)
                }
                footer class="site-footer" {
                    div class="wrap" {
                        @if let Some(ctx) = ctx {
                            (display_switch(ctx))
                        }
                        p { "Seeing your own record is free of charge. Every look at a record is recorded, and the person can see who looked." }
                    }
                }
            }
        }
    }
}

/// The hidden form token every POST carries.
pub fn token(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="_token" value=(ctx.session.form_token); }
}

/// The display choice, on every page, remembered for the user.
fn display_switch(ctx: &Ctx) -> Markup {
    html! {
        form method="post" action="/display" class="display-switch" {
            (token(ctx))
            input type="hidden" name="back" value=(ctx.path);
            label for="display" { "Show pages in" }
            select id="display" name="display" {
                @for d in Display::ALL {
                    option value=(d.id()) selected[d == ctx.display] { (d.label()) }
                }
            }
            button type="submit" class="button secondary" { "Change" }
        }
    }
}

/// The GOV.UK error summary: a heading and a link to each field at fault.
pub fn error_summary(errors: &Errors) -> Markup {
    if errors.is_empty() {
        return html! {};
    }
    html! {
        div class="error-summary" role="alert" aria-labelledby="error-summary-title" tabindex="-1" {
            h2 id="error-summary-title" { "There is a problem" }
            ul {
                @for (field, message) in &errors.0 {
                    li { a href={ "#" (field) } { (message) } }
                }
            }
        }
    }
}

/// The message under a field's label when it is at fault.
fn field_error(errors: &Errors, id: &str) -> Markup {
    match errors.of(id) {
        Some(m) => html! {
            p class="error-message" id={ (id) "-error" } {
                span class="visually-hidden" { "Error: " } (m)
            }
        },
        None => html! {},
    }
}

fn described_by(errors: &Errors, id: &str, hint: Option<&str>) -> Option<String> {
    let mut ids = Vec::new();
    if hint.is_some() {
        ids.push(format!("{id}-hint"));
    }
    if errors.of(id).is_some() {
        ids.push(format!("{id}-error"));
    }
    (!ids.is_empty()).then(|| ids.join(" "))
}

/// A labelled text input, with its hint and error.
pub fn text_field(
    errors: &Errors,
    id: &str,
    label: &str,
    hint: Option<&str>,
    value: &str,
    kind: &str,
    autocomplete: Option<&str>,
) -> Markup {
    let bad = errors.of(id).is_some();
    let control = html! {
        input id=(id) name=(id) type=(kind) value=(value)
            autocomplete=[autocomplete]
            aria-describedby=[described_by(errors, id, hint)]
            aria-invalid=[bad.then_some("true")];
    };
    field(errors, id, label, hint, control)
}

/// A field's frame: its label, hint and error message around its control, marked when
/// at fault (the GOV.UK pattern).
fn field(errors: &Errors, id: &str, label: &str, hint: Option<&str>, control: Markup) -> Markup {
    let bad = errors.of(id).is_some();
    html! {
        div class={ "field" @if bad { " field-error" } } {
            label for=(id) { (label) }
            @if let Some(h) = hint { p class="hint" id={ (id) "-hint" } { (h) } }
            (field_error(errors, id))
            (control)
        }
    }
}

/// A labelled textarea, with its hint and error.
pub fn text_area(
    errors: &Errors,
    id: &str,
    label: &str,
    hint: Option<&str>,
    value: &str,
) -> Markup {
    let bad = errors.of(id).is_some();
    let control = html! {
        textarea id=(id) name=(id) rows="4"
            aria-describedby=[described_by(errors, id, hint)]
            aria-invalid=[bad.then_some("true")] { (value) }
    };
    field(errors, id, label, hint, control)
}

/// A group of radios or checkboxes in a fieldset with a legend.
pub fn choices(
    errors: &Errors,
    id: &str,
    legend: &str,
    kind: &str,
    options: &[(&str, &str)],
    chosen: &[&str],
) -> Markup {
    let bad = errors.of(id).is_some();
    html! {
        div class={ "field" @if bad { " field-error" } } id=(id) {
            fieldset aria-describedby=[described_by(errors, id, None)] {
                legend { (legend) }
                (field_error(errors, id))
                @for (i, (value, label)) in options.iter().enumerate() {
                    @let input_id = format!("{id}-{i}");
                    div class="choice" {
                        input type=(kind) id=(input_id) name=(id) value=(value)
                            checked[chosen.contains(value)];
                        label for=(input_id) { (label) }
                    }
                }
            }
        }
    }
}

/// A confirmation shown after a form was recorded (POST, then redirect, then this GET).
pub fn notice(text: &str) -> Markup {
    html! {
        div class="notice" role="status" { p { (text) } }
    }
}

/// A page that says what went wrong, for a refused or failed request.
pub fn problem(ctx: Option<&Ctx>, title: &str, detail: &str) -> Markup {
    page(
        ctx,
        title,
        &Errors::default(),
        html! {
            h1 { (title) }
            p { (detail) }
            p { a href="/" { "Go to your home page" } }
        },
    )
}

// ------------------------------------------------------------------ times, in UK time

/// UK local time for a UTC instant (GMT, or BST): `careledger_care::uk_time::local`.
pub fn uk(us: i64) -> chrono::NaiveDateTime {
    careledger_care::uk_time::local(us)
}

/// The UTC instant of a UK local date (`2026-12-02`) and time (`09:14`), as a date and a
/// time field give them. In the hour the clocks go back, which repeats, the first (BST)
/// is meant; in the hour they go forward, which does not exist, the time is refused.
pub fn from_uk(date: &str, time: &str) -> Result<i64, &'static str> {
    let d = chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
        .map_err(|_| "Enter the date, for example 2 12 2026")?;
    let t = chrono::NaiveTime::parse_from_str(time.trim(), "%H:%M")
        .map_err(|_| "Enter the time as hours and minutes, for example 09:30")?;
    careledger_care::uk_time::instant(d.and_time(t))
        .ok_or("That time did not exist in the UK: the clocks went forward an hour")
}

/// "Tue 2 Dec 09:14", in UK time.
pub fn when(us: i64) -> String {
    uk(us).format("%a %-d %b %H:%M").to_string()
}

/// "2 December 2026".
pub fn date(d: chrono::NaiveDate) -> String {
    d.format("%-d %B %Y").to_string()
}

/// The microseconds of an RFC 3339 time the read models carry.
pub fn us_of(time: &careledger_api::wire::Time) -> i64 {
    chrono::DateTime::parse_from_rfc3339(&time.0).map_or(0, |t| t.timestamp_micros())
}

/// A `<time>` element, machine-readable and in words.
pub fn time_el(time: &careledger_api::wire::Time) -> Markup {
    html! { time datetime=(time.0) { (when(us_of(time))) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uk_time_follows_british_summer_time() {
        let at = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .timestamp_micros()
        };
        // Winter: GMT.
        assert_eq!(when(at("2026-12-01T09:14:00Z")), "Tue 1 Dec 09:14");
        // Summer: BST, an hour ahead.
        assert_eq!(when(at("2026-07-01T09:14:00Z")), "Wed 1 Jul 10:14");
        // The changes: 29 March 2026 and 25 October 2026, at 01:00 UTC.
        assert_eq!(when(at("2026-03-29T00:59:00Z")), "Sun 29 Mar 00:59");
        assert_eq!(when(at("2026-03-29T01:00:00Z")), "Sun 29 Mar 02:00");
        assert_eq!(when(at("2026-10-25T00:59:00Z")), "Sun 25 Oct 01:59");
        assert_eq!(when(at("2026-10-25T01:00:00Z")), "Sun 25 Oct 01:00");
    }

    #[test]
    fn uk_times_entered_become_the_instants_they_name() {
        let at = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .timestamp_micros()
        };
        assert_eq!(
            from_uk("2026-12-02", "09:14"),
            Ok(at("2026-12-02T09:14:00Z"))
        );
        assert_eq!(
            from_uk("2026-07-01", "10:14"),
            Ok(at("2026-07-01T09:14:00Z"))
        );
        // 01:30 on 25 October 2026 happens twice; the first is BST.
        assert_eq!(
            from_uk("2026-10-25", "01:30"),
            Ok(at("2026-10-25T00:30:00Z"))
        );
        // 01:30 on 29 March 2026 never happened.
        assert!(from_uk("2026-03-29", "01:30").is_err());
        assert!(from_uk("2 Dec", "09:14").unwrap_err().contains("date"));
        assert!(from_uk("2026-12-02", "9am").unwrap_err().contains("time"));
        // Round trip through what the pages show.
        let us = from_uk("2026-12-02", "18:05").unwrap();
        assert_eq!(when(us), "Wed 2 Dec 18:05");
    }

    #[test]
    fn text_is_escaped() {
        let errors = Errors::default();
        let m = text_area(&errors, "text", "Note", None, "<script>alert(1)</script>");
        let s = m.into_string();
        assert!(s.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{s}");
        assert!(!s.contains("<script>"));
    }

    #[test]
    fn a_field_at_fault_says_so_and_points_to_its_message() {
        let mut errors = Errors::default();
        errors.add("reason", "Enter why the dose was not given");
        let s = text_field(&errors, "reason", "Reason", None, "", "text", None).into_string();
        assert!(s.contains(r#"aria-describedby="reason-error""#), "{s}");
        assert!(s.contains(r#"aria-invalid="true""#));
        let summary = error_summary(&errors).into_string();
        assert!(summary.contains("href=\"#reason\""), "{summary}");
    }
}
