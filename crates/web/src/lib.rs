//! careledger's pages: server-rendered HTML for the people who use the ledger, on the same
//! service and port as the JSON API (pages at `/`, the API under `/v1`).
//!
//! The pages are another face over the API crate's access gate, read models
//! (`careledger_api::views`) and write path (`careledger_api::handlers::record`): a page
//! that shows a person's data makes exactly one `gate::read`, as an API read does, and a
//! form records through the same checks as `POST /v1/events`. Nothing here decides who
//! may see or record what.
//!
//! Plain HTML forms, POST then redirect then GET, no script at all. Signing in is a
//! password set through a one-time invitation (argon2id, `careledger_api::auth`), and a
//! server-side session ([`session`]) named by a cookie. Every POST must come from this
//! site (`Sec-Fetch-Site`/`Origin`) and carry the session's form token ([`form`]).
#![forbid(unsafe_code)]

pub mod assets;
pub mod form;
pub mod layout;
pub mod pages;
pub mod session;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use careledger_api::{App, Principal};
use careledger_care::event::{SignOutReason, SignedOut};
use careledger_care::CareEvent;
use careledger_ledger::Command;

use layout::Display;
use session::{Session, Sessions};

/// The actor of the events the pages record for nobody in particular (a failed sign-in).
pub const WEB_ACTOR: &str = "careledger-web";
/// Idle timeout of a browser session unless `serve --session-idle-minutes` says otherwise.
pub const IDLE_DEFAULT: Duration = Duration::from_secs(30 * 60);

/// What the pages need beyond the API's state.
pub struct Web {
    pub sessions: Sessions,
    /// Cookies marked `Secure` with the `__Host-` prefix: the service is behind TLS.
    pub secure: bool,
}

impl Web {
    pub fn open(
        dir: &std::path::Path,
        idle: Duration,
        secure: bool,
    ) -> Result<Self, session::SessionError> {
        Ok(Self {
            sessions: Sessions::open(dir, idle)?,
            secure,
        })
    }

    /// The session cookie's name: `__Host-` (Secure, host-only, path /) under TLS. On
    /// plain HTTP, as `serve --demo` on loopback, browsers refuse `Secure` cookies, so the
    /// cookie is the same but without `Secure` and the prefix.
    pub fn cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-careledger"
        } else {
            "careledger"
        }
    }

    /// The cookie that carries the sign-in form's token before there is a session.
    pub fn form_cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-careledger-form"
        } else {
            "careledger-form"
        }
    }

    pub fn set_cookie(&self, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
        let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
        if self.secure {
            c.push_str("; Secure");
        }
        if let Some(age) = max_age {
            c.push_str(&format!("; Max-Age={age}"));
        }
        HeaderValue::from_str(&c).expect("cookie values are base64url")
    }
}

/// Who is looking at a page: the signed-in principal, their session and display.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub who: Principal,
    /// Their name as the ledger or the user list knows it.
    pub name: String,
    pub session: Session,
    pub display: Display,
    /// The path of the page asked for (to come back to after changing the display).
    pub path: String,
}

/// The value of cookie `name` in the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The signed-in user of a request, or `None` (no cookie, an unknown or idle session, a
/// revoked user, a session from before the password was set again). An idle session
/// found here is recorded as signed out.
pub async fn signed_in(app: &App, web: &Web, headers: &HeaderMap, path: &str) -> Option<Ctx> {
    let id = cookie(headers, web.cookie_name())?;
    let now = careledger_store::now_us();
    let (found, ended) = web.sessions.touch(id, now);
    if let Some(ended) = ended {
        record_signed_out(app, &ended.session, ended.reason).await;
    }
    let session = found?;
    let user = app.auth.live_user(&session.user);
    let valid = user
        .as_ref()
        .is_some_and(|u| u.role == session.role && session.created_at_us >= u.sessions_from_us);
    if !valid {
        if web.sessions.remove(id).ok().flatten().is_some() {
            record_signed_out(app, &session, SignOutReason::UserRevoked).await;
        }
        return None;
    }
    let user = user.expect("checked");
    let who = Principal {
        id: session.user.clone(),
        role: session.role,
    };
    let name = app
        .ledger
        .read(|s| {
            s.staff
                .get(&who.id)
                .map(|m| m.name.clone())
                .or_else(|| {
                    (who.role == careledger_care::Role::Person)
                        .then(|| s.person(&who.id).map(|p| p.details.name.clone()))
                        .flatten()
                })
                // Representatives are kept per person: looked for only in that role.
                .or_else(|| {
                    (who.role == careledger_care::Role::Representative)
                        .then(|| {
                            s.people.values().find_map(|p| {
                                p.representatives.get(&who.id).map(|r| r.name.clone())
                            })
                        })
                        .flatten()
                })
                .or_else(|| s.partners.get(&who.id).map(|p| p.name.clone()))
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| user.name.clone());
    let display = match user.display.as_deref().and_then(Display::parse) {
        Some(d) => d,
        None if who.role == careledger_care::Role::Person => {
            pages::person::display_from_needs(app, &who.id)
        }
        None => Display::Standard,
    };
    Some(Ctx {
        who,
        name,
        session,
        display,
        path: path.to_string(),
    })
}

/// Records that a session ended (best effort: a sign-out is not refused because the ledger
/// cannot take its event; the session is gone either way, and the failure is logged).
pub async fn record_signed_out(app: &App, session: &Session, reason: SignOutReason) {
    let event = CareEvent::SignedOut(SignedOut {
        session: session.name.clone(),
        reason,
    });
    let command = Command {
        actor: session.user.clone(),
        subject: None,
        occurred_at_us: careledger_store::now_us(),
        event,
    };
    if let Err(e) = app.append(vec![command]).await {
        tracing::warn!(error = %e.detail, "a sign-out could not be recorded");
    }
}

/// Closes idle sessions and those of revoked users every [`session::FLUSH_EVERY`],
/// recording each, and writes the sessions' last-seen times. Ends when the service shuts
/// down.
pub async fn sweep(app: App, web: Arc<Web>) {
    let mut tick = tokio::time::interval(session::FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if app.shutting_down.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let now = careledger_store::now_us();
        let ended = web.sessions.sweep(now, |s| {
            app.auth
                .live_user(&s.user)
                .is_some_and(|u| u.role == s.role && s.created_at_us >= u.sessions_from_us)
        });
        match ended {
            Ok(ended) => {
                for e in ended {
                    record_signed_out(&app, &e.session, e.reason).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "the sessions file could not be written"),
        }
        // Also after a sign-out that could not be recorded: the ledger's count of a
        // user's open sessions never stays above the sessions they hold.
        reconcile(&app, &web).await;
    }
}

/// Records as ended every session the ledger holds open that the sessions file does not
/// (the service stopped between writing the event and the file, or the file was removed to
/// sign everyone out), so the ledger's account of open sessions is the file's and a user's
/// bound of open sessions is not filled by sessions nobody holds.
pub async fn reconcile(app: &App, web: &Web) {
    let held = web.sessions.names();
    let stale = app.ledger.read(|s| {
        s.sessions
            .iter()
            .filter(|(user, _)| !user.is_empty())
            .flat_map(|(user, u)| {
                u.open
                    .keys()
                    .filter(|name| !held.contains(*name))
                    .map(|name| (user.clone(), name.clone()))
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    });
    let Ok(stale) = stale else { return };
    for (user, name) in stale {
        let command = Command {
            actor: user,
            subject: None,
            occurred_at_us: careledger_store::now_us(),
            event: CareEvent::SignedOut(SignedOut {
                session: name,
                reason: SignOutReason::IdleTimeout,
            }),
        };
        if let Err(e) = app.append(vec![command]).await {
            tracing::warn!(error = %e.detail, "a lost session's end could not be recorded");
        }
    }
}

/// Sends the browser to sign in, and back to `path` afterwards.
pub fn to_sign_in(path: &str) -> Response {
    let next: String = form_urlencoded::byte_serialize(path.as_bytes()).collect();
    Redirect::to(&format!("/sign-in?next={next}")).into_response()
}

/// Every page's answer carries these: no script or frame from anywhere, no referrer, no
/// sniffing, and nothing stored by caches (pages hold personal data).
async fn headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// An HTML answer with its status.
pub fn html(status: StatusCode, markup: maud::Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

/// The status a page answers an API error with, and the page.
pub fn error_page(ctx: Option<&Ctx>, e: &careledger_api::ApiError) -> Response {
    let title = match e.status {
        StatusCode::FORBIDDEN => "You cannot see this",
        StatusCode::NOT_FOUND => "Page not found",
        StatusCode::SERVICE_UNAVAILABLE => "Sorry, the service is busy",
        s if s.is_server_error() => "Sorry, there is a problem with the service",
        _ => "There is a problem",
    };
    let mut r = html(e.status, layout::problem(ctx, title, &e.detail));
    if let Some(s) = e.retry_after {
        if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    r
}

/// The pages, as routes over the API's state, with `web` beside it. Merged into the API's
/// router (`careledger_api::routes::router_with`) so that the request log, metrics, time
/// limit and body limit cover them alike.
pub fn router(web: Arc<Web>) -> Router<App> {
    pages::routes(Router::new())
        .layer(middleware::from_fn(headers))
        .layer(axum::Extension(web))
}
