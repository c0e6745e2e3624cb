//! The care domain's per-request CPU work: the access policy, asked before every read of a
//! person's record, and the care rules, run inside the single appender for every event (so
//! their cost is on every writer's acknowledgement path).
//!
//! The field rules (`fields::check`) are measured on their own too, as a share of the
//! rules' time.
//!
//! Both run against the projections of a simulated history rather than a hand-made
//! fixture: how long `decide` and the rules take depends on how many grants,
//! representatives, medicines and staff the state holds.

mod common;

use std::hint::black_box;

use careledger_care::event::{AdministrationRecorded, DiaryNote};
use careledger_care::fields;
use careledger_care::policy::{decide, Principal};
use careledger_care::{
    AdministrationOutcome, Author, CareEvent, Category, Grantee, Meta, Purpose, Role, State, DAY_US,
};
use careledger_ledger::Ledger;
use careledger_sim::SimConfig;
use careledger_store::{Clock, Store, StoreConfig};
use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, Criterion};

/// `careledger bench rebuild`'s default history (about 250,000 events), so that the
/// projections are the size that benchmark and docs/BENCHMARKS.md describe.
const PEOPLE: u32 = 200;
const DAYS: u32 = 90;

/// A care worker the simulator registers.
const CARE_WORKER: &str = "staff-cw01";

/// The projections after the simulated history, the next sequence number and the
/// microsecond time the history ends at. The history goes through the ledger, so the state
/// is exactly what the appender builds.
fn simulated_state() -> (State, u64, i64) {
    let end = NaiveDate::from_ymd_opt(2026, 11, 1).expect("a valid date");
    let dir = tempfile::tempdir().expect("a scratch directory");
    Store::init(dir.path(), "bench.careledger/care").expect("init");
    // Recorded-at from each event's occurred-at, as `careledger simulate` does: the state
    // then holds no wall-clock times, and every run benchmarks the same projections.
    let config = StoreConfig {
        clock: Clock::Simulated,
        ..StoreConfig::default()
    };
    let ledger = Ledger::open(dir.path(), config).expect("open");
    let config = SimConfig {
        people: PEOPLE,
        days: DAYS,
        seed: 1,
        end,
    };
    let report = careledger_sim::run(&ledger, config, |_, _, _| {}).expect("simulate");
    let state = ledger.read(State::clone).expect("read");
    let end_us = end
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_micros();
    (state, report.events, end_us)
}

/// A person in care with everything the cases need: an active medicine and a grant to a
/// family representative. Taking the first in id order keeps runs comparable. Returns the
/// person, one active medicine and the representative.
fn typical_person(state: &State) -> (String, String, String) {
    state
        .people
        .iter()
        .find_map(|(id, p)| {
            if !p.care_active() || p.plan.is_none() {
                return None;
            }
            let (medicine, _) = p.medicines.iter().find(|(_, m)| m.stopped.is_none())?;
            let rep = p.grants.values().find_map(|g| match &g.grantee {
                Grantee::Principal(rep)
                    if g.revoked.is_none()
                        && p.representatives.contains_key(rep)
                        && g.categories.contains(&Category::DailyNotes) =>
                {
                    Some(rep.as_str())
                }
                _ => None,
            })?;
            Some((id.clone(), medicine.clone(), rep.to_string()))
        })
        .expect("the simulated history has a person in care with a medicine and a family grant")
}

fn care(c: &mut Criterion) {
    let (mut state, next_seq, end_us) = simulated_state();
    // A day after the history ends: past every medicine's minimum interval, so a dose is
    // allowed, and inside every grant that has not expired.
    let at_us = end_us + DAY_US;
    let (person, medicine, rep) = typical_person(&state);

    // The three answers a read gets: a role default (the common read), a grant (walks the
    // person's grants), and a refusal (formats the reason, which the access event records).
    let cases = [
        (
            "care_worker_care_plan",
            Principal {
                id: CARE_WORKER,
                role: Role::CareWorker,
            },
            vec![Category::CarePlan],
            Purpose::DirectCare,
            true,
        ),
        (
            "family_grant_daily_notes",
            Principal {
                id: &rep,
                role: Role::Representative,
            },
            vec![Category::DailyNotes],
            Purpose::PersonalAccess,
            true,
        ),
        (
            "care_worker_refused_consent",
            Principal {
                id: CARE_WORKER,
                role: Role::CareWorker,
            },
            vec![Category::ConsentRecords],
            Purpose::DirectCare,
            false,
        ),
    ];
    let mut group = c.benchmark_group("policy_decide");
    for (name, principal, categories, purpose, allowed) in &cases {
        let decision = decide(&state, principal, &person, categories, *purpose, at_us);
        assert_eq!(decision.is_allowed(), *allowed, "{name}: {decision:?}");
        group.bench_function(*name, |b| {
            b.iter(|| {
                decide(
                    black_box(&state),
                    principal,
                    black_box(&person),
                    categories,
                    *purpose,
                    at_us,
                )
            })
        });
    }
    group.finish();

    let meta = Meta {
        seq: next_seq,
        recorded_at_us: at_us,
        occurred_at_us: at_us,
        actor: CARE_WORKER,
        subject: Some(&person),
    };
    let events = [
        (
            "diary_note",
            CareEvent::DiaryNote(DiaryNote {
                author: Author::Staff,
                text: "Visited at 18:00. Ate most of her tea, drank two cups of water; \
                       in good spirits, watched the news with her daughter. Skin checked, \
                       no redness. Evening medicines given as prescribed."
                    .into(),
            }),
        ),
        (
            "mar_administration",
            CareEvent::AdministrationRecorded(AdministrationRecorded {
                medicine_id: medicine.clone(),
                outcome: AdministrationOutcome::Given,
                dose_given: Some("2 tablets".into()),
                reason: None,
                witnessed_by: None,
            }),
        ),
    ];
    let mut group = c.benchmark_group("rules_apply");
    for (name, event) in &events {
        // The appender's sequence for one request: begin, apply (every rule, then the
        // projection change), then commit. Rolling back instead leaves the state as it
        // was, so every iteration checks the same event against the same state, at the
        // cost of putting the journaled person back.
        let mut iteration = || {
            state.begin();
            let applied = state.apply(&meta, black_box(event));
            state.rollback();
            applied
        };
        iteration().unwrap_or_else(|e| panic!("{name} is refused: {e}"));
        group.bench_function(*name, |b| b.iter(&mut iteration));
    }
    group.finish();

    // The rules alone, without the journal and the projection change: the difference from
    // `rules_apply` is what keeping a request undoable costs (the journal clones the
    // person's projection when the request first touches it).
    let mut group = c.benchmark_group("rules_check");
    for (name, event) in &events {
        group.bench_function(*name, |b| {
            b.iter(|| state.check(&meta, black_box(event)).expect("allowed"))
        });
    }
    group.finish();

    // The field rules alone (`fields::check`, the first thing `check` does): a walk over
    // the payload through its `Serialize`, against the table the API's schemas read.
    let mut group = c.benchmark_group("fields_check");
    for (name, event) in &events {
        group.bench_function(*name, |b| {
            b.iter(|| fields::check(black_box(event)).expect("allowed"))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = care
}
criterion_main!(benches);
