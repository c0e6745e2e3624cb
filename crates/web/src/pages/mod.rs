//! Every page, by path. Paths people can remember: `/` (home), `/sign-in`, `/sign-out`,
//! `/people/{id}` and its sections, `/findings`, `/requests`, `/audit`.

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod charts;
pub mod check;
pub mod emergency;
pub mod guide;
pub mod home;
pub mod outages;
pub mod oversight;
pub mod person;
pub mod requests;
pub mod review;
pub mod staff;

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use careledger_api::App;

use crate::form::{self, Form};
use crate::{signed_in, to_sign_in, Ctx, Web};

/// The event a form just recorded (`?recorded=SEQ` after its redirect), for the page's
/// confirmation.
#[derive(serde::Deserialize, Default)]
pub struct Recorded {
    #[serde(default)]
    pub recorded: Option<u64>,
}

/// A page with a form: 200, or 422 when `errors` has any (the GOV.UK error pattern's page
/// comes back with the error summary and each field's error).
pub fn form_page(
    ctx: &Ctx,
    title: &str,
    errors: &crate::layout::Errors,
    body: maud::Markup,
) -> Response {
    let status = if errors.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    crate::html(status, crate::layout::page(Some(ctx), title, errors, body))
}

/// The signed-in viewer of a page, or the redirect to sign in.
pub async fn viewer(
    app: &App,
    web: &Web,
    headers: &HeaderMap,
    path: &str,
) -> Result<Ctx, Response> {
    signed_in(app, web, headers, path)
        .await
        .ok_or_else(|| to_sign_in(path))
}

/// The web state the pages' router puts in every request's extensions.
fn web_of(extensions: &axum::http::Extensions) -> Arc<Web> {
    extensions
        .get::<Arc<Web>>()
        .cloned()
        .expect("careledger_web::router adds the Web extension to every page")
}

/// A page's signed-in viewer; anyone else is sent to sign in and back.
pub struct Viewer(pub Ctx);

impl FromRequestParts<App> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        let web = web_of(&parts.extensions);
        viewer(app, &web, &parts.headers, parts.uri.path())
            .await
            .map(Viewer)
    }
}

/// A signed-in form post, checked ([`posted`]): the viewer and the form's fields.
pub struct Posted(pub Ctx, pub Form);

impl FromRequest<App> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, app: &App) -> Result<Self, Response> {
        let web = web_of(req.extensions());
        posted(app, &web, req).await.map(|(c, f)| Posted(c, f))
    }
}

/// A signed-in form post: from this site, with the session's form token.
pub async fn posted(app: &App, web: &Web, req: Request) -> Result<(Ctx, Form), Response> {
    let path = req.uri().path().to_string();
    let (headers, form) = form::read(req, app.limits.body_bytes_max)
        .await
        .map_err(|r| r.response())?;
    let ctx = viewer(app, web, &headers, &path).await?;
    form::check_token(&form, &ctx.session.form_token).map_err(|r| r.response())?;
    Ok((ctx, form))
}

pub fn routes(router: Router<App>) -> Router<App> {
    router
        .route(crate::assets::CSS_PATH, get(crate::assets::css))
        .route("/", get(home::home))
        .route("/sign-in", get(auth::sign_in_page).post(auth::sign_in))
        .route("/sign-out", post(auth::sign_out))
        .route("/check", get(check::check))
        .route("/guide", get(guide::guide).post(guide::publish))
        .route("/guide/document", get(guide::document))
        .route(
            "/invitation/{secret}",
            get(auth::invitation_page).post(auth::accept_invitation),
        )
        .route(
            "/demo/{secret}",
            get(auth::demo_page).post(auth::demo_sign_in),
        )
        .route("/display", post(auth::display))
        .route("/people", get(home::people))
        .route(
            "/people/new",
            get(accounts::new_person_page).post(accounts::new_person),
        )
        .route(
            "/people/{id}/contacts",
            get(accounts::contacts_page).post(accounts::add_contact),
        )
        .route("/staff/new", post(accounts::new_staff))
        .route("/staff/partners", post(accounts::new_partner))
        .route("/people/{id}", get(person::overview))
        .route(
            "/people/{id}/care-plan",
            get(person::care_plan).post(person::publish_plan),
        )
        .route(
            "/people/{id}/daily-notes",
            get(person::daily_notes).post(person::add_note),
        )
        .route("/people/{id}/visits", post(person::start_visit))
        .route("/people/{id}/visits/{visit}/end", post(person::end_visit))
        .route("/people/{id}/tasks", post(person::record_task))
        .route("/people/{id}/medicines", get(person::medicines))
        .route("/people/{id}/documents/{kind}", get(person::document))
        .route(
            "/people/{id}/documents/{kind}/email",
            post(person::email_document),
        )
        .route(
            "/people/{id}/email-address",
            get(person::email_addresses).post(person::record_email_address),
        )
        .route("/people/{id}/handovers", get(person::handovers))
        .route("/people/{id}/handovers/sent", post(person::record_sent))
        .route(
            "/people/{id}/handovers/received",
            post(person::record_received),
        )
        .route(
            "/people/{id}/handover",
            get(person::partner_handover_page).post(person::partner_handover),
        )
        .route(
            "/people/{id}/medicines/{medicine}",
            post(person::record_dose),
        )
        .route("/people/{id}/who-looked", get(person::who_looked))
        .route(
            "/people/{id}/sharing",
            get(person::sharing).post(person::give_access),
        )
        .route(
            "/people/{id}/sharing/{grant}/take-back",
            post(person::take_back),
        )
        .route(
            "/people/{id}/sharing/partners",
            post(person::share_with_partner),
        )
        .route(
            "/people/{id}/sharing/partners/{partner}/stop",
            post(person::stop_sharing),
        )
        .route(
            "/people/{id}/choices",
            get(person::choices).post(person::record_choices),
        )
        .route(
            "/emergency",
            get(emergency::emergency_page).post(emergency::break_glass),
        )
        .route("/staff", get(staff::staff))
        .route("/staff/{user}/invite", post(staff::invite))
        .route("/people/{id}/paper", post(person::place_paper))
        .route(
            "/people/{id}/from-paper",
            get(person::from_paper).post(person::add_from_paper),
        )
        .route("/outages", get(outages::outages).post(outages::declare))
        .route("/outages/{outage}/end", post(outages::end))
        .route("/findings", get(oversight::findings))
        .route(
            "/findings/break-glass/{seq}",
            get(review::review_page).post(review::review),
        )
        .route(
            "/requests",
            get(oversight::requests).post(requests::received),
        )
        .route("/requests/{id}/acknowledge", post(requests::acknowledge))
        .route("/requests/{id}/respond", post(requests::respond))
        .route("/audit", get(audit::audit))
        .route("/audit/events/{seq}", get(audit::event))
        .route("/audit/events/{seq}/proof.json", get(audit::proof))
        .route("/audit/events/{seq}/envelope", get(audit::envelope))
        .route("/audit/events/{seq}/checkpoint.txt", get(audit::checkpoint))
}

/// A new random id for an event that names its own (a grant, a visit, a council request).
pub fn random_id(prefix: &str) -> String {
    let mut b = [0u8; 6];
    getrandom::getrandom(&mut b).expect("the operating system's random source");
    format!(
        "{prefix}-{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}
