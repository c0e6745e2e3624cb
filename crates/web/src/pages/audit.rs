//! For auditors: who saw what, each access with its inclusion proof against the latest
//! signed checkpoint, downloadable for offline checking (`tools/verify_export.py
//! --inclusion`, or `careledger verify` with the same files).

use crate::pages::Viewer;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use careledger_api::handlers::{audit as audit_query, inclusion_proof, AuditFilter, AuditQuery};
use careledger_api::{gate, ApiError, App};
use careledger_care::{Category, Purpose, Role};
use maud::html;

use crate::layout::{page, text_field, time_el, Errors};
use crate::pages::person::access_sentence;
use crate::{error_page, html as respond, Ctx};

#[derive(serde::Deserialize, Default)]
pub struct Filters {
    #[serde(default)]
    person: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    after: Option<u64>,
}

/// The first instant of a UK day.
fn day_start(d: &str) -> Option<i64> {
    crate::layout::from_uk(d, "00:00").ok()
}

/// A choice from a select of an enum's values: none for "Any", the error for anything else.
fn chosen<T: serde::de::DeserializeOwned>(
    value: &str,
    field: &str,
    what: &str,
    errors: &mut Errors,
) -> Option<T> {
    if value.is_empty() {
        return None;
    }
    serde_json::from_value(serde_json::Value::String(value.into()))
        .map_err(|_| errors.add(field, format!("Select {what} from the list")))
        .ok()
}

/// The form value of an enum's variant (its serde name).
fn value_of<T: serde::Serialize>(v: T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// A select of every value of an enum, "Any" first.
fn select(id: &str, label: &str, options: &[(String, &str)], current: &str) -> maud::Markup {
    html! {
        div class="field" {
            label for=(id) { (label) }
            select id=(id) name=(id) {
                option value="" { "Any" }
                @for (v, name) in options {
                    option value=(v) selected[v == current] { (name) }
                }
            }
        }
    }
}

pub async fn audit(
    State(app): State<App>,
    Viewer(ctx): Viewer,
    Query(f): Query<Filters>,
) -> Response {
    let mut errors = Errors::default();
    let category: Option<Category> = chosen(
        &f.category,
        "category",
        "a kind of information",
        &mut errors,
    );
    let role: Option<Role> = chosen(&f.role, "role", "a role", &mut errors);
    let purpose: Option<Purpose> = chosen(&f.purpose, "purpose", "a purpose", &mut errors);
    let from = match f.from.as_str() {
        "" => None,
        d => day_start(d).or_else(|| {
            errors.add("from", "Enter the first day as a date");
            None
        }),
    };
    let to = match f.to.as_str() {
        "" => None,
        // To the end of that UK day, which is 23 or 25 hours long when the clocks change.
        d => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.succ_opt())
            .and_then(|n| day_start(&n.format("%Y-%m-%d").to_string()))
            .map(|t| t - 1)
            .or_else(|| {
                errors.add("to", "Enter the last day as a date");
                None
            }),
    };
    let rows = if errors.is_empty() {
        let query = AuditQuery {
            person: (!f.person.is_empty()).then(|| f.person.clone()),
            filter: AuditFilter {
                actor: (!f.actor.is_empty()).then(|| f.actor.clone()),
                role,
                purpose,
                category,
                from,
                to,
            },
            after: f.after,
            limit: 100,
        };
        match audit_query(&app, &ctx.who, query).await {
            Ok(r) => Some(r),
            Err(e) if e.status == StatusCode::BAD_REQUEST => {
                errors.add(e.field.as_deref().unwrap_or("person"), e.detail);
                None
            }
            Err(e) => return error_page(Some(&ctx), &e),
        }
    } else {
        None
    };
    let body = html! {
        h1 { "Who saw what" }
        form method="get" class="filters" {
            (text_field(&errors, "person", "Person's ID", None, &f.person, "text", None))
            (text_field(&errors, "actor", "Reader's ID", None, &f.actor, "text", None))
            (select("role", "Reader's role", &Role::ALL.iter().map(|r| (value_of(r), r.name())).collect::<Vec<_>>(), &f.role))
            (select("purpose", "Why they looked", &Purpose::ALL.iter().map(|p| (value_of(p), p.name())).collect::<Vec<_>>(), &f.purpose))
            (select("category", "Kind of information", &Category::ALL.iter().map(|c| (value_of(c), c.name())).collect::<Vec<_>>(), &f.category))
            (text_field(&errors, "from", "From (day)", None, &f.from, "date", None))
            (text_field(&errors, "to", "To (day)", None, &f.to, "date", None))
            button type="submit" class="button" { "Show accesses" }
        }
        @if let Some(page_) = &rows {
            p class="muted" { "This query was recorded in the access log of each person it shows (events " (page_.access_events.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", ")) ")." }
            @if page_.items.is_empty() { p { "No accesses match." } } @else {
                div class="table-wrap" {
                    table {
                        caption class="visually-hidden" { "Accesses to records" }
                        thead { tr { th scope="col" { "Event" } th scope="col" { "When" } th scope="col" { "Person" } th scope="col" { "What happened" } } }
                        tbody {
                            @for r in &page_.items {
                                @let item = careledger_api::wire::AccessItem { event: r.event.clone(), reader: r.reader.clone() };
                                tr {
                                    td { a href={ "/audit/events/" (r.event.event) } { "Event " (r.event.event) } }
                                    td { (time_el(&r.event.recorded_at)) }
                                    td { (r.person.as_deref().unwrap_or("")) }
                                    td { (access_sentence(&item, false)) }
                                }
                            }
                        }
                    }
                }
                @if let Some(next) = page_.next_after {
                    @let query = form_urlencoded::Serializer::new(String::new())
                        .extend_pairs([("person", f.person.as_str()), ("actor", &f.actor), ("role", &f.role), ("purpose", &f.purpose), ("category", &f.category), ("from", &f.from), ("to", &f.to), ("after", &next.to_string())])
                        .finish();
                    p { a href={ "/audit?" (query) } { "Older accesses" } }
                }
            }
        }
    };
    crate::pages::form_page(&ctx, "Who saw what", &errors, body)
}

/// What the event page shows: the access event, its proof, and the checkpoint.
struct Proven {
    item: careledger_api::wire::AccessItem,
    person: Option<String>,
    proof: careledger_api::wire::InclusionProof,
    checkpoint: String,
}

/// The access event `seq` (through the gate: reading it is reading the person's access
/// log), with its inclusion proof against the latest signed checkpoint that covers it.
async fn proven(app: &App, ctx: &Ctx, seq: u64) -> Result<Proven, ApiError> {
    let store = app.ledger.store().clone();
    // One answer for every event that is not an access to a record, so that the page
    // tells nobody what else event N is.
    let none = || ApiError::not_found(format!("there is no access event {seq}"));
    if seq >= store.size() {
        return Err(none());
    }
    let stored = store.get(seq)?;
    let access = ["access.read", "access.refused", "access.emergency"]
        .contains(&stored.envelope.kind.as_str());
    let Some(person) = stored.envelope.subject.clone().filter(|_| access) else {
        return Err(none());
    };
    let granted = gate::read(
        app,
        &ctx.who,
        &person,
        &[Category::AccessLog],
        Purpose::Audit,
        move |app, _| {
            let stored = app.ledger.store().get(seq)?;
            let event = careledger_api::views::decode(&stored)?;
            let item = careledger_api::views::event_item(&stored.envelope, event.as_ref());
            let role = careledger_api::views::access_role(event.as_ref());
            let person = stored.envelope.subject.clone();
            let reader = app
                .ledger
                .read(|s| careledger_api::views::reader(s, person.as_deref(), &item.actor, role))?;
            Ok((
                careledger_api::wire::AccessItem {
                    event: item,
                    reader,
                },
                1,
            ))
        },
    )
    .await?;
    // The latest signed checkpoint, or a new one if it does not cover the event yet.
    let note = match store.latest_checkpoint()? {
        Some(n) if checkpoint_size(&n).is_some_and(|s| s > seq) => n,
        _ => {
            let s = store.clone();
            tokio::task::spawn_blocking(move || s.checkpoint_now())
                .await
                .map_err(|e| ApiError::internal(e.to_string()))??
        }
    };
    let size = checkpoint_size(&note)
        .ok_or_else(|| ApiError::internal("the checkpoint names no tree size"))?;
    let proof = inclusion_proof(app, seq, size)?;
    Ok(Proven {
        item: granted.data,
        person: Some(person),
        proof,
        checkpoint: note,
    })
}

/// The tree size on a checkpoint note's second line.
fn checkpoint_size(note: &str) -> Option<u64> {
    note.lines().nth(1)?.trim().parse().ok()
}

pub async fn event(State(app): State<App>, Viewer(ctx): Viewer, Path(seq): Path<u64>) -> Response {
    let p = match proven(&app, &ctx, seq).await {
        Ok(p) => p,
        Err(e) => return error_page(Some(&ctx), &e),
    };
    let line = serde_json::to_string(&p.proof).unwrap_or_default();
    let body = html! {
        h1 { "Event " (seq) }
        p class="lede" { (access_sentence(&p.item, false)) "." }
        dl class="summary" {
            dt { "Person" } dd { (p.person.as_deref().unwrap_or("")) }
            dt { "Recorded" } dd { (time_el(&p.item.event.recorded_at)) }
            dt { "Kind" } dd { (p.item.event.kind) }
            dt { "Reader" } dd { (p.item.event.actor) }
        }
        h2 { "Proof" }
        p { "This event is leaf " (p.proof.leaf_index) " of the ledger's tree of " (p.proof.tree_size) " events, whose root the checkpoint below signs." }
        ul {
            li { a href={ "/audit/events/" (seq) "/proof.json?size=" (p.proof.tree_size) } download={ "event-" (seq) "-inclusion.json" } { "Download the inclusion proof" } }
            li { a href={ "/audit/events/" (seq) "/envelope" } download={ "event-" (seq) ".envelope" } { "Download the event's envelope" } }
            li { a href={ "/audit/events/" (seq) "/checkpoint.txt?size=" (p.proof.tree_size) } download="checkpoint.txt" { "Download the signed checkpoint" } " of the tree of " (p.proof.tree_size) " events" }
            li { a href="/v1/ledger/key" download="verifier-key.txt" { "Download the ledger's verifier key" } }
        }
        h3 { "Inclusion proof" }
        pre class="proof" { (line) }
        h3 { "Signed checkpoint" }
        pre class="proof" { (p.checkpoint) }
        p { "To check it offline, with nothing from this service but these files:" }
        pre class="proof" { "python3 tools/verify_export.py --checkpoint checkpoint.txt --key @verifier-key.txt \\\n    --inclusion event-" (seq) "-inclusion.json --envelope event-" (seq) ".envelope" }
    };
    respond(
        StatusCode::OK,
        page(
            Some(&ctx),
            &format!("Event {seq}"),
            &Errors::default(),
            body,
        ),
    )
}

/// The event's stored envelope bytes (docs/FORMAT.md 1.1), whose leaf hash the proof names.
pub async fn envelope(
    State(app): State<App>,
    Viewer(ctx): Viewer,
    Path(seq): Path<u64>,
) -> Response {
    // Through the gate like the event page: the envelope is the access event itself.
    if let Err(e) = proven(&app, &ctx, seq).await {
        return error_page(Some(&ctx), &e);
    }
    let bytes = match app.ledger.store().get(seq) {
        Ok(stored) => stored.envelope_bytes,
        Err(e) => return error_page(Some(&ctx), &e.into()),
    };
    download(
        bytes,
        "application/octet-stream",
        &format!("event-{seq}.envelope"),
    )
}

/// A file to save: its bytes, type and the name the browser offers.
fn download(body: impl IntoResponse, content_type: &'static str, filename: &str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The names are made here from event numbers: always a valid header value.
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

#[derive(serde::Deserialize)]
pub struct Size {
    size: Option<u64>,
}

/// The checkpoint the page's proof was made against: the latest signed one, if it is
/// still of `size` events (else 409: reload the page for a proof against the newer one).
pub async fn checkpoint(
    State(app): State<App>,
    Viewer(ctx): Viewer,
    Path(seq): Path<u64>,
    Query(size): Query<Size>,
) -> Response {
    let p = match proven(&app, &ctx, seq).await {
        Ok(p) => p,
        Err(e) => return error_page(Some(&ctx), &e),
    };
    if size.size.is_some_and(|s| s != p.proof.tree_size) {
        return error_page(
            Some(&ctx),
            &ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!(
                    "a newer checkpoint (of {} events) has been signed since the page was shown; \
                     reload the page and download the proof and checkpoint again",
                    p.proof.tree_size
                ),
            ),
        );
    }
    download(p.checkpoint, "text/plain; charset=utf-8", "checkpoint.txt")
}

/// The inclusion proof as one JSON line, the shape `careledger prove inclusion` writes:
/// against the tree of `size` events (the page's checkpoint), or the latest checkpoint's.
pub async fn proof(
    State(app): State<App>,
    Viewer(ctx): Viewer,
    Path(seq): Path<u64>,
    Query(size): Query<Size>,
) -> Response {
    let p = match proven(&app, &ctx, seq).await {
        Ok(p) => p,
        Err(e) => return error_page(Some(&ctx), &e),
    };
    let proof = match size.size {
        Some(n) if n != p.proof.tree_size => {
            if n <= seq || n > app.ledger.store().size() {
                return error_page(
                    Some(&ctx),
                    &ApiError::bad_request(
                        "size",
                        format!("event {seq} is not in a tree of {n} events here"),
                    ),
                );
            }
            match inclusion_proof(&app, seq, n) {
                Ok(p) => p,
                Err(e) => return error_page(Some(&ctx), &e),
            }
        }
        _ => p.proof,
    };
    let mut body = serde_json::to_string(&proof).unwrap_or_default();
    body.push('\n');
    download(
        body,
        "application/json",
        &format!("event-{seq}-inclusion.json"),
    )
}
