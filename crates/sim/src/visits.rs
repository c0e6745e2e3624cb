//! Visits: the care worker arrives, reads the record, does a task, gives the medicines
//! due at that hour, writes the evening note at the last visit of the day, and leaves.

use careledger_care::event::*;
use careledger_care::types::*;
use careledger_care::CareEvent;

use crate::day::PersonDay;
use crate::world::{hours, worker, Med, MEDS};

/// What a care worker reads at the start of a visit.
const VISIT_READ: [Category; 3] = [
    Category::CarePlan,
    Category::Medicines,
    Category::CommunicationNeeds,
];

const TASKS: [&str; 5] = [
    "personal care",
    "breakfast",
    "lunch",
    "evening meal",
    "welfare check",
];

impl PersonDay<'_> {
    /// Visit `k` of the day, starting up to 20 minutes after `hour`.
    pub(crate) fn visit(&mut self, k: usize, hour: i64) {
        let worker = worker(self.i, k, self.d);
        let start = self.day_us + hours(hour) + self.rng.below(20) as i64 * MINUTE_US;
        let visit_id = format!("v{}-{k}", self.d);
        self.about(
            &worker,
            start,
            CareEvent::VisitStarted(VisitStarted {
                visit_id: visit_id.clone(),
            }),
        );
        self.visit_read(&worker, start + MINUTE_US);
        self.task(&worker, start + 5 * MINUTE_US, &visit_id);
        self.medicines_round(&worker, start, hour);
        if k + 1 == self.person.visit_hours.len() {
            self.evening_note(&worker, start + 20 * MINUTE_US);
        }
        self.about(
            &worker,
            start + 30 * MINUTE_US,
            CareEvent::VisitCompleted(VisitCompleted { visit_id }),
        );
    }

    /// The care worker reads the plan, medicines and communication needs, by their role.
    fn visit_read(&mut self, worker: &str, t: i64) {
        let items = 3 + self.rng.below(10) as u32;
        self.about(
            worker,
            t,
            CareEvent::RecordAccessed(RecordAccessed {
                role: Role::CareWorker,
                categories: VISIT_READ.to_vec(),
                purpose: Purpose::DirectCare,
                items,
                // A care worker reads these by their role; the rules check it.
                basis: VISIT_READ
                    .iter()
                    .map(|c| AccessBasis {
                        category: *c,
                        basis: Basis::RoleDefault,
                    })
                    .collect(),
            }),
        );
    }

    /// One task of the visit: mostly done, sometimes refused, now and then not done.
    fn task(&mut self, worker: &str, t: i64, visit_id: &str) {
        let task = *self.rng.pick(&TASKS);
        let outcome = match self.rng.below(100) {
            0..=3 => TaskOutcome::Refused,
            4 => TaskOutcome::NotDone {
                reason: "ran out of time; office told".into(),
            },
            _ => TaskOutcome::Done,
        };
        self.about(
            worker,
            t,
            CareEvent::TaskRecorded(TaskRecorded {
                visit_id: Some(visit_id.into()),
                task: task.into(),
                outcome,
            }),
        );
    }

    /// The medicines due at `hour` and not stopped, each a minute apart from 8 minutes into
    /// the visit (counting every medicine the person has, due or not).
    fn medicines_round(&mut self, worker: &str, start: i64, hour: i64) {
        let p = self.person;
        for (n, &m) in p.meds.iter().enumerate() {
            let med = &MEDS[m];
            if self.record.stopped.contains(&m) || !med.hours.contains(&hour) {
                continue;
            }
            self.administration(worker, start + (8 + n as i64) * MINUTE_US, med);
        }
    }

    /// One dose: mostly given, sometimes refused, now and then omitted.
    fn administration(&mut self, worker: &str, t: i64, med: &Med) {
        let (outcome, dose, reason) = match self.rng.below(100) {
            0..=2 => (
                AdministrationOutcome::Refused,
                None,
                Some("declined; said they felt sick".to_string()),
            ),
            3 => (
                AdministrationOutcome::Omitted,
                None,
                Some("asleep; GP advice is not to wake".to_string()),
            ),
            _ => (
                AdministrationOutcome::Given,
                Some(med.dose.to_string()),
                None,
            ),
        };
        self.about(
            worker,
            t,
            CareEvent::AdministrationRecorded(AdministrationRecorded {
                medicine_id: med.id.into(),
                outcome,
                dose_given: dose,
                reason,
                witnessed_by: None,
            }),
        );
    }

    fn evening_note(&mut self, worker: &str, t: i64) {
        self.about(
            worker,
            t,
            CareEvent::DiaryNote(DiaryNote {
                author: Author::Staff,
                text: "Settled for the night; ate well and chatted about the garden.".into(),
            }),
        );
    }
}
