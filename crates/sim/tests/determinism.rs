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
        285,
        "11692bc49726c1ec2a25577564e45e7c635d99716559979de66bd352b4c94cc7",
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
        2752,
        "8450de935ad2bf6524c7baa8b7ea1db736d51b8fe11c3effc8ce6a67815ba4db",
    ),
    (
        20,
        10,
        8,
        2959,
        "207afbd35605f0ae86416f42aab488611b00c5042d1827dfe912fe4e58bb3c5b",
    ),
    (
        12,
        30,
        1,
        5215,
        "0693bc85d98e44befa8f1175629c61234ec2c22a4559765ce5e75ead7d70fab6",
    ),
    (
        30,
        40,
        1,
        15835,
        "5f9dcc52b0b44991a49bb2ef16b670736c468af75f89bb5983662ebf3b111726",
    ),
    (
        10,
        200,
        3,
        23845,
        "8cf0d29464abf5a0e31522a6ee43bc323e7e7a01b311acc0bce6fcda44f41e30",
    ),
    (
        60,
        400,
        5,
        316395,
        "28d3a1536bc493a8ea583a90cd1e9d88e6f72ae051b4e68ec414c031592c4a3f",
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
/// --end 2026-11-01`: 2,502,183 events, the provider's Service User Guide and the email
/// addresses of the people who chose secure email among them). Slow unoptimised: `cargo
/// test --release -p careledger-sim -- --ignored`.
#[test]
#[ignore]
fn the_benchmarked_history_keeps_its_fingerprint() {
    assert_eq!(
        fingerprint(sim(500, 365, 1)),
        (
            2_502_183,
            "8dbdebf4ed5e4308a2c7481885ce7e5a14976313b1dda92d9b56c15a6fa9191f".to_string()
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
    assert_eq!(report.events, 15_835);
    assert_eq!(pairs.len(), 96);
    assert_eq!(
        hasher.finalize().to_hex().as_str(),
        "f9012dd50e67f7e47f1dff29cc28e03eed9d888f527c8e3365e1263210b263fa"
    );
}
