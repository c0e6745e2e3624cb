//! The access gate: the one path from a request to a person's data.
//!
//! For each read it asks the policy, builds the answer without sending it, appends the
//! access event (`access.read`, or `access.refused` with the policy's reason) and waits
//! until that event is durable; only then does the answer leave. If the event cannot be
//! written the caller gets an error and no data. The care rules check the `access.read`
//! event against the policy again inside the appender, so a grant revoked between the
//! decision and the append turns the read into a refusal rather than a leak.

use std::sync::atomic::Ordering::Relaxed;

use axum::http::StatusCode;

use careledger_care::event::{AccessBasis, AccessRefused, RecordAccessed};
use careledger_care::policy::{self, Basis};
use careledger_care::RuleError;
use careledger_care::{CareEvent, Category, Purpose};
use careledger_ledger::{CareRefusal, Command, LedgerError};

use crate::auth::Principal;
use crate::blocking::Deadline;
use crate::wire::{Access, Care, CategoryBasis, Record};
use crate::{ApiError, App};

/// What the gate let through: the data and the access event that records it.
pub struct Granted<T> {
    pub data: T,
    pub access_seq: u64,
    pub basis: Vec<(Category, Basis)>,
    /// Allowed by break-glass: flagged for review.
    pub flagged: bool,
    /// The person's AIS flag, shown wherever their record is opened (R2).
    pub ais_flag: Option<String>,
}

impl<T> Granted<T> {
    /// The response body: the person, the AIS flag, the access event, then the data.
    pub fn record(self, person: &str) -> Record<T> {
        Record {
            person: person.to_string(),
            ais_flag: self.ais_flag,
            access: Access {
                event: self.access_seq,
                flagged: self.flagged,
                basis: self
                    .basis
                    .iter()
                    .map(|(c, b)| CategoryBasis {
                        category: Care(*c),
                        basis: b.into(),
                    })
                    .collect(),
            },
            data: self.data,
        }
    }
}

/// Reads `categories` of `person` for `purpose` as `who`. `build` computes the answer and
/// the number of items in it (recorded in the access event); it runs only if the policy
/// allows the read, on the blocking pool with the request's deadline (it reads the log,
/// which can take long), and its result is returned only once the access event is durable.
pub async fn read<T: Send + 'static>(
    app: &App,
    who: &Principal,
    person: &str,
    categories: &[Category],
    purpose: Purpose,
    build: impl FnOnce(&App, &Deadline) -> Result<(T, u32), ApiError> + Send + 'static,
) -> Result<Granted<T>, ApiError> {
    let now = careledger_store::now_us();
    let principal = policy::Principal {
        id: &who.id,
        role: who.role,
    };
    // A principal whose role reads some part of anyone's record (staff, auditors) may be
    // told that a person does not exist; to anyone else, an unknown id and a record they
    // have no tie to get the same refusal, so that person ids are no oracle.
    // Both are asked only on the way to a refusal, not on every read.
    let role_wide = || reads_every_record(who.role);
    let decided = app.ledger.read(|state| {
        state.person(person).map(|p| {
            let decision = policy::decide(state, &principal, person, categories, purpose, now);
            let may_know =
                !decision.is_allowed() && (role_wide() || tied(state, p, &who.id, person));
            (decision, p.ais_flag(), may_know)
        })
    })?;
    let Some((decision, ais_flag, may_know)) = decided else {
        return Err(if role_wide() {
            ApiError::no_person(person)
        } else {
            untied_refusal(who, person, categories, purpose)
        });
    };
    // The answer is built (outside the projections' lock, since histories read the log)
    // but not sent until the access event is durable.
    if !decision.is_allowed() {
        let reason = decision
            .refused
            .iter()
            .map(|(c, r)| format!("{}: {r}", c.name()))
            .collect::<Vec<_>>()
            .join("; ");
        let refused = refuse(app, who, person, categories, purpose, now, reason).await;
        // Recorded either way; the answer names the reason only to someone who may know
        // the record exists.
        return Err(if may_know || refused.status != StatusCode::FORBIDDEN {
            refused
        } else {
            untied_refusal(who, person, categories, purpose)
        });
    }
    let (data, items) = app.offload("a record read", build).await?;
    let event = access_event(who, categories, purpose, items, &decision.allowed);
    match app
        .append_ledger(vec![Command::about(&who.id, person, now, event)])
        .await
    {
        Ok(receipts) => {
            app.metrics.access_allowed.fetch_add(1, Relaxed);
            Ok(Granted {
                data,
                access_seq: receipts[0].seq,
                flagged: decision.flagged(),
                basis: decision.allowed,
                ais_flag,
            })
        }
        // The state changed between the decision and the append (a grant revoked, an
        // emergency access expired): the rules refused the read; record the refusal.
        Err(LedgerError::Refused {
            error: CareRefusal::Rule(RuleError::AccessNotAllowed { reason }),
            ..
        }) => Err(refuse(app, who, person, categories, purpose, now, reason).await),
        Err(e) => Err(e.into()),
    }
}

/// The `access.read` event of an allowed read: who, what, why, how many items, and the
/// decision's basis for each category, which goes into the log where the rules check it
/// again. For reads recorded outside [`read`] too (a list of people, one event each).
pub fn access_event(
    who: &Principal,
    categories: &[Category],
    purpose: Purpose,
    items: u32,
    allowed: &[(Category, Basis)],
) -> CareEvent {
    CareEvent::RecordAccessed(RecordAccessed {
        role: who.role,
        categories: categories.to_vec(),
        purpose,
        items,
        basis: allowed
            .iter()
            .map(|(category, basis)| AccessBasis {
                category: *category,
                basis: basis.clone(),
            })
            .collect(),
    })
}

/// Appends the refusal event and answers 403 naming the reason; if the refusal cannot be
/// written, answers that error instead (still with no data).
async fn refuse(
    app: &App,
    who: &Principal,
    person: &str,
    categories: &[Category],
    purpose: Purpose,
    now: i64,
    reason: String,
) -> ApiError {
    let event = CareEvent::AccessRefused(AccessRefused {
        role: who.role,
        categories: categories.to_vec(),
        purpose,
        reason: truncate(&reason, 1000),
    });
    match app
        .append(vec![Command::about(&who.id, person, now, event)])
        .await
    {
        Ok(receipts) => {
            app.metrics.access_refused.fetch_add(1, Relaxed);
            let mut e = ApiError::forbidden(format!("access refused and recorded: {reason}"));
            e.access_event = Some(receipts[0].seq);
            e
        }
        Err(e) => e,
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The role may read some category of every person's record by its role alone.
fn reads_every_record(role: careledger_care::Role) -> bool {
    Category::ALL.iter().any(|c| {
        Purpose::ALL
            .iter()
            .any(|p| policy::role_default(role, *c, *p))
    })
}

/// The principal has some tie to the person's record that tells them it exists: it is
/// their own, they are linked to it as a representative, a grant or sharing consent names
/// them, a council request of theirs names the person, or they used break-glass on it.
fn tied(
    state: &careledger_care::State,
    p: &careledger_care::state::PersonState,
    who: &str,
    person: &str,
) -> bool {
    who == person
        || p.representatives.contains_key(who)
        || p.sharing.contains_key(who)
        || p.emergencies.iter().any(|e| e.principal == who)
        || p.grants.values().any(|g| match &g.grantee {
            careledger_care::Grantee::Principal(id) => id == who,
            careledger_care::Grantee::Role(_) => false,
        })
        || p.open_requests
            .iter()
            .any(|r| state.requests.get(r).is_some_and(|r| r.requester == who))
}

/// The refusal given alike for an unknown person and for a record the principal has no
/// tie to: no reason that depends on the record, and no event number.
fn untied_refusal(
    who: &Principal,
    person: &str,
    categories: &[Category],
    purpose: Purpose,
) -> ApiError {
    let names = categories
        .iter()
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join(", ");
    let mut detail = format!(
        "access refused: nothing gives {} ({}) {names} of {person:?} for {}; \
         where the record exists, the refusal is recorded in its access log",
        who.id,
        who.role.name(),
        purpose.name()
    );
    if who.role == careledger_care::Role::EmergencyClinician {
        detail.push_str(&format!(
            "; in an emergency, record break-glass access with a reason first: \
             POST /v1/people/{person}/emergency-access"
        ));
    }
    ApiError::forbidden(detail)
}
