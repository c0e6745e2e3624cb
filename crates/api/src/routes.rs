//! Every route, in one table: the router and the OpenAPI document are both built from it,
//! so a route cannot exist undocumented.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::handlers;
use crate::{ApiError, App};

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum In {
    Path,
    Query,
}

/// One parameter: name, where, required, JSON schema type, description.
pub type Param = (&'static str, In, bool, &'static str, &'static str);

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
    /// The success status and its media type and schema (a component name, or none).
    pub ok: (u16, &'static str, Option<&'static str>),
    /// Error statuses it may answer besides 401, 429, 500 and 503.
    pub errors: &'static [u16],
}

const PAGE: [Param; 2] = [
    (
        "after",
        In::Query,
        false,
        "integer",
        "Go on after this event number (the `next_after` of the previous page). Of a record, only the paged sections take it: daily-notes, medicines, observations, incidents, access-log.",
    ),
    (
        "limit",
        In::Query,
        false,
        "integer",
        "Items per page (default 100, at most 1000). Of a record, only the paged sections take it; the others refuse it as an unknown parameter.",
    ),
];

const JSON: &str = "application/json";
const TEXT: &str = "text/plain";

macro_rules! routes {
    ($( $method:ident $path:literal => $handler:path, $doc:expr; )*) => {
        /// (method, path, doc) of every route.
        pub const ROUTES: &[(&str, &str, Doc)] = &[$( (stringify!($method), $path, $doc), )*];

        fn add_routes(router: Router<App>) -> Router<App> {
            router $( .route($path, axum::routing::$method($handler)) )*
        }
    };
}

routes! {
    get "/v1/me" => handlers::me, Doc {
        tag: "session", summary: "Who the bearer token signs in as: id, role and the purpose reads default to",
        auth: true, params: &[], body: None, ok: (200, JSON, Some("Me")), errors: &[],
    };
    get "/v1/people/{id}/{section}" => handlers::person_section, Doc {
        tag: "records",
        summary: "A section of a person's record, through the access gate: one access event (read or refusal) is appended durably before the answer. Sections: details, care-plan, daily-notes, medicines, observations, communication-needs, consent, paper-copies, grants, incidents, access-log, evidence. Every answer carries the person's AIS flag.",
        auth: true,
        params: &[
            ("id", In::Path, true, "string", "The person's id."),
            ("section", In::Path, true, "string", "The section (see the summary for the list and its categories)."),
            ("purpose", In::Query, false, "string", "Purpose of the read (DirectCare, PersonalAccess, StatutoryReview, QualityAssurance, Audit, Emergency, Handover, Administration); defaults by role."),
            PAGE[0], PAGE[1],
            ("version", In::Query, false, "integer", "care-plan only: an earlier version to show whole."),
        ],
        body: None, ok: (200, JSON, Some("RecordSection")), errors: &[400, 403, 404],
    };
    post "/v1/people/{id}/emergency-access" => handlers::emergency, Doc {
        tag: "records",
        summary: "Break-glass access to medicines and allergies for an emergency clinician: records the emergency access with its reason (flagged for review), then reads the MAR through the gate",
        auth: true, params: &[("id", In::Path, true, "string", "The person's id.")],
        body: Some("EmergencyRequest"), ok: (200, JSON, Some("RecordSection")), errors: &[400, 403, 404, 413, 415, 422],
    };
    post "/v1/events" => handlers::record_event, Doc {
        tag: "commands",
        summary: "Records one care event of any kind the caller's role may record, checked against the care rules; 201 once durable. Access events and SLA events are written by the service itself.",
        auth: true, params: &[], body: Some("EventRequest"), ok: (201, JSON, Some("Recorded")),
        errors: &[400, 403, 404, 409, 413, 415, 422],
    };
    get "/v1/audit/access" => handlers::audit_access, Doc {
        tag: "audit",
        summary: "Who saw what: access reads, refusals and break-glass by person, actor, category and recorded-at range. With person, that person's access log through the gate; across people, one access event per person in the page, appended before the page is sent.",
        auth: true,
        params: &[
            ("person", In::Query, false, "string", "Only this person's record."),
            ("actor", In::Query, false, "string", "Only accesses by this principal."),
            ("category", In::Query, false, "string", "Only accesses to this category (CarePlan, DailyNotes, Medicines, HealthObservations, PersonalDetails, CommunicationNeeds, ConsentRecords, Incidents, AccessLog)."),
            ("from", In::Query, false, "string", "Recorded at or after (RFC 3339)."),
            ("to", In::Query, false, "string", "Recorded at or before (RFC 3339)."),
            PAGE[0], PAGE[1],
        ],
        body: None, ok: (200, JSON, Some("Page")), errors: &[400, 403, 404],
    };
    get "/v1/provider/findings" => handlers::provider_findings, Doc {
        tag: "oversight",
        summary: "The provider's report for a monitoring visit (R9): discussions, choices, paper copies, AIS needs met, and every compliance finding with the events that prove it",
        auth: true, params: &[("at", In::Query, false, "string", "Judge at this time (RFC 3339); default now.")],
        body: None, ok: (200, JSON, Some("ProviderFindings")), errors: &[400, 403],
    };
    get "/v1/requests" => handlers::requests, Doc {
        tag: "oversight",
        summary: "Council data requests with their SLA state; council officers see their own",
        auth: true,
        params: &[
            ("open", In::Query, false, "boolean", "Only requests still open."),
            ("after", In::Query, false, "string", "Go on after this request id (the `next_after` of the previous page)."),
            PAGE[1],
        ],
        body: None, ok: (200, JSON, Some("Requests")), errors: &[400, 403],
    };
    get "/v1/reports/response-times" => handlers::response_times, Doc {
        tag: "oversight",
        summary: "The response-time report (R12): each request's receipt, due time, response, time taken and breach, with an inclusion proof for every event that proves the line, against a freshly signed checkpoint",
        auth: true,
        params: &[
            ("after", In::Query, false, "string", "Go on after this request id."),
            PAGE[1],
        ],
        body: None, ok: (200, JSON, Some("ResponseTimes")), errors: &[400, 403],
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
        auth: true, params: &[("seq", In::Path, true, "integer", "The event's sequence number.")],
        body: None, ok: (200, "application/octet-stream", None), errors: &[400, 403, 404],
    };
    get "/v1/ledger/proofs/inclusion" => handlers::inclusion, Doc {
        tag: "ledger", summary: "An inclusion proof (docs/FORMAT.md 4.4)",
        auth: true,
        params: &[
            ("seq", In::Query, true, "integer", "The event's sequence number."),
            ("size", In::Query, false, "integer", "The tree size (a checkpoint's); default the current size."),
        ],
        body: None, ok: (200, JSON, Some("InclusionProof")), errors: &[400],
    };
    get "/v1/ledger/proofs/consistency" => handlers::consistency, Doc {
        tag: "ledger", summary: "A consistency proof between two tree sizes (docs/FORMAT.md 4.5)",
        auth: true,
        params: &[
            ("from", In::Query, true, "integer", "The older size (at least 1)."),
            ("to", In::Query, false, "integer", "The newer size; default the current size."),
        ],
        body: None, ok: (200, JSON, Some("ConsistencyProof")), errors: &[400],
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
        auth: false, params: &[], body: None, ok: (200, JSON, None), errors: &[],
    };
}

/// The whole service as an axum router.
pub fn router(app: App) -> Router {
    let body_max = app.limits.body_bytes_max;
    add_routes(Router::new())
        .route_layer(middleware::from_fn_with_state(app.clone(), time_limit))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_max))
        .layer(middleware::from_fn_with_state(app.clone(), observe))
        .with_state(app)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
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
    let mut response = match tokio::time::timeout(limit, next.run(req)).await {
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

/// Around everything, unmatched routes included: the request id, metrics and one log line
/// per request. The log line holds the route template, never its values, so no person's
/// id reaches the log.
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
        let line = serde_json::json!({
            "ts": crate::extract::time(careledger_store::now_us()),
            "level": if status >= 500 { "error" } else { "info" },
            "request_id": id,
            "method": method,
            "route": route,
            "status": status,
            "duration_us": (seconds * 1e6) as u64,
        });
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
    app.metrics.observe(method, route, status, seconds);
    response
}
