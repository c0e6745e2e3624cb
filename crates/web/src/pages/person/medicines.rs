//! The MAR: the person, allergies, current medicines with a form per dose, and the doses recorded.

use super::*;

/// What a care worker entered for one medicine, to show again with its errors.
#[derive(Default)]
struct DoseForm {
    medicine: String,
    outcome: String,
    dose: String,
    reason: String,
}

fn medicines_markup(
    ctx: &Ctx,
    id: &str,
    g: &Granted<wire::Medicines>,
    errors: &Errors,
    entered: &DoseForm,
    shown: &Shown,
) -> Markup {
    let m = &g.data;
    let mine = own(ctx, id);
    let may_give = matches!(
        ctx.who.role,
        Role::CareWorker | Role::Coordinator | Role::RegisteredManager
    );
    html! {
        (record_header(ctx, id, "medicines", g.ais_flag.as_deref(), g.flagged))
        h1 { @if mine { "My medicines" } @else { "Medicines (MAR)" } }
        (recorded_notice(shown, "The dose was recorded"))
        @if may_give { p { a href={ "/people/" (id) "/from-paper" } class="button secondary" { "Add doses from a paper MAR after an outage" } } }
        dl class="summary" {
            dt { "Name" } dd { (m.name) }
            dt { "Date of birth" } dd { (layout::date(m.date_of_birth.0)) }
            dt { "NHS number" } dd { (m.nhs_number.as_deref().unwrap_or("Not recorded")) }
            dt { "GP practice" } dd { (m.gp_practice) }
        }
        div class="ais" role="note" {
            strong { (say(ctx, "Allergies: ", "Things that make me ill (allergies): ")) }
            @if m.allergies.is_empty() { (say(ctx, "None known", "None that we know of")) } @else { (m.allergies.join(", ")) }
        }
        @let active: Vec<&wire::Medicine> = m.medicines.iter().filter(|x| x.stopped.is_none()).collect();
        h2 { "Current medicines" }
        @if active.is_empty() { p { "No current medicines." } }
        @for med in &active {
            @let d = &med.details.0;
            @let mid = &med.medicine_id;
            section class="medicine" aria-labelledby={ "med-" (mid) } {
                h3 id={ "med-" (mid) } { (d.name) " " (d.strength) " " (d.formulation) }
                dl class="summary" {
                    dt { "Dose" } dd { (d.dose) }
                    dt { "Route" } dd { (d.route) }
                    dt { "When" } dd { (d.frequency) @if d.as_required { " (as needed)" } }
                    dt { "At least" } dd { (d.min_interval_minutes / 60) " hours " (d.min_interval_minutes % 60) " minutes between doses" }
                    dt { "Last given" } dd { @if let Some(l) = &med.last_given { (time_el(&l.occurred_at)) } @else { "Not yet given" } }
                    @if let Some(r) = d.stop_or_review_date { dt { "Review or stop" } dd { (layout::date(r)) } }
                }
                @if may_give {
                    @let this = entered.medicine == *mid;
                    @let none = Errors::default();
                    @let errs = if this { errors } else { &none };
                    @let outcome_id = format!("outcome-{mid}");
                    @let dose_id = format!("dose-{mid}");
                    @let reason_id = format!("reason-{mid}");
                    form method="post" action={ "/people/" (id) "/medicines/" (mid) } novalidate {
                        (layout::token(ctx))
                        (choice_group(errs, &outcome_id, "Record this dose", "radio",
                            &[("Given", "Given"), ("Refused", "Refused by the person"), ("Omitted", "Not given (omitted)"), ("Withheld", "Withheld")],
                            &[if this { entered.outcome.as_str() } else { "" }]))
                        (text_field(errs, &dose_id, "Dose given", Some("For a dose given, as on the label, such as “two tablets”."), if this { &entered.dose } else { "" }, "text", None))
                        (text_field(errs, &reason_id, "Reason, if not given", None, if this { &entered.reason } else { "" }, "text", None))
                        button type="submit" class="button" { "Record dose of " (d.name) }
                    }
                }
            }
        }
        h2 { "Doses recorded" }
        @if m.administrations.items.is_empty() { p { "None yet." } } @else {
            div class="table-wrap" {
                table {
                    caption class="visually-hidden" { "Doses given and not given" }
                    thead { tr { th scope="col" { "When" } th scope="col" { "Medicine" } th scope="col" { "Outcome" } th scope="col" { "By" } } }
                    tbody {
                        @for a in m.administrations.items.iter().rev().take(50) {
                            @let e = entry_of(a);
                            @let p = e.payload;
                            tr {
                                td { (time_el(&a.occurred_at)) @if e.paper.is_some() { br; span class="muted" { "From paper" } } }
                                td { (p.get("medicine_id").and_then(|v| v.as_str()).unwrap_or("")) }
                                td { (p.get("outcome").and_then(|v| v.as_str()).unwrap_or("")) @if let Some(r) = p.get("reason").and_then(|v| v.as_str()) { ": " (r) } }
                                td { (a.actor) }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub async fn medicines(
    State(app): State<App>,
    Viewer(ctx): Viewer,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
) -> Response {
    render_medicines(
        &app,
        &ctx,
        &id,
        &Errors::default(),
        &DoseForm::default(),
        &shown,
    )
    .await
}

async fn render_medicines(
    app: &App,
    ctx: &Ctx,
    id: &str,
    errors: &Errors,
    entered: &DoseForm,
    shown: &Shown,
) -> Response {
    let titles = ("My medicines", "Medicines");
    let links = print_links(app, ctx, id, "mar", "the MAR chart");
    section(
        app,
        ctx,
        id,
        &[Category::Medicines],
        titles,
        errors,
        latest_mar,
        |g| html! { (medicines_markup(ctx, id, g, errors, entered, shown)) (links) },
    )
    .await
}

/// The MAR with its latest 200 doses (the section pages forward, so the last pages are
/// read).
fn latest_mar(
    a: &App,
    d: &careledger_api::blocking::Deadline,
    p: &str,
) -> Result<(wire::Medicines, u32), ApiError> {
    let (mut mar, n) = views::medicines(a, d, p, &from(None, 1000))?;
    let mut first = Some((
        std::mem::take(&mut mar.administrations.items),
        mar.administrations.next_after.take(),
    ));
    mar.administrations.items = last_items(200, |after| match first.take() {
        Some(page) => Ok(page),
        None => {
            let (more, _) = views::medicines(a, d, p, &from(after, 1000))?;
            Ok((more.administrations.items, more.administrations.next_after))
        }
    })?;
    Ok((mar, n))
}

pub async fn record_dose(
    State(app): State<App>,
    Path((id, medicine)): Path<(String, String)>,
    Posted(ctx, form): Posted,
) -> Response {
    let outcome_id = format!("outcome-{medicine}");
    let dose_id = format!("dose-{medicine}");
    let reason_id = format!("reason-{medicine}");
    let entered = DoseForm {
        medicine: medicine.clone(),
        outcome: form.get(&outcome_id).to_string(),
        dose: form.get(&dose_id).to_string(),
        reason: form.get(&reason_id).to_string(),
    };
    let mut errors = Errors::default();
    let outcome = match entered.outcome.as_str() {
        "Given" => Some(AdministrationOutcome::Given),
        "Refused" => Some(AdministrationOutcome::Refused),
        "Omitted" => Some(AdministrationOutcome::Omitted),
        "Withheld" => Some(AdministrationOutcome::Withheld),
        _ => {
            errors.add(&outcome_id, "Select whether the dose was given");
            None
        }
    };
    if outcome == Some(AdministrationOutcome::Given) && entered.dose.is_empty() {
        errors.add(&dose_id, "Enter the dose given");
    }
    if outcome.is_some_and(|o| o != AdministrationOutcome::Given) && entered.reason.is_empty() {
        errors.add(&reason_id, "Enter why the dose was not given");
    }
    if let (true, Some(outcome)) = (errors.is_empty(), outcome) {
        let given = outcome == AdministrationOutcome::Given;
        let event = CareEvent::AdministrationRecorded(AdministrationRecorded {
            medicine_id: medicine.clone(),
            outcome,
            dose_given: given.then(|| entered.dose.clone()),
            reason: (!given).then(|| entered.reason.clone()),
            witnessed_by: None,
        });
        match record(&app, &ctx.who, Some(&id), None, event, None).await {
            Ok(r) => {
                return Redirect::to(&format!(
                    "/people/{id}/medicines?recorded={}#med-{medicine}",
                    r.seq
                ))
                .into_response()
            }
            Err(e) if is_form_error(&e) => {
                let field = match field_of(&e, "outcome").as_str() {
                    "dose_given" => dose_id.clone(),
                    "reason" => reason_id.clone(),
                    _ => outcome_id.clone(),
                };
                errors.add(&field, e.detail);
            }
            Err(e) => return error_page(Some(&ctx), &e),
        }
    }
    render_medicines(&app, &ctx, &id, &errors, &entered, &Shown::default()).await
}
