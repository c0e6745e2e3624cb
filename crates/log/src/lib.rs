//! careledger-log: the verifiable log, with no IO.
//!
//! - [`envelope`]: the event envelope, its canonical bincode bytes and the salted payload
//!   commitment;
//! - [`merkle`]: the RFC 9162 Merkle tree, proofs and their verifiers, generic over the
//!   hash function (BLAKE3 in production);
//! - [`note`] and [`checkpoint`]: C2SP signed notes with Ed25519 and tlog checkpoints.
//!
//! Nothing here knows about sled, HTTP or care: a third party can check a ledger export
//! with this crate alone. docs/FORMAT.md restates every byte.
#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod envelope;
pub mod merkle;
pub mod note;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use envelope::{Envelope, EnvelopeError};
pub use merkle::{Blake3Hasher, CompactRange, Hash, NodeSource, Sha256Hasher, TreeHasher};
pub use note::{NoteError, NoteSigner, NoteVerifier};
