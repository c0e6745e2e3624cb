//! The fonts every PDF is set in, embedded in the binary (typst as a library finds no
//! system fonts, and a document must look the same wherever it is printed). Their licences
//! are beside them in `crates/print/fonts/`:
//!
//! - Atkinson Hyperlegible (Braille Institute of America, SIL Open Font License 1.1),
//!   designed for readers with low vision: clear letter shapes that are hard to confuse.
//! - DejaVu Sans (Bitstream Vera licence), for the characters Atkinson Hyperlegible lacks
//!   (most scripts beyond Latin, arrows and symbols).

/// One embedded font file.
pub struct FontFile {
    pub name: &'static str,
    pub data: &'static [u8],
}

pub const ALL: &[FontFile] = &[
    FontFile {
        name: "AtkinsonHyperlegible-Regular.ttf",
        data: include_bytes!("../fonts/AtkinsonHyperlegible-Regular.ttf"),
    },
    FontFile {
        name: "AtkinsonHyperlegible-Bold.ttf",
        data: include_bytes!("../fonts/AtkinsonHyperlegible-Bold.ttf"),
    },
    FontFile {
        name: "DejaVuSans.ttf",
        data: include_bytes!("../fonts/DejaVuSans.ttf"),
    },
    FontFile {
        name: "DejaVuSans-Bold.ttf",
        data: include_bytes!("../fonts/DejaVuSans-Bold.ttf"),
    },
];
