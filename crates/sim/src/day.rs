//! A simulated day: the organisation's events, each person's day and the council's
//! requests, in the order they are appended; and the steps of a day in care that are not
//! visits, first-day steps or reviews.

use std::collections::BTreeMap;

use careledger_care::event::*;
use careledger_care::types::*;
use careledger_care::CareEvent;
use careledger_ledger::Command;

use crate::config::SimConfig;
use crate::rng::Rng;
use crate::world::{self, hours, worker, Person, Record, ADMIN, CARE_WORKERS, MANAGER};

/// The simulator: call [`Simulator::day`] for day 0, 1, ... `days - 1`.
pub struct Simulator {
    config: SimConfig,
    pub(crate) rng: Rng,
    start_us: i64,
    pub(crate) people: Vec<Person>,
    /// What changes of each person's record, by the person's index in `people`.
    records: Vec<Record>,
    /// Events scheduled for a later day (council request steps), by time.
    pending: BTreeMap<(i64, u64), Command>,
    pending_n: u64,
    /// Council requests made so far.
    pub(crate) requests: u64,
}

/// The day's outage of the records system: notes are kept on paper meanwhile.
pub(crate) struct Outage {
    pub(crate) id: String,
    pub(crate) from: i64,
    pub(crate) to: i64,
}

impl Outage {
    /// On the middle day of a history of four days or more, 10:30 to 12:00.
    fn on(config: &SimConfig, d: u32, day_us: i64) -> Option<Outage> {
        (config.days >= 4 && d == config.days / 2).then(|| Outage {
            id: format!("outage-{d}"),
            from: day_us + hours(10) + 30 * MINUTE_US,
            to: day_us + hours(12),
        })
    }

    fn declared_and_ended(&self, out: &mut Vec<(i64, Command)>) {
        out.push((
            self.from,
            Command::organisation(
                MANAGER,
                self.from,
                CareEvent::OutageDeclared(OutageDeclared {
                    outage_id: self.id.clone(),
                    reason: "care records system unavailable (supplier incident)".into(),
                }),
            ),
        ));
        out.push((
            self.to,
            Command::organisation(
                MANAGER,
                self.to,
                CareEvent::OutageEnded(OutageEnded {
                    outage_id: self.id.clone(),
                }),
            ),
        ));
    }
}

impl Simulator {
    pub fn new(config: SimConfig) -> Self {
        let mut rng = Rng::new(config.seed);
        let end_us = config
            .end
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .timestamp_micros();
        let start_us = end_us - i64::from(config.days) * DAY_US;
        let people: Vec<Person> = (0..config.people)
            .map(|i| Person::generate(i, config.days, &mut rng))
            .collect();
        Self {
            records: vec![Record::default(); people.len()],
            config,
            rng,
            start_us,
            people,
            pending: BTreeMap::new(),
            pending_n: 0,
            requests: 0,
        }
    }

    pub fn days(&self) -> u32 {
        self.config.days
    }

    /// Keeps `command` for the day that holds `at`; commands at the same time keep the
    /// order they were scheduled in.
    pub(crate) fn schedule(&mut self, at: i64, command: Command) {
        self.pending_n += 1;
        self.pending.insert((at, self.pending_n), command);
    }

    /// The commands of simulated day `d`, in the order they are appended.
    pub fn day(&mut self, d: u32) -> Vec<Command> {
        let day_us = self.start_us + i64::from(d) * DAY_US;
        // (sort key, command); the key is the time except for back-entries, which are
        // entered after the outage ends. The sort is stable: commands at the same time
        // keep the order they were made in.
        let mut out: Vec<(i64, Command)> = Vec::new();
        if d == 0 {
            world::organisation(day_us, &mut out);
        }
        let outage = Outage::on(&self.config, d, day_us);
        if let Some(outage) = &outage {
            outage.declared_and_ended(&mut out);
        }
        self.people_day(d, day_us, outage.as_ref(), &mut out);
        self.council_day(d, day_us);
        self.take_scheduled(day_us + DAY_US, &mut out);
        out.sort_by_key(|(at, _)| *at);
        out.into_iter().map(|(_, c)| c).collect()
    }

    /// Each person in care on day `d`, in order: their first day, their last, or a day in
    /// care.
    fn people_day(
        &mut self,
        d: u32,
        day_us: i64,
        outage: Option<&Outage>,
        out: &mut Vec<(i64, Command)>,
    ) {
        let Simulator {
            rng,
            people,
            records,
            ..
        } = self;
        for (i, (person, record)) in people.iter().zip(records.iter_mut()).enumerate() {
            if !person.in_care_on(d) {
                continue;
            }
            let mut day = PersonDay {
                rng,
                person,
                record,
                i,
                d,
                day_us,
                out,
            };
            if d == person.start_day {
                day.admission();
            } else if person.end_day == Some(d) {
                day.care_ended();
            } else {
                day.in_care(outage);
            }
        }
    }

    /// Moves the scheduled commands before `end` into `out`.
    fn take_scheduled(&mut self, end: i64, out: &mut Vec<(i64, Command)>) {
        while let Some(entry) = self.pending.first_entry() {
            if entry.key().0 >= end {
                break;
            }
            let ((at, _), command) = entry.remove_entry();
            out.push((at, command));
        }
    }
}

/// One person's simulated day: what its steps need, and where their events go.
pub(crate) struct PersonDay<'a> {
    pub(crate) rng: &'a mut Rng,
    pub(crate) person: &'a Person,
    pub(crate) record: &'a mut Record,
    /// The person's index: addresses, ids and the visiting workers follow from it.
    pub(crate) i: usize,
    pub(crate) d: u32,
    /// Midnight at the start of the day.
    pub(crate) day_us: i64,
    out: &'a mut Vec<(i64, Command)>,
}

impl PersonDay<'_> {
    /// Records `event` about the person, by `actor`, at `t`.
    pub(crate) fn about(&mut self, actor: &str, t: i64, event: CareEvent) {
        let command = Command::about(actor, &self.person.id, t, event);
        self.out.push((t, command));
    }

    /// A day in care that is neither the first nor the last: the visits, then whatever
    /// else the day brings.
    pub(crate) fn in_care(&mut self, outage: Option<&Outage>) {
        let p = self.person;
        for (k, &hour) in p.visit_hours.iter().enumerate() {
            self.visit(k, hour);
        }
        // Outage: notes kept on paper, back-entered once systems are back.
        if let Some(outage) = outage {
            if self.rng.chance(500) {
                self.back_entered(outage);
            }
        }
        // Families and the person contribute and read.
        if let Some((rep, rel)) = &p.rep {
            if self.rng.chance(80) {
                self.family_note(rep);
            }
            if self.rng.chance(50) {
                let may_read = *rel != Relationship::Family || p.family_grant;
                self.family_read(rep, may_read);
            }
        }
        if self.rng.chance(20) {
            self.own_note();
        }
        if self.d % 7 == 6 {
            self.blood_pressure();
        }
        if self.rng.chance(3) {
            self.fall();
        }
        if self.rng.chance(1) && !p.meds.is_empty() {
            self.break_glass();
        }
        if p.emails && self.d % 30 == 15 {
            self.diary_emailed();
        }
        // Reviews every 90 days of care; some change the plan.
        if (self.d - p.start_day).is_multiple_of(90) {
            self.plan_review();
        }
        // MAR changes now and then; the paper MAR is usually replaced.
        if self.rng.chance(5) {
            self.mar_change();
        }
    }

    /// The last day of care.
    pub(crate) fn care_ended(&mut self) {
        let t = self.day_us + hours(16);
        self.about(
            MANAGER,
            t,
            CareEvent::CareEnded(CareEnded {
                reason: "moved to a care home".into(),
            }),
        );
    }

    /// A welfare call noted on paper during the outage, entered after it ends (its sort
    /// key), recorded as having happened during it.
    fn back_entered(&mut self, outage: &Outage) {
        let (i, d) = (self.i, self.d);
        let worker = format!("staff-cw{:02}", 1 + i % CARE_WORKERS as usize);
        let at = outage.from + 30 * MINUTE_US + self.rng.below(40) as i64 * MINUTE_US;
        let entry = CareEvent::DiaryNote(DiaryNote {
            author: Author::Staff,
            text: "Welfare call during the system outage; all well.".into(),
        });
        let back = CareEvent::BackEntered(BackEntered {
            outage_id: outage.id.clone(),
            paper_reference: format!("paper diary sheet {d}-{i}"),
            entry: Box::new(entry),
        });
        self.out.push((
            outage.to + MINUTE_US + i as i64,
            Command::about(&worker, &self.person.id, at, back),
        ));
    }

    fn family_note(&mut self, rep: &str) {
        let t = self.day_us + hours(19) + self.rng.below(60) as i64 * MINUTE_US;
        self.about(
            rep,
            t,
            CareEvent::DiaryNote(DiaryNote {
                author: Author::Representative,
                text: "Visited this evening; Mum was cheerful.".into(),
            }),
        );
    }

    /// The representative opens the daily notes: read if they may, refused if not.
    fn family_read(&mut self, rep: &str, may_read: bool) {
        let t = self.day_us + hours(20) + self.rng.below(60) as i64 * MINUTE_US;
        let event = if may_read {
            CareEvent::RecordAccessed(RecordAccessed {
                role: Role::Representative,
                categories: vec![Category::DailyNotes],
                purpose: Purpose::PersonalAccess,
                items: 1 + self.rng.below(5) as u32,
                // Not recorded: the simulator does not track which grant or event allows these reads.
                basis: Vec::new(),
            })
        } else {
            CareEvent::AccessRefused(AccessRefused {
                role: Role::Representative,
                categories: vec![Category::DailyNotes],
                purpose: Purpose::PersonalAccess,
                reason: "a representative has no access to daily notes for personal access".into(),
            })
        };
        self.about(rep, t, event);
    }

    /// The person writes in their own diary.
    fn own_note(&mut self) {
        let t = self.day_us + hours(15) + self.rng.below(60) as i64 * MINUTE_US;
        let p = self.person;
        self.about(
            &p.id,
            t,
            CareEvent::DiaryNote(DiaryNote {
                author: Author::Person,
                text: "Had a good day; would like the morning visit a bit later.".into(),
            }),
        );
    }

    /// Weekly, at the end of the first visit.
    fn blood_pressure(&mut self) {
        let t = self.day_us + hours(self.person.visit_hours[0]) + 25 * MINUTE_US;
        let worker = worker(self.i, 0, self.d);
        let value = format!("{}/{}", 115 + self.rng.below(30), 70 + self.rng.below(15));
        self.about(
            &worker,
            t,
            CareEvent::Observation(Observation {
                measure: "blood pressure".into(),
                value,
                unit: "mmHg".into(),
            }),
        );
    }

    fn fall(&mut self) {
        let t = self.day_us + hours(14);
        self.about(
            MANAGER,
            t,
            CareEvent::Incident(Incident {
                category: "fall".into(),
                description: "Found on the floor by the bed; no injury; GP informed.".into(),
                severity: Severity::Moderate,
            }),
        );
    }

    /// A paramedic needs the medicines in an emergency (break-glass).
    fn break_glass(&mut self) {
        let clinician = format!("paramedic-{}-{}", self.d, self.i);
        let t = self.day_us + hours(3);
        self.about(
            &clinician,
            t,
            CareEvent::EmergencyAccess(EmergencyAccess {
                role: Role::EmergencyClinician,
                reason: "999 call: fall at night; checking anticoagulants and allergies".into(),
                categories: vec![Category::Medicines],
                expires_at_us: t + hours(4),
            }),
        );
        self.about(
            &clinician,
            t + MINUTE_US,
            CareEvent::RecordAccessed(RecordAccessed {
                role: Role::EmergencyClinician,
                categories: vec![Category::Medicines],
                purpose: Purpose::Emergency,
                items: 1,
                // Not recorded: the simulator does not track which grant or event allows these reads.
                basis: Vec::new(),
            }),
        );
    }

    /// Monthly, for people who chose e-mail: the diary records as a secure link.
    fn diary_emailed(&mut self) {
        let t = self.day_us + hours(11);
        let format = self.person.format.unwrap_or(Format::StandardPrint);
        self.about(
            ADMIN,
            t,
            CareEvent::SecureEmailDelivered(SecureEmailDelivered {
                document: Document::DiaryRecords,
                version: None,
                format,
                to: crate::admission::email_address(self.person),
                as_link: true,
                digest: None,
                message_id: None,
                relay_answer: None,
            }),
        );
    }
}
