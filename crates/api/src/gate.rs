//! The access gate: the one path from a request to a person's data.
//!
//! For each read it asks the policy, builds the answer without sending it, appends the
//! access event (`access.read`, or `access.refused` with the policy's reason) and waits
//! until that event is durable; only then does the answer leave. If the event cannot be
//! written the caller gets an error and no data. The care rules check the `access.read`
//! event against the policy again inside the appender, so a grant revoked between the
//! decision and the append turns the read into a refusal rather than a leak.

use std::sync::atomic::Ordering::Relaxed;

use careledger_care::event::{AccessRefused, RecordAccessed};
use careledger_care::policy::{self, Basis};
use careledger_care::RuleError;
use careledger_care::{CareEvent, Category, Purpose};
use careledger_ledger::{CareRefusal, Command, LedgerError};
use serde_json::{json, Value};

use crate::auth::Principal;
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

impl Granted<Value> {
    /// The response body: the person, the AIS flag, the access event, then the data.
    pub fn body(self, person: &str) -> Value {
        json!({
            "person": person,
            "ais_flag": self.ais_flag,
            "access": {
                "event": self.access_seq,
                "flagged": self.flagged,
                "basis": self.basis.iter().map(|(c, b)| json!({"category": c, "basis": basis_json(b)})).collect::<Vec<_>>(),
            },
            "data": self.data,
        })
    }
}

fn basis_json(b: &Basis) -> Value {
    match b {
        Basis::OwnRecord => json!({"kind": "OwnRecord"}),
        Basis::RoleDefault => json!({"kind": "RoleDefault"}),
        Basis::LegalRepresentative => json!({"kind": "LegalRepresentative"}),
        Basis::CouncilRequest { request_id } => {
            json!({"kind": "CouncilRequest", "request_id": request_id})
        }
        Basis::Grant { grant_id } => json!({"kind": "Grant", "grant_id": grant_id}),
        Basis::Emergency { seq } => json!({"kind": "Emergency", "event": seq}),
    }
}

/// Reads `categories` of `person` for `purpose` as `who`. `build` computes the answer and
/// the number of items in it (recorded in the access event); it runs only if the policy
/// allows the read, and its result is returned only once the access event is durable.
pub async fn read<T>(
    app: &App,
    who: &Principal,
    person: &str,
    categories: &[Category],
    purpose: Purpose,
    build: impl FnOnce(&App) -> Result<(T, u32), ApiError>,
) -> Result<Granted<T>, ApiError> {
    let now = careledger_store::now_us();
    let principal = policy::Principal {
        id: &who.id,
        role: who.role,
    };
    let decided = app.ledger.read(|state| {
        state.person(person).map(|p| {
            (
                policy::decide(state, &principal, person, categories, purpose, now),
                p.ais_flag(),
            )
        })
    })?;
    let Some((decision, ais_flag)) = decided else {
        return Err(ApiError::no_person(person));
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
        return Err(refuse(app, who, person, categories, purpose, now, reason).await);
    }
    let (data, items) = build(app)?;
    let event = CareEvent::RecordAccessed(RecordAccessed {
        role: who.role,
        categories: categories.to_vec(),
        purpose,
        items,
    });
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
