//! Add from paper: after an outage, what a care worker wrote on paper (a diary note, a
//! dose given or not given on the paper MAR) goes into the record at the time it
//! happened, naming the outage and where the paper original is kept. It is recorded as a
//! `outage.back_entered` event holding the entry, checked by the care rules as if it were
//! recorded then (the minimum interval between doses included), and only inside an
//! outage that has ended.

use super::*;
use crate::pages::outages;
use careledger_care::event::BackEntered;
use careledger_care::policy;

/// The ended outages the form offers, newest first.
const OUTAGES_OFFERED: usize = 5;

/// What the form shows: the ended outages and the person's current medicines (id, name).
pub(super) struct Paper {
    outages: Vec<(String, String)>,
    medicines: Vec<(String, String)>,
}

fn backenters(ctx: &Ctx) -> bool {
    policy::may_record(ctx.who.role, "outage.back_entered")
}

const KINDS: &[(&str, &str)] = &[
    ("note", "A diary note"),
    ("dose", "A dose from the paper MAR"),
];

const OUTCOMES: &[(&str, &str)] = &[
    ("Given", "Given"),
    ("Refused", "Refused by the person"),
    ("Omitted", "Not given (omitted)"),
    ("Withheld", "Withheld"),
];

fn markup(ctx: &Ctx, id: &str, g: &Granted<Paper>, errors: &Errors, f: &Form) -> Markup {
    let p = &g.data;
    let outage_options: Vec<(&str, &str)> = p
        .outages
        .iter()
        .map(|(v, l)| (v.as_str(), l.as_str()))
        .collect();
    let medicine_options: Vec<(&str, &str)> = p
        .medicines
        .iter()
        .map(|(v, l)| (v.as_str(), l.as_str()))
        .collect();
    let chosen_outage = if f.get("outage").is_empty() {
        p.outages.first().map_or("", |(v, _)| v.as_str())
    } else {
        f.get("outage")
    };
    html! {
        (record_header(ctx, id, "from-paper", g.ais_flag.as_deref(), g.flagged))
        h1 { "Add from paper" }
        p { "After an outage, add what was written on paper, one entry at a time, at the time it happened. Keep the paper original and say where it is." }
        @if p.outages.is_empty() {
            p { "There is no ended outage to add entries for. The registered manager declares an outage on the " a href="/outages" { "Outages" } " page, and ends it when systems are back." }
        } @else {
            form method="post" novalidate {
                (layout::token(ctx))
                (choice_group(errors, "outage", "Which outage", "radio", &outage_options, &[chosen_outage]))
                (choice_group(errors, "kind", "What the paper records", "radio", KINDS, &[f.get("kind")]))
                (text_field(errors, "date", "Date it happened", None, f.get("date"), "date", None))
                (text_field(errors, "time", "Time it happened (UK time)", Some("As written on the paper, for example 08:15."), f.get("time"), "time", None))
                (text_field(errors, "paper", "Where the paper original is", Some("For example: diary sheet 14, in the folder in the kitchen."), f.get("paper"), "text", None))
                h2 { "For a diary note" }
                (text_area(errors, "text", "The note, as written", None, f.get("text")))
                h2 { "For a dose" }
                @if medicine_options.is_empty() {
                    p { "No medicine is on this person's MAR." }
                } @else {
                    (choice_group(errors, "medicine", "Medicine", "radio", &medicine_options, &[f.get("medicine")]))
                    (choice_group(errors, "outcome", "What happened", "radio", OUTCOMES, &[f.get("outcome")]))
                    (text_field(errors, "dose", "Dose given", Some("As on the paper MAR, such as “two tablets”."), f.get("dose"), "text", None))
                    (text_field(errors, "reason", "Reason, if not given", None, f.get("reason"), "text", None))
                }
                button type="submit" class="button" { "Add to the record" }
            }
        }
    }
}

async fn render(app: &App, ctx: &Ctx, id: &str, errors: &Errors, f: &Form) -> Response {
    if !backenters(ctx) {
        return error_page(
            Some(ctx),
            &ApiError::forbidden(format!(
                "{} does not add entries from paper",
                ctx.who.role.with_article()
            )),
        );
    }
    // One gate read: the MAR's medicines, which the form offers.
    section(
        app,
        ctx,
        id,
        &[Category::Medicines],
        ("Add from paper", "Add from paper"),
        errors,
        |a, d, p| {
            let (mar, _) = views::medicines(a, d, p, &from(None, 1))?;
            let medicines: Vec<(String, String)> = mar
                .medicines
                .into_iter()
                .filter(|m| m.stopped.is_none())
                .map(|m| (m.medicine_id, m.details.0.name))
                .collect();
            let outages = outages::recent(a, outages::OUTAGES_SHOWN)?
                .into_iter()
                .filter(|(_, o)| o.ended.is_some())
                .take(OUTAGES_OFFERED)
                .map(|(oid, o)| (oid, outages::describe(&o)))
                .collect();
            let n = medicines.len() as u32;
            Ok((Paper { outages, medicines }, n))
        },
        |g| markup(ctx, id, g, errors, f),
    )
    .await
}

pub async fn from_paper(
    State(app): State<App>,
    Viewer(ctx): Viewer,
    Path(id): Path<String>,
) -> Response {
    render(&app, &ctx, &id, &Errors::default(), &Form::default()).await
}

/// The entry the form describes, or the errors by field.
fn entry(f: &Form, errors: &mut Errors) -> Option<CareEvent> {
    match f.get("kind") {
        "note" => {
            if f.get("text").trim().is_empty() {
                errors.add("text", "Enter the note as written on the paper");
                return None;
            }
            Some(CareEvent::DiaryNote(DiaryNote {
                author: Author::Staff,
                text: f.get("text").to_string(),
            }))
        }
        "dose" => {
            if f.get("medicine").is_empty() {
                errors.add("medicine", "Select the medicine");
            }
            let outcome = match f.get("outcome") {
                "Given" => Some(AdministrationOutcome::Given),
                "Refused" => Some(AdministrationOutcome::Refused),
                "Omitted" => Some(AdministrationOutcome::Omitted),
                "Withheld" => Some(AdministrationOutcome::Withheld),
                _ => {
                    errors.add("outcome", "Select whether the dose was given");
                    None
                }
            }?;
            let given = outcome == AdministrationOutcome::Given;
            if given && f.get("dose").trim().is_empty() {
                errors.add("dose", "Enter the dose given");
            }
            if !given && f.get("reason").trim().is_empty() {
                errors.add("reason", "Enter why the dose was not given");
            }
            if !errors.is_empty() {
                return None;
            }
            Some(CareEvent::AdministrationRecorded(AdministrationRecorded {
                medicine_id: f.get("medicine").to_string(),
                outcome,
                dose_given: given.then(|| f.get("dose").to_string()),
                reason: (!given).then(|| f.get("reason").to_string()),
                witnessed_by: None,
            }))
        }
        _ => {
            errors.add("kind", "Select what the paper records");
            None
        }
    }
}

pub async fn add_from_paper(
    State(app): State<App>,
    Path(id): Path<String>,
    Posted(ctx, f): Posted,
) -> Response {
    if !backenters(&ctx) {
        return render(&app, &ctx, &id, &Errors::default(), &f).await;
    }
    let mut errors = Errors::default();
    if f.get("outage").is_empty() {
        errors.add("outage", "Select the outage the paper was written in");
    }
    if f.get("paper").trim().is_empty() {
        errors.add("paper", "Enter where the paper original is kept");
    }
    let at = match layout::from_uk(f.get("date"), f.get("time")) {
        Ok(at) => Some(at),
        Err(why) => {
            errors.add(if why.contains("date") { "date" } else { "time" }, why);
            None
        }
    };
    let entry = entry(&f, &mut errors);
    let (true, Some(at), Some(entry)) = (errors.is_empty(), at, entry) else {
        return render(&app, &ctx, &id, &errors, &f).await;
    };
    let is_note = matches!(entry, CareEvent::DiaryNote(_));
    let event = CareEvent::BackEntered(BackEntered {
        outage_id: f.get("outage").to_string(),
        paper_reference: f.get("paper").trim().to_string(),
        entry: Box::new(entry),
    });
    match record(&app, &ctx.who, Some(&id), Some(at), event, None).await {
        Ok(r) => {
            let section = if is_note { "daily-notes" } else { "medicines" };
            Redirect::to(&format!("/people/{id}/{section}?recorded={}", r.seq)).into_response()
        }
        Err(e) if is_form_error(&e) => {
            // The care rules judge the entry as if recorded at the time it happened: a
            // time outside the outage, or a dose too soon after the one before, is by the
            // time; the entry's own fields by theirs.
            // The entry's own fields come as `payload.entry.<Kind>.<field>`.
            let inner = e
                .field
                .as_deref()
                .and_then(|f| f.strip_prefix("payload.entry."))
                .and_then(|f| f.split('.').nth(1));
            let field = match (inner, field_of(&e, "time").as_str()) {
                (Some("text"), _) => "text",
                (Some("dose_given"), _) => "dose",
                (Some("reason"), _) => "reason",
                (Some("outcome"), _) => "outcome",
                (Some(_), _) | (None, "entry") => {
                    if is_note {
                        "text"
                    } else {
                        "medicine"
                    }
                }
                (None, "outage_id") => "outage",
                (None, "paper_reference") => "paper",
                _ => "time",
            };
            errors.add(field, e.detail);
            render(&app, &ctx, &id, &errors, &f).await
        }
        Err(e) => error_page(Some(&ctx), &e),
    }
}
