//! Inclusion and consistency proofs from the stored tree, as `careledger prove` and the
//! API's proof routes make them: O(log n) node reads through sled plus the cache of upper
//! nodes.
//!
//! Criterion warms up first, so this is the steady state of a running service (upper nodes
//! cached, sled's pages in memory). `careledger bench prove` measures the other end: a fresh
//! process at a million events, with the cache empty. The two together bound what a proof
//! costs.

mod common;

use careledger_log::merkle::{verify_consistency, verify_inclusion, Blake3Hasher};
use careledger_store::{NewEvent, Store, StoreConfig};
use common::Rng;
use criterion::{criterion_group, criterion_main, Criterion};

/// Big enough for 17-level proofs and for the lower nodes to span many sled chunks, small
/// enough to append in a few seconds of setup.
const EVENTS: u64 = 100_000;
/// Positions cycled through, so that each iteration is a different proof.
const POSITIONS: usize = 4096;

/// `careledger bench`'s event shape: 200-byte payloads about 5,000 people.
fn event(n: u64) -> NewEvent {
    NewEvent {
        actor: format!("staff:s{:04}", n % 200),
        subject: Some(format!("person:p{:05}", n % 5000)),
        kind: "visit.completed".into(),
        occurred_at_us: 1_790_000_000_000_000 + n as i64,
        payload: vec![b'x'; 200],
    }
}

fn proofs(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a scratch directory");
    Store::init(dir.path(), "bench.careledger/proofs").expect("init");
    let store = Store::open(dir.path(), StoreConfig::default()).expect("open");
    // Requests of 10,000: the appender's batches, not one-event round trips, so setup
    // stays short.
    for start in (0..EVENTS).step_by(10_000) {
        store
            .append((start..start + 10_000).map(event).collect())
            .expect("append");
    }
    let size = store.size();
    assert_eq!(size, EVENTS);
    let root = store.root_at(size).expect("root");

    let mut rng = Rng(42);
    let seqs: Vec<u64> = (0..POSITIONS).map(|_| rng.below(size)).collect();
    let sizes: Vec<u64> = (0..POSITIONS).map(|_| 1 + rng.below(size)).collect();

    // A fast wrong answer must not pass as a fast proof: check one of each before timing.
    let proof = store.inclusion_proof(seqs[0], size).expect("proof");
    let leaf = store.leaf_hash(seqs[0]).expect("leaf");
    verify_inclusion::<Blake3Hasher, _>(seqs[0], size, &leaf, &proof, &root)
        .expect("inclusion proof verifies");
    let proof = store.consistency_proof(sizes[0], size).expect("proof");
    let root1 = store.root_at(sizes[0]).expect("root");
    verify_consistency::<Blake3Hasher, _>(sizes[0], size, &proof, &root1, &root)
        .expect("consistency proof verifies");

    let mut group = c.benchmark_group(format!("proof_at_{EVENTS}"));
    let mut i = 0;
    group.bench_function("inclusion", |b| {
        b.iter(|| {
            i = (i + 1) % POSITIONS;
            store.inclusion_proof(seqs[i], size).expect("proof")
        })
    });
    let mut i = 0;
    group.bench_function("consistency", |b| {
        b.iter(|| {
            i = (i + 1) % POSITIONS;
            store.consistency_proof(sizes[i], size).expect("proof")
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = proofs
}
criterion_main!(benches);
