//! Every route, in one table: the router and the OpenAPI document are both built from it,
//! so a route cannot exist undocumented.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::handlers;
use crate::views::{Section, SECTIONS};
use crate::{ApiError, App};

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum In {
    Path,
    Query,
    Header,
}

/// What a parameter's value may be: what the handler enforces, so that the document's
/// schema accepts exactly what the code does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepts {
    /// A non-empty string (an id).
    Id,
    /// An event number: 0 and up.
    Seq,
    /// A tree size: 1 and up.
    Size,
    /// Items per page: 1 to [`crate::Limits::page_items_max`] (1000 by default).
    Limit,
    /// A care plan version: 1 and up.
    Version,
    /// RFC 3339 date and time.
    Time,
    Bool,
    /// A care-domain enum, by its traced component (`Purpose`, `Category`).
    Care(&'static str),
    /// An `Idempotency-Key` header value ([`crate::idempotency::parse`]).
    IdempotencyKey,
    /// One of these names.
    OneOf(&'static [&'static str]),
    /// A whole number from the first to the second, both included.
    Range(u64, u64),
}

/// One parameter: name, where, required, what it may be, description.
pub type Param = (&'static str, In, bool, Accepts, &'static str);

/// The schema of a response body, derived from the type the handler answers with.
pub type SchemaFn = fn(&mut schemars::SchemaGenerator) -> schemars::Schema;

/// What the OpenAPI document says of a route.
#[derive(Debug, Clone, Copy)]
pub struct Doc {
    pub tag: &'static str,
    pub summary: &'static str,
    /// Needs a bearer token.
    pub auth: bool,
    pub params: &'static [Param],
    /// The request body's schema (a component name), if any.
    pub body: Option<&'static str>,
    /// The success status and its media type and schema (plain text when none).
    pub ok: (u16, &'static str, Option<SchemaFn>),
    /// Error statuses it may answer besides 401, 429, 500 and 503.
    pub errors: &'static [u16],
}

pub const AFTER: Param = (
    "after",
    In::Query,
    false,
    Accepts::Seq,
    "Go on after this event number (the `next_after` of the previous page).",
);
pub const LIMIT: Param = (
    "limit",
    In::Query,
    false,
    Accepts::Limit,
    "Items per page (default 100, at most 1000).",
);
pub const PURPOSE: Param = (
    "purpose",
    In::Query,
    false,
    Accepts::Care("Purpose"),
    "Purpose of the read; defaults by role (GET /v1/me says which).",
);
pub const PERSON_ID: Param = ("id", In::Path, true, Accepts::Id, "The person's id.");

/// On every write: a retry with the same key and request is answered as the first was,
/// and nothing is written twice.
pub const IDEMPOTENCY_KEY: Param = (
    "Idempotency-Key",
    In::Header,
    false,
    Accepts::IdempotencyKey,
    "A key of the client's own (a UUID, say) for this write: sent again with the same \
     request, it is answered as the first time (the same event numbers) and nothing is \
     written twice, for at least 24 hours, also across restarts; sent with another request, \
     it is refused with 422 `key-reused`. A structured-field string (`\"...\"`) or the bare \
     key, at most 255 characters.",
);

const JSON: &str = "application/json";
const TEXT: &str = "text/plain";

use crate::wire::{self, schema_of};

fn object_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "object", "description": "The OpenAPI 3.1 document."})
}

macro_rules! routes {
    ($( $method:ident $path:literal => $handler:path, $doc:expr; )*) => {
        /// (method, path, doc) of every route.
        pub const ROUTES: &[(&str, &str, Doc)] = &[$( (stringify!($method), $path, $doc), )*];

        fn add_routes(router: Router<App>) -> Router<App> {
            let router = router $( .route($path, axum::routing::$method($handler)) )*;
            add_sections(router)
        }
    };
}

routes! {
    get "/v1/me" => handlers::me, Doc {
        tag: "session", summary: "Who the bearer token signs in as: id, role and the purpose reads default to",
        auth: true, params: &[], body: None, ok: (200, JSON, Some(schema_of::<wire::Me>)), errors: &[],
    };
    post "/v1/people/{id}/emergency-access" => handlers::emergency, Doc {
        tag: "records",
        summary: "Break-glass access to medicines and allergies for an emergency clinician: records the emergency access with its reason (flagged for review), then reads the MAR through the gate",
        auth: true, params: &[PERSON_ID, IDEMPOTENCY_KEY],
        body: Some("EmergencyRequest"), ok: (200, JSON, Some(schema_of::<wire::EmergencyRead>)), errors: &[400, 403, 404, 413, 415, 422],
    };
    get "/v1/people/{id}/documents/{kind}" => crate::documents::person_document, Doc {
        tag: "documents",
        summary: "A document about the person, printed from the ledger as it stands (crates/print): application/pdf, tagged PDF/UA-1 in standard print, large print or easy read, or text/plain (format=text) for screen readers and braille; through the access gate with the document's categories (one access event). Headers careledger-reference (the reference every page carries, for check-document), careledger-digest (BLAKE3 of the body, as paper.copy_placed records a copy), careledger-format and careledger-access-event",
        auth: true,
        params: &[
            PERSON_ID,
            ("kind", In::Path, true, Accepts::OneOf(crate::documents::NAMES), "care-plan (categories CarePlan, PersonalDetails, CommunicationNeeds and Medicines: the plan prints the person's details, representatives, communication needs and allergies), mar (Medicines: the MAR chart holds what NICE NG67 asks, as the medicines section does) or diary (DailyNotes, Incidents, HealthObservations, PersonalDetails)."),
            PURPOSE,
            ("format", In::Query, false, Accepts::OneOf(crate::documents::FORMATS), "How to print it; default what the person's recorded information needs (Accessible Information Standard) ask for, else pdf."),
            ("days", In::Query, false, Accepts::Range(1, crate::documents::DAYS_MAX as u64), "Days the MAR chart or diary covers, ending today (default 28)."),
        ],
        body: None, ok: (200, "application/pdf", None), errors: &[400, 403, 404, 501],
    };
    post "/v1/people/{id}/documents/{kind}/email" => crate::email::email_document, Doc {
        tag: "documents",
        summary: "Sends a document about the person by secure email, through the provider's relay (TLS only), to the address recorded for the person or one of their representatives (email.address_recorded), only where the person chose secure email in their last choices discussion and the holder may read the document themselves; for the provider's coordinators and registered manager. The document is printed through the access gate (one access event); 202 once that is durable, then the relay is tried in the background and email.delivered (digest, Message-ID, the relay's answer) or email.failed (attempts, the last error) is recorded in the person's history",
        auth: true,
        params: &[
            PERSON_ID,
            ("kind", In::Path, true, Accepts::OneOf(crate::documents::NAMES), "care-plan, mar or diary, with the categories of GET /v1/people/{id}/documents/{kind}."),
        ],
        body: Some("EmailRequest"), ok: (202, JSON, Some(schema_of::<crate::email::EmailQueued>)), errors: &[400, 403, 404, 413, 415, 422, 501, 503],
    };
    get "/v1/reports/{kind}/document" => crate::documents::report_document, Doc {
        tag: "documents",
        summary: "A report for the council printed from the ledger as it stands: the monitoring report (to the registered manager and provider admins: it names everyone in care) or the response-time report (to the provider's staff and auditors), each line naming the event numbers that prove it; tagged PDF/UA-1 (application/pdf) in standard print, large print or easy read, or text/plain. Headers careledger-reference, careledger-digest and careledger-format as for a person's document",
        auth: true,
        params: &[
            ("kind", In::Path, true, Accepts::OneOf(crate::documents::REPORT_NAMES), "monitoring or response-times."),
            ("format", In::Query, false, Accepts::OneOf(crate::documents::FORMATS), "How to print it (default pdf)."),
        ],
        body: None, ok: (200, "application/pdf", None), errors: &[400, 403, 404, 501, 503],
    };
    get "/v1/guide/document" => crate::documents::guide_document, Doc {
        tag: "documents",
        summary: "The provider's current Service User Guide (guide.published), printed from the ledger as it stands, to anyone signed in: it is about nobody, so no access event is written. Tagged PDF/UA-1 (application/pdf) in standard print, large print or easy read, or text/plain. Headers careledger-reference (its version is the reference's), careledger-digest and careledger-format, for the paper.copy_placed that records the copy placed in a home",
        auth: true,
        params: &[
            ("format", In::Query, false, Accepts::OneOf(crate::documents::FORMATS), "How to print it (default pdf)."),
        ],
        body: None, ok: (200, "application/pdf", None), errors: &[400, 404, 501],
    };
    get "/v1/documents/check" => crate::documents::check, Doc {
        tag: "documents",
        summary: "Checks a printed copy by the reference at the foot of its pages (and in its QR code): whether its checkpoint is this ledger's (the root at its tree size starts as printed). No sign-in, so nothing of the person: whether a person's document is still the current version is for the provider (careledger check-document); a report is said to be a report of its time",
        auth: false,
        params: &[("reference", In::Query, true, Accepts::Id, "The reference, CL1:KIND:VERSION:SIZE:ROOT:SUBJECT.")],
        body: None, ok: (200, JSON, Some(schema_of::<crate::documents::DocumentCheck>)), errors: &[400, 501],
    };
    post "/v1/events" => handlers::record_event, Doc {
        tag: "commands",
        summary: "Records one care event of any kind the caller's role may record, checked against the care rules; 201 once durable. Access events and SLA events are written by the service itself.",
        auth: true, params: &[IDEMPOTENCY_KEY], body: Some("EventRequest"), ok: (201, JSON, Some(schema_of::<wire::Recorded>)),
        errors: &[400, 403, 404, 409, 413, 415, 422],
    };
    get "/v1/audit/access" => handlers::audit_access, Doc {
        tag: "audit",
        summary: "Who saw what: access reads, refusals and break-glass by person, actor, category and time. With person, that person's access log through the gate (one access event); across people, one access event per person in the page, appended before the page is sent. The same shape either way.",
        auth: true,
        params: &[
            ("person", In::Query, false, Accepts::Id, "Only this person's record."),
            ("actor", In::Query, false, Accepts::Id, "Only accesses by this principal."),
            ("role", In::Query, false, Accepts::Care("Role"), "Only accesses in this role, as the access event records it."),
            ("purpose", In::Query, false, Accepts::Care("Purpose"), "Only accesses for this purpose of use, as recorded (a break-glass access is `Emergency`)."),
            ("category", In::Query, false, Accepts::Care("Category"), "Only accesses to this category."),
            ("from", In::Query, false, Accepts::Time, "Recorded at or after this time (when the ledger wrote the access event; access events are recorded as they happen, so this is also when the access happened)."),
            ("to", In::Query, false, Accepts::Time, "Recorded at or before this time."),
            AFTER, LIMIT,
        ],
        body: None, ok: (200, JSON, Some(schema_of::<wire::AuditPage>)), errors: &[400, 403, 404],
    };
    get "/v1/provider/findings" => handlers::provider_findings, Doc {
        tag: "oversight",
        summary: "The provider's report for a monitoring visit (R9): discussions, choices, paper copies, AIS needs met, and every compliance finding with the events that prove it; as of now, or as of an earlier time from the state the ledger had recorded by then",
        auth: true,
        params: &[
            ("at", In::Query, false, Accepts::Time, "As of this time: the state from the events recorded at or before it, judged at it; default now. A later time judges today's state then (what falls due if nothing changes)."),
            ("person", In::Query, false, Accepts::Id, "Only this person's findings and figures."),
        ],
        body: None, ok: (200, JSON, Some(schema_of::<wire::ProviderFindings>)), errors: &[400, 403, 404, 422],
    };
    get "/v1/provider/findings/daily" => handlers::findings_daily, Doc {
        tag: "oversight",
        summary: "The findings open at the end of each day (midnight UTC), by rule, for the last 400 days the ledger saw: what the findings-over-time chart draws",
        auth: true,
        params: &[],
        body: None, ok: (200, JSON, Some(schema_of::<wire::FindingsDaily>)), errors: &[403],
    };
    get "/v1/requests" => handlers::requests, Doc {
        tag: "oversight",
        summary: "Council data requests with their SLA state; council officers see their own",
        auth: true,
        params: &[
            ("open", In::Query, false, Accepts::Bool, "Only requests still open."),
            ("after", In::Query, false, Accepts::Id, "Go on after this request id (the `next_after` of the previous page)."),
            LIMIT,
        ],
        body: None, ok: (200, JSON, Some(schema_of::<wire::Requests>)), errors: &[400, 403],
    };
    get "/v1/reports/response-times" => handlers::response_times, Doc {
        tag: "oversight",
        summary: "The response-time report (R12): each request's receipt, due time, response, time taken and breach, with an inclusion proof for every event that proves the line, against a freshly signed checkpoint",
        auth: true,
        params: &[
            ("after", In::Query, false, Accepts::Id, "Go on after this request id."),
            LIMIT,
        ],
        body: None, ok: (200, JSON, Some(schema_of::<wire::ResponseTimes>)), errors: &[400, 403],
    };
    get "/v1/ledger/checkpoint" => handlers::checkpoint, Doc {
        tag: "ledger", summary: "The latest signed checkpoint: a C2SP tlog-checkpoint in a signed note (docs/FORMAT.md)",
        auth: false, params: &[], body: None, ok: (200, TEXT, None), errors: &[],
    };
    get "/v1/ledger/key" => handlers::verifier_key, Doc {
        tag: "ledger", summary: "The note verifier key of the checkpoints' Ed25519 signer",
        auth: false, params: &[], body: None, ok: (200, TEXT, None), errors: &[],
    };
    get "/v1/ledger/events/{seq}" => handlers::envelope, Doc {
        tag: "ledger", summary: "An event's stored envelope bytes (docs/FORMAT.md section 1.1); its leaf hash is BLAKE3(0x00 || these bytes) (section 2)",
        auth: true, params: &[("seq", In::Path, true, Accepts::Seq, "The event's sequence number.")],
        body: None, ok: (200, "application/octet-stream", None), errors: &[400, 403, 404],
    };
    get "/v1/ledger/proofs/inclusion" => handlers::inclusion, Doc {
        tag: "ledger", summary: "An inclusion proof (docs/FORMAT.md 4.4)",
        auth: true,
        params: &[
            ("seq", In::Query, true, Accepts::Seq, "The event's sequence number (below size)."),
            ("size", In::Query, false, Accepts::Size, "The tree size (a checkpoint's), at most the ledger's; default the current size."),
        ],
        body: None, ok: (200, JSON, Some(schema_of::<wire::InclusionProof>)), errors: &[400, 404],
    };
    get "/v1/ledger/proofs/consistency" => handlers::consistency, Doc {
        tag: "ledger", summary: "A consistency proof between two tree sizes (docs/FORMAT.md 4.5)",
        auth: true,
        params: &[
            ("from", In::Query, true, Accepts::Size, "The older size (at least 1, at most to)."),
            ("to", In::Query, false, Accepts::Size, "The newer size, at most the ledger's; default the current size."),
        ],
        body: None, ok: (200, JSON, Some(schema_of::<wire::ConsistencyProof>)), errors: &[400, 404],
    };
    get "/v1/replication/frames" => crate::replication::frames, Doc {
        tag: "replication",
        summary: "For a replica (`careledger replica`): whole frames of the events file (docs/FORMAT.md 7) from byte `from` up to what is durable, at most 4 MiB; with nothing new, waits up to `wait` seconds. Headers careledger-from, -end, -durable-bytes and -size say what the answer holds. Provider admins only: a replica holds every record",
        auth: true,
        params: &[
            ("from", In::Query, true, Accepts::Seq, "The byte of the events file to start at: the end of the replica's own (0 for a new replica)."),
            ("wait", In::Query, false, Accepts::Seq, "Seconds to wait for new frames when there are none yet (at most 5; default 0)."),
        ],
        body: None, ok: (200, "application/octet-stream", None), errors: &[400, 403, 409],
    };
    get "/v1/replication/auth" => crate::replication::auth, Doc {
        tag: "replication",
        summary: "For a replica: the users and token hashes (auth.json) and the token key (auth.key), so that the same tokens work on the replica. Provider admins only",
        auth: true, params: &[], body: None,
        ok: (200, JSON, Some(schema_of::<crate::replication::AuthCopy>)), errors: &[403],
    };
    post "/v1/replication/access" => crate::replication::access, Doc {
        tag: "replication",
        summary: "For a replica: records the access events of reads made on the replica (access.read, access.refused), checked against this ledger's policy inside its appender like its own, before the replica sends any data. Provider admins only",
        auth: true, params: &[], body: Some("Forwarded"),
        ok: (201, JSON, Some(schema_of::<crate::replication::ForwardedReceipts>)), errors: &[400, 403, 413, 415, 422],
    };
    get "/healthz" => handlers::healthz, Doc {
        tag: "operations", summary: "The process is alive",
        auth: false, params: &[], body: None, ok: (200, TEXT, None), errors: &[],
    };
    get "/readyz" => handlers::readyz, Doc {
        tag: "operations", summary: "Ready to serve: the ledger accepts appends and the service is not shutting down (else 503)",
        auth: false, params: &[], body: None, ok: (200, TEXT, None), errors: &[],
    };
    get "/metrics" => handlers::metrics, Doc {
        tag: "operations", summary: "Prometheus metrics: requests, latency, appends, queue depth, access decisions, SLA warnings and breaches",
        auth: false, params: &[], body: None, ok: (200, TEXT, None), errors: &[],
    };
    get "/openapi.json" => handlers::openapi, Doc {
        tag: "operations", summary: "This document",
        auth: false, params: &[], body: None, ok: (200, JSON, Some(object_schema)), errors: &[],
    };
}

/// The parameters of a record section's route.
pub fn section_params(section: &Section) -> Vec<Param> {
    let mut params = vec![PERSON_ID, PURPOSE];
    if section.paged {
        params.extend([AFTER, LIMIT]);
    }
    if section.name == "care-plan" {
        params.push((
            "version",
            In::Query,
            false,
            Accepts::Version,
            "An earlier version of the care plan to show whole.",
        ));
    }
    params
}

/// The path of a record section.
pub fn section_path(section: &Section) -> String {
    format!("/v1/people/{{id}}/{}", section.name)
}

/// One route per record section, each with its own parameters and answer.
fn add_sections(mut router: Router<App>) -> Router<App> {
    for section in SECTIONS {
        router = router.route(
            &section_path(section),
            axum::routing::get(move |app: State<App>, auth, path, params| {
                handlers::person_section(section, app, auth, path, params)
            }),
        );
    }
    router
}

/// The whole service as an axum router.
pub fn router(app: App) -> Router {
    router_with(app, Router::new())
}

/// The service with another face's routes (the pages, `careledger-web`) merged in before
/// the layers, so the request log, metrics, time limit and body limit cover them alike.
pub fn router_with(app: App, pages: Router<App>) -> Router {
    let body_max = app.limits.body_bytes_max;
    add_routes(Router::new())
        .merge(pages)
        .route_layer(middleware::from_fn_with_state(app.clone(), time_limit))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_max))
        .layer(middleware::from_fn_with_state(app.clone(), observe))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            reader_credential,
        ))
        .with_state(app)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    // A record section that does not exist: say which do.
    let segments: Vec<&str> = uri.path().split('/').collect();
    if let ["", "v1", "people", _, name] = segments.as_slice() {
        let names: Vec<&str> = SECTIONS.iter().map(|s| s.name).collect();
        return ApiError::not_found(format!(
            "no section {name:?}; a record has: {}",
            names.join(", ")
        ))
        .field("section");
    }
    ApiError::not_found(format!(
        "no route {}; GET /openapi.json lists them",
        uri.path()
    ))
}

async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        format!("{method} is not allowed here; GET /openapi.json lists the routes"),
    )
}

static REQUEST_COUNTER: AtomicU64 = AtomicU64::new(0);

fn request_id(req: &Request) -> String {
    if let Some(given) = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
    {
        return given.to_string();
    }
    format!("r{:x}", REQUEST_COUNTER.fetch_add(1, Relaxed))
}

/// The matched route's template, handed from [`time_limit`] (inside routing, where it is
/// known) to [`observe`] (outside, where unmatched requests are seen too).
#[derive(Clone)]
struct Route(String);

/// Inside routing: the request's time limit, and the route template for [`observe`].
async fn time_limit(State(app): State<App>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let limit = app.limits.request_timeout;
    // The same instant bounds the work the handler hands to the blocking pool
    // (`blocking::Deadline`), which cannot be interrupted at an `.await` as this can.
    let deadline = Instant::now() + limit;
    let handled = crate::blocking::with_deadline(deadline, next.run(req));
    let mut response = match tokio::time::timeout(limit, handled).await {
        Ok(r) => r,
        Err(_) => {
            let mut e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                format!(
                    "the request took longer than {} s; no data was sent",
                    limit.as_secs_f64()
                ),
            );
            e.retry_after = Some(crate::problem::RETRY_AFTER_SECONDS);
            e.into_response()
        }
    };
    response.extensions_mut().insert(Route(route));
    response
}

/// Around everything, unmatched routes included: the request id, metrics and one log event
/// per request (`tracing`, target `careledger_api::routes`; error for a 5xx answer, else
/// info). The event holds the route template, never its values, so no person's id reaches
/// the log.
/// On a replica, the request's own credential, for the reads it records at the primary
/// ([`crate::follower::forward`]); elsewhere nothing.
async fn reader_credential(State(app): State<App>, req: Request, next: Next) -> Response {
    if app.follower.is_none() {
        return next.run(req).await;
    }
    let credential = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    crate::follower::READER_CREDENTIAL
        .scope(credential, next.run(req))
        .await
}

async fn observe(State(app): State<App>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&req);
    let method: &'static str = match *req.method() {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::HEAD => "HEAD",
        _ => "OTHER",
    };
    let mut response = next.run(req).await;
    let route = response
        .extensions_mut()
        .remove::<Route>()
        .map_or_else(|| "unmatched".into(), |r| r.0);
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    let status = response.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    if app.limits.log_requests {
        let duration_us = (seconds * 1e6) as u64;
        if status >= 500 {
            tracing::error!(request_id = %id, method, route = %route, status, duration_us, "request");
        } else {
            tracing::info!(request_id = %id, method, route = %route, status, duration_us, "request");
        }
    }
    app.metrics.observe(method, route, status, seconds);
    response
}
