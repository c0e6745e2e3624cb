//! What every page carries so that paper can be checked: the checkpoint it was printed
//! from (origin, tree size, the start of the root hash) and a short reference, also as a
//! QR code, that the service's check (`careledger check-document REF`) turns back into
//! "is this still the current version, and is that checkpoint one the ledger signed?".

use std::fmt;

use crate::Kind;

/// The signed checkpoint a document is printed from. `at_us` is when the last event it
/// covers was recorded: the document's date, so that the same ledger state prints the
/// same bytes on any day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: [u8; 32],
    pub at_us: i64,
}

/// Hex digits of the root printed and put in the reference: 48 bits, enough that a
/// forged page cannot match a checkpoint by chance, short enough to read out by phone.
pub const ROOT_HEX_PRINTED: usize = 12;

impl Checkpoint {
    pub fn root_start(&self) -> String {
        root_start(&self.root)
    }
}

/// The first [`ROOT_HEX_PRINTED`] hex digits of a root, as pages and references print it.
pub fn root_start(root: &[u8; 32]) -> String {
    root[..ROOT_HEX_PRINTED / 2]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A document's short reference: `CL1:care-plan:4:5213:3fa9c2d1e0b7:person-3` is version
/// 4 of person-3's care plan, printed from the checkpoint of size 5213 whose root starts
/// `3fa9c2d1e0b7`. The subject comes last since an id may hold a colon; `-` stands for no
/// version (a diary) or no subject (a contingency pack).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub kind: Kind,
    pub version: Option<u32>,
    pub size: u64,
    pub root_start: String,
    pub subject: Option<String>,
}

const PREFIX: &str = "CL1";

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let version = self.version.map_or("-".to_string(), |v| v.to_string());
        write!(
            f,
            "{PREFIX}:{}:{version}:{}:{}:{}",
            self.kind.name(),
            self.size,
            self.root_start,
            self.subject.as_deref().unwrap_or("-")
        )
    }
}

/// Why a reference could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} (a reference looks like CL1:care-plan:4:5213:3fa9c2d1e0b7:person-3)")]
pub struct BadReference(String);

impl std::str::FromStr for Reference {
    type Err = BadReference;

    fn from_str(s: &str) -> Result<Self, BadReference> {
        let bad = |what: String| BadReference(what);
        let mut parts = s.trim().splitn(6, ':');
        let mut next = |what: &str| {
            parts
                .next()
                .filter(|p| !p.is_empty())
                .ok_or_else(|| bad(format!("the reference has no {what}")))
        };
        if next("prefix")? != PREFIX {
            return Err(bad(format!("the reference does not start {PREFIX}:")));
        }
        let kind_name = next("kind")?;
        let kind = Kind::from_name(kind_name)
            .ok_or_else(|| bad(format!("{kind_name:?} is not a kind of document")))?;
        let version = match next("version")? {
            "-" => None,
            v => Some(
                v.parse()
                    .map_err(|_| bad(format!("the version {v:?} is not a number")))?,
            ),
        };
        let size_text = next("tree size")?;
        let size = size_text
            .parse()
            .map_err(|_| bad(format!("the tree size {size_text:?} is not a number")))?;
        let root_start = next("root")?.to_ascii_lowercase();
        if root_start.len() != ROOT_HEX_PRINTED
            || !root_start.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(bad(format!(
                "the root {root_start:?} is not {ROOT_HEX_PRINTED} hex digits"
            )));
        }
        let subject = match next("subject")? {
            "-" => None,
            p => Some(p.to_string()),
        };
        Ok(Reference {
            kind,
            version,
            size,
            root_start,
            subject,
        })
    }
}

/// The reference as a QR code, in SVG: black modules on white with the quiet zone the
/// standard asks for, error correction level M (a crease or a coffee ring still scans).
pub fn qr_svg(reference: &Reference) -> String {
    use qrcode::render::svg;
    match qrcode::QrCode::with_error_correction_level(
        reference.to_string().as_bytes(),
        qrcode::EcLevel::M,
    ) {
        Ok(code) => code
            .render::<svg::Color<'_>>()
            .quiet_zone(true)
            .module_dimensions(4, 4)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .build(),
        // Too long to encode (an id is at most 50 characters, so it cannot be): a blank
        // square, and the reference is still printed in words beside it.
        Err(_) => "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"8\" height=\"8\"/>".into(),
    }
}
