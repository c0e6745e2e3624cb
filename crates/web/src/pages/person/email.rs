//! Secure email from a person's pages: the Email button beside each document's print links
//! (`POST /people/{id}/documents/{kind}/email`, the same as the API's: only where the person
//! chose secure email, only to a recorded address, printed through the gate), and the page
//! where an address is recorded for the person or a representative
//! (`/people/{id}/email-address`, `email.address_recorded`).

use careledger_api::documents::Asked;
use careledger_care::event::EmailAddressRecorded;
use careledger_care::policy;

use super::*;

/// Who may have documents emailed to them on `id`'s record: the person and each
/// representative, with their name and recorded address (if any).
struct Holder {
    id: String,
    name: String,
    address: Option<String>,
}

fn holders(s: &careledger_care::State, id: &str) -> Vec<Holder> {
    let Some(p) = s.person(id) else {
        return Vec::new();
    };
    let address = |h: &str| p.email_addresses.get(h).map(|(a, _)| a.clone());
    let mut out = vec![Holder {
        id: id.to_string(),
        name: format!("{} (the person)", p.details.name),
        address: address(id),
    }];
    out.extend(p.representatives.iter().map(|(rid, r)| Holder {
        id: rid.clone(),
        name: format!(
            "{} ({})",
            r.name,
            split_words(&format!("{:?}", r.relationship))
        ),
        address: address(rid),
    }));
    out
}

/// Whether the viewer sends documents by email, and the service can.
fn sends(app: &App, ctx: &Ctx) -> bool {
    careledger_api::email::SENDERS.contains(&ctx.who.role)
        && app.mailer.get().is_some()
        && app.documents.get().is_some()
}

/// The Email form under a document's print links: to the person or a representative with a
/// recorded address, where the person chose secure email. Only shown to a viewer who sends
/// documents by email (the print links are shown only to one the policy allows the
/// document's categories).
pub(super) fn email_form(app: &App, ctx: &Ctx, id: &str, kind: &str, what: &str) -> Markup {
    if !sends(app, ctx) {
        return html! {};
    }
    let categories = careledger_api::documents::PERSON_DOCUMENTS
        .iter()
        .find(|k| k.name == kind)
        .map_or(&[][..], |k| k.categories);
    let now = careledger_store::now_us();
    let found = app.ledger.read(|s| {
        let chose = s.person(id).is_some_and(careledger_api::email::chose_email);
        // Only holders who may read the document themselves are offered.
        let readers: Vec<Holder> = holders(s, id)
            .into_iter()
            .filter(|h| {
                careledger_api::email::recipient_decision(s, id, &h.id, categories, now)
                    .is_allowed()
            })
            .collect();
        (chose, readers)
    });
    let Ok((chose, holders)) = found else {
        return html! {};
    };
    let with_address: Vec<&Holder> = holders.iter().filter(|h| h.address.is_some()).collect();
    html! {
        section class="email" aria-labelledby={ "email-" (kind) } {
            h2 id={ "email-" (kind) } { "Email " (what) }
            @if !chose {
                p { "The person has not chosen secure email in their last information choices discussion, so documents are not emailed to them." }
            } @else if with_address.is_empty() {
                p { "No email address is recorded for anyone who may read it. " a href={ "/people/" (id) "/email-address" } { "Email addresses" } "." }
            } @else {
                form method="post" action={ "/people/" (id) "/documents/" (kind) "/email" } novalidate {
                    (layout::token(ctx))
                    @let options: Vec<(String, String)> = with_address.iter().map(|h| (h.id.clone(), h.name.clone())).collect();
                    @let refs: Vec<(&str, &str)> = options.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
                    (choice_group(&Errors::default(), &format!("to-{kind}"), "Send it to", "radio", &refs, &[refs[0].0]))
                    p class="hint" { "It goes through the provider's secure email relay, in the person's own format, and the record shows when the relay accepted it. " a href={ "/people/" (id) "/email-address" } { "Email addresses" } }
                    button type="submit" class="button secondary" { "Email " (what) }
                }
            }
        }
    }
}

/// `POST /people/{id}/documents/{kind}/email`.
pub async fn email_document(
    State(app): State<App>,
    Path((id, kind)): Path<(String, String)>,
    Posted(ctx, f): Posted,
) -> Response {
    let asked = match Asked::parse(&kind, None, None) {
        Ok(a) => a,
        Err(e) => return error_page(Some(&ctx), &e),
    };
    let to = f.get(&format!("to-{kind}")).to_string();
    match careledger_api::email::queue(&app, &ctx.who, &id, asked, &to).await {
        Ok(q) => {
            let body = html! {
                h1 { "Sending by secure email" }
                (layout::notice(&format!("Printed for emailing (event {} in the ledger).", q.access_event)))
                p { "The " (kind.replace('-', " ")) " is on its way to " strong { (q.address) } " through the provider's secure email relay, in " (q.format.replace('-', " ")) "." }
                p { "The record will show it as delivered (email.delivered, with the relay's answer) once the relay accepts it, or why it could not be sent (email.failed). Its reference is " code { (q.reference) } "." }
                p class="back-link" { a href={ "/people/" (id) } { "Back to the record" } }
            };
            crate::pages::form_page(&ctx, "Sending by secure email", &Errors::default(), body)
        }
        Err(e) => error_page(Some(&ctx), &e),
    }
}

/// Who records email addresses: the provider's staff who record choices, the person, and
/// a representative (their own).
fn records_addresses(ctx: &Ctx) -> bool {
    policy::may_record(ctx.who.role, "email.address_recorded")
}

async fn address_page(
    app: &App,
    ctx: &Ctx,
    id: &str,
    errors: &Errors,
    f: &Form,
    shown: &Shown,
) -> Response {
    if !records_addresses(ctx) {
        return error_page(
            Some(ctx),
            &ApiError::forbidden("email addresses are recorded by the provider's coordinators, managers and admins, the person, and their representatives"),
        );
    }
    // The names and addresses are personal details: read through the gate.
    let key = id.to_string();
    let granted: Granted<Vec<Holder>> = match gate::read(
        app,
        &ctx.who,
        id,
        &[Category::PersonalDetails],
        default_purpose(ctx.who.role),
        move |app, _| Ok((app.ledger.read(|s| holders(s, &key))?, 1)),
    )
    .await
    {
        Ok(g) => g,
        Err(e) => return error_page(Some(ctx), &e),
    };
    // A representative records their own address only.
    let mine: Vec<&Holder> = granted
        .data
        .iter()
        .filter(|h| ctx.who.role != Role::Representative || h.id == ctx.who.id)
        .collect();
    let options: Vec<(String, String)> = mine
        .iter()
        .map(|h| (h.id.clone(), h.name.clone()))
        .collect();
    let refs: Vec<(&str, &str)> = options
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let holder = if f.get("holder").is_empty() {
        refs.first().map_or("", |r| r.0)
    } else {
        f.get("holder")
    };
    let body = html! {
        h1 { "Email addresses for secure email" }
        @if let Some(seq) = shown.recorded { (layout::notice(&format!("Recorded (event {seq} in the ledger)."))) }
        p { "Documents go by secure email only to these addresses, and only if the person chose secure email in their information choices." }
        div class="table-wrap" {
            table {
                caption class="visually-hidden" { "Email addresses on the record" }
                thead { tr { th scope="col" { "Who" } th scope="col" { "Email address" } } }
                tbody {
                    @for h in &granted.data {
                        tr { td { (h.name) } td { (h.address.as_deref().unwrap_or("None recorded")) } }
                    }
                }
            }
        }
        h2 { "Record an email address" }
        form method="post" novalidate {
            (layout::token(ctx))
            (choice_group(errors, "holder", "Whose address", "radio", &refs, &[holder]))
            (text_field(errors, "address", "Email address", Some("For example mary.hill@example.org. Leave it empty to remove the address."), f.get("address"), "email", Some("email")))
            button type="submit" class="button" { "Record email address" }
        }
        p class="back-link" { a href={ "/people/" (id) "/choices" } { "Back to information choices" } }
    };
    crate::pages::form_page(ctx, "Email addresses", errors, body)
}

use crate::pages::Recorded as Shown;

/// `GET /people/{id}/email-address`.
pub async fn email_addresses(
    State(app): State<App>,
    Viewer(ctx): Viewer,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
) -> Response {
    address_page(
        &app,
        &ctx,
        &id,
        &Errors::default(),
        &Form::default(),
        &shown,
    )
    .await
}

/// `POST /people/{id}/email-address`.
pub async fn record_email_address(
    State(app): State<App>,
    Path(id): Path<String>,
    Posted(ctx, f): Posted,
) -> Response {
    if !records_addresses(&ctx) {
        return address_page(&app, &ctx, &id, &Errors::default(), &f, &Shown::default()).await;
    }
    let mut errors = Errors::default();
    let holder = f.get("holder").trim().to_string();
    if holder.is_empty() {
        errors.add("holder", "Select whose address it is");
        return address_page(&app, &ctx, &id, &errors, &f, &Shown::default()).await;
    }
    let address = f.get("address").trim().to_string();
    let event = CareEvent::EmailAddressRecorded(EmailAddressRecorded {
        holder,
        address: (!address.is_empty()).then_some(address),
    });
    match record(&app, &ctx.who, Some(&id), None, event, None).await {
        Ok(r) => {
            Redirect::to(&format!("/people/{id}/email-address?recorded={}", r.seq)).into_response()
        }
        Err(e) if is_form_error(&e) => {
            let field = match e.field.as_deref() {
                Some("payload.holder") | Some("payload.decided_by") => "holder",
                _ => "address",
            };
            errors.add(field, e.detail);
            address_page(&app, &ctx, &id, &errors, &f, &Shown::default()).await
        }
        Err(e) => error_page(Some(&ctx), &e),
    }
}
