//! The JSON bodies the API answers with: one type per response, serialized as sent and with
//! its JSON Schema derived from the same type (schemars), so `/openapi.json` describes what
//! the handlers send and cannot drift from it.
//!
//! Values of the care domain (roles, categories, a care plan's sections, a medicine's
//! details) are sent in the care crate's own serde shape inside [`Care`], whose schema is
//! the one traced from the care type for the request payloads (`openapi/payload.rs`): the
//! care crate stays free of schema derives.

use std::borrow::Cow;
use std::collections::BTreeMap;

use careledger_care::state::{RequestStatus, Stamp as CareStamp};
use careledger_care::{Category, Purpose, Role};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::extract::time;

/// A care-domain value, sent as the care crate serializes it. Its schema refers to the
/// component traced from the care type's `Deserialize` impl (the same shape in serde_json).
#[derive(Debug, Clone)]
pub struct Care<T>(pub T);

impl<T: Serialize> Serialize for Care<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// The type's own name: `careledger_care::types::Role` is `Role`.
fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

impl<T> JsonSchema for Care<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        short_type_name::<T>().into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let name = short_type_name::<T>();
        // A care type the payload trace never reached has no component: the reference
        // then dangles, which `crates/api/tests/openapi.rs` reports by name.
        let component =
            crate::openapi::care_component(name).unwrap_or_else(|| format!("Care.{name}.untraced"));
        json_schema!({"$ref": format!("#/components/schemas/{component}")})
    }
}

/// A time, RFC 3339 in UTC with microseconds.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Time(pub String);

impl Time {
    pub fn at(us: i64) -> Self {
        Time(time(us))
    }
}

/// A calendar date, `YYYY-MM-DD`.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Date(pub chrono::NaiveDate);

/// Bytes in standard base64.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Base64(pub String);

impl Base64 {
    pub fn of(bytes: impl AsRef<[u8]>) -> Self {
        use base64::Engine;
        Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
    }
}

/// A string type whose schema is given inline (no component of its own).
macro_rules! string_schema {
    ($ty:ident, $schema:tt) => {
        impl JsonSchema for $ty {
            fn inline_schema() -> bool {
                true
            }
            fn schema_name() -> Cow<'static, str> {
                stringify!($ty).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    };
}

string_schema!(Time, {"type": "string", "format": "date-time"});
string_schema!(Date, {"type": "string", "format": "date"});
string_schema!(Base64, {"type": "string", "contentEncoding": "base64"});

/// The event that set a fact: its number, when it happened and when it was recorded.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Stamp {
    pub event: u64,
    pub occurred_at: Time,
    pub recorded_at: Time,
}

impl From<&CareStamp> for Stamp {
    fn from(s: &CareStamp) -> Self {
        Stamp {
            event: s.seq,
            occurred_at: Time::at(s.occurred_at_us),
            recorded_at: Time::at(s.recorded_at_us),
        }
    }
}

pub fn stamp(s: &CareStamp) -> Stamp {
    s.into()
}

pub fn opt_stamp(s: &Option<CareStamp>) -> Option<Stamp> {
    s.as_ref().map(stamp)
}

// ------------------------------------------------------------------ the session

/// `GET /v1/me`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Me {
    pub id: String,
    pub role: Care<Role>,
    /// The purpose reads are made for unless the request names one.
    pub default_purpose: Care<Purpose>,
}

/// `POST /v1/events`: the event as recorded.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Recorded {
    pub event: u64,
    pub kind: String,
    pub recorded_at: Time,
}

// ------------------------------------------------------------------ events in a history

/// A stored event's envelope facts and its payload as the API accepts it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EventItem {
    pub event: u64,
    #[schemars(schema_with = "event_kind_schema")]
    pub kind: String,
    pub actor: String,
    pub occurred_at: Time,
    pub recorded_at: Time,
    /// The kind's payload (`POST /v1/events` shape); null when it is erased or cannot be
    /// decoded.
    #[schemars(schema_with = "event_payload_schema")]
    pub payload: Value,
}

fn event_kind_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"enum": careledger_care::CareEvent::KINDS})
}

fn event_payload_schema(_: &mut SchemaGenerator) -> Schema {
    let mut any: Vec<Value> = careledger_care::CareEvent::KINDS
        .iter()
        .map(|k| {
            serde_json::json!({"$ref": format!("#/components/schemas/{}", crate::openapi::payload_component(k))})
        })
        .collect();
    any.push(serde_json::json!({"type": "null"}));
    json_schema!({"anyOf": any})
}

/// A page of a person's history, oldest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct History<T = EventItem> {
    pub items: Vec<T>,
    /// The `after` of the next page; null at the end.
    pub next_after: Option<u64>,
}

/// Who read or was refused, as the ledger knows them.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Reader {
    pub id: String,
    /// The name the ledger holds for them (staff, the person, a representative, a partner).
    pub name: Option<String>,
    pub role: Option<Care<Role>>,
}

/// An entry of a person's access log: the event, and who it was.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AccessItem {
    #[serde(flatten)]
    pub event: EventItem,
    pub reader: Reader,
}

// ------------------------------------------------------------------ a record section

/// Why the policy allowed a read of one category.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(tag = "kind")]
pub enum Basis {
    /// The person reads their own record.
    OwnRecord,
    /// The reader's role may, for this purpose.
    RoleDefault,
    LegalRepresentative,
    CouncilRequest {
        request_id: String,
    },
    Grant {
        grant_id: String,
    },
    /// Break-glass, by the emergency access event.
    Emergency {
        event: u64,
    },
}

impl From<&careledger_care::policy::Basis> for Basis {
    fn from(b: &careledger_care::policy::Basis) -> Self {
        use careledger_care::policy::Basis as B;
        match b {
            B::OwnRecord => Basis::OwnRecord,
            B::RoleDefault => Basis::RoleDefault,
            B::LegalRepresentative => Basis::LegalRepresentative,
            B::CouncilRequest { request_id } => Basis::CouncilRequest {
                request_id: request_id.clone(),
            },
            B::Grant { grant_id } => Basis::Grant {
                grant_id: grant_id.clone(),
            },
            B::Emergency { seq } => Basis::Emergency { event: *seq },
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CategoryBasis {
    pub category: Care<Category>,
    pub basis: Basis,
}

/// The access event recorded for this read.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Access {
    pub event: u64,
    /// Allowed by break-glass: flagged for review.
    pub flagged: bool,
    pub basis: Vec<CategoryBasis>,
}

/// A section of a person's record, as the access gate lets it through.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Record.{T}")]
pub struct Record<T> {
    pub person: String,
    /// The person's communication and information needs, shown wherever the record is
    /// opened (Accessible Information Standard).
    pub ais_flag: Option<String>,
    pub access: Access,
    pub data: T,
}

/// `POST /v1/people/{id}/emergency-access`: the MAR read by break-glass.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EmergencyRead {
    #[serde(flatten)]
    pub record: Record<Medicines>,
    /// The emergency access event (flagged for review).
    pub emergency_event: u64,
    pub expires_at: Time,
}

// ------------------------------------------------------------------ the sections' data

#[derive(Debug, Serialize, JsonSchema)]
pub struct Representative {
    pub id: String,
    pub name: String,
    pub relationship: Care<careledger_care::Relationship>,
    pub evidence_of_authority: Option<String>,
    pub may_contribute: bool,
    pub linked: Stamp,
}

/// `details`: personal details, care status and representatives.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Details {
    pub name: String,
    pub date_of_birth: Date,
    pub nhs_number: Option<String>,
    pub address: String,
    pub gp_practice: String,
    pub registered: Stamp,
    pub care_started: Option<Stamp>,
    pub care_ended: Option<Stamp>,
    pub representatives: Vec<Representative>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CurrentPlan {
    pub version: u32,
    pub sections: Care<careledger_care::event::PlanSections>,
    pub published: Stamp,
    pub last_review: Option<Stamp>,
    pub next_review_date: Date,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PlanVersion {
    pub version: u32,
    pub published: Stamp,
}

/// `care-plan`: the current plan, every version, and with `version` an earlier one whole.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CarePlan {
    pub current: Option<CurrentPlan>,
    pub versions: Vec<PlanVersion>,
    /// The version asked for with `version`, as its publication event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<EventItem>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Medicine {
    pub medicine_id: String,
    pub details: Care<careledger_care::event::MedicineAdded>,
    pub added: Stamp,
    pub stopped: Option<Stamp>,
    pub last_given: Option<Stamp>,
    pub given: u32,
    pub not_given: u32,
}

/// `medicines`: the MAR (NICE NG67): who it is for, allergies, every medicine, and the
/// administrations and refusals, paged.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Medicines {
    pub name: String,
    pub date_of_birth: Date,
    pub nhs_number: Option<String>,
    pub gp_practice: String,
    /// Known allergies; empty means "no known allergies" was recorded.
    pub allergies: Vec<String>,
    /// Bumped when a medicine is added or stopped.
    pub mar_revision: u32,
    pub medicines: Vec<Medicine>,
    /// `mar.administration` events (given or not given), back-entries included.
    pub administrations: History,
}

/// `communication-needs`: the Accessible Information Standard record.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CommunicationNeeds {
    pub flag: Option<String>,
    /// Empty when none are recorded (see `recorded`).
    pub needs: Vec<Care<careledger_care::AisNeed>>,
    pub consent_to_share: Option<bool>,
    /// The event that recorded the needs; null if they were never recorded.
    pub recorded: Option<Stamp>,
    pub last_review: Option<Stamp>,
    pub formats_needed: Vec<Care<careledger_care::Format>>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PaperCopy {
    pub document: Care<careledger_care::Document>,
    pub version: Option<u32>,
    pub format: Care<careledger_care::Format>,
    pub placed: Stamp,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Declined {
    pub declined_by: String,
    pub decided: Stamp,
}

/// `paper-copies`: what is on paper in the home, and any decision not to have it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Paper {
    pub copies: Vec<PaperCopy>,
    pub current_care_plan_version: Option<u32>,
    /// The provider's current Service User Guide version, once one is published.
    pub current_guide_version: Option<u32>,
    pub mar_revision: u32,
    pub declined: Option<Declined>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Grant {
    pub grant_id: String,
    pub grantee: Care<careledger_care::Grantee>,
    pub categories: Vec<Care<Category>>,
    pub purpose: Care<Purpose>,
    pub expires_at: Option<Time>,
    pub decided_by: String,
    pub basis: Care<careledger_care::CapacityBasis>,
    pub granted: Stamp,
    pub revoked: Option<Stamp>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Sharing {
    pub partner_id: String,
    pub categories: Vec<Care<Category>>,
    pub given: bool,
    pub decided_by: String,
    pub decided: Stamp,
}

/// A partner of the provider, as a handover to or from them names them: the channel
/// agreed with the provider. (What the person agreed to share with them is consent
/// records, in `grants`.)
#[derive(Debug, Serialize, JsonSchema)]
pub struct HandoverPartner {
    pub partner_id: String,
    pub name: String,
    pub agreed_channel: Care<careledger_care::Channel>,
}

/// `handovers`: handovers sent to partners and received from them, and the partners.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Handovers {
    pub partners: Vec<HandoverPartner>,
    pub history: History,
}

/// `grants`: who the person lets see what, and sharing consent with partners.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Grants {
    pub grants: Vec<Grant>,
    pub sharing_consent: Vec<Sharing>,
}

/// The latest discussion of information and documentation choices (R8).
#[derive(Debug, Serialize, JsonSchema)]
pub struct Discussion {
    pub present: Vec<String>,
    pub options_explained: Vec<Care<careledger_care::InfoOption>>,
    pub chosen: Vec<Care<careledger_care::InfoOption>>,
    pub told_access_is_free: bool,
    /// What was said, as recorded; null if the event's payload is erased.
    pub notes: Option<String>,
    pub held: Stamp,
}

/// `consent`: grants, sharing, the choices discussion, paper copies and the person's
/// findings.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Consent {
    #[serde(flatten)]
    pub grants: Grants,
    pub last_discussion: Option<Discussion>,
    pub discussions: u64,
    pub paper: Paper,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct FormatMismatch {
    pub document: Care<careledger_care::Document>,
    pub sent: Care<careledger_care::Format>,
    pub needed: Vec<Care<careledger_care::Format>>,
    pub sent_at: Stamp,
}

/// `evidence`: consent and information-choice evidence for a monitoring visit (R8, R9).
#[derive(Debug, Serialize, JsonSchema)]
pub struct Evidence {
    pub care_active: bool,
    pub last_discussion: Option<Discussion>,
    pub discussions: u64,
    pub paper: Paper,
    pub communication_needs: CommunicationNeeds,
    pub format_mismatches: Vec<FormatMismatch>,
    pub findings: Vec<Finding>,
}

// ------------------------------------------------------------------ findings

/// A compliance finding and the events that prove it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Finding {
    #[schemars(schema_with = "rule_schema")]
    pub rule: &'static str,
    pub person: Option<String>,
    pub since: Time,
    pub message: String,
    pub evidence: Vec<u64>,
}

/// One day's findings, as they stood at its end (midnight UTC).
#[derive(Debug, Serialize, JsonSchema)]
pub struct FindingsDay {
    /// `2026-12-01`.
    pub day: String,
    pub total: u32,
    /// Findings open by rule id (`R8-no-discussion`...); rules with none are left out.
    pub by_rule: std::collections::BTreeMap<String, u32>,
}

/// `GET /v1/provider/findings/daily`: the days the ledger tallied, oldest first (at most
/// 400; a day is tallied when the first event after it is recorded).
#[derive(Debug, Serialize, JsonSchema)]
pub struct FindingsDaily {
    pub days: Vec<FindingsDay>,
}

fn rule_schema(_: &mut SchemaGenerator) -> Schema {
    let ids: Vec<&str> = careledger_care::findings::Rule::ALL
        .iter()
        .map(|r| r.id())
        .collect();
    json_schema!({"enum": ids})
}

impl From<&careledger_care::findings::Finding> for Finding {
    fn from(f: &careledger_care::findings::Finding) -> Self {
        Finding {
            rule: f.rule.id(),
            person: f.person.clone(),
            since: Time::at(f.since_us),
            message: f.message.clone(),
            evidence: f.evidence.clone(),
        }
    }
}

/// `GET /v1/provider/findings`: the report for a monitoring visit (R9).
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProviderFindings {
    /// The time the report is as of: the state the ledger had recorded by then.
    pub at: Time,
    /// Only this person, when the request named one.
    pub person: Option<String>,
    /// The events the state reflects (recorded at or before `at`).
    pub events: u64,
    pub people_receiving_care: usize,
    pub with_choices_discussion: usize,
    pub told_access_is_free: usize,
    pub with_paper_copies: usize,
    pub declined_paper: usize,
    pub with_ais_needs: usize,
    pub ais_format_not_met: usize,
    pub findings_by_rule: BTreeMap<&'static str, usize>,
    pub findings: Vec<Finding>,
}

// ------------------------------------------------------------------ council requests

/// A request's SLA state now.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Sla {
    Due { due_in_minutes: i64 },
    Warned { due_in_minutes: i64 },
    Breached,
    Responded { took_minutes: i64 },
    RespondedLate { took_minutes: i64 },
    Withdrawn,
}

#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    Acknowledged,
    Responded,
    Withdrawn,
}

impl From<RequestStatus> for Status {
    fn from(s: RequestStatus) -> Self {
        match s {
            RequestStatus::Open => Status::Open,
            RequestStatus::Acknowledged => Status::Acknowledged,
            RequestStatus::Responded => Status::Responded,
            RequestStatus::Withdrawn => Status::Withdrawn,
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Request {
    pub request_id: String,
    pub requester: String,
    pub organisation: String,
    pub people: Vec<String>,
    pub categories: Vec<Care<Category>>,
    pub description: String,
    pub received_at: Time,
    pub due_at: Time,
    pub status: Status,
    pub sla: Sla,
    pub received: Stamp,
    pub acknowledged: Option<Stamp>,
    pub responded: Option<Stamp>,
    /// BLAKE3 of what was sent.
    pub response_digest: Option<Base64>,
    pub response_channel: Option<Care<careledger_care::Channel>>,
    pub withdrawn: Option<Stamp>,
    pub warned: Option<Stamp>,
    pub breached: Option<Stamp>,
}

/// `GET /v1/requests`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Requests {
    pub items: Vec<Request>,
    /// The `after` of the next page (a request id); null at the end.
    pub next_after: Option<String>,
}

/// Which event of a request a proof is for.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestEvent {
    Received,
    Acknowledged,
    SlaWarning,
    SlaBreached,
    Responded,
    Withdrawn,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ProvedEvent {
    pub what: RequestEvent,
    pub event: u64,
    pub proof: InclusionProof,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ResponseTime {
    pub request_id: String,
    pub requester: String,
    pub received_at: Time,
    pub due_at: Time,
    pub responded_at: Option<Time>,
    pub took_minutes: Option<i64>,
    pub breached: bool,
    pub sla: Sla,
    pub events: Vec<ProvedEvent>,
}

/// `GET /v1/reports/response-times` (R12).
#[derive(Debug, Serialize, JsonSchema)]
pub struct ResponseTimes {
    /// The signed checkpoint (C2SP signed note) every proof is against.
    pub checkpoint: String,
    pub tree_size: u64,
    pub items: Vec<ResponseTime>,
    pub next_after: Option<String>,
}

// ------------------------------------------------------------------ auditors and proofs

/// An access event in an auditor's query, with the person it is about.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AuditRow {
    #[serde(flatten)]
    pub event: EventItem,
    pub person: Option<String>,
    pub reader: Reader,
}

/// `GET /v1/audit/access`, with or without `person`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AuditPage {
    pub items: Vec<AuditRow>,
    pub next_after: Option<u64>,
    /// The access events this query appended: one per person whose access log it read.
    pub access_events: Vec<u64>,
    /// The person's AIS flag, when the query named one person.
    pub ais_flag: Option<String>,
}

/// docs/FORMAT.md 4.4.
#[derive(Debug, Serialize, JsonSchema)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    pub leaf_hash: Base64,
    pub proof: Vec<Base64>,
}

/// docs/FORMAT.md 4.5.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ConsistencyProof {
    pub size1: u64,
    pub size2: u64,
    pub root1: Base64,
    pub root2: Base64,
    pub proof: Vec<Base64>,
}

/// The schema of `T`, as a reference into the document's components where it has a name.
pub fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}
