//! The projection's per-person lists are bounded: starts beyond the open-visit limit and
//! grants beyond the grant limit are refused with a message naming the limit, and the
//! list of break-glass accesses keeps only the newest.

mod common;

use careledger_care::state::{GRANTS_MAX, OPEN_VISITS_MAX, RECENT_MAX};
use careledger_care::types::*;
use careledger_care::{CareEvent, RuleError};
use common::*;

const P: &str = "person-1";

fn log() -> Ledger {
    let mut l = Ledger::new();
    l.at(T0, "rm", None, staff("cw", Role::CareWorker));
    l.at(T0, "rm", Some(P), person("Edith Clarke"));
    l.at(T0, "rm", Some(P), care_started());
    l
}

#[test]
fn visits_in_progress_are_bounded() {
    let mut l = log();
    for v in 0..OPEN_VISITS_MAX {
        l.at(T0 + 1, "cw", Some(P), visit_started(&format!("v{v}")));
    }
    let before = l.state.all_pairs();
    let err = l
        .try_at(T0 + 1, "cw", Some(P), &visit_started("one-too-many"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            RuleError::TooMany {
                max: OPEN_VISITS_MAX,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("visits in progress"), "{err}");
    assert_eq!(l.state.all_pairs(), before);
    // Completing one makes room again.
    l.at(T0 + 2, "cw", Some(P), visit_completed("v0"));
    l.at(T0 + 3, "cw", Some(P), visit_started("one-too-many"));
}

#[test]
fn grants_per_record_are_bounded() {
    let mut l = log();
    let g = |n: usize| {
        CareEvent::AccessGranted(grant(
            &format!("g{n}"),
            Grantee::Principal(format!("friend-{n}")),
            &[Category::DailyNotes],
            P,
            CapacityBasis::PersonHasCapacity,
        ))
    };
    for n in 0..GRANTS_MAX {
        l.at(T0 + 1, P, Some(P), g(n));
    }
    let err = l.try_at(T0 + 1, P, Some(P), &g(GRANTS_MAX)).unwrap_err();
    assert!(
        matches!(
            err,
            RuleError::TooMany {
                max: GRANTS_MAX,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn only_the_newest_emergency_accesses_are_kept() {
    let mut l = log();
    let at = |n: usize| T0 + n as i64 * MINUTE_US;
    for n in 0..RECENT_MAX + 5 {
        l.at(
            at(n),
            "paramedic",
            Some(P),
            emergency(&[Category::Medicines], at(n) + HOUR_US),
        );
    }
    let kept = &l.state.person(P).unwrap().emergencies;
    assert_eq!(kept.len(), RECENT_MAX);
    assert_eq!(kept.first().unwrap().stamp.occurred_at_us, at(5));
    assert_eq!(
        kept.last().unwrap().stamp.occurred_at_us,
        at(RECENT_MAX + 4)
    );
}
