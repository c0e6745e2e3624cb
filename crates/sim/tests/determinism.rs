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
        "79b886a4922b9b258ccf9736c3306bf3ddc1b929567ed161d4d51ad07b702ab7",
    ),
    (
        7,
        3,
        99,
        282,
        "6d733f2b6216463b31843eff93694c08ef2c85927694ca3a728490cb0e3ce281",
    ),
    (
        3,
        5,
        2,
        232,
        "4eb6003ceb8d424f1d23fe76bc61da845acbf0d7c1cd7bdb0b8481425d225117",
    ),
    (
        20,
        10,
        7,
        2747,
        "86866db1f7209544e4ab0589bba47de00533e6148a7c784e5fd78fd37def601b",
    ),
    (
        20,
        10,
        8,
        2950,
        "1d9a8d40e1105ced4e91f68e02375634a741151626d4bbe3fef64126325ffe01",
    ),
    (
        12,
        30,
        1,
        5213,
        "b3670c24c4f6924a585914d29cefb1ebb6b15d6ea32e4e8db0fe89aeba06e63a",
    ),
    (
        30,
        40,
        1,
        15827,
        "28f8265301d26839374fc5243e1cc1f713946187798432b8492b89de89683620",
    ),
    (
        10,
        200,
        3,
        23842,
        "8fb904b0d88a29d5cb22806899a096aa73e9fa113618bec9febd3ac42a6b3348",
    ),
    (
        60,
        400,
        5,
        316381,
        "78cd787a8af32666df8d19d4af6915e7fe191b2828500c3e6e8d436d9cbfa1db",
    ),
];

#[test]
fn histories_keep_their_fingerprints() {
    // Every history is computed before any is compared, so a change meant to change
    // them is told every new value at once.
    let mut changed = Vec::new();
    for (people, days, seed, commands, expected) in HISTORIES {
        let (n, got) = fingerprint(sim(people, days, seed));
        if (n, got.as_str()) != (commands, expected) {
            changed.push(format!("({people}, {days}, {seed}, {n}, \"{got}\")"));
        }
    }
    assert!(
        changed.is_empty(),
        "histories changed; now:\n{}",
        changed.join("\n")
    );
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
            "4caee9711576de685bac5fce57c65de35233a86cb8cadbab6e2ae1156ce7b9e0".to_string()
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
        "dec2d6b2ca4e50a8795c23352d2e20db166c66baa4cfc04742437c8ce7ca482e"
    );
}
