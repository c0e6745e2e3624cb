//! Compliance findings: what a council monitoring officer would raise, each with a rule id,
//! the person, since when, and the sequence numbers of the events that prove it.

use crate::state::{Guide, PersonState, State};
use crate::types::*;

/// Twelve months, after which a choices discussion is stale (R8).
pub const DISCUSSION_STALE_US: i64 = 365 * DAY_US;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    /// On electronic records with no recorded choices discussion (R8).
    NoChoicesDiscussion,
    /// The last discussion is older than 12 months or than the last care plan review (R8).
    StaleChoicesDiscussion,
    /// No paper care plan or Service User Guide in the home and no recorded opt-out (R3).
    NoPaperInHome,
    /// The paper care plan in the home is older than the current version (R3).
    PaperCarePlanOutdated,
    /// The paper Service User Guide in the home is older than the current version (R3).
    PaperGuideOutdated,
    /// eMAR in use and no current paper MAR in the home (R5).
    NoCurrentPaperMar,
    /// An AIS information format is recorded but a document went out in another (R2).
    FormatNotMet,
    /// A council request was answered late or not at all (R12).
    RequestBreached,
    /// A break-glass read of medicines that the registered manager has not reviewed (R5).
    BreakGlassUnreviewed,
}

impl Rule {
    pub const ALL: [Rule; 9] = [
        Rule::NoChoicesDiscussion,
        Rule::StaleChoicesDiscussion,
        Rule::NoPaperInHome,
        Rule::PaperCarePlanOutdated,
        Rule::PaperGuideOutdated,
        Rule::NoCurrentPaperMar,
        Rule::FormatNotMet,
        Rule::RequestBreached,
        Rule::BreakGlassUnreviewed,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Rule::NoChoicesDiscussion => "R8-no-discussion",
            Rule::StaleChoicesDiscussion => "R8-stale-discussion",
            Rule::NoPaperInHome => "R3-no-paper-in-home",
            Rule::PaperCarePlanOutdated => "R3-paper-plan-outdated",
            Rule::PaperGuideOutdated => "R3-paper-guide-outdated",
            Rule::NoCurrentPaperMar => "R5-no-paper-mar",
            Rule::FormatNotMet => "R2-format-not-met",
            Rule::RequestBreached => "R12-request-breached",
            Rule::BreakGlassUnreviewed => "R5-break-glass-unreviewed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: Rule,
    /// The person, or none for the provider as a whole.
    pub person: Option<String>,
    pub since_us: TimeUs,
    pub message: String,
    /// The events that prove it (their presence, or the last one before an absence).
    pub evidence: Vec<u64>,
}

/// Every finding at `now`, person by person, then council requests.
pub fn findings(state: &State, now_us: TimeUs) -> Vec<Finding> {
    let mut out = Vec::new();
    for (id, person) in state.people.iter() {
        person_findings(id, person, state.current_guide(), now_us, &mut out);
    }
    for u in state.unreviewed.values() {
        out.push(break_glass(u));
    }
    for (id, r) in state.requests.iter() {
        if r.is_breached(now_us) {
            let mut evidence = vec![r.received.seq];
            evidence.extend(r.breached.map(|s| s.seq));
            evidence.extend(r.responded.map(|s| s.seq));
            let message = match &r.responded {
                Some(resp) => format!(
                    "request {id} from {} was due {} and answered {} ({} late)",
                    r.requester,
                    crate::state::format_time(r.due_at_us),
                    crate::state::format_time(resp.occurred_at_us),
                    duration(resp.occurred_at_us.saturating_sub(r.due_at_us))
                ),
                None => format!(
                    "request {id} from {} was due {} and has not been answered",
                    r.requester,
                    crate::state::format_time(r.due_at_us)
                ),
            };
            out.push(Finding {
                rule: Rule::RequestBreached,
                person: None,
                since_us: r.due_at_us,
                message,
                evidence,
            });
        }
    }
    out
}

/// Findings about one person only.
pub fn person_findings_at(state: &State, id: &str, now_us: TimeUs) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(p) = state.person(id) {
        person_findings(id, p, state.current_guide(), now_us, &mut out);
    }
    out.extend(
        state
            .unreviewed
            .values()
            .filter(|u| u.person == id)
            .map(break_glass),
    );
    out
}

/// A break-glass access waiting for review: a finding whether or not the person is still
/// in care (the access happened; someone must look at it). Like every finding it names
/// the person by id only: who broke the glass and why is the person's access log, read
/// through the gate on the review page.
fn break_glass(u: &crate::state::Unreviewed) -> Finding {
    Finding {
        rule: Rule::BreakGlassUnreviewed,
        person: Some(u.person.clone()),
        since_us: u.stamp.occurred_at_us,
        message: format!(
            "an emergency access to {}'s medicines on {} (event {}) has not been reviewed \
             by the registered manager",
            u.person,
            crate::state::format_time(u.stamp.occurred_at_us),
            u.stamp.seq
        ),
        evidence: vec![u.stamp.seq],
    }
}

pub fn duration(us: i64) -> String {
    let minutes = us / MINUTE_US;
    if minutes < 120 {
        format!("{minutes} min")
    } else if minutes < 48 * 60 {
        format!("{} h {} min", minutes / 60, minutes % 60)
    } else {
        format!("{} days", minutes / (24 * 60))
    }
}

fn person_findings(
    id: &str,
    p: &PersonState,
    guide: Option<&Guide>,
    now_us: TimeUs,
    out: &mut Vec<Finding>,
) {
    let Some(started) = p.care_started.filter(|_| p.care_active()) else {
        return;
    };
    let mut push = |rule: Rule, since_us: TimeUs, message: String, evidence: Vec<u64>| {
        out.push(Finding {
            rule,
            person: Some(id.to_string()),
            since_us,
            message,
            evidence,
        })
    };
    // R8: silence is not consent.
    match &p.last_discussion {
        None => push(
            Rule::NoChoicesDiscussion,
            started.occurred_at_us,
            format!("{id} is on electronic records and no choices discussion is recorded"),
            vec![started.seq],
        ),
        Some(d) => {
            let review = p
                .plan
                .as_ref()
                .and_then(|plan| plan.last_review)
                .filter(|r| r.occurred_at_us > d.stamp.occurred_at_us);
            let aged = d.stamp.occurred_at_us + DISCUSSION_STALE_US;
            if let Some(r) = review {
                push(
                    Rule::StaleChoicesDiscussion,
                    r.occurred_at_us,
                    format!("{id}'s care plan was reviewed after the last choices discussion"),
                    vec![d.stamp.seq, r.seq],
                );
            } else if now_us > aged {
                push(
                    Rule::StaleChoicesDiscussion,
                    aged,
                    format!("{id}'s last choices discussion is more than 12 months old"),
                    vec![d.stamp.seq],
                );
            }
        }
    }
    // R3: paper in the home unless expressly declined.
    if p.paper_declined.is_none() {
        let plan = p.paper.get(&Document::CarePlan);
        let guide_copy = p.paper.get(&Document::ServiceUserGuide);
        if plan.is_none() || guide_copy.is_none() {
            let missing = match (plan, guide_copy) {
                (None, None) => "care plan and Service User Guide",
                (None, _) => "care plan",
                _ => "Service User Guide",
            };
            push(
                Rule::NoPaperInHome,
                started.occurred_at_us,
                format!(
                    "{id} has no paper {missing} in the home and has not declined paper copies"
                ),
                vec![started.seq],
            );
        }
        if let (Some(copy), Some(current)) = (plan, &p.plan) {
            if copy.version.unwrap_or(0) < current.version {
                push(
                    Rule::PaperCarePlanOutdated,
                    current.published.occurred_at_us,
                    format!(
                        "{id}'s paper care plan is version {}; the current version is {}",
                        copy.version.unwrap_or(0),
                        current.version
                    ),
                    vec![copy.stamp.seq, current.published.seq],
                );
            }
        }
        // A copy printed outside careledger names no version: it cannot be compared.
        if let (Some(copy), Some(current)) = (guide_copy, guide) {
            if copy.version.is_some_and(|v| v < current.version) {
                push(
                    Rule::PaperGuideOutdated,
                    current
                        .published
                        .occurred_at_us
                        .max(copy.stamp.occurred_at_us),
                    format!(
                        "{id}'s paper Service User Guide is version {}; the current version is {}",
                        copy.version.unwrap_or(0),
                        current.version
                    ),
                    vec![copy.stamp.seq, current.published.seq],
                );
            }
        }
    }
    // R5: a written MAR stays in the home where eMAR is used. The paper MAR must be of the
    // current revision; declining paper copies does not remove this duty.
    if let Some(first) = p.first_emar {
        let current = p
            .paper
            .get(&Document::Mar)
            .filter(|m| m.version == Some(p.mar_revision));
        if current.is_none() {
            let (since, mut evidence) = match (p.paper.get(&Document::Mar), p.mar_changed) {
                (Some(old), Some(changed)) if changed.occurred_at_us >= first.occurred_at_us => {
                    (changed.occurred_at_us, vec![old.stamp.seq, changed.seq])
                }
                // The paper MAR was already out of date when eMAR came into use: the finding
                // holds from the first eMAR entry, not from the earlier change.
                (Some(old), Some(changed)) => (
                    first.occurred_at_us,
                    vec![old.stamp.seq, changed.seq, first.seq],
                ),
                _ => (first.occurred_at_us, vec![first.seq]),
            };
            evidence.dedup();
            push(
                Rule::NoCurrentPaperMar,
                since,
                format!(
                    "{id} has eMAR entries and no current paper MAR (revision {}) in the home",
                    p.mar_revision
                ),
                evidence,
            );
        }
    }
    // R2: the recorded format must be met.
    for m in &p.format_mismatches {
        push(
            Rule::FormatNotMet,
            m.stamp.occurred_at_us,
            format!(
                "{id}'s {} went out in {}; their recorded format is {}",
                m.document.name(),
                m.sent.name(),
                m.needed
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
            vec![m.stamp.seq],
        );
    }
}
