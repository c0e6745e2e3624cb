//! The rules that refuse bad events, before anything changes.
//!
//! [`State::apply`] checks an event against the state and, only if every rule passes,
//! applies it ([`State::mutate`]): a refused event changes nothing. What each field must be
//! whatever the state is [`crate::fields`], run first; what depends on the state or on
//! several fields is here.

use chrono::NaiveDate;

use crate::error::RuleError;
use crate::event::*;
use crate::policy::{self, Principal};
use crate::state::*;
use crate::types::*;

/// The longest an outage may be: back-entry is allowed only inside an outage, so this bounds
/// the span of the past one outage opens to entries written later. A longer one is declared
/// as several.
pub const OUTAGE_LENGTH_MAX_US: i64 = 31 * DAY_US;

/// How long before it is recorded an outage may be declared to have begun.
pub const OUTAGE_DECLARED_PAST_MAX_US: i64 = 366 * DAY_US;

/// How far in the future an occurred-at may be, against the ledger's clock.
pub const CLOCK_TOLERANCE_US: i64 = 5 * MINUTE_US;
/// Council requests are answered within 24 hours of receipt at the latest (R12).
pub const REQUEST_DUE_MAX_US: i64 = 24 * HOUR_US;
/// How long before it is recorded a request may have been received (a late back-entry of a
/// paper request is fine; a receipt time decades off is a mistake).
pub const REQUEST_RECEIVED_PAST_MAX_US: i64 = 366 * DAY_US;
/// Longest break-glass access.
pub const EMERGENCY_ACCESS_MAX_US: i64 = 12 * HOUR_US;

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

impl State {
    /// Checks `event` against every rule and applies it; a refused event changes nothing.
    pub fn apply(&mut self, meta: &Meta<'_>, event: &CareEvent) -> Result<(), RuleError> {
        self.check(meta, event)?;
        self.mutate(meta, event);
        // The pair of every bound the rules enforce: after an accepted event the lists it
        // can grow are within them. (Debug builds only: a ledger written before a bound
        // existed may hold more, and stays readable and writable.)
        debug_assert!(
            self.bounds_hold(meta.subject),
            "an accepted {} left a list past its bound",
            event.kind()
        );
        Ok(())
    }

    // ------------------------------------------------------------ rules

    /// Every rule for `event`, against the state before it.
    pub fn check(&self, meta: &Meta<'_>, event: &CareEvent) -> Result<(), RuleError> {
        if meta.occurred_at_us > meta.recorded_at_us + CLOCK_TOLERANCE_US {
            return Err(RuleError::InFuture {
                minutes: (meta.occurred_at_us - meta.recorded_at_us) / MINUTE_US,
            });
        }
        if meta.occurred_at_us < EARLIEST_OCCURRED_AT_US {
            return Err(RuleError::BeforeEarliest {
                limit: EARLIEST_OCCURRED_AT,
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
                before_birth(meta, p, state.details.date_of_birth)?;
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
        // Registration and care still active: what care events need. Consent, access and
        // paper events stay possible after care ends (records are kept and read for years).
        if needs_active_care(event) {
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
            E::RepresentativeLinked(e) => self.check_representative_linked(person_id, person, e)?,
            E::CarePlanPublished(e) => self.check_care_plan_published(person, e)?,
            E::CarePlanReviewed(e) => self.check_care_plan_reviewed(person_id, person, e)?,
            E::VisitStarted(e) => self.check_visit_started(meta, person, e)?,
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
            E::MedicineAdded(e) => self.check_medicine_added(meta, person, e)?,
            E::MedicineStopped(e) => {
                active_medicine(person_id, person, &e.medicine_id)?;
            }
            E::AdministrationRecorded(e) => {
                self.check_administration_recorded(meta, person_id, person, e)?
            }
            E::ChoicesDiscussed(e) => {
                if let Some(option) = e.chosen.iter().find(|o| !e.options_explained.contains(o)) {
                    return Err(RuleError::ChosenNotExplained { option: *option });
                }
            }
            E::PaperCopyPlaced(e) => self.check_paper_copy_placed(person_id, person, e)?,
            E::PaperCopiesDeclined(e) => self.check_paper_copies_declined(person_id, person, e)?,
            E::SecureEmailDelivered(_) | E::SecureEmailFailed(_) => {}
            E::EmailAddressRecorded(e) => {
                let known = e.holder == person_id || person.representatives.contains_key(&e.holder);
                if !known {
                    return Err(RuleError::UnknownEmailHolder {
                        holder: e.holder.clone(),
                        person: person_id.into(),
                    });
                }
                // A representative records their own address; staff and the person any.
                let by_other = meta.actor != person_id
                    && !self.staff.contains(meta.actor)
                    && meta.actor != e.holder;
                if by_other {
                    return Err(RuleError::NoAuthority {
                        who: meta.actor.into(),
                        person: person_id.into(),
                    });
                }
            }
            E::AisNeedsRecorded(e) => self.check_ais_needs_recorded(e)?,
            E::AisNeedsReviewed(_) => {
                if person.ais.is_none() {
                    return Err(RuleError::NoNeedsRecorded {
                        person: person_id.into(),
                    });
                }
            }
            E::AccessGranted(e) => self.check_access_granted(meta, person_id, person, e)?,
            E::AccessRevoked(e) => self.check_access_revoked(person_id, person, e)?,
            E::SharingConsentRecorded(e) => {
                self.check_sharing_consent_recorded(person_id, person, e)?
            }
            E::HandoverSent(e) => self.check_handover_sent(person_id, person, e)?,
            E::HandoverReceived(e) => {
                if !self.partners.contains(&e.partner_id) {
                    return Err(RuleError::UnknownPartner {
                        id: e.partner_id.clone(),
                    });
                }
            }
            E::RecordAccessed(e) => self.check_record_accessed(meta, person_id, e)?,
            E::EmergencyAccess(e) => self.check_emergency_access(meta, e)?,
            E::EmergencyReviewed(e) => {
                let waiting = self
                    .unreviewed
                    .get(&crate::state::emergency_key(e.emergency_event))
                    .filter(|u| u.person == person_id)
                    .ok_or_else(|| RuleError::NoEmergencyToReview {
                        person: person_id.into(),
                        event: e.emergency_event,
                    })?;
                if meta.occurred_at_us < waiting.stamp.occurred_at_us {
                    return Err(RuleError::ReviewBeforeAccess {
                        event: e.emergency_event,
                    });
                }
            }
            E::BackEntered(e) => self.check_back_entered(meta, person_id, person, e)?,
            E::StaffRegistered(_)
            | E::PartnerRegistered(_)
            | E::RequestReceived(_)
            | E::RequestAcknowledged(_)
            | E::RequestResponded(_)
            | E::RequestWithdrawn(_)
            | E::SlaWarning(_)
            | E::SlaBreached(_)
            | E::OutageDeclared(_)
            | E::OutageEnded(_)
            | E::GuidePublished(_)
            | E::SignedIn(_)
            | E::SignedOut(_)
            | E::SignInFailed(_) => unreachable!("organisation events are checked for scope first"),
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
            E::StaffRegistered(e) => self.check_staff_registered(e)?,
            E::PartnerRegistered(e) => self.check_partner_registered(e)?,
            E::RequestReceived(e) => self.check_request_received(meta, e)?,
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
            E::OutageDeclared(e) => self.check_outage_declared(meta, e)?,
            E::OutageEnded(e) => self.check_outage_ended(meta, e)?,
            E::GuidePublished(e) => {
                let current = self.current_guide().map_or(0, |g| g.version);
                if e.version != current + 1 {
                    return Err(RuleError::GuideVersionConflict {
                        given: e.version,
                        current,
                        expected: current + 1,
                    });
                }
            }
            // Who may sign in is the service's to decide (users live beside the ledger,
            // not in it); the rules keep each user's sessions consistent.
            E::SignedIn(e) => {
                let open = self.sessions.get(meta.actor).map(|u| &u.open);
                if open.is_some_and(|o| o.contains_key(&e.session)) {
                    return Err(RuleError::SessionOpen {
                        session: e.session.clone(),
                    });
                }
                let count = open.map_or(0, |o| o.len());
                if count >= crate::state::SESSIONS_PER_USER_MAX {
                    return Err(RuleError::record_full(
                        "open sessions of this user",
                        count + 1,
                        crate::state::SESSIONS_PER_USER_MAX,
                    ));
                }
            }
            E::SignedOut(e) => {
                let open = self.sessions.get(meta.actor);
                if !open.is_some_and(|u| u.open.contains_key(&e.session)) {
                    return Err(RuleError::NoSuchSession {
                        session: e.session.clone(),
                        user: meta.actor.to_string(),
                    });
                }
            }
            E::SignInFailed(_) => {}
            _ => unreachable!("person events are checked for scope first"),
        }
        Ok(())
    }

    /// The rules for `RepresentativeLinked`.
    fn check_representative_linked(
        &self,
        person_id: &str,
        person: &PersonState,
        e: &RepresentativeLinked,
    ) -> Result<(), RuleError> {
        if person.representatives.len() >= REPRESENTATIVES_MAX {
            return Err(RuleError::record_full(
                "representatives of this person",
                person.representatives.len() + 1,
                REPRESENTATIVES_MAX,
            ));
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
        Ok(())
    }

    /// The rules for `CarePlanPublished`.
    fn check_care_plan_published(
        &self,
        person: &PersonState,
        e: &CarePlanPublished,
    ) -> Result<(), RuleError> {
        let current = person.plan.as_ref().map_or(0, |p| p.version);
        if e.version != current + 1 {
            return Err(RuleError::PlanVersionConflict {
                given: e.version,
                current,
                expected: current + 1,
            });
        }
        Ok(())
    }

    /// The rules for `CarePlanReviewed`.
    fn check_care_plan_reviewed(
        &self,
        person_id: &str,
        person: &PersonState,
        e: &CarePlanReviewed,
    ) -> Result<(), RuleError> {
        let plan = person.plan.as_ref().ok_or_else(|| RuleError::NoPlan {
            person: person_id.into(),
        })?;
        if e.version != plan.version {
            return Err(RuleError::ReviewNotCurrent {
                given: e.version,
                current: plan.version,
            });
        }
        Ok(())
    }

    /// The rules for `VisitStarted`.
    fn check_visit_started(
        &self,
        meta: &Meta<'_>,
        person: &PersonState,
        e: &VisitStarted,
    ) -> Result<(), RuleError> {
        self.require_staff(meta.actor)?;
        if person.open_visits.len() >= OPEN_VISITS_MAX {
            return Err(RuleError::record_full(
                "visits in progress",
                person.open_visits.len() + 1,
                OPEN_VISITS_MAX,
            ));
        }
        if person.open_visits.contains_key(&e.visit_id) {
            return Err(RuleError::VisitOpen {
                id: e.visit_id.clone(),
            });
        }
        Ok(())
    }

    /// The rules for `MedicineAdded`.
    fn check_medicine_added(
        &self,
        meta: &Meta<'_>,
        person: &PersonState,
        e: &MedicineAdded,
    ) -> Result<(), RuleError> {
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
            return Err(RuleError::record_full(
                "current medicines (stop one first)",
                active + 1,
                ACTIVE_MEDICINES_MAX,
            ));
        }
        if person.medicines.len() >= MEDICINES_MAX
            && !person.medicines.contains_key(&e.medicine_id)
            && droppable_medicine(person, meta.occurred_at_us).is_none()
        {
            return Err(RuleError::record_full(
                "medicines on this record (none stopped long enough to drop)",
                person.medicines.len() + 1,
                MEDICINES_MAX,
            ));
        }
        Ok(())
    }

    /// The rules for `AdministrationRecorded`.
    fn check_administration_recorded(
        &self,
        meta: &Meta<'_>,
        person_id: &str,
        person: &PersonState,
        e: &AdministrationRecorded,
    ) -> Result<(), RuleError> {
        self.require_staff(meta.actor)?;
        let medicine = active_medicine(person_id, person, &e.medicine_id)?;
        match e.outcome {
            AdministrationOutcome::Given => {
                if e.dose_given.as_deref().is_none_or(|d| d.trim().is_empty()) {
                    return Err(RuleError::DoseRequired);
                }
                if let Some(last) = medicine.last_given {
                    let interval = i64::from(medicine.details.min_interval_minutes) * MINUTE_US;
                    // Either order: a dose back-entered before a later one is as unsafe.
                    if meta.occurred_at_us.abs_diff(last.occurred_at_us) < interval.unsigned_abs() {
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
        Ok(())
    }

    /// The rules for `PaperCopyPlaced`.
    fn check_paper_copy_placed(
        &self,
        person_id: &str,
        person: &PersonState,
        e: &PaperCopyPlaced,
    ) -> Result<(), RuleError> {
        if e.document == Document::CarePlan {
            let current = person.plan.as_ref().map(|p| p.version);
            if current.is_none() {
                return Err(RuleError::NoPlan {
                    person: person_id.into(),
                });
            }
        }
        // A copy of the guide names a version the provider published (or none, for a
        // guide printed outside careledger).
        if let (Document::ServiceUserGuide, Some(given)) = (e.document, e.version) {
            let current = self.current_guide().map_or(0, |g| g.version);
            if given == 0 || given > current {
                return Err(RuleError::UnknownGuideVersion { given, current });
            }
        }
        Ok(())
    }

    /// The rules for `PaperCopiesDeclined`.
    fn check_paper_copies_declined(
        &self,
        person_id: &str,
        person: &PersonState,
        e: &PaperCopiesDeclined,
    ) -> Result<(), RuleError> {
        // Declining is the person's choice, or their legal representative's.
        let basis = if e.declined_by == person_id {
            CapacityBasis::PersonHasCapacity
        } else {
            match person
                .representatives
                .get(&e.declined_by)
                .map(|r| r.relationship)
            {
                Some(Relationship::LpaHealthWelfare) => CapacityBasis::LastingPowerOfAttorney,
                _ => CapacityBasis::CourtDeputy,
            }
        };
        self.check_authority(person_id, person, &e.declined_by, basis)?;
        Ok(())
    }

    /// The rules for `AisNeedsRecorded`.
    fn check_ais_needs_recorded(&self, e: &AisNeedsRecorded) -> Result<(), RuleError> {
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
        Ok(())
    }

    /// The rules for `AccessGranted`.
    fn check_access_granted(
        &self,
        meta: &Meta<'_>,
        person_id: &str,
        person: &PersonState,
        e: &AccessGranted,
    ) -> Result<(), RuleError> {
        if person.grants.len() >= GRANTS_MAX {
            return Err(RuleError::record_full(
                "grants on this record",
                person.grants.len() + 1,
                GRANTS_MAX,
            ));
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
        Ok(())
    }

    /// The rules for `AccessRevoked`.
    fn check_access_revoked(
        &self,
        person_id: &str,
        person: &PersonState,
        e: &AccessRevoked,
    ) -> Result<(), RuleError> {
        let grant = person
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
        Ok(())
    }

    /// The rules for `SharingConsentRecorded`.
    fn check_sharing_consent_recorded(
        &self,
        person_id: &str,
        person: &PersonState,
        e: &SharingConsentRecorded,
    ) -> Result<(), RuleError> {
        if !self.partners.contains(&e.partner_id) {
            return Err(RuleError::UnknownPartner {
                id: e.partner_id.clone(),
            });
        }
        if e.given {
            require_list("categories", &e.categories)?;
        }
        self.check_authority(person_id, person, &e.decided_by, e.basis)?;
        Ok(())
    }

    /// The rules for `HandoverSent`.
    fn check_handover_sent(
        &self,
        person_id: &str,
        person: &PersonState,
        e: &HandoverSent,
    ) -> Result<(), RuleError> {
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
        Ok(())
    }

    /// The rules for `RecordAccessed`.
    fn check_record_accessed(
        &self,
        meta: &Meta<'_>,
        person_id: &str,
        e: &RecordAccessed,
    ) -> Result<(), RuleError> {
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
        Ok(())
    }

    /// The rules for `EmergencyAccess`.
    fn check_emergency_access(
        &self,
        meta: &Meta<'_>,
        e: &EmergencyAccess,
    ) -> Result<(), RuleError> {
        if let Some(c) = e.categories.iter().find(|c| **c != Category::Medicines) {
            return Err(RuleError::EmergencyCategory { category: c.name() });
        }
        if e.expires_at_us <= meta.occurred_at_us {
            return Err(RuleError::ExpiryInPast);
        }
        if e.expires_at_us.saturating_sub(meta.occurred_at_us) > EMERGENCY_ACCESS_MAX_US {
            return Err(RuleError::EmergencyTooLong);
        }
        Ok(())
    }

    /// The rules for `BackEntered`.
    fn check_back_entered(
        &self,
        meta: &Meta<'_>,
        person_id: &str,
        person: &PersonState,
        e: &BackEntered,
    ) -> Result<(), RuleError> {
        let outage = self
            .outages
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
            || matches!(
                *e.entry,
                CareEvent::BackEntered(_) | CareEvent::PersonRegistered(_)
            )
        {
            return Err(RuleError::NotBackEnterable);
        }
        self.check_person(meta, person_id, person, &e.entry)?;
        Ok(())
    }

    /// The rules for `StaffRegistered`.
    fn check_staff_registered(&self, e: &StaffRegistered) -> Result<(), RuleError> {
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
        Ok(())
    }

    /// The rules for `PartnerRegistered`.
    fn check_partner_registered(&self, e: &PartnerRegistered) -> Result<(), RuleError> {
        if self.partners.contains(&e.partner_id) {
            return Err(RuleError::PartnerExists {
                id: e.partner_id.clone(),
            });
        }
        if self.partners.len() >= PARTNERS_MAX {
            return Err(RuleError::record_full(
                "registered partners",
                self.partners.len() + 1,
                PARTNERS_MAX,
            ));
        }
        Ok(())
    }

    /// The rules for `RequestReceived`.
    fn check_request_received(
        &self,
        meta: &Meta<'_>,
        e: &RequestReceived,
    ) -> Result<(), RuleError> {
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
            return Err(RuleError::record_full(
                "open council requests naming one of these people (answer one first)",
                open + 1,
                OPEN_REQUESTS_PER_PERSON_MAX,
            ));
        }
        Ok(())
    }

    /// The rules for `OutageDeclared`.
    fn check_outage_declared(&self, meta: &Meta<'_>, e: &OutageDeclared) -> Result<(), RuleError> {
        // Back-entry is allowed inside an outage only, and an outage is at most
        // OUTAGE_LENGTH_MAX_US long; it may be declared after the fact (an import of a
        // past one), within the year that council requests may be recorded back to.
        if meta.occurred_at_us < meta.recorded_at_us - OUTAGE_DECLARED_PAST_MAX_US {
            return Err(RuleError::OutageLongAgo {
                days: OUTAGE_DECLARED_PAST_MAX_US / DAY_US,
            });
        }
        if self.outages.contains(&e.outage_id) {
            return Err(RuleError::OutageExists {
                id: e.outage_id.clone(),
            });
        }
        if let Some((open, _)) = self.outages.iter().find(|(_, o)| o.ended.is_none()) {
            return Err(RuleError::OutageOngoing { open: open.clone() });
        }
        Ok(())
    }

    /// The rules for `OutageEnded`.
    fn check_outage_ended(&self, meta: &Meta<'_>, e: &OutageEnded) -> Result<(), RuleError> {
        let outage = self
            .outages
            .get(&e.outage_id)
            .ok_or_else(|| RuleError::UnknownOutage {
                id: e.outage_id.clone(),
            })?;
        if outage.ended.is_some() {
            return Err(RuleError::OutageEnded {
                id: e.outage_id.clone(),
            });
        }
        if meta.occurred_at_us < outage.declared.occurred_at_us {
            return Err(RuleError::OutageEndsBeforeStart {
                id: e.outage_id.clone(),
            });
        }
        if meta.occurred_at_us - outage.declared.occurred_at_us > OUTAGE_LENGTH_MAX_US {
            return Err(RuleError::OutageTooLong {
                days: OUTAGE_LENGTH_MAX_US / DAY_US,
            });
        }
        Ok(())
    }
}

/// Whether `event` may be recorded only while the person is receiving care.
fn needs_active_care(event: &CareEvent) -> bool {
    use CareEvent as E;
    !matches!(
        event,
        E::CareStarted(_)
            | E::RepresentativeLinked(_)
            | E::AccessGranted(_)
            | E::AccessRevoked(_)
            | E::SharingConsentRecorded(_)
            | E::RecordAccessed(_)
            | E::AccessRefused(_)
            | E::EmergencyAccess(_)
            | E::EmergencyReviewed(_)
            | E::PaperCopiesDeclined(_)
            | E::SecureEmailDelivered(_)
            | E::SecureEmailFailed(_)
            | E::EmailAddressRecorded(_)
            | E::BackEntered(_)
    )
}

/// The earliest time an event may say it happened: nothing in a care record happened
/// before 1900, and a year 0000 or 1800 is a mistyped or defaulted date.
pub const EARLIEST_OCCURRED_AT: &str = "1900-01-01T00:00:00Z";
/// [`EARLIEST_OCCURRED_AT`] in microseconds since the Unix epoch.
pub const EARLIEST_OCCURRED_AT_US: i64 = -2_208_988_800_000_000;

/// Nothing about a person happens before the day they were born, counted from midnight UK
/// time at the start of that day (the clock of the home where it is recorded).
fn before_birth(meta: &Meta<'_>, person: &str, born: NaiveDate) -> Result<(), RuleError> {
    let start = crate::uk_time::start_of_day(born);
    if meta.occurred_at_us < start {
        return Err(RuleError::BeforeBirth {
            person: person.to_string(),
            born,
        });
    }
    Ok(())
}

fn check_registration(meta: &Meta<'_>, e: &PersonRegistered) -> Result<(), RuleError> {
    let today = chrono::DateTime::from_timestamp_micros(meta.recorded_at_us)
        .map(|t| t.date_naive())
        .unwrap_or(NaiveDate::MAX);
    if e.date_of_birth > today {
        return Err(RuleError::BirthInFuture(e.date_of_birth));
    }
    before_birth(meta, meta.subject.unwrap_or_default(), e.date_of_birth)
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
