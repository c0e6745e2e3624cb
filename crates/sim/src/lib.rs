//! A deterministic generator of realistic home-care history (`careledger simulate`).
//!
//! Given a seed, a number of people, a number of days and the day the history ends, it
//! produces the same events every time: staff and partners, people registered and started
//! on care (most at the beginning, some admitted later, a few whose care ends), care plans
//! with reviews and new versions, visits several times a day with tasks, medicines given at
//! the visits (with occasional refusals and omissions), diary notes by staff and by
//! families, reads by care workers, families, council officers and, rarely, a paramedic
//! under break-glass; choices discussions (and a few people with none), paper copies in
//! the home (some out of date, some declined), AIS needs (a few documents in the wrong
//! format), council requests answered early, late and never, and one outage whose paper
//! notes are back-entered afterwards.
//!
//! Every event passes the care rules: a refused one is a bug in the generator.
//!
//! This is not ledger logic: it is a writer like any other, going through
//! [`careledger_ledger::Ledger`] and its rules. It lives in its own crate so that the
//! ledger's API is the ledger's alone.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use careledger_care::event::*;
use careledger_care::types::*;
use careledger_care::CareEvent;

/// What a care worker reads at the start of a visit.
const VISIT_READ: [Category; 3] = [
    Category::CarePlan,
    Category::Medicines,
    Category::CommunicationNeeds,
];
use chrono::NaiveDate;

use careledger_ledger::{Command, Ledger, LedgerError};

/// A small, fast, deterministic generator (SplitMix64); quality is ample for test data.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1A4_F87B)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// True with probability `per_mille` / 1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub people: u32,
    pub days: u32,
    pub seed: u64,
    /// The history covers the `days` days before this date (UTC).
    pub end: NaiveDate,
}

/// Most commands in one append request.
pub const REQUEST_COMMANDS_MAX: usize = 2_000;
/// Requests in flight while simulating.
pub const REQUESTS_IN_FLIGHT_MAX: usize = 8;

const CARE_WORKERS: u32 = 12;
const MANAGER: &str = "staff-rm01";
const COORDINATOR: &str = "staff-co01";
const ADMIN: &str = "staff-pa01";
const DISTRICT_NURSES: &str = "partner-district-nurses";
const DAY_CENTRE: &str = "partner-day-centre";
const OFFICERS: [&str; 2] = ["council-mo01", "council-scp01"];

struct Med {
    id: &'static str,
    name: &'static str,
    formulation: &'static str,
    strength: &'static str,
    dose: &'static str,
    hours: &'static [i64],
    interval_minutes: u32,
}

const MEDS: [Med; 6] = [
    Med {
        id: "paracetamol",
        name: "Paracetamol",
        formulation: "tablet",
        strength: "500 mg",
        dose: "2 tablets",
        hours: &[8, 13, 18],
        interval_minutes: 240,
    },
    Med {
        id: "amlodipine",
        name: "Amlodipine",
        formulation: "tablet",
        strength: "5 mg",
        dose: "1 tablet",
        hours: &[8],
        interval_minutes: 1200,
    },
    Med {
        id: "metformin",
        name: "Metformin",
        formulation: "tablet",
        strength: "500 mg",
        dose: "1 tablet",
        hours: &[8, 18],
        interval_minutes: 480,
    },
    Med {
        id: "sertraline",
        name: "Sertraline",
        formulation: "tablet",
        strength: "50 mg",
        dose: "1 tablet",
        hours: &[8],
        interval_minutes: 1200,
    },
    Med {
        id: "macrogol",
        name: "Macrogol",
        formulation: "oral powder sachet",
        strength: "13.8 g",
        dose: "1 sachet",
        hours: &[18],
        interval_minutes: 600,
    },
    Med {
        id: "donepezil",
        name: "Donepezil",
        formulation: "tablet",
        strength: "10 mg",
        dose: "1 tablet",
        hours: &[18],
        interval_minutes: 1200,
    },
];

/// Visit hours a person can have.
const SCHEDULES: [&[i64]; 3] = [&[8, 13, 18], &[8, 18], &[8, 13, 18, 22]];

const FIRST: [&str; 12] = [
    "Ada", "Bernard", "Cynthia", "Derek", "Edna", "Frank", "Gwen", "Harold", "Irene", "Joan",
    "Kenneth", "Lilian",
];
const LAST: [&str; 10] = [
    "Ashworth", "Bennett", "Clarke", "Dawson", "Ellis", "Fletcher", "Grant", "Hughes", "Iqbal",
    "Jones",
];

#[derive(Debug, Clone)]
struct Person {
    id: String,
    start_day: u32,
    end_day: Option<u32>,
    visit_hours: &'static [i64],
    meds: Vec<usize>,
    stopped: Vec<usize>,
    rep: Option<(String, Relationship)>,
    family_grant: bool,
    format: Option<Format>,
    declines_paper: bool,
    discusses: bool,
    plan_version: u32,
    mar_revision: u32,
    emails: bool,
}

/// The simulator: call [`Simulator::day`] for day 0, 1, ... `days - 1`.
pub struct Simulator {
    config: SimConfig,
    rng: Rng,
    start_us: i64,
    people: Vec<Person>,
    /// Events scheduled for a later day (council request steps), by time.
    pending: BTreeMap<(i64, u64), Command>,
    pending_n: u64,
    requests: u64,
}

fn hours(h: i64) -> i64 {
    h * HOUR_US
}

fn nhs_number(rng: &mut Rng) -> String {
    loop {
        let digits: Vec<u32> = (0..9).map(|_| rng.below(10) as u32).collect();
        let sum: u32 = digits
            .iter()
            .enumerate()
            .map(|(i, d)| d * (10 - i as u32))
            .sum();
        let check = 11 - (sum % 11);
        let check = match check {
            11 => 0,
            10 => continue,
            c => c,
        };
        return digits
            .iter()
            .chain([check].iter())
            .map(|d| char::from(b'0' + *d as u8))
            .collect();
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
        let people = (0..config.people)
            .map(|i| {
                let late = config.days > 2 && rng.chance(250);
                let start_day = if late {
                    1 + rng.below(u64::from(config.days) - 1) as u32
                } else {
                    0
                };
                let end_day = (config.days > start_day + 2 && rng.chance(30)).then(|| {
                    start_day + 1 + rng.below(u64::from(config.days - start_day - 1)) as u32
                });
                let visit_hours: &'static [i64] =
                    SCHEDULES[rng.below(SCHEDULES.len() as u64) as usize];
                let mut meds: Vec<usize> = (0..1 + rng.below(4))
                    .map(|_| rng.below(MEDS.len() as u64) as usize)
                    .collect();
                meds.sort_unstable();
                meds.dedup();
                let rep = match rng.below(100) {
                    0..=59 => Some((format!("rep-{i:04}-family"), Relationship::Family)),
                    60..=74 => Some((format!("rep-{i:04}-lpa"), Relationship::LpaHealthWelfare)),
                    _ => None,
                };
                let format = match rng.below(100) {
                    0..=7 => Some(Format::LargePrint),
                    8..=11 => Some(Format::EasyRead),
                    12..=13 => Some(Format::Braille),
                    _ => None,
                };
                Person {
                    id: format!("person-{i:04}"),
                    start_day,
                    end_day,
                    visit_hours,
                    meds,
                    stopped: Vec::new(),
                    family_grant: rep.is_some() && rng.chance(800),
                    rep,
                    format,
                    declines_paper: rng.chance(100),
                    discusses: rng.chance(900),
                    plan_version: 0,
                    mar_revision: 0,
                    emails: rng.chance(300),
                }
            })
            .collect();
        Self {
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

    fn schedule(&mut self, at: i64, command: Command) {
        self.pending_n += 1;
        self.pending.insert((at, self.pending_n), command);
    }

    /// The commands of simulated day `d`, in the order they are appended.
    pub fn day(&mut self, d: u32) -> Vec<Command> {
        let day_us = self.start_us + i64::from(d) * DAY_US;
        // (sort key, command); the key is the time except for back-entries, which are
        // entered after the outage ends.
        let mut out: Vec<(i64, Command)> = Vec::new();
        if d == 0 {
            self.organisation_setup(day_us, &mut out);
        }
        let outage = (self.config.days >= 4 && d == self.config.days / 2)
            .then(|| (day_us + hours(10) + 30 * MINUTE_US, day_us + hours(12)));
        if let Some((from, to)) = outage {
            let id = format!("outage-{d}");
            out.push((
                from,
                Command::organisation(
                    MANAGER,
                    from,
                    CareEvent::OutageDeclared(OutageDeclared {
                        outage_id: id.clone(),
                        reason: "care records system unavailable (supplier incident)".into(),
                    }),
                ),
            ));
            out.push((
                to,
                Command::organisation(
                    MANAGER,
                    to,
                    CareEvent::OutageEnded(OutageEnded { outage_id: id }),
                ),
            ));
        }
        for i in 0..self.people.len() {
            self.person_day(i, d, day_us, outage, &mut out);
        }
        self.council_day(d, day_us);
        let day_end = day_us + DAY_US;
        while let Some(entry) = self.pending.first_entry() {
            if entry.key().0 >= day_end {
                break;
            }
            let ((at, _), command) = entry.remove_entry();
            out.push((at, command));
        }
        out.sort_by_key(|(at, _)| *at);
        out.into_iter().map(|(_, c)| c).collect()
    }

    fn organisation_setup(&mut self, t: i64, out: &mut Vec<(i64, Command)>) {
        let mut staff = vec![
            (MANAGER.to_string(), "Rita Morgan", Role::RegisteredManager),
            (COORDINATOR.to_string(), "Colin Oduya", Role::Coordinator),
            (ADMIN.to_string(), "Priya Adams", Role::ProviderAdmin),
        ];
        for w in 1..=CARE_WORKERS {
            staff.push((format!("staff-cw{w:02}"), "Care Worker", Role::CareWorker));
        }
        for (id, name, role) in staff {
            out.push((
                t,
                Command::organisation(
                    MANAGER,
                    t,
                    CareEvent::StaffRegistered(StaffRegistered {
                        staff_id: id.clone(),
                        name: if role == Role::CareWorker {
                            format!("Care Worker {}", &id[8..])
                        } else {
                            name.to_string()
                        },
                        role,
                    }),
                ),
            ));
        }
        out.push((
            t,
            Command::organisation(
                MANAGER,
                t,
                CareEvent::PartnerRegistered(PartnerRegistered {
                    partner_id: DISTRICT_NURSES.into(),
                    name: "Community district nursing team".into(),
                    agreed_channel: Channel::SecureEmail,
                    contact: "dn.team@nhs.example".into(),
                }),
            ),
        ));
        out.push((
            t,
            Command::organisation(
                MANAGER,
                t,
                CareEvent::PartnerRegistered(PartnerRegistered {
                    partner_id: DAY_CENTRE.into(),
                    name: "Riverside day centre".into(),
                    agreed_channel: Channel::Telephone,
                    contact: "01632 960000".into(),
                }),
            ),
        ));
    }

    fn worker(&mut self, person: usize, visit: usize, d: u32) -> String {
        format!(
            "staff-cw{:02}",
            1 + (person + visit + d as usize) % CARE_WORKERS as usize
        )
    }

    fn plan(&self, p: &Person, version: u32, review_date: NaiveDate) -> CareEvent {
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
                contingency_plan:
                    "If a visit is missed, call the office; family are the next contact.".into(),
                agreed_with: vec![p.id.clone()],
                review_date,
            },
        })
    }

    fn date(&self, t: i64) -> NaiveDate {
        chrono::DateTime::from_timestamp_micros(t)
            .expect("simulated times are in range")
            .date_naive()
    }

    fn person_day(
        &mut self,
        i: usize,
        d: u32,
        day_us: i64,
        outage: Option<(i64, i64)>,
        out: &mut Vec<(i64, Command)>,
    ) {
        let p = self.people[i].clone();
        if d < p.start_day || p.end_day.is_some_and(|e| d > e) {
            return;
        }
        let id = p.id.clone();
        let about = |actor: &str, t: i64, e: CareEvent| (t, Command::about(actor, &id, t, e));
        let rng = &mut self.rng;
        if d == p.start_day {
            let t = day_us + hours(9);
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
            out.push(about(
                MANAGER,
                t,
                CareEvent::PersonRegistered(PersonRegistered {
                    name,
                    date_of_birth: dob,
                    nhs_number: nhs,
                    address: format!("{} Mill Lane, Hertford", 1 + i),
                    gp_practice: "Riverside Surgery".into(),
                    allergies,
                }),
            ));
            out.push(about(
                MANAGER,
                t + MINUTE_US,
                CareEvent::CareStarted(CareStarted {
                    service: "home care".into(),
                }),
            ));
            if let Some((rep, rel)) = &p.rep {
                let evidence = rel
                    .has_legal_authority()
                    .then(|| format!("OPG registration 7000-{:04}-{:04}", i, d));
                out.push(about(
                    MANAGER,
                    t + 2 * MINUTE_US,
                    CareEvent::RepresentativeLinked(RepresentativeLinked {
                        representative_id: rep.clone(),
                        name: "Family member".into(),
                        relationship: *rel,
                        evidence_of_authority: evidence,
                        may_contribute: true,
                    }),
                ));
                if p.family_grant && *rel == Relationship::Family {
                    out.push(about(
                        MANAGER,
                        t + 3 * MINUTE_US,
                        CareEvent::AccessGranted(AccessGranted {
                            grant_id: format!("grant-{i:04}-family"),
                            grantee: Grantee::Principal(rep.clone()),
                            categories: vec![Category::DailyNotes, Category::CarePlan],
                            purpose: Purpose::PersonalAccess,
                            expires_at_us: None,
                            decided_by: id.clone(),
                            basis: CapacityBasis::PersonHasCapacity,
                        }),
                    ));
                }
            }
            let review = self.date(day_us + 90 * DAY_US);
            let plan = self.plan(&p, 1, review);
            self.people[i].plan_version = 1;
            out.push(about(COORDINATOR, t + 4 * MINUTE_US, plan));
            for (k, &m) in p.meds.iter().enumerate() {
                let med = &MEDS[m];
                out.push(about(
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
                ));
            }
            self.people[i].mar_revision = p.meds.len() as u32;
            if let Some(f) = p.format {
                let need = match f {
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
                out.push(about(
                    COORDINATOR,
                    t + 15 * MINUTE_US,
                    CareEvent::AisNeedsRecorded(AisNeedsRecorded {
                        needs: need,
                        consent_to_share: true,
                    }),
                ));
            }
            let t2 = t + hours(1);
            if p.discusses {
                out.push(about(COORDINATOR, t2, self.discussion(&p)));
            }
            if p.declines_paper {
                out.push(about(
                    COORDINATOR,
                    t2 + MINUTE_US,
                    CareEvent::PaperCopiesDeclined(PaperCopiesDeclined {
                        declined_by: id.clone(),
                        statement:
                            "I don't want papers lying around; my daughter reads it on the portal."
                                .into(),
                    }),
                ));
            } else if self.rng.chance(900) {
                // Some documents go out in standard print despite a recorded format (R2).
                let format = match p.format {
                    Some(f) if self.rng.chance(800) => f,
                    _ => Format::StandardPrint,
                };
                out.push(about(
                    COORDINATOR,
                    t2 + 2 * MINUTE_US,
                    CareEvent::PaperCopyPlaced(PaperCopyPlaced {
                        document: Document::ServiceUserGuide,
                        version: None,
                        format,
                    }),
                ));
                out.push(about(
                    COORDINATOR,
                    t2 + 3 * MINUTE_US,
                    CareEvent::PaperCopyPlaced(PaperCopyPlaced {
                        document: Document::CarePlan,
                        version: Some(1),
                        format,
                    }),
                ));
            }
            if !p.meds.is_empty() && self.rng.chance(900) {
                out.push(about(
                    COORDINATOR,
                    t2 + 4 * MINUTE_US,
                    CareEvent::PaperCopyPlaced(PaperCopyPlaced {
                        document: Document::Mar,
                        version: Some(self.people[i].mar_revision),
                        format: p.format.unwrap_or(Format::StandardPrint),
                    }),
                ));
            }
            if self.rng.chance(300) {
                out.push(about(
                    COORDINATOR,
                    t2 + 5 * MINUTE_US,
                    CareEvent::SharingConsentRecorded(SharingConsentRecorded {
                        partner_id: DISTRICT_NURSES.into(),
                        categories: vec![
                            Category::Medicines,
                            Category::CarePlan,
                            Category::HealthObservations,
                        ],
                        given: true,
                        decided_by: id.clone(),
                        basis: CapacityBasis::PersonHasCapacity,
                    }),
                ));
                out.push(about(
                    COORDINATOR,
                    t2 + 6 * MINUTE_US,
                    CareEvent::HandoverSent(HandoverSent {
                        partner_id: DISTRICT_NURSES.into(),
                        categories: vec![Category::Medicines],
                        summary: "current MAR and recent observations".into(),
                        channel: Channel::SecureEmail,
                    }),
                ));
            }
            return;
        }
        if p.end_day == Some(d) {
            let t = day_us + hours(16);
            out.push(about(
                MANAGER,
                t,
                CareEvent::CareEnded(CareEnded {
                    reason: "moved to a care home".into(),
                }),
            ));
            return;
        }
        // Visits.
        for (k, &h) in p.visit_hours.iter().enumerate() {
            let worker = self.worker(i, k, d);
            let rng = &mut self.rng;
            let start = day_us + hours(h) + rng.below(20) as i64 * MINUTE_US;
            let visit_id = format!("v{d}-{k}");
            out.push(about(
                &worker,
                start,
                CareEvent::VisitStarted(VisitStarted {
                    visit_id: visit_id.clone(),
                }),
            ));
            out.push(about(
                &worker,
                start + MINUTE_US,
                CareEvent::RecordAccessed(RecordAccessed {
                    role: Role::CareWorker,
                    categories: VISIT_READ.to_vec(),
                    purpose: Purpose::DirectCare,
                    items: 3 + rng.below(10) as u32,
                    // A care worker reads these by their role; the rules check it.
                    basis: VISIT_READ
                        .iter()
                        .map(|c| AccessBasis {
                            category: *c,
                            basis: Basis::RoleDefault,
                        })
                        .collect(),
                }),
            ));
            let task = *rng.pick(&[
                "personal care",
                "breakfast",
                "lunch",
                "evening meal",
                "welfare check",
            ]);
            let outcome = match rng.below(100) {
                0..=3 => TaskOutcome::Refused,
                4 => TaskOutcome::NotDone {
                    reason: "ran out of time; office told".into(),
                },
                _ => TaskOutcome::Done,
            };
            out.push(about(
                &worker,
                start + 5 * MINUTE_US,
                CareEvent::TaskRecorded(TaskRecorded {
                    visit_id: Some(visit_id.clone()),
                    task: task.into(),
                    outcome,
                }),
            ));
            for (n, &m) in p.meds.iter().enumerate() {
                let med = &MEDS[m];
                if p.stopped.contains(&m) || !med.hours.contains(&h) {
                    continue;
                }
                let (outcome, dose, reason) = match rng.below(100) {
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
                out.push(about(
                    &worker,
                    start + (8 + n as i64) * MINUTE_US,
                    CareEvent::AdministrationRecorded(AdministrationRecorded {
                        medicine_id: med.id.into(),
                        outcome,
                        dose_given: dose,
                        reason,
                        witnessed_by: None,
                    }),
                ));
            }
            if k + 1 == p.visit_hours.len() {
                out.push(about(
                    &worker,
                    start + 20 * MINUTE_US,
                    CareEvent::DiaryNote(DiaryNote {
                        author: Author::Staff,
                        text: "Settled for the night; ate well and chatted about the garden."
                            .into(),
                    }),
                ));
            }
            out.push(about(
                &worker,
                start + 30 * MINUTE_US,
                CareEvent::VisitCompleted(VisitCompleted { visit_id }),
            ));
        }
        let rng = &mut self.rng;
        // Outage: notes kept on paper, back-entered once systems are back.
        if let Some((from, to)) = outage {
            if rng.chance(500) {
                let worker = format!("staff-cw{:02}", 1 + i % CARE_WORKERS as usize);
                let at = from + 30 * MINUTE_US + rng.below(40) as i64 * MINUTE_US;
                let entry = CareEvent::DiaryNote(DiaryNote {
                    author: Author::Staff,
                    text: "Welfare call during the system outage; all well.".into(),
                });
                let back = CareEvent::BackEntered(BackEntered {
                    outage_id: format!("outage-{d}"),
                    paper_reference: format!("paper diary sheet {d}-{i}"),
                    entry: Box::new(entry),
                });
                out.push((
                    to + MINUTE_US + i as i64,
                    Command::about(&worker, &id, at, back),
                ));
            }
        }
        // Families and the person contribute and read.
        if let Some((rep, rel)) = &p.rep {
            if rng.chance(80) {
                let t = day_us + hours(19) + rng.below(60) as i64 * MINUTE_US;
                out.push(about(
                    rep,
                    t,
                    CareEvent::DiaryNote(DiaryNote {
                        author: Author::Representative,
                        text: "Visited this evening; Mum was cheerful.".into(),
                    }),
                ));
            }
            let may_read = *rel != Relationship::Family || p.family_grant;
            if rng.chance(50) {
                let t = day_us + hours(20) + rng.below(60) as i64 * MINUTE_US;
                if may_read {
                    let purpose = Purpose::PersonalAccess;
                    out.push(about(
                        rep,
                        t,
                        CareEvent::RecordAccessed(RecordAccessed {
                            role: Role::Representative,
                            categories: vec![Category::DailyNotes],
                            purpose,
                            items: 1 + rng.below(5) as u32,
                            // Not recorded: the simulator does not track which grant or event allows these reads.
                            basis: Vec::new(),
                        }),
                    ));
                } else {
                    out.push(about(
                        rep,
                        t,
                        CareEvent::AccessRefused(AccessRefused {
                            role: Role::Representative,
                            categories: vec![Category::DailyNotes],
                            purpose: Purpose::PersonalAccess,
                            reason:
                                "a representative has no access to daily notes for personal access"
                                    .into(),
                        }),
                    ));
                }
            }
        }
        if rng.chance(20) {
            let t = day_us + hours(15) + rng.below(60) as i64 * MINUTE_US;
            out.push(about(
                &id,
                t,
                CareEvent::DiaryNote(DiaryNote {
                    author: Author::Person,
                    text: "Had a good day; would like the morning visit a bit later.".into(),
                }),
            ));
        }
        if d % 7 == 6 {
            let t = day_us + hours(p.visit_hours[0]) + 25 * MINUTE_US;
            let worker = self.worker(i, 0, d);
            let value = format!("{}/{}", 115 + self.rng.below(30), 70 + self.rng.below(15));
            out.push(about(
                &worker,
                t,
                CareEvent::Observation(Observation {
                    measure: "blood pressure".into(),
                    value,
                    unit: "mmHg".into(),
                }),
            ));
        }
        let rng = &mut self.rng;
        if rng.chance(3) {
            let t = day_us + hours(14);
            out.push(about(
                MANAGER,
                t,
                CareEvent::Incident(Incident {
                    category: "fall".into(),
                    description: "Found on the floor by the bed; no injury; GP informed.".into(),
                    severity: Severity::Moderate,
                }),
            ));
        }
        if rng.chance(1) && !p.meds.is_empty() {
            // A paramedic needs the medicines in an emergency (break-glass).
            let clinician = format!("paramedic-{d}-{i}");
            let t = day_us + hours(3);
            out.push(about(
                &clinician,
                t,
                CareEvent::EmergencyAccess(EmergencyAccess {
                    role: Role::EmergencyClinician,
                    reason: "999 call: fall at night; checking anticoagulants and allergies".into(),
                    categories: vec![Category::Medicines],
                    expires_at_us: t + hours(4),
                }),
            ));
            out.push(about(
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
            ));
        }
        if p.emails && d % 30 == 15 {
            let t = day_us + hours(11);
            out.push(about(
                ADMIN,
                t,
                CareEvent::SecureEmailDelivered(SecureEmailDelivered {
                    document: Document::DiaryRecords,
                    version: None,
                    format: p.format.unwrap_or(Format::StandardPrint),
                    to: "family@example.org".into(),
                    as_link: true,
                }),
            ));
        }
        // Reviews every 90 days of care; some change the plan.
        if (d - p.start_day).is_multiple_of(90) {
            self.review(i, day_us, out);
        }
        // MAR changes now and then; the paper MAR is usually replaced.
        let rng = &mut self.rng;
        if rng.chance(5) {
            // After the last medicine round of the day (18:00 visits), so no dose follows a stop.
            let t = day_us + hours(20) + 30 * MINUTE_US;
            let person = &mut self.people[i];
            let active: Vec<usize> = person
                .meds
                .iter()
                .copied()
                .filter(|m| !person.stopped.contains(m))
                .collect();
            let changed = if active.len() > 1 && rng.chance(500) {
                let m = active[rng.below(active.len() as u64) as usize];
                person.stopped.push(m);
                out.push((
                    t,
                    Command::about(
                        COORDINATOR,
                        &id,
                        t,
                        CareEvent::MedicineStopped(MedicineStopped {
                            medicine_id: MEDS[m].id.into(),
                            reason: "stopped by the GP at review".into(),
                        }),
                    ),
                ));
                true
            } else {
                false
            };
            if changed {
                person.mar_revision += 1;
                if rng.chance(850) && !person.declines_paper {
                    out.push((
                        t + MINUTE_US,
                        Command::about(
                            COORDINATOR,
                            &id,
                            t + MINUTE_US,
                            CareEvent::PaperCopyPlaced(PaperCopyPlaced {
                                document: Document::Mar,
                                version: Some(person.mar_revision),
                                format: person.format.unwrap_or(Format::StandardPrint),
                            }),
                        ),
                    ));
                }
            }
        }
    }

    fn discussion(&mut self, p: &Person) -> CareEvent {
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

    fn review(&mut self, i: usize, day_us: i64, out: &mut Vec<(i64, Command)>) {
        let t = day_us + hours(14) + 30 * MINUTE_US;
        let p = self.people[i].clone();
        let next = self.date(t + 90 * DAY_US);
        let changes = self.rng.chance(500);
        out.push((
            t,
            Command::about(
                COORDINATOR,
                &p.id,
                t,
                CareEvent::CarePlanReviewed(CarePlanReviewed {
                    version: p.plan_version,
                    reviewed_with: vec![p.id.clone()],
                    changes_needed: changes,
                    next_review_date: next,
                }),
            ),
        ));
        if changes {
            let version = p.plan_version + 1;
            self.people[i].plan_version = version;
            out.push((
                t + MINUTE_US,
                Command::about(
                    COORDINATOR,
                    &p.id,
                    t + MINUTE_US,
                    self.plan(&p, version, next),
                ),
            ));
            if !p.declines_paper && self.rng.chance(700) {
                out.push((
                    t + 2 * MINUTE_US,
                    Command::about(
                        COORDINATOR,
                        &p.id,
                        t + 2 * MINUTE_US,
                        CareEvent::PaperCopyPlaced(PaperCopyPlaced {
                            document: Document::CarePlan,
                            version: Some(version),
                            format: p.format.unwrap_or(Format::StandardPrint),
                        }),
                    ),
                ));
            }
        }
        if p.discusses && self.rng.chance(600) {
            let e = self.discussion(&p);
            out.push((
                t + 3 * MINUTE_US,
                Command::about(COORDINATOR, &p.id, t + 3 * MINUTE_US, e),
            ));
        }
    }

    fn council_day(&mut self, d: u32, day_us: i64) {
        if d == 0 || !self.rng.chance(150) {
            return;
        }
        let candidates: Vec<String> = self
            .people
            .iter()
            .filter(|p| p.start_day < d && p.end_day.is_none_or(|e| e > d + 2))
            .map(|p| p.id.clone())
            .collect();
        if candidates.is_empty() {
            return;
        }
        let person = self.rng.pick(&candidates).clone();
        self.requests += 1;
        let id = format!("request-{:05}", self.requests);
        let officer = *self.rng.pick(&OFFICERS);
        let received = day_us + hours(10) + self.rng.below(120) as i64 * MINUTE_US;
        let window = if self.rng.chance(200) {
            hours(4)
        } else {
            hours(24)
        };
        let due = received + window;
        self.schedule(
            received,
            Command::organisation(
                ADMIN,
                received,
                CareEvent::RequestReceived(RequestReceived {
                    request_id: id.clone(),
                    requester: officer.into(),
                    organisation: "Hertfordshire County Council".into(),
                    people: vec![person.clone()],
                    categories: vec![Category::CarePlan, Category::DailyNotes],
                    description:
                        "Statutory review: current care plan and the last month of daily notes."
                            .into(),
                    received_at_us: received,
                    due_at_us: due,
                }),
            ),
        );
        self.schedule(
            received + 20 * MINUTE_US,
            Command::organisation(
                ADMIN,
                received + 20 * MINUTE_US,
                CareEvent::RequestAcknowledged(RequestAcknowledged {
                    request_id: id.clone(),
                }),
            ),
        );
        let role = if officer == OFFICERS[0] {
            Role::MonitoringOfficer
        } else {
            Role::SocialCareProfessional
        };
        self.schedule(
            received + 40 * MINUTE_US,
            Command::about(
                officer,
                &person,
                received + 40 * MINUTE_US,
                CareEvent::RecordAccessed(RecordAccessed {
                    role,
                    categories: vec![Category::CarePlan],
                    purpose: Purpose::StatutoryReview,
                    items: 1,
                    // Not recorded: the simulator does not track which grant or event allows these reads.
                    basis: Vec::new(),
                }),
            ),
        );
        let warn = due - (window / 4).min(hours(4));
        let answered = match self.rng.below(100) {
            0..=69 => Some(
                received
                    + hours(1)
                    + self
                        .rng
                        .below((window - hours(1)) as u64 / MINUTE_US as u64 / 2)
                        as i64
                        * MINUTE_US,
            ),
            70..=89 => Some(due + hours(1) + self.rng.below(20 * 60) as i64 * MINUTE_US),
            _ => None,
        };
        if answered.is_none_or(|a| a >= warn) {
            self.schedule(
                warn,
                Command::organisation(
                    "careledger-sla",
                    warn,
                    CareEvent::SlaWarning(SlaWarning {
                        request_id: id.clone(),
                        due_at_us: due,
                    }),
                ),
            );
        }
        if answered.is_none_or(|a| a > due) {
            self.schedule(
                due + MINUTE_US,
                Command::organisation(
                    "careledger-sla",
                    due + MINUTE_US,
                    CareEvent::SlaBreached(SlaBreached {
                        request_id: id.clone(),
                        due_at_us: due,
                    }),
                ),
            );
        }
        if let Some(at) = answered {
            let mut digest = [0u8; 32];
            digest[..8].copy_from_slice(&self.rng.next_u64().to_le_bytes());
            self.schedule(
                at,
                Command::organisation(
                    MANAGER,
                    at,
                    CareEvent::RequestResponded(RequestResponded {
                        request_id: id,
                        digest,
                        channel: Channel::SecureEmail,
                        items: 2,
                    }),
                ),
            );
        }
    }
}

/// What a simulation wrote.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimReport {
    pub events: u64,
    pub days: u32,
}

/// Runs the simulator into `ledger`, calling `progress(days_done, days_total, events)`.
pub fn run(
    ledger: &Ledger,
    config: SimConfig,
    mut progress: impl FnMut(u32, u32, u64),
) -> Result<SimReport, LedgerError> {
    let mut sim = Simulator::new(config);
    let mut report = SimReport::default();
    let mut in_flight = std::collections::VecDeque::new();
    for d in 0..sim.days() {
        let commands = sim.day(d);
        let mut commands = commands.into_iter().peekable();
        while commands.peek().is_some() {
            let request: Vec<Command> = commands.by_ref().take(REQUEST_COMMANDS_MAX).collect();
            let n = request.len() as u64;
            let mut backoff = Backoff::new();
            // The store drops a request it is too busy to queue, so each attempt sends a
            // copy; the back-off bounds how often that happens.
            let receiver = loop {
                match ledger.submit(request.clone()) {
                    Err(LedgerError::Append(careledger_store::AppendError::Busy(_))) => {
                        if in_flight.is_empty() {
                            // The queue is full of another writer's requests: none of ours
                            // to wait for, so sleep rather than spin.
                            std::thread::sleep(backoff.next());
                        } else {
                            wait(&mut in_flight)?;
                        }
                    }
                    other => break other?,
                }
            };
            in_flight.push_back(receiver);
            if in_flight.len() >= REQUESTS_IN_FLIGHT_MAX {
                wait(&mut in_flight)?;
            }
            report.events += n;
        }
        report.days = d + 1;
        progress(d + 1, sim.days(), report.events);
    }
    while !in_flight.is_empty() {
        wait(&mut in_flight)?;
    }
    Ok(report)
}

/// Sleeps between attempts while the store is busy with requests not ours: 1 ms, doubling
/// to at most 50 ms (a busy queue drains in milliseconds; 50 ms keeps the wake-ups rare
/// without adding much latency once it has).
struct Backoff(std::time::Duration);

impl Backoff {
    const FIRST: std::time::Duration = std::time::Duration::from_millis(1);
    const MAX: std::time::Duration = std::time::Duration::from_millis(50);

    fn new() -> Self {
        Backoff(Self::FIRST)
    }

    fn next(&mut self) -> std::time::Duration {
        let sleep = self.0;
        self.0 = (sleep * 2).min(Self::MAX);
        sleep
    }
}

type Pending = tokio::sync::oneshot::Receiver<
    Result<Vec<careledger_store::Receipt>, careledger_store::AppendError>,
>;

fn wait(in_flight: &mut std::collections::VecDeque<Pending>) -> Result<(), LedgerError> {
    if let Some(r) = in_flight.pop_front() {
        r.blocking_recv()
            .map_err(|_| careledger_store::AppendError::Closed)??;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_from_1_ms_to_at_most_50_ms() {
        let mut backoff = Backoff::new();
        let sleeps: Vec<Duration> = (0..9).map(|_| backoff.next()).collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(
            sleeps,
            [
                ms(1),
                ms(2),
                ms(4),
                ms(8),
                ms(16),
                ms(32),
                ms(50),
                ms(50),
                ms(50)
            ]
        );
    }
}
