//! Changes to a person's care over time: care plan reviews (some with a new version),
//! medicines stopped, and the plan and choices discussion events they share with the first
//! day.

use careledger_care::event::*;
use careledger_care::types::*;
use careledger_care::CareEvent;
use chrono::NaiveDate;

use crate::day::PersonDay;
use crate::world::{date, hours, Person, COORDINATOR, MEDS};

impl PersonDay<'_> {
    /// The 90-day review at 14:30: half change the plan; most who discuss choices discuss
    /// them again.
    pub(crate) fn plan_review(&mut self) {
        let p = self.person;
        let t = self.day_us + hours(14) + 30 * MINUTE_US;
        let next = date(t + 90 * DAY_US);
        let changes = self.rng.chance(500);
        self.about(
            COORDINATOR,
            t,
            CareEvent::CarePlanReviewed(CarePlanReviewed {
                version: self.record.plan_version,
                reviewed_with: vec![p.id.clone()],
                changes_needed: changes,
                next_review_date: next,
            }),
        );
        if changes {
            self.new_plan_version(t, next);
        }
        if p.discusses && self.rng.chance(600) {
            self.about(COORDINATOR, t + 3 * MINUTE_US, choices_discussed(p));
        }
    }

    /// The next version of the plan, and usually its paper copy in the home.
    fn new_plan_version(&mut self, t: i64, next_review: NaiveDate) {
        let p = self.person;
        let version = self.record.plan_version + 1;
        self.record.plan_version = version;
        self.about(
            COORDINATOR,
            t + MINUTE_US,
            care_plan(p, version, next_review),
        );
        if !p.declines_paper && self.rng.chance(700) {
            self.about(
                COORDINATOR,
                t + 2 * MINUTE_US,
                CareEvent::PaperCopyPlaced(PaperCopyPlaced {
                    document: Document::CarePlan,
                    version: Some(version),
                    format: p.format.unwrap_or(Format::StandardPrint),
                    digest: None,
                }),
            );
        }
    }

    /// Half the time, of a person with two medicines or more still given, one is stopped.
    pub(crate) fn mar_change(&mut self) {
        let p = self.person;
        let active: Vec<usize> = p
            .meds
            .iter()
            .copied()
            .filter(|m| !self.record.stopped.contains(m))
            .collect();
        if active.len() > 1 && self.rng.chance(500) {
            self.medicine_stopped(&active);
        }
    }

    /// One of `active` stopped by the GP, and usually a new paper MAR.
    fn medicine_stopped(&mut self, active: &[usize]) {
        // After the last medicine round of the day (18:00 visits), so no dose follows a stop.
        let t = self.day_us + hours(20) + 30 * MINUTE_US;
        let m = active[self.rng.below(active.len() as u64) as usize];
        self.record.stopped.push(m);
        self.about(
            COORDINATOR,
            t,
            CareEvent::MedicineStopped(MedicineStopped {
                medicine_id: MEDS[m].id.into(),
                reason: "stopped by the GP at review".into(),
            }),
        );
        self.record.mar_revision += 1;
        if self.rng.chance(850) && !self.person.declines_paper {
            self.about(
                COORDINATOR,
                t + MINUTE_US,
                CareEvent::PaperCopyPlaced(PaperCopyPlaced {
                    document: Document::Mar,
                    version: Some(self.record.mar_revision),
                    format: self.person.format.unwrap_or(Format::StandardPrint),
                    digest: None,
                }),
            );
        }
    }
}

/// Version `version` of the person's care plan, to be reviewed on `review_date`.
pub(crate) fn care_plan(p: &Person, version: u32, review_date: NaiveDate) -> CareEvent {
    CareEvent::CarePlanPublished(CarePlanPublished {
        version,
        sections: PlanSections {
            about_me: format!(
                "{} likes the radio in the morning and tea with one sugar.",
                p.id
            ),
            needs: vec![
                "help with washing and dressing".into(),
                "prompting with medicines".into(),
            ],
            goals: vec!["stay living at home".into()],
            actions: vec![
                "morning visit: personal care and breakfast".into(),
                "evening visit: meal and medicines".into(),
            ],
            risks: vec!["falls: walking frame within reach".into()],
            contingency_plan: "If a visit is missed, call the office; family are the next contact."
                .into(),
            agreed_with: vec![p.id.clone()],
            review_date,
        },
    })
}

/// The information choices discussion: who was there and what the person chose.
pub(crate) fn choices_discussed(p: &Person) -> CareEvent {
    let mut present = vec![p.id.clone(), COORDINATOR.to_string()];
    if let Some((rep, _)) = &p.rep {
        present.push(rep.clone());
    }
    let chosen = if p.declines_paper {
        vec![InfoOption::Portal]
    } else if p.emails {
        vec![InfoOption::Paper, InfoOption::SecureEmail]
    } else if p.format.is_some() {
        vec![InfoOption::Paper, InfoOption::AccessibleFormat]
    } else {
        vec![InfoOption::Paper]
    };
    CareEvent::ChoicesDiscussed(ChoicesDiscussed {
        present,
        options_explained: InfoOption::ALL.to_vec(),
        chosen,
        told_access_is_free: true,
        notes: "Explained that access is free, and how to change their mind.".into(),
    })
}
