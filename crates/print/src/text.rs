//! Plain text for screen readers, text to speech and braille transcription: UTF-8, lines
//! of at most [`COLUMNS`] characters, headings underlined, and every table linearised into
//! labelled lines ("Dose: 1 tablet"), since a table laid out in spaces is noise to a
//! screen reader. The checkpoint and the reference open and close the text.

use crate::doc::{Block, Doc};
use crate::{checkpoint_line, Checkpoint, Reference};

/// The widest line.
pub const COLUMNS: usize = 80;

/// Wraps `text` at [`COLUMNS`] characters, the first line after `first` and the rest after
/// `rest` (a hanging indent). Words longer than a line are broken.
fn wrap(out: &mut String, first: &str, rest: &str, text: &str) {
    for (n, paragraph) in text.split('\n').enumerate() {
        let mut line = String::from(if n == 0 { first } else { rest });
        let mut empty = true;
        for word in paragraph.split_whitespace() {
            let mut word: Vec<char> = word.chars().collect();
            loop {
                let used = line.chars().count();
                let gap = usize::from(!empty);
                if used + gap + word.len() <= COLUMNS {
                    if !empty {
                        line.push(' ');
                    }
                    line.extend(word.iter());
                    empty = false;
                    break;
                }
                if empty {
                    // A word longer than the line: break it.
                    let room = COLUMNS.saturating_sub(used).min(word.len());
                    line.extend(word[..room].iter());
                    word.drain(..room);
                    out.push_str(&line);
                    out.push('\n');
                    line = String::from(rest);
                    continue;
                }
                out.push_str(&line);
                out.push('\n');
                line = String::from(rest);
                empty = true;
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

fn heading(out: &mut String, level: u8, text: &str) {
    out.push('\n');
    let mut block = String::new();
    wrap(&mut block, "", "", text);
    let widest = block.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    out.push_str(&block);
    let rule = if level <= 1 { '=' } else { '-' };
    out.extend(std::iter::repeat_n(rule, widest));
    out.push_str("\n\n");
}

fn block(out: &mut String, b: &Block) {
    match b {
        Block::Heading { level, text } => heading(out, *level, text),
        Block::Para { text } => {
            wrap(out, "", "", text);
            out.push('\n');
        }
        Block::Alert { label, text } => {
            wrap(out, &format!("!! {}: ", label.to_uppercase()), "   ", text);
            out.push('\n');
        }
        Block::Facts { items } => {
            for f in items {
                wrap(out, &format!("{}: ", f.label), "    ", &f.value);
            }
            out.push('\n');
        }
        Block::List { items, empty } => {
            if items.is_empty() {
                wrap(out, "", "", empty);
            }
            for i in items {
                wrap(out, "- ", "  ", i);
            }
            out.push('\n');
        }
        Block::Table {
            caption,
            header,
            rows,
            blank_rows,
            ..
        } => {
            wrap(
                out,
                "",
                "",
                &format!("{caption} ({}):", rows_said(rows.len())),
            );
            out.push('\n');
            for (n, row) in rows.iter().enumerate() {
                wrap(out, &format!("Row {}:", n + 1), "", "");
                for (label, value) in header.iter().zip(row) {
                    let value = if value.is_empty() {
                        "(nothing recorded)"
                    } else {
                        value
                    };
                    wrap(out, &format!("  {label}: "), "    ", value);
                }
                out.push('\n');
            }
            if *blank_rows > 0 {
                wrap(
                    out,
                    "",
                    "",
                    &format!(
                        "(The printed copy has {blank_rows} empty rows here for entries by hand.)"
                    ),
                );
                out.push('\n');
            }
        }
        Block::Contents { items } => {
            for (n, i) in items.iter().enumerate() {
                wrap(out, &format!("{}. ", n + 1), "   ", i);
            }
            out.push('\n');
        }
    }
}

fn rows_said(n: usize) -> String {
    match n {
        0 => "no rows".into(),
        1 => "1 row".into(),
        n => format!("{n} rows"),
    }
}

/// The document as plain text.
pub fn render(doc: &Doc, reference: &Reference, checkpoint: &Checkpoint) -> String {
    let mut out = String::new();
    heading(&mut out, 0, &doc.title);
    wrap(&mut out, "", "", &doc.subtitle);
    out.push('\n');
    wrap(&mut out, "", "", &checkpoint_line(checkpoint));
    wrap(&mut out, "Check this copy: ", "", &reference.to_string());
    for s in &doc.sections {
        for b in &s.blocks {
            block(&mut out, b);
        }
    }
    out.push_str(&"-".repeat(COLUMNS));
    out.push('\n');
    wrap(&mut out, "", "", &format!("End of {}.", doc.title));
    wrap(&mut out, "", "", &checkpoint_line(checkpoint));
    wrap(&mut out, "Check this copy: ", "", &reference.to_string());
    // The first heading's blank line is not needed at the very top.
    out.trim_start_matches('\n').to_string()
}
