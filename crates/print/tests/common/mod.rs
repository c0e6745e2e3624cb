//! A small home: one care worker, one manager, Joan Hill with a care plan, a regular and an
//! as-needed medicine, a fortnight of doses and diary notes. Built through the care rules
//! (`State::apply`), so every event is one the ledger would accept.
#![allow(dead_code)]

use careledger_care::event::*;
use careledger_care::*;
use careledger_print::{print, Checkpoint, Entry, Format, Kind, Period, Printed, Request};

pub const PERSON: &str = "person-1";
pub const CW: &str = "staff-cw01";
pub const RM: &str = "staff-rm01";
/// 2 November 2026, 08:00 UTC (GMT).
pub const BASE_US: i64 = 1_793_606_400_000_000;
pub const HOUR_US: i64 = 3_600_000_000;
pub const DAY_US: i64 = 24 * HOUR_US;

pub struct Home {
    pub state: State,
    pub entries: Vec<Entry>,
    pub seq: u64,
    pub now_us: i64,
}

impl Home {
    pub fn record(&mut self, actor: &str, subject: Option<&str>, at_us: i64, event: CareEvent) {
        let meta = Meta {
            seq: self.seq,
            recorded_at_us: at_us,
            occurred_at_us: at_us,
            actor,
            subject,
        };
        self.state
            .apply(&meta, &event)
            .unwrap_or_else(|e| panic!("{} refused: {e}", event.kind()));
        if subject == Some(PERSON) {
            self.entries.push(Entry {
                seq: self.seq,
                occurred_at_us: at_us,
                recorded_at_us: at_us,
                actor: actor.to_string(),
                event: Some(event),
            });
        }
        self.seq += 1;
        self.now_us = self.now_us.max(at_us);
    }

    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            origin: "care.example.org/ledger".into(),
            size: self.seq,
            root: [0x3f; 32],
            at_us: self.now_us,
        }
    }
}

pub fn medicine(id: &str, name: &str, as_required: bool) -> MedicineAdded {
    MedicineAdded {
        medicine_id: id.into(),
        name: name.into(),
        formulation: "tablet".into(),
        strength: if as_required {
            "500 mg".into()
        } else {
            "5 mg".into()
        },
        dose: if as_required {
            "1 to 2 tablets".into()
        } else {
            "1 tablet".into()
        },
        route: "oral".into(),
        frequency: if as_required {
            "up to 4 times a day when needed for pain".into()
        } else {
            "once a day at 08:00".into()
        },
        min_interval_minutes: if as_required { 240 } else { 0 },
        as_required,
        prescriber: "Dr A Khan".into(),
        stop_or_review_date: Some(chrono::NaiveDate::from_ymd_opt(2027, 2, 1).unwrap()),
    }
}

pub fn home(allergies: Vec<String>) -> Home {
    let mut h = Home {
        state: State::new(),
        entries: Vec::new(),
        seq: 0,
        now_us: BASE_US,
    };
    let t0 = BASE_US - 20 * DAY_US;
    for (id, name, role) in [
        (CW, "Sam Patel", Role::CareWorker),
        (RM, "Ruth Mensah", Role::RegisteredManager),
    ] {
        h.record(
            RM,
            None,
            t0,
            CareEvent::StaffRegistered(StaffRegistered {
                staff_id: id.into(),
                name: name.into(),
                role,
            }),
        );
    }
    h.record(
        RM,
        Some(PERSON),
        t0 + HOUR_US,
        CareEvent::PersonRegistered(PersonRegistered {
            name: "Joan Hill".into(),
            date_of_birth: chrono::NaiveDate::from_ymd_opt(1938, 5, 17).unwrap(),
            nhs_number: Some("9434765919".into()),
            address: "14 Mill Lane, Leeds LS6 2AB".into(),
            gp_practice: "Hyde Park Surgery".into(),
            allergies,
        }),
    );
    h.record(
        RM,
        Some(PERSON),
        t0 + 2 * HOUR_US,
        CareEvent::CareStarted(CareStarted {
            service: "home care".into(),
        }),
    );
    h.record(
        RM,
        Some(PERSON),
        t0 + 3 * HOUR_US,
        CareEvent::CarePlanPublished(CarePlanPublished {
            version: 1,
            sections: PlanSections {
                about_me: "I taught at the village school for forty years.\nI like the radio on in the morning.".into(),
                needs: vec!["Help to wash and dress each morning".into()],
                goals: vec!["Keep walking to the shop with my frame".into()],
                actions: vec!["Morning visit at 08:00: personal care, breakfast, medicines".into()],
                risks: vec!["Falls: frame within reach, clear the hall".into()],
                contingency_plan: "If a visit is missed, call Joan's daughter Mary on 0113 496 0000.".into(),
                agreed_with: vec!["Joan Hill".into(), "Mary Hill (daughter)".into()],
                review_date: chrono::NaiveDate::from_ymd_opt(2027, 2, 1).unwrap(),
            },
        }),
    );
    h.record(
        RM,
        Some(PERSON),
        t0 + 4 * HOUR_US,
        CareEvent::MedicineAdded(medicine("med-aml", "Amlodipine", false)),
    );
    h.record(
        RM,
        Some(PERSON),
        t0 + 4 * HOUR_US,
        CareEvent::MedicineAdded(medicine("med-par", "Paracetamol", true)),
    );
    // A fortnight of morning doses, one refused; two doses of paracetamol; a note a day.
    for day in 0..14 {
        let at = BASE_US + day * DAY_US;
        let refused = day == 3;
        h.record(
            CW,
            Some(PERSON),
            at + 5 * 60_000_000,
            CareEvent::AdministrationRecorded(AdministrationRecorded {
                medicine_id: "med-aml".into(),
                outcome: if refused {
                    AdministrationOutcome::Refused
                } else {
                    AdministrationOutcome::Given
                },
                dose_given: (!refused).then(|| "1 tablet".into()),
                reason: refused.then(|| "said she felt sick, will try at lunch".into()),
                witnessed_by: None,
            }),
        );
        h.record(
            CW,
            Some(PERSON),
            at + HOUR_US,
            CareEvent::DiaryNote(DiaryNote {
                author: Author::Staff,
                text: format!("Day {day}: breakfast eaten, settled in her chair."),
            }),
        );
    }
    for day in [5, 9] {
        h.record(
            CW,
            Some(PERSON),
            BASE_US + day * DAY_US + 2 * HOUR_US,
            CareEvent::AdministrationRecorded(AdministrationRecorded {
                medicine_id: "med-par".into(),
                outcome: AdministrationOutcome::Given,
                dose_given: Some("2 tablets".into()),
                reason: Some("knee pain".into()),
                witnessed_by: None,
            }),
        );
    }
    h
}

/// `kind` about Joan Hill in `format`, printed from the home's checkpoint over the default
/// period.
pub fn person_doc(h: &Home, kind: Kind, format: Format) -> Printed {
    let checkpoint = h.checkpoint();
    print(
        &h.state,
        &Request::Person {
            kind,
            id: PERSON,
            entries: &h.entries,
            period: Period::ending_at(&checkpoint, 28),
        },
        format,
        &checkpoint,
    )
    .unwrap_or_else(|e| panic!("{kind:?} {format:?}: {e}"))
}
