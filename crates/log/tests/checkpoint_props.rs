//! Property tests of checkpoint bodies and signed checkpoint notes.

use careledger_log::{Checkpoint, Hash, NoteSigner};
use proptest::prelude::*;
use proptest::test_runner::Config;

fn config(cases: u32) -> Config {
    Config {
        cases,
        // Keep failures in the test output only; do not write regression files.
        failure_persistence: None,
        ..Config::default()
    }
}

/// A valid origin and key name: non-empty printable ASCII without space or '+'.
fn origin() -> impl Strategy<Value = String> {
    "[!-*,-~]{1,48}"
}

fn checkpoint() -> impl Strategy<Value = Checkpoint> {
    (origin(), any::<u64>(), any::<Hash>()).prop_map(|(origin, size, root)| Checkpoint {
        origin,
        size,
        root,
    })
}

/// `byte` replaced by another printable ASCII character (0x20..=0x7e), chosen by `shift`.
fn other_printable(byte: u8, shift: u8) -> u8 {
    const FIRST: u8 = 0x20;
    const COUNT: u8 = 0x7f - FIRST;
    let shift = 1 + shift % (COUNT - 1);
    let new = if (FIRST..FIRST + COUNT).contains(&byte) {
        FIRST + (byte - FIRST + shift) % COUNT
    } else {
        FIRST + shift
    };
    assert_ne!(new, byte);
    new
}

fn with_byte(note: &str, at: usize, byte: u8) -> String {
    let mut bytes = note.as_bytes().to_vec();
    bytes[at] = byte;
    String::from_utf8(bytes).expect("an ASCII byte replaced by an ASCII byte")
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn body_round_trips(cp in checkpoint()) {
        let body = cp.body();
        prop_assert_eq!(Checkpoint::parse_body(&body).unwrap(), cp.clone());
        // Extension lines after the root are allowed and ignored.
        let extended = format!("{body}ext one\nanother extension\n");
        prop_assert_eq!(Checkpoint::parse_body(&extended).unwrap(), cp);
    }
}

// Each open checks an Ed25519 signature, which takes milliseconds in a debug build: few cases.
proptest! {
    #![proptest_config(config(4))]

    #[test]
    fn any_changed_byte_of_a_signed_body_is_refused(
        cp in checkpoint(),
        seed in any::<[u8; 32]>(),
        shifts in prop::collection::vec(any::<u8>(), 128),
    ) {
        let signer = NoteSigner::from_seed(&cp.origin, seed).unwrap();
        let verifier = signer.verifier();
        let note = cp.sign(&signer).unwrap();
        let body = cp.body();
        let expected_start = format!("{body}\n");
        prop_assert!(note.starts_with(&expected_start));
        prop_assert_eq!(Checkpoint::open(&note, &verifier).unwrap(), cp.clone());

        for (at, &old) in body.as_bytes().iter().enumerate() {
            let new = other_printable(old, shifts[at % shifts.len()]);
            let forged = with_byte(&note, at, new);
            let opened = Checkpoint::open(&forged, &verifier);
            prop_assert!(
                opened.is_err(),
                "byte {} changed from {:?} to {:?} still opens: {:?}",
                at, old as char, new as char, opened
            );
        }

        // Another key, even under the same name, does not open it.
        let other = NoteSigner::from_seed(&cp.origin, seed.map(|b| b ^ 1)).unwrap();
        prop_assert!(Checkpoint::open(&note, &other.verifier()).is_err());
    }
}

/// One short note, every byte of its body, each changed to a few other printable characters
/// (all 94 alternatives would take half a minute of signature checks in a debug build).
#[test]
fn every_body_byte_of_a_short_note_is_covered_by_the_signature() {
    let signer = NoteSigner::from_seed("o", [9u8; 32]).unwrap();
    let verifier = signer.verifier();
    let cp = Checkpoint {
        origin: "o".into(),
        size: 7,
        root: [0x5a; 32],
    };
    let note = cp.sign(&signer).unwrap();
    assert_eq!(Checkpoint::open(&note, &verifier).unwrap(), cp);
    let body_len = cp.body().len();
    for at in 0..body_len {
        let old = note.as_bytes()[at];
        for shift in [0, 13, 47] {
            let new = other_printable(old, shift);
            let forged = with_byte(&note, at, new);
            let opened = Checkpoint::open(&forged, &verifier);
            assert!(
                opened.is_err(),
                "byte {at} changed from {:?} to {:?} still opens: {opened:?}",
                old as char,
                new as char
            );
        }
    }
}
