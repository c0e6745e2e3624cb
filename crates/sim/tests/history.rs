//! A simulated history through the real ledger: every event passes the rules, the history
//! holds the findings a monitoring officer looks for, and the projections persisted with the
//! events are the live state and rebuild from the log to the same bytes.

use careledger_care::findings::{findings, Rule};
use careledger_ledger::Ledger;
use careledger_sim::SimConfig;
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
fn simulated_history_passes_every_rule_and_rebuilds_to_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = new_ledger(dir.path());
    let report = careledger_sim::run(&ledger, sim(30, 40, 1), |_, _, _| {}).unwrap();
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

    // A clean reopen replays nothing, and the stored pairs are the live state, the
    // projection's own count of the events it reflects and its layout.
    let ledger = Ledger::open(dir.path(), config()).unwrap();
    assert_eq!(ledger.store().projection_replayed(), 0);
    let stored = ledger.store().projection_pairs().unwrap();
    let mut expected = live_pairs.clone();
    expected.push((b"#events".to_vec(), events.to_le_bytes().to_vec()));
    expected.push((
        b"#schema".to_vec(),
        vec![careledger_ledger::PROJECTION_SCHEMA],
    ));
    expected.sort();
    assert_eq!(stored, expected);
    assert_eq!(ledger.projection_pairs().unwrap(), stored);
    drop(ledger);

    // Deleted projections are rebuilt from the log, byte for byte.
    assert!(Store::drop_projections(dir.path()).unwrap() > 0);
    let ledger = Ledger::open(dir.path(), config()).unwrap();
    assert_eq!(ledger.store().projection_replayed(), events);
    assert_eq!(ledger.store().projection_pairs().unwrap(), stored);
    assert_eq!(ledger.read(|s| s.all_pairs()).unwrap(), live_pairs);
    ledger.store().verify(|_, _| {}).unwrap();
}
