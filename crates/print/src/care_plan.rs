//! The care plan, in the sections of the PRSB Personalised Care and Support Plan standard,
//! with "About me" first: who the person is and how to reach them, their communication
//! needs, then what they need, want and get, the risks, and what to do if things go wrong.
//! Version, publication date and who published it head the document, so a visiting
//! professional knows which plan they are reading.

use careledger_care::state::PersonState;
use careledger_care::State;

use crate::doc::{Block, Doc, Fact};
use crate::words;
use crate::{Entry, Format, PrintError};

/// The person's details as every person document opens with them (NICE NG67 asks these
/// of a MAR chart too): name, date of birth, NHS number, GP practice, address.
/// Who the document is about. `address`: with their address (the care plan and the diary
/// for the home file); the MAR chart holds what NICE NG67 asks and no more, as the record's
/// medicines section does, so a reader allowed medicines alone (an emergency clinician)
/// reads nothing else.
pub(crate) fn identity(person: &PersonState, address: bool) -> Block {
    let d = &person.details;
    let mut facts = vec![
        Fact::new("Name", &d.name),
        Fact::new("Date of birth", words::date(d.date_of_birth)),
        Fact::new(
            "NHS number",
            d.nhs_number
                .as_deref()
                .map(spaced_nhs_number)
                .unwrap_or_else(|| "not recorded".into()),
        ),
        Fact::new("GP practice", &d.gp_practice),
    ];
    if address {
        facts.push(Fact::new("Address", &d.address));
    }
    Block::facts(facts)
}

/// "943 476 5919", as the NHS writes it.
fn spaced_nhs_number(n: &str) -> String {
    if n.len() == 10 && n.is_ascii() {
        format!("{} {} {}", &n[..3], &n[3..6], &n[6..])
    } else {
        n.to_string()
    }
}

/// Allergies, prominent, never blank: "None known" is said when none are recorded.
pub(crate) fn allergies(person: &PersonState, easy: bool) -> Block {
    let a = &person.details.allergies;
    let text = if a.is_empty() {
        if easy {
            "None known. You have no allergies that we know of.".to_string()
        } else {
            "None known (no known allergies recorded).".to_string()
        }
    } else {
        a.join("; ")
    };
    Block::Alert {
        label: "Allergies".into(),
        text,
    }
}

/// The person's communication and information needs (Accessible Information Standard).
fn communication(person: &PersonState, easy: bool) -> Vec<Block> {
    let needs: Vec<String> = person
        .ais
        .iter()
        .flat_map(|a| a.needs.iter())
        .map(|n| n.describe())
        .collect();
    vec![
        Block::h(
            1,
            if easy {
                "How you like to get information"
            } else {
                "Communication and information needs"
            },
        ),
        Block::list(needs, "None recorded."),
    ]
}

fn representatives(person: &PersonState) -> Block {
    let items = person
        .representatives
        .values()
        .map(|r| {
            let authority = r
                .evidence_of_authority
                .as_deref()
                .map(|e| format!(", evidence of authority: {e}"))
                .unwrap_or_default();
            format!("{} ({:?}{authority})", r.name, r.relationship)
        })
        .collect();
    Block::list(items, "None recorded.")
}

/// Builds the care plan of `person`. `entries` must hold the event that published the
/// current version, for who published it.
pub fn build(
    state: &State,
    person: &PersonState,
    entries: &[Entry],
    format: Format,
) -> Result<Doc, PrintError> {
    let easy = format == Format::EasyRead;
    let plan = person
        .plan
        .as_ref()
        .ok_or_else(|| PrintError::NoPlan(person.details.name.clone()))?;
    let published_by = entries
        .iter()
        .find(|e| e.seq == plan.published.seq)
        .map(|e| words::who(state, &e.actor))
        .unwrap_or_else(|| "(not known)".into());
    let published = words::when(plan.published.occurred_at_us);
    let s = &plan.sections;
    let name = &person.details.name;
    let reviewed = plan
        .last_review
        .map(|r| format!("Last reviewed {}.", words::when(r.occurred_at_us)))
        .unwrap_or_else(|| "Not reviewed since it was published.".into());
    let mut blocks = Vec::new();
    if easy {
        blocks.push(Block::p("This is your care plan."));
        blocks.push(Block::p("It says how we help you."));
        blocks.push(Block::p(format!("This is version {}.", plan.version)));
        blocks.push(Block::p(format!("{published_by} wrote it down.")));
        blocks.push(Block::h(1, "About you"));
        blocks.push(identity(person, true));
        blocks.push(allergies(person, true));
        blocks.extend(communication(person, true));
        blocks.push(Block::h(1, "What you told us about you"));
        blocks.extend(lines(&s.about_me));
        blocks.push(Block::h(1, "What you need"));
        blocks.push(Block::list(s.needs.clone(), "Nothing written yet."));
        blocks.push(Block::h(1, "What you want to do"));
        blocks.push(Block::list(s.goals.clone(), "Nothing written yet."));
        blocks.push(Block::h(1, "How we help you"));
        blocks.push(Block::list(s.actions.clone(), "Nothing written yet."));
        blocks.push(Block::h(1, "Keeping you safe"));
        blocks.push(Block::list(s.risks.clone(), "No risks written down."));
        blocks.push(Block::h(1, "If things go wrong"));
        blocks.extend(lines(&s.contingency_plan));
        blocks.push(Block::h(1, "Who agreed this plan"));
        blocks.push(Block::list(s.agreed_with.clone(), "Nobody written down."));
        blocks.push(Block::h(1, "When we look at it again"));
        blocks.push(Block::p(format!(
            "We will look at this plan with you by {}.",
            words::date(plan.next_review_date)
        )));
        blocks.push(Block::p("You can ask to change it at any time."));
    } else {
        blocks.push(Block::h(1, "About me"));
        blocks.push(identity(person, true));
        blocks.push(allergies(person, false));
        blocks.extend(lines(&s.about_me));
        blocks.push(Block::h(2, "People important to me and my representatives"));
        blocks.push(representatives(person));
        blocks.extend(communication(person, false));
        blocks.push(Block::h(1, "My needs"));
        blocks.push(Block::list(s.needs.clone(), "None recorded."));
        blocks.push(Block::h(1, "What matters to me: my goals"));
        blocks.push(Block::list(s.goals.clone(), "None recorded."));
        blocks.push(Block::h(1, "How I will be supported: planned actions"));
        blocks.push(Block::list(s.actions.clone(), "None recorded."));
        blocks.push(Block::h(1, "Risks and how they are managed"));
        blocks.push(Block::list(s.risks.clone(), "None recorded."));
        blocks.push(Block::h(
            1,
            "Contingency plan: what to do if things go wrong",
        ));
        blocks.extend(lines(&s.contingency_plan));
        blocks.push(Block::h(1, "Agreement and review"));
        blocks.push(Block::facts(vec![
            Fact::new("Agreed with", join_or(&s.agreed_with, "nobody recorded")),
            Fact::new("Version", plan.version.to_string()),
            Fact::new("Published", format!("{published} by {published_by}")),
            Fact::new("Review", reviewed),
            Fact::new("Next review by", words::date(plan.next_review_date)),
        ]));
    }
    Ok(Doc::single(
        format!("Care plan for {name}"),
        format!(
            "Version {}, published {published} by {published_by}. Next review by {}.",
            plan.version,
            words::date(plan.next_review_date)
        ),
        false,
        blocks,
    ))
}

/// A text as paragraphs, one per line the writer wrote.
pub(crate) fn lines(text: &str) -> Vec<Block> {
    let out: Vec<Block> = text
        .split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(Block::p)
        .collect();
    if out.is_empty() {
        vec![Block::p("None recorded.")]
    } else {
        out
    }
}

fn join_or(items: &[String], none: &str) -> String {
    if items.is_empty() {
        none.to_string()
    } else {
        items.join(", ")
    }
}
