//! What every payload field must be, whatever the ledger's state: which texts, ids and lists
//! may not be blank, and how long each may be.
//!
//! One table, [`FIELDS`], read two ways: the rules check every payload against it before
//! any rule that needs the state ([`check`], a walk over the payload's own serde
//! `Serialize`), and code that describes payloads reads it with [`rule`] (the API's JSON
//! Schemas say `minLength`, `pattern`, `maxLength`, `minItems` and `maxItems` from it), so
//! a schema-valid payload never fails a field check and the two cannot drift.
//!
//! Fields are named as serde names them: the struct's name (or `Enum::Variant` for a struct
//! variant, or the enum's name for a newtype variant's content, with the variant as the
//! field) and the field. A field that is not in the table is a text of up to
//! [`TEXT_CHARS_MAX`] characters that may be blank, or a list of up to [`LIST_ITEMS_MAX`]
//! entries that may be empty. Ids (even optional ones, when given) and the entries of a list
//! of texts are never blank.
//!
//! What depends on another field (a reason when a dose was not given, evidence of
//! authority for an attorney, categories when sharing is agreed) or on the state (a grant
//! that exists) stays in the rules: no table can say it.

use std::fmt;

use serde::ser::{self, Serialize};

use crate::error::RuleError;
use crate::event::CareEvent;

/// Entries a list in a payload may have.
pub const LIST_ITEMS_MAX: usize = 64;
/// Characters a text in a payload may have (the payload as a whole is bounded too, by
/// [`crate::codec::PAYLOAD_BYTES_MAX`]).
pub const TEXT_CHARS_MAX: usize = 8_000;
/// Characters an id may have: 50 characters of any script fit the envelope's 200-byte
/// actor and subject fields, so an id that names a person, a member of staff or a
/// representative can always be an envelope's subject or actor.
pub const ID_CHARS_MAX: usize = 50;

/// A character no text in a payload may hold: a C0 or C1 control (NUL, escape, a form feed,
/// a carriage return...) other than a newline or a tab. A carriage return is refused too: a
/// line ends with a newline in the ledger, whatever system typed it, so the same note reads,
/// hashes and prints the same everywhere.
pub fn forbidden_control(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// What a string is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// Free text: up to [`TEXT_CHARS_MAX`] characters.
    Text,
    /// An id: up to [`ID_CHARS_MAX`] characters.
    Id,
}

impl Size {
    pub fn chars_max(self) -> usize {
        match self {
            Size::Text => TEXT_CHARS_MAX,
            Size::Id => ID_CHARS_MAX,
        }
    }
}

/// What the rules ask of one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The serde name of the struct (`Enum::Variant` for a struct variant; the enum's name
    /// for a newtype variant).
    pub owner: &'static str,
    /// The field's serde name (the variant's, for a newtype variant).
    pub field: &'static str,
    /// What people call it, in error messages.
    pub label: &'static str,
    /// A text that may not be blank, a list that may not be empty, an option that must be
    /// present.
    pub required: bool,
    /// For a string, or a list's strings: how long each may be.
    pub size: Size,
}

const fn text(owner: &'static str, field: &'static str, label: &'static str) -> Field {
    Field {
        owner,
        field,
        label,
        required: true,
        size: Size::Text,
    }
}

const fn id(owner: &'static str, field: &'static str, label: &'static str) -> Field {
    Field {
        owner,
        field,
        label,
        required: true,
        size: Size::Id,
    }
}

const fn optional(field: Field) -> Field {
    Field {
        required: false,
        ..field
    }
}

/// Every field with a rule of its own. A list's entry here is the list: `required` means
/// not empty, `size` the size of each string in it.
pub const FIELDS: &[Field] = &[
    text("PersonRegistered", "name", "name"),
    text("PersonRegistered", "address", "address"),
    text("PersonRegistered", "gp_practice", "GP practice"),
    optional(text("PersonRegistered", "allergies", "allergies")),
    text("CareStarted", "service", "service"),
    text("CareEnded", "reason", "reason"),
    id("StaffRegistered", "staff_id", "staff id"),
    text("StaffRegistered", "name", "name"),
    id(
        "RepresentativeLinked",
        "representative_id",
        "representative id",
    ),
    text("RepresentativeLinked", "name", "name"),
    optional(text(
        "RepresentativeLinked",
        "evidence_of_authority",
        "evidence of authority",
    )),
    id("PartnerRegistered", "partner_id", "partner id"),
    text("PartnerRegistered", "name", "name"),
    text("PartnerRegistered", "contact", "contact"),
    text("PlanSections", "about_me", "about me"),
    text("PlanSections", "needs", "needs"),
    optional(text("PlanSections", "goals", "goals")),
    text("PlanSections", "actions", "actions"),
    optional(text("PlanSections", "risks", "risks")),
    text("PlanSections", "contingency_plan", "contingency plan"),
    text("PlanSections", "agreed_with", "agreed with"),
    text("CarePlanReviewed", "reviewed_with", "reviewed with"),
    id("VisitStarted", "visit_id", "visit id"),
    id("VisitCompleted", "visit_id", "visit id"),
    optional(id("TaskRecorded", "visit_id", "visit id")),
    text("TaskRecorded", "task", "task"),
    text("TaskOutcome::NotDone", "reason", "reason"),
    text("DiaryNote", "text", "text"),
    text("Incident", "category", "category"),
    text("Incident", "description", "description"),
    text("Observation", "measure", "measure"),
    text("Observation", "value", "value"),
    id("MedicineAdded", "medicine_id", "medicine id"),
    text("MedicineAdded", "name", "medicine name"),
    text("MedicineAdded", "formulation", "formulation"),
    text("MedicineAdded", "strength", "strength"),
    text("MedicineAdded", "dose", "dose"),
    text("MedicineAdded", "route", "route"),
    text("MedicineAdded", "frequency", "frequency"),
    text("MedicineAdded", "prescriber", "prescriber"),
    id("MedicineStopped", "medicine_id", "medicine id"),
    text("MedicineStopped", "reason", "reason"),
    id("AdministrationRecorded", "medicine_id", "medicine id"),
    optional(text("AdministrationRecorded", "dose_given", "dose given")),
    optional(text("AdministrationRecorded", "reason", "reason")),
    optional(id("AdministrationRecorded", "witnessed_by", "witnessed by")),
    text("ChoicesDiscussed", "present", "who was present"),
    text("ChoicesDiscussed", "options_explained", "options explained"),
    text("ChoicesDiscussed", "chosen", "chosen"),
    id("PaperCopiesDeclined", "declined_by", "declined by"),
    text("PaperCopiesDeclined", "statement", "statement"),
    text("SecureEmailDelivered", "to", "to"),
    optional(text("PaperCopyPlaced", "digest", "digest")),
    id("AccessGranted", "grant_id", "grant id"),
    id("Grantee", "Principal", "grantee"),
    text("AccessGranted", "categories", "categories"),
    id("AccessGranted", "decided_by", "decided by"),
    id("AccessRevoked", "grant_id", "grant id"),
    id("AccessRevoked", "decided_by", "decided by"),
    id("SharingConsentRecorded", "partner_id", "partner id"),
    // Required only when sharing is agreed: a rule of its own.
    optional(text("SharingConsentRecorded", "categories", "categories")),
    id("SharingConsentRecorded", "decided_by", "decided by"),
    id("HandoverSent", "partner_id", "partner id"),
    text("HandoverSent", "categories", "categories"),
    text("HandoverSent", "summary", "summary"),
    id("HandoverReceived", "partner_id", "partner id"),
    text("HandoverReceived", "summary", "summary"),
    text("RecordAccessed", "categories", "categories"),
    id("Basis::CouncilRequest", "request_id", "request id"),
    id("Basis::Grant", "grant_id", "grant id"),
    text("AccessRefused", "categories", "categories"),
    text("AccessRefused", "reason", "reason"),
    text("EmergencyAccess", "reason", "reason"),
    text("EmergencyAccess", "categories", "categories"),
    text("EmergencyReviewed", "notes", "notes"),
    text(
        "ReviewOutcome::NotAppropriate",
        "action_taken",
        "action taken",
    ),
    id("RequestReceived", "request_id", "request id"),
    id("RequestReceived", "requester", "requester"),
    optional(id("RequestReceived", "people", "people")),
    text("RequestReceived", "categories", "categories"),
    text("RequestReceived", "description", "description"),
    id("RequestAcknowledged", "request_id", "request id"),
    id("RequestResponded", "request_id", "request id"),
    id("RequestWithdrawn", "request_id", "request id"),
    text("RequestWithdrawn", "reason", "reason"),
    id("SlaWarning", "request_id", "request id"),
    id("SlaBreached", "request_id", "request id"),
    id("OutageDeclared", "outage_id", "outage id"),
    text("OutageDeclared", "reason", "reason"),
    id("OutageEnded", "outage_id", "outage id"),
    id("SignedIn", "session", "session"),
    id("SignedOut", "session", "session"),
    id("SignInFailed", "user", "user id"),
    text("SignInFailed", "reason", "reason"),
    id("BackEntered", "outage_id", "outage id"),
    text("BackEntered", "paper_reference", "paper reference"),
    id("EmailAddressRecorded", "holder", "holder"),
    text("SecureEmailFailed", "to", "to"),
    text("SecureEmailFailed", "message_id", "message id"),
    text("SecureEmailFailed", "error", "error"),
    text("GuidePublished", "title", "title"),
    text("GuidePublished", "sections", "sections"),
    text("GuideSection", "heading", "heading"),
    text("GuideSection", "body", "text"),
];

/// A text with a shape of its own, checked with the field rules.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// A regular expression (ECMA-262, as JSON Schema's `pattern` reads it) for the
    /// shape; the check may ask more than a pattern can say (a check digit).
    pub pattern: &'static str,
    /// What people are told it is.
    pub description: &'static str,
    /// The check itself.
    pub check: fn(&str) -> Result<(), RuleError>,
}

/// NHS numbers: ten digits, spaces allowed between them, the last a modulus 11 check digit.
pub const NHS_NUMBER: Shape = Shape {
    pattern: "^ *(?:[0-9] *){10}$",
    description: "Ten digits (spaces allowed), the last a modulus 11 check digit.",
    check: |v| {
        if valid_nhs_number(v) {
            Ok(())
        } else {
            Err(RuleError::InvalidNhsNumber { value: v.into() })
        }
    },
};

/// A printed copy's digest: BLAKE3 of the file, as `careledger print` says it.
pub const DIGEST: Shape = Shape {
    pattern: "^[0-9a-f]{64}$",
    description: "BLAKE3 of the printed file: 64 lowercase hex digits.",
    check: |v| {
        if v.len() == 64
            && v.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(())
        } else {
            Err(RuleError::InvalidDigest { value: v.into() })
        }
    },
};

/// An email address as documents are sent to it: one `@`, something before it, a domain
/// with a dot after it, no spaces or angle brackets, at most 254 characters (RFC 5321's
/// path limit). Deliberately plain: the relay is the judge of the rest.
pub const EMAIL: Shape = Shape {
    pattern: "^[^@\\s<>]+@[^@\\s<>.]+(\\.[^@\\s<>.]+)+$",
    description: "An email address: name@example.org.",
    check: |v| {
        if valid_email(v) {
            Ok(())
        } else {
            Err(RuleError::InvalidEmailAddress { value: v.into() })
        }
    },
};

/// Whether `value` is of [`EMAIL`]'s shape.
pub fn valid_email(value: &str) -> bool {
    let bad = |c: char| c.is_whitespace() || c == '<' || c == '>' || c == '@';
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    value.chars().count() <= 254
        && !local.is_empty()
        && !local.chars().any(bad)
        && domain.split('.').count() >= 2
        && domain
            .split('.')
            .all(|l| !l.is_empty() && !l.chars().any(bad))
}

/// Every text with a shape of its own: owner and field, as in [`FIELDS`].
pub const SHAPES: &[(&str, &str, Shape)] = &[
    ("PersonRegistered", "nhs_number", NHS_NUMBER),
    ("PaperCopyPlaced", "digest", DIGEST),
    ("SecureEmailDelivered", "digest", DIGEST),
    ("SecureEmailFailed", "digest", DIGEST),
    ("EmailAddressRecorded", "address", EMAIL),
];

/// The shape of `owner`'s `field`, if it has one.
pub fn shape(owner: &str, field: &str) -> Option<&'static Shape> {
    SHAPES
        .iter()
        .find(|(o, f, _)| *o == owner && *f == field)
        .map(|(_, _, s)| s)
}

/// Whether `value` is an NHS number of [`NHS_NUMBER`]'s shape with a correct check digit.
pub fn valid_nhs_number(value: &str) -> bool {
    let digits: Vec<u32> = value.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() != 10 || value.chars().any(|c| !c.is_ascii_digit() && c != ' ') {
        return false;
    }
    let sum: u32 = digits[..9]
        .iter()
        .enumerate()
        .map(|(i, d)| d * (10 - i as u32))
        .sum();
    let check = 11 - (sum % 11);
    match check {
        11 => digits[9] == 0,
        10 => false,
        c => digits[9] == c,
    }
}

/// The rule for `owner`'s `field`, if it has one of its own.
pub fn rule(owner: &str, field: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.owner == owner && f.field == field)
}

/// Whether `text` says nothing (empty, or only white space).
pub fn blank(text: &str) -> bool {
    text.chars().all(char::is_whitespace)
}

/// The controls [`forbidden_control`] refuses, as the body of a regular expression class.
const CONTROLS: &str = "\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F";

/// A regular expression (ECMA-262, as JSON Schema's `pattern` reads it) that a text
/// matches exactly when it holds no control character [`forbidden_control`] refuses.
pub fn text_pattern() -> &'static str {
    static PATTERN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| format!("^[^{CONTROLS}]*$"))
}

/// A regular expression (ECMA-262, as JSON Schema's `pattern` reads it) that a string
/// matches exactly when it is not [`blank`] and holds no control character
/// [`forbidden_control`] refuses: a class of every character that is neither white space
/// nor such a control, built from the same `char::is_whitespace` that [`blank`] uses,
/// since regular expression engines disagree on what `\S` means.
pub fn not_blank_pattern() -> &'static str {
    static PATTERN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| format!("^[^{CONTROLS}]*{}[^{CONTROLS}]*$", not_blank_class()))
}

fn not_blank_class() -> String {
    let mut class = String::from("[^");
    class.push_str(CONTROLS);
    let mut c = 0u32;
    while c <= char::MAX as u32 {
        let start = c;
        while char::from_u32(c).is_some_and(char::is_whitespace) {
            c += 1;
        }
        if c > start {
            let end = c - 1;
            class.push_str(&format!("\\u{start:04X}"));
            if end > start {
                class.push_str(&format!("-\\u{end:04X}"));
            }
        }
        c += 1;
    }
    class.push(']');
    class
}

/// Checks every field of `event`'s payload against [`FIELDS`] and the default bounds;
/// errors name the field by its label and by its path in the payload's JSON shape
/// (`sections.about_me`, `outcome.NotDone.reason`, `needs.3`).
pub fn check(event: &CareEvent) -> Result<(), RuleError> {
    let mut walk = Walk {
        path: Vec::new(),
        owner: Owner::Root,
        field: None,
        entry: false,
    };
    event.serialize_fields(&mut walk).map_err(|e| match e {
        Stop::Rule(e) => e,
        Stop::Other(reason) => RuleError::Unwalkable { reason },
    })
}

// ------------------------------------------------------------------ the walk

/// Whose fields are being walked.
#[derive(Clone, Copy)]
enum Owner {
    Root,
    Struct(&'static str),
    Variant(&'static str, &'static str),
}

impl Owner {
    fn is(&self, name: &str) -> bool {
        match *self {
            Owner::Root => false,
            Owner::Struct(s) => s == name,
            Owner::Variant(e, v) => name
                .strip_prefix(e)
                .and_then(|r| r.strip_prefix("::"))
                .is_some_and(|r| r == v),
        }
    }
}

enum Segment {
    Key(&'static str),
    Index(usize),
}

struct Walk {
    path: Vec<Segment>,
    owner: Owner,
    /// The field whose value is being walked.
    field: Option<&'static str>,
    /// The value is an entry of that field's list.
    entry: bool,
}

#[derive(Debug)]
enum Stop {
    Rule(RuleError),
    Other(String),
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Rule(e) => e.fmt(f),
            Stop::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Stop {}

impl ser::Error for Stop {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Stop::Other(msg.to_string())
    }
}

/// What applies to the value being walked.
struct Applies {
    label: &'static str,
    required: bool,
    size: Size,
}

impl Walk {
    fn applies(&self) -> Applies {
        let Some(field) = self.field else {
            return Applies {
                label: "payload",
                required: false,
                size: Size::Text,
            };
        };
        let own = FIELDS
            .iter()
            .find(|f| f.field == field && self.owner.is(f.owner));
        match own {
            Some(f) => Applies {
                label: f.label,
                required: f.required,
                size: f.size,
            },
            None => Applies {
                label: field,
                required: false,
                size: Size::Text,
            },
        }
    }

    fn path(&self) -> String {
        let mut out = String::new();
        for s in &self.path {
            if !out.is_empty() {
                out.push('.');
            }
            match s {
                Segment::Key(k) => out.push_str(k),
                Segment::Index(i) => out.push_str(&i.to_string()),
            }
        }
        out
    }

    /// Walks `value` as `field` of `owner`, at `segment`.
    fn within<T: Serialize + ?Sized>(
        &mut self,
        owner: Owner,
        field: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        let saved = (self.owner, self.field, self.entry);
        self.owner = owner;
        self.field = Some(field);
        self.entry = false;
        self.path.push(Segment::Key(field));
        let r = value.serialize(&mut *self);
        self.path.pop();
        (self.owner, self.field, self.entry) = saved;
        r
    }

    fn missing(&self) -> Stop {
        Stop::Rule(RuleError::Missing {
            field: self.applies().label,
            path: self.path(),
        })
    }

    fn list(&mut self) -> List<'_> {
        List {
            walk: self,
            count: 0,
        }
    }
}

/// A list being walked: its entries are counted and walked as entries.
struct List<'a> {
    walk: &'a mut Walk,
    count: usize,
}

impl List<'_> {
    fn entry<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.count += 1;
        if self.count > LIST_ITEMS_MAX {
            // Counted to the end, for the message.
            return Ok(());
        }
        let saved = self.walk.entry;
        self.walk.entry = true;
        self.walk.path.push(Segment::Index(self.count - 1));
        let r = value.serialize(&mut *self.walk);
        self.walk.path.pop();
        self.walk.entry = saved;
        r
    }

    fn end(self) -> Result<(), Stop> {
        let applies = self.walk.applies();
        if self.count == 0 && applies.required {
            return Err(self.walk.missing());
        }
        if self.count > LIST_ITEMS_MAX {
            return Err(Stop::Rule(RuleError::TooMany {
                field: applies.label,
                path: Some(self.walk.path()),
                count: self.count,
                max: LIST_ITEMS_MAX,
            }));
        }
        Ok(())
    }
}

/// A struct (or struct variant) being walked.
struct Fields<'a> {
    walk: &'a mut Walk,
    owner: Owner,
}

impl<'a> ser::Serializer for &'a mut Walk {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = List<'a>;
    type SerializeTuple = Ignore;
    type SerializeTupleStruct = Ignore;
    type SerializeTupleVariant = Ignore;
    type SerializeMap = List<'a>;
    type SerializeStruct = Fields<'a>;
    type SerializeStructVariant = Fields<'a>;

    fn serialize_bool(self, _: bool) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_i32(self, _: i32) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_f32(self, _: f32) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_f64(self, _: f64) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_char(self, _: char) -> Result<(), Stop> {
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), Stop> {
        let applies = self.applies();
        // An id is never blank, nor is an entry of a list; any other text is when it is
        // required.
        if (applies.required || self.entry || applies.size == Size::Id) && blank(v) {
            return Err(self.missing());
        }
        let shape = self.field.and_then(|field| {
            SHAPES
                .iter()
                .find(|(owner, f, _)| *f == field && self.owner.is(owner))
        });
        if let Some((_, _, shape)) = shape {
            (shape.check)(v).map_err(Stop::Rule)?;
        }
        if let Some((at, c)) = v.chars().enumerate().find(|&(_, c)| forbidden_control(c)) {
            return Err(Stop::Rule(RuleError::ControlCharacter {
                field: applies.label,
                path: self.path(),
                code: format!("U+{:04X}", c as u32),
                at: at + 1,
            }));
        }
        let max = applies.size.chars_max();
        // Bytes bound characters from above: count only when it could matter.
        if v.len() > max {
            let len = v.chars().count();
            if len > max {
                return Err(Stop::Rule(RuleError::TooLong {
                    field: applies.label,
                    path: self.path(),
                    len,
                    max,
                }));
            }
        }
        Ok(())
    }

    fn serialize_bytes(self, _: &[u8]) -> Result<(), Stop> {
        Ok(())
    }

    fn serialize_none(self) -> Result<(), Stop> {
        if self.applies().required {
            return Err(self.missing());
        }
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Stop> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Stop> {
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Stop> {
        Ok(())
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Stop> {
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        self.within(Owner::Struct(name), variant, value)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<List<'a>, Stop> {
        Ok(self.list())
    }

    // Fixed-size arrays (a response's digest) hold numbers: nothing to check.
    fn serialize_tuple(self, _: usize) -> Result<Ignore, Stop> {
        Ok(Ignore)
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Ignore, Stop> {
        Ok(Ignore)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Ignore, Stop> {
        Ok(Ignore)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<List<'a>, Stop> {
        Ok(self.list())
    }

    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Fields<'a>, Stop> {
        Ok(Fields {
            walk: self,
            owner: Owner::Struct(name),
        })
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Fields<'a>, Stop> {
        self.path.push(Segment::Key(variant));
        Ok(Fields {
            walk: self,
            owner: Owner::Variant(name, variant),
        })
    }
}

impl ser::SerializeSeq for List<'_> {
    type Ok = ();
    type Error = Stop;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.entry(value)
    }

    fn end(self) -> Result<(), Stop> {
        List::end(self)
    }
}

impl ser::SerializeMap for List<'_> {
    type Ok = ();
    type Error = Stop;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, _: &T) -> Result<(), Stop> {
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.entry(value)
    }

    fn end(self) -> Result<(), Stop> {
        List::end(self)
    }
}

impl Fields<'_> {
    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Stop> {
        self.walk.within(self.owner, key, value)
    }
}

impl ser::SerializeStruct for Fields<'_> {
    type Ok = ();
    type Error = Stop;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        self.field(key, value)
    }

    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for Fields<'_> {
    type Ok = ();
    type Error = Stop;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        self.field(key, value)
    }

    fn end(self) -> Result<(), Stop> {
        self.walk.path.pop();
        Ok(())
    }
}

/// A tuple's entries: numbers in the payloads there are, so nothing to check.
struct Ignore;

macro_rules! ignore_entries {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Ignore {
            type Ok = ();
            type Error = Stop;

            fn $method<T: Serialize + ?Sized>(&mut self, _: &T) -> Result<(), Stop> {
                Ok(())
            }

            fn end(self) -> Result<(), Stop> {
                Ok(())
            }
        }
    )*};
}

ignore_entries!(
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);
