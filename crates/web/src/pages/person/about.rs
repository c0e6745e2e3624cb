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
            @if easy(&ctx) {
                p class="lede" { "This is your care record." }
                ul class="easy-list" {
                    li { "You can see all of it." }
                    li { "You can write your own notes in it." }
                    li { "You choose who else can see it." }
                    li { "It is free." }
                }
            } @else {
                p class="lede" { "This is your care record. You can see all of it, add your own notes, and choose who else can see it. It is free." }
            }
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
        h2 { (say(&ctx, "Representatives", "People who speak for you")) }
        @if d.representatives.is_empty() {
            p { "No representatives are recorded." }
        } @else {
            ul {
                @for r in &d.representatives {
                    li { (r.name) " (" (relationship(&r.relationship.0)) ")" }
                }
            }
        }
        @if careledger_care::policy::may_record(ctx.who.role, "representative.linked") {
            p { a href={ "/people/" (id) "/contacts" } { "Add a representative, family member or carer" } }
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
        "Deputy" => "deputy appointed by the Court of Protection".into(),
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
    render_plan(&app, &ctx, &id, &shown, &Errors::default(), None).await
}

/// Who publishes care plans: the coordinator and the registered manager.
fn may_publish(ctx: &Ctx) -> bool {
    matches!(ctx.who.role, Role::Coordinator | Role::RegisteredManager)
}

async fn render_plan(
    app: &App,
    ctx: &Ctx,
    id: &str,
    shown: &Shown,
    errors: &Errors,
    entered: Option<&crate::form::Form>,
) -> Response {
    let wanted = Page {
        version: shown.version.filter(|v| *v > 0),
        ..PAGE
    };
    let g = match read(app, ctx, id, &[Category::CarePlan], move |a, d, p| {
        views::care_plan(a, d, p, &wanted)
    })
    .await
    {
        Ok(g) => g,
        Err(r) => return r,
    };
    let plan = &g.data;
    let mine = own(ctx, id);
    let easy = ctx.display == Display::Easy;
    let earlier: Option<careledger_care::event::PlanSections> = plan
        .version
        .as_ref()
        .and_then(|v| v.payload.get("sections").cloned())
        .and_then(|s| serde_json::from_value(s).ok());
    let body = html! {
        (record_header(ctx, id, "care-plan", g.ais_flag.as_deref(), g.flagged))
        h1 { @if mine { "My care plan" } @else { "Care plan" } }
        (recorded_notice(shown, "The new version was published"))
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
        @if plan.current.is_some() && earlier.is_none() {
            (print_links(app, ctx, id, "care-plan", "the care plan"))
        }
        @if may_publish(ctx) && earlier.is_none() {
            (publish_form(ctx, plan.current.as_ref(), errors, entered))
        }
    };
    ok(
        ctx,
        if mine { "My care plan" } else { "Care plan" },
        errors,
        body,
    )
}

/// The form for the next version, filled with the current one (or what was entered).
fn publish_form(
    ctx: &Ctx,
    current: Option<&wire::CurrentPlan>,
    errors: &Errors,
    entered: Option<&crate::form::Form>,
) -> Markup {
    let sections = current.map(|c| &c.sections.0);
    let lines = |v: Option<&Vec<String>>| v.map_or(String::new(), |v| v.join("\n"));
    let value = |field: &str, current: String| match entered {
        Some(f) => f.raw(field),
        None => current,
    };
    let next = current.map_or(1, |c| c.version + 1);
    html! {
        h2 { "Publish version " (next) }
        p { "Each version is kept: the person, their representatives and visiting professionals can see which was in force when." }
        form method="post" novalidate {
            (layout::token(ctx))
            input type="hidden" name="version" value=(next);
            (text_area(errors, "about_me", "About me", Some("In the person's own words where possible."), &value("about_me", sections.map_or(String::new(), |s| s.about_me.clone()))))
            (text_area(errors, "needs", "Needs", Some("One per line."), &value("needs", lines(sections.map(|s| &s.needs)))))
            (text_area(errors, "goals", "Goals and outcomes", Some("One per line."), &value("goals", lines(sections.map(|s| &s.goals)))))
            (text_area(errors, "actions", "Actions and support", Some("One per line."), &value("actions", lines(sections.map(|s| &s.actions)))))
            (text_area(errors, "risks", "Risks", Some("One per line."), &value("risks", lines(sections.map(|s| &s.risks)))))
            (text_area(errors, "contingency_plan", "Contingency plan", None, &value("contingency_plan", sections.map_or(String::new(), |s| s.contingency_plan.clone()))))
            (text_area(errors, "agreed_with", "Agreed with", Some("One per line: the person, representatives, professionals."), &value("agreed_with", lines(sections.map(|s| &s.agreed_with)))))
            (text_field(errors, "review_date", "Review by", None, &value("review_date", sections.map_or(String::new(), |s| s.review_date.to_string())), "date", None))
            button type="submit" class="button" { "Publish version " (next) }
        }
    }
}

pub async fn publish_plan(
    State(app): State<App>,
    Path(id): Path<String>,
    Posted(ctx, form): Posted,
) -> Response {
    if !may_publish(&ctx) {
        return error_page(
            Some(&ctx),
            &ApiError::forbidden(format!(
                "{} does not publish care plans",
                ctx.who.role.with_article()
            )),
        );
    }
    let list = |field: &str| -> Vec<String> {
        form.raw(field)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    let mut errors = Errors::default();
    let about_me = form.get("about_me").to_string();
    if about_me.is_empty() {
        errors.add("about_me", "Enter about me");
    }
    let contingency_plan = form.get("contingency_plan").to_string();
    if contingency_plan.is_empty() {
        errors.add("contingency_plan", "Enter the contingency plan");
    }
    let agreed_with = list("agreed_with");
    if agreed_with.is_empty() {
        errors.add("agreed_with", "Enter who the plan was agreed with");
    }
    let review_date = match chrono::NaiveDate::parse_from_str(form.get("review_date"), "%Y-%m-%d") {
        Ok(d) => Some(d),
        Err(_) => {
            errors.add("review_date", "Enter the review date as a date");
            None
        }
    };
    let version = match form.get("version").parse::<u32>() {
        Ok(v) => v,
        Err(_) => {
            errors.add("about_me", "The form is out of date: reload the page");
            0
        }
    };
    if let (true, Some(review_date)) = (errors.is_empty(), review_date) {
        let event = CareEvent::CarePlanPublished(careledger_care::event::CarePlanPublished {
            version,
            sections: careledger_care::event::PlanSections {
                about_me,
                needs: list("needs"),
                goals: list("goals"),
                actions: list("actions"),
                risks: list("risks"),
                contingency_plan,
                agreed_with,
                review_date,
            },
        });
        match record(&app, &ctx.who, Some(&id), None, event, None).await {
            Ok(r) => {
                return Redirect::to(&format!("/people/{id}/care-plan?recorded={}", r.seq))
                    .into_response()
            }
            Err(e) if is_form_error(&e) => {
                let field = match field_of(&e, "about_me").as_str() {
                    f @ ("needs" | "goals" | "actions" | "risks" | "contingency_plan"
                    | "agreed_with" | "review_date") => f.to_string(),
                    "sections" => "about_me".to_string(),
                    _ => "about_me".to_string(),
                };
                errors.add(&field, e.detail);
            }
            Err(e) => return error_page(Some(&ctx), &e),
        }
    }
    render_plan(&app, &ctx, &id, &Shown::default(), &errors, Some(&form)).await
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
