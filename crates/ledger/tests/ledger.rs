//! The care ledger end to end: simulated history through the real store, rules enforced in
//! the appender, projections persisted, reopened and rebuilt.

use careledger_care::event::*;
use careledger_care::findings::{findings, Rule};
use careledger_care::types::*;
use careledger_care::{CareEvent, RuleError};
use careledger_ledger::simulate::{self, SimConfig, Simulator};
use careledger_ledger::{CareRefusal, Command, Ledger, LedgerError};
use careledger_store::{Store, StoreConfig};
use chrono::NaiveDate;

fn config() -> StoreConfig {
    StoreConfig {
        projection_persist_every_events: 4_096,
        ..StoreConfig::default()
    }
}

fn sim(people: u32, days: u32, seed: u64) -> SimConfig {
    SimConfig {
        people,
        days,
        seed,
        end: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
    }
}

fn new_ledger(dir: &std::path::Path) -> Ledger {
    Store::init(dir, "test.careledger.local/care").unwrap();
    Ledger::open(dir, config()).unwrap()
}

#[test]
fn simulator_is_deterministic() {
    let mut a = Simulator::new(sim(20, 10, 7));
    let mut b = Simulator::new(sim(20, 10, 7));
    let mut c = Simulator::new(sim(20, 10, 8));
    let mut differs = false;
    for d in 0..10 {
        let (x, y, z) = (a.day(d), b.day(d), c.day(d));
        assert_eq!(x, y, "day {d}");
        differs |= x != z;
    }
    assert!(differs, "another seed gives another history");
}

#[test]
fn simulated_history_passes_every_rule_and_rebuilds_to_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = new_ledger(dir.path());
    let report = simulate::run(&ledger, sim(30, 40, 1), |_, _, _| {}).unwrap();
    assert!(report.events > 10_000, "{report:?}");
    assert_eq!(ledger.store().size(), report.events);
    let (people, live_pairs) = ledger.read(|s| (s.people.len(), s.all_pairs())).unwrap();
    assert_eq!(people, 30, "every person registered");
    // The history holds each kind of finding the monitoring officer looks for.
    let now = NaiveDate::from_ymd_opt(2026, 11, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_micros();
    let found = ledger.read(|s| findings(s, now)).unwrap();
    for rule in [Rule::NoChoicesDiscussion, Rule::RequestBreached] {
        assert!(
            found.iter().any(|f| f.rule == rule),
            "{rule:?} in {} findings",
            found.len()
        );
    }
    let events = ledger.store().size();
    drop(ledger);

    // A clean reopen replays nothing, and the stored pairs are the live state.
    let ledger = Ledger::open(dir.path(), config()).unwrap();
    assert_eq!(ledger.store().projection_replayed(), 0);
    let stored = ledger.store().projection_pairs().unwrap();
    assert_eq!(stored, live_pairs);
    drop(ledger);

    // Deleted projections are rebuilt from the log, byte for byte.
    assert!(Store::drop_projections(dir.path()).unwrap() > 0);
    let ledger = Ledger::open(dir.path(), config()).unwrap();
    assert_eq!(ledger.store().projection_replayed(), events);
    assert_eq!(ledger.store().projection_pairs().unwrap(), stored);
    assert_eq!(ledger.read(|s| s.all_pairs()).unwrap(), stored);
    ledger.store().verify(|_, _| {}).unwrap();
}

#[test]
fn a_refused_command_appends_nothing_and_names_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = new_ledger(dir.path());
    let t = 1_790_000_000_000_000;
    let staff = Command::organisation(
        "staff-rm",
        t,
        CareEvent::StaffRegistered(StaffRegistered {
            staff_id: "staff-cw".into(),
            name: "Sam".into(),
            role: Role::CareWorker,
        }),
    );
    ledger.append(vec![staff]).unwrap();
    let before = ledger.store().size();
    // The second command is about a person nobody registered: the whole request fails.
    let visit = |p: &str| {
        Command::about(
            "staff-cw",
            p,
            t,
            CareEvent::VisitStarted(VisitStarted {
                visit_id: "v1".into(),
            }),
        )
    };
    let partner = Command::organisation(
        "staff-rm",
        t,
        CareEvent::PartnerRegistered(PartnerRegistered {
            partner_id: "dn".into(),
            name: "District nurses".into(),
            agreed_channel: Channel::SecureEmail,
            contact: "dn@nhs.example".into(),
        }),
    );
    let err = ledger
        .append(vec![partner.clone(), visit("person-x")])
        .unwrap_err();
    match &err {
        LedgerError::Refused {
            index: 1,
            error: CareRefusal::Rule(RuleError::NotRegistered { person }),
        } => assert_eq!(person, "person-x"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "event 1 refused: person-x is not registered"
    );
    assert_eq!(ledger.store().size(), before);
    assert!(
        ledger.read(|s| s.partners.is_empty()).unwrap(),
        "rolled back"
    );
    // The same partner alone is fine, and visible as soon as the append returns.
    ledger.append(vec![partner]).unwrap();
    assert!(ledger.read(|s| s.partners.contains("dn")).unwrap());
}

#[test]
fn a_dose_race_lets_exactly_one_through() {
    // Two care workers record the same dose at once: the rules run inside the single
    // appender, so exactly one is accepted.
    let dir = tempfile::tempdir().unwrap();
    let ledger = new_ledger(dir.path());
    let t = 1_790_000_000_000_000;
    let p = "person-1";
    let mut setup = vec![];
    for id in ["cw1", "cw2"] {
        setup.push(Command::organisation(
            "rm",
            t,
            CareEvent::StaffRegistered(StaffRegistered {
                staff_id: id.into(),
                name: id.into(),
                role: Role::CareWorker,
            }),
        ));
    }
    setup.push(Command::about(
        "rm",
        p,
        t,
        CareEvent::PersonRegistered(PersonRegistered {
            name: "Ada".into(),
            date_of_birth: NaiveDate::from_ymd_opt(1940, 1, 1).unwrap(),
            nhs_number: None,
            address: "1 Mill Lane".into(),
            gp_practice: "Riverside".into(),
            allergies: vec![],
        }),
    ));
    setup.push(Command::about(
        "rm",
        p,
        t,
        CareEvent::CareStarted(CareStarted {
            service: "home care".into(),
        }),
    ));
    setup.push(Command::about(
        "rm",
        p,
        t,
        CareEvent::MedicineAdded(MedicineAdded {
            medicine_id: "para".into(),
            name: "Paracetamol".into(),
            formulation: "tablet".into(),
            strength: "500 mg".into(),
            dose: "2 tablets".into(),
            route: "oral".into(),
            frequency: "four times a day".into(),
            min_interval_minutes: 240,
            as_required: false,
            prescriber: "Dr Patel".into(),
            stop_or_review_date: None,
        }),
    ));
    ledger.append(setup).unwrap();
    let dose = |who: &str| {
        Command::about(
            who,
            p,
            t + HOUR_US,
            CareEvent::AdministrationRecorded(AdministrationRecorded {
                medicine_id: "para".into(),
                outcome: AdministrationOutcome::Given,
                dose_given: Some("2 tablets".into()),
                reason: None,
                witnessed_by: None,
            }),
        )
    };
    let paused = ledger.store().pause().unwrap();
    let a = ledger.submit(vec![dose("cw1")]).unwrap();
    let b = ledger.submit(vec![dose("cw2")]).unwrap();
    drop(paused);
    let a = a.blocking_recv().unwrap();
    let b = b.blocking_recv().unwrap();
    assert!(a.is_ok());
    let refused = LedgerError::from(b.unwrap_err());
    assert!(
        matches!(
            refused,
            LedgerError::Refused {
                error: CareRefusal::Rule(RuleError::DoseTooSoon { .. }),
                ..
            }
        ),
        "{refused}"
    );
    let given = ledger
        .read(|s| s.person(p).unwrap().medicines["para"].given)
        .unwrap();
    assert_eq!(given, 1);
    // The MAR history is read from the log through the subject index.
    let history = ledger
        .history(p, 0, 100, |k| k == "mar.administration")
        .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].envelope.actor, "cw1");

    // Stopping the medicine and adding it again does not reset the interval.
    let readd = ledger.read(|s| s.person(p).unwrap().medicines["para"].details.clone());
    ledger
        .append(vec![
            Command::about(
                "rm",
                p,
                t + HOUR_US,
                CareEvent::MedicineStopped(MedicineStopped {
                    medicine_id: "para".into(),
                    reason: "paused by the GP".into(),
                }),
            ),
            Command::about(
                "rm",
                p,
                t + HOUR_US,
                CareEvent::MedicineAdded(readd.unwrap()),
            ),
        ])
        .unwrap();
    let again = ledger.append(vec![dose("cw2")]).unwrap_err();
    assert!(
        matches!(
            again,
            LedgerError::Refused {
                error: CareRefusal::Rule(RuleError::DoseTooSoon { .. }),
                ..
            }
        ),
        "{again}"
    );
}

#[test]
fn the_projections_count_of_events_is_checked_against_the_log_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = new_ledger(dir.path());
    let report = simulate::run(&ledger, sim(3, 5, 2), |_, _, _| {}).unwrap();
    drop(ledger);
    // Reopened from its stored pairs and mark: the count agrees.
    let ledger = Ledger::open(dir.path(), config()).unwrap();
    assert_eq!(ledger.store().size(), report.events);
    drop(ledger);

    // A stored count that disagrees with the log is refused, naming both.
    let key = careledger_store::keys::projection(b"#events");
    {
        let plain = Store::open(dir.path(), config()).unwrap();
        let stored = plain
            .raw_db()
            .get(&key)
            .unwrap()
            .expect("the count is stored");
        assert_eq!(
            u64::from_le_bytes(stored.as_ref().try_into().unwrap()),
            report.events
        );
        plain
            .raw_db()
            .insert(&key, &(report.events + 7).to_le_bytes()[..])
            .unwrap();
        plain.raw_db().flush().unwrap();
    }
    let err = Ledger::open(dir.path(), config()).err().expect("refused");
    let text = err.to_string();
    assert!(
        text.contains(&format!("reflect {} events", report.events + 7))
            && text.contains(&format!("holds {}", report.events)),
        "{text}"
    );

    // A projection stored before the count was kept (no count pair) opens, and keeps one.
    {
        let plain = Store::open(dir.path(), config()).unwrap();
        plain.raw_db().remove(&key).unwrap();
        plain.raw_db().flush().unwrap();
    }
    let ledger = Ledger::open(dir.path(), config()).unwrap();
    drop(ledger);
    let plain = Store::open(dir.path(), config()).unwrap();
    assert!(plain.raw_db().get(&key).unwrap().is_some());
}
