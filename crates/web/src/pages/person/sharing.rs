//! Who can see what: access given by the person (or their attorney or deputy) and taken back.

use super::access::categories_words;
use super::*;

/// Kinds of information a person can share, as they would name them.
pub(super) const SHAREABLE: &[(Category, &str, &str)] = &[
    (Category::CarePlan, "CarePlan", "My care plan"),
    (Category::DailyNotes, "DailyNotes", "My daily notes"),
    (
        Category::Medicines,
        "Medicines",
        "My medicines and allergies",
    ),
    (
        Category::HealthObservations,
        "HealthObservations",
        "My health observations",
    ),
    (Category::Incidents, "Incidents", "Incidents"),
    (Category::AccessLog, "AccessLog", "Who looked at my record"),
];

/// The kinds of information a form's checkboxes `field` chose, in [`SHAREABLE`]'s order;
/// with `access_log` false, who-looked is not among them (it is not shared with services).
pub(super) fn chosen(form: &Form, field: &str, access_log: bool) -> Vec<Category> {
    let picked = form.all(field);
    SHAREABLE
        .iter()
        .filter(|(c, v, _)| (access_log || *c != Category::AccessLog) && picked.contains(v))
        .map(|(c, _, _)| *c)
        .collect()
}

#[derive(Default)]
struct GrantForm {
    grantee: String,
    categories: Vec<String>,
    until: String,
}

/// Who may decide about `id`'s grants and sharing, and on what basis: the person, or a
/// representative with legal authority (an attorney under a health and welfare LPA, or a
/// deputy appointed by the Court of Protection, each with the evidence seen); a family
/// member or carer who is a representative without that authority does not decide.
fn decides(app: &App, ctx: &Ctx, id: &str) -> Option<CapacityBasis> {
    match ctx.who.role {
        Role::Person if ctx.who.id == id => Some(CapacityBasis::PersonHasCapacity),
        Role::Representative => app
            .ledger
            .read(|s| {
                let r = s.person(id)?.representatives.get(&ctx.who.id)?;
                r.evidence_of_authority.as_ref()?;
                match r.relationship {
                    careledger_care::Relationship::LpaHealthWelfare => {
                        Some(CapacityBasis::LastingPowerOfAttorney)
                    }
                    careledger_care::Relationship::Deputy => Some(CapacityBasis::CourtDeputy),
                    _ => None,
                }
            })
            .ok()
            .flatten(),
        _ => None,
    }
}

/// What the sharing page shows: the person's grants and sharing consent, and the
/// provider's partners (id, name, agreed channel) to agree to share with.
pub(super) struct SharingPage {
    grants: wire::Grants,
    partners: Vec<(String, String, &'static str)>,
}

/// Sharing with the provider's partners: what is agreed, and the forms to agree or stop.
fn partners_markup(
    ctx: &Ctx,
    id: &str,
    page: &SharingPage,
    errors: &Errors,
    f: &Form,
    basis: Option<CapacityBasis>,
) -> Markup {
    let mine = own(ctx, id);
    let given: Vec<&wire::Sharing> = page
        .grants
        .sharing_consent
        .iter()
        .filter(|s| s.given)
        .collect();
    let name_of = |pid: &str| {
        page.partners
            .iter()
            .find(|(p, _, _)| p == pid)
            .map_or(pid.to_string(), |(_, n, _)| n.clone())
    };
    let labels: Vec<(String, String)> = page
        .partners
        .iter()
        .map(|(p, n, c)| (p.clone(), format!("{n} (by {c})")))
        .collect();
    let options: Vec<(&str, &str)> = labels
        .iter()
        .map(|(v, l)| (v.as_str(), l.as_str()))
        .collect();
    let cats: Vec<(&str, &str)> = SHAREABLE
        .iter()
        .filter(|(c, _, _)| *c != Category::AccessLog)
        .map(|(_, v, l)| (*v, *l))
        .collect();
    html! {
        h2 { (say(ctx, "Sharing with other services", "Other services you share with")) }
        p { "The provider may hand information over to a service such as the district nurses only if " @if mine { "you agree" } @else { "the person agrees" } ", and only what is agreed. This opens nothing to the service: it is what the provider may send them." }
        @if given.is_empty() { p { "Nothing is shared with other services." } } @else {
            div class="table-wrap" {
                table {
                    caption class="visually-hidden" { "Sharing with other services" }
                    thead { tr { th scope="col" { "Service" } th scope="col" { "What may be shared" } th scope="col" { "Agreed" } th scope="col" { span class="visually-hidden" { "Action" } } } }
                    tbody {
                        @for s in &given {
                            tr {
                                td { (name_of(&s.partner_id)) }
                                td { (categories_words(&s.categories.iter().map(|c| c.0).collect::<Vec<_>>(), false)) }
                                td { (time_el(&s.decided.occurred_at)) }
                                td {
                                    @if basis.is_some() {
                                        form method="post" action={ "/people/" (id) "/sharing/partners/" (s.partner_id) "/stop" } class="inline-form" {
                                            (layout::token(ctx))
                                            button type="submit" class="button warning" { (say(ctx, "Stop sharing", "Stop sharing")) span class="visually-hidden" { " with " (name_of(&s.partner_id)) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if basis.is_some() && !options.is_empty() {
            form method="post" action={ "/people/" (id) "/sharing/partners" } novalidate {
                (layout::token(ctx))
                (choice_group(errors, "partner", "Share with", "radio", &options, &[f.get("partner")]))
                (choice_group(errors, "partner_categories", "What may be shared", "checkbox", &cats, &f.all("partner_categories")))
                button type="submit" class="button" { (say(ctx, "Agree to share", "Yes, share this")) }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn sharing_markup(
    ctx: &Ctx,
    id: &str,
    page: &Granted<SharingPage>,
    errors: &Errors,
    entered: &GrantForm,
    shown: &Shown,
    f: &Form,
    basis: Option<CapacityBasis>,
) -> Markup {
    let g = &page.data.grants;
    let mine = own(ctx, id);
    let now = careledger_store::now_us();
    let live: Vec<&wire::Grant> = g
        .grants
        .iter()
        .filter(|x| {
            x.revoked.is_none() && x.expires_at.as_ref().is_none_or(|e| layout::us_of(e) > now)
        })
        .collect();
    html! {
        (record_header(ctx, id, "sharing", page.ais_flag.as_deref(), page.flagged))
        h1 { @if mine { "Who can see my record" } @else { "Who can see what" } }
        (recorded_notice(shown, "Done"))
        @if mine && easy(ctx) {
            p { "Staff who look after you can see what they need." }
            p { "Other people can only see what you say here." }
        } @else {
            p { "Staff who care for " @if mine { "you" } @else { "the person" } " can see what they need for care. Anyone else sees only what is given here." }
        }
        h2 { (say(ctx, "Access given", "People you let see your record")) }
        @if live.is_empty() { p { (say(ctx, "Nobody else has been given access.", "Nobody else can see it.")) } } @else {
            div class="table-wrap" {
                table {
                    caption class="visually-hidden" { "Access given to others" }
                    thead { tr { th scope="col" { "Who" } th scope="col" { "Can see" } th scope="col" { "Until" } th scope="col" { span class="visually-hidden" { "Action" } } } }
                    tbody {
                        @for gr in &live {
                            tr {
                                td { @match &gr.grantee.0 { Grantee::Principal(p) => (p), Grantee::Role(r) => { "Every " (r.name()) } } }
                                td { (categories_words(&gr.categories.iter().map(|c| c.0).collect::<Vec<_>>(), false)) }
                                td { @if let Some(e) = &gr.expires_at { (time_el(e)) } @else { "No end date" } }
                                td {
                                    @if basis.is_some() {
                                        form method="post" action={ "/people/" (id) "/sharing/" (gr.grant_id) "/take-back" } class="inline-form" {
                                            (layout::token(ctx))
                                            button type="submit" class="button warning" { (say(ctx, "Take back access", "Stop them seeing it")) span class="visually-hidden" { " from " @match &gr.grantee.0 { Grantee::Principal(p) => (p), Grantee::Role(r) => (r.name()) } } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if basis.is_some() {
            h2 { (say(ctx, "Give someone access", "Let someone see your record")) }
            form method="post" novalidate {
                (layout::token(ctx))
                (text_field(errors, "grantee", "Their careledger user ID", Some("Ask them for it: it is on their invitation."), &entered.grantee, "text", None))
                (choice_group(errors, "categories", "What they can see", "checkbox",
                    &SHAREABLE.iter().map(|(_, v, l)| (*v, *l)).collect::<Vec<_>>(),
                    &entered.categories.iter().map(String::as_str).collect::<Vec<_>>()))
                (text_field(errors, "until", "Until (optional)", Some("The last day they can see it. Leave empty for no end date."), &entered.until, "date", None))
                button type="submit" class="button" { (say(ctx, "Give access", "Let them see it")) }
            }
        }
        (partners_markup(ctx, id, &page.data, errors, f, basis))
    }
}

async fn render_sharing(
    app: &App,
    ctx: &Ctx,
    id: &str,
    errors: &Errors,
    entered: &GrantForm,
    shown: &Shown,
) -> Response {
    render_with(app, ctx, id, errors, entered, shown, &Form::default()).await
}

async fn render_with(
    app: &App,
    ctx: &Ctx,
    id: &str,
    errors: &Errors,
    entered: &GrantForm,
    shown: &Shown,
    f: &Form,
) -> Response {
    let titles = ("Who can see my record", "Who can see what");
    let basis = decides(app, ctx, id);
    section(
        app,
        ctx,
        id,
        &[Category::ConsentRecords],
        titles,
        errors,
        |a, d, p| {
            let (grants, n) = views::grants(a, d, p, &PAGE)?;
            let partners = a.ledger.read(|s| {
                s.partners
                    .iter()
                    .map(|(pid, p)| (pid.clone(), p.name.clone(), p.agreed_channel.name()))
                    .collect()
            })?;
            Ok((SharingPage { grants, partners }, n))
        },
        |g| sharing_markup(ctx, id, g, errors, entered, shown, f, basis),
    )
    .await
}

/// Records the person's decision to share with a partner (or to stop), then back to the
/// page; a refusal is shown by the field it concerns.
async fn record_sharing(app: &App, ctx: &Ctx, id: &str, event: CareEvent, f: &Form) -> Response {
    match record(app, &ctx.who, Some(id), None, event, None).await {
        Ok(r) => Redirect::to(&format!("/people/{id}/sharing?recorded={}", r.seq)).into_response(),
        Err(e) if is_form_error(&e) => {
            let mut errors = Errors::default();
            let field = match field_of(&e, "partner").as_str() {
                "categories" => "partner_categories",
                _ => "partner",
            };
            errors.add(field, e.detail);
            render_with(
                app,
                ctx,
                id,
                &errors,
                &GrantForm::default(),
                &Shown::default(),
                f,
            )
            .await
        }
        Err(e) => error_page(Some(ctx), &e),
    }
}

fn not_deciding(ctx: &Ctx) -> Response {
    error_page(
        Some(ctx),
        &ApiError::forbidden(
            "only the person, or their attorney or deputy, decides who their record is shared with",
        ),
    )
}

pub async fn share_with_partner(
    State(app): State<App>,
    Path(id): Path<String>,
    Posted(ctx, f): Posted,
) -> Response {
    let Some(basis) = decides(&app, &ctx, &id) else {
        return not_deciding(&ctx);
    };
    let mut errors = Errors::default();
    if f.get("partner").is_empty() {
        errors.add("partner", "Select the service to share with");
    }
    let categories = chosen(&f, "partner_categories", false);
    if categories.is_empty() {
        errors.add("partner_categories", "Select what may be shared");
    }
    if !errors.is_empty() {
        return render_with(
            &app,
            &ctx,
            &id,
            &errors,
            &GrantForm::default(),
            &Shown::default(),
            &f,
        )
        .await;
    }
    let event = CareEvent::SharingConsentRecorded(SharingConsentRecorded {
        partner_id: f.get("partner").to_string(),
        categories,
        given: true,
        decided_by: ctx.who.id.clone(),
        basis,
    });
    record_sharing(&app, &ctx, &id, event, &f).await
}

pub async fn stop_sharing(
    State(app): State<App>,
    Path((id, partner)): Path<(String, String)>,
    Posted(ctx, f): Posted,
) -> Response {
    let Some(basis) = decides(&app, &ctx, &id) else {
        return not_deciding(&ctx);
    };
    let event = CareEvent::SharingConsentRecorded(SharingConsentRecorded {
        partner_id: partner,
        categories: vec![],
        given: false,
        decided_by: ctx.who.id.clone(),
        basis,
    });
    record_sharing(&app, &ctx, &id, event, &f).await
}

pub async fn sharing(
    State(app): State<App>,
    Viewer(ctx): Viewer,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
) -> Response {
    render_sharing(
        &app,
        &ctx,
        &id,
        &Errors::default(),
        &GrantForm::default(),
        &shown,
    )
    .await
}

pub async fn give_access(
    State(app): State<App>,
    Path(id): Path<String>,
    Posted(ctx, form): Posted,
) -> Response {
    let entered = GrantForm {
        grantee: form.get("grantee").to_string(),
        categories: form
            .all("categories")
            .into_iter()
            .map(str::to_string)
            .collect(),
        until: form.get("until").to_string(),
    };
    let mut errors = Errors::default();
    let Some(basis) = decides(&app, &ctx, &id) else {
        return error_page(
            Some(&ctx),
            &ApiError::forbidden(
                "only the person, or their attorney or deputy, decides who can see their record",
            ),
        );
    };
    if entered.grantee.is_empty() {
        errors.add(
            "grantee",
            "Enter the user ID of the person to give access to",
        );
    }
    let categories: Vec<Category> = SHAREABLE
        .iter()
        .filter(|(_, v, _)| entered.categories.iter().any(|x| x == v))
        .map(|(c, _, _)| *c)
        .collect();
    if categories.is_empty() {
        errors.add("categories", "Select what they can see");
    }
    let expires = if entered.until.is_empty() {
        None
    } else {
        match chrono::NaiveDate::parse_from_str(&entered.until, "%Y-%m-%d") {
            // Through the end of that day.
            Ok(d) => d
                .succ_opt()
                .and_then(|n| n.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc().timestamp_micros()),
            Err(_) => {
                errors.add(
                    "until",
                    "Enter the end date as a date, for example 31 12 2026",
                );
                None
            }
        }
    };
    if expires.is_some_and(|e| e <= careledger_store::now_us()) {
        errors.add("until", "The end date must be today or later");
    }
    if errors.is_empty() {
        let event = CareEvent::AccessGranted(AccessGranted {
            grant_id: random_id("grant"),
            grantee: Grantee::Principal(entered.grantee.clone()),
            categories,
            purpose: Purpose::PersonalAccess,
            expires_at_us: expires,
            decided_by: ctx.who.id.clone(),
            basis,
        });
        match record(&app, &ctx.who, Some(&id), None, event, None).await {
            Ok(r) => {
                return Redirect::to(&format!("/people/{id}/sharing?recorded={}", r.seq))
                    .into_response()
            }
            Err(e) if is_form_error(&e) => {
                let f = match field_of(&e, "grantee").as_str() {
                    "categories" => "categories",
                    "expires_at_us" => "until",
                    _ => "grantee",
                };
                errors.add(f, e.detail);
            }
            Err(e) => return error_page(Some(&ctx), &e),
        }
    }
    render_sharing(&app, &ctx, &id, &errors, &entered, &Shown::default()).await
}

pub async fn take_back(
    State(app): State<App>,
    Path((id, grant)): Path<(String, String)>,
    Posted(ctx, _form): Posted,
) -> Response {
    let Some(basis) = decides(&app, &ctx, &id) else {
        return error_page(
            Some(&ctx),
            &ApiError::forbidden(
                "only the person, or their attorney or deputy, decides who can see their record",
            ),
        );
    };
    let event = CareEvent::AccessRevoked(AccessRevoked {
        grant_id: grant,
        decided_by: ctx.who.id.clone(),
        basis,
    });
    match record(&app, &ctx.who, Some(&id), None, event, None).await {
        Ok(r) => Redirect::to(&format!("/people/{id}/sharing?recorded={}", r.seq)).into_response(),
        Err(e) => error_page(Some(&ctx), &e),
    }
}
