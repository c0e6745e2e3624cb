//! The council's documents: the monitoring report (per provider and per person: choices
//! discussions, paper copies, information needs and whether they were met, and every
//! finding) and the response-time report (each council request: received, due,
//! acknowledged, responded, time taken, warnings and breaches). Every line names the event
//! numbers that prove it, so a monitoring officer can ask for the inclusion proof of each
//! (`careledger prove`, `GET /v1/ledger/proofs/inclusion`) against the checkpoint printed
//! on every page.

use careledger_care::findings::{findings, Finding};
use careledger_care::sla::{sla_state, SlaState};
use careledger_care::state::{CouncilRequest, PersonState, Stamp};
use careledger_care::{InfoOption, State};

use crate::doc::{Block, Doc, Fact};
use crate::words;

fn event(s: &Stamp) -> String {
    format!("event {}", s.seq)
}

fn option(o: InfoOption) -> &'static str {
    match o {
        InfoOption::Paper => "paper",
        InfoOption::SecureEmail => "secure email",
        InfoOption::Portal => "online access",
        InfoOption::AccessibleFormat => "an accessible format",
    }
}

fn discussion(p: &PersonState) -> String {
    match &p.last_discussion {
        None => "none recorded".into(),
        Some(d) => {
            let chosen: Vec<&str> = d.chosen.iter().map(|o| option(*o)).collect();
            format!(
                "{}: chose {}{} ({})",
                words::date(words::uk_date(d.stamp.occurred_at_us)),
                if chosen.is_empty() {
                    "nothing".to_string()
                } else {
                    chosen.join(", ")
                },
                if d.told_access_is_free {
                    "; told access is free"
                } else {
                    "; not told access is free"
                },
                event(&d.stamp)
            )
        }
    }
}

fn paper(p: &PersonState) -> String {
    if let Some((by, stamp)) = &p.paper_declined {
        return format!("expressly declined by {by} ({})", event(stamp));
    }
    if p.paper.is_empty() {
        return "none".into();
    }
    p.paper
        .iter()
        .map(|(document, copy)| {
            let version = copy
                .version
                .map_or(String::new(), |v| format!(" version {v}"));
            format!(
                "{}{version}, {} ({})",
                document.name(),
                copy.format.name(),
                event(&copy.stamp)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn needs(p: &PersonState) -> String {
    match &p.ais {
        None => "none recorded".into(),
        Some(a) => {
            let needs: Vec<String> = a.needs.iter().map(|n| n.describe()).collect();
            let reviewed = a
                .last_review
                .as_ref()
                .map_or(String::new(), |r| format!("; reviewed ({})", event(r)));
            format!(
                "{} ({}{reviewed})",
                if needs.is_empty() {
                    "none".to_string()
                } else {
                    needs.join("; ")
                },
                event(&a.recorded)
            )
        }
    }
}

fn met(p: &PersonState) -> String {
    if p.format_mismatches.is_empty() {
        return if p.ais.is_some() {
            "yes: nothing sent in another format".into()
        } else {
            "no needs recorded".into()
        };
    }
    let sent: Vec<String> = p
        .format_mismatches
        .iter()
        .map(|m| {
            format!(
                "{} sent in {} ({})",
                m.document.name(),
                m.sent.name(),
                event(&m.stamp)
            )
        })
        .collect();
    format!("no: {}", sent.join("; "))
}

fn events(evidence: &[u64]) -> String {
    match evidence {
        [] => "none".into(),
        [one] => format!("event {one}"),
        many => format!(
            "events {}",
            many.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn finding_row(f: &Finding) -> Vec<String> {
    vec![
        f.rule.id().to_string(),
        f.person.clone().unwrap_or_else(|| "the provider".into()),
        words::when(f.since_us),
        f.message.clone(),
        events(&f.evidence),
    ]
}

/// The monitoring report of `state` as it stood at `at_us` (the checkpoint's time).
pub fn monitoring(state: &State, at_us: i64) -> Doc {
    let active: Vec<(&String, &PersonState)> = state
        .people
        .iter()
        .filter(|(_, p)| p.care_active())
        .collect();
    let count = |f: &dyn Fn(&PersonState) -> bool| active.iter().filter(|(_, p)| f(p)).count();
    let found = findings(state, at_us);
    let mut blocks = vec![
        Block::p(
            "What the provider shows a monitoring visit: for each person receiving care, the \
             last discussion of their information choices, the paper copies in their home, \
             their recorded information needs (Accessible Information Standard) and whether \
             they were met; then every finding. Each line names the events that prove it: ask \
             for an event's inclusion proof against the checkpoint at the foot of the page.",
        ),
        Block::h(1, "The provider"),
        Block::facts(vec![
            Fact::new("People receiving care", active.len().to_string()),
            Fact::new(
                "With a choices discussion recorded",
                count(&|p| p.last_discussion.is_some()).to_string(),
            ),
            Fact::new(
                "Told access to their record is free",
                count(&|p| {
                    p.last_discussion
                        .as_ref()
                        .is_some_and(|d| d.told_access_is_free)
                })
                .to_string(),
            ),
            Fact::new(
                "With paper copies in the home",
                count(&|p| !p.paper.is_empty()).to_string(),
            ),
            Fact::new(
                "Declined paper copies",
                count(&|p| p.paper_declined.is_some()).to_string(),
            ),
            Fact::new(
                "With information needs recorded",
                count(&|p| p.ais.is_some()).to_string(),
            ),
            Fact::new(
                "Sent a document in a format they do not use",
                count(&|p| !p.format_mismatches.is_empty()).to_string(),
            ),
            Fact::new("Findings", found.len().to_string()),
        ]),
        Block::h(1, "Each person"),
    ];
    blocks.push(Block::Table {
        caption: "Choices, paper copies and information needs, with the events that prove them"
            .into(),
        header: vec![
            "Person".into(),
            "Choices discussion".into(),
            "Paper copies in the home".into(),
            "Information needs".into(),
            "Needs met".into(),
        ],
        rows: active
            .iter()
            .map(|(id, p)| {
                vec![
                    format!("{} ({id})", p.details.name),
                    discussion(p),
                    paper(p),
                    needs(p),
                    met(p),
                ]
            })
            .collect(),
        widths: vec![3, 4, 5, 4, 3],
        blank_rows: 0,
    });
    blocks.push(Block::h(1, "Findings"));
    if found.is_empty() {
        blocks.push(Block::p("No findings."));
    } else {
        blocks.push(Block::Table {
            caption: "Every finding, with the events it rests on".into(),
            header: vec![
                "Rule".into(),
                "About".into(),
                "Since".into(),
                "What".into(),
                "Events".into(),
            ],
            rows: found.iter().map(finding_row).collect(),
            widths: vec![3, 2, 3, 7, 2],
            blank_rows: 0,
        });
    }
    Doc::single(
        "Monitoring report".into(),
        format!(
            "As the ledger stood at {}: {} receiving care.",
            words::when(at_us),
            words::count(active.len(), "person", "people")
        ),
        true,
        blocks,
    )
}

fn minutes(us: i64) -> String {
    let m = us / 60_000_000;
    if m < 60 {
        format!("{m} min")
    } else {
        format!("{} h {:02} min", m / 60, m % 60)
    }
}

fn request_row(id: &str, r: &CouncilRequest, at_us: i64) -> Vec<String> {
    let at = |s: &Stamp| format!("{} ({})", words::when(s.occurred_at_us), event(s));
    let outcome = match sla_state(r, at_us) {
        SlaState::DueIn(us) => format!("open, due in {}", minutes(us)),
        SlaState::Warned(us) => format!("open, due in {}", minutes(us)),
        SlaState::Breached => "open and overdue: breached".into(),
        SlaState::Responded { late: false, .. } => "answered in time".into(),
        SlaState::Responded { late: true, .. } => "answered late: breached".into(),
        SlaState::Withdrawn => "withdrawn".into(),
    };
    let took = match sla_state(r, at_us) {
        SlaState::Responded { took_us, .. } => minutes(took_us),
        _ => "-".into(),
    };
    let mut marks = Vec::new();
    if let Some(w) = &r.warned {
        marks.push(format!("warned ({})", event(w)));
    }
    if let Some(b) = &r.breached {
        marks.push(format!("breach recorded ({})", event(b)));
    }
    if let Some(w) = &r.withdrawn {
        marks.push(format!("withdrawn ({})", event(w)));
    }
    let responded = r.responded.as_ref().map_or("not yet".to_string(), |s| {
        let digest = r.response_digest.map_or(String::new(), |d| {
            let hex: String = d.iter().take(6).map(|b| format!("{b:02x}")).collect();
            format!(", what was sent {hex}...")
        });
        let channel = r
            .response_channel
            .map_or(String::new(), |c| format!(", by {}", c.name()));
        format!("{}{channel}{digest}", at(s))
    });
    vec![
        format!("{id} from {} ({})", r.organisation, r.requester),
        at(&r.received),
        words::when(r.due_at_us),
        r.acknowledged.as_ref().map_or("not yet".to_string(), at),
        responded,
        took,
        if marks.is_empty() {
            outcome
        } else {
            format!("{outcome}; {}", marks.join("; "))
        },
    ]
}

/// The response-time report of `state` as it stood at `at_us`: every council request.
pub fn response_times(state: &State, at_us: i64) -> Doc {
    let all: Vec<(&String, &CouncilRequest)> = state.requests.iter().collect();
    let states: Vec<SlaState> = all.iter().map(|(_, r)| sla_state(r, at_us)).collect();
    let n = |f: &dyn Fn(&SlaState) -> bool| states.iter().filter(|s| f(s)).count().to_string();
    let blocks = vec![
        Block::p(
            "Every council data request: when it was received and due (24 hours), \
             acknowledged and answered, how long the answer took, and any warning or breach. \
             Each time names the event that records it; the response names the first bytes of \
             the digest of what was sent.",
        ),
        Block::facts(vec![
            Fact::new("Requests", all.len().to_string()),
            Fact::new(
                "Answered in time",
                n(&|s| matches!(s, SlaState::Responded { late: false, .. })),
            ),
            Fact::new(
                "Answered late",
                n(&|s| matches!(s, SlaState::Responded { late: true, .. })),
            ),
            Fact::new(
                "Open",
                n(&|s| matches!(s, SlaState::DueIn(_) | SlaState::Warned(_))),
            ),
            Fact::new("Open and overdue", n(&|s| matches!(s, SlaState::Breached))),
            Fact::new("Withdrawn", n(&|s| matches!(s, SlaState::Withdrawn))),
        ]),
        Block::Table {
            caption: "Each request, with the events that prove it".into(),
            header: vec![
                "Request".into(),
                "Received".into(),
                "Due".into(),
                "Acknowledged".into(),
                "Responded".into(),
                "Took".into(),
                "Outcome".into(),
            ],
            rows: all
                .iter()
                .map(|(id, r)| request_row(id, r, at_us))
                .collect(),
            widths: vec![4, 3, 2, 3, 4, 2, 3],
            blank_rows: 0,
        },
    ];
    Doc::single(
        "Response-time report".into(),
        format!(
            "As the ledger stood at {}: {}.",
            words::when(at_us),
            words::count(all.len(), "council request", "council requests")
        ),
        true,
        blocks,
    )
}
