//! A person's details ("about me") and care plan, with its earlier versions.

use super::*;

pub async fn overview(
    State(app): State<App>,
    Viewer(ctx): Viewer,
    Path(id): Path<String>,
) -> Response {
    let g = match read(&app, &ctx, &id, &[Category::PersonalDetails], |a, d, p| {
        views::details(a, d, p, &PAGE)
    })
    .await
    {
        Ok(g) => g,
        Err(r) => return r,
    };
    let d = &g.data;
    let mine = own(&ctx, &id);
    let body = html! {
        (record_header(&ctx, &id, "", g.ais_flag.as_deref(), g.flagged))
        h1 { @if mine { "My record" } @else { (d.name) } }
        @if mine {
            p class="lede" { "This is your care record. You can see all of it, add your own notes, and choose who else can see it. It is free." }
        }
        dl class="summary" {
            dt { "Name" } dd { (d.name) }
            dt { "Date of birth" } dd { (layout::date(d.date_of_birth.0)) }
            dt { "NHS number" } dd { (d.nhs_number.as_deref().unwrap_or("Not recorded")) }
            dt { "Address" } dd { (d.address) }
            dt { "GP practice" } dd { (d.gp_practice) }
            dt { "Care" } dd {
                @match (&d.care_started, &d.care_ended) {
                    (_, Some(ended)) => { "Ended " (time_el(&ended.occurred_at)) }
                    (Some(started), None) => { "Receiving care since " (time_el(&started.occurred_at)) }
                    (None, None) => { "Not started" }
                }
            }
        }
        h2 { "Representatives" }
        @if d.representatives.is_empty() {
            p { "No representatives are recorded." }
        } @else {
            ul {
                @for r in &d.representatives {
                    li { (r.name) " (" (relationship(&r.relationship.0)) ")" }
                }
            }
        }
    };
    ok(
        &ctx,
        if mine { "My record" } else { "About" },
        &Errors::default(),
        body,
    )
}

fn relationship(r: &careledger_care::Relationship) -> String {
    let json = serde_json::to_value(r).ok();
    let name = json
        .as_ref()
        .and_then(|v| v.as_str())
        .unwrap_or("representative");
    match name {
        "LpaHealthWelfare" => "lasting power of attorney for health and welfare".into(),
        "CourtDeputy" => "court-appointed deputy".into(),
        other => split_words(other),
    }
}

// ------------------------------------------------------------------ care plan

pub async fn care_plan(
    State(app): State<App>,
    Viewer(ctx): Viewer,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
) -> Response {
    let wanted = Page {
        version: shown.version.filter(|v| *v > 0),
        ..PAGE
    };
    let g = match read(&app, &ctx, &id, &[Category::CarePlan], move |a, d, p| {
        views::care_plan(a, d, p, &wanted)
    })
    .await
    {
        Ok(g) => g,
        Err(r) => return r,
    };
    let plan = &g.data;
    let mine = own(&ctx, &id);
    let easy = ctx.display == Display::Easy;
    let earlier: Option<careledger_care::event::PlanSections> = plan
        .version
        .as_ref()
        .and_then(|v| v.payload.get("sections").cloned())
        .and_then(|s| serde_json::from_value(s).ok());
    let body = html! {
        (record_header(&ctx, &id, "care-plan", g.ais_flag.as_deref(), g.flagged))
        h1 { @if mine { "My care plan" } @else { "Care plan" } }
        @match (&earlier, &plan.current) {
            (Some(sections), _) => {
                p class="lede" { "An earlier version: " (shown.version.unwrap_or(0)) ". " a href={ "/people/" (id) "/care-plan" } { "See the current version" } }
                (plan_sections(sections, easy))
            }
            (None, Some(current)) => {
                p class="lede" {
                    "Version " (current.version) ", published " (time_el(&current.published.occurred_at)) "."
                    " Next review by " (layout::date(current.next_review_date.0)) "."
                }
                (plan_sections(&current.sections.0, easy))
            }
            (None, None) => { p { "No care plan has been published yet." } }
        }
        @if plan.versions.len() > 1 {
            h2 { @if easy { "Older plans" } @else { "Earlier versions" } }
            ul {
                @for v in plan.versions.iter().rev() {
                    li { a href={ "/people/" (id) "/care-plan?version=" (v.version) } { "Version " (v.version) } ", published " (time_el(&v.published.occurred_at)) }
                }
            }
        }
    };
    ok(
        &ctx,
        if mine { "My care plan" } else { "Care plan" },
        &Errors::default(),
        body,
    )
}

fn plan_sections(s: &careledger_care::event::PlanSections, easy: bool) -> Markup {
    let list = |items: &Vec<String>| {
        html! {
            @if items.is_empty() { p { "None recorded." } } @else { ul { @for i in items { li { (i) } } } }
        }
    };
    html! {
        h2 { "About me" }
        p { (s.about_me) }
        h2 { @if easy { "What I need help with" } @else { "Needs" } }
        (list(&s.needs))
        h2 { @if easy { "What I want to do" } @else { "Goals and outcomes" } }
        (list(&s.goals))
        h2 { @if easy { "What my carers will do" } @else { "Actions and support" } }
        (list(&s.actions))
        h2 { @if easy { "Things to be careful about" } @else { "Risks" } }
        (list(&s.risks))
        h2 { @if easy { "If things go wrong" } @else { "Contingency plan" } }
        p { (s.contingency_plan) }
        h2 { @if easy { "Who agreed this plan" } @else { "Agreed with" } }
        (list(&s.agreed_with))
    }
}
