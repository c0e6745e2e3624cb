//! Builders shared by the care tests: envelope metadata, event values, an in-memory log
//! (`Ledger`) and a small home-care fixture (staff, a person with a care plan and a MAR,
//! representatives, a partner).
//!
//! Each test file compiles this module on its own and uses a different part of it.
#![allow(dead_code)]

use careledger_care::event::*;
use careledger_care::*;
use chrono::NaiveDate;

/// 2026-03-02T09:00:00Z, in microseconds: every fixture starts here.
pub const BASE_US: TimeUs = 1_772_442_000 * 1_000_000;

/// 2025-01-06T09:00:00Z: where the tests that time each event themselves
/// (`Ledger::try_at`) start.
pub const T0: TimeUs = 1_736_154_000_000_000;

pub const CW: &str = "staff-cw";
pub const RM: &str = "staff-rm";
pub const PERSON: &str = "person-1";
/// Registered, care not started.
pub const WAITING: &str = "person-2";
/// Registered, care started and ended.
pub const ENDED: &str = "person-3";
/// A health and welfare attorney, evidence seen.
pub const LPA: &str = "rep-lpa";
/// A daughter: family, no legal authority, may add her own entries.
pub const FAMILY: &str = "rep-family";
/// The district nurse team; secure email agreed.
pub const PARTNER: &str = "partner-dn";
/// Paracetamol, at least 4 hours between doses.
pub const MED: &str = "med-paracetamol";
pub const MED_INTERVAL_MINUTES: u32 = 240;

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

pub fn meta<'a>(
    seq: u64,
    recorded_at_us: TimeUs,
    occurred_at_us: TimeUs,
    actor: &'a str,
    subject: Option<&'a str>,
) -> Meta<'a> {
    Meta {
        seq,
        recorded_at_us,
        occurred_at_us,
        actor,
        subject,
    }
}

/// An envelope's metadata with owned strings, to keep in a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedMeta {
    pub seq: u64,
    pub recorded_at_us: TimeUs,
    pub occurred_at_us: TimeUs,
    pub actor: String,
    pub subject: Option<String>,
}

impl OwnedMeta {
    pub fn meta(&self) -> Meta<'_> {
        meta(
            self.seq,
            self.recorded_at_us,
            self.occurred_at_us,
            &self.actor,
            self.subject.as_deref(),
        )
    }
}

/// Replays `history` into an empty state.
pub fn replay_all(history: &[(OwnedMeta, CareEvent)]) -> State {
    let mut state = State::new();
    for (m, e) in history {
        state.replay(&m.meta(), e);
    }
    state
}

// ------------------------------------------------------------------ event builders

pub fn staff(id: &str, role: Role) -> CareEvent {
    CareEvent::StaffRegistered(StaffRegistered {
        staff_id: id.into(),
        name: format!("Staff {id}"),
        role,
    })
}

pub fn person(name: &str) -> CareEvent {
    CareEvent::PersonRegistered(PersonRegistered {
        name: name.into(),
        date_of_birth: date(1938, 5, 17),
        nhs_number: Some("943 476 5919".into()),
        address: "4 Mill Lane, Ashby".into(),
        gp_practice: "Ashby Health Centre".into(),
        allergies: vec!["penicillin".into()],
    })
}

pub fn care_started() -> CareEvent {
    CareEvent::CareStarted(CareStarted {
        service: "home care, four visits a day".into(),
    })
}

pub fn care_ended(reason: &str) -> CareEvent {
    CareEvent::CareEnded(CareEnded {
        reason: reason.into(),
    })
}

pub fn representative(
    id: &str,
    relationship: Relationship,
    evidence: Option<&str>,
    may_contribute: bool,
) -> CareEvent {
    CareEvent::RepresentativeLinked(RepresentativeLinked {
        representative_id: id.into(),
        name: format!("Representative {id}"),
        relationship,
        evidence_of_authority: evidence.map(Into::into),
        may_contribute,
    })
}

pub fn partner(id: &str, channel: Channel) -> CareEvent {
    CareEvent::PartnerRegistered(PartnerRegistered {
        partner_id: id.into(),
        name: "Ashby district nurses".into(),
        agreed_channel: channel,
        contact: "ashby.dn@nhs.example".into(),
    })
}

pub fn sections() -> PlanSections {
    PlanSections {
        about_me: "Retired teacher; likes the radio on in the morning.".into(),
        needs: vec!["help with washing and dressing".into()],
        goals: vec!["walk to the garden gate".into()],
        actions: vec!["morning visit: wash, dress, breakfast".into()],
        risks: vec!["falls".into()],
        contingency_plan: "If no visit by 10:00, call the office.".into(),
        agreed_with: vec!["the person".into(), "daughter".into()],
        review_date: date(2026, 9, 1),
    }
}

pub fn plan(version: u32) -> CareEvent {
    CareEvent::CarePlanPublished(CarePlanPublished {
        version,
        sections: sections(),
    })
}

pub fn plan_reviewed(version: u32) -> CareEvent {
    CareEvent::CarePlanReviewed(CarePlanReviewed {
        version,
        reviewed_with: vec!["the person".into()],
        changes_needed: false,
        next_review_date: date(2027, 3, 1),
    })
}

pub fn medicine_added(id: &str, min_interval_minutes: u32) -> CareEvent {
    CareEvent::MedicineAdded(MedicineAdded {
        medicine_id: id.into(),
        name: "Paracetamol".into(),
        formulation: "tablet".into(),
        strength: "500 mg".into(),
        dose: "two tablets".into(),
        route: "oral".into(),
        frequency: "up to four times a day".into(),
        min_interval_minutes,
        as_required: true,
        prescriber: "Dr Patel".into(),
        stop_or_review_date: Some(date(2026, 6, 1)),
    })
}

pub fn medicine_stopped(id: &str) -> CareEvent {
    CareEvent::MedicineStopped(MedicineStopped {
        medicine_id: id.into(),
        reason: "GP stopped it".into(),
    })
}

pub fn given(id: &str) -> CareEvent {
    CareEvent::AdministrationRecorded(AdministrationRecorded {
        medicine_id: id.into(),
        outcome: AdministrationOutcome::Given,
        dose_given: Some("two tablets".into()),
        reason: None,
        witnessed_by: None,
    })
}

pub fn not_given(id: &str, outcome: AdministrationOutcome, reason: Option<&str>) -> CareEvent {
    CareEvent::AdministrationRecorded(AdministrationRecorded {
        medicine_id: id.into(),
        outcome,
        dose_given: None,
        reason: reason.map(Into::into),
        witnessed_by: None,
    })
}

pub fn visit_started(id: &str) -> CareEvent {
    CareEvent::VisitStarted(VisitStarted {
        visit_id: id.into(),
    })
}

pub fn visit_completed(id: &str) -> CareEvent {
    CareEvent::VisitCompleted(VisitCompleted {
        visit_id: id.into(),
    })
}

pub fn task(visit: Option<&str>, outcome: TaskOutcome) -> CareEvent {
    CareEvent::TaskRecorded(TaskRecorded {
        visit_id: visit.map(Into::into),
        task: "breakfast".into(),
        outcome,
    })
}

pub fn diary(author: Author, text: &str) -> CareEvent {
    CareEvent::DiaryNote(DiaryNote {
        author,
        text: text.into(),
    })
}

pub fn incident(description: &str) -> CareEvent {
    CareEvent::Incident(Incident {
        category: "fall".into(),
        description: description.into(),
        severity: Severity::Moderate,
    })
}

pub fn observation(value: &str) -> CareEvent {
    CareEvent::Observation(Observation {
        measure: "temperature".into(),
        value: value.into(),
        unit: "°C".into(),
    })
}

pub fn choices(explained: &[InfoOption], chosen: &[InfoOption]) -> CareEvent {
    CareEvent::ChoicesDiscussed(ChoicesDiscussed {
        present: vec!["the person".into(), "registered manager".into()],
        options_explained: explained.to_vec(),
        chosen: chosen.to_vec(),
        told_access_is_free: true,
        notes: String::new(),
    })
}

/// A paper copy in standard print.
pub fn paper_placed(document: Document, version: Option<u32>) -> CareEvent {
    paper_copy(document, version, Format::StandardPrint)
}

pub fn paper_copy(document: Document, version: Option<u32>, format: Format) -> CareEvent {
    CareEvent::PaperCopyPlaced(PaperCopyPlaced {
        document,
        version,
        format,
        digest: None,
    })
}

/// Version `version` of the Service User Guide, of two sections.
pub fn guide(version: u32) -> CareEvent {
    CareEvent::GuidePublished(GuidePublished {
        version,
        title: "Service User Guide".into(),
        sections: vec![
            GuideSection {
                heading: "About us".into(),
                body: format!("Version {version} of what we do."),
            },
            GuideSection {
                heading: "Complaints".into(),
                body: "Call the office.".into(),
            },
        ],
    })
}

pub fn paper_declined(by: &str) -> CareEvent {
    CareEvent::PaperCopiesDeclined(PaperCopiesDeclined {
        declined_by: by.into(),
        statement: "I don't want papers lying about the house.".into(),
    })
}

/// Care plan version 1 in large print, sent to `to` as a link.
pub fn emailed(to: &str) -> CareEvent {
    secure_email(Document::CarePlan, Some(1), Format::LargePrint, to)
}

pub fn secure_email(
    document: Document,
    version: Option<u32>,
    format: Format,
    to: &str,
) -> CareEvent {
    CareEvent::SecureEmailDelivered(SecureEmailDelivered {
        document,
        version,
        format,
        to: to.into(),
        as_link: true,
        digest: None,
        message_id: None,
        relay_answer: None,
    })
}

/// `holder`'s email address recorded (or removed, with `None`).
pub fn email_address(holder: &str, address: Option<&str>) -> CareEvent {
    CareEvent::EmailAddressRecorded(EmailAddressRecorded {
        holder: holder.into(),
        address: address.map(Into::into),
    })
}

pub fn ais(needs: Vec<AisNeed>) -> CareEvent {
    CareEvent::AisNeedsRecorded(AisNeedsRecorded {
        needs,
        consent_to_share: true,
    })
}

pub fn ais_reviewed() -> CareEvent {
    CareEvent::AisNeedsReviewed(AisNeedsReviewed {
        still_accurate: true,
        next_review_date: date(2027, 3, 1),
    })
}

pub fn grant(
    id: &str,
    grantee: Grantee,
    categories: &[Category],
    decided_by: &str,
    basis: CapacityBasis,
) -> AccessGranted {
    AccessGranted {
        grant_id: id.into(),
        grantee,
        categories: categories.to_vec(),
        purpose: Purpose::PersonalAccess,
        expires_at_us: None,
        decided_by: decided_by.into(),
        basis,
    }
}

pub fn revoke(id: &str, decided_by: &str, basis: CapacityBasis) -> CareEvent {
    CareEvent::AccessRevoked(AccessRevoked {
        grant_id: id.into(),
        decided_by: decided_by.into(),
        basis,
    })
}

pub fn sharing(
    partner: &str,
    categories: &[Category],
    given: bool,
    decided_by: &str,
    basis: CapacityBasis,
) -> CareEvent {
    CareEvent::SharingConsentRecorded(SharingConsentRecorded {
        partner_id: partner.into(),
        categories: categories.to_vec(),
        given,
        decided_by: decided_by.into(),
        basis,
    })
}

pub fn handover(partner: &str, categories: &[Category], channel: Channel) -> CareEvent {
    CareEvent::HandoverSent(HandoverSent {
        partner_id: partner.into(),
        categories: categories.to_vec(),
        summary: "medicines list after the GP review".into(),
        channel,
    })
}

pub fn handover_received(partner: &str) -> CareEvent {
    CareEvent::HandoverReceived(HandoverReceived {
        partner_id: partner.into(),
        summary: "dressing changed on the left leg".into(),
        channel: Channel::SecureEmail,
    })
}

pub fn read(role: Role, categories: &[Category], purpose: Purpose) -> CareEvent {
    CareEvent::RecordAccessed(RecordAccessed {
        role,
        categories: categories.to_vec(),
        purpose,
        items: 3,
        basis: Vec::new(),
    })
}

/// A read that records the basis of each category.
pub fn read_on(role: Role, basis: &[(Category, Basis)], purpose: Purpose) -> CareEvent {
    CareEvent::RecordAccessed(RecordAccessed {
        role,
        categories: basis.iter().map(|(c, _)| *c).collect(),
        purpose,
        items: 1,
        basis: basis
            .iter()
            .map(|(category, basis)| AccessBasis {
                category: *category,
                basis: basis.clone(),
            })
            .collect(),
    })
}

pub fn refused_read(reason: &str) -> CareEvent {
    CareEvent::AccessRefused(AccessRefused {
        role: Role::Representative,
        categories: vec![Category::Medicines],
        purpose: Purpose::PersonalAccess,
        reason: reason.into(),
    })
}

pub fn emergency(categories: &[Category], expires_at_us: TimeUs) -> CareEvent {
    CareEvent::EmergencyAccess(EmergencyAccess {
        role: Role::EmergencyClinician,
        reason: "collapsed; paramedic needs the medicines list".into(),
        categories: categories.to_vec(),
        expires_at_us,
    })
}

/// A council request from `officer-jones` for the care plan and consent records.
pub fn request(id: &str, people: &[&str], received_at_us: TimeUs, due_at_us: TimeUs) -> CareEvent {
    request_from(
        id,
        "officer-jones",
        people,
        &[Category::CarePlan, Category::ConsentRecords],
        received_at_us,
        due_at_us,
    )
}

pub fn request_from(
    id: &str,
    requester: &str,
    people: &[&str],
    categories: &[Category],
    received_at_us: TimeUs,
    due_at_us: TimeUs,
) -> CareEvent {
    CareEvent::RequestReceived(RequestReceived {
        request_id: id.into(),
        requester: requester.into(),
        organisation: "Shire County Council".into(),
        people: people.iter().map(|p| p.to_string()).collect(),
        categories: categories.to_vec(),
        description: "Care plan and consent evidence for the annual review".into(),
        received_at_us,
        due_at_us,
    })
}

pub fn acknowledged(id: &str) -> CareEvent {
    CareEvent::RequestAcknowledged(RequestAcknowledged {
        request_id: id.into(),
    })
}

pub fn responded(id: &str) -> CareEvent {
    CareEvent::RequestResponded(RequestResponded {
        request_id: id.into(),
        digest: [7; 32],
        channel: Channel::SecureEmail,
        items: 2,
    })
}

pub fn withdrawn(id: &str, reason: &str) -> CareEvent {
    CareEvent::RequestWithdrawn(RequestWithdrawn {
        request_id: id.into(),
        reason: reason.into(),
    })
}

pub fn sla_warning(id: &str, due_at_us: TimeUs) -> CareEvent {
    CareEvent::SlaWarning(SlaWarning {
        request_id: id.into(),
        due_at_us,
    })
}

pub fn sla_breached(id: &str, due_at_us: TimeUs) -> CareEvent {
    CareEvent::SlaBreached(SlaBreached {
        request_id: id.into(),
        due_at_us,
    })
}

pub fn outage_declared(id: &str) -> CareEvent {
    CareEvent::OutageDeclared(OutageDeclared {
        outage_id: id.into(),
        reason: "broadband down at the office".into(),
    })
}

pub fn outage_ended(id: &str) -> CareEvent {
    CareEvent::OutageEnded(OutageEnded {
        outage_id: id.into(),
    })
}

pub fn back_entered(outage: &str, entry: CareEvent) -> CareEvent {
    CareEvent::BackEntered(BackEntered {
        outage_id: outage.into(),
        paper_reference: "diary sheet 14, kept in the office".into(),
        entry: Box::new(entry),
    })
}

// ------------------------------------------------------------------ the fixture

/// An in-memory log: a state with a clock that keeps what it accepted. `try_apply`/`ok`
/// record events one minute apart on the clock; `try_at`/`at` record each at the time given.
/// Sequence numbers start at 1 and only accepted events take one.
#[derive(Clone)]
pub struct Ledger {
    pub state: State,
    /// The next sequence number.
    pub seq: u64,
    /// The ledger's clock (recorded-at of the next event).
    pub now: TimeUs,
    pub history: Vec<(OwnedMeta, CareEvent)>,
}

impl Default for Ledger {
    fn default() -> Self {
        Self::new()
    }
}

impl Ledger {
    pub fn new() -> Self {
        Ledger {
            state: State::new(),
            seq: 1,
            now: BASE_US,
            history: Vec::new(),
        }
    }

    pub fn advance(&mut self, us: i64) {
        self.now += us;
    }

    /// Applies `event` with the next seq and these times; on success keeps it and returns
    /// its seq.
    fn record(
        &mut self,
        recorded_at_us: TimeUs,
        occurred_at_us: TimeUs,
        actor: &str,
        subject: Option<&str>,
        event: &CareEvent,
    ) -> Result<u64, RuleError> {
        let m = OwnedMeta {
            seq: self.seq,
            recorded_at_us,
            occurred_at_us,
            actor: actor.into(),
            subject: subject.map(Into::into),
        };
        self.state.apply(&m.meta(), event)?;
        self.history.push((m, event.clone()));
        self.seq += 1;
        Ok(self.seq - 1)
    }

    /// Applies `event`, recorded now and occurred at `occurred_at_us`; on success the seq
    /// and the clock move on.
    pub fn try_apply_at(
        &mut self,
        actor: &str,
        subject: Option<&str>,
        occurred_at_us: TimeUs,
        event: &CareEvent,
    ) -> Result<(), RuleError> {
        self.record(self.now, occurred_at_us, actor, subject, event)?;
        self.now += MINUTE_US;
        Ok(())
    }

    /// Applies `event` recorded and occurred at `at`, leaving the clock alone; returns the
    /// event's seq.
    pub fn try_at(
        &mut self,
        at: TimeUs,
        actor: &str,
        subject: Option<&str>,
        event: &CareEvent,
    ) -> Result<u64, RuleError> {
        self.record(at, at, actor, subject, event)
    }

    /// `try_at` for an event that must be accepted; returns its seq.
    #[track_caller]
    pub fn at(&mut self, at: TimeUs, actor: &str, subject: Option<&str>, event: CareEvent) -> u64 {
        match self.try_at(at, actor, subject, &event) {
            Ok(seq) => seq,
            Err(e) => panic!("{} by {actor} was refused: {e}", event.kind()),
        }
    }

    /// The ledger rebuilt from its history with the rules checked again, as a restarted
    /// service would.
    #[track_caller]
    pub fn rebuilt(&self) -> Ledger {
        let mut state = State::new();
        for (m, e) in &self.history {
            if let Err(err) = state.apply(&m.meta(), e) {
                panic!("entry {} refused on rebuild: {err}", m.seq);
            }
        }
        Ledger {
            state,
            seq: self.seq,
            now: self.now,
            history: self.history.clone(),
        }
    }

    /// The state replayed from the history without checks.
    pub fn replayed(&self) -> State {
        replay_all(&self.history)
    }

    pub fn try_apply(
        &mut self,
        actor: &str,
        subject: Option<&str>,
        event: &CareEvent,
    ) -> Result<(), RuleError> {
        self.try_apply_at(actor, subject, self.now, event)
    }

    /// Applies an event that must be accepted (fixture set-up).
    #[track_caller]
    pub fn ok(&mut self, actor: &str, subject: Option<&str>, event: CareEvent) {
        if let Err(e) = self.try_apply(actor, subject, &event) {
            panic!("set-up event {} was refused: {e}", event.kind());
        }
    }

    /// Applies an event about `PERSON` by the registered manager.
    #[track_caller]
    pub fn ok_person(&mut self, event: CareEvent) {
        self.ok(RM, Some(PERSON), event);
    }

    /// Applies an organisation event by the registered manager.
    #[track_caller]
    pub fn ok_org(&mut self, event: CareEvent) {
        self.ok(RM, None, event);
    }

    /// The home-care fixture:
    /// - staff `staff-rm` (registered manager) and `staff-cw` (care worker);
    /// - partner `partner-dn` (district nurses, secure email agreed);
    /// - `person-1`: care started, care plan v1, paracetamol on the MAR (4 hours apart),
    ///   an LPA attorney with evidence, a family member who may contribute, consent to
    ///   share medicines and the care plan with the district nurses;
    /// - `person-2`: registered, care not started;
    /// - `person-3`: care started and ended.
    pub fn fixture() -> Self {
        let mut l = Ledger::new();
        l.ok_org(staff(RM, Role::RegisteredManager));
        l.ok_org(staff(CW, Role::CareWorker));
        l.ok_org(partner(PARTNER, Channel::SecureEmail));
        l.ok_person(person("Edith Clarke"));
        l.ok_person(care_started());
        l.ok_person(plan(1));
        l.ok_person(medicine_added(MED, MED_INTERVAL_MINUTES));
        l.ok_person(representative(
            LPA,
            Relationship::LpaHealthWelfare,
            Some("LPA registration 7000-1234-5678"),
            false,
        ));
        l.ok_person(representative(FAMILY, Relationship::Family, None, true));
        l.ok_person(sharing(
            PARTNER,
            &[Category::Medicines, Category::CarePlan],
            true,
            PERSON,
            CapacityBasis::PersonHasCapacity,
        ));
        l.ok(RM, Some(WAITING), person("Arthur Bell"));
        l.ok(RM, Some(ENDED), person("Mary Shaw"));
        l.ok(RM, Some(ENDED), care_started());
        l.ok(RM, Some(ENDED), care_ended("moved to a care home"));
        l
    }
}

/// The fixture as a state and the next sequence number.
pub fn fixture() -> (State, u64) {
    let l = Ledger::fixture();
    (l.state, l.seq)
}
