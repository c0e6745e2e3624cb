//! Users and invitations, for the registered manager and the provider admin: who can sign
//! in, and a one-time link for someone who has no password yet.
//!
//! A manager may make a link only for a user who does not sign in yet (no password, no
//! live token) and who is not a manager or admin themselves: a link sets a password, so
//! one for an account in use would let its maker sign in as that person. The check is
//! made again under the files' lock when the link is made, and again when it is used (a
//! manager's link never resets a password; setting one spends the user's other links).
//! Resets, and accounts of managers and admins, stay with the operator (`careledger user
//! invite`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use careledger_api::auth::{AuthFiles, InvitationKind, User, INVITATION_VALID_US};
use careledger_api::{ApiError, App};
use careledger_care::Role;
use maud::html;

use crate::form::Form;
use crate::layout::{page, Errors};
use crate::pages::{Posted, Viewer};
use crate::{error_page, html as respond, Ctx};

fn managers_only(ctx: &Ctx) -> Option<Response> {
    (!matches!(ctx.who.role, Role::RegisteredManager | Role::ProviderAdmin)).then(|| {
        error_page(
            Some(ctx),
            &ApiError::forbidden(
                "users and invitations are for the registered manager and the provider admin",
            ),
        )
    })
}

/// Whether a manager may make a password link for `user` (`in_use`: they already sign in).
fn may_invite(user: &User, in_use: bool) -> bool {
    !in_use
        && user.revoked_at_us.is_none()
        && !matches!(user.role, Role::RegisteredManager | Role::ProviderAdmin)
}

fn state(user: &User) -> &'static str {
    match (user.revoked_at_us, &user.password) {
        (Some(_), _) => "Revoked",
        (None, Some(_)) => "Signs in with a password",
        (None, None) => "No password yet",
    }
}

pub async fn staff(State(app): State<App>, Viewer(ctx): Viewer) -> Response {
    render(&app, &ctx, &Errors::default(), &Form::default()).await
}

/// The users page, with the forms that add staff and partners (and their errors).
pub async fn render(app: &App, ctx: &Ctx, errors: &Errors, f: &Form) -> Response {
    if let Some(r) = managers_only(ctx) {
        return r;
    }
    let users = app.auth.users(careledger_store::now_us());
    let body = html! {
        h1 { "Users and invitations" }
        p { "Everyone who can sign in. Someone with no password yet needs a one-time link to set one: it works once, within 72 hours. Send it to them only." }
        p class="muted" { "Links for managers, and for someone who already has a password, are made by the operator with careledger user invite. People receiving care and their representatives and family are added from " a href="/people/new" { "Add a person" } " and from each person's record." }
        div class="table-wrap" {
            table {
                caption class="visually-hidden" { "Users" }
                thead { tr { th scope="col" { "User ID" } th scope="col" { "Name" } th scope="col" { "Role" } th scope="col" { "Sign-in" } th scope="col" { span class="visually-hidden" { "Action" } } } }
                tbody {
                    @for (id, u, in_use) in &users {
                        tr {
                            td { (id) }
                            td { (u.name) }
                            td { (u.role.name()) }
                            td { (state(u)) }
                            td {
                                @if may_invite(u, *in_use) {
                                    form method="post" action={ "/staff/" (id) "/invite" } class="inline-form" {
                                        (crate::layout::token(ctx))
                                        button type="submit" class="button secondary" { "Make invitation link" span class="visually-hidden" { " for " (id) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        (crate::pages::accounts::staff_forms(ctx, errors, f))
    };
    crate::pages::form_page(ctx, "Users and invitations", errors, body)
}

/// Makes the link and shows it once, on this answer (it is stored only hashed, so it
/// cannot be shown again after a redirect).
pub async fn invite(
    State(app): State<App>,
    axum::Extension(web): axum::Extension<std::sync::Arc<crate::Web>>,
    Path(user): Path<String>,
    headers: axum::http::HeaderMap,
    Posted(ctx, _form): Posted,
) -> Response {
    if let Some(r) = managers_only(&ctx) {
        return r;
    }
    let Some(u) = app.auth.live_user(&user) else {
        return error_page(
            Some(&ctx),
            &ApiError::not_found(format!("there is no user {user:?}")),
        );
    };
    if !may_invite(
        &u,
        app.auth
            .users(careledger_store::now_us())
            .iter()
            .any(|(id, _, used)| *id == user && *used),
    ) {
        return error_page(
            Some(&ctx),
            &ApiError::forbidden(format!(
                "{user} already has a password, or is a manager or admin: the operator makes their links (careledger user invite)"
            )),
        );
    }
    let dir = app.ledger.store().dir().to_path_buf();
    let (by, who) = (ctx.who.id.clone(), user.clone());
    let made = tokio::task::spawn_blocking(move || {
        AuthFiles::open(&dir)?.invite(
            &who,
            InvitationKind::SetPassword,
            &by,
            careledger_store::now_us(),
            INVITATION_VALID_US,
        )
    })
    .await;
    let secret = match made {
        Ok(Ok(s)) => s,
        Ok(Err(careledger_api::auth::AuthError::Invalid(why))) => {
            return error_page(Some(&ctx), &ApiError::forbidden(why));
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "an invitation could not be made");
            return error_page(
                Some(&ctx),
                &ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the invitation could not be made; try again in a minute",
                ),
            );
        }
        Err(e) => return error_page(Some(&ctx), &ApiError::internal(e.to_string())),
    };
    app.auth.reload();
    tracing::info!(user = %user, by = %ctx.who.id, "invitation made on the staff page");
    let link = crate::pages::accounts::link(&web, &headers, &secret);
    let body = html! {
        h1 { "Invitation link for " (u.name) }
        div class="notice" role="status" {
            p { "Copy this link now and send it to " (user) " only. It is shown once, works once, and lasts 72 hours." }
        }
        p { code class="link" { (link) } }
        p { a href="/staff" { "Back to users and invitations" } }
    };
    respond(
        StatusCode::OK,
        page(Some(&ctx), "Invitation link", &Errors::default(), body),
    )
}
