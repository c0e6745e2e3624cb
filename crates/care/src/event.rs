//! Typed care events. Each has a stable kind name (the envelope's `kind`), a scope (about a
//! person, whose id is the envelope's `subject`, or about the organisation, with no
//! subject) and a versioned payload ([`crate::codec`]).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::codec::{self, DecodeError};
use crate::types::*;

/// Whether an event is about one person (the envelope's subject) or the organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Person,
    Organisation,
}

// ---------------------------------------------------------------- people and organisation

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonRegistered {
    pub name: String,
    pub date_of_birth: NaiveDate,
    /// Ten digits with a valid modulus 11 check digit, when known.
    pub nhs_number: Option<String>,
    pub address: String,
    pub gp_practice: String,
    /// Known allergies; empty means "no known allergies" was recorded.
    pub allergies: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CareStarted {
    pub service: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CareEnded {
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffRegistered {
    pub staff_id: String,
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepresentativeLinked {
    pub representative_id: String,
    pub name: String,
    pub relationship: Relationship,
    /// For an LPA or a deputy: the registration or court order reference seen.
    pub evidence_of_authority: Option<String>,
    /// May add their own entries to the record.
    pub may_contribute: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerRegistered {
    pub partner_id: String,
    pub name: String,
    /// The communication method agreed with this partner (R4).
    pub agreed_channel: Channel,
    pub contact: String,
}

// ---------------------------------------------------------------- care plan

/// The sections of a PRSB Personalised Care and Support Plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSections {
    pub about_me: String,
    pub needs: Vec<String>,
    pub goals: Vec<String>,
    pub actions: Vec<String>,
    pub risks: Vec<String>,
    pub contingency_plan: String,
    /// Who the plan was agreed with (the person, representatives, professionals).
    pub agreed_with: Vec<String>,
    pub review_date: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarePlanPublished {
    /// Must be the current version plus one (optimistic concurrency).
    pub version: u32,
    pub sections: PlanSections,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarePlanReviewed {
    /// The version reviewed; must be the current one.
    pub version: u32,
    pub reviewed_with: Vec<String>,
    pub changes_needed: bool,
    pub next_review_date: NaiveDate,
}

// ---------------------------------------------------------------- care delivered

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitStarted {
    pub visit_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitCompleted {
    pub visit_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskRecorded {
    pub visit_id: Option<String>,
    pub task: String,
    pub outcome: TaskOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiaryNote {
    pub author: Author,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    pub category: String,
    pub description: String,
    pub severity: Severity,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    pub measure: String,
    pub value: String,
    pub unit: String,
}

// ---------------------------------------------------------------- medicines (NICE NG67)

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MedicineAdded {
    pub medicine_id: String,
    pub name: String,
    pub formulation: String,
    pub strength: String,
    pub dose: String,
    pub route: String,
    pub frequency: String,
    /// Shortest time between two doses given, in minutes.
    pub min_interval_minutes: u32,
    /// As required (PRN).
    pub as_required: bool,
    pub prescriber: String,
    pub stop_or_review_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MedicineStopped {
    pub medicine_id: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdministrationRecorded {
    pub medicine_id: String,
    pub outcome: AdministrationOutcome,
    /// The dose given (for `Given`).
    pub dose_given: Option<String>,
    /// Required unless the dose was given.
    pub reason: Option<String>,
    pub witnessed_by: Option<String>,
}

// ---------------------------------------------------------------- information choices

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChoicesDiscussed {
    /// Who was present (names and relationship).
    pub present: Vec<String>,
    pub options_explained: Vec<InfoOption>,
    pub chosen: Vec<InfoOption>,
    /// The person was told that access to their records is free of charge (R7).
    pub told_access_is_free: bool,
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperCopyPlaced {
    pub document: Document,
    /// The document version (care plan version, MAR revision, Service User Guide version);
    /// none for diary records, or for a copy printed outside careledger.
    pub version: Option<u32>,
    pub format: Format,
    /// BLAKE3 of the printed file (`careledger print` says it), 64 lowercase hex digits:
    /// which copy is in the home, exactly. None for a copy not printed by careledger.
    pub digest: Option<String>,
}

/// `paper.copy_placed` as payload version 1 wrote it, before copies recorded a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperCopyPlacedV1 {
    pub document: Document,
    pub version: Option<u32>,
    pub format: Format,
}

impl From<PaperCopyPlacedV1> for PaperCopyPlaced {
    fn from(v1: PaperCopyPlacedV1) -> Self {
        PaperCopyPlaced {
            document: v1.document,
            version: v1.version,
            format: v1.format,
            digest: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperCopiesDeclined {
    /// The person, or their legal representative, who expressly declined.
    pub declined_by: String,
    /// What they said, in their words.
    pub statement: String,
}

/// A document that went to the person, or their representative, by secure email: written
/// by the service once the provider's relay accepted it (with the digest of the file
/// attached, the Message-ID and the relay's answer), or by staff recording one sent
/// outside careledger (those three absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecureEmailDelivered {
    pub document: Document,
    pub version: Option<u32>,
    pub format: Format,
    pub to: String,
    /// Sent as a link to the portal rather than as a protected file.
    pub as_link: bool,
    /// BLAKE3 of the file attached, as `careledger print` says it.
    pub digest: Option<String>,
    /// The message's Message-ID header, angle brackets included.
    pub message_id: Option<String>,
    /// What the relay answered when it accepted the message ("250 2.0.0 Ok: queued as ...").
    pub relay_answer: Option<String>,
}

/// `email.delivered` as payload version 1 wrote it, before the service sent email itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecureEmailDeliveredV1 {
    pub document: Document,
    pub version: Option<u32>,
    pub format: Format,
    pub to: String,
    pub as_link: bool,
}

impl From<SecureEmailDeliveredV1> for SecureEmailDelivered {
    fn from(v1: SecureEmailDeliveredV1) -> Self {
        SecureEmailDelivered {
            document: v1.document,
            version: v1.version,
            format: v1.format,
            to: v1.to,
            as_link: v1.as_link,
            digest: None,
            message_id: None,
            relay_answer: None,
        }
    }
}

/// A document the service could not deliver by secure email: every attempt failed, or
/// the relay refused it for good. Written by the service only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecureEmailFailed {
    pub document: Document,
    pub version: Option<u32>,
    pub format: Format,
    pub to: String,
    pub digest: String,
    pub message_id: String,
    pub attempts: u32,
    /// What the last attempt met: the relay's answer, or why there was none.
    pub error: String,
    /// Refused for good (a 5xx answer, an untrusted certificate): retrying would not help.
    pub permanent: bool,
}

/// The email address documents go to for the person or one of their representatives
/// (`holder`: the person's id or the representative's), or none any more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailAddressRecorded {
    pub holder: String,
    pub address: Option<String>,
}

// ---------------------------------------------------------------- Accessible Information Standard

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AisNeedsRecorded {
    /// The full set of needs from now on (replaces the previous set).
    pub needs: Vec<AisNeed>,
    /// The person agreed that their needs may be shared with other services.
    pub consent_to_share: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AisNeedsReviewed {
    pub still_accurate: bool,
    pub next_review_date: NaiveDate,
}

// ---------------------------------------------------------------- consent and access decisions

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessGranted {
    pub grant_id: String,
    pub grantee: Grantee,
    pub categories: Vec<Category>,
    pub purpose: Purpose,
    pub expires_at_us: Option<TimeUs>,
    /// The person, or their attorney or deputy, who decided.
    pub decided_by: String,
    pub basis: CapacityBasis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRevoked {
    pub grant_id: String,
    pub decided_by: String,
    pub basis: CapacityBasis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharingConsentRecorded {
    pub partner_id: String,
    pub categories: Vec<Category>,
    /// False records a refusal, which withdraws earlier consent.
    pub given: bool,
    pub decided_by: String,
    pub basis: CapacityBasis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoverSent {
    pub partner_id: String,
    pub categories: Vec<Category>,
    pub summary: String,
    pub channel: Channel,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoverReceived {
    pub partner_id: String,
    pub summary: String,
    pub channel: Channel,
}

// ---------------------------------------------------------------- access itself

/// A read of a person's record (payload version 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordAccessed {
    pub role: Role,
    pub categories: Vec<Category>,
    pub purpose: Purpose,
    pub items: u32,
    /// Why the policy allowed each category, as the access gate decided it; the rules check
    /// it against the policy again in the appender. Empty where the writer did not record
    /// it (version 1 events, written before it was).
    pub basis: Vec<AccessBasis>,
}

/// One category of a read and the basis it was allowed on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessBasis {
    pub category: Category,
    pub basis: Basis,
}

/// `access.read` as payload version 1 wrote it, before reads recorded their basis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordAccessedV1 {
    pub role: Role,
    pub categories: Vec<Category>,
    pub purpose: Purpose,
    pub items: u32,
}

impl From<RecordAccessedV1> for RecordAccessed {
    fn from(v1: RecordAccessedV1) -> Self {
        RecordAccessed {
            role: v1.role,
            categories: v1.categories,
            purpose: v1.purpose,
            items: v1.items,
            basis: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRefused {
    pub role: Role,
    pub categories: Vec<Category>,
    pub purpose: Purpose,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmergencyAccess {
    pub role: Role,
    pub reason: String,
    pub categories: Vec<Category>,
    pub expires_at_us: TimeUs,
}

/// What the registered manager found when reviewing a break-glass access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReviewOutcome {
    /// The emergency and the access were what the reason said.
    Appropriate,
    /// It was not; what was done about it (spoken to, reported, access withdrawn).
    NotAppropriate { action_taken: String },
}

/// The registered manager's review of one break-glass access (`access.emergency`): until
/// it is recorded, the access is a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmergencyReviewed {
    /// The sequence number of the `access.emergency` event reviewed.
    pub emergency_event: u64,
    pub outcome: ReviewOutcome,
    /// What the reviewer looked at and concluded.
    pub notes: String,
}

// ---------------------------------------------------------------- council requests (R11, R12)

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestReceived {
    pub request_id: String,
    /// The council officer asking.
    pub requester: String,
    pub organisation: String,
    /// The people the request is about (empty: about the provider as a whole).
    pub people: Vec<String>,
    pub categories: Vec<Category>,
    pub description: String,
    pub received_at_us: TimeUs,
    /// At most 24 hours after receipt; sooner where the request says so.
    pub due_at_us: TimeUs,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestAcknowledged {
    pub request_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestResponded {
    pub request_id: String,
    /// BLAKE3 of exactly what was sent.
    pub digest: [u8; 32],
    pub channel: Channel,
    pub items: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestWithdrawn {
    pub request_id: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaWarning {
    pub request_id: String,
    pub due_at_us: TimeUs,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaBreached {
    pub request_id: String,
    pub due_at_us: TimeUs,
}

// ---------------------------------------------------------------- contingency (R6)

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutageDeclared {
    pub outage_id: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutageEnded {
    pub outage_id: String,
}

// ---------------------------------------------------------------- the Service User Guide (R3)

/// One section of the Service User Guide: a heading and its text (paragraphs separated by
/// a blank line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuideSection {
    pub heading: String,
    pub body: String,
}

/// A version of the provider's Service User Guide, the document the guidance asks to be in
/// every home: its whole text, so that any version can be printed again from the ledger
/// and the copy in each home compared with the current one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuidePublished {
    /// Must be the current version plus one (optimistic concurrency).
    pub version: u32,
    pub title: String,
    pub sections: Vec<GuideSection>,
}

// ---------------------------------------------------------------- browser sessions

/// How a browser session was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignInMethod {
    Password,
    /// A sign-in link made by `serve --demo` (never in a real deployment).
    DemoLink,
}

/// A user signed in to the pages. The envelope's actor is the user; written by the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedIn {
    pub role: Role,
    pub method: SignInMethod,
    /// The first 16 hex digits of the hash the session is kept under: names the session
    /// in its sign-out without being usable to take it over.
    pub session: String,
}

/// Why a browser session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignOutReason {
    /// The user chose to sign out.
    SignedOut,
    /// No request within the idle timeout.
    IdleTimeout,
    /// The user was revoked, or their password was set again.
    UserRevoked,
    /// The user opened more sessions than they may hold at once: the oldest was closed.
    Replaced,
}

/// A browser session ended. The envelope's actor is the user; written by the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedOut {
    pub session: String,
    pub reason: SignOutReason,
}

/// A sign-in that failed: the user id as typed (an unknown one too) and nothing of the
/// password. The envelope's actor is the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInFailed {
    pub user: String,
    /// Why, for the provider's security review: "wrong user id or password",
    /// "locked out", "invitation expired".
    pub reason: String,
}

/// An entry written on paper during an outage and entered afterwards. The envelope's
/// occurred-at is the paper entry's time (inside the outage); its recorded-at is later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackEntered {
    pub outage_id: String,
    /// Where the paper original is (e.g. "diary sheet 14, kept in the office").
    pub paper_reference: String,
    /// The entry itself; back-entry of a back-entry is refused.
    pub entry: Box<CareEvent>,
}

/// Receives each kind's payload type, from [`CareEvent::visit_kinds`]: how code outside
/// this crate describes payloads (the API's OpenAPI schemas are traced from these types)
/// without this crate knowing any schema or format.
pub trait KindVisitor {
    fn visit<T: Serialize + serde::de::DeserializeOwned + 'static>(&mut self, kind: &'static str);
}

macro_rules! care_events {
    ($( $variant:ident($ty:ident) = $kind:literal, $scope:ident, version $version:literal
        $(, older $old:literal => $oldty:ident)*; )*) => {
        /// Every care event, by kind.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub enum CareEvent {
            $( $variant($ty), )*
        }

        impl CareEvent {
            /// Every kind name, in declaration order.
            pub const KINDS: &'static [&'static str] = &[$( $kind, )*];

            /// The stable kind name stored in the envelope.
            pub fn kind(&self) -> &'static str {
                match self { $( CareEvent::$variant(_) => $kind, )* }
            }

            pub fn scope(&self) -> Scope {
                match self { $( CareEvent::$variant(_) => Scope::$scope, )* }
            }

            /// The scope of a kind name, if it is one of ours.
            pub fn scope_of(kind: &str) -> Option<Scope> {
                match kind { $( $kind => Some(Scope::$scope), )* _ => None }
            }

            /// The payload version this build writes for `kind`.
            pub fn version_of(kind: &str) -> Option<u8> {
                match kind { $( $kind => Some($version), )* _ => None }
            }

            /// The payload bytes: version byte, then bincode.
            pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
                match self { $( CareEvent::$variant(p) => codec::encode($kind, $version, p), )* }
            }

            /// Reads a kind's payload fields from any serde format (the CLI and the API
            /// read JSON; this crate knows no format but its own).
            pub fn deserialize_kind<'de, D: serde::Deserializer<'de>>(
                kind: &str,
                fields: D,
            ) -> Result<Self, String> {
                match kind {
                    $( $kind => <$ty as Deserialize>::deserialize(fields)
                        .map(CareEvent::$variant)
                        .map_err(|e| e.to_string()), )*
                    other => Err(format!("unknown event kind {other:?}")),
                }
            }

            /// Writes the payload's fields (without the kind) to any serde format.
            pub fn serialize_fields<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self { $( CareEvent::$variant(p) => p.serialize(s), )* }
            }

            /// Calls `visitor` with every kind and its payload type, in [`Self::KINDS`] order.
            pub fn visit_kinds(visitor: &mut impl KindVisitor) {
                $( visitor.visit::<$ty>($kind); )*
            }

            pub fn decode(kind: &str, payload: &[u8]) -> Result<Self, DecodeError> {
                match kind {
                    $( $kind => {
                        // An older version decodes as its own struct, then upgrades.
                        $( if payload.first() == Some(&$old) {
                            let older: $oldty = codec::decode($kind, $old, payload)?;
                            return Ok(CareEvent::$variant(older.into()));
                        } )*
                        Ok(CareEvent::$variant(codec::decode($kind, $version, payload)?))
                    } )*
                    other => Err(DecodeError::UnknownKind(other.to_string())),
                }
            }
        }
    };
}

care_events! {
    PersonRegistered(PersonRegistered) = "person.registered", Person, version 1;
    CareStarted(CareStarted) = "care.started", Person, version 1;
    CareEnded(CareEnded) = "care.ended", Person, version 1;
    StaffRegistered(StaffRegistered) = "staff.registered", Organisation, version 1;
    RepresentativeLinked(RepresentativeLinked) = "representative.linked", Person, version 1;
    PartnerRegistered(PartnerRegistered) = "partner.registered", Organisation, version 1;
    CarePlanPublished(CarePlanPublished) = "careplan.published", Person, version 1;
    CarePlanReviewed(CarePlanReviewed) = "careplan.reviewed", Person, version 1;
    VisitStarted(VisitStarted) = "visit.started", Person, version 1;
    VisitCompleted(VisitCompleted) = "visit.completed", Person, version 1;
    TaskRecorded(TaskRecorded) = "task.recorded", Person, version 1;
    DiaryNote(DiaryNote) = "diary.note", Person, version 1;
    Incident(Incident) = "incident.recorded", Person, version 1;
    Observation(Observation) = "observation.recorded", Person, version 1;
    MedicineAdded(MedicineAdded) = "mar.medicine_added", Person, version 1;
    MedicineStopped(MedicineStopped) = "mar.medicine_stopped", Person, version 1;
    AdministrationRecorded(AdministrationRecorded) = "mar.administration", Person, version 1;
    ChoicesDiscussed(ChoicesDiscussed) = "choices.discussed", Person, version 1;
    PaperCopyPlaced(PaperCopyPlaced) = "paper.copy_placed", Person, version 2, older 1 => PaperCopyPlacedV1;
    PaperCopiesDeclined(PaperCopiesDeclined) = "paper.declined", Person, version 1;
    SecureEmailDelivered(SecureEmailDelivered) = "email.delivered", Person, version 2, older 1 => SecureEmailDeliveredV1;
    SecureEmailFailed(SecureEmailFailed) = "email.failed", Person, version 1;
    EmailAddressRecorded(EmailAddressRecorded) = "email.address_recorded", Person, version 1;
    AisNeedsRecorded(AisNeedsRecorded) = "ais.needs_recorded", Person, version 1;
    AisNeedsReviewed(AisNeedsReviewed) = "ais.needs_reviewed", Person, version 1;
    AccessGranted(AccessGranted) = "access.granted", Person, version 1;
    AccessRevoked(AccessRevoked) = "access.revoked", Person, version 1;
    SharingConsentRecorded(SharingConsentRecorded) = "sharing.consent", Person, version 1;
    HandoverSent(HandoverSent) = "handover.sent", Person, version 1;
    HandoverReceived(HandoverReceived) = "handover.received", Person, version 1;
    RecordAccessed(RecordAccessed) = "access.read", Person, version 2, older 1 => RecordAccessedV1;
    AccessRefused(AccessRefused) = "access.refused", Person, version 1;
    EmergencyAccess(EmergencyAccess) = "access.emergency", Person, version 1;
    EmergencyReviewed(EmergencyReviewed) = "access.emergency_reviewed", Person, version 1;
    RequestReceived(RequestReceived) = "request.received", Organisation, version 1;
    RequestAcknowledged(RequestAcknowledged) = "request.acknowledged", Organisation, version 1;
    RequestResponded(RequestResponded) = "request.responded", Organisation, version 1;
    RequestWithdrawn(RequestWithdrawn) = "request.withdrawn", Organisation, version 1;
    SlaWarning(SlaWarning) = "request.sla_warning", Organisation, version 1;
    SlaBreached(SlaBreached) = "request.sla_breached", Organisation, version 1;
    OutageDeclared(OutageDeclared) = "outage.declared", Organisation, version 1;
    OutageEnded(OutageEnded) = "outage.ended", Organisation, version 1;
    GuidePublished(GuidePublished) = "guide.published", Organisation, version 1;
    BackEntered(BackEntered) = "outage.back_entered", Person, version 1;
    SignedIn(SignedIn) = "session.signed_in", Organisation, version 1;
    SignedOut(SignedOut) = "session.signed_out", Organisation, version 1;
    SignInFailed(SignInFailed) = "session.sign_in_failed", Organisation, version 1;
}
