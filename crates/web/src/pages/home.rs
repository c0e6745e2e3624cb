//! Home: what each role comes to do, and the list of people they may see.

use crate::pages::Viewer;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use careledger_api::handlers::default_purpose;
use careledger_api::{gate, App};
use careledger_care::policy;
use careledger_care::{Category, Role};
use careledger_ledger::Command;
use maud::{html, Markup};

use crate::layout::{page, Errors};
use crate::{html as respond, Ctx};

/// The links of the site's navigation for the viewer's role.
pub fn links(ctx: &Ctx) -> Vec<(String, &'static str)> {
    let mut links = vec![("/".to_string(), "Home")];
    match ctx.who.role {
        Role::Person => {
            let me = format!("/people/{}", ctx.who.id);
            links.push((me.clone(), "My record"));
            links.push((format!("{me}/who-looked"), "Who looked"));
            links.push((format!("{me}/sharing"), "Who can see what"));
            links.push(("/guide".into(), "Service User Guide"));
        }
        Role::RegisteredManager | Role::ProviderAdmin => {
            links.push(("/findings".into(), "What needs doing"));
            links.push(("/people".into(), "People"));
            links.push(("/requests".into(), "Council requests"));
            links.push(("/staff".into(), "Users"));
            links.push(("/outages".into(), "Outages"));
            links.push(("/guide".into(), "Service User Guide"));
            if ctx.who.role == Role::RegisteredManager {
                links.push(("/audit".into(), "Who saw what"));
            }
        }
        Role::MonitoringOfficer | Role::SocialCareProfessional => {
            links.push(("/findings".into(), "Findings"));
            links.push(("/requests".into(), "Council requests"));
            links.push(("/people".into(), "People"));
        }
        Role::Auditor => links.push(("/audit".into(), "Who saw what")),
        Role::EmergencyClinician => links.push(("/emergency".into(), "Emergency access")),
        Role::CareWorker | Role::Coordinator => {
            links.push(("/people".into(), "People"));
            links.push(("/outages".into(), "Outages"));
            links.push(("/guide".into(), "Service User Guide"));
        }
        _ => links.push(("/people".into(), "People")),
    }
    links
}

pub fn nav(ctx: &Ctx) -> Markup {
    html! {
        nav class="site-nav wrap" aria-label="Main" {
            ul {
                @for (href, label) in links(ctx) {
                    li { a href=(href) aria-current=[(ctx.path == href).then_some("page")] { (label) } }
                }
            }
        }
    }
}

pub async fn home(Viewer(ctx): Viewer) -> Response {
    if ctx.who.role == Role::Person {
        return Redirect::to(&format!("/people/{}", ctx.who.id)).into_response();
    }
    let jobs: Vec<(&str, &str, &str)> = match ctx.who.role {
        Role::CareWorker | Role::Coordinator => vec![(
            "/people",
            "My people today",
            "Start and end visits, write diary notes, give medicines from the MAR.",
        )],
        Role::RegisteredManager | Role::ProviderAdmin => vec![
            (
                "/findings",
                "What needs doing",
                "Choices discussions, paper copies, AIS needs and council requests that need you.",
            ),
            ("/people", "People", "Records, care plans and choices."),
            (
                "/requests",
                "Council requests",
                "Requests and the time left to answer them.",
            ),
        ],
        Role::MonitoringOfficer | Role::SocialCareProfessional => vec![
            (
                "/findings",
                "The provider's findings",
                "Consent evidence and what is not yet done.",
            ),
            (
                "/requests",
                "Council requests",
                "Your requests and how fast they were answered.",
            ),
        ],
        Role::Auditor => vec![(
            "/audit",
            "Who saw what",
            "Every access to a record, with its proof.",
        )],
        Role::Family | Role::Representative => vec![(
            "/people",
            "People you support",
            "What they have let you see.",
        )],
        Role::Partner => vec![(
            "/people",
            "People you work with",
            "What each has agreed to share with you.",
        )],
        Role::EmergencyClinician => vec![(
            "/emergency",
            "Emergency access",
            "A person's medicines and allergies in an emergency: recorded, and reviewed.",
        )],
        Role::Person => vec![],
    };
    let body = html! {
        h1 { "Hello, " (ctx.name) }
        ul class="cards" {
            @for (href, title, text) in &jobs {
                li {
                    h2 { a href=(href) { (title) } }
                    p { (text) }
                }
            }
        }
    };
    respond(
        StatusCode::OK,
        page(Some(&ctx), "Home", &Errors::default(), body),
    )
}

/// One person as the list shows them.
struct Listed {
    id: String,
    name: String,
    ais_flag: Option<String>,
    in_care: bool,
}

/// People the viewer may see the names of (personal details, for their role's purpose),
/// each read recorded as an access event, all appended before the page is sent.
pub async fn people(State(app): State<App>, Viewer(ctx): Viewer) -> Response {
    if ctx.who.role == Role::Family {
        return family_people(&app, &ctx);
    }
    if ctx.who.role == Role::Partner {
        return partner_people(&app, &ctx);
    }
    let purpose = default_purpose(ctx.who.role);
    let now = careledger_store::now_us();
    let principal = policy::Principal {
        id: &ctx.who.id,
        role: ctx.who.role,
    };
    let found = app.ledger.read(|s| {
        let mut listed = Vec::new();
        let mut commands = Vec::new();
        for (id, p) in s.people.iter() {
            let decision = policy::decide(
                s,
                &principal,
                id,
                &[Category::PersonalDetails],
                purpose,
                now,
            );
            if !decision.is_allowed() {
                continue;
            }
            listed.push(Listed {
                id: id.clone(),
                name: p.details.name.clone(),
                ais_flag: p.ais_flag(),
                in_care: p.care_active(),
            });
            commands.push(Command::about(
                &ctx.who.id,
                id,
                now,
                gate::access_event(
                    &ctx.who,
                    &[Category::PersonalDetails],
                    purpose,
                    1,
                    &decision.allowed,
                ),
            ));
            if listed.len() >= PEOPLE_LISTED_MAX {
                break;
            }
        }
        (listed, commands)
    });
    let (listed, commands) = match found {
        Ok(found) => found,
        Err(e) => return crate::error_page(Some(&ctx), &e.into()),
    };
    if !commands.is_empty() {
        if let Err(e) = app.append(commands).await {
            return crate::error_page(Some(&ctx), &e);
        }
    }
    let body = html! {
        h1 { "People" }
        @if policy::may_record(ctx.who.role, "person.registered") {
            p { a href="/people/new" class="button secondary" { "Add a person" } }
        }
        @if listed.is_empty() {
            p { "There is nobody whose record you may see. A person can give you access to parts of their record." }
        } @else {
            p class="muted" { "Opening this list is recorded in each person's access log." }
            div class="table-wrap" {
                table {
                    caption class="visually-hidden" { "People whose records you may open" }
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Care" } th scope="col" { "Communication needs" } } }
                    tbody {
                        @for p in &listed {
                            tr {
                                td { a href={ "/people/" (p.id) } { (p.name) } }
                                td { @if p.in_care { "Receiving care" } @else { "Not receiving care" } }
                                td { @if let Some(f) = &p.ais_flag { (f) } @else { "None recorded" } }
                            }
                        }
                    }
                }
            }
        }
    };
    respond(
        StatusCode::OK,
        page(Some(&ctx), "People", &Errors::default(), body),
    )
}

/// People one list shows at most (the demo has 12; a provider's caseload is hundreds).
pub const PEOPLE_LISTED_MAX: usize = 500;

/// The page of a category, where the pages have one.
fn section_of(c: Category) -> Option<(&'static str, &'static str)> {
    match c {
        Category::CarePlan => Some(("care-plan", "care plan")),
        Category::DailyNotes => Some(("daily-notes", "daily notes")),
        Category::Medicines => Some(("medicines", "medicines")),
        Category::AccessLog => Some(("who-looked", "who looked")),
        Category::ConsentRecords => Some(("sharing", "who can see what")),
        _ => None,
    }
}

/// For family and carers: the people whose live grants name them, and what each let them
/// see. Only the person's id and the grant are shown (the grant is theirs to know), so no
/// record is read and no access event is written; each link is a gate read.
fn family_people(app: &App, ctx: &Ctx) -> Response {
    let now = careledger_store::now_us();
    let me = careledger_care::Grantee::Principal(ctx.who.id.clone());
    let found = app.ledger.read(|s| {
        s.people
            .iter()
            .filter_map(|(id, p)| {
                let mut cats: Vec<Category> = p
                    .grants
                    .values()
                    .filter(|g| {
                        g.grantee == me
                            && g.revoked.is_none()
                            && g.expires_at_us.is_none_or(|e| e > now)
                    })
                    .flat_map(|g| g.categories.iter().copied())
                    .collect();
                cats.sort();
                cats.dedup();
                (!cats.is_empty()).then(|| (id.clone(), cats))
            })
            .take(PEOPLE_LISTED_MAX)
            .collect::<Vec<_>>()
    });
    let people = match found {
        Ok(p) => p,
        Err(e) => return crate::error_page(Some(ctx), &e.into()),
    };
    let body = html! {
        h1 { "People you support" }
        @if people.is_empty() {
            p { "Nobody has given you access to their record yet. A person can give you access on their “Who can see my record” page, using your user ID: " strong { (ctx.who.id) } "." }
        } @else {
            ul {
                @for (id, cats) in &people {
                    li {
                        (id) ": "
                        @for (i, c) in cats.iter().enumerate() {
                            @if i > 0 { ", " }
                            @match section_of(*c) {
                                Some((seg, label)) => { a href={ "/people/" (id) "/" (seg) } { (label) } }
                                None => { (c.name()) }
                            }
                        }
                    }
                }
            }
        }
    };
    respond(
        StatusCode::OK,
        page(Some(ctx), "People", &Errors::default(), body),
    )
}

/// For a partner (a district nurse team, a day centre): the people who agreed to share
/// with them, what, and the channel agreed with the provider. Sharing consent lets the
/// provider hand information over to the partner by that channel; it opens no record to
/// the partner, so only ids and the consent (theirs to know) are shown and nothing is read.
fn partner_people(app: &App, ctx: &Ctx) -> Response {
    let found = app.ledger.read(|s| {
        let partner = s.partners.get(&ctx.who.id).cloned();
        let people: Vec<(String, Vec<Category>)> = s
            .people
            .iter()
            .filter_map(|(id, p)| {
                p.sharing
                    .get(&ctx.who.id)
                    .filter(|c| c.given)
                    .map(|c| (id.clone(), c.categories.to_vec()))
            })
            .take(PEOPLE_LISTED_MAX)
            .collect();
        (partner, people)
    });
    let (partner, people) = match found {
        Ok(f) => f,
        Err(e) => return crate::error_page(Some(ctx), &e.into()),
    };
    let body = html! {
        h1 { "People you work with" }
        @if let Some(p) = &partner {
            p class="lede" { "The provider hands information over to " (p.name) " by " (p.agreed_channel.name()) " (" (p.contact) "), for the people below and only what each agreed to." }
        } @else {
            p { "The provider has not registered you as a partner yet." }
        }
        @if people.is_empty() {
            p { "Nobody has agreed to share their record with you yet." }
        } @else {
            div class="table-wrap" {
                table {
                    caption class="visually-hidden" { "People who agreed to share with you" }
                    thead { tr { th scope="col" { "Person" } th scope="col" { "Agreed to share" } th scope="col" { span class="visually-hidden" { "Action" } } } }
                    tbody {
                        @for (id, cats) in &people {
                            tr {
                                td { (id) }
                                td { (cats.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")) }
                                td { a href={ "/people/" (id) "/handover" } { "Hand over to the provider" span class="visually-hidden" { " about " (id) } } }
                            }
                        }
                    }
                }
            }
        }
    };
    respond(
        StatusCode::OK,
        page(Some(ctx), "People", &Errors::default(), body),
    )
}
