//! The rules, kind by kind: for every event kind at least one event the ledger accepts and at
//! least one it refuses, with the reason it gives. A refused event must change nothing.
//!
//! Each case starts from the home-care fixture (`common::Ledger::fixture`), may add set-up
//! events of its own, and then tries one event.

mod common;

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

use careledger_care::event::*;
use careledger_care::*;
use common::*;

/// The event a case tries, and its envelope.
struct Attempt {
    actor: String,
    subject: Option<String>,
    /// Occurred-at; the ledger's clock (recorded-at) when not given.
    occurred: Option<TimeUs>,
    event: CareEvent,
}

impl Attempt {
    /// An event about `person-1`, by the registered manager.
    fn person(event: CareEvent) -> Self {
        Attempt {
            actor: RM.into(),
            subject: Some(PERSON.into()),
            occurred: None,
            event,
        }
    }

    /// An organisation event, by the registered manager.
    fn org(event: CareEvent) -> Self {
        Attempt {
            actor: RM.into(),
            subject: None,
            occurred: None,
            event,
        }
    }

    fn by(mut self, actor: &str) -> Self {
        self.actor = actor.into();
        self
    }

    fn about(mut self, subject: Option<&str>) -> Self {
        self.subject = subject.map(Into::into);
        self
    }

    fn at(mut self, occurred: TimeUs) -> Self {
        self.occurred = Some(occurred);
        self
    }
}

enum Expect {
    Accept,
    Refuse {
        check: fn(&RuleError) -> bool,
        pattern: &'static str,
        /// A substring the message must contain (what a care worker reads).
        says: &'static str,
    },
}

macro_rules! refuse {
    ($p:pat) => {
        refuse!($p, "")
    };
    ($p:pat, $says:literal) => {
        Expect::Refuse {
            check: |e| matches!(e, $p),
            pattern: stringify!($p),
            says: $says,
        }
    };
}

struct Case {
    name: &'static str,
    build: fn(&mut Ledger) -> Attempt,
    expect: Expect,
}

fn case(name: &'static str, build: fn(&mut Ledger) -> Attempt, expect: Expect) -> Case {
    Case {
        name,
        build,
        expect,
    }
}

const OK: Expect = Expect::Accept;

fn all_categories() -> Vec<Category> {
    Category::ALL.to_vec()
}

/// Declares `out-1`, lets it run two hours and ends it, then lets two more hours pass.
/// Returns when it was declared and when it ended.
/// A paramedic's break-glass access to person-1's medicines; returns its seq.
fn break_glass(l: &mut Ledger) -> u64 {
    let seq = l.seq;
    let until = l.now + HOUR_US;
    l.ok(
        "paramedic-1",
        Some(PERSON),
        emergency(&[Category::Medicines], until),
    );
    seq
}

fn reviewed(emergency_event: u64, outcome: ReviewOutcome) -> CareEvent {
    CareEvent::EmergencyReviewed(EmergencyReviewed {
        emergency_event,
        outcome,
        notes: "read the reason and the paramedic's report".into(),
    })
}

fn outage(l: &mut Ledger) -> (TimeUs, TimeUs) {
    let declared = l.now;
    l.ok_org(outage_declared("out-1"));
    l.advance(2 * HOUR_US);
    let ended = l.now;
    l.ok_org(outage_ended("out-1"));
    l.advance(2 * HOUR_US);
    (declared, ended)
}

/// Receives `req-1` about person-1, due 24 hours after receipt; returns the due time.
fn open_request(l: &mut Ledger) -> TimeUs {
    let due = l.now + 24 * HOUR_US;
    l.ok_org(request("req-1", &[PERSON], l.now, due));
    due
}

fn cases() -> Vec<Case> {
    use Attempt as A;
    use CapacityBasis::*;
    use RuleError as R;
    vec![
        // ------------------------------------------------------------ envelope rules
        case(
            "occurred-at exactly 5 minutes ahead of the ledger clock is tolerated",
            |l| {
                A::person(diary(Author::Staff, "Settled"))
                    .by(CW)
                    .at(l.now + 5 * MINUTE_US)
            },
            OK,
        ),
        case(
            "occurred-at more than 5 minutes in the future",
            |l| {
                A::person(diary(Author::Staff, "Settled"))
                    .by(CW)
                    .at(l.now + 5 * MINUTE_US + 1)
            },
            refuse!(R::InFuture { minutes: 5 }, "check the device clock"),
        ),
        case(
            "occurred-at an hour in the future",
            |l| A::org(outage_declared("out-9")).at(l.now + HOUR_US),
            refuse!(R::InFuture { minutes: 60 }, "60 minutes in the future"),
        ),
        case(
            "occurred-at in the year 1800 (a mistyped or defaulted date)",
            |_| A::org(outage_declared("out-9")).at(-5_364_662_400_000_000),
            refuse!(
                R::BeforeEarliest {
                    limit: "1900-01-01T00:00:00Z"
                },
                "before 1900-01-01"
            ),
        ),
        case(
            "occurred-at in the year 1 (the proleptic calendar's first)",
            |_| A::person(diary(Author::Staff, "Settled")).by(CW).at(-62_135_596_800_000_000),
            refuse!(R::BeforeEarliest { .. }, "earliest time the ledger accepts"),
        ),
        case(
            "occurred-at before the person's date of birth (17 May 1938)",
            |_| {
                // 16 May 1938, 22:59 UTC: 23:59 BST, the day before.
                A::person(diary(Author::Staff, "Settled"))
                    .by(CW)
                    .at(-998_096_460_000_000)
            },
            refuse!(
                R::BeforeBirth { .. },
                "before person-1's date of birth (1938-05-17)"
            ),
        ),
        case(
            "occurred-at at midnight UK time (BST) of the person's date of birth",
            |_| {
                // 16 May 1938, 23:00 UTC: 00:00 BST on the 17th.
                A::person(diary(Author::Staff, "Settled"))
                    .by(CW)
                    .at(-998_096_400_000_000)
            },
            OK,
        ),
        case(
            "a registration dated before the date of birth it records",
            |_| {
                let CareEvent::PersonRegistered(mut e) = person("Joan Hill") else {
                    unreachable!()
                };
                e.date_of_birth = date(2026, 3, 1);
                A::person(CareEvent::PersonRegistered(e))
                    .about(Some("person-9"))
                    .at(BASE_US - 2 * DAY_US)
            },
            refuse!(R::BeforeBirth { .. }, "date of birth (2026-03-01)"),
        ),
        case(
            "a person event with no subject",
            |_| A::person(incident("Fell in the hall")).about(None),
            refuse!(
                R::SubjectRequired {
                    kind: "incident.recorded"
                },
                "must name the person"
            ),
        ),
        case(
            "an organisation event naming a person",
            |_| A::org(staff("staff-new", Role::CareWorker)).about(Some(PERSON)),
            refuse!(R::SubjectNotAllowed {
                kind: "staff.registered"
            }),
        ),
        // ------------------------------------------------------------ person.registered
        case(
            "register a new person",
            |_| A::person(person("Joan Hill")).about(Some("person-9")),
            OK,
        ),
        case(
            "register a person without an NHS number",
            |_| {
                let CareEvent::PersonRegistered(mut e) = person("Joan Hill") else {
                    unreachable!()
                };
                e.nhs_number = None;
                A::person(CareEvent::PersonRegistered(e)).about(Some("person-9"))
            },
            OK,
        ),
        case(
            "register a person twice",
            |_| A::person(person("Edith Clarke")),
            refuse!(
                R::AlreadyRegistered { .. },
                "person-1 is already registered"
            ),
        ),
        case(
            "register with a wrong NHS number check digit",
            |_| {
                let CareEvent::PersonRegistered(mut e) = person("Joan Hill") else {
                    unreachable!()
                };
                e.nhs_number = Some("943 476 5918".into());
                A::person(CareEvent::PersonRegistered(e)).about(Some("person-9"))
            },
            refuse!(R::InvalidNhsNumber { .. }, "not a valid NHS number"),
        ),
        case(
            "register with a date of birth in the future",
            |_| {
                let CareEvent::PersonRegistered(mut e) = person("Joan Hill") else {
                    unreachable!()
                };
                e.date_of_birth = date(2026, 3, 3);
                A::person(CareEvent::PersonRegistered(e)).about(Some("person-9"))
            },
            refuse!(R::BirthInFuture(_), "in the future"),
        ),
        case(
            "register without a GP practice",
            |_| {
                let CareEvent::PersonRegistered(mut e) = person("Joan Hill") else {
                    unreachable!()
                };
                e.gp_practice = " ".into();
                A::person(CareEvent::PersonRegistered(e)).about(Some("person-9"))
            },
            refuse!(
                R::Missing {
                    field: "GP practice", ..
                },
                "GP practice is required"
            ),
        ),
        // ------------------------------------------------------------ care.started / ended
        case(
            "start care for a registered person",
            |_| A::person(care_started()).about(Some(WAITING)),
            OK,
        ),
        case(
            "start care again after it ended",
            |_| A::person(care_started()).about(Some(ENDED)),
            OK,
        ),
        case(
            "start care twice",
            |_| A::person(care_started()),
            refuse!(R::CareAlreadyActive { .. }, "already receiving care"),
        ),
        case(
            "start care for someone not registered",
            |_| A::person(care_started()).about(Some("person-x")),
            refuse!(R::NotRegistered { .. }, "person-x is not registered"),
        ),
        case("end care", |_| A::person(care_ended("died")), OK),
        case(
            "end care that never started",
            |_| A::person(care_ended("moved away")).about(Some(WAITING)),
            refuse!(R::CareNotStarted { .. }, "record care started first"),
        ),
        case(
            "end care twice",
            |_| A::person(care_ended("moved away")).about(Some(ENDED)),
            refuse!(R::CareEnded { .. }, "person-3's care has ended"),
        ),
        case(
            "end care without a reason",
            |_| A::person(care_ended("")),
            refuse!(R::Missing { field: "reason", .. }),
        ),
        // ------------------------------------------------------------ staff.registered
        case(
            "register a coordinator",
            |_| A::org(staff("staff-co", Role::Coordinator)),
            OK,
        ),
        case(
            "register a member of staff twice",
            |_| A::org(staff(CW, Role::CareWorker)),
            refuse!(R::StaffExists { .. }),
        ),
        case(
            "register staff with a role that is not a staff role",
            |_| A::org(staff("auditor-1", Role::Auditor)),
            refuse!(
                R::NotAStaffRole { role: "auditor" },
                "auditor is not a staff role"
            ),
        ),
        // ------------------------------------------------------------ representative.linked
        case(
            "link a court-appointed deputy with the order reference",
            |_| {
                A::person(representative(
                    "rep-deputy",
                    Relationship::Deputy,
                    Some("COP 1234567"),
                    false,
                ))
            },
            OK,
        ),
        case(
            "link a carer after care ended",
            |_| {
                A::person(representative("rep-carer", Relationship::Carer, None, true))
                    .about(Some(ENDED))
            },
            OK,
        ),
        case(
            "link an attorney without evidence of the LPA",
            |_| {
                A::person(representative(
                    "rep-lpa-2",
                    Relationship::LpaHealthWelfare,
                    Some("  "),
                    false,
                ))
            },
            refuse!(
                R::EvidenceRequired {
                    relationship: "lasting power of attorney"
                },
                "needs the evidence of their authority"
            ),
        ),
        case(
            "link the same representative twice",
            |_| A::person(representative(FAMILY, Relationship::Family, None, true)),
            refuse!(R::RepresentativeExists { .. }),
        ),
        case(
            "link the person as their own representative",
            |_| A::person(representative(PERSON, Relationship::Family, None, true)),
            refuse!(R::RepresentativeExists { .. }),
        ),
        // ------------------------------------------------------------ partner.registered
        case(
            "register a day centre",
            |_| A::org(partner("partner-dc", Channel::Telephone)),
            OK,
        ),
        case(
            "register a partner twice",
            |_| A::org(partner(PARTNER, Channel::Paper)),
            refuse!(R::PartnerExists { .. }),
        ),
        // ------------------------------------------------------------ careplan.published
        case("publish version 2", |_| A::person(plan(2)), OK),
        case(
            "publish a first plan",
            |l| {
                l.ok(RM, Some(WAITING), care_started());
                A::person(plan(1)).about(Some(WAITING))
            },
            OK,
        ),
        case(
            "publish a stale version (someone else published meanwhile)",
            |l| {
                l.ok_person(plan(2));
                A::person(plan(2))
            },
            refuse!(
                R::PlanVersionConflict {
                    given: 2,
                    current: 2,
                    expected: 3
                },
                "someone else may have published meanwhile"
            ),
        ),
        case(
            "publish version 1 again",
            |_| A::person(plan(1)),
            refuse!(R::PlanVersionConflict {
                given: 1,
                current: 1,
                expected: 2
            }),
        ),
        case(
            "publish a version that skips one",
            |_| A::person(plan(3)),
            refuse!(R::PlanVersionConflict {
                given: 3,
                current: 1,
                expected: 2
            }),
        ),
        case(
            "publish a plan without a contingency plan",
            |_| {
                let mut s = sections();
                s.contingency_plan = String::new();
                A::person(CareEvent::CarePlanPublished(CarePlanPublished {
                    version: 2,
                    sections: s,
                }))
            },
            refuse!(R::Missing {
                field: "contingency plan", ..
            }),
        ),
        case(
            "publish a plan with too many needs",
            |_| {
                let mut s = sections();
                s.needs = vec!["help".into(); 65];
                A::person(CareEvent::CarePlanPublished(CarePlanPublished {
                    version: 2,
                    sections: s,
                }))
            },
            refuse!(R::TooMany {
                field: "needs",
                count: 65,
                max: 64, ..
            }),
        ),
        case(
            "publish a plan for someone whose care has ended",
            |_| A::person(plan(1)).about(Some(ENDED)),
            refuse!(R::CareEnded { .. }),
        ),
        // ------------------------------------------------------------ careplan.reviewed
        case(
            "review the current plan",
            |_| A::person(plan_reviewed(1)),
            OK,
        ),
        case(
            "review an old version",
            |l| {
                l.ok_person(plan(2));
                A::person(plan_reviewed(1))
            },
            refuse!(
                R::ReviewNotCurrent {
                    given: 1,
                    current: 2
                },
                "the current care plan is version 2"
            ),
        ),
        case(
            "review a plan that does not exist",
            |l| {
                l.ok(RM, Some(WAITING), care_started());
                A::person(plan_reviewed(1)).about(Some(WAITING))
            },
            refuse!(R::NoPlan { .. }, "has no care plan yet"),
        ),
        // ------------------------------------------------------------ visits and tasks
        case(
            "start a visit",
            |_| A::person(visit_started("v-1")).by(CW),
            OK,
        ),
        case(
            "start a visit as someone who is not staff",
            |_| A::person(visit_started("v-1")).by(FAMILY),
            refuse!(
                R::NotStaff { .. },
                "rep-family is not a registered member of staff"
            ),
        ),
        case(
            "start a visit already in progress",
            |l| {
                l.ok(CW, Some(PERSON), visit_started("v-1"));
                A::person(visit_started("v-1")).by(CW)
            },
            refuse!(R::VisitOpen { .. }, "already in progress"),
        ),
        case(
            "visit someone whose care has ended",
            |_| A::person(visit_started("v-1")).by(CW).about(Some(ENDED)),
            refuse!(R::CareEnded { .. }, "record care only while care is active"),
        ),
        case(
            "visit someone not registered",
            |_| {
                A::person(visit_started("v-1"))
                    .by(CW)
                    .about(Some("person-x"))
            },
            refuse!(R::NotRegistered { .. }),
        ),
        case(
            "complete a visit",
            |l| {
                l.ok(CW, Some(PERSON), visit_started("v-1"));
                A::person(visit_completed("v-1")).by(CW)
            },
            OK,
        ),
        case(
            "complete a visit that was not started",
            |_| A::person(visit_completed("v-1")).by(CW),
            refuse!(R::VisitNotOpen { .. }, "was not started"),
        ),
        case(
            "complete a visit twice",
            |l| {
                l.ok(CW, Some(PERSON), visit_started("v-1"));
                l.ok(CW, Some(PERSON), visit_completed("v-1"));
                A::person(visit_completed("v-1")).by(CW)
            },
            refuse!(R::VisitNotOpen { .. }),
        ),
        case(
            "record a task during a visit",
            |l| {
                l.ok(CW, Some(PERSON), visit_started("v-1"));
                A::person(task(Some("v-1"), TaskOutcome::Done)).by(CW)
            },
            OK,
        ),
        case(
            "record a refused task outside a visit",
            |_| A::person(task(None, TaskOutcome::Refused)).by(CW),
            OK,
        ),
        case(
            "record a task not done without a reason",
            |_| A::person(task(None, TaskOutcome::NotDone { reason: " ".into() })).by(CW),
            refuse!(R::Missing { field: "reason", .. }, "reason is required"),
        ),
        case(
            "record a task for a visit that is not open",
            |_| A::person(task(Some("v-9"), TaskOutcome::Done)).by(CW),
            refuse!(R::VisitNotOpen { .. }),
        ),
        // ------------------------------------------------------------ diary.note
        case(
            "a care worker writes a diary note",
            |_| A::person(diary(Author::Staff, "Ate well")).by(CW),
            OK,
        ),
        case(
            "the person writes their own entry",
            |_| A::person(diary(Author::Person, "Felt tired today")).by(PERSON),
            OK,
        ),
        case(
            "a family member allowed to contribute writes an entry",
            |_| A::person(diary(Author::Representative, "Mum seemed brighter")).by(FAMILY),
            OK,
        ),
        case(
            "an attorney not allowed to contribute writes an entry",
            |_| A::person(diary(Author::Representative, "Visited")).by(LPA),
            refuse!(
                R::ContributionNotAllowed { .. },
                "rep-lpa may not add entries to person-1's record"
            ),
        ),
        case(
            "staff write an entry as if the person wrote it",
            |_| A::person(diary(Author::Person, "All fine")).by(CW),
            refuse!(
                R::AuthorMismatch {
                    author: Author::Person,
                    ..
                },
                "author is Person but staff-cw is a care worker: staff write as Staff"
            ),
        ),
        case(
            "staff write an entry as a representative",
            |_| A::person(diary(Author::Representative, "All fine")).by(RM),
            refuse!(
                R::AuthorMismatch { .. },
                "author is Representative but staff-rm is a registered manager: staff write as Staff"
            ),
        ),
        case(
            "a family member writes an entry as staff",
            |_| A::person(diary(Author::Staff, "Mum seemed brighter")).by(FAMILY),
            refuse!(
                R::AuthorMismatch { .. },
                "author is Staff but rep-family is a representative of person-1: a representative writes as Representative"
            ),
        ),
        case(
            "the person writes their own entry as staff",
            |_| A::person(diary(Author::Staff, "Felt tired today")).by(PERSON),
            refuse!(
                R::AuthorMismatch { .. },
                "author is Staff but person-1 is the person the note is about: the person writes as Person"
            ),
        ),
        case(
            "an attorney not allowed to contribute writes an entry as staff",
            |_| A::person(diary(Author::Staff, "Visited")).by(LPA),
            refuse!(
                R::ContributionNotAllowed { .. },
                "rep-lpa may not add entries to person-1's record"
            ),
        ),
        case(
            "someone the record does not know writes an entry as the person",
            |_| A::person(diary(Author::Person, "Hello")).by("stranger-1"),
            refuse!(
                R::ContributionNotAllowed { .. },
                "stranger-1 may not add entries to person-1's record"
            ),
        ),
        case(
            "an empty diary note",
            |_| A::person(diary(Author::Staff, "  ")).by(CW),
            refuse!(R::Missing { field: "text", .. }),
        ),
        // ------------------------------------------------------------ incidents, observations
        case(
            "record an incident",
            |_| A::person(incident("Slipped in the bathroom, no injury")).by(CW),
            OK,
        ),
        case(
            "record an incident without a description",
            |_| A::person(incident("")).by(CW),
            refuse!(R::Missing {
                field: "description", ..
            }),
        ),
        case(
            "record an incident about someone not registered",
            |_| A::person(incident("Fell")).by(CW).about(Some("person-x")),
            refuse!(R::NotRegistered { .. }),
        ),
        case(
            "record an observation",
            |_| A::person(observation("37.2")).by(CW),
            OK,
        ),
        case(
            "record an observation without a value",
            |_| A::person(observation("")).by(CW),
            refuse!(R::Missing { field: "value", .. }),
        ),
        case(
            "record an observation after care ended",
            |_| A::person(observation("37.2")).by(CW).about(Some(ENDED)),
            refuse!(R::CareEnded { .. }),
        ),
        // ------------------------------------------------------------ the MAR
        case(
            "add a medicine to the MAR",
            |_| A::person(medicine_added("med-amlodipine", 1200)),
            OK,
        ),
        case(
            "add a stopped medicine again",
            |l| {
                l.ok_person(medicine_stopped(MED));
                A::person(medicine_added(MED, MED_INTERVAL_MINUTES))
            },
            OK,
        ),
        case(
            "add a medicine already on the MAR",
            |_| A::person(medicine_added(MED, MED_INTERVAL_MINUTES)),
            refuse!(R::AlreadyOnMar { .. }, "already on the MAR"),
        ),
        case(
            "add a medicine without its route",
            |_| {
                let CareEvent::MedicineAdded(mut e) = medicine_added("med-x", 60) else {
                    unreachable!()
                };
                e.route = String::new();
                A::person(CareEvent::MedicineAdded(e))
            },
            refuse!(R::Missing { field: "route", .. }),
        ),
        case("stop a medicine", |_| A::person(medicine_stopped(MED)), OK),
        case(
            "stop a medicine that is not on the MAR",
            |_| A::person(medicine_stopped("med-x")),
            refuse!(R::NotOnMar { .. }),
        ),
        case(
            "stop a medicine twice",
            |l| {
                l.ok_person(medicine_stopped(MED));
                A::person(medicine_stopped(MED))
            },
            refuse!(R::NotOnMar { .. }, "or has been stopped"),
        ),
        case("give a dose", |_| A::person(given(MED)).by(CW), OK),
        case(
            "give the next dose exactly at the minimum interval",
            |l| {
                l.ok(CW, Some(PERSON), given(MED));
                l.advance(4 * HOUR_US - MINUTE_US);
                A::person(given(MED)).by(CW)
            },
            OK,
        ),
        case(
            "record a refusal with its reason, soon after a dose",
            |l| {
                l.ok(CW, Some(PERSON), given(MED));
                A::person(not_given(
                    MED,
                    AdministrationOutcome::Refused,
                    Some("said she had a headache tablet earlier"),
                ))
                .by(CW)
            },
            OK,
        ),
        case(
            "give a medicine not on the MAR",
            |_| A::person(given("med-ibuprofen")).by(CW),
            refuse!(R::NotOnMar { .. }, "med-ibuprofen is not on person-1's MAR"),
        ),
        case(
            "give a medicine that was stopped",
            |l| {
                l.ok_person(medicine_stopped(MED));
                A::person(given(MED)).by(CW)
            },
            refuse!(R::NotOnMar { .. }),
        ),
        case(
            "give a dose twice inside the minimum interval",
            |l| {
                l.ok(CW, Some(PERSON), given(MED));
                l.advance(2 * HOUR_US);
                A::person(given(MED)).by(CW)
            },
            refuse!(
                R::DoseTooSoon {
                    interval_minutes: 240,
                    ..
                },
                "the next dose is not allowed before 2026-03-02 13:"
            ),
        ),
        case(
            "back-enter a paper dose that was given too close to a later one",
            |l| {
                let (declared, _) = outage(l);
                l.ok(CW, Some(PERSON), given(MED));
                A::person(back_entered("out-1", given(MED)))
                    .by(CW)
                    .at(declared + 90 * MINUTE_US)
            },
            refuse!(R::DoseTooSoon { .. }),
        ),
        case(
            "give a dose without saying what was given",
            |_| {
                let CareEvent::AdministrationRecorded(mut e) = given(MED) else {
                    unreachable!()
                };
                e.dose_given = None;
                A::person(CareEvent::AdministrationRecorded(e)).by(CW)
            },
            refuse!(R::DoseRequired, "the dose given is required"),
        ),
        case(
            "withhold a dose without a reason",
            |_| A::person(not_given(MED, AdministrationOutcome::Withheld, None)).by(CW),
            refuse!(
                R::ReasonRequired {
                    outcome: "withheld"
                },
                "a reason is required when a medicine is withheld"
            ),
        ),
        case(
            "a family member records a dose",
            |_| A::person(given(MED)).by(FAMILY),
            refuse!(R::NotStaff { .. }),
        ),
        // ------------------------------------------------------------ choices and paper
        case(
            "record the information choices discussion",
            |_| {
                A::person(choices(
                    &InfoOption::ALL,
                    &[InfoOption::Paper, InfoOption::SecureEmail],
                ))
            },
            OK,
        ),
        case(
            "a choice that was never explained",
            |_| A::person(choices(&[InfoOption::Paper], &[InfoOption::Portal])),
            refuse!(
                R::ChosenNotExplained {
                    option: InfoOption::Portal
                },
                "was chosen but not explained"
            ),
        ),
        case(
            "a discussion with nobody present",
            |_| {
                let CareEvent::ChoicesDiscussed(mut e) =
                    choices(&[InfoOption::Paper], &[InfoOption::Paper])
                else {
                    unreachable!()
                };
                e.present.clear();
                A::person(CareEvent::ChoicesDiscussed(e))
            },
            refuse!(R::Missing {
                field: "who was present", ..
            }),
        ),
        case(
            "place the care plan on paper in the home",
            |_| A::person(paper_placed(Document::CarePlan, Some(1))).by(CW),
            OK,
        ),
        case(
            "place the Service User Guide",
            |_| A::person(paper_placed(Document::ServiceUserGuide, None)).by(CW),
            OK,
        ),
        case(
            "the service records an email its relay did not accept",
            |_| {
                A::person(CareEvent::SecureEmailFailed(SecureEmailFailed {
                    document: Document::CarePlan,
                    version: Some(1),
                    format: Format::StandardPrint,
                    to: "joan.hill@example.org".into(),
                    digest: "0".repeat(64),
                    message_id: "<m1@care.example.org>".into(),
                    attempts: 4,
                    error: "451 4.3.0 Try again later".into(),
                    permanent: false,
                }))
            },
            OK,
        ),
        case(
            "an email failure with a digest that is not one",
            |_| {
                A::person(CareEvent::SecureEmailFailed(SecureEmailFailed {
                    document: Document::CarePlan,
                    version: Some(1),
                    format: Format::StandardPrint,
                    to: "joan.hill@example.org".into(),
                    digest: "abc".into(),
                    message_id: "<m1@care.example.org>".into(),
                    attempts: 4,
                    error: "451".into(),
                    permanent: false,
                }))
            },
            refuse!(R::InvalidDigest { .. }),
        ),
        case(
            "record the person's email address",
            |_| A::person(email_address(PERSON, Some("joan.hill@example.org"))),
            OK,
        ),
        case(
            "a representative records their own email address",
            |_| A::person(email_address(LPA, Some("lpa@example.org"))).by(LPA),
            OK,
        ),
        case(
            "a representative records another's email address",
            |_| A::person(email_address(PERSON, Some("x@example.org"))).by(LPA),
            refuse!(R::NoAuthority { .. }),
        ),
        case(
            "remove an email address",
            |l| {
                l.ok_person(email_address(FAMILY, Some("fam@example.org")));
                A::person(email_address(FAMILY, None))
            },
            OK,
        ),
        case(
            "record an email address for someone not linked to the person",
            |_| A::person(email_address("rep-stranger", Some("s@example.org"))),
            refuse!(
                R::UnknownEmailHolder { .. },
                "neither person-1 nor one of their representatives"
            ),
        ),
        case(
            "record an email address that is not one",
            |_| A::person(email_address(PERSON, Some("joan at example dot org"))),
            refuse!(R::InvalidEmailAddress { .. }, "is not an email address"),
        ),
        case(
            "record an email address with no domain",
            |_| A::person(email_address(PERSON, Some("joan@localhost"))),
            refuse!(R::InvalidEmailAddress { .. }),
        ),
        case(
            "publish the first Service User Guide",
            |_| A::org(guide(1)),
            OK,
        ),
        case(
            "publish a Service User Guide that skips a version",
            |_| A::org(guide(2)),
            refuse!(
                R::GuideVersionConflict {
                    given: 2,
                    current: 0,
                    expected: 1
                },
                "the next must be 1"
            ),
        ),
        case(
            "publish a Service User Guide about a person",
            |_| A::org(guide(1)).about(Some(PERSON)),
            refuse!(R::SubjectNotAllowed { .. }),
        ),
        case(
            "publish a Service User Guide with no sections",
            |_| {
                A::org(CareEvent::GuidePublished(GuidePublished {
                    version: 1,
                    title: "Guide".into(),
                    sections: vec![],
                }))
            },
            refuse!(R::Missing { .. }),
        ),
        case(
            "publish a Service User Guide section with no text",
            |_| {
                A::org(CareEvent::GuidePublished(GuidePublished {
                    version: 1,
                    title: "Guide".into(),
                    sections: vec![GuideSection {
                        heading: "About us".into(),
                        body: "  ".into(),
                    }],
                }))
            },
            refuse!(R::Missing { field: "text", .. }),
        ),
        case(
            "place a copy of the published Service User Guide",
            |l| {
                l.ok_org(guide(1));
                l.ok_org(guide(2));
                A::person(paper_placed(Document::ServiceUserGuide, Some(1))).by(CW)
            },
            OK,
        ),
        case(
            "place a copy of a Service User Guide version never published",
            |l| {
                l.ok_org(guide(1));
                A::person(paper_placed(Document::ServiceUserGuide, Some(2))).by(CW)
            },
            refuse!(
                R::UnknownGuideVersion {
                    given: 2,
                    current: 1
                },
                "the versions published are 1 to 1"
            ),
        ),
        case(
            "place a copy of a Service User Guide when none is published",
            |_| A::person(paper_placed(Document::ServiceUserGuide, Some(1))).by(CW),
            refuse!(
                R::UnknownGuideVersion {
                    given: 1,
                    current: 0
                },
                "no guide has been published yet"
            ),
        ),
        case(
            "place a paper care plan when there is no plan",
            |l| {
                l.ok(RM, Some(WAITING), care_started());
                A::person(paper_placed(Document::CarePlan, Some(1)))
                    .by(CW)
                    .about(Some(WAITING))
            },
            refuse!(R::NoPlan { .. }),
        ),
        case(
            "the person declines paper copies",
            |_| A::person(paper_declined(PERSON)),
            OK,
        ),
        case(
            "the attorney declines paper copies",
            |_| A::person(paper_declined(LPA)),
            OK,
        ),
        case(
            "a family member without an LPA declines paper copies",
            |_| A::person(paper_declined(FAMILY)),
            refuse!(
                R::NoAuthority { .. },
                "has no authority to decide for person-1"
            ),
        ),
        case(
            "paper declined without the person's words",
            |_| {
                A::person(CareEvent::PaperCopiesDeclined(PaperCopiesDeclined {
                    declined_by: PERSON.into(),
                    statement: String::new(),
                }))
            },
            refuse!(R::Missing { field: "statement", .. }),
        ),
        case(
            "email the care plan",
            |_| A::person(emailed("edith@example.org")),
            OK,
        ),
        case(
            "email records after care ended",
            |_| A::person(emailed("mary@example.org")).about(Some(ENDED)),
            OK,
        ),
        case(
            "email with no address",
            |_| A::person(emailed("")),
            refuse!(R::Missing { field: "to", .. }),
        ),
        case(
            "email records of someone not registered",
            |_| A::person(emailed("x@example.org")).about(Some("person-x")),
            refuse!(R::NotRegistered { .. }),
        ),
        // ------------------------------------------------------------ AIS
        case(
            "record communication needs",
            |_| {
                A::person(ais(vec![
                    AisNeed::InformationFormat(Format::LargePrint),
                    AisNeed::CommunicationSupport(CommunicationSupport::HearingLoop),
                    AisNeed::ContactMethod(ContactMethod::Letter),
                ]))
            },
            OK,
        ),
        case(
            "record that there are no communication needs",
            |_| A::person(ais(vec![])),
            OK,
        ),
        case(
            "contact by telephone for someone who cannot use the telephone",
            |_| {
                A::person(ais(vec![
                    AisNeed::ContactMethod(ContactMethod::Telephone),
                    AisNeed::CommunicationSupport(CommunicationSupport::CannotUseTelephone),
                ]))
            },
            refuse!(
                R::ContradictoryNeeds { .. },
                "contact by telephone contradicts 'cannot use the telephone'"
            ),
        ),
        case(
            "standard print and large print both as the format",
            |_| {
                A::person(ais(vec![
                    AisNeed::InformationFormat(Format::LargePrint),
                    AisNeed::InformationFormat(Format::StandardPrint),
                ]))
            },
            refuse!(R::ContradictoryNeeds { .. }, "contradict each other"),
        ),
        case(
            "the same need twice",
            |_| {
                A::person(ais(vec![
                    AisNeed::InformationFormat(Format::Braille),
                    AisNeed::InformationFormat(Format::Braille),
                ]))
            },
            refuse!(
                R::DuplicateNeed { .. },
                "information format: braille is recorded twice"
            ),
        ),
        case(
            "review recorded needs",
            |l| {
                l.ok_person(ais(vec![AisNeed::InformationFormat(Format::EasyRead)]));
                A::person(ais_reviewed())
            },
            OK,
        ),
        case(
            "review needs never recorded",
            |_| A::person(ais_reviewed()),
            refuse!(R::NoNeedsRecorded { .. }, "no recorded communication needs"),
        ),
        // ------------------------------------------------------------ access.granted
        case(
            "the person lets her daughter see her medicines",
            |_| {
                A::person(CareEvent::AccessGranted(grant(
                    "g-1",
                    Grantee::Principal(FAMILY.into()),
                    &[Category::Medicines],
                    PERSON,
                    PersonHasCapacity,
                )))
            },
            OK,
        ),
        case(
            "the attorney grants access under the LPA",
            |_| {
                A::person(CareEvent::AccessGranted(grant(
                    "g-1",
                    Grantee::Principal(FAMILY.into()),
                    &[Category::DailyNotes],
                    LPA,
                    LastingPowerOfAttorney,
                )))
                .by(LPA)
            },
            OK,
        ),
        case(
            "a deputy grants access under the court order",
            |l| {
                l.ok_person(representative(
                    "rep-deputy",
                    Relationship::Deputy,
                    Some("COP 1234567"),
                    false,
                ));
                A::person(CareEvent::AccessGranted(grant(
                    "g-1",
                    Grantee::Role(Role::SocialCareProfessional),
                    &[Category::CarePlan],
                    "rep-deputy",
                    CourtDeputy,
                )))
            },
            OK,
        ),
        case(
            "a grant after care has ended",
            |_| {
                A::person(CareEvent::AccessGranted(grant(
                    "g-1",
                    Grantee::Principal("son".into()),
                    &[Category::CarePlan],
                    ENDED,
                    PersonHasCapacity,
                )))
                .about(Some(ENDED))
            },
            OK,
        ),
        case(
            "a family member without an LPA grants access",
            |_| {
                A::person(CareEvent::AccessGranted(grant(
                    "g-1",
                    Grantee::Principal(FAMILY.into()),
                    &[Category::Medicines],
                    FAMILY,
                    LastingPowerOfAttorney,
                )))
            },
            refuse!(
                R::NoAuthority { .. },
                "rep-family has no authority to decide for person-1"
            ),
        ),
        case(
            "a care worker grants access for the person",
            |_| {
                A::person(CareEvent::AccessGranted(grant(
                    "g-1",
                    Grantee::Principal(FAMILY.into()),
                    &[Category::Medicines],
                    CW,
                    PersonHasCapacity,
                )))
            },
            refuse!(R::NoAuthority { .. }),
        ),
        case(
            "the attorney decides on the basis that the person has capacity",
            |_| {
                A::person(CareEvent::AccessGranted(grant(
                    "g-1",
                    Grantee::Principal(FAMILY.into()),
                    &[Category::Medicines],
                    LPA,
                    PersonHasCapacity,
                )))
            },
            refuse!(R::WrongBasis {
                basis: PersonHasCapacity,
                ..
            }),
        ),
        case(
            "the attorney claims to be a court deputy",
            |_| {
                A::person(CareEvent::AccessGranted(grant(
                    "g-1",
                    Grantee::Principal(FAMILY.into()),
                    &[Category::Medicines],
                    LPA,
                    CourtDeputy,
                )))
            },
            refuse!(R::WrongBasis {
                basis: CourtDeputy,
                ..
            }),
        ),
        case(
            "the person decides on an LPA basis",
            |_| {
                A::person(CareEvent::AccessGranted(grant(
                    "g-1",
                    Grantee::Principal(FAMILY.into()),
                    &[Category::Medicines],
                    PERSON,
                    LastingPowerOfAttorney,
                )))
            },
            refuse!(R::WrongBasis { .. }, "cannot decide on the basis"),
        ),
        case(
            "a grant that expires when it is made",
            |l| {
                let mut g = grant(
                    "g-1",
                    Grantee::Principal(FAMILY.into()),
                    &[Category::Medicines],
                    PERSON,
                    PersonHasCapacity,
                );
                g.expires_at_us = Some(l.now);
                A::person(CareEvent::AccessGranted(g))
            },
            refuse!(R::ExpiryInPast, "not after the time of the decision"),
        ),
        case(
            "a grant with no categories",
            |_| {
                A::person(CareEvent::AccessGranted(grant(
                    "g-1",
                    Grantee::Principal(FAMILY.into()),
                    &[],
                    PERSON,
                    PersonHasCapacity,
                )))
            },
            refuse!(R::Missing {
                field: "categories", ..
            }),
        ),
        case(
            "a grant id used twice",
            |l| {
                let g = grant(
                    "g-1",
                    Grantee::Principal(FAMILY.into()),
                    &[Category::Medicines],
                    PERSON,
                    PersonHasCapacity,
                );
                l.ok_person(CareEvent::AccessGranted(g.clone()));
                A::person(CareEvent::AccessGranted(g))
            },
            refuse!(R::GrantExists { .. }),
        ),
        // ------------------------------------------------------------ access.revoked
        case(
            "the person revokes a grant the attorney made",
            |l| {
                l.ok_person(CareEvent::AccessGranted(grant(
                    "g-1",
                    Grantee::Principal(FAMILY.into()),
                    &[Category::Medicines],
                    LPA,
                    LastingPowerOfAttorney,
                )));
                A::person(revoke("g-1", PERSON, PersonHasCapacity))
            },
            OK,
        ),
        case(
            "revoke a grant that does not exist",
            |_| A::person(revoke("g-9", PERSON, PersonHasCapacity)),
            refuse!(
                R::UnknownGrant { .. },
                "grant g-9 does not exist for person-1"
            ),
        ),
        case(
            "revoke a grant twice",
            |l| {
                l.ok_person(CareEvent::AccessGranted(grant(
                    "g-1",
                    Grantee::Principal(FAMILY.into()),
                    &[Category::Medicines],
                    PERSON,
                    PersonHasCapacity,
                )));
                l.ok_person(revoke("g-1", PERSON, PersonHasCapacity));
                A::person(revoke("g-1", PERSON, PersonHasCapacity))
            },
            refuse!(R::GrantRevoked { .. }),
        ),
        case(
            "the grantee revokes a grant without authority",
            |l| {
                l.ok_person(CareEvent::AccessGranted(grant(
                    "g-1",
                    Grantee::Principal(FAMILY.into()),
                    &[Category::Medicines],
                    PERSON,
                    PersonHasCapacity,
                )));
                A::person(revoke("g-1", FAMILY, LastingPowerOfAttorney))
            },
            refuse!(R::NoAuthority { .. }),
        ),
        // ------------------------------------------------------------ sharing and handover
        case(
            "the person withdraws consent to share",
            |_| A::person(sharing(PARTNER, &[], false, PERSON, PersonHasCapacity)),
            OK,
        ),
        case(
            "consent to share with a partner not registered",
            |_| {
                A::person(sharing(
                    "partner-x",
                    &[Category::Medicines],
                    true,
                    PERSON,
                    PersonHasCapacity,
                ))
            },
            refuse!(
                R::UnknownPartner { .. },
                "partner partner-x is not registered"
            ),
        ),
        case(
            "consent given with nothing to share",
            |_| A::person(sharing(PARTNER, &[], true, PERSON, PersonHasCapacity)),
            refuse!(R::Missing {
                field: "categories", ..
            }),
        ),
        case(
            "a family member consents to sharing",
            |_| {
                A::person(sharing(
                    PARTNER,
                    &[Category::DailyNotes],
                    true,
                    FAMILY,
                    LastingPowerOfAttorney,
                ))
            },
            refuse!(R::NoAuthority { .. }),
        ),
        case(
            "hand over medicines to the district nurses by secure email",
            |_| {
                A::person(handover(
                    PARTNER,
                    &[Category::Medicines],
                    Channel::SecureEmail,
                ))
            },
            OK,
        ),
        case(
            "hand over by a method not agreed with the partner",
            |_| {
                A::person(handover(
                    PARTNER,
                    &[Category::Medicines],
                    Channel::Telephone,
                ))
            },
            refuse!(
                R::ChannelNotAgreed {
                    agreed: "secure email",
                    used: "telephone",
                    ..
                },
                "the method agreed with partner-dn is secure email, not telephone"
            ),
        ),
        case(
            "hand over a category the person did not consent to share",
            |_| {
                A::person(handover(
                    PARTNER,
                    &[Category::Medicines, Category::DailyNotes],
                    Channel::SecureEmail,
                ))
            },
            refuse!(
                R::NoSharingConsent {
                    category: "daily notes",
                    ..
                },
                "has not consented to share daily notes with partner-dn"
            ),
        ),
        case(
            "hand over after consent was withdrawn",
            |l| {
                l.ok_person(sharing(PARTNER, &[], false, PERSON, PersonHasCapacity));
                A::person(handover(
                    PARTNER,
                    &[Category::Medicines],
                    Channel::SecureEmail,
                ))
            },
            refuse!(R::NoSharingConsent { .. }),
        ),
        case(
            "receive a handover",
            |_| A::person(handover_received(PARTNER)).by(CW),
            OK,
        ),
        case(
            "receive a handover from an unknown partner",
            |_| A::person(handover_received("partner-x")).by(CW),
            refuse!(R::UnknownPartner { .. }),
        ),
        // ------------------------------------------------------------ access.read
        case(
            "a care worker reads the care plan for direct care",
            |_| {
                A::person(read(
                    Role::CareWorker,
                    &[Category::CarePlan, Category::Medicines],
                    Purpose::DirectCare,
                ))
                .by(CW)
            },
            OK,
        ),
        case(
            "a read that records the policy's own basis",
            |_| {
                A::person(read_on(
                    Role::CareWorker,
                    &[(Category::CarePlan, Basis::RoleDefault)],
                    Purpose::DirectCare,
                ))
                .by(CW)
            },
            OK,
        ),
        case(
            "a read that claims a basis the policy did not give",
            |_| {
                A::person(read_on(
                    Role::CareWorker,
                    &[(
                        Category::CarePlan,
                        Basis::Grant {
                            grant_id: "g-forged".into(),
                        },
                    )],
                    Purpose::DirectCare,
                ))
                .by(CW)
            },
            refuse!(R::AccessNotAllowed { .. }),
        ),
        case(
            "the person reads their whole record",
            |_| {
                A::person(read(
                    Role::Person,
                    &all_categories(),
                    Purpose::PersonalAccess,
                ))
                .by(PERSON)
            },
            OK,
        ),
        case(
            "the attorney reads as the person does",
            |_| {
                A::person(read(
                    Role::Representative,
                    &all_categories(),
                    Purpose::PersonalAccess,
                ))
                .by(LPA)
            },
            OK,
        ),
        case(
            "the daughter reads what the person granted her",
            |l| {
                l.ok_person(CareEvent::AccessGranted(grant(
                    "g-1",
                    Grantee::Principal(FAMILY.into()),
                    &[Category::Medicines],
                    PERSON,
                    PersonHasCapacity,
                )));
                A::person(read(
                    Role::Representative,
                    &[Category::Medicines],
                    Purpose::PersonalAccess,
                ))
                .by(FAMILY)
            },
            OK,
        ),
        case(
            "the person reads their record after care ended",
            |_| {
                A::person(read(
                    Role::Person,
                    &[Category::DailyNotes],
                    Purpose::PersonalAccess,
                ))
                .by(ENDED)
                .about(Some(ENDED))
            },
            OK,
        ),
        case(
            "the daughter reads medicines with no grant",
            |_| {
                A::person(read(
                    Role::Representative,
                    &[Category::Medicines],
                    Purpose::PersonalAccess,
                ))
                .by(FAMILY)
            },
            refuse!(
                R::AccessNotAllowed { .. },
                "a representative has no access to medicines and allergies for personal access"
            ),
        ),
        case(
            "the daughter reads after the grant was revoked",
            |l| {
                l.ok_person(CareEvent::AccessGranted(grant(
                    "g-1",
                    Grantee::Principal(FAMILY.into()),
                    &[Category::Medicines],
                    PERSON,
                    PersonHasCapacity,
                )));
                l.ok_person(revoke("g-1", PERSON, PersonHasCapacity));
                A::person(read(
                    Role::Representative,
                    &[Category::Medicines],
                    Purpose::PersonalAccess,
                ))
                .by(FAMILY)
            },
            refuse!(
                R::AccessNotAllowed { .. },
                "a representative has no access to medicines and allergies for personal access; grant g-1 was revoked at 20"
            ),
        ),
        case(
            "a care worker reads the access log",
            |_| {
                A::person(read(
                    Role::CareWorker,
                    &[Category::AccessLog],
                    Purpose::DirectCare,
                ))
                .by(CW)
            },
            refuse!(R::AccessNotAllowed { .. }, "access log"),
        ),
        case(
            "a care worker claims the registered manager's role",
            |_| {
                A::person(read(
                    Role::RegisteredManager,
                    &[Category::AccessLog],
                    Purpose::Administration,
                ))
                .by(CW)
            },
            refuse!(R::AccessNotAllowed { .. }),
        ),
        case(
            "a person reads someone else's record",
            |_| {
                A::person(read(
                    Role::Person,
                    &[Category::CarePlan],
                    Purpose::PersonalAccess,
                ))
                .by(WAITING)
            },
            refuse!(R::AccessNotAllowed { .. }),
        ),
        case(
            "a read with no categories",
            |_| A::person(read(Role::CareWorker, &[], Purpose::DirectCare)).by(CW),
            refuse!(R::Missing {
                field: "categories", ..
            }),
        ),
        // ------------------------------------------------------------ access.refused
        case(
            "record a refused read",
            |_| A::person(refused_read("no grant for medicines")).by(FAMILY),
            OK,
        ),
        case(
            "record a refused read without the reason",
            |_| A::person(refused_read("")).by(FAMILY),
            refuse!(R::Missing { field: "reason", .. }),
        ),
        case(
            "record a refused read about someone not registered",
            |_| {
                A::person(refused_read("not registered"))
                    .by(FAMILY)
                    .about(Some("person-x"))
            },
            refuse!(R::NotRegistered { .. }),
        ),
        // ------------------------------------------------------------ access.emergency
        case(
            "a paramedic breaks the glass for medicines for two hours",
            |l| A::person(emergency(&[Category::Medicines], l.now + 2 * HOUR_US)).by("paramedic-1"),
            OK,
        ),
        case(
            "a paramedic reads medicines under break-glass",
            |l| {
                let until = l.now + 2 * HOUR_US;
                l.ok(
                    "paramedic-1",
                    Some(PERSON),
                    emergency(&[Category::Medicines], until),
                );
                A::person(read(
                    Role::EmergencyClinician,
                    &[Category::Medicines],
                    Purpose::Emergency,
                ))
                .by("paramedic-1")
            },
            OK,
        ),
        case(
            "a paramedic reads medicines without break-glass",
            |_| {
                A::person(read(
                    Role::EmergencyClinician,
                    &[Category::Medicines],
                    Purpose::Emergency,
                ))
                .by("paramedic-1")
            },
            refuse!(
                R::AccessNotAllowed { .. },
                "an emergency clinician has no access to medicines and allergies for emergency; break-glass emergency access is needed: record an emergency access with a reason first"
            ),
        ),
        case(
            "the registered manager reviews a break-glass access",
            |l| {
                let seq = break_glass(l);
                A::person(reviewed(seq, ReviewOutcome::Appropriate))
            },
            OK,
        ),
        case(
            "a break-glass access reviewed as not appropriate, with the action taken",
            |l| {
                let seq = break_glass(l);
                A::person(reviewed(
                    seq,
                    ReviewOutcome::NotAppropriate {
                        action_taken: "reported to the GP practice".into(),
                    },
                ))
            },
            OK,
        ),
        case(
            "not appropriate, with no action taken",
            |l| {
                let seq = break_glass(l);
                A::person(reviewed(
                    seq,
                    ReviewOutcome::NotAppropriate {
                        action_taken: " ".into(),
                    },
                ))
            },
            refuse!(R::Missing { .. }, "action taken is required"),
        ),
        case(
            "a review dated before the access it reviews",
            |l| {
                let before = l.now - MINUTE_US;
                let seq = break_glass(l);
                A::person(reviewed(seq, ReviewOutcome::Appropriate)).at(before)
            },
            refuse!(R::ReviewBeforeAccess { .. }, "dated before the access"),
        ),
        case(
            "a break-glass access reviewed twice",
            |l| {
                let seq = break_glass(l);
                l.ok_person(reviewed(seq, ReviewOutcome::Appropriate));
                A::person(reviewed(seq, ReviewOutcome::Appropriate))
            },
            refuse!(R::NoEmergencyToReview { .. }, "waiting for review"),
        ),
        case(
            "a review naming an event that is not a break-glass access",
            |l| {
                break_glass(l);
                A::person(reviewed(1, ReviewOutcome::Appropriate))
            },
            refuse!(R::NoEmergencyToReview { event: 1, .. }),
        ),
        case(
            "a review of one person's break-glass on another's record",
            |l| {
                let seq = break_glass(l);
                A::person(reviewed(seq, ReviewOutcome::Appropriate)).about(Some(ENDED))
            },
            refuse!(R::NoEmergencyToReview { .. }),
        ),
        case(
            "break-glass for daily notes",
            |l| {
                A::person(emergency(
                    &[Category::Medicines, Category::DailyNotes],
                    l.now + HOUR_US,
                ))
                .by("paramedic-1")
            },
            refuse!(
                R::EmergencyCategory {
                    category: "daily notes"
                },
                "medicines and allergies only, not daily notes"
            ),
        ),
        case(
            "break-glass for more than 12 hours",
            |l| {
                A::person(emergency(&[Category::Medicines], l.now + 12 * HOUR_US + 1))
                    .by("paramedic-1")
            },
            refuse!(R::EmergencyTooLong, "at most 12 hours"),
        ),
        case(
            "break-glass that never expires, from an occurred-at before 1970",
            |_| {
                A::person(emergency(&[Category::Medicines], i64::MAX))
                    .by("paramedic-1")
                    .at(-HOUR_US)
            },
            refuse!(R::EmergencyTooLong),
        ),
        case(
            "break-glass already expired",
            |l| A::person(emergency(&[Category::Medicines], l.now)).by("paramedic-1"),
            refuse!(R::ExpiryInPast),
        ),
        // ------------------------------------------------------------ request.received
        case(
            "a council request due in 24 hours",
            |l| A::org(request("req-1", &[PERSON], l.now, l.now + 24 * HOUR_US)),
            OK,
        ),
        case(
            "a council request due sooner, about the provider as a whole",
            |l| A::org(request("req-1", &[], l.now - HOUR_US, l.now + HOUR_US)),
            OK,
        ),
        case(
            "a council request due before it was received",
            |l| A::org(request("req-1", &[PERSON], l.now, l.now - 1)),
            refuse!(
                R::DueBeforeReceipt,
                "the due time is before the time the request was received"
            ),
        ),
        case(
            "a council request due more than 24 hours after receipt",
            |l| A::org(request("req-1", &[PERSON], l.now, l.now + 30 * HOUR_US)),
            refuse!(
                R::DueTooLate { hours: 30 },
                "30 hours after receipt; requests are answered within 24 hours"
            ),
        ),
        case(
            "a council request due one minute past 24 hours",
            |l| {
                A::org(request(
                    "req-1",
                    &[PERSON],
                    l.now,
                    l.now + 24 * HOUR_US + MINUTE_US,
                ))
            },
            refuse!(R::DueTooLate { .. }),
        ),
        case(
            "a council request received at the start of time",
            |_| A::org(request("req-1", &[PERSON], i64::MIN, 0)),
            refuse!(R::ReceivedLongBefore { days: 366 }),
        ),
        case(
            "a council request received more than a year before it is recorded",
            |l| {
                A::org(request(
                    "req-1",
                    &[PERSON],
                    l.now - 367 * DAY_US,
                    l.now - 367 * DAY_US + HOUR_US,
                ))
            },
            refuse!(
                R::ReceivedLongBefore { days: 366 },
                "more than 366 days before it is recorded"
            ),
        ),
        case(
            "a paper council request back-entered eleven months on",
            |l| {
                A::org(request(
                    "req-1",
                    &[PERSON],
                    l.now - 330 * DAY_US,
                    l.now - 330 * DAY_US + HOUR_US,
                ))
            },
            OK,
        ),
        case(
            "a council request received in the future",
            |l| {
                A::org(request(
                    "req-1",
                    &[PERSON],
                    l.now + 6 * MINUTE_US,
                    l.now + 10 * HOUR_US,
                ))
            },
            refuse!(R::InFuture { minutes: 6 }),
        ),
        case(
            "a council request about someone not registered",
            |l| A::org(request("req-1", &["person-x"], l.now, l.now + HOUR_US)),
            refuse!(R::NotRegistered { .. }),
        ),
        case(
            "a council request id used twice",
            |l| {
                open_request(l);
                A::org(request("req-1", &[PERSON], l.now, l.now + HOUR_US))
            },
            refuse!(R::RequestExists { .. }),
        ),
        // ------------------------------------------------------------ acknowledged, responded, withdrawn
        case(
            "acknowledge a request",
            |l| {
                open_request(l);
                A::org(acknowledged("req-1"))
            },
            OK,
        ),
        case(
            "acknowledge a request twice",
            |l| {
                open_request(l);
                l.ok_org(acknowledged("req-1"));
                A::org(acknowledged("req-1"))
            },
            refuse!(R::SlaAlreadyRecorded {
                what: "acknowledgement",
                ..
            }),
        ),
        case(
            "acknowledge an unknown request",
            |_| A::org(acknowledged("req-9")),
            refuse!(R::UnknownRequest { .. }, "request req-9 does not exist"),
        ),
        case(
            "respond to a request",
            |l| {
                open_request(l);
                l.ok_org(acknowledged("req-1"));
                A::org(responded("req-1"))
            },
            OK,
        ),
        case(
            "respond to a request late",
            |l| {
                open_request(l);
                l.advance(30 * HOUR_US);
                A::org(responded("req-1"))
            },
            OK,
        ),
        case(
            "respond to a request already answered",
            |l| {
                open_request(l);
                l.ok_org(responded("req-1"));
                A::org(responded("req-1"))
            },
            refuse!(
                R::RequestClosed {
                    state: "responded",
                    ..
                },
                "request req-1 is already responded"
            ),
        ),
        case(
            "respond to a withdrawn request",
            |l| {
                open_request(l);
                l.ok_org(withdrawn("req-1", "sent in error"));
                A::org(responded("req-1"))
            },
            refuse!(R::RequestClosed {
                state: "withdrawn",
                ..
            }),
        ),
        case(
            "withdraw a request",
            |l| {
                open_request(l);
                A::org(withdrawn("req-1", "the review was postponed"))
            },
            OK,
        ),
        case(
            "withdraw without a reason",
            |l| {
                open_request(l);
                A::org(withdrawn("req-1", ""))
            },
            refuse!(R::Missing { field: "reason", .. }),
        ),
        case(
            "withdraw an answered request",
            |l| {
                open_request(l);
                l.ok_org(responded("req-1"));
                A::org(withdrawn("req-1", "no longer needed"))
            },
            refuse!(R::RequestClosed { .. }),
        ),
        // ------------------------------------------------------------ SLA warning and breach
        case(
            "warn when the warning is due (4 hours before)",
            |l| {
                let due = open_request(l);
                l.now = due - 4 * HOUR_US;
                A::org(sla_warning("req-1", due))
            },
            OK,
        ),
        case(
            "warn before the warning is due",
            |l| {
                let due = open_request(l);
                l.now = due - 4 * HOUR_US - 1;
                A::org(sla_warning("req-1", due))
            },
            refuse!(
                R::SlaNotDue {
                    what: "warning",
                    ..
                },
                "request req-1 is not due for a warning yet"
            ),
        ),
        case(
            "warn twice",
            |l| {
                let due = open_request(l);
                l.now = due - HOUR_US;
                l.ok_org(sla_warning("req-1", due));
                A::org(sla_warning("req-1", due))
            },
            refuse!(
                R::SlaAlreadyRecorded {
                    what: "warning",
                    ..
                },
                "already has a warning"
            ),
        ),
        case(
            "warn with the wrong due time",
            |l| {
                let due = open_request(l);
                l.now = due - HOUR_US;
                A::org(sla_warning("req-1", due + 1))
            },
            refuse!(R::SlaDueMismatch { .. }),
        ),
        case(
            "warn about an answered request",
            |l| {
                let due = open_request(l);
                l.ok_org(responded("req-1"));
                l.now = due - HOUR_US;
                A::org(sla_warning("req-1", due))
            },
            refuse!(R::RequestClosed { .. }),
        ),
        case(
            "record a breach once the due time has passed",
            |l| {
                let due = open_request(l);
                l.now = due + 1;
                A::org(sla_breached("req-1", due))
            },
            OK,
        ),
        case(
            "record a breach at the due time itself",
            |l| {
                let due = open_request(l);
                l.now = due;
                A::org(sla_breached("req-1", due))
            },
            refuse!(
                R::SlaNotDue { what: "breach", .. },
                "not due for a breach yet"
            ),
        ),
        case(
            "record a breach twice",
            |l| {
                let due = open_request(l);
                l.now = due + HOUR_US;
                l.ok_org(sla_breached("req-1", due));
                A::org(sla_breached("req-1", due))
            },
            refuse!(R::SlaAlreadyRecorded { what: "breach", .. }),
        ),
        case(
            "record a breach for an unknown request",
            |l| A::org(sla_breached("req-9", l.now - HOUR_US)),
            refuse!(R::UnknownRequest { .. }),
        ),
        // ------------------------------------------------------------ outages and back-entry
        case(
            "declare an outage",
            |_| A::org(outage_declared("out-1")),
            OK,
        ),
        case(
            "declare a second outage after the first ended",
            |l| {
                outage(l);
                A::org(outage_declared("out-2"))
            },
            OK,
        ),
        case(
            "declare an outage while one is going on",
            |l| {
                l.ok_org(outage_declared("out-1"));
                A::org(outage_declared("out-2"))
            },
            refuse!(R::OutageOngoing { .. }, "outage out-1 is still going on"),
        ),
        case(
            "reuse an outage id",
            |l| {
                outage(l);
                A::org(outage_declared("out-1"))
            },
            refuse!(R::OutageExists { .. }),
        ),
        case(
            "end an outage",
            |l| {
                l.ok_org(outage_declared("out-1"));
                A::org(outage_ended("out-1"))
            },
            OK,
        ),
        case(
            "end an outage twice",
            |l| {
                outage(l);
                A::org(outage_ended("out-1"))
            },
            refuse!(R::OutageEnded { .. }, "outage out-1 has already ended"),
        ),
        case(
            "end an outage at a time before it started",
            |l| {
                let declared = l.now;
                l.ok_org(outage_declared("out-1"));
                A::org(outage_ended("out-1")).at(declared - HOUR_US)
            },
            refuse!(
                R::OutageEndsBeforeStart { .. },
                "outage out-1 cannot end before the time it started"
            ),
        ),
        case(
            "declare an outage from more than a year ago",
            |l| A::org(outage_declared("out-1")).at(l.now - 367 * DAY_US),
            refuse!(R::OutageLongAgo { days: 366 }, "at most 366 days"),
        ),
        case(
            "end an outage more than 31 days after it began",
            |l| {
                l.ok_org(outage_declared("out-1"));
                l.advance(32 * DAY_US);
                A::org(outage_ended("out-1"))
            },
            refuse!(R::OutageTooLong { days: 31 }, "at most 31 days"),
        ),
        case(
            "end an unknown outage",
            |_| A::org(outage_ended("out-9")),
            refuse!(R::UnknownOutage { .. }),
        ),
        case(
            "sign in to the pages",
            |_| A::org(signed_in("s-1")),
            OK,
        ),
        case(
            "sign in again under a session that is open",
            |l| {
                l.ok_org(signed_in("s-1"));
                A::org(signed_in("s-1"))
            },
            refuse!(R::SessionOpen { .. }, "session s-1 is already open"),
        ),
        case(
            "a seventeenth open session",
            |l| {
                for i in 0..16 {
                    l.ok_org(signed_in(&format!("s-{i}")));
                }
                A::org(signed_in("s-16"))
            },
            refuse!(R::TooMany { .. }, "open sessions of this user"),
        ),
        case(
            "sign out",
            |l| {
                l.ok_org(signed_in("s-1"));
                A::org(CareEvent::SignedOut(SignedOut {
                    session: "s-1".into(),
                    reason: SignOutReason::SignedOut,
                }))
            },
            OK,
        ),
        case(
            "sign out of a session that is not open",
            |_| {
                A::org(CareEvent::SignedOut(SignedOut {
                    session: "s-9".into(),
                    reason: SignOutReason::IdleTimeout,
                }))
            },
            refuse!(R::NoSuchSession { .. }, "has no open session s-9"),
        ),
        case(
            "a failed sign-in",
            |_| {
                A::org(CareEvent::SignInFailed(SignInFailed {
                    user: "staff-xx".into(),
                    reason: "wrong user id or password".into(),
                }))
            },
            OK,
        ),
        case(
            "a failed sign-in with no user id",
            |_| {
                A::org(CareEvent::SignInFailed(SignInFailed {
                    user: String::new(),
                    reason: "wrong user id or password".into(),
                }))
            },
            refuse!(R::Missing { .. }),
        ),
        case(
            "back-enter a paper diary note written during the outage",
            |l| {
                let (declared, _) = outage(l);
                A::person(back_entered(
                    "out-1",
                    diary(Author::Staff, "Visit done on paper"),
                ))
                .by(CW)
                .at(declared + 30 * MINUTE_US)
            },
            OK,
        ),
        case(
            "back-enter a paper MAR entry at the moment the outage ended",
            |l| {
                let (_, ended) = outage(l);
                A::person(back_entered("out-1", given(MED)))
                    .by(CW)
                    .at(ended)
            },
            OK,
        ),
        case(
            "back-enter an entry dated after the outage ended",
            |l| {
                let (_, ended) = outage(l);
                A::person(back_entered("out-1", diary(Author::Staff, "late")))
                    .by(CW)
                    .at(ended + HOUR_US)
            },
            refuse!(R::OutsideOutage { .. }, "outside outage out-1"),
        ),
        case(
            "back-enter an entry dated before the outage began",
            |l| {
                let (declared, _) = outage(l);
                A::person(back_entered("out-1", diary(Author::Staff, "early")))
                    .by(CW)
                    .at(declared - MINUTE_US)
            },
            refuse!(R::OutsideOutage { .. }),
        ),
        case(
            "back-enter before the outage has ended",
            |l| {
                let declared = l.now;
                l.ok_org(outage_declared("out-1"));
                l.advance(HOUR_US);
                A::person(back_entered("out-1", diary(Author::Staff, "on paper")))
                    .by(CW)
                    .at(declared + 10 * MINUTE_US)
            },
            refuse!(
                R::OutageNotEnded { .. },
                "back-entry starts once systems are back"
            ),
        ),
        case(
            "back-enter against an unknown outage",
            |l| {
                A::person(back_entered("out-9", diary(Author::Staff, "on paper")))
                    .by(CW)
                    .at(l.now - HOUR_US)
            },
            refuse!(R::UnknownOutage { .. }),
        ),
        case(
            "back-enter a back-entry",
            |l| {
                let (declared, _) = outage(l);
                A::person(back_entered(
                    "out-1",
                    back_entered("out-1", diary(Author::Staff, "twice")),
                ))
                .by(CW)
                .at(declared + 30 * MINUTE_US)
            },
            refuse!(R::NotBackEnterable),
        ),
        case(
            "back-enter an organisation event",
            |l| {
                let (declared, _) = outage(l);
                A::person(back_entered("out-1", staff("staff-x", Role::CareWorker)))
                    .at(declared + 30 * MINUTE_US)
            },
            refuse!(R::NotBackEnterable),
        ),
        case(
            "back-enter a registration",
            |l| {
                let (declared, _) = outage(l);
                A::person(back_entered("out-1", person("Edith Clarke")))
                    .at(declared + 30 * MINUTE_US)
            },
            refuse!(R::NotBackEnterable),
        ),
        case(
            "back-enter a dose of a medicine not on the MAR",
            |l| {
                let (declared, _) = outage(l);
                A::person(back_entered("out-1", given("med-x")))
                    .by(CW)
                    .at(declared + 30 * MINUTE_US)
            },
            refuse!(R::NotOnMar { .. }),
        ),
        case(
            "back-enter without the paper reference",
            |l| {
                let (declared, _) = outage(l);
                A::person(CareEvent::BackEntered(BackEntered {
                    outage_id: "out-1".into(),
                    paper_reference: String::new(),
                    entry: Box::new(diary(Author::Staff, "x")),
                }))
                .by(CW)
                .at(declared + 30 * MINUTE_US)
            },
            refuse!(R::Missing {
                field: "paper reference", ..
            }),
        ),
    ]
}

#[test]
fn every_kind_is_accepted_and_refused_for_the_right_reason() {
    let kinds: BTreeSet<&'static str> = CareEvent::KINDS.iter().copied().collect();
    let mut accepted = BTreeSet::new();
    let mut refused = BTreeSet::new();
    let mut failures = Vec::new();
    let mut names = BTreeSet::new();
    for case in cases() {
        assert!(
            names.insert(case.name),
            "two cases are named {:?}",
            case.name
        );
        let mut l = Ledger::fixture();
        let attempt = (case.build)(&mut l);
        let kind = attempt.event.kind();
        // Drain what the set-up changed, so the attempt's own changes can be seen.
        let _ = l.state.take_changes();
        let before = l.state.all_pairs();
        let occurred = attempt.occurred.unwrap_or(l.now);
        let result = catch_unwind(AssertUnwindSafe(|| {
            l.try_apply_at(
                &attempt.actor,
                attempt.subject.as_deref(),
                occurred,
                &attempt.event,
            )
        }));
        let name = case.name;
        let result = match result {
            Ok(result) => result,
            Err(_) => {
                failures.push(format!("{name}: the rules panicked"));
                continue;
            }
        };
        match (&case.expect, result) {
            (Expect::Accept, Ok(())) => {
                accepted.insert(kind);
                let after = l.state.all_pairs();
                if after == before {
                    failures.push(format!("{name}: accepted, but nothing changed"));
                }
                if l.state.take_changes().is_empty() {
                    failures.push(format!("{name}: accepted, but no change to persist"));
                }
                if replay_all(&l.history).all_pairs() != after {
                    failures.push(format!(
                        "{name}: replaying the log does not give the applied state"
                    ));
                }
            }
            (Expect::Accept, Err(e)) => {
                failures.push(format!("{name}: expected accepted, refused with {e:?}"))
            }
            (Expect::Refuse { pattern, .. }, Ok(())) => {
                failures.push(format!("{name}: expected {pattern}, accepted"))
            }
            (
                Expect::Refuse {
                    check,
                    pattern,
                    says,
                },
                Err(e),
            ) => {
                let message = e.to_string();
                if !check(&e) {
                    failures.push(format!("{name}: expected {pattern}, got {e:?}"));
                } else if !message.contains(says) {
                    failures.push(format!("{name}: message {message:?} lacks {says:?}"));
                } else {
                    refused.insert(kind);
                }
                if l.state.all_pairs() != before {
                    failures.push(format!("{name}: refused, but the state changed"));
                }
                if !l.state.take_changes().is_empty() {
                    failures.push(format!("{name}: refused, but left changes to persist"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let missing = |seen: &BTreeSet<&'static str>| -> Vec<&'static str> {
        kinds.difference(seen).copied().collect()
    };
    assert_eq!(
        accepted,
        kinds,
        "kinds with no accepted case: {:?}",
        missing(&accepted)
    );
    assert_eq!(
        refused,
        kinds,
        "kinds with no refused case: {:?}",
        missing(&refused)
    );
}

fn signed_in(session: &str) -> CareEvent {
    CareEvent::SignedIn(SignedIn {
        role: Role::RegisteredManager,
        method: SignInMethod::Password,
        session: session.into(),
    })
}

/// The messages a care worker meets most often, word for word.
#[test]
fn refusal_messages_read_as_plain_sentences() {
    let mut l = Ledger::fixture();
    l.ok(CW, Some(PERSON), given(MED));
    l.advance(HOUR_US);
    let e = l
        .try_apply(CW, Some(PERSON), &given(MED))
        .expect_err("a second dose an hour later is refused");
    assert_eq!(
        e.to_string(),
        "Paracetamol was given at 2026-03-02 09:14 UTC; the next dose is not allowed before \
         2026-03-02 13:14 UTC (minimum interval 240 minutes)"
    );

    let e = l
        .try_apply(RM, Some(PERSON), &plan(1))
        .expect_err("a stale plan version is refused");
    assert_eq!(
        e.to_string(),
        "care plan version 1 cannot be published: the current version is 1, so the next must \
         be 2 (someone else may have published meanwhile)"
    );

    let e = l
        .try_apply_at(
            CW,
            Some(PERSON),
            l.now + 20 * MINUTE_US,
            &diary(Author::Staff, "x"),
        )
        .expect_err("a note 20 minutes in the future is refused");
    assert_eq!(
        e.to_string(),
        "the time it happened is 20 minutes in the future; check the device clock"
    );

    let e = l
        .try_apply(CW, Some(ENDED), &visit_started("v-1"))
        .expect_err("no visits after care ended");
    assert_eq!(
        e.to_string(),
        "person-3's care has ended; record care only while care is active"
    );
}

/// A dose back-entered from paper counts for the interval of the doses after it, and the
/// last dose stays the latest one whatever order they were entered in.
#[test]
fn back_entered_doses_keep_the_latest_dose_as_the_last() {
    let mut l = Ledger::fixture();
    let declared = l.now;
    l.ok_org(outage_declared("out-1"));
    l.advance(6 * HOUR_US);
    l.ok_org(outage_ended("out-1"));
    // A dose at 09:30 on paper, and one at 14:00 on paper, entered in the wrong order.
    let first = declared + 30 * MINUTE_US;
    let second = first + 5 * HOUR_US;
    let paper = |d| back_entered("out-1", given(d));
    l.try_apply_at(CW, Some(PERSON), second, &paper(MED))
        .unwrap();
    l.try_apply_at(CW, Some(PERSON), first, &paper(MED))
        .unwrap();
    let m = &l.state.person(PERSON).unwrap().medicines[MED];
    assert_eq!(m.given, 2);
    assert_eq!(m.last_given.unwrap().occurred_at_us, second);
    // A dose three hours after the later paper dose is too soon.
    l.now = second + 3 * HOUR_US;
    let e = l
        .try_apply_at(CW, Some(PERSON), second + 3 * HOUR_US, &given(MED))
        .unwrap_err();
    assert!(matches!(e, RuleError::DoseTooSoon { .. }), "{e:?}");
    let p = l.state.person(PERSON).unwrap();
    assert_eq!(p.counts.back_entries, 2);
    assert_eq!(l.state.outages.get("out-1").unwrap().back_entries, 2);
}
