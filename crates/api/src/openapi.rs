//! The OpenAPI 3.1 document, built from the route table ([`crate::routes::ROUTES`]) and the
//! care domain's own lists (event kinds, roles, categories, purposes), so it cannot drift
//! from the code. Each event kind's payload schema is traced from its Rust type
//! ([`payload`]); `EventRequest` is one of a request per kind, told apart by `kind`.

mod payload;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use careledger_care::policy::may_record;
use careledger_care::{CareEvent, Category, Role, Scope};
use serde_json::{json, Map, Value};

use payload::payload_component;

use crate::routes::{In, ROUTES};
use crate::views::SECTIONS;

fn names<T: serde::Serialize>(items: &[T]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|i| serde_json::to_value(i).unwrap_or(Value::Null))
            .collect(),
    )
}

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
        _ => "The service failed; nothing was half-written",
    };
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    })
}

/// The document served at `/openapi.json`.
pub fn document() -> Value {
    let mut paths = Map::new();
    for (method, path, doc) in ROUTES {
        let params: Vec<Value> = doc
            .params
            .iter()
            .map(|(name, place, required, ty, description)| {
                let mut schema = json!({"type": ty});
                if *name == "section" {
                    schema["enum"] = Value::Array(SECTIONS.iter().map(|s| json!(s.name)).collect());
                }
                if *name == "category" {
                    schema["enum"] = names(&Category::ALL);
                }
                json!({
                    "name": name,
                    "in": if *place == In::Path { "path" } else { "query" },
                    "required": required,
                    "description": description,
                    "schema": schema,
                })
            })
            .collect();
        let (status, media, schema) = doc.ok;
        let mut ok = json!({"description": "Success"});
        let content_schema = schema
            .map(|s| json!({"$ref": format!("#/components/schemas/{s}")}))
            .unwrap_or_else(|| json!({"type": "string"}));
        ok["content"] = json!({ media: {"schema": content_schema} });
        let mut responses = Map::new();
        responses.insert(status.to_string(), ok);
        let mut errors: Vec<u16> = doc.errors.to_vec();
        if doc.auth {
            errors.extend([401, 429]);
        }
        errors.extend([500, 503]);
        errors.sort_unstable();
        errors.dedup();
        for e in errors {
            responses.insert(e.to_string(), problem_response(e));
        }
        let mut op = json!({
            "operationId": format!("{method}{}", path.replace(['/', '{', '}', '-', '.'], "_")),
            "tags": [doc.tag],
            "summary": doc.summary,
            "parameters": params,
            "responses": responses,
        });
        if doc.auth {
            op["security"] = json!([{"bearer": []}]);
        }
        if let Some(body) = doc.body {
            op["requestBody"] = json!({
                "required": true,
                "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{body}")}}},
            });
        }
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[*method] = op;
    }
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
            "schemas": schemas(),
        },
    })
}

/// The payload schemas, traced once per process (the types cannot change while it runs).
fn payload_schemas() -> &'static BTreeMap<String, Value> {
    static SCHEMAS: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        payload::payload_schemas().unwrap_or_else(|e| {
            panic!("{e} (a bug in a payload type: crates/api/tests/openapi.rs shows which)")
        })
    })
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
    let occurred_at = json!({"type": "string", "format": "date-time", "description": "When it happened (RFC 3339); default now. Back-entries after an outage give the paper entry's time."});
    let (subject, required) = match CareEvent::scope_of(kind) {
        Some(Scope::Organisation) => (
            json!({"type": "null", "description": "Organisation events have no subject: leave it out."}),
            json!(["kind", "payload"]),
        ),
        _ => (
            json!({"type": "string", "minLength": 1, "description": "The person the event is about."}),
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

fn schemas() -> Value {
    let mut schemas = fixed_schemas();
    if let Value::Object(map) = &mut schemas {
        event_schemas(map);
    }
    schemas
}

fn fixed_schemas() -> Value {
    json!({
        "Problem": {
            "type": "object",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string"}, "title": {"type": "string"},
                "status": {"type": "integer"}, "detail": {"type": "string"},
                "field": {"type": "string", "description": "The request field at fault: a JSON path such as payload.sections.review_date, a query or path parameter, or a header."},
                "access_event": {"type": "integer", "description": "The refusal event the access gate appended."},
            },
        },
        "Me": {
            "type": "object",
            "properties": {"id": {"type": "string"}, "role": {"enum": names(&Role::ALL)}, "default_purpose": {"type": "string"}},
        },
        "Recorded": {
            "type": "object",
            "properties": {"event": {"type": "integer"}, "kind": {"type": "string"}, "recorded_at": {"type": "string", "format": "date-time"}},
        },
        "EmergencyRequest": {
            "type": "object",
            "required": ["reason"],
            "additionalProperties": false,
            "properties": {"reason": {"type": "string", "minLength": 1}, "minutes": {"type": "integer", "minimum": 1, "maximum": 720}},
        },
        "RecordSection": {
            "type": "object",
            "required": ["person", "ais_flag", "access", "data"],
            "properties": {
                "person": {"type": "string"},
                "ais_flag": {"type": ["string", "null"], "description": "The person's communication and information needs, shown wherever the record is opened (AIS)."},
                "access": {"type": "object", "properties": {
                    "event": {"type": "integer", "description": "The access event recorded for this read."},
                    "flagged": {"type": "boolean", "description": "Allowed by break-glass; flagged for review."},
                    "basis": {"type": "array", "items": {"type": "object"}},
                }},
                "data": {"type": "object"},
            },
        },
        "Page": {
            "type": "object",
            "properties": {"items": {"type": "array", "items": {"type": "object"}}, "next_after": {"type": ["integer", "null"]}, "access_events": {"type": "array", "items": {"type": "integer"}}},
        },
        "ProviderFindings": {"type": "object", "properties": {"findings": {"type": "array", "items": {"$ref": "#/components/schemas/Finding"}}}},
        "Finding": {"type": "object", "properties": {"rule": {"type": "string"}, "person": {"type": ["string", "null"]}, "since": {"type": "string"}, "message": {"type": "string"}, "evidence": {"type": "array", "items": {"type": "integer"}}}},
        "Requests": {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object"}}}},
        "ResponseTimes": {
            "type": "object",
            "properties": {
                "checkpoint": {"type": "string", "description": "The signed checkpoint the proofs are against."},
                "tree_size": {"type": "integer"},
                "items": {"type": "array", "items": {"type": "object", "properties": {
                    "request_id": {"type": "string"}, "received_at": {"type": "string"}, "due_at": {"type": "string"},
                    "responded_at": {"type": ["string", "null"]}, "took_minutes": {"type": ["integer", "null"]},
                    "breached": {"type": "boolean"},
                    "events": {"type": "array", "items": {"type": "object", "properties": {
                        "what": {"type": "string"}, "event": {"type": "integer"}, "proof": {"$ref": "#/components/schemas/InclusionProof"}}}},
                }}},
                "next_after": {"type": ["string", "null"]},
            },
        },
        "InclusionProof": {
            "type": "object",
            "properties": {"leaf_index": {"type": "integer"}, "tree_size": {"type": "integer"}, "leaf_hash": {"type": "string", "contentEncoding": "base64"}, "proof": {"type": "array", "items": {"type": "string", "contentEncoding": "base64"}}},
        },
        "ConsistencyProof": {
            "type": "object",
            "properties": {"size1": {"type": "integer"}, "size2": {"type": "integer"}, "root1": {"type": "string"}, "root2": {"type": "string"}, "proof": {"type": "array", "items": {"type": "string"}}},
        },
    })
}
