//! The OpenAPI 3.1 document, built from the route table ([`crate::routes::ROUTES`]) and the
//! care domain's own lists (event kinds, roles, categories, purposes), so it cannot drift
//! from the code. Each event kind's payload schema is traced from its Rust type
//! ([`payload`]); `EventRequest` is one of a request per kind, told apart by `kind`.

mod payload;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use careledger_care::policy::may_record;
use careledger_care::{CareEvent, Role, Scope};
use serde_json::{json, Map, Value};

pub use payload::payload_component;

use schemars::generate::SchemaSettings;
use schemars::SchemaGenerator;

use crate::problem::Problem;
use crate::routes::{section_params, section_path, Accepts, Doc, In, Param, ROUTES};
use crate::views::SECTIONS;

fn problem_response(status: u16) -> Value {
    let description = match status {
        400 => "Malformed JSON, a wrong type, an unknown field or parameter; `field` names it",
        401 => "No valid bearer token",
        403 => "Not allowed; for a personal-data read the refusal was recorded (`access_event`)",
        404 => "No such person, section, event or route",
        409 => "Conflicts with the ledger's state (duplicate id, stale care plan version)",
        413 => "The body is larger than the limit",
        415 => "The body is not JSON",
        422 => "A care rule refused the command; nothing was appended",
        429 => "Too many failed sign-in attempts from this client (Retry-After)",
        503 => "The append queue is full, the request timed out or the service is stopping (Retry-After)",
        507 => "The ledger's disk is below its free-space floor (or full); nothing was written",
        _ => "The service failed; nothing was half-written",
    };
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    })
}

/// The schema of a parameter: what its handler accepts, no more and no less.
fn param_schema(accepts: Accepts, limits: &crate::Limits) -> Value {
    match accepts {
        Accepts::Id => json!({"type": "string", "minLength": 1}),
        Accepts::Seq => json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}),
        Accepts::Size => json!({"type": "integer", "minimum": 1, "maximum": u64::MAX}),
        Accepts::Limit => {
            json!({"type": "integer", "minimum": 1, "maximum": limits.page_items_max})
        }
        Accepts::Version => json!({"type": "integer", "minimum": 1, "maximum": u32::MAX}),
        Accepts::Time => json!({"type": "string", "format": "date-time"}),
        Accepts::Bool => json!({"type": "boolean"}),
        Accepts::IdempotencyKey => json!({
            "type": "string",
            "minLength": 1,
            "maxLength": crate::idempotency::VALUE_CHARS_MAX,
            "pattern": crate::idempotency::PATTERN,
        }),
        Accepts::OneOf(names) => json!({"type": "string", "enum": names}),
        Accepts::Range(min, max) => json!({"type": "integer", "minimum": min, "maximum": max}),
        Accepts::Care(name) => {
            reference(&care_component(name).unwrap_or_else(|| format!("Care.{name}.untraced")))
        }
    }
}

fn parameters(params: &[Param], limits: &crate::Limits) -> Vec<Value> {
    params
        .iter()
        .map(|(name, place, required, accepts, description)| {
            json!({
                "name": name,
                "in": match place {
                    In::Path => "path",
                    In::Query => "query",
                    In::Header => "header",
                },
                "required": required,
                "description": description,
                "schema": param_schema(*accepts, limits),
            })
        })
        .collect()
}

/// One operation of the document.
fn operation(
    method: &str,
    path: &str,
    doc: &Doc,
    params: &[Param],
    generator: &mut SchemaGenerator,
    limits: &crate::Limits,
) -> Value {
    let (status, media, schema) = doc.ok;
    let content_schema = match schema {
        Some(f) => serde_json::to_value(f(generator)).unwrap_or(Value::Null),
        None => json!({"type": "string"}),
    };
    let mut responses = Map::new();
    responses.insert(
        status.to_string(),
        json!({"description": "Success", "content": { media: {"schema": content_schema} }}),
    );
    let mut errors: Vec<u16> = doc.errors.to_vec();
    if doc.auth {
        errors.extend([401, 429]);
    }
    errors.extend([500, 503, 507]);
    errors.sort_unstable();
    errors.dedup();
    for e in errors {
        responses.insert(e.to_string(), problem_response(e));
    }
    let mut op = json!({
        "operationId": format!("{method}{}", path.replace(['/', '{', '}', '-', '.'], "_")),
        "tags": [doc.tag],
        "summary": doc.summary,
        "parameters": parameters(params, limits),
        "responses": responses,
    });
    if doc.auth {
        op["security"] = json!([{"bearer": []}]);
    }
    if let Some(body) = doc.body {
        op["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": reference(body)}},
        });
    }
    op
}

/// JSON Schema 2020-12 (OpenAPI 3.1's dialect) with named types as document components.
fn settings() -> SchemaSettings {
    SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas/".into();
        s.meta_schema = None;
    })
}

/// The document served at `/openapi.json`, for a service with these limits.
pub fn document(limits: &crate::Limits) -> Value {
    let mut generator = settings().for_serialize().into_generator();
    let mut paths = Map::new();
    let mut add = |path: String, method: &str, op: Value| {
        let entry = paths.entry(path).or_insert_with(|| json!({}));
        entry[method] = op;
    };
    for (method, path, doc) in ROUTES {
        let op = operation(method, path, doc, doc.params, &mut generator, limits);
        add(path.to_string(), method, op);
    }
    for section in SECTIONS {
        let path = section_path(section);
        let summary = format!(
            "{} ({}). Through the access gate: one access event (a read or a refusal) is appended durably before the answer, which carries the person's AIS flag.{}",
            section.summary,
            section.categories.iter().map(|c| c.name()).collect::<Vec<_>>().join(", "),
            if section.paged { " Paged, oldest first." } else { "" },
        );
        let doc = Doc {
            tag: "records",
            // Set below: the summary is made per section, and a Doc holds static text.
            summary: "",
            auth: true,
            params: &[],
            body: None,
            ok: (200, "application/json", Some(section.schema)),
            errors: &[400, 403, 404],
        };
        let mut op = operation(
            "get",
            &path,
            &doc,
            &section_params(section),
            &mut generator,
            limits,
        );
        op["summary"] = json!(summary);
        add(path, "get", op);
    }
    generator.subschema_for::<Problem>();
    let mut schemas = generator.take_definitions(true);
    // Request bodies are described as they are read (the deserialize contract).
    let mut requests = settings().into_generator();
    requests.subschema_for::<crate::handlers::EmergencyRequest>();
    requests.subschema_for::<crate::email::EmailRequest>();
    requests.subschema_for::<crate::replication::Forwarded>();
    schemas.extend(requests.take_definitions(true));
    event_schemas(&mut schemas);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "careledger",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The tamper-evident care ledger's API. Every read of a person's data is recorded as an access event before the answer is sent; every write is checked against the care rules. Errors are RFC 9457 problem documents naming the field at fault.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "A token from `careledger token issue` (clt_...)."}},
            "schemas": schemas,
        },
    })
}

/// The payload schemas, traced once per process (the types cannot change while it runs).
fn traced() -> &'static payload::Traced {
    static TRACED: OnceLock<payload::Traced> = OnceLock::new();
    TRACED.get_or_init(|| {
        payload::payload_schemas().unwrap_or_else(|e| {
            panic!("{e} (a bug in a payload type: crates/api/tests/openapi.rs shows which)")
        })
    })
}

fn payload_schemas() -> &'static BTreeMap<String, Value> {
    &traced().components
}

/// The component that describes the care type named `name` (its Rust name, as serde gives
/// it): `Care.<name>`, or `Payload.<kind>` for a kind's payload struct; none if no payload
/// reaches it.
pub fn care_component(name: &str) -> Option<String> {
    traced().names.get(name).cloned()
}

/// The component name of the request that records `kind`.
fn request_component(kind: &str) -> String {
    format!("EventRequest.{kind}")
}

fn reference(component: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{component}")})
}

/// `POST /v1/events` for one kind: `kind` fixed, `subject` required for events about a
/// person and absent for the organisation's, the kind's payload.
fn event_request(kind: &str) -> Value {
    let recorded_by: Vec<&str> = Role::ALL
        .iter()
        .filter(|r| may_record(**r, kind))
        .map(|r| r.name())
        .collect();
    let who = if kind == "access.emergency" {
        "Recorded by POST /v1/people/{id}/emergency-access, not here.".to_string()
    } else if recorded_by.is_empty() {
        "Written by the service itself; refused here.".to_string()
    } else {
        format!("Recorded by: {}.", recorded_by.join(", "))
    };
    let occurred_at = json!({"type": ["string", "null"], "format": "date-time", "description": "When it happened (RFC 3339); default (left out or null) now. Back-entries after an outage give the paper entry's time."});
    let (subject, required) = match CareEvent::scope_of(kind) {
        Some(Scope::Organisation) => (
            json!({"type": "null", "description": "Organisation events have no subject: leave it out."}),
            json!(["kind", "payload"]),
        ),
        _ => (
            json!({
                "type": "string", "minLength": 1,
                "maxLength": crate::handlers::SUBJECT_CHARS_MAX,
                "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$",
                "description": "The person the event is about (no control characters).",
            }),
            json!(["kind", "subject", "payload"]),
        ),
    };
    json!({
        "type": "object",
        "description": format!("Records one `{kind}` event. {who}"),
        "required": required,
        "additionalProperties": false,
        "properties": {
            "kind": {"const": kind},
            "subject": subject,
            "occurred_at": occurred_at,
            "payload": reference(&payload_component(kind)),
        },
    })
}

/// `EventRequest`, one `EventRequest.<kind>` per kind, and every payload schema.
fn event_schemas(schemas: &mut Map<String, Value>) {
    let mapping: Map<String, Value> = CareEvent::KINDS
        .iter()
        .map(|k| {
            (
                k.to_string(),
                json!(format!("#/components/schemas/{}", request_component(k))),
            )
        })
        .collect();
    schemas.insert(
        "EventRequest".into(),
        json!({
            "description": "One care event: its kind, the person it is about (for person events), when it happened, and the kind's payload; unknown fields are refused.",
            "oneOf": CareEvent::KINDS.iter().map(|k| reference(&request_component(k))).collect::<Vec<_>>(),
            "discriminator": {"propertyName": "kind", "mapping": mapping},
        }),
    );
    for kind in CareEvent::KINDS {
        schemas.insert(request_component(kind), event_request(kind));
    }
    for (name, schema) in payload_schemas() {
        schemas.insert(name.clone(), schema.clone());
    }
}
