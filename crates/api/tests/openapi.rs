//! The OpenAPI document against the code: every route is in it, every reference resolves,
//! every event kind has a payload schema, and the stored payload samples of every kind
//! (crates/care/tests/samples) match their schema, checked by a small JSON Schema checker
//! below. Mutated samples show the check is real: the schema refuses exactly what the care
//! crate's deserializer refuses.

mod common;

use std::path::PathBuf;

use careledger_api::openapi::document;
use careledger_api::routes::ROUTES;
use careledger_care::{fields, CareEvent, Scope};
use serde_json::{json, Value};

// ------------------------------------------------------------------ a JSON Schema checker

/// Checks `value` against `schema` (the subset of JSON Schema 2020-12 the document uses;
/// any other keyword is an error, so nothing the schema says is skipped).
fn check(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let fail = |what: String| Err(format!("{at}: {what}"));
    let o = match schema {
        Value::Bool(true) => return Ok(()),
        Value::Bool(false) => return fail("no value is allowed here".into()),
        Value::Object(o) => o,
        other => return fail(format!("not a schema: {other}")),
    };
    for (key, rule) in o {
        match key.as_str() {
            "description" | "title" | "discriminator" | "contentEncoding" => {}
            "$ref" => {
                let target = resolve(doc, rule)?;
                check(doc, target, value, at)?;
            }
            "type" => {
                let types: Vec<&str> = match rule {
                    Value::String(t) => vec![t.as_str()],
                    Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                    _ => return fail(format!("bad type {rule}")),
                };
                if !types.iter().any(|t| is_type(value, t)) {
                    return fail(format!("{value} is not of type {rule}"));
                }
            }
            "enum" => {
                if !rule.as_array().is_some_and(|a| a.contains(value)) {
                    return fail(format!("{value} is not one of {rule}"));
                }
            }
            "const" => {
                if rule != value {
                    return fail(format!("{value} is not {rule}"));
                }
            }
            "format" => match (rule.as_str(), value.as_str()) {
                (Some("date"), Some(s)) => {
                    let ok =
                        s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok();
                    if !ok {
                        return fail(format!("{s:?} is not a YYYY-MM-DD date"));
                    }
                }
                (Some("date-time"), Some(s)) => {
                    if chrono::DateTime::parse_from_rfc3339(s).is_err() {
                        return fail(format!("{s:?} is not an RFC 3339 time"));
                    }
                }
                (Some("int64"), _) => {
                    if value.is_number() && !value.is_i64() {
                        return fail(format!("{value} is not a 64-bit signed integer"));
                    }
                }
                (Some("date" | "date-time"), None) => {}
                _ => return fail(format!("format {rule} is not known to the checker")),
            },
            "minimum" | "maximum" => {
                if let Some(n) = value.as_f64() {
                    let bound = rule.as_f64().ok_or("bad bound")?;
                    let below = key == "minimum" && n < bound;
                    let above = key == "maximum" && n > bound;
                    // f64 cannot tell i64/u64 extremes apart from their neighbours.
                    let exact = match (value.as_i64(), rule.as_i64(), value.as_u64(), rule.as_u64())
                    {
                        (Some(v), Some(b), _, _) => {
                            Some(if key == "minimum" { v < b } else { v > b })
                        }
                        (_, _, Some(v), Some(b)) => {
                            Some(if key == "minimum" { v < b } else { v > b })
                        }
                        _ => None,
                    };
                    if exact.unwrap_or(below || above) {
                        return fail(format!("{value} is outside {key} {rule}"));
                    }
                }
            }
            "minLength" | "maxLength" => {
                if let Some(s) = value.as_str() {
                    let n = s.chars().count() as u64;
                    let bound = rule.as_u64().ok_or("bad length")?;
                    if (key == "minLength" && n < bound) || (key == "maxLength" && n > bound) {
                        return fail(format!("{s:?} breaks {key} {bound}"));
                    }
                }
            }
            // The patterns the document uses; the checker knows what each means.
            "pattern" => {
                if let Some(s) = value.as_str() {
                    let ok = match rule.as_str().ok_or("bad pattern")? {
                        p if p == fields::not_blank_pattern() => {
                            !fields::blank(s) && !s.chars().any(fields::forbidden_control)
                        }
                        p if p == fields::text_pattern() => {
                            !s.chars().any(fields::forbidden_control)
                        }
                        p if p == fields::NHS_NUMBER.pattern => {
                            s.chars().all(|c| c == ' ' || c.is_ascii_digit())
                                && s.chars().filter(char::is_ascii_digit).count() == 10
                        }
                        p if p == fields::DIGEST.pattern => {
                            s.len() == 64
                                && s.bytes()
                                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                        }
                        p if p == fields::EMAIL.pattern => {
                            let plain = |t: &str| {
                                !t.is_empty()
                                    && !t.chars().any(|c| c.is_whitespace() || "<>@".contains(c))
                            };
                            s.split_once('@').is_some_and(|(local, domain)| {
                                plain(local)
                                    && domain.split('.').count() >= 2
                                    && domain.split('.').all(plain)
                            })
                        }
                        r"^[^\u0000-\u001f\u007f-\u009f]*$" => !s.chars().any(char::is_control),
                        other => return fail(format!("the checker does not know pattern {other}")),
                    };
                    if !ok {
                        return fail(format!("{s:?} breaks pattern {rule}"));
                    }
                }
            }
            "minItems" | "maxItems" => {
                if let Some(a) = value.as_array() {
                    let bound = rule.as_u64().ok_or("bad count")? as usize;
                    if (key == "minItems" && a.len() < bound)
                        || (key == "maxItems" && a.len() > bound)
                    {
                        return fail(format!("{} items breaks {key} {bound}", a.len()));
                    }
                }
            }
            "items" => {
                if let Some(a) = value.as_array() {
                    let skip = o
                        .get("prefixItems")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len);
                    for (i, item) in a.iter().enumerate().skip(skip) {
                        check(doc, rule, item, &format!("{at}[{i}]"))?;
                    }
                }
            }
            "prefixItems" => {
                if let Some(a) = value.as_array() {
                    for (i, (item, s)) in a
                        .iter()
                        .zip(rule.as_array().ok_or("bad prefixItems")?)
                        .enumerate()
                    {
                        check(doc, s, item, &format!("{at}[{i}]"))?;
                    }
                }
            }
            "required" => {
                if let Some(obj) = value.as_object() {
                    for field in rule.as_array().ok_or("bad required")? {
                        let field = field.as_str().ok_or("bad required")?;
                        if !obj.contains_key(field) {
                            return fail(format!("required field {field} is missing"));
                        }
                    }
                }
            }
            "properties" => {
                if let Some(obj) = value.as_object() {
                    for (name, s) in rule.as_object().ok_or("bad properties")? {
                        if let Some(v) = obj.get(name) {
                            check(doc, s, v, &format!("{at}.{name}"))?;
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(obj) = value.as_object() {
                    let declared = o.get("properties").and_then(Value::as_object);
                    for (name, v) in obj {
                        if declared.is_none_or(|d| !d.contains_key(name)) {
                            check(doc, rule, v, &format!("{at}.{name}"))?;
                        }
                    }
                }
            }
            "oneOf" | "anyOf" => {
                let options = rule.as_array().ok_or("bad oneOf")?;
                let errors: Vec<String> = options
                    .iter()
                    .filter_map(|s| check(doc, s, value, at).err())
                    .collect();
                let passed = options.len() - errors.len();
                if passed == 0 {
                    return fail(format!("matches none of {key}: {}", errors.join("; ")));
                }
                if key == "oneOf" && passed > 1 {
                    return fail(format!("matches {passed} schemas of oneOf"));
                }
            }
            other => return fail(format!("the checker does not know keyword {other}")),
        }
    }
    Ok(())
}

fn is_type(value: &Value, ty: &str) -> bool {
    match ty {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    }
}

fn resolve<'a>(doc: &'a Value, reference: &Value) -> Result<&'a Value, String> {
    let r = reference.as_str().ok_or("a $ref that is not a string")?;
    let pointer = r
        .strip_prefix('#')
        .ok_or_else(|| format!("{r}: not a reference into this document"))?;
    doc.pointer(pointer)
        .ok_or_else(|| format!("{r} does not resolve"))
}

fn schema<'a>(doc: &'a Value, component: &str) -> &'a Value {
    doc["components"]["schemas"]
        .get(component)
        .unwrap_or_else(|| panic!("no component {component}"))
}

// ------------------------------------------------------------------ the stored samples

fn samples() -> Vec<(String, CareEvent, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../care/tests/samples");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let kind = name
            .strip_suffix(".hex")
            .expect("samples end in .hex")
            .to_string();
        // `<kind>.v<N>.hex` holds an older version, which the API never writes.
        if CareEvent::version_of(&kind).is_none() {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.trim();
        let bytes: Vec<u8> = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect();
        let event = CareEvent::decode(&kind, &bytes)
            .unwrap_or_else(|e| panic!("{name} does not decode: {e}"));
        let fields = event
            .serialize_fields(serde_json::value::Serializer)
            .unwrap();
        out.push((kind, event, fields));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        out.len(),
        CareEvent::KINDS.len(),
        "one stored sample per kind"
    );
    out
}

fn payload_schema<'a>(doc: &'a Value, kind: &str) -> &'a Value {
    schema(doc, &format!("Payload.{kind}"))
}

/// The request that records a sample, as a client would send it.
fn request(kind: &str, payload: &Value) -> Value {
    let mut r = json!({"kind": kind, "occurred_at": "2026-03-02T09:00:00Z", "payload": payload});
    if CareEvent::scope_of(kind) == Some(Scope::Person) {
        r["subject"] = json!("person-1");
    }
    r
}

/// Whether the care crate accepts the fields before it looks at the ledger's state: its
/// deserializer (what POST /v1/events uses), then its field rules.
fn code_accepts(kind: &str, fields: &Value) -> Result<(), String> {
    let event = CareEvent::deserialize_kind(kind, fields)?;
    fields::check(&event).map_err(|e| e.to_string())
}

// ------------------------------------------------------------------ the tests

#[test]
fn every_kind_has_a_payload_schema_and_a_request() {
    let doc = document(&careledger_api::Limits::default());
    let event_request = schema(&doc, "EventRequest");
    let one_of = event_request["oneOf"].as_array().unwrap();
    assert_eq!(one_of.len(), CareEvent::KINDS.len());
    assert_eq!(event_request["discriminator"]["propertyName"], "kind");
    for kind in CareEvent::KINDS {
        let payload = payload_schema(&doc, kind);
        assert_eq!(payload["type"], "object", "{kind}");
        assert_eq!(
            payload["additionalProperties"],
            json!(false),
            "{kind} payloads refuse unknown fields (deny_unknown_fields)"
        );
        let request = schema(&doc, &format!("EventRequest.{kind}"));
        assert_eq!(request["properties"]["kind"]["const"], json!(kind));
        assert_eq!(
            request["properties"]["payload"]["$ref"],
            json!(format!("#/components/schemas/Payload.{kind}"))
        );
        assert_eq!(
            event_request["discriminator"]["mapping"][kind],
            json!(format!("#/components/schemas/EventRequest.{kind}"))
        );
        assert!(
            one_of.contains(&json!({"$ref": format!("#/components/schemas/EventRequest.{kind}")}))
        );
        let needs_subject = request["required"]
            .as_array()
            .unwrap()
            .contains(&json!("subject"));
        assert_eq!(
            needs_subject,
            CareEvent::scope_of(kind) == Some(Scope::Person),
            "{kind}"
        );
    }
}

#[test]
fn every_stored_sample_matches_its_schema() {
    let doc = document(&careledger_api::Limits::default());
    for (kind, _, fields) in samples() {
        check(&doc, payload_schema(&doc, &kind), &fields, &kind)
            .unwrap_or_else(|e| panic!("the stored {kind} sample: {e}\n{fields:#}"));
        let request = request(&kind, &fields);
        check(&doc, schema(&doc, "EventRequest"), &request, "request")
            .unwrap_or_else(|e| panic!("a request recording the {kind} sample: {e}"));
    }
}

/// Every mutation of every sample is refused or accepted alike by the schema and by the
/// care crate's deserializer: a missing field, an unknown one, a value of the wrong type,
/// an enum name that does not exist.
#[test]
fn schemas_refuse_what_the_code_refuses() {
    let doc = document(&careledger_api::Limits::default());
    let mut refused = 0;
    for (kind, _, fields) in samples() {
        let schema = payload_schema(&doc, &kind);
        let mut mutants: Vec<(String, Value)> = Vec::new();
        let mut unknown = fields.clone();
        unknown["not_a_field"] = json!("x");
        mutants.push(("an unknown field".into(), unknown));
        for (name, value) in fields.as_object().unwrap() {
            let mut missing = fields.clone();
            missing.as_object_mut().unwrap().remove(name);
            mutants.push((format!("without {name}"), missing));
            for wrong in wrong_values(value) {
                let mut m = fields.clone();
                m[name.as_str()] = wrong.clone();
                mutants.push((format!("{name} = {wrong}"), m));
            }
        }
        for (what, mutant) in mutants {
            let by_schema = check(&doc, schema, &mutant, &kind);
            let by_code = code_accepts(&kind, &mutant);
            assert_eq!(
                by_schema.is_ok(),
                by_code.is_ok(),
                "{kind} {what}: the schema says {by_schema:?}, the code says {by_code:?}"
            );
            if by_schema.is_err() {
                refused += 1;
            }
        }
        code_accepts(&kind, &fields).unwrap();
    }
    assert!(refused > 200, "only {refused} mutants were refused");
}

/// Every string and list in every sample, at any depth, made blank, empty, as long or as
/// full as allowed, and one past: the schema refuses exactly what the care crate refuses
/// before it looks at the ledger's state (its deserializer, then its field rules).
#[test]
fn schemas_say_what_the_field_rules_say() {
    let doc = document(&careledger_api::Limits::default());
    let (mut refused, mut accepted) = (0, 0);
    for (kind, _, fields) in samples() {
        let schema = payload_schema(&doc, &kind);
        for (pointer, value) in leaves(&fields, String::new()) {
            for (what, m) in field_mutations(&value) {
                let mut mutant = fields.clone();
                *mutant.pointer_mut(&pointer).unwrap() = m;
                let by_schema = check(&doc, schema, &mutant, &kind);
                let by_code = code_accepts(&kind, &mutant);
                assert_eq!(
                    by_schema.is_ok(),
                    by_code.is_ok(),
                    "{kind} {pointer} {what}: the schema says {by_schema:?}, the code says \
                     {by_code:?}"
                );
                if by_code.is_ok() {
                    accepted += 1;
                } else {
                    refused += 1;
                }
            }
        }
    }
    assert!(
        refused > 300 && accepted > 200,
        "{refused} refused and {accepted} accepted: the mutations reach too little"
    );
}

/// The JSON pointer of every string and list in `value`, with its value.
fn leaves(value: &Value, at: String) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    match value {
        Value::String(_) => out.push((at, value.clone())),
        Value::Array(a) => {
            out.push((at.clone(), value.clone()));
            for (i, v) in a.iter().enumerate() {
                out.extend(leaves(v, format!("{at}/{i}")));
            }
        }
        Value::Object(o) => {
            for (k, v) in o {
                out.extend(leaves(v, format!("{at}/{k}")));
            }
        }
        _ => {}
    }
    out
}

fn field_mutations(value: &Value) -> Vec<(String, Value)> {
    use fields::{ID_CHARS_MAX, LIST_ITEMS_MAX, TEXT_CHARS_MAX};
    let long = |c: &str, n: usize| json!(c.repeat(n));
    match value {
        Value::String(_) => vec![
            ("empty".into(), json!("")),
            ("blank".into(), json!(" \t\u{3000}")),
            ("an id's length".into(), long("i", ID_CHARS_MAX)),
            ("one past an id".into(), long("i", ID_CHARS_MAX + 1)),
            (
                "a text's length, wide".into(),
                long("\u{6C34}", TEXT_CHARS_MAX),
            ),
            ("one past a text".into(), long("t", TEXT_CHARS_MAX + 1)),
        ],
        Value::Array(a) => {
            let mut m = vec![("empty".to_string(), json!([]))];
            if let Some(first) = a.first() {
                m.push(("full".into(), json!(vec![first; LIST_ITEMS_MAX])));
                m.push((
                    "one past full".into(),
                    json!(vec![first; LIST_ITEMS_MAX + 1]),
                ));
                if first.is_string() {
                    m.push(("a blank entry".into(), json!([first, " "])));
                }
            }
            m
        }
        _ => Vec::new(),
    }
}

/// Values of another JSON type than `value`, and for names an unknown name.
fn wrong_values(value: &Value) -> Vec<Value> {
    let mut wrong = vec![json!({"x": 1}), json!([true])];
    match value {
        Value::String(s) => {
            wrong.push(json!(12));
            wrong.push(json!(format!("{s}-not-a-name")));
        }
        Value::Number(_) => {
            wrong.push(json!("12"));
            wrong.push(json!(-1.5));
        }
        Value::Bool(_) => wrong.push(json!("true")),
        Value::Array(a) => {
            wrong.retain(|w| !w.is_array());
            wrong.push(json!("x"));
            if let Some(first) = a.first() {
                for w in wrong_values(first) {
                    wrong.push(json!([w]));
                }
            }
        }
        Value::Object(_) => {
            wrong.retain(|w| !w.is_object());
            wrong.push(json!("NotAVariant"));
        }
        Value::Null => wrong.push(json!(3)),
    }
    wrong
}

#[test]
fn schemas_say_what_the_types_say() {
    let doc = document(&careledger_api::Limits::default());
    let person = payload_schema(&doc, "person.registered");
    assert_eq!(
        person["properties"]["date_of_birth"]["format"], "date",
        "a NaiveDate is a YYYY-MM-DD string"
    );
    let required = person["required"].as_array().unwrap();
    assert!(required.contains(&json!("date_of_birth")));
    assert!(
        !required.contains(&json!("nhs_number")),
        "Option fields may be left out"
    );
    assert_eq!(
        person["properties"]["nhs_number"]["type"],
        json!(["string", "null"])
    );

    let digest = &payload_schema(&doc, "request.responded")["properties"]["digest"];
    assert_eq!(digest["minItems"], 32);
    assert_eq!(digest["maxItems"], 32);
    assert_eq!(
        digest["items"],
        json!({"type": "integer", "minimum": 0, "maximum": 255})
    );

    let outcome = resolve(
        &doc,
        &payload_schema(&doc, "task.recorded")["properties"]["outcome"]["$ref"],
    )
    .unwrap();
    assert_eq!(
        outcome["oneOf"][0],
        json!({"type": "string", "enum": ["Done", "Refused"]})
    );
    assert_eq!(
        outcome["oneOf"][1]["properties"]["NotDone"]["properties"]["reason"]["type"],
        "string"
    );

    let staff = payload_schema(&doc, "staff.registered");
    let role = resolve(&doc, &staff["properties"]["role"]["$ref"]).unwrap();
    assert_eq!(role["enum"][0], "CareWorker");

    // A back-entry holds any care event, externally tagged by its variant name.
    let back = payload_schema(&doc, "outage.back_entered");
    let entry = resolve(&doc, &back["properties"]["entry"]["$ref"]).unwrap();
    let variants = entry["oneOf"].as_array().unwrap();
    assert_eq!(variants.len(), CareEvent::KINDS.len());
    assert_eq!(
        variants[0]["properties"]["PersonRegistered"]["$ref"],
        "#/components/schemas/Payload.person.registered"
    );
}

/// The document the service serves says of each route what the route table says, and
/// what it says of authentication is what the router does: an operation documented with
/// `security` answers 401 without a token, one without it does not.
#[tokio::test]
async fn every_route_is_documented() {
    let h = common::Harness::seeded().await;
    // The document check is open; it needs a printer to answer.
    h.app.set_documents(std::sync::Arc::new(common::NoPrinter));
    let served = h.get(None, "/openapi.json").await;
    assert_eq!(served.status, 200);
    let doc = served.json();
    assert_eq!(doc["openapi"], "3.1.0");
    for op in common::operations(&doc) {
        let a = h.request(op.request(None)).await;
        let (method, template) = (&op.method, op.template);
        if op.op["security"].is_array() {
            a.assert_problem(401, Some("authorization"));
        } else {
            assert_ne!(a.status, 401, "{method} {template} is documented as open");
            assert_eq!(
                a.status.as_u16().to_string(),
                op.op["responses"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .find(|s| s.starts_with('2'))
                    .unwrap()
                    .as_str(),
                "{method} {template} without a token: {}",
                a.text()
            );
        }
    }
    for (method, path, route) in ROUTES {
        let op = &doc["paths"][*path][*method];
        assert!(op.is_object(), "{method} {path} is not in the document");
        assert_eq!(op["summary"], route.summary, "{method} {path}");
        assert_eq!(op["security"].is_array(), route.auth, "{method} {path}");
        assert!(
            op["responses"][route.ok.0.to_string()].is_object(),
            "{method} {path} documents its success status"
        );
        match route.body {
            Some(body) => assert_eq!(
                op["requestBody"]["content"]["application/json"]["schema"]["$ref"],
                json!(format!("#/components/schemas/{body}")),
                "{method} {path}"
            ),
            None => assert!(op.get("requestBody").is_none(), "{method} {path}"),
        }
        for (name, ..) in route.params {
            assert!(
                op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == *name),
                "{method} {path} documents {name}"
            );
        }
        for segment in path.split('/').filter(|s| s.starts_with('{')) {
            let name = segment.trim_matches(|c| c == '{' || c == '}');
            assert!(
                route.params.iter().any(|p| p.0 == name),
                "{method} {path}: the path parameter {name} is not documented"
            );
        }
    }
    for section in careledger_api::views::SECTIONS {
        let op = &doc["paths"][format!("/v1/people/{{id}}/{}", section.name)]["get"];
        assert!(
            op["summary"]
                .as_str()
                .is_some_and(|s| s.starts_with(section.summary)),
            "{}: {op}",
            section.name
        );
    }
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(
        documented,
        ROUTES.len() + careledger_api::views::SECTIONS.len(),
        "no operation without a route"
    );
}

#[test]
fn every_reference_resolves() {
    fn walk(doc: &Value, v: &Value, at: &str, refs: &mut usize) {
        match v {
            Value::Object(o) => {
                for (key, child) in o {
                    if key == "$ref" {
                        let r = child
                            .as_str()
                            .unwrap_or_else(|| panic!("{at}: $ref {child}"));
                        assert!(
                            r.starts_with("#/components/schemas/"),
                            "{at}: {r} is not a component"
                        );
                        resolve(doc, child).unwrap_or_else(|e| panic!("{at}: {e}"));
                        *refs += 1;
                    }
                    walk(doc, child, &format!("{at}/{key}"), refs);
                }
                if let Some(mapping) = o.get("discriminator").and_then(|d| d.get("mapping")) {
                    for target in mapping.as_object().unwrap().values() {
                        resolve(doc, target).unwrap_or_else(|e| panic!("{at}: {e}"));
                    }
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    walk(doc, child, &format!("{at}/{i}"), refs);
                }
            }
            _ => {}
        }
    }
    let doc = document(&careledger_api::Limits::default());
    let mut refs = 0;
    walk(&doc, &doc, "", &mut refs);
    assert!(refs > 100, "only {refs} references");
    let names = doc["components"]["schemas"].as_object().unwrap();
    for name in names.keys() {
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
            "{name} is not a valid component name"
        );
    }
}
