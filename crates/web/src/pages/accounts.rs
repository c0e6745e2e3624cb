//! Adding people and the people around them, on pages: a person who starts receiving
//! care, a member of staff, a partner organisation, and for a person, a representative
//! (family, carer, attorney or deputy) or a family member or carer who will see only what
//! the person lets them. Each is recorded in the ledger as the care rules' event
//! (`person.registered` and `care.started`, `staff.registered`, `partner.registered`,
//! `representative.linked`; a family member has no event, they are only a user the person
//! can give access to), and, where the form asks, given a sign-in account with a one-time
//! link to set a password, shown once.
//!
//! The event is recorded first and the account made after it: the account is the
//! service's own (beside the ledger, not in it), and a ledger entry without an account is
//! completed from the users page ("Make invitation link" needs an account, which the
//! operator can add with `careledger user add`), while an account without its ledger entry
//! would be a user the ledger does not know.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use careledger_api::auth::{AuthError, AuthFiles, InvitationKind, INVITATION_VALID_US};
use careledger_api::{ApiError, App};
use careledger_care::event::{
    CareStarted, PartnerRegistered, PersonRegistered, RepresentativeLinked, StaffRegistered,
};
use careledger_care::{policy, CareEvent, Channel, Relationship, Role};
use careledger_ledger::Command;
use maud::{html, Markup};

use crate::form::{pick, Form};
use crate::layout::{self, choices, page, text_area, text_field, Errors};
use crate::pages::{Posted, Viewer};
use crate::{error_page, html as respond, Ctx, Web};

/// Ids people are given to sign in with: 3 to 40 lower-case letters, digits and hyphens,
/// starting with a letter (`staff-sam`, `person-0042`).
pub fn check_id(id: &str) -> Result<(), &'static str> {
    let ok = (3..=40).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err("Enter an ID of 3 to 40 lower-case letters, digits and hyphens, starting with a letter")
    }
}

/// Whether `id` is taken by a user (revoked ones included: an id is never used twice).
fn user_exists(app: &App, id: &str) -> bool {
    app.auth
        .users(careledger_store::now_us())
        .iter()
        .any(|(u, _, _)| u == id)
}

/// Makes `id`'s account and a one-time link to set its password; returns the link's
/// secret.
async fn make_account(
    app: &App,
    by: &str,
    id: &str,
    role: Role,
    name: &str,
) -> Result<String, ApiError> {
    let dir = app.ledger.store().dir().to_path_buf();
    let (by, id, name) = (by.to_string(), id.to_string(), name.to_string());
    let made = tokio::task::spawn_blocking(move || -> Result<String, AuthError> {
        let mut files = AuthFiles::open(&dir)?;
        let now = careledger_store::now_us();
        files.add_user(&id, role, &name, now)?;
        files.invite(
            &id,
            InvitationKind::SetPassword,
            &by,
            now,
            INVITATION_VALID_US,
        )
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    app.auth.reload();
    made.map_err(|e| match e {
        AuthError::Invalid(why) => ApiError::new(StatusCode::CONFLICT, "conflict", why),
        e => {
            tracing::error!(error = %e, "an account could not be made");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the entry was recorded, but the sign-in account could not be made; \
                 ask the operator to add it with careledger user add",
            )
        }
    })
}

/// The link an invitation's secret makes, on the address the browser used.
pub fn link(web: &Web, headers: &HeaderMap, secret: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let scheme = if web.secure { "https" } else { "http" };
    format!("{scheme}://{host}/invitation/{secret}")
}

/// What was added, and the sign-in link to send, shown once (it is stored only hashed).
#[allow(clippy::too_many_arguments)]
fn added(
    ctx: &Ctx,
    web: &Web,
    headers: &HeaderMap,
    title: &str,
    seq: Option<u64>,
    who: &str,
    account: Option<Result<String, ApiError>>,
    next: (&str, &str),
) -> Response {
    let body = html! {
        h1 { (title) }
        @if let Some(seq) = seq { (layout::notice(&format!("Recorded (event {seq} in the ledger)."))) }
        @match &account {
            Some(Ok(secret)) => {
                div class="notice" role="status" {
                    p { "Copy this link now and send it to " (who) " only. It is shown once, works once, and lasts 72 hours. With it they set a password and sign in as " strong { (who) } "." }
                }
                p { code class="link" { (link(web, headers, secret)) } }
            }
            Some(Err(e)) => {
                div class="error-summary" role="alert" {
                    h2 { "The sign-in account was not made" }
                    p { (e.detail) }
                }
            }
            None => {}
        }
        p { a href=(next.0) { (next.1) } }
    };
    respond(
        StatusCode::OK,
        page(Some(ctx), title, &Errors::default(), body),
    )
}

fn not_allowed(ctx: &Ctx, what: &str) -> Response {
    error_page(
        Some(ctx),
        &ApiError::forbidden(format!("{} may not {what}", ctx.who.role.with_article())),
    )
}

/// A refusal the care rules or the API gave a form: by the field it names, else `default`.
fn by_field(e: &ApiError, default: &str, map: &[(&str, &str)]) -> String {
    let f = crate::pages::person::field_of(e, default);
    map.iter()
        .find(|(from, _)| *from == f)
        .map_or(f.clone(), |(_, to)| to.to_string())
}

// ------------------------------------------------------------------ a new person

fn new_person_markup(ctx: &Ctx, errors: &Errors, f: &Form) -> Markup {
    html! {
        h1 { "Add a person" }
        p { "Someone starting to receive care. What is entered here is their record's personal details; the care plan, medicines and information choices follow on their record." }
        form method="post" novalidate {
            (layout::token(ctx))
            (text_field(errors, "id", "Their careledger ID", Some("Lower-case letters, digits and hyphens, for example person-0042. It is how the record is named, and how they sign in."), f.get("id"), "text", None))
            (text_field(errors, "name", "Full name", None, f.get("name"), "text", Some("off")))
            (text_field(errors, "date_of_birth", "Date of birth", None, f.get("date_of_birth"), "date", None))
            (text_field(errors, "nhs_number", "NHS number (if known)", Some("10 digits."), f.get("nhs_number"), "text", Some("off")))
            (text_area(errors, "address", "Address", None, f.get("address")))
            (text_field(errors, "gp_practice", "GP practice", None, f.get("gp_practice"), "text", None))
            (text_area(errors, "allergies", "Allergies", Some("One per line. Leave empty only if there are none known, and say so below."), f.get("allergies")))
            (choices(errors, "no_allergies", "No known allergies", "checkbox", &[("yes", "They have no known allergies")], &[f.get("no_allergies")]))
            (text_field(errors, "service", "Service they receive", Some("For example: home care, four visits a day. Leave empty if care has not started yet."), f.get("service"), "text", None))
            (choices(errors, "account", "Sign-in", "checkbox", &[("yes", "Make a sign-in account so they can see and add to their record (a link to set a password is shown next)")], &[f.get("account")]))
            button type="submit" class="button" { "Add the person" }
        }
    }
}

fn registers_people(ctx: &Ctx) -> bool {
    policy::may_record(ctx.who.role, "person.registered")
}

pub async fn new_person_page(Viewer(ctx): Viewer) -> Response {
    if !registers_people(&ctx) {
        return not_allowed(&ctx, "add people");
    }
    respond(
        StatusCode::OK,
        page(
            Some(&ctx),
            "Add a person",
            &Errors::default(),
            new_person_markup(&ctx, &Errors::default(), &Form::default()),
        ),
    )
}

use crate::pages::form_page as refused;

pub async fn new_person(
    State(app): State<App>,
    axum::Extension(web): axum::Extension<std::sync::Arc<Web>>,
    headers: HeaderMap,
    Posted(ctx, f): Posted,
) -> Response {
    if !registers_people(&ctx) {
        return not_allowed(&ctx, "add people");
    }
    let mut errors = Errors::default();
    let id = f.get("id").trim().to_string();
    if let Err(why) = check_id(&id) {
        errors.add("id", why);
    } else if user_exists(&app, &id) {
        // Even without an account now: the id would be that user's record later.
        errors.add(
            "id",
            format!("There is already a user {id}: choose another ID"),
        );
    }
    let name = f.get("name").trim().to_string();
    if name.is_empty() {
        errors.add("name", "Enter their full name");
    }
    let dob = chrono::NaiveDate::parse_from_str(f.get("date_of_birth"), "%Y-%m-%d").ok();
    if dob.is_none() {
        errors.add("date_of_birth", "Enter their date of birth as a date");
    }
    let allergies: Vec<String> = f
        .get("allergies")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let none_known = f.get("no_allergies") == "yes";
    if allergies.is_empty() && !none_known {
        errors.add(
            "allergies",
            "Enter their allergies, or tick that they have no known allergies: a MAR never leaves allergies blank",
        );
    }
    if !allergies.is_empty() && none_known {
        errors.add(
            "no_allergies",
            "Allergies are entered: untick no known allergies, or clear them",
        );
    }
    let service = f.get("service").trim().to_string();
    if !service.is_empty() && !policy::may_record(ctx.who.role, "care.started") {
        errors.add(
            "service",
            format!(
                "{} does not start care; leave this empty",
                ctx.who.role.with_article()
            ),
        );
    }
    let (true, Some(dob)) = (errors.is_empty(), dob) else {
        return refused(
            &ctx,
            "Add a person",
            &errors,
            new_person_markup(&ctx, &errors, &f),
        );
    };
    let now = careledger_store::now_us();
    let nhs = f.get("nhs_number").replace(' ', "");
    let mut commands = vec![Command::about(
        &ctx.who.id,
        &id,
        now,
        CareEvent::PersonRegistered(PersonRegistered {
            name: name.clone(),
            date_of_birth: dob,
            nhs_number: (!nhs.is_empty()).then_some(nhs),
            address: f.get("address").trim().to_string(),
            gp_practice: f.get("gp_practice").trim().to_string(),
            allergies,
        }),
    )];
    if !service.is_empty() {
        commands.push(Command::about(
            &ctx.who.id,
            &id,
            now,
            CareEvent::CareStarted(CareStarted { service }),
        ));
    }
    // Registration and the start of care are appended together, or neither is.
    let seq = match app.append(commands).await {
        Ok(r) => r[0].seq,
        Err(e) if crate::pages::person::is_form_error(&e) => {
            let field = by_field(&e, "id", &[("subject", "id"), ("allergies", "allergies")]);
            errors.add(&field, e.detail);
            return refused(
                &ctx,
                "Add a person",
                &errors,
                new_person_markup(&ctx, &errors, &f),
            );
        }
        Err(e) => return error_page(Some(&ctx), &e),
    };
    let account = if f.get("account") == "yes" {
        Some(make_account(&app, &ctx.who.id, &id, Role::Person, &name).await)
    } else {
        None
    };
    let record = format!("/people/{id}");
    added(
        &ctx,
        &web,
        &headers,
        &format!("{name} is added"),
        Some(seq),
        &id,
        account,
        (&record, "Open their record"),
    )
}

// ------------------------------------------------------------------ staff and partners

const STAFF_ROLES: &[(&str, &str)] = &[
    ("CareWorker", "Care worker"),
    ("Coordinator", "Coordinator"),
];

const CHANNELS: &[(&str, &str)] = &[
    ("SecureEmail", "Secure email"),
    ("Telephone", "Telephone"),
    ("Paper", "Paper"),
    ("InPerson", "In person"),
    ("Portal", "This website"),
];

/// The forms on the users page for adding a member of staff and a partner.
pub fn staff_forms(ctx: &Ctx, errors: &Errors, f: &Form) -> Markup {
    html! {
        h2 id="add-staff" { "Add a member of staff" }
        p class="muted" { "A care worker or coordinator. Managers and admins are added by the operator (careledger user add)." }
        form method="post" action="/staff/new" novalidate {
            (layout::token(ctx))
            (text_field(errors, "staff_id", "Their careledger ID", Some("For example staff-sam. They sign in with it."), f.get("staff_id"), "text", None))
            (text_field(errors, "staff_name", "Full name", None, f.get("staff_name"), "text", Some("off")))
            (choices(errors, "staff_role", "Role", "radio", STAFF_ROLES, &[f.get("staff_role")]))
            button type="submit" class="button" { "Add and make their sign-in link" }
        }
        h2 id="add-partner" { "Add a partner organisation" }
        p class="muted" { "A district nurse team, a day centre, a pharmacy: people agree to share parts of their record with them, and handovers go by the channel agreed here." }
        form method="post" action="/staff/partners" novalidate {
            (layout::token(ctx))
            (text_field(errors, "partner_id", "Their careledger ID", Some("For example partner-dn-north."), f.get("partner_id"), "text", None))
            (text_field(errors, "partner_name", "Name", None, f.get("partner_name"), "text", None))
            (choices(errors, "partner_channel", "How handovers go to them", "radio", CHANNELS, &[f.get("partner_channel")]))
            (text_field(errors, "partner_contact", "Contact", Some("The address, number or person for that channel."), f.get("partner_contact"), "text", None))
            button type="submit" class="button" { "Add and make their sign-in link" }
        }
    }
}

fn check_new_user(app: &App, id: &str, field: &str, errors: &mut Errors) {
    if let Err(why) = check_id(id) {
        errors.add(field, why);
    } else if user_exists(app, id) {
        errors.add(
            field,
            format!("There is already a user {id}: choose another ID"),
        );
    }
}

pub async fn new_staff(
    State(app): State<App>,
    axum::Extension(web): axum::Extension<std::sync::Arc<Web>>,
    headers: HeaderMap,
    Posted(ctx, f): Posted,
) -> Response {
    if !policy::may_record(ctx.who.role, "staff.registered") {
        return not_allowed(&ctx, "add staff");
    }
    let mut errors = Errors::default();
    let id = f.get("staff_id").trim().to_string();
    check_new_user(&app, &id, "staff_id", &mut errors);
    let name = f.get("staff_name").trim().to_string();
    if name.is_empty() {
        errors.add("staff_name", "Enter their full name");
    }
    let role: Option<Role> = pick(STAFF_ROLES, f.get("staff_role"));
    if role.is_none() {
        errors.add("staff_role", "Select their role");
    }
    let (true, Some(role)) = (errors.is_empty(), role) else {
        return crate::pages::staff::render(&app, &ctx, &errors, &f).await;
    };
    let event = CareEvent::StaffRegistered(StaffRegistered {
        staff_id: id.clone(),
        name: name.clone(),
        role,
    });
    let added_as = Added {
        id: &id,
        name: &name,
        role,
        fields: (
            "staff_id",
            &[("name", "staff_name"), ("role", "staff_role")],
        ),
    };
    on_users_page(&app, &web, &headers, &ctx, &f, errors, event, added_as).await
}

pub async fn new_partner(
    State(app): State<App>,
    axum::Extension(web): axum::Extension<std::sync::Arc<Web>>,
    headers: HeaderMap,
    Posted(ctx, f): Posted,
) -> Response {
    if !policy::may_record(ctx.who.role, "partner.registered") {
        return not_allowed(&ctx, "add partners");
    }
    let mut errors = Errors::default();
    let id = f.get("partner_id").trim().to_string();
    check_new_user(&app, &id, "partner_id", &mut errors);
    let name = f.get("partner_name").trim().to_string();
    if name.is_empty() {
        errors.add("partner_name", "Enter the organisation's name");
    }
    let channel: Option<Channel> = pick(CHANNELS, f.get("partner_channel"));
    if channel.is_none() {
        errors.add("partner_channel", "Select how handovers go to them");
    }
    let contact = f.get("partner_contact").trim().to_string();
    if contact.is_empty() {
        errors.add("partner_contact", "Enter their contact for that channel");
    }
    let (true, Some(channel)) = (errors.is_empty(), channel) else {
        return crate::pages::staff::render(&app, &ctx, &errors, &f).await;
    };
    let event = CareEvent::PartnerRegistered(PartnerRegistered {
        partner_id: id.clone(),
        name: name.clone(),
        agreed_channel: channel,
        contact,
    });
    let added_as = Added {
        id: &id,
        name: &name,
        role: Role::Partner,
        fields: (
            "partner_id",
            &[
                ("name", "partner_name"),
                ("contact", "partner_contact"),
                ("agreed_channel", "partner_channel"),
            ],
        ),
    };
    on_users_page(&app, &web, &headers, &ctx, &f, errors, event, added_as).await
}

/// Who a users-page form adds: their id, name and role, and how the care rules' fields
/// map to the form's (the default field first).
struct Added<'a> {
    id: &'a str,
    name: &'a str,
    role: Role,
    fields: (&'a str, &'a [(&'a str, &'a str)]),
}

/// Records an organisation event from the users page, then makes the account and shows
/// its link; a refusal goes back to the users page by the field it names.
#[allow(clippy::too_many_arguments)]
async fn on_users_page(
    app: &App,
    web: &Web,
    headers: &HeaderMap,
    ctx: &Ctx,
    f: &Form,
    mut errors: Errors,
    event: CareEvent,
    who: Added<'_>,
) -> Response {
    let seq = match careledger_api::handlers::record(app, &ctx.who, None, None, event, None).await {
        Ok(r) => r.seq,
        Err(e) if crate::pages::person::is_form_error(&e) => {
            errors.add(&by_field(&e, who.fields.0, who.fields.1), e.detail);
            return crate::pages::staff::render(app, ctx, &errors, f).await;
        }
        Err(e) => return error_page(Some(ctx), &e),
    };
    let account = make_account(app, &ctx.who.id, who.id, who.role, who.name).await;
    added(
        ctx,
        web,
        headers,
        &format!("{} is added", who.name),
        Some(seq),
        who.id,
        Some(account),
        ("/staff", "Back to users and invitations"),
    )
}

// ------------------------------------------------------------------ around a person

const RELATIONSHIPS: &[(&str, &str)] = &[
    (
        "Family",
        "Family member (a representative, without legal authority)",
    ),
    (
        "Carer",
        "Unpaid carer (a representative, without legal authority)",
    ),
    (
        "LpaHealthWelfare",
        "Lasting power of attorney for health and welfare",
    ),
    ("Deputy", "Deputy appointed by the Court of Protection"),
];

const KINDS: &[(&str, &str)] = &[
    ("representative", "A representative: linked to the record, sees it and may speak for the person as their relationship allows"),
    ("family", "A family member or carer who sees only what the person gives them access to"),
];

fn links_people(ctx: &Ctx) -> bool {
    policy::may_record(ctx.who.role, "representative.linked")
}

fn contacts_markup(ctx: &Ctx, id: &str, errors: &Errors, f: &Form) -> Markup {
    html! {
        h1 { "Add someone to " (id) "'s record" }
        p { "A representative is linked to the record. A family member or carer who is not a representative sees nothing until the person gives them access, on the person's " strong { "Who can see what" } " page." }
        form method="post" novalidate {
            (layout::token(ctx))
            (choices(errors, "kind", "Who they are", "radio", KINDS, &[f.get("kind")]))
            (text_field(errors, "contact_id", "Their careledger ID", Some("For example rep-0042-daughter. They sign in with it."), f.get("contact_id"), "text", None))
            (text_field(errors, "contact_name", "Full name", None, f.get("contact_name"), "text", Some("off")))
            h2 { "For a representative" }
            (choices(errors, "relationship", "Relationship", "radio", RELATIONSHIPS, &[f.get("relationship")]))
            (text_field(errors, "evidence", "Evidence of authority seen", Some("For an attorney or a deputy: the Office of the Public Guardian registration or the court order reference."), f.get("evidence"), "text", None))
            (choices(errors, "may_contribute", "Adding to the record", "checkbox", &[("yes", "They may add their own entries to the record")], &[f.get("may_contribute")]))
            button type="submit" class="button" { "Add and make their sign-in link" }
        }
        p class="back-link" { a href={ "/people/" (id) } { "Back to the record" } }
    }
}

pub async fn contacts_page(Viewer(ctx): Viewer, Path(id): Path<String>) -> Response {
    if !links_people(&ctx) {
        return not_allowed(&ctx, "add representatives or family");
    }
    respond(
        StatusCode::OK,
        page(
            Some(&ctx),
            "Add a representative or family member",
            &Errors::default(),
            contacts_markup(&ctx, &id, &Errors::default(), &Form::default()),
        ),
    )
}

pub async fn add_contact(
    State(app): State<App>,
    axum::Extension(web): axum::Extension<std::sync::Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Posted(ctx, f): Posted,
) -> Response {
    if !links_people(&ctx) {
        return not_allowed(&ctx, "add representatives or family");
    }
    let title = "Add a representative or family member";
    let mut errors = Errors::default();
    let contact = f.get("contact_id").trim().to_string();
    check_new_user(&app, &contact, "contact_id", &mut errors);
    let name = f.get("contact_name").trim().to_string();
    if name.is_empty() {
        errors.add("contact_name", "Enter their full name");
    }
    let known = app
        .ledger
        .read(|s| s.person(&id).is_some())
        .unwrap_or(false);
    if !known {
        return error_page(Some(&ctx), &ApiError::no_person(&id));
    }
    let kind = f.get("kind");
    let relationship: Option<Relationship> = pick(RELATIONSHIPS, f.get("relationship"));
    match kind {
        "representative" if relationship.is_none() => {
            errors.add("relationship", "Select their relationship")
        }
        "representative" | "family" => {}
        _ => errors.add("kind", "Select who they are"),
    }
    if !errors.is_empty() {
        return refused(
            &ctx,
            title,
            &errors,
            contacts_markup(&ctx, &id, &errors, &f),
        );
    }
    let record = format!("/people/{id}");
    if kind == "family" {
        let account = make_account(&app, &ctx.who.id, &contact, Role::Family, &name).await;
        return added(
            &ctx,
            &web,
            &headers,
            &format!("{name} can sign in"),
            None,
            &contact,
            Some(account),
            (&record, "Back to the record"),
        );
    }
    let Some(relationship) = relationship else {
        return refused(
            &ctx,
            title,
            &errors,
            contacts_markup(&ctx, &id, &errors, &f),
        );
    };
    let evidence = f.get("evidence").trim().to_string();
    let event = CareEvent::RepresentativeLinked(RepresentativeLinked {
        representative_id: contact.clone(),
        name: name.clone(),
        relationship,
        evidence_of_authority: (!evidence.is_empty()).then_some(evidence),
        may_contribute: f.get("may_contribute") == "yes",
    });
    let seq = match careledger_api::handlers::record(&app, &ctx.who, Some(&id), None, event, None)
        .await
    {
        Ok(r) => r.seq,
        Err(e) if crate::pages::person::is_form_error(&e) => {
            errors.add(
                &by_field(
                    &e,
                    "contact_id",
                    &[
                        ("evidence_of_authority", "evidence"),
                        ("representative_id", "contact_id"),
                        ("name", "contact_name"),
                    ],
                ),
                e.detail,
            );
            return refused(
                &ctx,
                title,
                &errors,
                contacts_markup(&ctx, &id, &errors, &f),
            );
        }
        Err(e) => return error_page(Some(&ctx), &e),
    };
    let account = make_account(&app, &ctx.who.id, &contact, Role::Representative, &name).await;
    added(
        &ctx,
        &web,
        &headers,
        &format!("{name} is linked"),
        Some(seq),
        &contact,
        Some(account),
        (&record, "Back to the record"),
    )
}
