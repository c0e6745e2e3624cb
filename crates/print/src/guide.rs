//! The provider's Service User Guide, as published in the ledger (`guide.published`): its
//! sections in order, headed by its version, when it was published and by whom, so a copy
//! in a home says which version it is and can be compared with the current one.

use careledger_care::state::Guide;
use careledger_care::State;

use crate::doc::{Block, Doc};
use crate::words;
use crate::Format;

/// Builds the guide in `format`: its version, when and by whom it was published under the
/// title, then its sections. In easy read each sentence is a line of its own (one idea per
/// line); the provider's words are printed as written otherwise.
pub fn build(state: &State, guide: &Guide, format: Format) -> Doc {
    let easy = format == Format::EasyRead;
    let published = words::when(guide.published.occurred_at_us);
    let by = words::who(state, &guide.published_by);
    let mut blocks = Vec::new();
    if easy {
        blocks.push(Block::p("This is our guide."));
        blocks.push(Block::p("It tells you about the care we give you."));
        blocks.push(Block::p(format!("This is version {}.", guide.version)));
        blocks.push(Block::p("Keep it with your care plan."));
    }
    for section in &guide.sections {
        blocks.push(Block::h(1, section.heading.trim()));
        let paragraphs = paragraphs(&section.body);
        if paragraphs.is_empty() {
            blocks.push(Block::p("Nothing written in this section."));
        }
        for p in paragraphs {
            if easy {
                blocks.extend(sentences(&p).into_iter().map(Block::p));
            } else {
                blocks.push(Block::p(p));
            }
        }
    }
    Doc::single(
        guide.title.trim().to_string(),
        format!("Version {}, published {published} by {by}.", guide.version),
        false,
        blocks,
    )
}

/// The body's paragraphs: lines, with blank lines between paragraphs dropped.
fn paragraphs(body: &str) -> Vec<String> {
    body.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// A paragraph cut after each full stop, question or exclamation mark that ends a
/// sentence (followed by a space and a capital letter or a digit), so "8am to 6pm. Someone
/// is on call" becomes two lines and "e.g. a paramedic" stays one.
pub(crate) fn sentences(paragraph: &str) -> Vec<String> {
    let chars: Vec<char> = paragraph.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    for i in 0..chars.len() {
        let ends = matches!(chars[i], '.' | '?' | '!')
            && chars.get(i + 1) == Some(&' ')
            && chars
                .get(i + 2)
                .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit());
        if ends {
            out.push(
                chars[start..=i]
                    .iter()
                    .collect::<String>()
                    .trim()
                    .to_string(),
            );
            start = i + 2;
        }
    }
    let rest: String = chars[start.min(chars.len())..].iter().collect();
    if !rest.trim().is_empty() {
        out.push(rest.trim().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::sentences;

    #[test]
    fn sentences_are_cut_where_one_ends_and_the_next_begins() {
        assert_eq!(
            sentences("We are open 8am to 6pm. Someone is on call. Call us!"),
            ["We are open 8am to 6pm.", "Someone is on call.", "Call us!"]
        );
        assert_eq!(
            sentences("Ask e.g. a nurse. Then rest."),
            ["Ask e.g. a nurse.", "Then rest."]
        );
        assert!(sentences("   ").is_empty());
    }
}
