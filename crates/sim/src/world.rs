//! The world the simulator makes once from the seed: the organisation (staff, partners,
//! council officers), the medicines and visit schedules people can have, and each person's
//! profile; and what changes of a person's record as the history goes on.

use careledger_care::event::*;
use careledger_care::types::*;
use careledger_care::CareEvent;
use careledger_ledger::Command;

use crate::rng::Rng;

pub(crate) const CARE_WORKERS: u32 = 12;
pub(crate) const MANAGER: &str = "staff-rm01";
pub(crate) const COORDINATOR: &str = "staff-co01";
pub(crate) const ADMIN: &str = "staff-pa01";
pub(crate) const DISTRICT_NURSES: &str = "partner-district-nurses";
pub(crate) const DAY_CENTRE: &str = "partner-day-centre";
pub(crate) const OFFICERS: [&str; 2] = ["council-mo01", "council-scp01"];

pub(crate) struct Med {
    pub(crate) id: &'static str,
    pub(crate) name: &'static str,
    pub(crate) formulation: &'static str,
    pub(crate) strength: &'static str,
    pub(crate) dose: &'static str,
    pub(crate) hours: &'static [i64],
    pub(crate) interval_minutes: u32,
}

pub(crate) const MEDS: [Med; 6] = [
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
pub(crate) const SCHEDULES: [&[i64]; 3] = [&[8, 13, 18], &[8, 18], &[8, 13, 18, 22]];

pub(crate) const FIRST: [&str; 12] = [
    "Ada", "Bernard", "Cynthia", "Derek", "Edna", "Frank", "Gwen", "Harold", "Irene", "Joan",
    "Kenneth", "Lilian",
];
pub(crate) const LAST: [&str; 10] = [
    "Ashworth", "Bennett", "Clarke", "Dawson", "Ellis", "Fletcher", "Grant", "Hughes", "Iqbal",
    "Jones",
];

/// A person as generated: who they are and how their care goes. It does not change once
/// made; what does is in [`Record`].
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub(crate) id: String,
    pub(crate) start_day: u32,
    pub(crate) end_day: Option<u32>,
    pub(crate) visit_hours: &'static [i64],
    /// Indices into [`MEDS`], sorted, without duplicates.
    pub(crate) meds: Vec<usize>,
    pub(crate) rep: Option<(String, Relationship)>,
    pub(crate) family_grant: bool,
    pub(crate) format: Option<Format>,
    pub(crate) declines_paper: bool,
    pub(crate) discusses: bool,
    pub(crate) emails: bool,
}

/// What changes of a person's record as the history goes on.
#[derive(Debug, Clone, Default)]
pub(crate) struct Record {
    /// Medicines stopped, as indices into [`MEDS`].
    pub(crate) stopped: Vec<usize>,
    pub(crate) plan_version: u32,
    pub(crate) mar_revision: u32,
}

impl Person {
    /// Person `i` of a history of `days` days. The draws, in order: a late start and its
    /// day, an end of care and its day, the visit schedule, the medicines, a representative,
    /// an information format, then a family grant (only with a representative), declining
    /// paper, choices discussions and e-mail.
    pub(crate) fn generate(i: u32, days: u32, rng: &mut Rng) -> Person {
        let late = days > 2 && rng.chance(250);
        let start_day = if late {
            1 + rng.below(u64::from(days) - 1) as u32
        } else {
            0
        };
        let end_day = (days > start_day + 2 && rng.chance(30))
            .then(|| start_day + 1 + rng.below(u64::from(days - start_day - 1)) as u32);
        let visit_hours: &'static [i64] = SCHEDULES[rng.below(SCHEDULES.len() as u64) as usize];
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
        let family_grant = rep.is_some() && rng.chance(800);
        let declines_paper = rng.chance(100);
        let discusses = rng.chance(900);
        let emails = rng.chance(300);
        Person {
            id: format!("person-{i:04}"),
            start_day,
            end_day,
            visit_hours,
            meds,
            rep,
            family_grant,
            format,
            declines_paper,
            discusses,
            emails,
        }
    }

    /// Whether day `d` is one of the person's days in care (the first and last included).
    pub(crate) fn in_care_on(&self, d: u32) -> bool {
        d >= self.start_day && self.end_day.is_none_or(|e| d <= e)
    }
}

pub(crate) fn hours(h: i64) -> i64 {
    h * HOUR_US
}

/// The care worker on visit `visit` of day `d` to person `person`: a fixed rota.
pub(crate) fn worker(person: usize, visit: usize, d: u32) -> String {
    format!(
        "staff-cw{:02}",
        1 + (person + visit + d as usize) % CARE_WORKERS as usize
    )
}

/// The date of microsecond time `t` (UTC).
pub(crate) fn date(t: i64) -> chrono::NaiveDate {
    chrono::DateTime::from_timestamp_micros(t)
        .expect("simulated times are in range")
        .date_naive()
}

pub(crate) fn nhs_number(rng: &mut Rng) -> String {
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

/// The organisation on the first day: its manager, coordinator, administrator and care
/// workers, and its two partners.
pub(crate) fn organisation(t: i64, out: &mut Vec<(i64, Command)>) {
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
    out.push((
        t,
        Command::organisation(
            MANAGER,
            t,
            CareEvent::GuidePublished(crate::guide::first_version()),
        ),
    ));
}
