//! The same seed, size and end date give the same events, for ever: the fingerprints below
//! were taken from the simulator before it was split into steps, and any change to what it
//! generates (including the order in which it draws random numbers) changes them. A change
//! that is meant to change histories updates them and says so.

use careledger_ledger::{Command, Ledger};
use careledger_sim::{SimConfig, Simulator};
use careledger_store::{Clock, Store, StoreConfig};
use chrono::NaiveDate;

fn sim(people: u32, days: u32, seed: u64) -> SimConfig {
    SimConfig {
        people,
        days,
        seed,
        end: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
    }
}

/// Hashes each field length-prefixed: actor, subject (or a marker for none), occurred-at,
/// kind and the encoded payload, the bytes a ledger stores.
fn feed(hasher: &mut blake3::Hasher, command: &Command) {
    let mut field = |bytes: &[u8]| {
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(command.actor.as_bytes());
    match &command.subject {
        Some(subject) => field(subject.as_bytes()),
        None => field(b"\xff"),
    }
    field(&command.occurred_at_us.to_le_bytes());
    field(command.event.kind().as_bytes());
    field(&command.event.encode().unwrap());
}

/// The number of commands of the whole history, and their BLAKE3 fingerprint.
fn fingerprint(config: SimConfig) -> (u64, String) {
    let mut sim = Simulator::new(config);
    let mut hasher = blake3::Hasher::new();
    let mut n = 0;
    for d in 0..sim.days() {
        for command in sim.day(d) {
            feed(&mut hasher, &command);
            n += 1;
        }
    }
    (n, hasher.finalize().to_hex().to_string())
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

/// (people, days, seed, commands, fingerprint), all ending 2026-11-01. 12/30/1 is the
/// demo's size and seed; 60/400/5 and 10/200/3 reach reviews, MAR changes and e-mails.
const HISTORIES: [(u32, u32, u64, u64, &str); 9] = [
    (
        1,
        1,
        0,
        27,
        "bd8faf33ab7dc55521a8fe83c3191c01f23a5dc2e4a9f764dd4a85b8dfcfc400",
    ),
    (
        7,
        3,
        99,
        282,
        "b8848f486c07703f756ab68ac9da167a82bec3551d1fdfa930e8060de9b2ae92",
    ),
    (
        3,
        5,
        2,
        232,
        "bc3f88b5a643ebead825f9d5954b6d895744daa1f8520c2753dc931d80403535",
    ),
    (
        20,
        10,
        7,
        2747,
        "9eb59f2574df9d04cc17c1d5860a969e18656aa0820f16a08ff78a2d62e44b4e",
    ),
    (
        20,
        10,
        8,
        2950,
        "44668504401f4286045cde3e98fb7c73d71e28f03da0dae7d30a86e31b7cb3fd",
    ),
    (
        12,
        30,
        1,
        5213,
        "9f5097384de9107d67b4b50527b3300981f43d88c504d887df4462f8a22dd161",
    ),
    (
        30,
        40,
        1,
        15827,
        "fcfc14e4bac271edfd1422189287288ce4d2f4d7076853831211911bb6026564",
    ),
    (
        10,
        200,
        3,
        23842,
        "f96394a8b89939522e9e19061174a79fd894a6592809ab606c17f7f9a8838bde",
    ),
    (
        60,
        400,
        5,
        316381,
        "63f6349a9e708c4d737a4f922bde08ad16cba1d4c6c0cd86a9aee64557fe153f",
    ),
];

#[test]
fn histories_keep_their_fingerprints() {
    for (people, days, seed, commands, expected) in HISTORIES {
        let got = fingerprint(sim(people, days, seed));
        assert_eq!(
            got,
            (commands, expected.to_string()),
            "{people} people, {days} days, seed {seed}"
        );
    }
}

/// The history docs/BENCHMARKS.md measures (`simulate --people 500 --days 365 --seed 1
/// --end 2026-11-01`: 2,502,027 events). Slow unoptimised: `cargo test --release -p
/// careledger-sim -- --ignored`.
#[test]
#[ignore]
fn the_benchmarked_history_keeps_its_fingerprint() {
    assert_eq!(
        fingerprint(sim(500, 365, 1)),
        (
            2_502_027,
            "b71270d3d89e55d1f0526b185e39102f792cd07bac149ef439fbdfba855fbe9f".to_string()
        )
    );
}

/// Written through a ledger on the simulated clock (recorded-at from occurred-at, as
/// `careledger simulate` does), the projections are the same bytes every time.
#[test]
fn a_simulated_ledger_keeps_its_projections_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    Store::init(dir.path(), "test.careledger.local/care").unwrap();
    let config = StoreConfig {
        clock: Clock::Simulated,
        ..StoreConfig::default()
    };
    let ledger = Ledger::open(dir.path(), config).unwrap();
    let report = careledger_sim::run(&ledger, sim(30, 40, 1), |_, _, _| {}).unwrap();
    let pairs = ledger.read(|s| s.all_pairs()).unwrap();
    let mut hasher = blake3::Hasher::new();
    for (key, value) in &pairs {
        hasher.update(&(key.len() as u64).to_le_bytes());
        hasher.update(key);
        hasher.update(&(value.len() as u64).to_le_bytes());
        hasher.update(value);
    }
    assert_eq!(report.events, 15_827);
    assert_eq!(pairs.len(), 95);
    assert_eq!(
        hasher.finalize().to_hex().as_str(),
        "6340d89f5a9b2736abc4ef731b38e89abad9d7743b4dc69dd1ba518e920e1f03"
    );
}
