//! Why the rules refused an event: every refusal names what is wrong, in words a care
//! worker or manager can act on, and where a field is at fault, its path in the payload.

use chrono::NaiveDate;

use crate::types::*;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("{kind} must name the person it is about")]
    SubjectRequired { kind: &'static str },
    #[error("{kind} is about the organisation and must not name a person")]
    SubjectNotAllowed { kind: &'static str },
    #[error("{person} is not registered")]
    NotRegistered { person: String },
    #[error("{person} is already registered")]
    AlreadyRegistered { person: String },
    #[error("{person}'s care has ended; record care only while care is active")]
    CareEnded { person: String },
    #[error("{person} is not receiving care yet (record care started first)")]
    CareNotStarted { person: String },
    #[error("{person} is already receiving care")]
    CareAlreadyActive { person: String },
    #[error("the time it happened is {minutes} minutes in the future; check the device clock")]
    InFuture { minutes: i64 },
    #[error("the time it happened is before {limit}, the earliest time the ledger accepts; check the date")]
    BeforeEarliest { limit: &'static str },
    #[error("the time it happened is before {person}'s date of birth ({born})")]
    BeforeBirth { person: String, born: NaiveDate },
    /// `path` is where it is in the payload's JSON shape (`sections.about_me`).
    #[error("{field} is required")]
    Missing { field: &'static str, path: String },
    #[error("{field} is too long ({len} characters; the limit is {max})")]
    TooLong {
        field: &'static str,
        path: String,
        len: usize,
        max: usize,
    },
    #[error("{field} holds a control character ({code}) at character {at}: text may hold newlines and tabs, no other control characters")]
    ControlCharacter {
        field: &'static str,
        path: String,
        /// The character, as `U+0000`.
        code: String,
        /// Its position in the text, counted in characters from 1.
        at: usize,
    },
    /// `path` is `None` for a bound on the record (grants, visits in progress) rather than
    /// on a list in the payload.
    #[error("{field} has {count} entries; the limit is {max}")]
    TooMany {
        field: &'static str,
        path: Option<String>,
        count: usize,
        max: usize,
    },
    #[error("the payload cannot be checked: {reason}")]
    Unwalkable { reason: String },
    #[error("{value:?} is not a valid NHS number (10 digits with a correct check digit)")]
    InvalidNhsNumber { value: String },
    #[error("{value:?} is not a digest (BLAKE3 of the printed file: 64 lowercase hex digits, as careledger print says it)")]
    InvalidDigest { value: String },
    #[error("date of birth {0} is in the future")]
    BirthInFuture(NaiveDate),
    #[error("{actor} is not a registered member of staff")]
    NotStaff { actor: String },
    #[error("staff member {id} is already registered")]
    StaffExists { id: String },
    #[error("{role} is not a staff role")]
    NotAStaffRole { role: &'static str },
    #[error("partner {id} is already registered")]
    PartnerExists { id: String },
    #[error("{holder} is neither {person} nor one of their representatives: an email address is recorded for the person or a representative linked to them")]
    UnknownEmailHolder { holder: String, person: String },
    #[error("{value:?} is not an email address (one @, a domain with a dot, no spaces)")]
    InvalidEmailAddress { value: String },
    #[error("partner {id} is not registered")]
    UnknownPartner { id: String },
    #[error("{id} is already linked to {person} as a representative")]
    RepresentativeExists { id: String, person: String },
    #[error("a {relationship} needs the evidence of their authority (registration or court order reference)")]
    EvidenceRequired { relationship: &'static str },
    #[error("{who} has no authority to decide for {person}")]
    NoAuthority { who: String, person: String },
    #[error("{who} cannot decide on the basis {basis:?}")]
    WrongBasis { who: String, basis: CapacityBasis },
    #[error("care plan version {given} cannot be published: the current version is {current}, so the next must be {expected} (someone else may have published meanwhile)")]
    PlanVersionConflict {
        given: u32,
        current: u32,
        expected: u32,
    },
    #[error("{person} has no care plan yet")]
    NoPlan { person: String },
    #[error("Service User Guide version {given} cannot be published: the current version is {current}, so the next must be {expected} (someone else may have published meanwhile)")]
    GuideVersionConflict {
        given: u32,
        current: u32,
        expected: u32,
    },
    #[error("the paper copy is of Service User Guide version {given}, but {}", match current { 0 => "no guide has been published yet".to_string(), c => format!("the versions published are 1 to {c}") })]
    UnknownGuideVersion { given: u32, current: u32 },
    #[error("version {given} was reviewed, but the current care plan is version {current}")]
    ReviewNotCurrent { given: u32, current: u32 },
    #[error("visit {id} is already in progress")]
    VisitOpen { id: String },
    #[error("visit {id} was not started (or is already completed)")]
    VisitNotOpen { id: String },
    #[error("{medicine} is not on {person}'s MAR (or has been stopped)")]
    NotOnMar { medicine: String, person: String },
    #[error("{medicine} is already on the MAR")]
    AlreadyOnMar { medicine: String },
    #[error("{medicine} was given at {last_given}; the next dose is not allowed before {next_allowed} (minimum interval {interval_minutes} minutes)")]
    DoseTooSoon {
        medicine: String,
        last_given: String,
        next_allowed: String,
        interval_minutes: u32,
    },
    #[error("a reason is required when a medicine is {outcome}")]
    ReasonRequired { outcome: &'static str },
    #[error("the dose given is required")]
    DoseRequired,
    #[error("{a} and {b} contradict each other: {why}")]
    ContradictoryNeeds {
        a: String,
        b: String,
        why: &'static str,
    },
    #[error("{need} is recorded twice")]
    DuplicateNeed { need: String },
    #[error("{person} has no recorded communication needs to review")]
    NoNeedsRecorded { person: String },
    #[error("{option:?} was chosen but not explained")]
    ChosenNotExplained { option: InfoOption },
    #[error("{actor} may not add entries to {person}'s record")]
    ContributionNotAllowed { actor: String, person: String },
    /// The author field does not say who the actor is: `rule` says what it must be.
    #[error("author is {author:?} but {actor} is {actor_is}: {rule}")]
    AuthorMismatch {
        author: Author,
        actor: String,
        actor_is: String,
        rule: &'static str,
    },
    #[error("grant {id} already exists")]
    GrantExists { id: String },
    #[error("grant {id} does not exist for {person}")]
    UnknownGrant { id: String, person: String },
    #[error("grant {id} is already revoked")]
    GrantRevoked { id: String },
    #[error("the expiry is not after the time of the decision")]
    ExpiryInPast,
    #[error("{person} has not consented to share {category} with {partner}")]
    NoSharingConsent {
        person: String,
        partner: String,
        category: &'static str,
    },
    #[error("the method agreed with {partner} is {agreed}, not {used}")]
    ChannelNotAgreed {
        partner: String,
        agreed: &'static str,
        used: &'static str,
    },
    #[error("access refused by the policy: {reason}")]
    AccessNotAllowed { reason: String },
    #[error("emergency access covers medicines and allergies only, not {category}")]
    EmergencyCategory { category: &'static str },
    #[error("emergency access may last at most 12 hours")]
    EmergencyTooLong,
    #[error("the due time is before the time the request was received")]
    DueBeforeReceipt,
    #[error("the request was received more than {days} days before it is recorded; check the receipt time")]
    ReceivedLongBefore { days: i64 },
    #[error("the due time is {hours} hours after receipt; requests are answered within 24 hours")]
    DueTooLate { hours: i64 },
    #[error("request {id} already exists")]
    RequestExists { id: String },
    #[error("request {id} does not exist")]
    UnknownRequest { id: String },
    #[error("request {id} is already {state}")]
    RequestClosed { id: String, state: &'static str },
    #[error("request {id} is not due for a {what} yet")]
    SlaNotDue { id: String, what: &'static str },
    #[error("request {id} already has a {what}")]
    SlaAlreadyRecorded { id: String, what: &'static str },
    #[error("the SLA event names due time {given}, but request {id} is due at {due}")]
    SlaDueMismatch { id: String, given: i64, due: i64 },
    #[error("session {session} is already open")]
    SessionOpen { session: String },
    #[error("{user} has no open session {session}")]
    NoSuchSession { session: String, user: String },
    #[error("outage {id} already exists")]
    OutageExists { id: String },
    #[error(
        "event {event} is not a break-glass access to {person}'s record waiting for review \
         (it was reviewed already, or is another event)"
    )]
    NoEmergencyToReview { person: String, event: u64 },
    #[error("outage {id} does not exist")]
    UnknownOutage { id: String },
    #[error("outage {id} has already ended")]
    OutageEnded { id: String },
    #[error("an outage lasts at most {days} days (declare a longer one as several, each from when the last ended)")]
    OutageTooLong { days: i64 },
    #[error("an outage is declared from at most {days} days before it is recorded")]
    OutageLongAgo { days: i64 },
    #[error("the review of event {event} is dated before the access it reviews")]
    ReviewBeforeAccess { event: u64 },
    #[error("outage {id} cannot end before the time it started")]
    OutageEndsBeforeStart { id: String },
    #[error("outage {open} is still going on; end it before declaring another")]
    OutageOngoing { open: String },
    #[error("outage {id} has not ended; back-entry starts once systems are back")]
    OutageNotEnded { id: String },
    #[error("the paper entry's time is outside outage {id}")]
    OutsideOutage { id: String },
    #[error("only entries about a person can be back-entered, and not back-entries")]
    NotBackEnterable,
}

impl RuleError {
    /// A bound on the record (not on a list in the payload) is reached: `count` would be
    /// more than `max` of `what`.
    pub fn record_full(what: &'static str, count: usize, max: usize) -> Self {
        RuleError::TooMany {
            field: what,
            path: None,
            count,
            max,
        }
    }
}
