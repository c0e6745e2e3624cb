//! The log's per-event CPU work: encoding an envelope (once per append), decoding it (every
//! read and every verified event) and the tree hashes (one leaf and about one node per
//! append; a leaf and every node again when verifying).
//!
//! `careledger bench` measures whole paths end to end; these isolate the pieces so that a
//! change to the codec or the hasher shows up on its own, with criterion's statistics.

mod common;

use std::hint::black_box;

use careledger_log::envelope::{payload_commitment, Envelope, EnvelopeRef, FORMAT_VERSION};
use careledger_log::merkle::{Blake3Hasher, TreeHasher};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// An envelope shaped like a stored care event: the simulator's staff and person ids, a
/// real kind name, and a commitment to a diary-note-sized payload.
fn sample_envelope() -> Envelope {
    let payload = vec![b'x'; 200];
    Envelope {
        version: FORMAT_VERSION,
        seq: 123_456,
        recorded_at_us: 1_790_000_000_000_000,
        occurred_at_us: 1_789_999_990_000_000,
        actor: "staff-cw07".into(),
        subject: Some("person-0042".into()),
        kind: "diary.note".into(),
        payload_commitment: payload_commitment(&[7; 32], &payload),
    }
}

fn envelope(c: &mut Criterion) {
    let envelope = sample_envelope();
    let bytes = envelope.encode().expect("the sample envelope is valid");
    let mut group = c.benchmark_group("envelope");
    // Per element, so the report reads as envelopes per second.
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode", |b| {
        b.iter(|| black_box(&envelope).encode().expect("valid"))
    });
    // Both decoders: owned for reads that keep the event, borrowed for verification.
    group.bench_function("decode", |b| {
        b.iter(|| Envelope::decode(black_box(&bytes)).expect("valid"))
    });
    group.bench_function("decode_ref", |b| {
        b.iter(|| EnvelopeRef::decode(black_box(&bytes)).expect("valid"))
    });
    group.finish();
}

fn tree_hashing(c: &mut Criterion) {
    // Leaves are hashed over the stored envelope bytes, so hash bytes of that length.
    let leaf = sample_envelope().encode().expect("valid");
    let left = Blake3Hasher::hash_leaf(b"left");
    let right = Blake3Hasher::hash_leaf(b"right");
    let mut group = c.benchmark_group("blake3_tree");
    group.throughput(Throughput::Elements(1));
    group.bench_function(format!("leaf_{}_bytes", leaf.len()), |b| {
        b.iter(|| Blake3Hasher::hash_leaf(black_box(&leaf)))
    });
    group.bench_function("node", |b| {
        b.iter(|| Blake3Hasher::hash_children(black_box(&left), black_box(&right)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = envelope, tree_hashing
}
criterion_main!(benches);
