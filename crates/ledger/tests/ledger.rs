//! The care ledger end to end: commands through the real store, rules enforced in the
//! appender, projections persisted, reopened and checked against the log. A simulated
//! history through the ledger is `crates/sim/tests/history.rs`.

use careledger_care::event::*;
use careledger_care::types::*;
use careledger_care::{CareEvent, RuleError};
use careledger_ledger::{CareRefusal, Command, Ledger, LedgerError};
use careledger_store::{Store, StoreConfig};
use chrono::NaiveDate;

fn config() -> StoreConfig {
    StoreConfig {
        projection_persist_every_events: 4_096,
        ..StoreConfig::default()
    }
}

fn new_ledger(dir: &std::path::Path) -> Ledger {
    Store::init(dir, "test.careledger.local/care").unwrap();
    Ledger::open(dir, config()).unwrap()
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
    setup.push(Command::about("rm", p, t, ada()));
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
    let events = small_history(&ledger);
    drop(ledger);
    // Reopened from its stored pairs and mark: the count agrees.
    let ledger = Ledger::open(dir.path(), config()).unwrap();
    assert_eq!(ledger.store().size(), events);
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
            events
        );
        plain
            .raw_db()
            .insert(&key, &(events + 7).to_le_bytes()[..])
            .unwrap();
        plain.raw_db().flush().unwrap();
    }
    let err = Ledger::open(dir.path(), config()).err().expect("refused");
    let text = err.to_string();
    assert!(
        text.contains(&format!("reflect {} events", events + 7))
            && text.contains(&format!("holds {}", events)),
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

#[test]
fn a_projection_stored_by_an_older_layout_is_replayed_from_the_log_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = new_ledger(dir.path());
    let events = small_history(&ledger);
    let pairs = ledger.projection_pairs().unwrap();
    drop(ledger);
    let schema = careledger_store::keys::projection(b"#schema");
    let last_day = careledger_store::keys::projection(b"Dlast");
    // Stored by this build: opened from its pairs, nothing replayed.
    let ledger = Ledger::open(dir.path(), config()).unwrap();
    assert_eq!(ledger.store().projection_replayed(), 0);
    drop(ledger);
    // As an older build stored it: no layout key, and without a table it did not keep.
    {
        let plain = Store::open(dir.path(), config()).unwrap();
        assert_eq!(
            plain.raw_db().get(&schema).unwrap().as_deref(),
            Some(&[careledger_ledger::PROJECTION_SCHEMA][..])
        );
        plain.raw_db().remove(&schema).unwrap();
        assert!(plain.raw_db().remove(&last_day).unwrap().is_some());
        plain.raw_db().flush().unwrap();
    }
    let ledger = Ledger::open(dir.path(), config()).unwrap();
    assert_eq!(
        ledger.store().projection_replayed(),
        events,
        "replayed whole"
    );
    assert_eq!(ledger.projection_pairs().unwrap(), pairs, "and whole again");
    assert_eq!(
        ledger.store().projection_pairs().unwrap(),
        pairs,
        "and stored"
    );
    drop(ledger);
    // Once: the next open loads it.
    let ledger = Ledger::open(dir.path(), config()).unwrap();
    assert_eq!(ledger.store().projection_replayed(), 0);
}

/// A care worker, a person in care and a few diary notes, in three requests; returns the
/// number of events.
fn small_history(ledger: &Ledger) -> u64 {
    let t = 1_790_000_000_000_000;
    let p = "person-1";
    ledger
        .append(vec![Command::organisation(
            "rm",
            t,
            CareEvent::StaffRegistered(StaffRegistered {
                staff_id: "cw1".into(),
                name: "Sam".into(),
                role: Role::CareWorker,
            }),
        )])
        .unwrap();
    ledger
        .append(vec![
            Command::about("rm", p, t, ada()),
            Command::about(
                "rm",
                p,
                t,
                CareEvent::CareStarted(CareStarted {
                    service: "home care".into(),
                }),
            ),
        ])
        .unwrap();
    let notes = (1..=5)
        .map(|n| {
            Command::about(
                "cw1",
                p,
                t + n * HOUR_US,
                CareEvent::DiaryNote(DiaryNote {
                    author: Author::Staff,
                    text: format!("Visit {n}: all well."),
                }),
            )
        })
        .collect();
    ledger.append(notes).unwrap();
    ledger.store().size()
}

/// A person to register in the hand-built histories.
fn ada() -> CareEvent {
    CareEvent::PersonRegistered(PersonRegistered {
        name: "Ada".into(),
        date_of_birth: NaiveDate::from_ymd_opt(1940, 1, 1).unwrap(),
        nhs_number: None,
        address: "1 Mill Lane".into(),
        gp_practice: "Riverside".into(),
        allergies: vec![],
    })
}

/// The first event recorded at or after a time, found by binary search over the log's
/// recorded times (which never decrease): for every event's own time, just before and
/// just after it, before the first and after the last.
#[test]
fn the_first_event_recorded_from_a_time_is_found_for_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = new_ledger(dir.path());
    let t = 1_790_000_000_000_000;
    for batch in 0..5 {
        let staff = (0..=batch)
            .map(|n| {
                Command::organisation(
                    "staff-rm",
                    t,
                    CareEvent::StaffRegistered(StaffRegistered {
                        staff_id: format!("staff-{batch}-{n}"),
                        name: "Sam".into(),
                        role: Role::CareWorker,
                    }),
                )
            })
            .collect();
        ledger.append(staff).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(3));
    }
    let size = ledger.store().size();
    let times: Vec<i64> = (0..size)
        .map(|s| ledger.event(s).unwrap().envelope.recorded_at_us)
        .collect();
    let expect = |us: i64| times.iter().position(|t| *t >= us).unwrap_or(times.len()) as u64;
    assert_eq!(ledger.first_recorded_at_or_after(i64::MIN).unwrap(), 0);
    assert_eq!(ledger.first_recorded_at_or_after(times[0] - 1).unwrap(), 0);
    assert_eq!(
        ledger
            .first_recorded_at_or_after(times[times.len() - 1] + 1)
            .unwrap(),
        size
    );
    for &t in &times {
        for us in [t - 1, t, t + 1] {
            assert_eq!(
                ledger.first_recorded_at_or_after(us).unwrap(),
                expect(us),
                "{us}"
            );
        }
    }
    // More than one distinct time, or the search was not tested.
    assert!(times.windows(2).any(|w| w[0] < w[1]));
}
