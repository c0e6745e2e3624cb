//! C2SP signed notes with Ed25519 keys (c2sp.org/signed-note).
//!
//! A note is UTF-8 text ending in a newline, then a blank line, then one or more
//! signature lines `— <key name> <base64(key id || signature)>`. The key id is the first
//! four bytes of `SHA-256(key name || "\n" || 0x01 || public key)`; the signature is
//! Ed25519 over the text bytes.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signer, Verifier};
use sha2::Digest;

/// Signature type byte for Ed25519 in C2SP signed notes.
const ALG_ED25519: u8 = 0x01;
/// Refuse notes larger than this before parsing them.
pub const NOTE_BYTES_MAX: usize = 1 << 20;
/// Refuse notes with more signature lines than this.
pub const SIGNATURES_MAX: usize = 100;
const SIG_PREFIX: &str = "\u{2014} ";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("key name {0:?} is invalid: it must be non-empty and contain no '+' or whitespace")]
    BadKeyName(String),
    #[error("key string is malformed: {0}")]
    BadKey(&'static str),
    #[error("note is {0} bytes; the limit is {NOTE_BYTES_MAX}")]
    TooLarge(usize),
    #[error("note text must be non-empty, end with a newline and contain no control characters other than newline")]
    BadText,
    #[error("note is malformed: {0}")]
    Malformed(&'static str),
    #[error("note has no signature by key {name} ({key_id})")]
    NoSignature { name: String, key_id: String },
    #[error("the signature by key {0} does not verify")]
    BadSignature(String),
    #[error("reading random bytes for a new key: {0}")]
    Random(String),
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(NoteError::BadKeyName(name.to_string()));
    }
    Ok(())
}

/// `SHA-256(name || "\n" || 0x01 || public key)[..4]`.
pub fn key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    let mut h = sha2::Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(public_key);
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

fn hex4(id: &[u8; 4]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex4(s: &str) -> Option<[u8; 4]> {
    if s.len() != 8
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; 4];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Splits `<name>+<hex key id>+<base64(0x01 || key)>` and checks the id.
fn parse_key_string(s: &str) -> Result<(String, [u8; 4], [u8; 32]), NoteError> {
    let mut parts = s.trim_end().splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(NoteError::BadKey("expected <name>+<key id>+<key>"));
    };
    check_name(name)?;
    let id = parse_hex4(id).ok_or(NoteError::BadKey("key id is not 8 hex digits"))?;
    let key = B64
        .decode(key)
        .map_err(|_| NoteError::BadKey("key is not base64"))?;
    if key.len() != 33 || key[0] != ALG_ED25519 {
        return Err(NoteError::BadKey(
            "key is not an Ed25519 key (0x01 and 32 bytes)",
        ));
    }
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(&key[1..]);
    Ok((name.to_string(), id, bytes))
}

/// A verifier key: a name and an Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    id: [u8; 4],
    key: ed25519_dalek::VerifyingKey,
}

impl NoteVerifier {
    /// Parses `<name>+<hex key id>+<base64(0x01 || public key)>`.
    pub fn parse(s: &str) -> Result<Self, NoteError> {
        let (name, id, key) = parse_key_string(s)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&key)
            .map_err(|_| NoteError::BadKey("not a valid Ed25519 public key"))?;
        if key_id(&name, key.as_bytes()) != id {
            return Err(NoteError::BadKey("key id does not match name and key"));
        }
        Ok(Self { name, id, key })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> [u8; 4] {
        self.id
    }

    /// Checks a signed note and returns its text (everything the signature covers).
    /// Signatures by other keys are ignored, as the spec says.
    pub fn open<'a>(&self, note: &'a str) -> Result<&'a str, NoteError> {
        let (text, signatures) = split_note(note)?;
        for (name, id, signature) in signatures {
            if name != self.name || id != self.id {
                continue;
            }
            let signature = ed25519_dalek::Signature::from_bytes(&signature);
            return self
                .key
                .verify(text.as_bytes(), &signature)
                .map(|()| text)
                .map_err(|_| NoteError::BadSignature(self.to_string()));
        }
        Err(NoteError::NoSignature {
            name: self.name.clone(),
            key_id: hex4(&self.id),
        })
    }
}

impl std::fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut key = Vec::with_capacity(33);
        key.push(ALG_ED25519);
        key.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{}+{}", self.name, hex4(&self.id), B64.encode(key))
    }
}

/// A signing key with its name. Its string form is the Go `note` package's private key
/// format, `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>`.
pub struct NoteSigner {
    name: String,
    id: [u8; 4],
    key: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the seed.
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &hex4(&self.id))
            .finish_non_exhaustive()
    }
}

const PRIVATE_PREFIX: &str = "PRIVATE+KEY+";

impl NoteSigner {
    /// A new key from the operating system's random source.
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| NoteError::Random(e.to_string()))?;
        Self::from_seed(name, seed)
    }

    /// A key from a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, NoteError> {
        check_name(name)?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let id = key_id(name, key.verifying_key().as_bytes());
        Ok(Self {
            name: name.to_string(),
            id,
            key,
        })
    }

    /// Parses the private key string written by [`NoteSigner::private_key_string`].
    pub fn parse(s: &str) -> Result<Self, NoteError> {
        let rest = s
            .trim_end()
            .strip_prefix(PRIVATE_PREFIX)
            .ok_or(NoteError::BadKey(
                "private key must start with PRIVATE+KEY+",
            ))?;
        let (name, id, seed) = parse_key_string(rest)?;
        let signer = Self::from_seed(&name, seed)?;
        if signer.id != id {
            return Err(NoteError::BadKey("key id does not match name and key"));
        }
        Ok(signer)
    }

    pub fn private_key_string(&self) -> String {
        let mut key = Vec::with_capacity(33);
        key.push(ALG_ED25519);
        key.extend_from_slice(&self.key.to_bytes());
        format!(
            "{PRIVATE_PREFIX}{}+{}+{}",
            self.name,
            hex4(&self.id),
            B64.encode(key)
        )
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// Signs `text` and returns the whole note: text, blank line, signature line.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        let signature = self.key.sign(text.as_bytes()).to_bytes();
        let mut blob = Vec::with_capacity(4 + 64);
        blob.extend_from_slice(&self.id);
        blob.extend_from_slice(&signature);
        Ok(format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.name,
            B64.encode(blob)
        ))
    }
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if text.is_empty() || !text.ends_with('\n') || text.chars().any(|c| c != '\n' && c.is_control())
    {
        return Err(NoteError::BadText);
    }
    Ok(())
}

type SignatureLine = (String, [u8; 4], [u8; 64]);

/// Splits a note into its text and its Ed25519-sized signature lines.
/// Lines with other signature lengths are skipped (they belong to other algorithms).
fn split_note(note: &str) -> Result<(&str, Vec<SignatureLine>), NoteError> {
    if note.len() > NOTE_BYTES_MAX {
        return Err(NoteError::TooLarge(note.len()));
    }
    let split = note
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    let text = &note[..split + 1];
    check_text(text)?;
    let block = &note[split + 2..];
    if !block.ends_with('\n') {
        return Err(NoteError::Malformed(
            "signature block must end with a newline",
        ));
    }
    let mut out = Vec::new();
    for (count, line) in block[..block.len() - 1].split('\n').enumerate() {
        if count >= SIGNATURES_MAX {
            return Err(NoteError::Malformed("too many signature lines"));
        }
        let rest = line.strip_prefix(SIG_PREFIX).ok_or(NoteError::Malformed(
            "signature line must start with an em dash and a space",
        ))?;
        let (name, blob) = rest.split_once(' ').ok_or(NoteError::Malformed(
            "signature line must be '— <name> <signature>'",
        ))?;
        check_name(name)?;
        let blob = B64
            .decode(blob)
            .map_err(|_| NoteError::Malformed("signature is not base64"))?;
        if blob.len() < 5 {
            return Err(NoteError::Malformed("signature is too short"));
        }
        if blob.len() != 4 + 64 {
            continue;
        }
        let mut id = [0u8; 4];
        id.copy_from_slice(&blob[..4]);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&blob[4..]);
        out.push((name.to_string(), id, signature));
    }
    if out.is_empty() && block.len() <= 1 {
        return Err(NoteError::Malformed("note has no signature lines"));
    }
    Ok((text, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_open_round_trip_and_key_strings() {
        let signer = NoteSigner::from_seed("example.org/log", [7u8; 32]).unwrap();
        let note = signer.sign("hello\nworld\n").unwrap();
        assert!(note.starts_with("hello\nworld\n\n\u{2014} example.org/log "));
        let verifier = NoteVerifier::parse(&signer.verifier().to_string()).unwrap();
        assert_eq!(verifier.open(&note).unwrap(), "hello\nworld\n");
        let again = NoteSigner::parse(&signer.private_key_string()).unwrap();
        assert_eq!(again.verifier(), signer.verifier());
    }

    #[test]
    fn tampered_and_foreign_notes_are_refused() {
        let signer = NoteSigner::from_seed("a", [1u8; 32]).unwrap();
        let other = NoteSigner::from_seed("b", [2u8; 32]).unwrap();
        let note = signer.sign("text\n").unwrap();
        let tampered = note.replacen("text", "teXt", 1);
        assert_eq!(
            signer.verifier().open(&tampered),
            Err(NoteError::BadSignature(signer.verifier().to_string()))
        );
        assert!(matches!(
            other.verifier().open(&note),
            Err(NoteError::NoSignature { .. })
        ));
        assert_eq!(signer.sign("no newline"), Err(NoteError::BadText));
        assert!(matches!(
            signer.verifier().open("text\n"),
            Err(NoteError::Malformed(_))
        ));
    }

    #[test]
    fn bad_key_strings_are_refused() {
        let v = NoteSigner::from_seed("a", [1u8; 32])
            .unwrap()
            .verifier()
            .to_string();
        let wrong_id = format!("a+00000000+{}", v.splitn(3, '+').nth(2).unwrap());
        assert_eq!(parse_hex4("abcdef01"), Some([0xab, 0xcd, 0xef, 0x01]));
        assert_eq!(parse_hex4("ABCDEF01"), None, "key ids are lowercase hex");
        assert!(matches!(
            NoteVerifier::parse(&wrong_id),
            Err(NoteError::BadKey(_))
        ));
        assert!(matches!(
            NoteVerifier::parse("a+b"),
            Err(NoteError::BadKey(_))
        ));
        assert!(matches!(
            NoteSigner::from_seed("has space", [0; 32]),
            Err(NoteError::BadKeyName(_))
        ));
    }
}
