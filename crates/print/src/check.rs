//! Whether a printed copy is still current: what its reference says against the ledger's
//! state now. The checkpoint half of the check (is the root at that size the one printed?)
//! needs the log, so the caller does it; this half needs only the projections.

use careledger_care::State;

use crate::{Kind, Reference};

/// The answer, in words, and whether the copy is the current version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub current: bool,
    pub said: String,
}

fn status(current: bool, said: String) -> Status {
    Status { current, said }
}

/// What the service's open check page says to anyone of a copy whose checkpoint is the
/// ledger's: a report is what the ledger held then; of anything else, nothing. A reference
/// is not bound to its document (the ledger's checkpoint is public, so anyone can write one
/// naming any person id), so an answer about the person's documents (whether a version is
/// current, whether the person exists) would tell a stranger who receives care; only
/// someone with the ledger (`careledger check-document`) is told that. `None`: nothing
/// more to say.
/// The Service User Guide is the provider's, about nobody, so anyone is told whether a
/// copy of it is current.
pub fn status_for_anyone(state: &State, reference: &Reference) -> Option<Status> {
    match reference.kind {
        Kind::Guide => Some(guide_status(state, reference)),
        kind if kind.is_report() => Some(report_status(reference)),
        _ => None,
    }
}

/// Whether a copy of the guide is of the current version, published before its checkpoint.
fn guide_status(state: &State, reference: &Reference) -> Status {
    let Some(now) = state.current_guide() else {
        return status(
            false,
            "UNKNOWN: this ledger has no Service User Guide".into(),
        );
    };
    match reference.version {
        Some(v) if v == now.version && now.published.seq < reference.size => status(
            true,
            format!("CURRENT: version {v} is the current Service User Guide"),
        ),
        Some(v) if v == now.version => status(
            false,
            format!("NOT THIS LEDGER'S COPY: version {v} of the Service User Guide was published after the checkpoint this copy names, so the copy's reference was altered"),
        ),
        Some(v) if v > now.version || v == 0 => status(
            false,
            format!("NOT THIS LEDGER'S COPY: this ledger has published no version {v} of the Service User Guide (the current is {}), so the copy's reference was altered", now.version),
        ),
        v => status(
            false,
            format!(
                "OUT OF DATE: this copy is version {}; the current Service User Guide is version {} (published {})",
                v.map_or("unknown".to_string(), |v| v.to_string()),
                now.version,
                crate::words::when(now.published.occurred_at_us)
            ),
        ),
    }
}

/// A report is what the ledger showed at its checkpoint; it is never replaced.
fn report_status(reference: &Reference) -> Status {
    status(
        true,
        format!(
            "A REPORT AS OF ITS CHECKPOINT: it says what the ledger held at {} events; print it again for what it holds now",
            reference.size
        ),
    )
}

/// The people whose care plan or MAR chart changed at or after event `size`.
fn changed_since(state: &State, size: u64) -> Vec<&str> {
    state
        .people
        .iter()
        .filter(|(_, p)| {
            p.plan.as_ref().is_some_and(|c| c.published.seq >= size)
                || p.mar_changed.is_some_and(|m| m.seq >= size)
        })
        .map(|(id, _)| id.as_str())
        .collect()
}

/// Is the document `reference` names the current version of its kind?
pub fn status_of(state: &State, reference: &Reference) -> Status {
    if let Some(answer) = status_for_anyone(state, reference) {
        return answer;
    }
    let Some(id) = reference.subject.as_deref() else {
        // A pack: current while no care plan or MAR chart in the ledger changed after it
        // was printed.
        let changed = changed_since(state, reference.size);
        return if changed.is_empty() {
            status(
                true,
                "CURRENT: no care plan or MAR chart has changed since this pack was printed".into(),
            )
        } else {
            status(
                false,
                format!(
                    "OUT OF DATE: since this pack was printed the care plan or MAR chart of {} changed: {}",
                    changed.len(),
                    changed.join(", ")
                ),
            )
        };
    };
    let Some(person) = state.person(id) else {
        return status(
            false,
            format!("UNKNOWN: there is no person {id} in this ledger"),
        );
    };
    let name = &person.details.name;
    let mut answer = current_version(person, name, reference);
    // What the ledger says is in the home, for the documents the home keeps.
    if let Some(copy) = reference.kind.document().and_then(|d| person.paper.get(&d)) {
        let version = copy
            .version
            .map_or(String::new(), |v| format!(" version {v}"));
        let digest = copy
            .digest
            .as_deref()
            .map_or("no digest recorded".to_string(), |d| format!("digest {d}"));
        answer.said.push_str(&format!(
            "\nin the home:{version}, {}, {digest} (event {})",
            copy.format.name(),
            copy.stamp.seq
        ));
    }
    answer
}

fn current_version(
    person: &careledger_care::state::PersonState,
    name: &str,
    reference: &Reference,
) -> Status {
    match reference.kind {
        Kind::CarePlan => {
            let now = person.plan.as_ref().map(|p| p.version);
            match (reference.version, now) {
                (Some(v), Some(n))
                    if v == n
                        && person
                            .plan
                            .as_ref()
                            .is_some_and(|p| p.published.seq < reference.size) =>
                {
                    status(
                        true,
                        format!("CURRENT: version {v} is {name}'s current care plan"),
                    )
                }
                (Some(v), Some(n)) if v == n => status(
                    false,
                    format!(
                        "NOT THIS LEDGER'S COPY: version {v} of {name}'s care plan was published after the checkpoint this copy names, so the copy's reference was altered"
                    ),
                ),
                (v, Some(n)) => status(
                    false,
                    format!(
                        "OUT OF DATE: this copy is version {}; {name}'s current care plan is version {n}",
                        v.map_or("unknown".to_string(), |v| v.to_string())
                    ),
                ),
                (_, None) => status(false, format!("OUT OF DATE: {name} has no care plan now")),
            }
        }
        Kind::Mar => {
            let now = person.mar_revision;
            let changed_before = person.mar_changed.is_none_or(|c| c.seq < reference.size);
            if reference.version == Some(now) && changed_before {
                status(
                    true,
                    format!(
                        "CURRENT: revision {now} is {name}'s current MAR chart (no medicine added or stopped since)"
                    ),
                )
            } else {
                status(
                    false,
                    format!(
                        "OUT OF DATE: this copy is revision {}; {name}'s MAR chart is at revision {now} (a medicine was added or stopped)",
                        reference.version.map_or("unknown".to_string(), |v| v.to_string())
                    ),
                )
            }
        }
        Kind::Diary => status(
            true,
            format!(
                "A RECORD OF ITS PERIOD: diary records are not replaced by newer versions; entries made after event {} are in the ledger, not on this copy",
                reference.size
            ),
        ),
        Kind::Guide | Kind::Contingency | Kind::Monitoring | Kind::ResponseTimes => status(
            false,
            format!("UNKNOWN: a {} names no person", reference.kind.name()),
        ),
    }
}
