//! The projections ("what is true now"): the care state as keyed tables, what each kind of
//! event changes in it, and the bounds on every list it keeps.
//!
//! [`State::replay`] applies an event that is already in the log without checking it (it
//! was accepted under the rules of its day); [`State::apply`], in [`crate::rules`], checks
//! it against the rules first. Both are pure functions of (state, event); time is the
//! envelope's recorded-at.
//!
//! This module knows nothing of the rules, the access policy or the SLA clock: they read
//! the state, never the other way round.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::event::*;
use crate::table::{Table, Tracked};
use crate::types::*;

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
    pub(crate) fn of(meta: &Meta<'_>) -> Self {
        Stamp {
            seq: meta.seq,
            occurred_at_us: meta.occurred_at_us,
            recorded_at_us: meta.recorded_at_us,
        }
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
    /// BLAKE3 of the printed file, when careledger printed it.
    pub digest: Option<String>,
    pub stamp: Stamp,
}

/// The provider's current Service User Guide (older versions are in the log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guide {
    pub version: u32,
    pub title: String,
    pub sections: Vec<GuideSection>,
    pub published: Stamp,
    /// Who published it (the envelope's actor).
    pub published_by: String,
}

/// The key the current guide is kept under in [`State::guide`].
pub const GUIDE_KEY: &str = "current";

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
    /// Documents the service could not deliver by secure email.
    pub emails_failed: u64,
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
    /// Where documents go by secure email: the person's address and their
    /// representatives', by holder id, with the event that recorded each.
    pub email_addresses: BTreeMap<String, (String, Stamp)>,
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
    /// A person just registered: nothing projected yet but who they are.
    pub fn registered(details: &PersonRegistered, stamp: Stamp) -> Self {
        PersonState {
            details: details.clone(),
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
            email_addresses: BTreeMap::new(),
            format_mismatches: Vec::new(),
            grants: BTreeMap::new(),
            sharing: BTreeMap::new(),
            emergencies: Vec::new(),
            open_requests: BTreeSet::new(),
            last_access: None,
            counts: Counts::default(),
        }
    }

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

/// A user's browser sessions, as the ledger records them (`session.*` events). Failed
/// sign-ins are counted under the key `""` (the organisation's), never under the id typed,
/// so that guesses at ids cannot grow the table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sessions {
    /// Open sessions: the session's name (its hash's first 16 hex digits) and its sign-in.
    pub open: BTreeMap<String, Stamp>,
    pub last_signed_in: Option<Stamp>,
    pub signed_in: u64,
    pub failed: u64,
    pub last_failed: Option<Stamp>,
}

/// A break-glass access the registered manager has not reviewed yet (a finding until
/// `access.emergency_reviewed` names it). Kept by the access's sequence number; a review
/// removes it (the log keeps both).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreviewed {
    pub person: String,
    pub principal: String,
    pub role: Role,
    pub reason: String,
    pub stamp: Stamp,
}

/// The key of a break-glass access in [`State::unreviewed`]: its sequence number, padded
/// so that keys sort as numbers.
pub fn emergency_key(seq: u64) -> String {
    format!("{seq:020}")
}

/// How many days of findings [`State::daily`] keeps, newest first; an older day is
/// dropped when a new one is tallied.
pub const DAYS_TALLIED: usize = 400;

/// The findings open at the end of one day (midnight UTC), by rule id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayTally {
    pub by_rule: BTreeMap<String, u32>,
}

/// The key of a day in [`State::daily`]: `2026-12-01`, so that keys sort by date.
pub fn day_key(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

fn day_of(us: TimeUs) -> NaiveDate {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

/// Open sessions one user may have; the service signs the oldest out to make room.
pub const SESSIONS_PER_USER_MAX: usize = 16;

/// All projections. Persisted table by table, key by key (see [`Table`]).
#[derive(Debug, Clone)]
pub struct State {
    pub people: Table<PersonState>,
    pub staff: Table<StaffMember>,
    pub partners: Table<Partner>,
    pub requests: Table<CouncilRequest>,
    pub outages: Table<Outage>,
    pub sessions: Table<Sessions>,
    /// Break-glass accesses waiting for review, oldest first. Grows only with accesses
    /// nobody has reviewed, each of them a finding on the manager's page.
    pub unreviewed: Table<Unreviewed>,
    /// The findings open at the end of each day, for the findings-over-time chart: a day
    /// is tallied when the first event recorded after it arrives, from the state as that
    /// day left it (so a replay tallies the same), at most [`DAYS_TALLIED`] days.
    pub daily: Table<DayTally>,
    /// The day (UTC) of the last event applied, under the key `last`.
    pub last_day: Table<NaiveDate>,
    /// The provider's current Service User Guide, under [`GUIDE_KEY`].
    pub guide: Table<Guide>,
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
            sessions: Table::new(b'U'),
            unreviewed: Table::new(b'G'),
            daily: Table::new(b'T'),
            last_day: Table::new(b'D'),
            guide: Table::new(b'H'),
        }
    }

    pub fn person(&self, id: &str) -> Option<&PersonState> {
        self.people.get(id)
    }

    /// The provider's current Service User Guide, once one is published.
    pub fn current_guide(&self) -> Option<&Guide> {
        self.guide.get(GUIDE_KEY)
    }

    /// Whether `subject`'s lists, and the organisation's, are within their bounds.
    pub fn bounds_hold(&self, subject: Option<&str>) -> bool {
        let organisation = self.partners.len() <= PARTNERS_MAX;
        let person = subject.and_then(|s| self.people.get(s)).is_none_or(|p| {
            p.open_visits.len() <= OPEN_VISITS_MAX
                && p.grants.len() <= GRANTS_MAX
                && p.representatives.len() <= REPRESENTATIVES_MAX
                && p.medicines.values().filter(|m| m.stopped.is_none()).count()
                    <= ACTIVE_MEDICINES_MAX
                && p.medicines.len() <= MEDICINES_MAX
                && p.plan_versions.len() <= PLAN_VERSIONS_KEPT
                && p.emergencies.len() <= RECENT_MAX
                && p.format_mismatches.len() <= RECENT_MAX
                && p.open_requests.len() <= OPEN_REQUESTS_PER_PERSON_MAX
        });
        organisation && person
    }

    /// Every table, for what is done to all of them alike.
    fn tables(&self) -> [&dyn Tracked; 10] {
        [
            &self.people,
            &self.staff,
            &self.partners,
            &self.requests,
            &self.outages,
            &self.sessions,
            &self.unreviewed,
            &self.daily,
            &self.last_day,
            &self.guide,
        ]
    }

    fn tables_mut(&mut self) -> [&mut dyn Tracked; 10] {
        [
            &mut self.people,
            &mut self.staff,
            &mut self.partners,
            &mut self.requests,
            &mut self.outages,
            &mut self.sessions,
            &mut self.unreviewed,
            &mut self.daily,
            &mut self.last_day,
            &mut self.guide,
        ]
    }

    /// Tallies the findings at the end of each day from the last event's day up to (not
    /// including) the day of an event recorded at `recorded_at_us`, before it is applied.
    fn tally_days_before(&mut self, recorded_at_us: TimeUs) {
        let today = day_of(recorded_at_us);
        let last = self.last_day.get("last").copied();
        if last.is_some_and(|l| today <= l) {
            return;
        }
        // Persisted, and rolled back with the request like every table.
        self.last_day.insert("last", today);
        let Some(last) = last else { return };
        let days = (today - last).num_days().min(DAYS_TALLIED as i64);
        for back in (1..=days).rev() {
            let day = today - chrono::Duration::days(back);
            let end = day
                .succ_opt()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map_or(recorded_at_us, |t| t.and_utc().timestamp_micros())
                - 1;
            let mut by_rule = BTreeMap::new();
            for f in crate::findings::findings(self, end) {
                *by_rule.entry(f.rule.id().to_string()).or_insert(0) += 1;
            }
            self.daily.insert(&day_key(day), DayTally { by_rule });
        }
        while self.daily.len() > DAYS_TALLIED {
            let Some(oldest) = self.daily.iter().next().map(|(k, _)| k.clone()) else {
                break;
            };
            self.daily.remove(&oldest);
        }
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

    /// Applies an event from the log without checking it.
    pub fn replay(&mut self, meta: &Meta<'_>, event: &CareEvent) {
        self.mutate(meta, event);
    }

    pub(crate) fn mutate(&mut self, meta: &Meta<'_>, event: &CareEvent) {
        use CareEvent as E;
        self.tally_days_before(meta.recorded_at_us);
        let stamp = Stamp::of(meta);
        match event {
            E::PersonRegistered(e) => {
                if let Some(id) = meta.subject {
                    self.people.insert(id, PersonState::registered(e, stamp));
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
            E::RequestReceived(e) => self.request_received(e, stamp),
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
            E::GuidePublished(e) => self.guide.insert(
                GUIDE_KEY,
                Guide {
                    version: e.version,
                    title: e.title.clone(),
                    sections: e.sections.clone(),
                    published: stamp,
                    published_by: meta.actor.to_string(),
                },
            ),
            E::SignedIn(e) => {
                let mut user = self.sessions.get(meta.actor).cloned().unwrap_or_default();
                user.open.insert(e.session.clone(), stamp);
                user.last_signed_in = Some(stamp);
                user.signed_in += 1;
                self.sessions.insert(meta.actor, user);
            }
            E::SignedOut(e) => {
                if let Some(user) = self.sessions.get_mut(meta.actor) {
                    user.open.remove(&e.session);
                }
            }
            E::SignInFailed(_) => {
                let mut org = self.sessions.get("").cloned().unwrap_or_default();
                org.failed += 1;
                org.last_failed = Some(stamp);
                self.sessions.insert("", org);
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
            E::EmergencyReviewed(e) => {
                self.unreviewed.remove(&emergency_key(e.emergency_event));
            }
            other => {
                if let (E::EmergencyAccess(e), Some(person)) = (other, meta.subject) {
                    self.unreviewed.insert(
                        &emergency_key(stamp.seq),
                        Unreviewed {
                            person: person.to_string(),
                            principal: meta.actor.to_string(),
                            role: e.role,
                            reason: e.reason.clone(),
                            stamp,
                        },
                    );
                }
                if let Some(p) = person_mut(&mut self.people, meta) {
                    mutate_person(p, meta, stamp, other);
                }
            }
        }
    }

    /// A council request: open, and on the record of everyone it names.
    fn request_received(&mut self, e: &RequestReceived, stamp: Stamp) {
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
pub(crate) fn droppable_medicine(person: &PersonState, at_us: TimeUs) -> Option<String> {
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
        E::RepresentativeLinked(e) => on_representative_linked(p, stamp, e),
        E::CarePlanPublished(e) => on_care_plan_published(p, stamp, e),
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
        E::MedicineAdded(e) => on_medicine_added(p, meta, stamp, e),
        E::MedicineStopped(e) => {
            if let Some(m) = p.medicines.get_mut(&e.medicine_id) {
                m.stopped = Some(stamp);
            }
            p.mar_revision += 1;
            p.mar_changed = Some(stamp);
        }
        E::AdministrationRecorded(e) => on_administration_recorded(p, stamp, e),
        E::ChoicesDiscussed(e) => on_choices_discussed(p, stamp, e),
        E::PaperCopyPlaced(e) => on_paper_copy_placed(p, stamp, e),
        E::PaperCopiesDeclined(e) => p.paper_declined = Some((e.declined_by.clone(), stamp)),
        E::SecureEmailDelivered(e) => {
            p.counts.emails += 1;
            note_format(p, e.document, e.format, stamp);
        }
        E::SecureEmailFailed(_) => p.counts.emails_failed += 1,
        E::EmailAddressRecorded(e) => match &e.address {
            Some(a) => {
                p.email_addresses
                    .insert(e.holder.clone(), (a.trim().to_string(), stamp));
            }
            None => {
                p.email_addresses.remove(&e.holder);
            }
        },
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
        E::AccessGranted(e) => on_access_granted(p, stamp, e),
        E::AccessRevoked(e) => {
            if let Some(g) = p.grants.get_mut(&e.grant_id) {
                g.revoked = Some(stamp);
            }
        }
        E::SharingConsentRecorded(e) => on_sharing_consent_recorded(p, stamp, e),
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

/// What `RepresentativeLinked` changes in the person's projection.
fn on_representative_linked(p: &mut PersonState, stamp: Stamp, e: &RepresentativeLinked) {
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

/// What `CarePlanPublished` changes in the person's projection.
fn on_care_plan_published(p: &mut PersonState, stamp: Stamp, e: &CarePlanPublished) {
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

/// What `MedicineAdded` changes in the person's projection.
fn on_medicine_added(p: &mut PersonState, meta: &Meta<'_>, stamp: Stamp, e: &MedicineAdded) {
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

/// What `AdministrationRecorded` changes in the person's projection.
fn on_administration_recorded(p: &mut PersonState, stamp: Stamp, e: &AdministrationRecorded) {
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

/// What `ChoicesDiscussed` changes in the person's projection.
fn on_choices_discussed(p: &mut PersonState, stamp: Stamp, e: &ChoicesDiscussed) {
    p.counts.discussions += 1;
    p.last_discussion = Some(Discussion {
        present: e.present.clone(),
        options_explained: e.options_explained.clone(),
        chosen: e.chosen.clone(),
        told_access_is_free: e.told_access_is_free,
        stamp,
    });
}

/// What `PaperCopyPlaced` changes in the person's projection.
fn on_paper_copy_placed(p: &mut PersonState, stamp: Stamp, e: &PaperCopyPlaced) {
    p.paper.insert(
        e.document,
        PaperCopy {
            version: e.version,
            format: e.format,
            digest: e.digest.clone(),
            stamp,
        },
    );
    note_format(p, e.document, e.format, stamp);
}

/// What `AccessGranted` changes in the person's projection.
fn on_access_granted(p: &mut PersonState, stamp: Stamp, e: &AccessGranted) {
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

/// What `SharingConsentRecorded` changes in the person's projection.
fn on_sharing_consent_recorded(p: &mut PersonState, stamp: Stamp, e: &SharingConsentRecorded) {
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
