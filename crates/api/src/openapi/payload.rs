//! JSON Schemas (2020-12) of the care event payloads, traced from the payload types' own
//! serde `Deserialize` impls, so the OpenAPI document cannot drift from the code.
//!
//! [`Trace`] is a serde `Deserializer` that offers each type a made-up value of every shape
//! it asks for, and writes down what was asked: struct names and fields, sequences,
//! options, enums and their variants, primitive types. The shapes described are
//! serde_json's, which is what the API reads and writes: externally tagged enums (`"Staff"`,
//! `{"NotDone":{"reason":"..."}}`), options as `null`, newtypes as their content, fixed-size
//! arrays as arrays of that length.
//!
//! What cannot be seen from the calls a type makes is found by probing:
//! - every struct is offered, once, a field it does not have: one that refuses it
//!   (`deny_unknown_fields`) gets `additionalProperties: false`;
//! - an enum takes one variant per deserialization, so a kind is traced in as many passes
//!   as it takes for every enum it reaches to have shown every variant (variants not seen
//!   yet first, then each in turn, for the enums inside them); an enum reached inside
//!   itself (an outage back-entry holds a care event) takes its first variant;
//! - a string whose visitor expects chrono's "a formatted date string" (a `NaiveDate`) is
//!   offered a date and described as `format: date`; every other string is offered `"x"`,
//!   so a type that parses its string in some other way fails the trace rather than being
//!   described wrongly.
//!
//! What tracing cannot see: `#[serde(default)]` (a defaulted field is described as
//! required; only `Option` fields are optional) and doc comments. Self-describing shapes
//! (untagged enums, `flatten`, `serde_json::Value`) fail the trace with an error.

use std::collections::BTreeMap;
use std::fmt;

use std::collections::BTreeSet;

use careledger_care::event::KindVisitor;
use careledger_care::{fields, CareEvent};
use serde::de::{
    self, DeserializeSeed, EnumAccess, Expected, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};
use serde::Deserializer;
use serde_json::{json, Map, Value};

/// Where component references point.
const COMPONENTS: &str = "#/components/schemas/";

/// What chrono's `NaiveDate` visitor says it expects.
const NAIVE_DATE_EXPECTING: &str = "a formatted date string";

/// Named types nested this deep mean a recursive type whose first variant recurses too.
const DEPTH_MAX: usize = 64;

/// Passes over one kind before giving up on its enums showing every variant.
const PASSES_MAX: usize = 10_000;

/// The field offered to every struct once, to see whether it refuses unknown fields.
const PROBE_FIELD: &str = "\u{1}probe";

/// The component name of `kind`'s payload schema.
pub fn payload_component(kind: &str) -> String {
    format!("Payload.{kind}")
}

/// Every kind's payload schema as `Payload.<kind>`, and the types they share (roles,
/// categories, nested structs, the care event enum a back-entry holds) as `Care.<Name>`,
/// keyed by component name. Refs point at `#/components/schemas/`.
pub fn payload_schemas() -> Result<Traced, String> {
    let mut kinds = Kinds {
        registry: Registry::default(),
        roots: Vec::new(),
        error: None,
    };
    CareEvent::visit_kinds(&mut kinds);
    if let Some(e) = kinds.error {
        return Err(e);
    }
    // A rule for a field no payload has (renamed, or removed) would constrain nothing.
    if let Some(f) = fields::FIELDS
        .iter()
        .find(|f| !kinds.registry.constrained.contains(&(f.owner, f.field)))
    {
        return Err(format!(
            "the care field rules name {}.{}, which no payload has",
            f.owner, f.field
        ));
    }
    let Kinds {
        registry, roots, ..
    } = kinds;

    // A kind's payload struct is its component; a type that is no kind's payload (or a
    // second kind's) is a shared `Care.` component.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for (kind, root) in &roots {
        if let Some(name) = placeholder(root) {
            names.entry(name).or_insert_with(|| payload_component(kind));
        }
    }
    for name in registry.structs.keys().chain(registry.enums.keys()) {
        names
            .entry(name.to_string())
            .or_insert_with(|| format!("Care.{name}"));
    }

    let mut components = BTreeMap::new();
    for (name, schema) in &registry.structs {
        components.insert(names[*name].clone(), resolve(schema.clone(), &names));
    }
    for (name, trace) in &registry.enums {
        components.insert(names[*name].clone(), resolve(trace.schema(name)?, &names));
    }
    for (kind, root) in roots {
        let component = payload_component(kind);
        let scope = match CareEvent::scope_of(kind) {
            Some(careledger_care::Scope::Organisation) => "about the organisation",
            _ => "about a person (the envelope's subject)",
        };
        let description = format!("The payload of `{kind}` events, {scope}.");
        let mut schema = components
            .remove(&component)
            .unwrap_or_else(|| resolve(root, &names));
        if let Value::Object(o) = &mut schema {
            o.insert("description".into(), json!(description));
        }
        components.insert(component, schema);
    }
    Ok(Traced { components, names })
}

/// What [`payload_schemas`] traced: the components, and which component describes each
/// type, by its serde name.
pub struct Traced {
    pub components: BTreeMap<String, Value>,
    pub names: BTreeMap<String, String>,
}

struct Kinds {
    registry: Registry,
    roots: Vec<(&'static str, Value)>,
    error: Option<String>,
}

impl KindVisitor for Kinds {
    fn visit<T: serde::Serialize + de::DeserializeOwned + 'static>(&mut self, kind: &'static str) {
        if self.error.is_some() {
            return;
        }
        match trace::<T>(&mut self.registry, kind) {
            Ok(root) => self.roots.push((kind, root)),
            Err(e) => self.error = Some(e),
        }
    }
}

/// Traces `T` until every enum it reaches has shown every variant; the schema of `T`
/// itself (for a struct, a reference to it by its serde name).
fn trace<T: de::DeserializeOwned>(registry: &mut Registry, kind: &str) -> Result<Value, String> {
    for _ in 0..PASSES_MAX {
        registry.stack.clear();
        let mut slot = Slot::default();
        match T::deserialize(Trace {
            registry,
            slot: &mut slot,
        }) {
            Err(Error::Restart) => continue,
            Err(e) => {
                return Err(format!(
                    "the {kind} payload cannot be described (in {}): {e}",
                    registry.stack.join(" > ")
                ))
            }
            Ok(_) if registry.enums.values().any(EnumTrace::unseen) => continue,
            Ok(_) => return Ok(slot.schema),
        }
    }
    let unseen: Vec<String> = registry
        .enums
        .iter()
        .flat_map(|(name, e)| {
            e.variants
                .iter()
                .zip(&e.shapes)
                .filter(|(_, s)| **s == Shape::Unseen)
                .map(move |(v, _)| format!("{name}::{v}"))
        })
        .collect();
    Err(format!(
        "the {kind} payload: {} never reached in {PASSES_MAX} passes",
        unseen.join(", ")
    ))
}

/// The serde name in a placeholder reference, as written while tracing a named type.
fn placeholder(schema: &Value) -> Option<String> {
    Some(schema.as_object()?.get("$ref")?.as_str()?.to_string())
}

fn placeholder_for(name: &str) -> Value {
    json!({ "$ref": name })
}

/// Turns placeholder references into component references.
fn resolve(mut schema: Value, names: &BTreeMap<String, String>) -> Value {
    fn walk(v: &mut Value, names: &BTreeMap<String, String>) {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(r)) = o.get_mut("$ref") {
                    if let Some(component) = names.get(r.as_str()) {
                        *r = format!("{COMPONENTS}{component}");
                    }
                }
                o.values_mut().for_each(|v| walk(v, names));
            }
            Value::Array(a) => a.iter_mut().for_each(|v| walk(v, names)),
            _ => {}
        }
    }
    walk(&mut schema, names);
    schema
}

// ------------------------------------------------------------------ what tracing records

#[derive(Default)]
struct Registry {
    /// Object schemas of structs, by serde name.
    structs: BTreeMap<&'static str, Value>,
    enums: BTreeMap<&'static str, EnumTrace>,
    /// Whether a struct (or `Enum::Variant` for a struct variant) refuses unknown fields;
    /// absent until probed.
    strict: BTreeMap<String, bool>,
    /// Named types being traced, innermost last.
    stack: Vec<&'static str>,
    /// The field rules (owner, field) that some traced field matched.
    constrained: BTreeSet<(&'static str, &'static str)>,
}

impl Registry {
    /// Says in `schema` what the care rules ask of `owner`'s `field` (a text not blank, a
    /// list not empty, how long each may be): what `careledger_care::fields::check`
    /// enforces.
    fn constrain(&mut self, owner: &str, field: &str, schema: &mut Value) {
        let rule = fields::rule(owner, field);
        if let Some(f) = rule {
            self.constrained.insert((f.owner, f.field));
        }
        let required = rule.is_some_and(|f| f.required);
        let size = rule.map_or(fields::Size::Text, |f| f.size);
        constrain(schema, required, size);
        if let (Some(shape), Value::Object(o)) = (fields::shape(owner, field), schema) {
            o.insert("pattern".into(), json!(shape.pattern));
            o.insert("description".into(), json!(shape.description));
        }
    }

    fn enter(&mut self, name: &'static str) -> Result<(), Error> {
        if self.stack.len() >= DEPTH_MAX {
            return Err(Error::Message(format!(
                "named types nest deeper than {DEPTH_MAX}: a recursive type whose first \
                 variant is not a base case"
            )));
        }
        self.stack.push(name);
        Ok(())
    }

    fn leave(&mut self) {
        self.stack.pop();
    }

    fn record_struct(&mut self, name: &'static str, schema: Value) -> Result<(), Error> {
        if self.enums.contains_key(name) {
            return Err(same_name(name));
        }
        match self.structs.get(name) {
            Some(known) if *known != schema => Err(same_name(name)),
            Some(_) => Ok(()),
            None => {
                self.structs.insert(name, schema);
                Ok(())
            }
        }
    }
}

/// Components are named by serde names, so two types may not share one.
fn same_name(name: &str) -> Error {
    Error::Message(format!(
        "two different types are both named {name} in serde"
    ))
}

#[derive(Debug, Clone, PartialEq)]
enum Shape {
    Unseen,
    Unit,
    Content(Value),
}

struct EnumTrace {
    variants: &'static [&'static str],
    shapes: Vec<Shape>,
    /// Times a pass reached it from outside itself.
    visits: usize,
}

impl EnumTrace {
    fn unseen(&self) -> bool {
        self.shapes.contains(&Shape::Unseen)
    }

    /// Externally tagged: a unit variant is its name, any other an object with the
    /// variant's name as its one property.
    fn schema(&self, name: &str) -> Result<Value, String> {
        let mut units = Vec::new();
        let mut others = Vec::new();
        for (variant, shape) in self.variants.iter().zip(&self.shapes) {
            match shape {
                Shape::Unseen => return Err(format!("{name}::{variant} was never traced")),
                Shape::Unit => units.push(json!(variant)),
                Shape::Content(schema) => others.push(json!({
                    "type": "object",
                    "required": [variant],
                    "additionalProperties": false,
                    "properties": { *variant: schema },
                })),
            }
        }
        let units = json!({"type": "string", "enum": units});
        Ok(if others.is_empty() {
            units
        } else {
            if units["enum"].as_array().is_some_and(|u| !u.is_empty()) {
                others.insert(0, units);
            }
            json!({ "oneOf": others })
        })
    }
}

/// One traced value's schema, and whether it was an `Option` (so its field may be left out).
#[derive(Default)]
struct Slot {
    schema: Value,
    optional: bool,
}

#[derive(Debug)]
enum Error {
    /// The pass learned something that changes what the types will ask (a struct refused
    /// the probe field): start it again.
    Restart,
    /// A struct refused an unknown field.
    UnknownField,
    Message(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Restart => f.write_str("restart"),
            Error::UnknownField => f.write_str("unknown field"),
            Error::Message(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::Message(msg.to_string())
    }

    fn unknown_field(_field: &str, _expected: &'static [&'static str]) -> Self {
        Error::UnknownField
    }
}

/// The keywords for a string, a list or an optional one: `required` (not blank, not empty)
/// and `size` (each string's length in characters, which is what `maxLength` counts).
/// Dates and fixed-size arrays have their own shape and are left alone.
fn constrain(schema: &mut Value, required: bool, size: fields::Size) {
    let Value::Object(o) = schema else { return };
    if let Some(Value::Array(any)) = o.get_mut("anyOf") {
        for s in any.iter_mut() {
            constrain(s, required, size);
        }
        return;
    }
    let types: Vec<&str> = match o.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return,
    };
    if types.contains(&"string") && !o.contains_key("format") {
        o.insert("maxLength".into(), json!(size.chars_max()));
        // An id is never blank, even an optional one; no text holds a control character
        // but a newline or a tab.
        if required || size == fields::Size::Id {
            not_blank(o);
        } else {
            o.insert("pattern".into(), json!(fields::text_pattern()));
        }
    } else if types.contains(&"array") && !o.contains_key("maxItems") {
        o.insert("maxItems".into(), json!(fields::LIST_ITEMS_MAX));
        if required {
            o.insert("minItems".into(), json!(1));
        }
        // Entries of a list of texts are never blank.
        if let Some(Value::Object(item)) = o.get_mut("items") {
            if item.get("type") == Some(&json!("string")) && !item.contains_key("format") {
                item.insert("maxLength".into(), json!(size.chars_max()));
                not_blank(item);
            }
        }
    }
}

/// A string with something other than white space in it.
fn not_blank(o: &mut Map<String, Value>) {
    o.insert("minLength".into(), json!(1));
    o.insert("pattern".into(), json!(fields::not_blank_pattern()));
}

fn integer(minimum: impl Into<Value>, maximum: impl Into<Value>) -> Value {
    json!({"type": "integer", "minimum": minimum.into(), "maximum": maximum.into()})
}

/// `schema` or null.
fn nullable(schema: Value) -> Value {
    const PLAIN: &[&str] = &[
        "type",
        "format",
        "description",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
    ];
    match &schema {
        Value::Object(o)
            if o.get("type").is_some_and(Value::is_string)
                && o.keys().all(|k| PLAIN.contains(&k.as_str())) =>
        {
            let mut o = o.clone();
            let ty = o["type"].clone();
            o.insert("type".into(), json!([ty, "null"]));
            Value::Object(o)
        }
        _ => json!({"anyOf": [schema, {"type": "null"}]}),
    }
}

/// An array of exactly `slots.len()` items.
fn tuple(slots: Vec<Slot>) -> Value {
    let len = slots.len();
    let mut items: Vec<Value> = slots.into_iter().map(|s| s.schema).collect();
    let mut schema = json!({"type": "array", "minItems": len, "maxItems": len});
    if items.windows(2).all(|w| w[0] == w[1]) {
        if let Some(item) = items.pop() {
            schema["items"] = item;
        }
    } else {
        schema["prefixItems"] = Value::Array(items);
        schema["items"] = json!(false);
    }
    schema
}

// ------------------------------------------------------------------ the tracing deserializer

struct Trace<'a> {
    registry: &'a mut Registry,
    slot: &'a mut Slot,
}

macro_rules! integers {
    ($($method:ident $visit:ident $ty:ty;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.slot.schema = integer(<$ty>::MIN, <$ty>::MAX);
            visitor.$visit(0)
        }
    )*};
}

impl<'de> Deserializer<'de> for Trace<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        Err(Error::Message(format!(
            "{} asks for any value (untagged, flatten or a JSON value): cannot be traced",
            &visitor as &dyn Expected
        )))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.slot.schema = json!({"type": "boolean"});
        visitor.visit_bool(false)
    }

    integers! {
        deserialize_i8 visit_i8 i8;
        deserialize_i16 visit_i16 i16;
        deserialize_i32 visit_i32 i32;
        deserialize_u8 visit_u8 u8;
        deserialize_u16 visit_u16 u16;
        deserialize_u32 visit_u32 u32;
        deserialize_u64 visit_u64 u64;
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.slot.schema = json!({"type": "integer", "format": "int64"});
        visitor.visit_i64(0)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.slot.schema = json!({"type": "number"});
        visitor.visit_f32(0.0)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.slot.schema = json!({"type": "number"});
        visitor.visit_f64(0.0)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.slot.schema = json!({"type": "string", "minLength": 1, "maxLength": 1});
        visitor.visit_char('x')
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if (&visitor as &dyn Expected).to_string() == NAIVE_DATE_EXPECTING {
            self.slot.schema =
                json!({"type": "string", "format": "date", "description": "YYYY-MM-DD"});
            visitor.visit_str("2026-01-01")
        } else {
            self.slot.schema = json!({"type": "string"});
            visitor.visit_str("x")
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.slot.schema = json!({"type": "array", "items": integer(0, 255)});
        visitor.visit_bytes(&[])
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let mut inner = Slot::default();
        let value = visitor.visit_some(Trace {
            registry: self.registry,
            slot: &mut inner,
        })?;
        self.slot.schema = nullable(inner.schema);
        self.slot.optional = true;
        Ok(value)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.slot.schema = json!({"type": "null"});
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let mut item = [Slot::default()];
        let value = visitor.visit_seq(Seq {
            registry: self.registry,
            slots: item.iter_mut(),
        })?;
        let [item] = item;
        self.slot.schema = json!({"type": "array", "items": item.schema});
        Ok(value)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        let mut items: Vec<Slot> = (0..len).map(|_| Slot::default()).collect();
        let value = visitor.visit_seq(Seq {
            registry: self.registry,
            slots: items.iter_mut(),
        })?;
        self.slot.schema = tuple(items);
        Ok(value)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let mut entry = Slot::default();
        let value = visitor.visit_map(OneEntry {
            registry: self.registry,
            value: &mut entry,
            done: false,
        })?;
        // JSON object keys are strings whatever the key type.
        self.slot.schema = json!({"type": "object", "additionalProperties": entry.schema});
        Ok(value)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.registry.enter(name)?;
        let (value, schema) = fields_of(self.registry, name.to_string(), fields, visitor)?;
        self.registry.leave();
        self.registry.record_struct(name, schema)?;
        self.slot.schema = placeholder_for(name);
        Ok(value)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let registry = self.registry;
        let trace = registry.enums.entry(name).or_insert_with(|| EnumTrace {
            variants,
            shapes: vec![Shape::Unseen; variants.len()],
            visits: 0,
        });
        if trace.variants != variants || registry.structs.contains_key(name) {
            return Err(same_name(name));
        }
        if variants.is_empty() {
            return Err(Error::Message(format!("{name} has no variants")));
        }
        // The first variant not seen yet; once all are seen, each in turn, so that enums
        // inside them show all of theirs too.
        let index = if registry.stack.contains(&name) {
            0
        } else {
            trace.visits += 1;
            trace
                .shapes
                .iter()
                .position(|s| *s == Shape::Unseen)
                .unwrap_or(trace.visits % variants.len())
        };
        registry.enter(name)?;
        let mut shape = Shape::Unseen;
        let value = visitor.visit_enum(Variant {
            registry: &mut *registry,
            enum_name: name,
            variant: variants[index],
            shape: &mut shape,
        })?;
        registry.leave();
        let known = &mut registry.enums.get_mut(name).expect("entered above").shapes[index];
        match known {
            Shape::Unseen => *known = shape,
            _ if *known != shape => {
                return Err(Error::Message(format!(
                    "{name}::{} traced two different ways",
                    variants[index]
                )))
            }
            _ => {}
        }
        self.slot.schema = placeholder_for(name);
        Ok(value)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

/// Drives a struct's (or struct variant's) visitor through its fields, offering the probe
/// field first if `key` was never probed; its object schema.
fn fields_of<'de, V: Visitor<'de>>(
    registry: &mut Registry,
    key: String,
    fields: &'static [&'static str],
    visitor: V,
) -> Result<(V::Value, Value), Error> {
    let mut slots: Vec<Slot> = fields.iter().map(|_| Slot::default()).collect();
    let strict_known = registry.strict.contains_key(&key);
    let value = visitor.visit_map(Fields {
        registry: &mut *registry,
        key: &key,
        fields,
        slots: &mut slots,
        next: 0,
        probe: !strict_known,
        probe_value: false,
    })?;
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (field, mut slot) in fields.iter().zip(slots) {
        if !slot.optional {
            required.push(json!(field));
        }
        registry.constrain(&key, field, &mut slot.schema);
        properties.insert(field.to_string(), slot.schema);
    }
    let mut schema = json!({"type": "object", "required": required, "properties": properties});
    if registry.strict.get(&key) == Some(&true) {
        schema["additionalProperties"] = json!(false);
    }
    Ok((value, schema))
}

struct Fields<'a> {
    registry: &'a mut Registry,
    key: &'a str,
    fields: &'static [&'static str],
    slots: &'a mut [Slot],
    next: usize,
    /// Offer the probe field before the real ones.
    probe: bool,
    /// The value asked for next is the probe field's.
    probe_value: bool,
}

impl<'de> MapAccess<'de> for Fields<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if std::mem::take(&mut self.probe) {
            return match seed.deserialize(PROBE_FIELD.into_deserializer()) {
                Ok(key) => {
                    self.registry.strict.insert(self.key.to_string(), false);
                    self.probe_value = true;
                    Ok(Some(key))
                }
                Err(Error::UnknownField) => {
                    self.registry.strict.insert(self.key.to_string(), true);
                    Err(Error::Restart)
                }
                Err(e) => Err(e),
            };
        }
        let Some(field) = self.fields.get(self.next) else {
            return Ok(None);
        };
        seed.deserialize(field.into_deserializer()).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Error> {
        if std::mem::take(&mut self.probe_value) {
            let mut ignored = Slot::default();
            return seed.deserialize(Trace {
                registry: &mut *self.registry,
                slot: &mut ignored,
            });
        }
        let slot = self
            .slots
            .get_mut(self.next)
            .ok_or_else(|| Error::Message("a value asked for after the last field".into()))?;
        self.next += 1;
        seed.deserialize(Trace {
            registry: &mut *self.registry,
            slot,
        })
    }
}

struct Seq<'a> {
    registry: &'a mut Registry,
    slots: std::slice::IterMut<'a, Slot>,
}

impl<'de> SeqAccess<'de> for Seq<'_> {
    type Error = Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Error> {
        let Some(slot) = self.slots.next() else {
            return Ok(None);
        };
        seed.deserialize(Trace {
            registry: &mut *self.registry,
            slot,
        })
        .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.slots.len())
    }
}

struct OneEntry<'a> {
    registry: &'a mut Registry,
    value: &'a mut Slot,
    done: bool,
}

impl<'de> MapAccess<'de> for OneEntry<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if std::mem::replace(&mut self.done, true) {
            return Ok(None);
        }
        let mut key = Slot::default();
        seed.deserialize(Trace {
            registry: &mut *self.registry,
            slot: &mut key,
        })
        .map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Error> {
        seed.deserialize(Trace {
            registry: &mut *self.registry,
            slot: &mut *self.value,
        })
    }
}

struct Variant<'a> {
    registry: &'a mut Registry,
    enum_name: &'static str,
    variant: &'static str,
    shape: &'a mut Shape,
}

impl<'de, 'a> EnumAccess<'de> for Variant<'a> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self), Error> {
        let tag = seed.deserialize(self.variant.into_deserializer())?;
        Ok((tag, self))
    }
}

impl<'de> VariantAccess<'de> for Variant<'_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        *self.shape = Shape::Unit;
        Ok(())
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, Error> {
        let mut slot = Slot::default();
        let value = seed.deserialize(Trace {
            registry: &mut *self.registry,
            slot: &mut slot,
        })?;
        // A newtype variant's content is ruled as the variant of its enum.
        self.registry
            .constrain(self.enum_name, self.variant, &mut slot.schema);
        *self.shape = Shape::Content(slot.schema);
        Ok(value)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        let mut slot = Slot::default();
        let value = Trace {
            registry: self.registry,
            slot: &mut slot,
        }
        .deserialize_tuple(len, visitor)?;
        *self.shape = Shape::Content(slot.schema);
        Ok(value)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let key = format!("{}::{}", self.enum_name, self.variant);
        let (value, schema) = fields_of(self.registry, key, fields, visitor)?;
        *self.shape = Shape::Content(schema);
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    //! Shapes the care payloads do not use today, traced from small types of their own.

    use std::collections::BTreeMap;

    use serde::Deserialize;
    use serde_json::json;

    use super::{trace, Registry};

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Loose {
        pair: (u8, String),
        counts: BTreeMap<String, u16>,
        ratio: f64,
        tag: Option<Tag>,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum Tag {
        Plain,
        Pair(i32, bool),
    }

    #[test]
    fn tuples_maps_numbers_and_tuple_variants() {
        let mut registry = Registry::default();
        let root = trace::<Loose>(&mut registry, "loose").unwrap();
        assert_eq!(root, json!({"$ref": "Loose"}));
        let loose = &registry.structs["Loose"];
        assert!(
            loose.get("additionalProperties").is_none(),
            "unknown fields are ignored, not refused"
        );
        assert_eq!(loose["required"], json!(["pair", "counts", "ratio"]));
        let p = &loose["properties"];
        assert_eq!(p["pair"]["prefixItems"][1], json!({"type": "string"}));
        assert_eq!(p["pair"]["maxItems"], 2);
        assert_eq!(p["counts"]["additionalProperties"]["maximum"], 65535);
        assert_eq!(p["ratio"], json!({"type": "number"}));
        assert_eq!(p["tag"]["anyOf"][1], json!({"type": "null"}));
        let tag = registry.enums["Tag"].schema("Tag").unwrap();
        assert_eq!(
            tag["oneOf"][0],
            json!({"type": "string", "enum": ["Plain"]})
        );
        assert_eq!(tag["oneOf"][1]["properties"]["Pair"]["minItems"], 2);
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Untagged {
        value: serde_json::Value,
    }

    #[test]
    fn self_describing_types_cannot_be_traced() {
        let error = trace::<Untagged>(&mut Registry::default(), "untagged").unwrap_err();
        assert!(error.contains("cannot be traced"), "{error}");
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct When {
        at: chrono::NaiveDateTime,
    }

    #[test]
    fn a_string_parsed_some_other_way_fails_the_trace() {
        let error = trace::<When>(&mut Registry::default(), "when").unwrap_err();
        assert!(error.contains("When"), "{error}");
    }
}
