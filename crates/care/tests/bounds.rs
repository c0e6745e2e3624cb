//! The projection's lists are bounded: starts beyond the open-visit limit, grants,
//! representatives, current medicines, partners and open council requests beyond theirs
//! are refused with a message naming the limit; break-glass accesses and care plan
//! versions keep only the newest; a full list of medicines drops the one stopped longest
//! ago whose minimum interval has run out, and refuses when none has.

mod common;

use careledger_care::state::{
    ACTIVE_MEDICINES_MAX, GRANTS_MAX, MEDICINES_MAX, OPEN_REQUESTS_PER_PERSON_MAX, OPEN_VISITS_MAX,
    PARTNERS_MAX, PLAN_VERSIONS_KEPT, RECENT_MAX, REPRESENTATIVES_MAX,
};
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

/// `err` is a record bound of `max` whose message says `what`.
#[track_caller]
fn record_bound(err: RuleError, max: usize, what: &str) {
    assert!(
        matches!(err, RuleError::TooMany { path: None, max: m, .. } if m == max),
        "{err}"
    );
    assert!(err.to_string().contains(what), "{err}");
}

#[test]
fn representatives_are_bounded() {
    let mut l = log();
    let rep = |n: usize| representative(&format!("rep-{n}"), Relationship::Family, None, false);
    for n in 0..REPRESENTATIVES_MAX {
        l.at(T0 + 1, "rm", Some(P), rep(n));
    }
    let before = l.state.all_pairs();
    let err = l
        .try_at(T0 + 1, "rm", Some(P), &rep(REPRESENTATIVES_MAX))
        .unwrap_err();
    record_bound(err, REPRESENTATIVES_MAX, "representatives");
    assert_eq!(l.state.all_pairs(), before);
}

#[test]
fn current_medicines_are_bounded_and_stopping_one_makes_room() {
    let mut l = log();
    for n in 0..ACTIVE_MEDICINES_MAX {
        l.at(T0 + 1, "rm", Some(P), medicine_added(&format!("m{n}"), 60));
    }
    let err = l
        .try_at(T0 + 1, "rm", Some(P), &medicine_added("one-more", 60))
        .unwrap_err();
    record_bound(err, ACTIVE_MEDICINES_MAX, "stop one first");
    l.at(T0 + 2, "rm", Some(P), medicine_stopped("m0"));
    l.at(T0 + 3, "rm", Some(P), medicine_added("one-more", 60));
}

#[test]
fn a_full_mar_drops_the_medicine_stopped_longest_ago_once_its_interval_has_run_out() {
    let mut l = log();
    // MEDICINES_MAX medicines, each given once and stopped, in order, a minute apart.
    let interval_minutes = 24 * 60;
    for n in 0..MEDICINES_MAX {
        let at = T0 + n as i64 * MINUTE_US;
        let id = format!("m{n}");
        l.at(at, "rm", Some(P), medicine_added(&id, interval_minutes));
        l.at(at, "cw", Some(P), given(&id));
        l.at(at, "rm", Some(P), medicine_stopped(&id));
    }
    let last = T0 + MEDICINES_MAX as i64 * MINUTE_US;
    // Within the first one's interval since its dose, none may go: refused.
    let err = l
        .try_at(last, "rm", Some(P), &medicine_added("new", 60))
        .unwrap_err();
    record_bound(err, MEDICINES_MAX, "none stopped long enough");
    // Once it has run out, the one stopped longest ago goes, and only it.
    let later = T0 + i64::from(interval_minutes) * MINUTE_US;
    l.at(later, "rm", Some(P), medicine_added("new", 60));
    let medicines = &l.state.person(P).unwrap().medicines;
    assert_eq!(medicines.len(), MEDICINES_MAX);
    assert!(!medicines.contains_key("m0"));
    assert!(medicines.contains_key("m1") && medicines.contains_key("new"));
}

#[test]
fn only_the_newest_plan_versions_are_indexed() {
    let mut l = log();
    for v in 1..=(PLAN_VERSIONS_KEPT + 3) as u32 {
        l.at(T0 + i64::from(v), "rm", Some(P), plan(v));
    }
    let p = l.state.person(P).unwrap();
    assert_eq!(p.plan_versions.len(), PLAN_VERSIONS_KEPT);
    assert_eq!(p.plan_versions.first().unwrap().0, 4);
    assert_eq!(
        p.plan.as_ref().unwrap().version,
        PLAN_VERSIONS_KEPT as u32 + 3
    );
}

#[test]
fn partners_are_bounded() {
    let mut l = log();
    for n in 0..PARTNERS_MAX {
        l.at(
            T0 + 1,
            "rm",
            None,
            partner(&format!("partner-{n}"), Channel::SecureEmail),
        );
    }
    let err = l
        .try_at(
            T0 + 1,
            "rm",
            None,
            &partner("one-more", Channel::SecureEmail),
        )
        .unwrap_err();
    record_bound(err, PARTNERS_MAX, "partners");
}

#[test]
fn open_requests_naming_one_person_are_bounded() {
    let mut l = log();
    for n in 0..OPEN_REQUESTS_PER_PERSON_MAX {
        l.at(
            T0,
            "officer-jones",
            None,
            request(&format!("r{n}"), &[P], T0, T0 + HOUR_US),
        );
    }
    let err = l
        .try_at(
            T0,
            "officer-jones",
            None,
            &request("one-more", &[P], T0, T0 + HOUR_US),
        )
        .unwrap_err();
    record_bound(err, OPEN_REQUESTS_PER_PERSON_MAX, "answer one first");
}
