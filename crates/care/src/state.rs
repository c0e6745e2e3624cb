//! The projections ("what is true now") and the rules that refuse bad events.
//!
//! [`State::apply`] checks an event against the state and, only if every rule passes,
//! applies it: a refused event changes nothing. [`State::replay`] applies an event that is
//! already in the log without checking it (it was accepted under the rules of its day).
//! Both are pure functions of (state, event); time is the envelope's recorded-at.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::event::*;
use crate::policy::{self, Principal};
use crate::table::{Table, Tracked};
use crate::types::*;

/// How far in the future an occurred-at may be, against the ledger's clock.
pub const CLOCK_TOLERANCE_US: i64 = 5 * MINUTE_US;
/// Council requests are answered within 24 hours of receipt at the latest (R12).
pub const REQUEST_DUE_MAX_US: i64 = 24 * HOUR_US;
/// How long before it is recorded a request may have been received (a late back-entry of a
/// paper request is fine; a receipt time decades off is a mistake).
pub const REQUEST_RECEIVED_PAST_MAX_US: i64 = 366 * DAY_US;
/// Longest break-glass access.
pub const EMERGENCY_ACCESS_MAX_US: i64 = 12 * HOUR_US;
/// Visits one person can have in progress at once; a further start is refused.
pub const OPEN_VISITS_MAX: usize = 16;
/// Grants one person's record can hold (revoked and expired ones included); a further
/// grant is refused.
pub const GRANTS_MAX: usize = 256;
/// Break-glass accesses and format mismatches a projection keeps per person, newest
/// first out last: older ones stay in the log.
pub const RECENT_MAX: usize = 64;
/// Representatives one person can have; a further link is refused.
pub const REPRESENTATIVES_MAX: usize = 32;
/// Medicines one person can be on at once; a further one is refused until one is stopped.
pub const ACTIVE_MEDICINES_MAX: usize = 64;
/// Medicines (current and stopped) a person's projection keeps. At the bound, adding a
/// new one drops the medicine stopped longest ago whose minimum interval has run out
/// since its last dose (its history stays in the log); if none may go, the add is refused.
pub const MEDICINES_MAX: usize = 256;
/// Care plan versions a person's projection indexes, newest kept: older versions are
/// found in the person's history in the log.
pub const PLAN_VERSIONS_KEPT: usize = 256;
/// Partners the organisation can have registered; a further one is refused. It bounds each
/// person's sharing consents too (one per partner).
pub const PARTNERS_MAX: usize = 1024;
/// Open council requests that can name one person; a further request naming them is
/// refused until one is answered or withdrawn.
pub const OPEN_REQUESTS_PER_PERSON_MAX: usize = 64;

/// What the envelope says about an event: the context every rule sees.
#[derive(Debug, Clone, Copy)]
pub struct Meta<'a> {
    pub seq: u64,
    pub recorded_at_us: TimeUs,
    pub occurred_at_us: TimeUs,
    pub actor: &'a str,
    pub subject: Option<&'a str>,
}

/// Where a fact came from: the event that established it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub seq: u64,
    pub occurred_at_us: TimeUs,
    pub recorded_at_us: TimeUs,
}

impl Stamp {
    fn of(meta: &Meta<'_>) -> Self {
        Stamp {
            seq: meta.seq,
            occurred_at_us: meta.occurred_at_us,
            recorded_at_us: meta.recorded_at_us,
        }
    }
}

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
    #[error("outage {id} already exists")]
    OutageExists { id: String },
    #[error("outage {id} does not exist")]
    UnknownOutage { id: String },
    #[error("outage {id} has already ended")]
    OutageEnded { id: String },
    #[error("outage {open} is still going on; end it before declaring another")]
    OutageOngoing { open: String },
    #[error("outage {id} has not ended; back-entry starts once systems are back")]
    OutageNotEnded { id: String },
    #[error("the paper entry's time is outside outage {id}")]
    OutsideOutage { id: String },
    #[error("only entries about a person can be back-entered, and not back-entries")]
    NotBackEnterable,
}

/// A list a rule requires only in some cases (sharing categories, when sharing is agreed).
fn require_list<T>(field: &'static str, list: &[T]) -> Result<(), RuleError> {
    if list.is_empty() {
        return Err(RuleError::Missing {
            field,
            path: field.to_string(),
        });
    }
    Ok(())
}

/// NHS numbers: ten digits, the last a modulus 11 check digit.
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

pub fn format_time(us: TimeUs) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| format!("{us} us"))
}

/// A time as RFC 3339 in UTC, to the second when it has no fraction
/// ("2026-11-20T10:00:00Z").
pub fn format_rfc3339(us: TimeUs) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| format!("{us} us"))
}

// ---------------------------------------------------------------- projected state

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Representative {
    pub name: String,
    pub relationship: Relationship,
    pub evidence_of_authority: Option<String>,
    pub may_contribute: bool,
    pub linked: Stamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentPlan {
    pub version: u32,
    pub sections: PlanSections,
    pub published: Stamp,
    pub last_review: Option<Stamp>,
    pub next_review_date: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Medicine {
    pub details: MedicineAdded,
    pub added: Stamp,
    pub stopped: Option<Stamp>,
    /// The last dose given: its occurred-at and sequence number.
    pub last_given: Option<Stamp>,
    pub given: u32,
    pub not_given: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AisRecord {
    pub needs: Vec<AisNeed>,
    pub consent_to_share: bool,
    pub recorded: Stamp,
    pub last_review: Option<Stamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discussion {
    pub present: Vec<String>,
    pub options_explained: Vec<InfoOption>,
    pub chosen: Vec<InfoOption>,
    pub told_access_is_free: bool,
    pub stamp: Stamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaperCopy {
    pub version: Option<u32>,
    pub format: Format,
    pub stamp: Stamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub grantee: Grantee,
    pub categories: Vec<Category>,
    pub purpose: Purpose,
    pub expires_at_us: Option<TimeUs>,
    pub decided_by: String,
    pub basis: CapacityBasis,
    pub granted: Stamp,
    pub revoked: Option<Stamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharingConsent {
    pub categories: Vec<Category>,
    pub given: bool,
    pub decided_by: String,
    pub stamp: Stamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Emergency {
    pub principal: String,
    pub role: Role,
    pub reason: String,
    pub categories: Vec<Category>,
    pub expires_at_us: TimeUs,
    pub stamp: Stamp,
}

/// A document sent in a format other than the person's recorded information format (R2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormatMismatch {
    pub document: Document,
    pub sent: Format,
    pub needed: Vec<Format>,
    pub stamp: Stamp,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub visits: u64,
    pub tasks: u64,
    /// Tasks refused by the person or not done.
    pub tasks_not_done: u64,
    pub notes_by_staff: u64,
    /// Entries by the person or their representatives (R2: contributions).
    pub contributions: u64,
    pub incidents: u64,
    pub observations: u64,
    pub administrations: u64,
    pub emails: u64,
    pub handovers_sent: u64,
    pub handovers_received: u64,
    pub reads: u64,
    pub refusals: u64,
    pub back_entries: u64,
    pub discussions: u64,
}

/// Everything projected about one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonState {
    pub details: PersonRegistered,
    pub registered: Stamp,
    pub care_started: Option<Stamp>,
    pub care_ended: Option<Stamp>,
    pub representatives: BTreeMap<String, Representative>,
    pub plan: Option<CurrentPlan>,
    /// Every published version and the event that published it (the history's index).
    pub plan_versions: Vec<(u32, Stamp)>,
    pub open_visits: BTreeMap<String, Stamp>,
    pub medicines: BTreeMap<String, Medicine>,
    /// Bumped when a medicine is added or stopped: a paper MAR of an older revision is out of date.
    pub mar_revision: u32,
    pub mar_changed: Option<Stamp>,
    /// The first administration recorded electronically (eMAR in use since then).
    pub first_emar: Option<Stamp>,
    pub ais: Option<AisRecord>,
    /// The latest choices discussion (earlier ones are in the log).
    pub last_discussion: Option<Discussion>,
    pub paper: BTreeMap<Document, PaperCopy>,
    pub paper_declined: Option<(String, Stamp)>,
    /// The newest documents that went out in the wrong format, at most [`RECENT_MAX`].
    pub format_mismatches: Vec<FormatMismatch>,
    pub grants: BTreeMap<String, Grant>,
    pub sharing: BTreeMap<String, SharingConsent>,
    /// The newest break-glass accesses, at most [`RECENT_MAX`].
    pub emergencies: Vec<Emergency>,
    /// Open council requests that name this person.
    pub open_requests: BTreeSet<String>,
    pub last_access: Option<Stamp>,
    pub counts: Counts,
}

impl PersonState {
    pub fn care_active(&self) -> bool {
        self.care_started.is_some() && self.care_ended.is_none()
    }

    /// The flag shown wherever the record is opened (AIS step 3), if there are needs.
    pub fn ais_flag(&self) -> Option<String> {
        let ais = self.ais.as_ref()?;
        if ais.needs.is_empty() {
            return None;
        }
        Some(
            ais.needs
                .iter()
                .map(AisNeed::describe)
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    pub fn needed_formats(&self) -> Vec<Format> {
        self.ais
            .iter()
            .flat_map(|a| a.needs.iter())
            .filter_map(|n| match n {
                AisNeed::InformationFormat(f) => Some(*f),
                _ => None,
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffMember {
    pub name: String,
    pub role: Role,
    pub registered: Stamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partner {
    pub name: String,
    pub agreed_channel: Channel,
    pub contact: String,
    pub registered: Stamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestStatus {
    Open,
    Acknowledged,
    Responded,
    Withdrawn,
}

impl RequestStatus {
    pub fn name(self) -> &'static str {
        match self {
            RequestStatus::Open => "open",
            RequestStatus::Acknowledged => "acknowledged",
            RequestStatus::Responded => "responded",
            RequestStatus::Withdrawn => "withdrawn",
        }
    }
    pub fn is_closed(self) -> bool {
        matches!(self, RequestStatus::Responded | RequestStatus::Withdrawn)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouncilRequest {
    pub requester: String,
    pub organisation: String,
    pub people: Vec<String>,
    pub categories: Vec<Category>,
    pub description: String,
    pub received_at_us: TimeUs,
    pub due_at_us: TimeUs,
    pub status: RequestStatus,
    pub received: Stamp,
    pub acknowledged: Option<Stamp>,
    pub responded: Option<Stamp>,
    pub response_digest: Option<[u8; 32]>,
    pub response_channel: Option<Channel>,
    pub withdrawn: Option<Stamp>,
    pub warned: Option<Stamp>,
    pub breached: Option<Stamp>,
}

impl CouncilRequest {
    /// Answered late, or still unanswered after its due time.
    pub fn is_breached(&self, now_us: TimeUs) -> bool {
        match (&self.responded, self.status) {
            (Some(_), _) => self.answered_late(),
            // Withdrawing an overdue request does not undo its breach.
            (None, RequestStatus::Withdrawn) => self.breached.is_some(),
            (None, _) => now_us > self.due_at_us,
        }
    }

    /// Answered after the due time, by the time the response claims, or after a breach
    /// the ledger had already recorded (a response cannot be back-dated past its breach).
    pub fn answered_late(&self) -> bool {
        self.responded.is_some_and(|r| {
            r.occurred_at_us > self.due_at_us || self.breached.is_some_and(|b| b.seq < r.seq)
        })
    }

    /// Time from receipt to response, in microseconds.
    pub fn response_time_us(&self) -> Option<i64> {
        self.responded
            .map(|r| r.occurred_at_us.saturating_sub(self.received_at_us))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outage {
    pub reason: String,
    pub declared: Stamp,
    pub ended: Option<Stamp>,
    pub back_entries: u64,
}

/// All projections. Persisted table by table, key by key (see [`Table`]).
#[derive(Debug, Clone)]
pub struct State {
    pub people: Table<PersonState>,
    pub staff: Table<StaffMember>,
    pub partners: Table<Partner>,
    pub requests: Table<CouncilRequest>,
    pub outages: Table<Outage>,
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

fn person_mut<'a>(
    people: &'a mut Table<PersonState>,
    meta: &Meta<'_>,
) -> Option<&'a mut PersonState> {
    people.get_mut(meta.subject?)
}

impl State {
    pub fn new() -> Self {
        Self {
            people: Table::new(b'P'),
            staff: Table::new(b'S'),
            partners: Table::new(b'O'),
            requests: Table::new(b'R'),
            outages: Table::new(b'X'),
        }
    }

    pub fn person(&self, id: &str) -> Option<&PersonState> {
        self.people.get(id)
    }

    /// Every table, for what is done to all of them alike.
    fn tables(&self) -> [&dyn Tracked; 5] {
        [
            &self.people,
            &self.staff,
            &self.partners,
            &self.requests,
            &self.outages,
        ]
    }

    fn tables_mut(&mut self) -> [&mut dyn Tracked; 5] {
        [
            &mut self.people,
            &mut self.staff,
            &mut self.partners,
            &mut self.requests,
            &mut self.outages,
        ]
    }

    pub fn begin(&mut self) {
        self.tables_mut().into_iter().for_each(|t| t.begin());
    }

    pub fn commit(&mut self) {
        self.tables_mut().into_iter().for_each(|t| t.commit());
    }

    pub fn rollback(&mut self) {
        self.tables_mut().into_iter().for_each(|t| t.rollback());
    }

    pub fn clear(&mut self) {
        *self = State::new();
    }

    pub fn take_changes(&mut self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let mut out = Vec::new();
        for t in self.tables_mut() {
            t.take_changes(&mut out);
        }
        out
    }

    /// Every projection pair as it would be persisted, sorted by key.
    pub fn all_pairs(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        for t in self.tables() {
            t.all_pairs(&mut out);
        }
        out.sort();
        out
    }

    pub fn load(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        let (&tag, rest) = key.split_first().ok_or("an empty projection key")?;
        self.tables_mut()
            .into_iter()
            .find(|t| t.tag() == tag)
            .ok_or_else(|| format!("unknown projection table {:?}", tag as char))?
            .load(rest, value)
    }

    /// Checks `event` against every rule and applies it; a refused event changes nothing.
    pub fn apply(&mut self, meta: &Meta<'_>, event: &CareEvent) -> Result<(), RuleError> {
        self.check(meta, event)?;
        self.mutate(meta, event);
        Ok(())
    }

    /// Applies an event from the log without checking it.
    pub fn replay(&mut self, meta: &Meta<'_>, event: &CareEvent) {
        self.mutate(meta, event);
    }

    // ------------------------------------------------------------ rules

    /// Every rule for `event`, against the state before it.
    pub fn check(&self, meta: &Meta<'_>, event: &CareEvent) -> Result<(), RuleError> {
        if meta.occurred_at_us > meta.recorded_at_us + CLOCK_TOLERANCE_US {
            return Err(RuleError::InFuture {
                minutes: (meta.occurred_at_us - meta.recorded_at_us) / MINUTE_US,
            });
        }
        let kind = event.kind();
        let person = match (event.scope(), meta.subject) {
            (Scope::Person, None) => return Err(RuleError::SubjectRequired { kind }),
            (Scope::Organisation, Some(_)) => return Err(RuleError::SubjectNotAllowed { kind }),
            (Scope::Person, Some(p)) => Some(p),
            (Scope::Organisation, None) => None,
        };
        // What each field must be, before anything that needs the state.
        crate::fields::check(event)?;
        if let CareEvent::PersonRegistered(e) = event {
            let person = person.unwrap_or_default();
            if self.people.contains(person) {
                return Err(RuleError::AlreadyRegistered {
                    person: person.into(),
                });
            }
            return check_registration(meta, e);
        }
        match person {
            Some(p) => {
                let state = self.people.get(p).ok_or_else(|| RuleError::NotRegistered {
                    person: p.to_string(),
                })?;
                self.check_person(meta, p, state, event)
            }
            None => self.check_organisation(meta, event),
        }
    }

    fn require_staff(&self, actor: &str) -> Result<&StaffMember, RuleError> {
        self.staff.get(actor).ok_or_else(|| RuleError::NotStaff {
            actor: actor.to_string(),
        })
    }

    /// Whether `who` may decide for `person` on `basis` (the person with capacity, or an
    /// attorney or deputy with evidence of authority).
    fn check_authority(
        &self,
        person_id: &str,
        person: &PersonState,
        who: &str,
        basis: CapacityBasis,
    ) -> Result<(), RuleError> {
        if who == person_id {
            return if basis == CapacityBasis::PersonHasCapacity {
                Ok(())
            } else {
                Err(RuleError::WrongBasis {
                    who: who.into(),
                    basis,
                })
            };
        }
        let rep = person
            .representatives
            .get(who)
            .filter(|r| r.relationship.has_legal_authority() && r.evidence_of_authority.is_some())
            .ok_or_else(|| RuleError::NoAuthority {
                who: who.into(),
                person: person_id.into(),
            })?;
        let expected = match rep.relationship {
            Relationship::LpaHealthWelfare => CapacityBasis::LastingPowerOfAttorney,
            _ => CapacityBasis::CourtDeputy,
        };
        if basis != expected {
            return Err(RuleError::WrongBasis {
                who: who.into(),
                basis,
            });
        }
        Ok(())
    }

    fn check_person(
        &self,
        meta: &Meta<'_>,
        person_id: &str,
        person: &PersonState,
        event: &CareEvent,
    ) -> Result<(), RuleError> {
        use CareEvent as E;
        let active = || -> Result<(), RuleError> {
            if person.care_ended.is_some() && !person.care_active() {
                return Err(RuleError::CareEnded {
                    person: person_id.into(),
                });
            }
            if person.care_started.is_none() {
                return Err(RuleError::CareNotStarted {
                    person: person_id.into(),
                });
            }
            Ok(())
        };
        // Registration and care still active: what care events need. Consent, access and
        // paper events stay possible after care ends (records are kept and read for years).
        match event {
            E::CareStarted(_)
            | E::RepresentativeLinked(_)
            | E::AccessGranted(_)
            | E::AccessRevoked(_)
            | E::SharingConsentRecorded(_)
            | E::RecordAccessed(_)
            | E::AccessRefused(_)
            | E::EmergencyAccess(_)
            | E::PaperCopiesDeclined(_)
            | E::SecureEmailDelivered(_)
            | E::BackEntered(_) => {}
            _ => active()?,
        }
        match event {
            E::PersonRegistered(_) => unreachable!("handled before"),
            E::CareStarted(_) => {
                if person.care_active() {
                    return Err(RuleError::CareAlreadyActive {
                        person: person_id.into(),
                    });
                }
            }
            E::CareEnded(_) => {}
            E::RepresentativeLinked(e) => {
                if person.representatives.len() >= REPRESENTATIVES_MAX {
                    return Err(RuleError::TooMany {
                        field: "representatives of this person",
                        path: None,
                        count: person.representatives.len() + 1,
                        max: REPRESENTATIVES_MAX,
                    });
                }
                if person.representatives.contains_key(&e.representative_id)
                    || e.representative_id == person_id
                {
                    return Err(RuleError::RepresentativeExists {
                        id: e.representative_id.clone(),
                        person: person_id.into(),
                    });
                }
                if e.relationship.has_legal_authority()
                    && e.evidence_of_authority
                        .as_deref()
                        .is_none_or(|t| t.trim().is_empty())
                {
                    return Err(RuleError::EvidenceRequired {
                        relationship: match e.relationship {
                            Relationship::LpaHealthWelfare => "lasting power of attorney",
                            _ => "deputy",
                        },
                    });
                }
            }
            E::CarePlanPublished(e) => {
                let current = person.plan.as_ref().map_or(0, |p| p.version);
                if e.version != current + 1 {
                    return Err(RuleError::PlanVersionConflict {
                        given: e.version,
                        current,
                        expected: current + 1,
                    });
                }
            }
            E::CarePlanReviewed(e) => {
                let plan = person.plan.as_ref().ok_or_else(|| RuleError::NoPlan {
                    person: person_id.into(),
                })?;
                if e.version != plan.version {
                    return Err(RuleError::ReviewNotCurrent {
                        given: e.version,
                        current: plan.version,
                    });
                }
            }
            E::VisitStarted(e) => {
                self.require_staff(meta.actor)?;
                if person.open_visits.len() >= OPEN_VISITS_MAX {
                    return Err(RuleError::TooMany {
                        field: "visits in progress",
                        path: None,
                        count: person.open_visits.len() + 1,
                        max: OPEN_VISITS_MAX,
                    });
                }
                if person.open_visits.contains_key(&e.visit_id) {
                    return Err(RuleError::VisitOpen {
                        id: e.visit_id.clone(),
                    });
                }
            }
            E::VisitCompleted(e) => {
                self.require_staff(meta.actor)?;
                if !person.open_visits.contains_key(&e.visit_id) {
                    return Err(RuleError::VisitNotOpen {
                        id: e.visit_id.clone(),
                    });
                }
            }
            E::TaskRecorded(e) => {
                self.require_staff(meta.actor)?;
                if let Some(visit) = &e.visit_id {
                    if !person.open_visits.contains_key(visit) {
                        return Err(RuleError::VisitNotOpen { id: visit.clone() });
                    }
                }
            }
            E::DiaryNote(e) => {
                self.check_author(meta, person_id, person, e.author)?;
            }
            // Their fields are all there is to check.
            E::Incident(_) | E::Observation(_) | E::AccessRefused(_) => {}
            E::MedicineAdded(e) => {
                if person
                    .medicines
                    .get(&e.medicine_id)
                    .is_some_and(|m| m.stopped.is_none())
                {
                    return Err(RuleError::AlreadyOnMar {
                        medicine: e.medicine_id.clone(),
                    });
                }
                let active = person
                    .medicines
                    .values()
                    .filter(|m| m.stopped.is_none())
                    .count();
                if active >= ACTIVE_MEDICINES_MAX {
                    return Err(RuleError::TooMany {
                        field: "current medicines (stop one first)",
                        path: None,
                        count: active + 1,
                        max: ACTIVE_MEDICINES_MAX,
                    });
                }
                if person.medicines.len() >= MEDICINES_MAX
                    && !person.medicines.contains_key(&e.medicine_id)
                    && droppable_medicine(person, meta.occurred_at_us).is_none()
                {
                    return Err(RuleError::TooMany {
                        field: "medicines on this record (none stopped long enough to drop)",
                        path: None,
                        count: person.medicines.len() + 1,
                        max: MEDICINES_MAX,
                    });
                }
            }
            E::MedicineStopped(e) => {
                active_medicine(person_id, person, &e.medicine_id)?;
            }
            E::AdministrationRecorded(e) => {
                self.require_staff(meta.actor)?;
                let medicine = active_medicine(person_id, person, &e.medicine_id)?;
                match e.outcome {
                    AdministrationOutcome::Given => {
                        if e.dose_given.as_deref().is_none_or(|d| d.trim().is_empty()) {
                            return Err(RuleError::DoseRequired);
                        }
                        if let Some(last) = medicine.last_given {
                            let interval =
                                i64::from(medicine.details.min_interval_minutes) * MINUTE_US;
                            // Either order: a dose back-entered before a later one is as unsafe.
                            if meta.occurred_at_us.abs_diff(last.occurred_at_us)
                                < interval.unsigned_abs()
                            {
                                return Err(RuleError::DoseTooSoon {
                                    medicine: medicine.details.name.clone(),
                                    last_given: format_time(last.occurred_at_us),
                                    next_allowed: format_time(last.occurred_at_us + interval),
                                    interval_minutes: medicine.details.min_interval_minutes,
                                });
                            }
                        }
                    }
                    outcome => {
                        if e.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
                            return Err(RuleError::ReasonRequired {
                                outcome: match outcome {
                                    AdministrationOutcome::Refused => "refused",
                                    AdministrationOutcome::Omitted => "omitted",
                                    _ => "withheld",
                                },
                            });
                        }
                    }
                }
            }
            E::ChoicesDiscussed(e) => {
                if let Some(option) = e.chosen.iter().find(|o| !e.options_explained.contains(o)) {
                    return Err(RuleError::ChosenNotExplained { option: *option });
                }
            }
            E::PaperCopyPlaced(e) => {
                if e.document == Document::CarePlan {
                    let current = person.plan.as_ref().map(|p| p.version);
                    if current.is_none() {
                        return Err(RuleError::NoPlan {
                            person: person_id.into(),
                        });
                    }
                }
            }
            E::PaperCopiesDeclined(e) => {
                // Declining is the person's choice, or their legal representative's.
                let basis = if e.declined_by == person_id {
                    CapacityBasis::PersonHasCapacity
                } else {
                    match person
                        .representatives
                        .get(&e.declined_by)
                        .map(|r| r.relationship)
                    {
                        Some(Relationship::LpaHealthWelfare) => {
                            CapacityBasis::LastingPowerOfAttorney
                        }
                        _ => CapacityBasis::CourtDeputy,
                    }
                };
                self.check_authority(person_id, person, &e.declined_by, basis)?;
            }
            E::SecureEmailDelivered(_) => {}
            E::AisNeedsRecorded(e) => {
                for (i, a) in e.needs.iter().enumerate() {
                    for b in &e.needs[i + 1..] {
                        if a == b {
                            return Err(RuleError::DuplicateNeed { need: a.describe() });
                        }
                        if let Some(why) = contradiction(a, b) {
                            return Err(RuleError::ContradictoryNeeds {
                                a: a.describe(),
                                b: b.describe(),
                                why,
                            });
                        }
                    }
                }
            }
            E::AisNeedsReviewed(_) => {
                if person.ais.is_none() {
                    return Err(RuleError::NoNeedsRecorded {
                        person: person_id.into(),
                    });
                }
            }
            E::AccessGranted(e) => {
                if person.grants.len() >= GRANTS_MAX {
                    return Err(RuleError::TooMany {
                        field: "grants on this record",
                        path: None,
                        count: person.grants.len() + 1,
                        max: GRANTS_MAX,
                    });
                }
                if person.grants.contains_key(&e.grant_id) {
                    return Err(RuleError::GrantExists {
                        id: e.grant_id.clone(),
                    });
                }
                if e.expires_at_us.is_some_and(|t| t <= meta.occurred_at_us) {
                    return Err(RuleError::ExpiryInPast);
                }
                self.check_authority(person_id, person, &e.decided_by, e.basis)?;
            }
            E::AccessRevoked(e) => {
                let grant =
                    person
                        .grants
                        .get(&e.grant_id)
                        .ok_or_else(|| RuleError::UnknownGrant {
                            id: e.grant_id.clone(),
                            person: person_id.into(),
                        })?;
                if grant.revoked.is_some() {
                    return Err(RuleError::GrantRevoked {
                        id: e.grant_id.clone(),
                    });
                }
                self.check_authority(person_id, person, &e.decided_by, e.basis)?;
            }
            E::SharingConsentRecorded(e) => {
                if !self.partners.contains(&e.partner_id) {
                    return Err(RuleError::UnknownPartner {
                        id: e.partner_id.clone(),
                    });
                }
                if e.given {
                    require_list("categories", &e.categories)?;
                }
                self.check_authority(person_id, person, &e.decided_by, e.basis)?;
            }
            E::HandoverSent(e) => {
                let partner =
                    self.partners
                        .get(&e.partner_id)
                        .ok_or_else(|| RuleError::UnknownPartner {
                            id: e.partner_id.clone(),
                        })?;
                if partner.agreed_channel != e.channel {
                    return Err(RuleError::ChannelNotAgreed {
                        partner: e.partner_id.clone(),
                        agreed: partner.agreed_channel.name(),
                        used: e.channel.name(),
                    });
                }
                let consent = person.sharing.get(&e.partner_id).filter(|c| c.given);
                if let Some(category) = e
                    .categories
                    .iter()
                    .find(|c| !consent.is_some_and(|s| s.categories.contains(c)))
                {
                    return Err(RuleError::NoSharingConsent {
                        person: person_id.into(),
                        partner: e.partner_id.clone(),
                        category: category.name(),
                    });
                }
            }
            E::HandoverReceived(e) => {
                if !self.partners.contains(&e.partner_id) {
                    return Err(RuleError::UnknownPartner {
                        id: e.partner_id.clone(),
                    });
                }
            }
            E::RecordAccessed(e) => {
                // Defence in depth: the access gate decided already; a read the policy
                // would refuse cannot enter the log as allowed.
                let principal = Principal {
                    id: meta.actor,
                    role: e.role,
                };
                let decision = policy::decide(
                    self,
                    &principal,
                    person_id,
                    &e.categories,
                    e.purpose,
                    // The access gate stamps access events with the time it decided; a
                    // back-entered or imported read is judged at the time it happened.
                    meta.occurred_at_us,
                );
                if let Some((category, reason)) = decision.refused.first() {
                    return Err(RuleError::AccessNotAllowed {
                        reason: format!("{}: {reason}", category.name()),
                    });
                }
                // A recorded basis is the policy's own: a read cannot claim a grant or a
                // council request that did not allow it.
                let recorded: Vec<(Category, policy::Basis)> = e
                    .basis
                    .iter()
                    .map(|b| (b.category, b.basis.clone()))
                    .collect();
                if !recorded.is_empty() && recorded != decision.allowed {
                    return Err(RuleError::AccessNotAllowed {
                        reason: format!(
                            "the read records the basis {recorded:?}, but the policy allows it \
                             on {:?}",
                            decision.allowed
                        ),
                    });
                }
            }
            E::EmergencyAccess(e) => {
                if let Some(c) = e.categories.iter().find(|c| **c != Category::Medicines) {
                    return Err(RuleError::EmergencyCategory { category: c.name() });
                }
                if e.expires_at_us <= meta.occurred_at_us {
                    return Err(RuleError::ExpiryInPast);
                }
                if e.expires_at_us.saturating_sub(meta.occurred_at_us) > EMERGENCY_ACCESS_MAX_US {
                    return Err(RuleError::EmergencyTooLong);
                }
            }
            E::BackEntered(e) => {
                let outage =
                    self.outages
                        .get(&e.outage_id)
                        .ok_or_else(|| RuleError::UnknownOutage {
                            id: e.outage_id.clone(),
                        })?;
                let ended = outage.ended.ok_or_else(|| RuleError::OutageNotEnded {
                    id: e.outage_id.clone(),
                })?;
                if meta.occurred_at_us < outage.declared.occurred_at_us
                    || meta.occurred_at_us > ended.occurred_at_us
                {
                    return Err(RuleError::OutsideOutage {
                        id: e.outage_id.clone(),
                    });
                }
                if e.entry.scope() != Scope::Person
                    || matches!(*e.entry, E::BackEntered(_) | E::PersonRegistered(_))
                {
                    return Err(RuleError::NotBackEnterable);
                }
                self.check_person(meta, person_id, person, &e.entry)?;
            }
            E::StaffRegistered(_)
            | E::PartnerRegistered(_)
            | E::RequestReceived(_)
            | E::RequestAcknowledged(_)
            | E::RequestResponded(_)
            | E::RequestWithdrawn(_)
            | E::SlaWarning(_)
            | E::SlaBreached(_)
            | E::OutageDeclared(_)
            | E::OutageEnded(_) => unreachable!("organisation events are checked for scope first"),
        }
        Ok(())
    }

    fn check_author(
        &self,
        meta: &Meta<'_>,
        person_id: &str,
        person: &PersonState,
        author: Author,
    ) -> Result<(), RuleError> {
        let allowed = match author {
            Author::Staff => self.staff.contains(meta.actor),
            Author::Person => meta.actor == person_id,
            Author::Representative => person
                .representatives
                .get(meta.actor)
                .is_some_and(|r| r.may_contribute),
        };
        if allowed {
            return Ok(());
        }
        // Who the actor is, if the author field names someone else: the author must say
        // who wrote the note.
        let mismatch = |actor_is: String, rule| RuleError::AuthorMismatch {
            author,
            actor: meta.actor.into(),
            actor_is,
            rule,
        };
        if let (Some(staff), false) = (self.staff.get(meta.actor), author == Author::Staff) {
            return Err(mismatch(staff.role.with_article(), "staff write as Staff"));
        }
        if meta.actor == person_id && author != Author::Person {
            return Err(mismatch(
                "the person the note is about".to_string(),
                "the person writes as Person",
            ));
        }
        let contributor = person
            .representatives
            .get(meta.actor)
            .is_some_and(|r| r.may_contribute);
        if contributor && author != Author::Representative {
            return Err(mismatch(
                format!("a representative of {person_id}"),
                "a representative writes as Representative",
            ));
        }
        Err(RuleError::ContributionNotAllowed {
            actor: meta.actor.into(),
            person: person_id.into(),
        })
    }

    fn request(&self, id: &str) -> Result<&CouncilRequest, RuleError> {
        self.requests
            .get(id)
            .ok_or_else(|| RuleError::UnknownRequest { id: id.into() })
    }

    fn open_request(&self, id: &str) -> Result<&CouncilRequest, RuleError> {
        let r = self.request(id)?;
        if r.status.is_closed() {
            return Err(RuleError::RequestClosed {
                id: id.into(),
                state: r.status.name(),
            });
        }
        Ok(r)
    }

    /// The open request an SLA event (`what`: "warning" or "breach") is about, checked to
    /// name its due time and not to have one already (`recorded` reads which).
    fn sla_request(
        &self,
        id: &str,
        due_at_us: TimeUs,
        what: &'static str,
        recorded: impl Fn(&CouncilRequest) -> Option<Stamp>,
    ) -> Result<&CouncilRequest, RuleError> {
        let r = self.open_request(id)?;
        if r.due_at_us != due_at_us {
            return Err(RuleError::SlaDueMismatch {
                id: id.into(),
                given: due_at_us,
                due: r.due_at_us,
            });
        }
        if recorded(r).is_some() {
            return Err(RuleError::SlaAlreadyRecorded {
                id: id.into(),
                what,
            });
        }
        Ok(r)
    }

    fn check_organisation(&self, meta: &Meta<'_>, event: &CareEvent) -> Result<(), RuleError> {
        use CareEvent as E;
        match event {
            E::StaffRegistered(e) => {
                if !e.role.is_staff() {
                    return Err(RuleError::NotAStaffRole {
                        role: e.role.name(),
                    });
                }
                if self.staff.contains(&e.staff_id) {
                    return Err(RuleError::StaffExists {
                        id: e.staff_id.clone(),
                    });
                }
            }
            E::PartnerRegistered(e) => {
                if self.partners.contains(&e.partner_id) {
                    return Err(RuleError::PartnerExists {
                        id: e.partner_id.clone(),
                    });
                }
                if self.partners.len() >= PARTNERS_MAX {
                    return Err(RuleError::TooMany {
                        field: "registered partners",
                        path: None,
                        count: self.partners.len() + 1,
                        max: PARTNERS_MAX,
                    });
                }
            }
            E::RequestReceived(e) => {
                if self.requests.contains(&e.request_id) {
                    return Err(RuleError::RequestExists {
                        id: e.request_id.clone(),
                    });
                }
                if e.received_at_us > meta.recorded_at_us + CLOCK_TOLERANCE_US {
                    return Err(RuleError::InFuture {
                        minutes: (e.received_at_us - meta.recorded_at_us) / MINUTE_US,
                    });
                }
                if e.received_at_us
                    < meta
                        .occurred_at_us
                        .saturating_sub(REQUEST_RECEIVED_PAST_MAX_US)
                {
                    return Err(RuleError::ReceivedLongBefore {
                        days: REQUEST_RECEIVED_PAST_MAX_US / DAY_US,
                    });
                }
                if e.due_at_us < e.received_at_us {
                    return Err(RuleError::DueBeforeReceipt);
                }
                if e.due_at_us.saturating_sub(e.received_at_us) > REQUEST_DUE_MAX_US {
                    return Err(RuleError::DueTooLate {
                        hours: e.due_at_us.saturating_sub(e.received_at_us) / HOUR_US,
                    });
                }
                if let Some(p) = e.people.iter().find(|p| !self.people.contains(p)) {
                    return Err(RuleError::NotRegistered { person: p.clone() });
                }
                let full = e.people.iter().find_map(|p| {
                    let open = self.people.get(p)?.open_requests.len();
                    (open >= OPEN_REQUESTS_PER_PERSON_MAX).then_some(open)
                });
                if let Some(open) = full {
                    return Err(RuleError::TooMany {
                        field:
                            "open council requests naming one of these people (answer one first)",
                        path: None,
                        count: open + 1,
                        max: OPEN_REQUESTS_PER_PERSON_MAX,
                    });
                }
            }
            E::RequestAcknowledged(e) => {
                let r = self.open_request(&e.request_id)?;
                if r.acknowledged.is_some() {
                    return Err(RuleError::SlaAlreadyRecorded {
                        id: e.request_id.clone(),
                        what: "acknowledgement",
                    });
                }
            }
            E::RequestResponded(e) => {
                self.open_request(&e.request_id)?;
            }
            E::RequestWithdrawn(e) => {
                self.open_request(&e.request_id)?;
            }
            E::SlaWarning(e) => {
                let r = self.sla_request(&e.request_id, e.due_at_us, "warning", |r| r.warned)?;
                if meta.recorded_at_us < crate::sla::warn_at(r) {
                    return Err(RuleError::SlaNotDue {
                        id: e.request_id.clone(),
                        what: "warning",
                    });
                }
            }
            E::SlaBreached(e) => {
                let r = self.sla_request(&e.request_id, e.due_at_us, "breach", |r| r.breached)?;
                if meta.recorded_at_us <= r.due_at_us {
                    return Err(RuleError::SlaNotDue {
                        id: e.request_id.clone(),
                        what: "breach",
                    });
                }
            }
            E::OutageDeclared(e) => {
                if self.outages.contains(&e.outage_id) {
                    return Err(RuleError::OutageExists {
                        id: e.outage_id.clone(),
                    });
                }
                if let Some((open, _)) = self.outages.iter().find(|(_, o)| o.ended.is_none()) {
                    return Err(RuleError::OutageOngoing { open: open.clone() });
                }
            }
            E::OutageEnded(e) => {
                let outage =
                    self.outages
                        .get(&e.outage_id)
                        .ok_or_else(|| RuleError::UnknownOutage {
                            id: e.outage_id.clone(),
                        })?;
                if outage.ended.is_some() {
                    return Err(RuleError::OutageEnded {
                        id: e.outage_id.clone(),
                    });
                }
            }
            _ => unreachable!("person events are checked for scope first"),
        }
        Ok(())
    }

    // ------------------------------------------------------------ projections

    fn mutate(&mut self, meta: &Meta<'_>, event: &CareEvent) {
        use CareEvent as E;
        let stamp = Stamp::of(meta);
        match event {
            E::PersonRegistered(e) => {
                if let Some(id) = meta.subject {
                    self.people.insert(
                        id,
                        PersonState {
                            details: e.clone(),
                            registered: stamp,
                            care_started: None,
                            care_ended: None,
                            representatives: BTreeMap::new(),
                            plan: None,
                            plan_versions: Vec::new(),
                            open_visits: BTreeMap::new(),
                            medicines: BTreeMap::new(),
                            mar_revision: 0,
                            mar_changed: None,
                            first_emar: None,
                            ais: None,
                            last_discussion: None,
                            paper: BTreeMap::new(),
                            paper_declined: None,
                            format_mismatches: Vec::new(),
                            grants: BTreeMap::new(),
                            sharing: BTreeMap::new(),
                            emergencies: Vec::new(),
                            open_requests: BTreeSet::new(),
                            last_access: None,
                            counts: Counts::default(),
                        },
                    );
                }
            }
            E::StaffRegistered(e) => self.staff.insert(
                &e.staff_id,
                StaffMember {
                    name: e.name.clone(),
                    role: e.role,
                    registered: stamp,
                },
            ),
            E::PartnerRegistered(e) => self.partners.insert(
                &e.partner_id,
                Partner {
                    name: e.name.clone(),
                    agreed_channel: e.agreed_channel,
                    contact: e.contact.clone(),
                    registered: stamp,
                },
            ),
            E::RequestReceived(e) => {
                for p in &e.people {
                    if let Some(person) = self.people.get_mut(p) {
                        person.open_requests.insert(e.request_id.clone());
                    }
                }
                self.requests.insert(
                    &e.request_id,
                    CouncilRequest {
                        requester: e.requester.clone(),
                        organisation: e.organisation.clone(),
                        people: e.people.clone(),
                        categories: e.categories.clone(),
                        description: e.description.clone(),
                        received_at_us: e.received_at_us,
                        due_at_us: e.due_at_us,
                        status: RequestStatus::Open,
                        received: stamp,
                        acknowledged: None,
                        responded: None,
                        response_digest: None,
                        response_channel: None,
                        withdrawn: None,
                        warned: None,
                        breached: None,
                    },
                );
            }
            E::RequestAcknowledged(e) => {
                if let Some(r) = self.requests.get_mut(&e.request_id) {
                    r.acknowledged = Some(stamp);
                    if r.status == RequestStatus::Open {
                        r.status = RequestStatus::Acknowledged;
                    }
                }
            }
            E::RequestResponded(e) => {
                if let Some(r) = self.requests.get_mut(&e.request_id) {
                    r.responded = Some(stamp);
                    r.response_digest = Some(e.digest);
                    r.response_channel = Some(e.channel);
                    r.status = RequestStatus::Responded;
                }
                self.close_request(&e.request_id);
            }
            E::RequestWithdrawn(e) => {
                if let Some(r) = self.requests.get_mut(&e.request_id) {
                    r.withdrawn = Some(stamp);
                    r.status = RequestStatus::Withdrawn;
                }
                self.close_request(&e.request_id);
            }
            E::SlaWarning(e) => {
                if let Some(r) = self.requests.get_mut(&e.request_id) {
                    r.warned = Some(stamp);
                }
            }
            E::SlaBreached(e) => {
                if let Some(r) = self.requests.get_mut(&e.request_id) {
                    r.breached = Some(stamp);
                }
            }
            E::OutageDeclared(e) => self.outages.insert(
                &e.outage_id,
                Outage {
                    reason: e.reason.clone(),
                    declared: stamp,
                    ended: None,
                    back_entries: 0,
                },
            ),
            E::OutageEnded(e) => {
                if let Some(o) = self.outages.get_mut(&e.outage_id) {
                    o.ended = Some(stamp);
                }
            }
            E::BackEntered(e) => {
                if let Some(o) = self.outages.get_mut(&e.outage_id) {
                    o.back_entries += 1;
                }
                if let Some(p) = person_mut(&mut self.people, meta) {
                    p.counts.back_entries += 1;
                }
                if !matches!(*e.entry, E::BackEntered(_)) {
                    self.mutate(meta, &e.entry);
                }
            }
            other => {
                if let Some(p) = person_mut(&mut self.people, meta) {
                    mutate_person(p, meta, stamp, other);
                }
            }
        }
    }

    fn close_request(&mut self, id: &str) {
        let people = self
            .requests
            .get(id)
            .map(|r| r.people.clone())
            .unwrap_or_default();
        for p in people {
            if let Some(person) = self.people.get_mut(&p) {
                person.open_requests.remove(id);
            }
        }
    }
}

/// The stopped medicine a full projection may drop for a new one: stopped longest ago, and
/// its minimum interval run out since its last dose at `at_us` (so that starting it again
/// later cannot be checked against a dose the projection forgot).
fn droppable_medicine(person: &PersonState, at_us: TimeUs) -> Option<String> {
    person
        .medicines
        .iter()
        .filter_map(|(id, m)| {
            let stopped = m.stopped?;
            let interval = i64::from(m.details.min_interval_minutes) * MINUTE_US;
            let run_out = m
                .last_given
                .is_none_or(|l| l.occurred_at_us.saturating_add(interval) <= at_us);
            run_out.then_some((stopped.seq, id))
        })
        .min()
        .map(|(_, id)| id.clone())
}

fn check_registration(meta: &Meta<'_>, e: &PersonRegistered) -> Result<(), RuleError> {
    if let Some(nhs) = &e.nhs_number {
        if !valid_nhs_number(nhs) {
            return Err(RuleError::InvalidNhsNumber { value: nhs.clone() });
        }
    }
    let today = chrono::DateTime::from_timestamp_micros(meta.recorded_at_us)
        .map(|t| t.date_naive())
        .unwrap_or(NaiveDate::MAX);
    if e.date_of_birth > today {
        return Err(RuleError::BirthInFuture(e.date_of_birth));
    }
    Ok(())
}

fn active_medicine<'a>(
    person_id: &str,
    person: &'a PersonState,
    medicine: &str,
) -> Result<&'a Medicine, RuleError> {
    person
        .medicines
        .get(medicine)
        .filter(|m| m.stopped.is_none())
        .ok_or_else(|| RuleError::NotOnMar {
            medicine: medicine.into(),
            person: person_id.into(),
        })
}

fn mutate_person(p: &mut PersonState, meta: &Meta<'_>, stamp: Stamp, event: &CareEvent) {
    use CareEvent as E;
    match event {
        E::CareStarted(_) => {
            p.care_started = Some(stamp);
            p.care_ended = None;
        }
        E::CareEnded(_) => {
            p.care_ended = Some(stamp);
            p.open_visits.clear();
        }
        E::RepresentativeLinked(e) => {
            p.representatives.insert(
                e.representative_id.clone(),
                Representative {
                    name: e.name.clone(),
                    relationship: e.relationship,
                    evidence_of_authority: e.evidence_of_authority.clone(),
                    may_contribute: e.may_contribute,
                    linked: stamp,
                },
            );
        }
        E::CarePlanPublished(e) => {
            p.plan = Some(CurrentPlan {
                version: e.version,
                sections: e.sections.clone(),
                published: stamp,
                // A new version does not undo the review that led to it: the choices
                // discussion is still due after it (R8).
                last_review: p.plan.as_ref().and_then(|plan| plan.last_review),
                next_review_date: e.sections.review_date,
            });
            p.plan_versions.push((e.version, stamp));
            if p.plan_versions.len() > PLAN_VERSIONS_KEPT {
                let over = p.plan_versions.len() - PLAN_VERSIONS_KEPT;
                p.plan_versions.drain(..over);
            }
        }
        E::CarePlanReviewed(e) => {
            if let Some(plan) = &mut p.plan {
                plan.last_review = Some(stamp);
                plan.next_review_date = e.next_review_date;
            }
        }
        E::VisitStarted(e) => {
            p.open_visits.insert(e.visit_id.clone(), stamp);
        }
        E::VisitCompleted(e) => {
            let was_open = p.open_visits.remove(&e.visit_id).is_some();
            p.counts.visits += u64::from(was_open);
        }
        E::TaskRecorded(e) => {
            p.counts.tasks += 1;
            if e.outcome != TaskOutcome::Done {
                p.counts.tasks_not_done += 1;
            }
        }
        E::DiaryNote(e) => match e.author {
            Author::Staff => p.counts.notes_by_staff += 1,
            Author::Person | Author::Representative => p.counts.contributions += 1,
        },
        E::Incident(_) => p.counts.incidents += 1,
        E::Observation(_) => p.counts.observations += 1,
        E::MedicineAdded(e) => {
            // A medicine stopped and started again keeps its last dose: the minimum
            // interval still runs from it.
            let last_given = p.medicines.get(&e.medicine_id).and_then(|m| m.last_given);
            if p.medicines.len() >= MEDICINES_MAX && !p.medicines.contains_key(&e.medicine_id) {
                if let Some(old) = droppable_medicine(p, meta.occurred_at_us) {
                    p.medicines.remove(&old);
                }
            }
            p.medicines.insert(
                e.medicine_id.clone(),
                Medicine {
                    details: e.clone(),
                    added: stamp,
                    stopped: None,
                    last_given,
                    given: 0,
                    not_given: 0,
                },
            );
            p.mar_revision += 1;
            p.mar_changed = Some(stamp);
        }
        E::MedicineStopped(e) => {
            if let Some(m) = p.medicines.get_mut(&e.medicine_id) {
                m.stopped = Some(stamp);
            }
            p.mar_revision += 1;
            p.mar_changed = Some(stamp);
        }
        E::AdministrationRecorded(e) => {
            if let Some(m) = p.medicines.get_mut(&e.medicine_id) {
                if e.outcome == AdministrationOutcome::Given {
                    m.given += 1;
                    if m.last_given
                        .is_none_or(|l| l.occurred_at_us < stamp.occurred_at_us)
                    {
                        m.last_given = Some(stamp);
                    }
                } else {
                    m.not_given += 1;
                }
            }
            p.counts.administrations += 1;
            p.first_emar.get_or_insert(stamp);
        }
        E::ChoicesDiscussed(e) => {
            p.counts.discussions += 1;
            p.last_discussion = Some(Discussion {
                present: e.present.clone(),
                options_explained: e.options_explained.clone(),
                chosen: e.chosen.clone(),
                told_access_is_free: e.told_access_is_free,
                stamp,
            });
        }
        E::PaperCopyPlaced(e) => {
            p.paper.insert(
                e.document,
                PaperCopy {
                    version: e.version,
                    format: e.format,
                    stamp,
                },
            );
            note_format(p, e.document, e.format, stamp);
        }
        E::PaperCopiesDeclined(e) => p.paper_declined = Some((e.declined_by.clone(), stamp)),
        E::SecureEmailDelivered(e) => {
            p.counts.emails += 1;
            note_format(p, e.document, e.format, stamp);
        }
        E::AisNeedsRecorded(e) => {
            p.ais = Some(AisRecord {
                needs: e.needs.clone(),
                consent_to_share: e.consent_to_share,
                recorded: stamp,
                last_review: None,
            });
        }
        E::AisNeedsReviewed(_) => {
            if let Some(ais) = &mut p.ais {
                ais.last_review = Some(stamp);
            }
        }
        E::AccessGranted(e) => {
            p.grants.insert(
                e.grant_id.clone(),
                Grant {
                    grantee: e.grantee.clone(),
                    categories: e.categories.clone(),
                    purpose: e.purpose,
                    expires_at_us: e.expires_at_us,
                    decided_by: e.decided_by.clone(),
                    basis: e.basis,
                    granted: stamp,
                    revoked: None,
                },
            );
        }
        E::AccessRevoked(e) => {
            if let Some(g) = p.grants.get_mut(&e.grant_id) {
                g.revoked = Some(stamp);
            }
        }
        E::SharingConsentRecorded(e) => {
            p.sharing.insert(
                e.partner_id.clone(),
                SharingConsent {
                    categories: e.categories.clone(),
                    given: e.given,
                    decided_by: e.decided_by.clone(),
                    stamp,
                },
            );
        }
        E::HandoverSent(_) => p.counts.handovers_sent += 1,
        E::HandoverReceived(_) => p.counts.handovers_received += 1,
        E::RecordAccessed(_) => {
            p.counts.reads += 1;
            p.last_access = Some(stamp);
        }
        E::AccessRefused(_) => p.counts.refusals += 1,
        E::EmergencyAccess(e) => push_recent(
            &mut p.emergencies,
            Emergency {
                principal: meta.actor.to_string(),
                role: e.role,
                reason: e.reason.clone(),
                categories: e.categories.clone(),
                expires_at_us: e.expires_at_us,
                stamp,
            },
        ),
        _ => {}
    }
}

/// Records a document sent or placed in a format the person's AIS needs do not include.
fn note_format(p: &mut PersonState, document: Document, format: Format, stamp: Stamp) {
    let needed = p.needed_formats();
    if !needed.is_empty() && !needed.contains(&format) {
        push_recent(
            &mut p.format_mismatches,
            FormatMismatch {
                document,
                sent: format,
                needed,
                stamp,
            },
        );
    }
}

/// Keeps the newest [`RECENT_MAX`] entries.
fn push_recent<T>(list: &mut Vec<T>, item: T) {
    if list.len() >= RECENT_MAX {
        list.remove(0);
    }
    list.push(item);
}
