//! The projection's per-person lists are bounded: starts beyond the open-visit limit and
//! grants beyond the grant limit are refused with a message naming the limit, and the
//! lists of break-glass accesses keep only the newest.

use careledger_care::event::*;
use careledger_care::state::{GRANTS_MAX, OPEN_VISITS_MAX, RECENT_MAX};
use careledger_care::types::*;
use careledger_care::{CareEvent, Meta, RuleError, State};
use chrono::NaiveDate;

/// 2026-03-02 09:00 UTC.
const T0: TimeUs = 1_772_442_000_000_000;
const P: &str = "person-1";

struct Log {
    state: State,
    seq: u64,
}

impl Log {
    fn try_at(
        &mut self,
        at: TimeUs,
        actor: &str,
        subject: Option<&str>,
        e: CareEvent,
    ) -> Result<(), RuleError> {
        let meta = Meta {
            seq: self.seq,
            recorded_at_us: at,
            occurred_at_us: at,
            actor,
            subject,
        };
        self.state.apply(&meta, &e)?;
        self.seq += 1;
        Ok(())
    }

    fn new() -> Self {
        let mut l = Log {
            state: State::new(),
            seq: 0,
        };
        let setup = [
            (
                None,
                CareEvent::StaffRegistered(StaffRegistered {
                    staff_id: "cw".into(),
                    name: "Sam".into(),
                    role: Role::CareWorker,
                }),
            ),
            (
                Some(P),
                CareEvent::PersonRegistered(PersonRegistered {
                    name: "Edith".into(),
                    date_of_birth: NaiveDate::from_ymd_opt(1940, 1, 1).unwrap(),
                    nhs_number: None,
                    address: "1 Mill Lane".into(),
                    gp_practice: "Riverside".into(),
                    allergies: vec![],
                }),
            ),
            (
                Some(P),
                CareEvent::CareStarted(CareStarted {
                    service: "home care".into(),
                }),
            ),
        ];
        for (subject, e) in setup {
            l.try_at(T0, "rm", subject, e).unwrap();
        }
        l
    }
}

#[test]
fn visits_in_progress_are_bounded() {
    let mut l = Log::new();
    for v in 0..OPEN_VISITS_MAX {
        let e = CareEvent::VisitStarted(VisitStarted {
            visit_id: format!("v{v}"),
        });
        l.try_at(T0 + 1, "cw", Some(P), e).unwrap();
    }
    let before = l.state.all_pairs();
    let e = CareEvent::VisitStarted(VisitStarted {
        visit_id: "one-too-many".into(),
    });
    let err = l.try_at(T0 + 1, "cw", Some(P), e).unwrap_err();
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
    l.try_at(
        T0 + 2,
        "cw",
        Some(P),
        CareEvent::VisitCompleted(VisitCompleted {
            visit_id: "v0".into(),
        }),
    )
    .unwrap();
    let e = CareEvent::VisitStarted(VisitStarted {
        visit_id: "one-too-many".into(),
    });
    l.try_at(T0 + 3, "cw", Some(P), e).unwrap();
}

#[test]
fn grants_per_record_are_bounded() {
    let mut l = Log::new();
    let grant = |n: usize| {
        CareEvent::AccessGranted(AccessGranted {
            grant_id: format!("g{n}"),
            grantee: Grantee::Principal(format!("friend-{n}")),
            categories: vec![Category::DailyNotes],
            purpose: Purpose::PersonalAccess,
            expires_at_us: None,
            decided_by: P.into(),
            basis: CapacityBasis::PersonHasCapacity,
        })
    };
    for n in 0..GRANTS_MAX {
        l.try_at(T0 + 1, P, Some(P), grant(n)).unwrap();
    }
    let err = l.try_at(T0 + 1, P, Some(P), grant(GRANTS_MAX)).unwrap_err();
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
    let mut l = Log::new();
    for n in 0..RECENT_MAX + 5 {
        let at = T0 + n as i64 * MINUTE_US;
        let e = CareEvent::EmergencyAccess(EmergencyAccess {
            role: Role::EmergencyClinician,
            reason: format!("999 call {n}"),
            categories: vec![Category::Medicines],
            expires_at_us: at + HOUR_US,
        });
        l.try_at(at, "paramedic", Some(P), e).unwrap();
    }
    let kept = &l.state.person(P).unwrap().emergencies;
    assert_eq!(kept.len(), RECENT_MAX);
    assert_eq!(kept.first().unwrap().reason, "999 call 5");
    assert_eq!(
        kept.last().unwrap().reason,
        format!("999 call {}", RECENT_MAX + 4)
    );
}
