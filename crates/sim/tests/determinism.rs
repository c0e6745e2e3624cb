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
        28,
        "433c4661f4fd8a3eb508f008bc85010a5f859b581051cbfd352868472f4a3c8b",
    ),
    (
        7,
        3,
        99,
        283,
        "657e87be880fa993851fda00653d7b9dfb1489aad0a4baf981215439ee2a3523",
    ),
    (
        3,
        5,
        2,
        233,
        "ffe69b8583989eb72fc2e40abd574d0ff95b63bdd3381c4a1189523f4d5e275e",
    ),
    (
        20,
        10,
        7,
        2748,
        "ff3918cb7141cedd108e6eb3bb2d2d195c2dc9e39f5293c8e122420d865e70b9",
    ),
    (
        20,
        10,
        8,
        2951,
        "7f4a374d3421e9e12f6b6af46ac73e3b761f816c1a7959e6c43a0c7a4c3a63f3",
    ),
    (
        12,
        30,
        1,
        5214,
        "050acf62079f7d11cff85cc36f4c1eebe2662adbd4760a713c8af828b3a7abfe",
    ),
    (
        30,
        40,
        1,
        15828,
        "e64353600babd7a6623af7c22849e8e9826d504c8fb9effbd414b7e6104f7e89",
    ),
    (
        10,
        200,
        3,
        23843,
        "3232879741d7e7f2e43078e95a03c7169da0a56a6b345d0a2e541b463e1d5893",
    ),
    (
        60,
        400,
        5,
        316382,
        "8dfda8199b6ae6b999cd1ef519aa4be636362b409e16aa9482524d8657172e51",
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
/// --end 2026-11-01`: 2,502,028 events, the provider's Service User Guide among them). Slow unoptimised: `cargo test --release -p
/// careledger-sim -- --ignored`.
#[test]
#[ignore]
fn the_benchmarked_history_keeps_its_fingerprint() {
    assert_eq!(
        fingerprint(sim(500, 365, 1)),
        (
            2_502_028,
            "7b8bb0a45dd658ade907c1651603569ec958f6305f3c8477cb6664a305489068".to_string()
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
    assert_eq!(report.events, 15_828);
    assert_eq!(pairs.len(), 96);
    assert_eq!(
        hasher.finalize().to_hex().as_str(),
        "d8fdad9b13b0db4f41044dbb8e4c186d23819eb0c47ab2acd4d51db74e2e5f09"
    );
}
