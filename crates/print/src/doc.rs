//! What a document says, whatever it is printed as: a title and a list of blocks. The
//! documents (`care_plan`, `mar`, `diary`, `pack`) build one from the ledger's read models;
//! the renderers (`pdf` through typst, `text`) lay it out. Nothing here knows about pages.

use serde::Serialize;

/// One document, ready to render.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Doc {
    /// The title (the PDF's title too): "Care plan for Joan Hill".
    pub title: String,
    /// One line under the title: "Version 3, published 2 December 2026 by Sam Patel".
    pub subtitle: String,
    /// The parts, each starting on a new page: one for most documents, two for each
    /// person in a contingency pack (the care plan upright, the MAR chart landscape).
    pub sections: Vec<Section>,
}

/// A run of pages in one orientation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    /// Lay the pages out landscape (the MAR chart's grid).
    pub landscape: bool,
    pub blocks: Vec<Block>,
}

impl Doc {
    /// A document of one section.
    pub fn single(title: String, subtitle: String, landscape: bool, blocks: Vec<Block>) -> Self {
        Doc {
            title,
            subtitle,
            sections: vec![Section { landscape, blocks }],
        }
    }
}

/// A piece of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    /// A heading: level 1 for a part (a person in a pack), 2 for a section.
    Heading { level: u8, text: String },
    /// A paragraph.
    Para { text: String },
    /// Something a reader must not miss (allergies), set apart with a heavy border.
    Alert { label: String, text: String },
    /// Labelled lines: "Date of birth: 4 March 1938".
    Facts { items: Vec<Fact> },
    /// A bulleted list; an empty list is printed as `empty`.
    List { items: Vec<String>, empty: String },
    /// A table with a header row that repeats on each page. `widths` are relative (`2` is
    /// twice `1`). `blank_rows` are empty rows at the end for writing in by hand.
    Table {
        caption: String,
        header: Vec<String>,
        rows: Vec<Vec<String>>,
        widths: Vec<u8>,
        blank_rows: u8,
    },
    /// The list of parts (level 1 headings) with the page each starts on.
    Contents { items: Vec<String> },
}

/// A label and its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fact {
    pub label: String,
    pub value: String,
}

impl Fact {
    pub fn new(label: impl Into<String>, value: impl Into<String>) -> Self {
        Fact {
            label: label.into(),
            value: value.into(),
        }
    }
}

impl Block {
    /// The same block with its heading one level deeper (a document inside a pack).
    pub fn deeper(self) -> Self {
        match self {
            Block::Heading { level, text } => Block::Heading {
                level: level + 1,
                text,
            },
            other => other,
        }
    }

    pub fn h(level: u8, text: impl Into<String>) -> Self {
        Block::Heading {
            level,
            text: text.into(),
        }
    }

    pub fn p(text: impl Into<String>) -> Self {
        Block::Para { text: text.into() }
    }

    pub fn list(items: Vec<String>, empty: impl Into<String>) -> Self {
        Block::List {
            items,
            empty: empty.into(),
        }
    }

    pub fn facts(items: Vec<Fact>) -> Self {
        Block::Facts { items }
    }
}
