//! `careledger demo`: a fresh ledger with a week of made-up home-care events, so that a
//! newcomer can try every verb on real data. Deterministic: the same events every run
//! (recorded-at and salts differ, as they would in life).

use std::path::Path;

use careledger_store::{NewEvent, Store, StoreConfig};
use serde_json::json;

use crate::cli::CliError;

const PEOPLE: u64 = 12;
const STAFF: u64 = 5;
const DAYS: i64 = 7;
/// 2026-11-16T00:00:00Z, a Monday.
const START_US: i64 = 1_794_787_200_000_000;
const HOUR_US: i64 = 3_600_000_000;

fn event(
    actor: String,
    subject: &str,
    kind: &str,
    at: i64,
    payload: serde_json::Value,
) -> NewEvent {
    NewEvent {
        actor,
        subject: Some(subject.to_string()),
        kind: kind.into(),
        occurred_at_us: at,
        payload: payload.to_string().into_bytes(),
    }
}

/// The demo history, in order.
pub fn demo_events() -> Vec<NewEvent> {
    let mut events = Vec::new();
    let manager = "staff:manager".to_string();
    for p in 0..PEOPLE {
        let person = format!("person:p{p:03}");
        events.push(event(
            manager.clone(),
            &person,
            "person.registered",
            START_US,
            json!({"name": format!("Person {p}"), "gp_practice": "Riverside Surgery"}),
        ));
        let choice = if p % 4 == 0 { "paper" } else { "portal" };
        events.push(event(
            manager.clone(),
            &person,
            "information.choices.discussed",
            START_US + HOUR_US,
            json!({"present": [person, "staff:manager"], "options": ["paper", "secure email", "portal", "accessible formats"], "chosen": choice, "told_access_is_free": true}),
        ));
    }
    for day in 0..DAYS {
        for p in 0..PEOPLE {
            let person = format!("person:p{p:03}");
            for (visit, hour) in [(0, 8), (1, 13), (2, 19)] {
                let staff = format!("staff:s{:02}", (p + visit + day as u64) % STAFF);
                let at = START_US + day * 24 * HOUR_US + hour * HOUR_US;
                events.push(event(
                    staff.clone(),
                    &person,
                    "visit.started",
                    at,
                    json!({}),
                ));
                events.push(event(
                    staff.clone(),
                    &person,
                    "task.recorded",
                    at + 10 * 60_000_000,
                    json!({"task": "personal care", "outcome": "done"}),
                ));
                let refused = (p + day as u64 + visit).is_multiple_of(11);
                events.push(event(
                    staff.clone(),
                    &person,
                    "medicine.administration.recorded",
                    at + 15 * 60_000_000,
                    json!({"medicine": "paracetamol 500 mg tablets", "dose": "1 tablet",
                           "outcome": if refused { "refused" } else { "given" }}),
                ));
                events.push(event(
                    staff,
                    &person,
                    "visit.completed",
                    at + 30 * 60_000_000,
                    json!({"note": "all well"}),
                ));
            }
            if (p + day as u64).is_multiple_of(5) {
                events.push(event(
                    format!("representative:r{p:03}"),
                    &person,
                    "diary.note.added",
                    START_US + day * 24 * HOUR_US + 20 * HOUR_US,
                    json!({"text": "Visited this evening; Mum was cheerful.", "by": "daughter"}),
                ));
            }
        }
    }
    events.push(event(
        "council:officer1".into(),
        "person:p003",
        "council.request.received",
        START_US + 2 * 24 * HOUR_US,
        json!({"scope": "care plan and daily notes", "due_in_hours": 24}),
    ));
    events.push(event(
        manager,
        "person:p003",
        "council.request.responded",
        START_US + 2 * 24 * HOUR_US + 5 * HOUR_US,
        json!({"channel": "secure email", "sent_digest": "see attached bundle"}),
    ));
    events
}

pub fn run(dir: &Path) -> Result<(), CliError> {
    Store::init(dir, "demo.careledger.local/home-care")?;
    let store = Store::open(dir, StoreConfig::default())?;
    let receipts = store.append(demo_events())?;
    let checkpoint = store.checkpoint_now()?;
    let report = store
        .verify(|_, _| {})
        .map_err(|e| CliError::from(format!("demo ledger failed verification: {e}")))?;
    let data = dir.display();
    println!(
        "created a demo ledger at {data}: {} events about {PEOPLE} people over {DAYS} days",
        receipts.len()
    );
    println!("verified: root {}", base64_root(&report.root));
    println!("\nlatest signed checkpoint:\n{checkpoint}");
    println!("verifier key: {}\n", store.verifier());
    println!("try:");
    println!("  careledger log --data {data} --subject person:p003 --limit 5");
    println!("  careledger prove inclusion --data {data} --seq 42");
    println!(
        "  careledger prove consistency --data {data} --from 100 --to {}",
        receipts.len()
    );
    println!("  careledger show --data {data} --seq 42 --raw");
    println!("  careledger verify --data {data}");
    Ok(())
}

fn base64_root(root: &[u8; 32]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(root)
}
