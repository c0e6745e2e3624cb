//! C2SP tlog-checkpoint bodies (c2sp.org/tlog-checkpoint), signed as notes.
//!
//! Body: `<origin>\n<tree size, decimal>\n<base64 root hash>\n`, optionally followed by
//! extension lines. The origin is also the name of the signing key.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::merkle::{Hash, HASH_LEN};
use crate::note::{NoteError, NoteSigner, NoteVerifier};

/// A tree head: which log, how many leaves, and the root over them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint body is malformed: {0}")]
    Malformed(&'static str),
    #[error("checkpoint origin {found:?} is not this log's origin {want:?}")]
    WrongOrigin { found: String, want: String },
    #[error(transparent)]
    Note(#[from] NoteError),
}

impl Checkpoint {
    /// The note text of this checkpoint, without extension lines.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Parses a checkpoint body (the text of a signed note).
    pub fn parse_body(text: &str) -> Result<Self, CheckpointError> {
        let text = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::Malformed("body must end with a newline"))?;
        let mut lines = text.split('\n');
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or(CheckpointError::Malformed("first line must be the origin"))?;
        let size = lines.next().ok_or(CheckpointError::Malformed(
            "second line must be the tree size",
        ))?;
        if size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(CheckpointError::Malformed(
                "tree size must be a decimal number without leading zeros",
            ));
        }
        let size: u64 = size
            .parse()
            .map_err(|_| CheckpointError::Malformed("tree size is out of range"))?;
        let root = lines.next().ok_or(CheckpointError::Malformed(
            "third line must be the root hash",
        ))?;
        let root: Hash = B64
            .decode(root)
            .ok()
            .and_then(|r| <[u8; HASH_LEN]>::try_from(r).ok())
            .ok_or(CheckpointError::Malformed(
                "root hash must be 32 bytes of base64",
            ))?;
        if lines.any(str::is_empty) {
            return Err(CheckpointError::Malformed(
                "extension lines must not be empty",
            ));
        }
        Ok(Self {
            origin: origin.to_string(),
            size,
            root,
        })
    }

    /// Signs the body; the key's name must be the origin.
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, CheckpointError> {
        if signer.name() != self.origin {
            return Err(CheckpointError::WrongOrigin {
                found: self.origin.clone(),
                want: signer.name().to_string(),
            });
        }
        Ok(signer.sign(&self.body())?)
    }

    /// Verifies a signed checkpoint note and parses its body.
    pub fn open(note: &str, verifier: &NoteVerifier) -> Result<Self, CheckpointError> {
        let text = verifier.open(note)?;
        let checkpoint = Self::parse_body(text)?;
        if checkpoint.origin != verifier.name() {
            return Err(CheckpointError::WrongOrigin {
                found: checkpoint.origin,
                want: verifier.name().to_string(),
            });
        }
        Ok(checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_round_trip_and_signature() {
        let signer = NoteSigner::from_seed("care.example/ledger", [5u8; 32]).unwrap();
        let cp = Checkpoint {
            origin: "care.example/ledger".into(),
            size: 12,
            root: [0xab; 32],
        };
        assert_eq!(
            cp.body(),
            "care.example/ledger\n12\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n"
        );
        let note = cp.sign(&signer).unwrap();
        assert_eq!(Checkpoint::open(&note, &signer.verifier()).unwrap(), cp);
        let forged = note.replacen("\n12\n", "\n13\n", 1);
        assert!(Checkpoint::open(&forged, &signer.verifier()).is_err());
    }

    #[test]
    fn malformed_bodies_are_refused() {
        for body in [
            "o\n12\n",
            "o\n012\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n",
            "o\n-1\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n",
            "o\n1\nq6ur\n",
            "\n1\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n",
            "o\n1\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=",
        ] {
            assert!(Checkpoint::parse_body(body).is_err(), "{body:?}");
        }
        let ext = "o\n1\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\nextension\n";
        assert_eq!(Checkpoint::parse_body(ext).unwrap().size, 1);
    }
}
