//! Information choices: the last choices discussion, and recording one.

use super::*;

const OPTIONS: &[(InfoOption, &str, &str)] = &[
    (InfoOption::Paper, "Paper", "Paper copies kept in the home"),
    (InfoOption::SecureEmail, "SecureEmail", "Secure email"),
    (InfoOption::Portal, "Portal", "This website"),
    (
        InfoOption::AccessibleFormat,
        "AccessibleFormat",
        "An accessible format (large print, easy read, braille, audio)",
    ),
];

fn option_words(o: InfoOption) -> &'static str {
    OPTIONS
        .iter()
        .find(|(x, _, _)| *x == o)
        .map_or("", |(_, _, w)| w)
}

#[derive(Default)]
struct ChoicesForm {
    present: String,
    explained: Vec<String>,
    chosen: Vec<String>,
    free: bool,
    notes: String,
}

fn may_record_choices(ctx: &Ctx) -> bool {
    matches!(ctx.who.role, Role::Coordinator | Role::RegisteredManager)
}

fn choices_markup(
    ctx: &Ctx,
    id: &str,
    g: &Granted<wire::Consent>,
    errors: &Errors,
    entered: &ChoicesForm,
    shown: &Shown,
) -> Markup {
    let c = &g.data;
    let mine = own(ctx, id);
    let opts: Vec<(&str, &str)> = OPTIONS.iter().map(|(_, v, l)| (*v, *l)).collect();
    html! {
        (record_header(ctx, id, "choices", g.ais_flag.as_deref(), g.flagged))
        h1 { @if mine { "My information choices" } @else { "Information choices" } }
        (recorded_notice(shown, "The choices discussion was recorded"))
        @match &c.last_discussion {
            Some(d) => {
                p class="lede" { "Last talked about " (time_el(&d.held.occurred_at)) "." }
                h2 { @if mine { "What you chose" } @else { "What was chosen" } }
                ul { @for o in &d.chosen { li { (option_words(o.0)) } } }
                p { @if d.told_access_is_free { "Told that seeing the record is free of charge." } @else { "Not recorded as told that access is free of charge." } }
                @if let Some(n) = &d.notes { @if !n.is_empty() { h3 { "Notes" } p { (n) } } }
            }
            None => { p { @if mine { "Nobody has talked with you about your choices yet. Ask your care manager." } @else { "No choices discussion has been recorded." } } }
        }
        @if !c.findings.is_empty() {
            h2 { "Needs doing" }
            ul { @for f in &c.findings { li { (f.message) } } }
        }
        @if may_record_choices(ctx) {
            h2 { "Record a choices discussion" }
            form method="post" novalidate {
                (layout::token(ctx))
                (text_area(errors, "present", "Who was present", Some("One per line, with their relationship: “Mary Jones (daughter)”."), &entered.present))
                (choice_group(errors, "explained", "Options explained", "checkbox", &opts, &entered.explained.iter().map(String::as_str).collect::<Vec<_>>()))
                (choice_group(errors, "chosen", "What the person chose", "checkbox", &opts, &entered.chosen.iter().map(String::as_str).collect::<Vec<_>>()))
                (choice_group(errors, "free", "Access is free", "checkbox", &[("yes", "The person was told that seeing their record is free of charge")], if entered.free { &["yes"] } else { &[] }))
                (text_area(errors, "notes", "Notes", None, &entered.notes))
                button type="submit" class="button" { "Record discussion" }
            }
        }
    }
}

async fn render_choices(
    app: &App,
    ctx: &Ctx,
    id: &str,
    errors: &Errors,
    entered: &ChoicesForm,
    shown: &Shown,
) -> Response {
    let g = match read(app, ctx, id, &[Category::ConsentRecords], |a, d, p| {
        views::consent(a, d, p, &PAGE)
    })
    .await
    {
        Ok(g) => g,
        Err(r) => return r,
    };
    let mine = own(ctx, id);
    ok(
        ctx,
        if mine {
            "My information choices"
        } else {
            "Information choices"
        },
        errors,
        choices_markup(ctx, id, &g, errors, entered, shown),
    )
}

pub async fn choices(
    State(app): State<App>,
    Viewer(ctx): Viewer,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
) -> Response {
    render_choices(
        &app,
        &ctx,
        &id,
        &Errors::default(),
        &ChoicesForm::default(),
        &shown,
    )
    .await
}

fn parse_options(values: &[String]) -> Vec<InfoOption> {
    OPTIONS
        .iter()
        .filter(|(_, v, _)| values.iter().any(|x| x == v))
        .map(|(o, _, _)| *o)
        .collect()
}

pub async fn record_choices(
    State(app): State<App>,
    Path(id): Path<String>,
    Posted(ctx, form): Posted,
) -> Response {
    let entered = ChoicesForm {
        present: form.get("present").to_string(),
        explained: form
            .all("explained")
            .into_iter()
            .map(str::to_string)
            .collect(),
        chosen: form.all("chosen").into_iter().map(str::to_string).collect(),
        free: form.get("free") == "yes",
        notes: form.get("notes").to_string(),
    };
    let mut errors = Errors::default();
    let present: Vec<String> = entered
        .present
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if present.is_empty() {
        errors.add("present", "Enter who was present");
    }
    let explained = parse_options(&entered.explained);
    if explained.is_empty() {
        errors.add("explained", "Select the options that were explained");
    }
    let chosen = parse_options(&entered.chosen);
    if chosen.is_empty() {
        errors.add("chosen", "Select what the person chose");
    }
    if errors.is_empty() {
        let event = CareEvent::ChoicesDiscussed(ChoicesDiscussed {
            present,
            options_explained: explained,
            chosen,
            told_access_is_free: entered.free,
            notes: entered.notes.clone(),
        });
        match record(&app, &ctx.who, Some(&id), None, event, None).await {
            Ok(r) => {
                return Redirect::to(&format!("/people/{id}/choices?recorded={}", r.seq))
                    .into_response()
            }
            Err(e) if is_form_error(&e) => {
                let f = match field_of(&e, "present").as_str() {
                    "options_explained" => "explained",
                    "chosen" => "chosen",
                    "notes" => "notes",
                    _ => "present",
                };
                errors.add(f, e.detail);
            }
            Err(e) => return error_page(Some(&ctx), &e),
        }
    }
    render_choices(&app, &ctx, &id, &errors, &entered, &Shown::default()).await
}
