//! The first day of a person's care: registration, representative and grant, the first
//! care plan, medicines, AIS needs, the information choices discussion, paper copies in the
//! home and sharing with the district nurses.

use careledger_care::event::*;
use careledger_care::types::*;
use careledger_care::CareEvent;
use chrono::NaiveDate;

use crate::day::PersonDay;
use crate::reviews::{care_plan, choices_discussed};
use crate::world::{
    date, hours, nhs_number, COORDINATOR, DISTRICT_NURSES, FIRST, LAST, MANAGER, MEDS,
};

impl PersonDay<'_> {
    /// The first day of care, from 09:00; the first steps are a minute apart, the paperwork
    /// an hour later.
    pub(crate) fn admission(&mut self) {
        let p = self.person;
        let t = self.day_us + hours(9);
        self.registered(t);
        if let Some((rep, rel)) = &p.rep {
            self.representative_linked(t, rep, *rel);
            if p.family_grant && *rel == Relationship::Family {
                self.family_granted(t, rep);
            }
        }
        self.first_plan(t);
        self.medicines_added(t);
        if let Some(format) = p.format {
            self.ais_needs_recorded(t, format);
        }
        let t = t + hours(1);
        if p.discusses {
            self.about(COORDINATOR, t, choices_discussed(p));
        }
        if p.emails {
            // Where their documents go by secure email.
            self.about(
                COORDINATOR,
                t,
                CareEvent::EmailAddressRecorded(careledger_care::event::EmailAddressRecorded {
                    holder: p.id.clone(),
                    address: Some(email_address(p)),
                }),
            );
        }
        if p.declines_paper {
            self.paper_declined(t);
        } else if self.rng.chance(900) {
            self.paper_copies_placed(t);
        }
        if !p.meds.is_empty() && self.rng.chance(900) {
            self.paper_mar_placed(t);
        }
        if self.rng.chance(300) {
            self.shared_with_district_nurses(t);
        }
    }

    /// Registered and started on care. Draws the name, date of birth, allergies and NHS
    /// number, in that order.
    fn registered(&mut self, t: i64) {
        let rng = &mut *self.rng;
        let name = format!("{} {}", rng.pick(&FIRST), rng.pick(&LAST));
        let dob = NaiveDate::from_ymd_opt(
            1930 + rng.below(30) as i32,
            1 + rng.below(12) as u32,
            1 + rng.below(28) as u32,
        )
        .expect("valid date");
        let allergies = match rng.below(10) {
            0..=2 => vec!["penicillin".to_string()],
            3 => vec!["latex".to_string()],
            _ => vec![],
        };
        let nhs = rng.chance(950).then(|| nhs_number(rng));
        let address = format!("{} Mill Lane, Hertford", 1 + self.i);
        self.about(
            MANAGER,
            t,
            CareEvent::PersonRegistered(PersonRegistered {
                name,
                date_of_birth: dob,
                nhs_number: nhs,
                address,
                gp_practice: "Riverside Surgery".into(),
                allergies,
            }),
        );
        self.about(
            MANAGER,
            t + MINUTE_US,
            CareEvent::CareStarted(CareStarted {
                service: "home care".into(),
            }),
        );
    }

    fn representative_linked(&mut self, t: i64, rep: &str, rel: Relationship) {
        let evidence = rel
            .has_legal_authority()
            .then(|| format!("OPG registration 7000-{:04}-{:04}", self.i, self.d));
        self.about(
            MANAGER,
            t + 2 * MINUTE_US,
            CareEvent::RepresentativeLinked(RepresentativeLinked {
                representative_id: rep.into(),
                name: "Family member".into(),
                relationship: rel,
                evidence_of_authority: evidence,
                may_contribute: true,
            }),
        );
    }

    /// The person grants their family representative the daily notes and the care plan.
    fn family_granted(&mut self, t: i64, rep: &str) {
        let p = self.person;
        self.about(
            MANAGER,
            t + 3 * MINUTE_US,
            CareEvent::AccessGranted(AccessGranted {
                grant_id: format!("grant-{:04}-family", self.i),
                grantee: Grantee::Principal(rep.into()),
                categories: vec![Category::DailyNotes, Category::CarePlan],
                purpose: Purpose::PersonalAccess,
                expires_at_us: None,
                decided_by: p.id.clone(),
                basis: CapacityBasis::PersonHasCapacity,
            }),
        );
    }

    /// Version 1 of the care plan, to be reviewed in 90 days.
    fn first_plan(&mut self, t: i64) {
        let review = date(self.day_us + 90 * DAY_US);
        self.record.plan_version = 1;
        let plan = care_plan(self.person, 1, review);
        self.about(COORDINATOR, t + 4 * MINUTE_US, plan);
    }

    /// Each of the person's medicines, a minute apart; the MAR's revision is their number.
    fn medicines_added(&mut self, t: i64) {
        let p = self.person;
        for (k, &m) in p.meds.iter().enumerate() {
            let med = &MEDS[m];
            self.about(
                COORDINATOR,
                t + (5 + k as i64) * MINUTE_US,
                CareEvent::MedicineAdded(MedicineAdded {
                    medicine_id: med.id.into(),
                    name: med.name.into(),
                    formulation: med.formulation.into(),
                    strength: med.strength.into(),
                    dose: med.dose.into(),
                    route: "oral".into(),
                    frequency: med
                        .hours
                        .iter()
                        .map(|h| format!("{h:02}:00"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    min_interval_minutes: med.interval_minutes,
                    as_required: false,
                    prescriber: "Dr A Patel, Riverside Surgery".into(),
                    stop_or_review_date: None,
                }),
            );
        }
        self.record.mar_revision = p.meds.len() as u32;
    }

    fn ais_needs_recorded(&mut self, t: i64, f: Format) {
        let needs = match f {
            Format::EasyRead => vec![
                AisNeed::InformationFormat(f),
                AisNeed::CommunicationSupport(CommunicationSupport::NeedsMoreTime),
            ],
            Format::Braille => vec![
                AisNeed::InformationFormat(f),
                AisNeed::ContactMethod(ContactMethod::Telephone),
            ],
            _ => vec![AisNeed::InformationFormat(f)],
        };
        self.about(
            COORDINATOR,
            t + 15 * MINUTE_US,
            CareEvent::AisNeedsRecorded(AisNeedsRecorded {
                needs,
                consent_to_share: true,
            }),
        );
    }

    fn paper_declined(&mut self, t: i64) {
        let p = self.person;
        self.about(
            COORDINATOR,
            t + MINUTE_US,
            CareEvent::PaperCopiesDeclined(PaperCopiesDeclined {
                declined_by: p.id.clone(),
                statement: "I don't want papers lying around; my daughter reads it on the portal."
                    .into(),
            }),
        );
    }

    /// The service user guide and the care plan on paper in the home. Some go out in
    /// standard print despite a recorded format (R2).
    fn paper_copies_placed(&mut self, t: i64) {
        let format = match self.person.format {
            Some(f) if self.rng.chance(800) => f,
            _ => Format::StandardPrint,
        };
        self.about(
            COORDINATOR,
            t + 2 * MINUTE_US,
            CareEvent::PaperCopyPlaced(PaperCopyPlaced {
                document: Document::ServiceUserGuide,
                version: Some(1),
                format,
                digest: None,
            }),
        );
        self.about(
            COORDINATOR,
            t + 3 * MINUTE_US,
            CareEvent::PaperCopyPlaced(PaperCopyPlaced {
                document: Document::CarePlan,
                version: Some(1),
                format,
                digest: None,
            }),
        );
    }

    fn paper_mar_placed(&mut self, t: i64) {
        let version = Some(self.record.mar_revision);
        let format = self.person.format.unwrap_or(Format::StandardPrint);
        self.about(
            COORDINATOR,
            t + 4 * MINUTE_US,
            CareEvent::PaperCopyPlaced(PaperCopyPlaced {
                document: Document::Mar,
                version,
                format,
                digest: None,
            }),
        );
    }

    /// Consent to share with the district nurses, and a handover to them.
    fn shared_with_district_nurses(&mut self, t: i64) {
        let p = self.person;
        self.about(
            COORDINATOR,
            t + 5 * MINUTE_US,
            CareEvent::SharingConsentRecorded(SharingConsentRecorded {
                partner_id: DISTRICT_NURSES.into(),
                categories: vec![
                    Category::Medicines,
                    Category::CarePlan,
                    Category::HealthObservations,
                ],
                given: true,
                decided_by: p.id.clone(),
                basis: CapacityBasis::PersonHasCapacity,
            }),
        );
        self.about(
            COORDINATOR,
            t + 6 * MINUTE_US,
            CareEvent::HandoverSent(HandoverSent {
                partner_id: DISTRICT_NURSES.into(),
                categories: vec![Category::Medicines],
                summary: "current MAR and recent observations".into(),
                channel: Channel::SecureEmail,
            }),
        );
    }
}

/// The address a person who chose secure email has documents sent to.
pub(crate) fn email_address(p: &crate::world::Person) -> String {
    format!("{}@example.org", p.id)
}
