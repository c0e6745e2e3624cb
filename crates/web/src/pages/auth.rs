//! Signing in and out, invitations, the demo's sign-in links and the display choice.

use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use careledger_api::auth::{AuthFiles, InvitationKind, SignIn};
use careledger_api::{App, ClientAddr, Principal};
use careledger_care::event::{SignInFailed, SignInMethod, SignOutReason, SignedIn};
use careledger_care::CareEvent;
use careledger_ledger::Command;
use maud::html;

use crate::form;
use crate::layout::{self, page, text_field, Display, Errors};
use crate::pages::Posted;
use crate::{html as respond, record_signed_out, signed_in, Web, WEB_ACTOR};

/// Sign-ins whose password hash runs at once; more wait. Each holds 19 MiB while it runs.
pub const PASSWORD_CHECKS_AT_ONCE: usize = 4;
static PASSWORD_CHECKS: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(PASSWORD_CHECKS_AT_ONCE);

/// A path of this site to go to after signing in (never another site's).
/// Only a plain path is accepted: a leading `/` not followed by `/` or `\`, and nothing
/// but the characters of paths and queries this site makes (browsers drop tabs and
/// newlines from URLs, so `/\t/evil.example` would otherwise leave the site).
pub fn local(next: &str) -> &str {
    let plain = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 512
        && next
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.?=&%#".contains(&b));
    if plain {
        next
    } else {
        "/"
    }
}

fn random_token() -> String {
    use base64::Engine;
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b).expect("the operating system's random source");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// The pre-session form token: the one in the cookie, or a new one to set.
fn form_token(web: &Web, headers: &HeaderMap) -> (String, bool) {
    match crate::cookie(headers, web.form_cookie_name()) {
        Some(t) if t.len() == 43 => (t.to_string(), false),
        _ => (random_token(), true),
    }
}

#[derive(serde::Deserialize, Default)]
pub struct SignInQuery {
    #[serde(default)]
    next: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    done: String,
}

fn sign_in_markup(
    token: &str,
    next: &str,
    user: &str,
    errors: &Errors,
    done: &str,
) -> maud::Markup {
    page(
        None,
        "Sign in",
        errors,
        html! {
            @match done {
                "password-set" => (layout::notice("Your password is set. Sign in with it now.")),
                "signed-out" => (layout::notice("You have signed out.")),
                _ => {}
            }
            h1 { "Sign in to careledger" }
            p class="lede" { "Care records, and who has looked at them." }
            form method="post" action="/sign-in" novalidate {
                input type="hidden" name="_token" value=(token);
                input type="hidden" name="next" value=(next);
                (text_field(errors, "user", "User ID", Some("Your manager gave you this with your invitation."), user, "text", Some("username")))
                (text_field(errors, "password", "Password", None, "", "password", Some("current-password")))
                button type="submit" class="button" { "Sign in" }
            }
            p class="muted" { "No password yet? Follow the invitation link your manager sent you." }
        },
    )
}

/// A form posted before there is a session (sign-in, an invitation, a demo link): from
/// this site, with the token of the form cookie the page set. Returns the headers, the
/// fields and that token.
async fn pre_session_form(
    app: &App,
    web: &Web,
    req: Request,
) -> Result<(HeaderMap, form::Form, String), Response> {
    let max = app.limits.body_bytes_max;
    let (headers, form) = form::read(req, max).await.map_err(|r| r.response())?;
    let (token, _) = form_token(web, &headers);
    form::check_token(&form, &token).map_err(|r| r.response())?;
    Ok((headers, form, token))
}

/// The invitation of `kind` that `secret` names, if it can still be used.
fn live_invitation(
    app: &App,
    secret: &str,
    kind: InvitationKind,
) -> Option<careledger_api::auth::Invitation> {
    app.auth
        .invitation(secret, careledger_store::now_us())
        .filter(|i| i.kind == kind)
}

fn with_form_cookie(web: &Web, token: &str, set: bool, mut r: Response) -> Response {
    if set {
        r.headers_mut().append(
            header::SET_COOKIE,
            web.set_cookie(web.form_cookie_name(), token, None),
        );
    }
    r
}

pub async fn sign_in_page(
    State(app): State<App>,
    Extension(web): Extension<Arc<Web>>,
    Query(q): Query<SignInQuery>,
    headers: HeaderMap,
) -> Response {
    if signed_in(&app, &web, &headers, "/sign-in").await.is_some() && q.done.is_empty() {
        return Redirect::to(local(&q.next)).into_response();
    }
    let (token, set) = form_token(&web, &headers);
    let markup = sign_in_markup(&token, local(&q.next), &q.user, &Errors::default(), &q.done);
    with_form_cookie(&web, &token, set, respond(StatusCode::OK, markup))
}

fn client(req: &Request) -> Option<std::net::IpAddr> {
    req.extensions()
        .get::<ConnectInfo<ClientAddr>>()
        .map(|c| c.0 .0.ip())
}

async fn record_failure(app: &App, user: &str, reason: &str) {
    let user: String = user.chars().take(128).collect();
    let event = CareEvent::SignInFailed(SignInFailed {
        user: if user.is_empty() {
            "(none)".into()
        } else {
            user
        },
        reason: reason.into(),
    });
    let command = Command {
        actor: WEB_ACTOR.into(),
        subject: None,
        occurred_at_us: careledger_store::now_us(),
        event,
    };
    if let Err(e) = app.append(vec![command]).await {
        tracing::warn!(error = %e.detail, "a failed sign-in could not be recorded");
    }
}

/// Opens a session for `who`, records it (and any session closed to make room), and
/// answers with the cookie and a redirect to `next`.
async fn open_session(
    app: &App,
    web: &Web,
    who: &Principal,
    method: SignInMethod,
    next: &str,
) -> Response {
    let now = careledger_store::now_us();
    let (id, session, evicted) = match web.sessions.create(&who.id, who.role, now) {
        Ok(created) => created,
        Err(e) => {
            tracing::error!(error = %e, "a session could not be opened");
            return respond(
                StatusCode::SERVICE_UNAVAILABLE,
                layout::problem(None, "Sorry, you cannot sign in just now", &e.to_string()),
            );
        }
    };
    for old in &evicted {
        record_signed_out(app, old, SignOutReason::Replaced).await;
    }
    let event = CareEvent::SignedIn(SignedIn {
        role: who.role,
        method,
        session: session.name.clone(),
    });
    let command = Command {
        actor: who.id.clone(),
        subject: None,
        occurred_at_us: now,
        event,
    };
    // Signing in is recorded before the cookie is given: no unrecorded session.
    if let Err(e) = app.append(vec![command]).await {
        let _ = web.sessions.remove(&id);
        return crate::error_page(None, &e);
    }
    let mut r = Redirect::to(local(next)).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        web.set_cookie(web.cookie_name(), &id, None),
    );
    r
}

pub async fn sign_in(
    State(app): State<App>,
    Extension(web): Extension<Arc<Web>>,
    req: Request,
) -> Response {
    let client = client(&req);
    let (_, form, token) = match pre_session_form(&app, &web, req).await {
        Ok(read) => read,
        Err(r) => {
            app.auth.count_failure(client);
            return r;
        }
    };
    let user = form.get("user").to_string();
    let password = form.raw("password");
    let next = local(form.get("next")).to_string();
    let mut errors = Errors::default();
    if user.is_empty() {
        errors.add("user", "Enter your user ID");
    }
    if password.is_empty() {
        errors.add("password", "Enter your password");
    }
    if !errors.is_empty() {
        let markup = sign_in_markup(&token, &next, &user, &errors, "");
        return respond(StatusCode::UNPROCESSABLE_ENTITY, markup);
    }
    let checked = {
        // A client already locked out is answered before it queues for a hash.
        let locked = app.auth.locked_out(client);
        let _permit = match locked {
            Some(_) => None,
            None => Some(PASSWORD_CHECKS.acquire().await.expect("never closed")),
        };
        let (app2, user2) = (app.clone(), user.clone());
        tokio::task::spawn_blocking(move || app2.auth.sign_in(client, &user2, &password))
            .await
            .unwrap_or(SignIn::Refused)
    };
    match checked {
        SignIn::Ok(who) => open_session(&app, &web, &who, SignInMethod::Password, &next).await,
        SignIn::Refused => {
            // The id as typed is kept only if it is a user's: a password typed into the
            // user field must not end up in the ledger for ever.
            let known = app.auth.live_user(&user).is_some();
            let typed = if known {
                user.as_str()
            } else {
                "(not a user id)"
            };
            record_failure(&app, typed, "wrong user id or password").await;
            app.metrics
                .auth_failures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            errors.add("user", "Enter a correct user ID and password");
            let markup = sign_in_markup(&token, &next, &user, &errors, "");
            respond(StatusCode::UNAUTHORIZED, markup)
        }
        SignIn::LockedOut(seconds) => {
            // Not recorded: a locked-out client could otherwise fill the ledger. The
            // failures that locked it out are recorded, and the metric counts these.
            app.metrics
                .auth_locked_out
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let minutes = seconds.div_ceil(60);
            errors.add(
                "user",
                format!(
                    "Too many failed sign-ins from this device. Try again in {minutes} minutes."
                ),
            );
            let markup = sign_in_markup(&token, &next, &user, &errors, "");
            let mut r = respond(StatusCode::TOO_MANY_REQUESTS, markup);
            if let Ok(v) = seconds.to_string().parse() {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
    }
}

pub async fn sign_out(
    State(app): State<App>,
    Extension(web): Extension<Arc<Web>>,
    req: Request,
) -> Response {
    let (headers, form) = match form::read(req, app.limits.body_bytes_max).await {
        Ok(read) => read,
        Err(refused) => return refused.response(),
    };
    let Some(id) = crate::cookie(&headers, web.cookie_name()).map(str::to_string) else {
        return Redirect::to("/sign-in").into_response();
    };
    let Some(ctx) = signed_in(&app, &web, &headers, "/").await else {
        return Redirect::to("/sign-in").into_response();
    };
    if let Err(r) = form::check_token(&form, &ctx.session.form_token) {
        return r.response();
    }
    if let Ok(Some(session)) = web.sessions.remove(&id) {
        record_signed_out(&app, &session, SignOutReason::SignedOut).await;
    }
    let mut r = Redirect::to("/sign-in?done=signed-out").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        web.set_cookie(web.cookie_name(), "", Some(0)),
    );
    r
}

fn invitation_markup(token: &str, user: &str, name: &str, errors: &Errors) -> maud::Markup {
    page(
        None,
        "Set your password",
        errors,
        html! {
            h1 { "Set your password" }
            p { "Welcome, " (name) ". Your user ID is " strong { (user) } "." }
            p { "Choose a password of at least 12 characters. Three random words work well. You will use it each time you sign in." }
            form method="post" novalidate {
                input type="hidden" name="_token" value=(token);
                (text_field(errors, "password", "New password", None, "", "password", Some("new-password")))
                (text_field(errors, "confirm", "Type the password again", None, "", "password", Some("new-password")))
                button type="submit" class="button" { "Set password" }
            }
        },
    )
}

/// The service could not do what was asked (a file it could not write); nothing was changed.
fn busy() -> Response {
    respond(
        StatusCode::SERVICE_UNAVAILABLE,
        layout::problem(
            None,
            "Sorry, there is a problem with the service",
            "Your password was not set. Try again in a few minutes; the link still works.",
        ),
    )
}

fn link_problem(detail: &str) -> Response {
    respond(
        StatusCode::NOT_FOUND,
        layout::problem(None, "This link does not work", detail),
    )
}

pub async fn invitation_page(
    State(app): State<App>,
    Extension(web): Extension<Arc<Web>>,
    Path(secret): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(inv) = live_invitation(&app, &secret, InvitationKind::SetPassword) else {
        return link_problem("This invitation is not valid: it may have been used already or have expired (invitations last 72 hours). Ask your manager for a new one.");
    };
    let name = app
        .auth
        .live_user(&inv.user)
        .map(|u| u.name)
        .unwrap_or_default();
    let (token, set) = form_token(&web, &headers);
    let markup = invitation_markup(&token, &inv.user, &name, &Errors::default());
    with_form_cookie(&web, &token, set, respond(StatusCode::OK, markup))
}

pub async fn accept_invitation(
    State(app): State<App>,
    Extension(web): Extension<Arc<Web>>,
    Path(secret): Path<String>,
    req: Request,
) -> Response {
    let (_, form, token) = match pre_session_form(&app, &web, req).await {
        Ok(read) => read,
        Err(r) => return r,
    };
    let now = careledger_store::now_us();
    let Some(inv) = live_invitation(&app, &secret, InvitationKind::SetPassword) else {
        return link_problem("This invitation is not valid: it may have been used already or have expired. Ask your manager for a new one.");
    };
    let (password, confirm) = (form.raw("password"), form.raw("confirm"));
    let mut errors = Errors::default();
    if let Err(m) = careledger_api::auth::password::check(&password) {
        errors.add("password", m);
    } else if password != confirm {
        errors.add("confirm", "The two passwords are not the same");
    }
    if !errors.is_empty() {
        let name = app
            .auth
            .live_user(&inv.user)
            .map(|u| u.name)
            .unwrap_or_default();
        return respond(
            StatusCode::UNPROCESSABLE_ENTITY,
            invitation_markup(&token, &inv.user, &name, &errors),
        );
    }
    let dir = app.ledger.store().dir().to_path_buf();
    let done = {
        let _permit = PASSWORD_CHECKS.acquire().await.expect("never closed");
        tokio::task::spawn_blocking(move || {
            let phc = careledger_api::auth::password::hash(&password)
                .map_err(careledger_api::auth::AuthError::Random)?;
            AuthFiles::open(&dir)?.accept_invitation(&secret, phc, now)
        })
        .await
    };
    match done {
        Ok(Ok(user)) => {
            app.auth.reload();
            let user: String = form_urlencoded::byte_serialize(user.as_bytes()).collect();
            Redirect::to(&format!("/sign-in?done=password-set&user={user}")).into_response()
        }
        // Used or expired since the page was shown: say so.
        Ok(Err(careledger_api::auth::AuthError::Invalid(why))) => link_problem(&why),
        // Anything else is the service's trouble, not the link's: logged, not shown.
        Ok(Err(e)) => {
            tracing::error!(error = %e, "a password could not be set");
            busy()
        }
        Err(e) => {
            tracing::error!(error = %e, "a password could not be set");
            busy()
        }
    }
}

pub async fn demo_page(
    State(app): State<App>,
    Extension(web): Extension<Arc<Web>>,
    Path(secret): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(inv) = live_invitation(&app, &secret, InvitationKind::DemoSignIn) else {
        return link_problem("This demo sign-in link is not valid any more: restart `careledger serve --demo` for new ones.");
    };
    let user = app.auth.live_user(&inv.user);
    let role = user.as_ref().map_or("", |u| u.role.name());
    let (token, set) = form_token(&web, &headers);
    let markup = page(
        None,
        "Sign in to the demo",
        &Errors::default(),
        html! {
            h1 { "Sign in to the demo" }
            p { "This link signs you in to the demonstration ledger as " strong { (inv.user) } " (" (role) "). Real users sign in with a password." }
            form method="post" {
                input type="hidden" name="_token" value=(token);
                button type="submit" class="button" { "Sign in as " (inv.user) }
            }
        },
    );
    with_form_cookie(&web, &token, set, respond(StatusCode::OK, markup))
}

pub async fn demo_sign_in(
    State(app): State<App>,
    Extension(web): Extension<Arc<Web>>,
    Path(secret): Path<String>,
    req: Request,
) -> Response {
    if let Err(r) = pre_session_form(&app, &web, req).await {
        return r;
    }
    let Some(inv) = live_invitation(&app, &secret, InvitationKind::DemoSignIn) else {
        return link_problem("This demo sign-in link is not valid any more.");
    };
    let Some(user) = app.auth.live_user(&inv.user) else {
        return link_problem("This link's user no longer exists.");
    };
    let who = Principal {
        id: inv.user,
        role: user.role,
    };
    open_session(&app, &web, &who, SignInMethod::DemoLink, "/").await
}

/// Changes how pages are shown to the signed-in user, and remembers it.
pub async fn display(State(app): State<App>, Posted(ctx, form): Posted) -> Response {
    let back = local(form.get("back")).to_string();
    let Some(display) = Display::parse(form.get("display")) else {
        return Redirect::to(&back).into_response();
    };
    let dir = app.ledger.store().dir().to_path_buf();
    let user = ctx.who.id.clone();
    let saved = tokio::task::spawn_blocking(move || {
        AuthFiles::open(&dir)?.set_display(&user, display.id())
    })
    .await;
    if let Ok(Ok(())) = saved {
        app.auth.reload();
    }
    Redirect::to(&back).into_response()
}
