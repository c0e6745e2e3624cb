//! SLA timers for council requests (R12): when warnings and breaches fall due, that a timer
//! appending what `due_events` returns never duplicates an event, that after a restart it
//! catches up with exactly what is missing, and where each request stands.

mod common;

use careledger_care::sla::{
    due_events, next_deadline, next_deadline_except, sla_state, warn_at, SlaState,
};
use careledger_care::state::CouncilRequest;
use careledger_care::types::*;
use careledger_care::{CareEvent, Meta, RuleError};
use common::*;

/// The timer and requests on top of the common in-memory log (`common::Ledger`), whose
/// history lets a state be rebuilt as after a restart.
mod fixture {
    use super::*;

    impl Ledger {
        /// An organisation event by the registered manager.
        pub fn org(&mut self, at: TimeUs, event: CareEvent) -> u64 {
            self.at(at, "rm-1", None, event)
        }

        /// What the timer task does at `now`: asks for the due events and appends them, with
        /// recorded-at `now`. Returns what it appended.
        pub fn tick(&mut self, now: TimeUs) -> Vec<CareEvent> {
            let due = due_events(&self.state, now);
            for e in &due {
                if let Err(err) = self.try_at(now, "sla-timer", None, e) {
                    panic!("the timer's {} was refused: {err}", e.kind());
                }
            }
            due
        }

        pub fn request(&self, id: &str) -> &CouncilRequest {
            self.state.requests.get(id).expect("the request")
        }
    }

    /// A request about nobody received at `received_at`, due `window` later.
    pub fn received(id: &str, received_at: TimeUs, window: i64) -> CareEvent {
        request(id, &[], received_at, received_at + window)
    }

    /// One request received at T0, due 24 hours later.
    pub fn one_day_request() -> (Ledger, TimeUs) {
        let mut l = Ledger::new();
        l.org(T0, received("req-1", T0, 24 * HOUR_US));
        (l, T0 + 24 * HOUR_US)
    }
}

use fixture::*;

#[test]
fn due_events_before_the_warning_between_warning_and_due_and_after_due() {
    let (l, due) = one_day_request();
    let warn = due - 4 * HOUR_US;
    assert_eq!(warn_at(l.request("req-1")), warn);

    for now in [T0, T0 + HOUR_US, warn - 1] {
        assert_eq!(due_events(&l.state, now), vec![], "before the warning");
    }
    for now in [warn, warn + HOUR_US, due - 1, due] {
        assert_eq!(
            due_events(&l.state, now),
            vec![sla_warning("req-1", due)],
            "between the warning and the due time ({} min before due)",
            (due - now) / MINUTE_US
        );
    }
    for now in [due + 1, due + HOUR_US, due + 30 * DAY_US] {
        assert_eq!(
            due_events(&l.state, now),
            vec![sla_warning("req-1", due), sla_breached("req-1", due)],
            "after the due time, nothing recorded yet"
        );
    }
}

#[test]
fn applied_events_are_not_returned_again() {
    let (mut l, due) = one_day_request();
    let warn = due - 4 * HOUR_US;
    assert_eq!(l.tick(warn - 1), vec![]);
    assert_eq!(l.tick(warn), vec![sla_warning("req-1", due)]);
    assert_eq!(due_events(&l.state, warn), vec![]);
    assert_eq!(l.tick(warn + HOUR_US), vec![]);
    assert_eq!(l.tick(due), vec![]);
    assert_eq!(l.tick(due + 1), vec![sla_breached("req-1", due)]);
    assert_eq!(due_events(&l.state, due + 1), vec![]);
    assert_eq!(l.tick(due + DAY_US), vec![]);

    let r = l.request("req-1");
    assert_eq!(r.warned.map(|s| s.recorded_at_us), Some(warn));
    assert_eq!(r.breached.map(|s| s.recorded_at_us), Some(due + 1));
    let kinds: Vec<&str> = l.history.iter().map(|(_, e)| e.kind()).collect();
    assert_eq!(
        kinds,
        [
            "request.received",
            "request.sla_warning",
            "request.sla_breached"
        ]
    );

    // A second warning or breach is refused by the rules too.
    assert!(matches!(
        l.try_at(due + DAY_US, "sla-timer", None, &sla_warning("req-1", due)),
        Err(RuleError::SlaAlreadyRecorded {
            what: "warning",
            ..
        })
    ));
    assert!(matches!(
        l.try_at(due + DAY_US, "sla-timer", None, &sla_breached("req-1", due)),
        Err(RuleError::SlaAlreadyRecorded { what: "breach", .. })
    ));
}

#[test]
fn early_or_mismatched_sla_events_are_refused() {
    let (mut l, due) = one_day_request();
    let warn = due - 4 * HOUR_US;
    assert!(matches!(
        l.try_at(warn - 1, "sla-timer", None, &sla_warning("req-1", due)),
        Err(RuleError::SlaNotDue {
            what: "warning",
            ..
        })
    ));
    assert!(matches!(
        l.try_at(due, "sla-timer", None, &sla_breached("req-1", due)),
        Err(RuleError::SlaNotDue { what: "breach", .. })
    ));
    assert!(matches!(
        l.try_at(warn, "sla-timer", None, &sla_warning("req-1", due + 1)),
        Err(RuleError::SlaDueMismatch { .. })
    ));
    assert!(matches!(
        l.try_at(warn, "sla-timer", None, &sla_warning("req-404", due)),
        Err(RuleError::UnknownRequest { .. })
    ));
    assert_eq!(l.history.len(), 1, "refused events are not in the log");
}

/// Three requests in different stages, the timer running at T0 + 90 min only, then stopping.
fn three_requests() -> Ledger {
    let mut l = Ledger::new();
    l.org(T0, received("req-a", T0, 24 * HOUR_US)); // warns T0+20h, due T0+24h
    l.org(T0, received("req-b", T0, 2 * HOUR_US)); // warns T0+1h30, due T0+2h
    l.org(T0 + HOUR_US, received("req-c", T0 + HOUR_US, 8 * HOUR_US)); // warns T0+7h, due T0+9h
    l
}

#[test]
fn after_a_restart_the_timer_catches_up_with_exactly_the_missing_events() {
    let mut l = three_requests();
    let snapshot = l.clone(); // the state at T0 + 1 h, before the timer ran
    assert_eq!(
        l.tick(T0 + 90 * MINUTE_US),
        vec![sla_warning("req-b", T0 + 2 * HOUR_US)]
    );
    // The service stops here and is down until T0 + 10 h.

    // Restarted from the log (rules checked again, or replayed as stored): req-b's warning is
    // there, so the catch-up at T0 + 10 h has exactly the rest.
    let now = T0 + 10 * HOUR_US;
    let mut restarted = l.rebuilt();
    let expected = vec![
        sla_breached("req-b", T0 + 2 * HOUR_US),
        sla_warning("req-c", T0 + 9 * HOUR_US),
        sla_breached("req-c", T0 + 9 * HOUR_US),
    ];
    assert_eq!(due_events(&l.replayed(), now), expected);
    assert_eq!(restarted.tick(now), expected);
    assert_eq!(restarted.tick(now), vec![]);

    // Restarted from the older snapshot, which never saw the warning: it catches up with it
    // too, in request order.
    let mut old = snapshot.clone();
    assert_eq!(
        old.tick(now),
        vec![
            sla_warning("req-b", T0 + 2 * HOUR_US),
            sla_breached("req-b", T0 + 2 * HOUR_US),
            sla_warning("req-c", T0 + 9 * HOUR_US),
            sla_breached("req-c", T0 + 9 * HOUR_US),
        ]
    );
    assert_eq!(old.tick(now), vec![]);

    // Both then agree from here on: req-a warns at T0 + 20 h and breaches after T0 + 24 h.
    for ledger in [&mut restarted, &mut old] {
        assert_eq!(ledger.tick(T0 + 20 * HOUR_US - 1), vec![]);
        assert_eq!(
            ledger.tick(T0 + 20 * HOUR_US),
            vec![sla_warning("req-a", T0 + 24 * HOUR_US)]
        );
        assert_eq!(
            ledger.tick(T0 + 24 * HOUR_US + 1),
            vec![sla_breached("req-a", T0 + 24 * HOUR_US)]
        );
        assert_eq!(ledger.tick(T0 + 48 * HOUR_US), vec![]);
    }
    // And a restart after that finds nothing to do.
    assert_eq!(
        due_events(&restarted.rebuilt().state, T0 + 48 * HOUR_US),
        vec![]
    );
    assert_eq!(due_events(&old.replayed(), T0 + 48 * HOUR_US), vec![]);
}

#[test]
fn responded_and_withdrawn_requests_produce_nothing() {
    let mut l = Ledger::new();
    let window = 24 * HOUR_US;
    let due = T0 + window;
    for id in [
        "early",
        "after-warning",
        "late",
        "withdrawn",
        "withdrawn-late",
    ] {
        l.org(T0, received(id, T0, window));
    }
    l.org(T0 + HOUR_US, responded("early"));
    l.org(T0 + HOUR_US, withdrawn("withdrawn", "sent in error"));
    assert_eq!(
        l.tick(due - 4 * HOUR_US),
        vec![
            sla_warning("after-warning", due),
            sla_warning("late", due),
            sla_warning("withdrawn-late", due),
        ]
    );
    l.org(due - HOUR_US, responded("after-warning"));
    // "late" is answered after its due time, while the timer was down: no breach event
    // follows a response (the response itself shows it was late).
    l.org(due + HOUR_US, responded("late"));
    l.org(due + HOUR_US, withdrawn("withdrawn-late", "sent in error"));
    for now in [due, due + 2 * HOUR_US, due + 30 * DAY_US] {
        assert_eq!(due_events(&l.state, now), vec![], "at {now}");
    }
    assert_eq!(next_deadline(&l.state), None);

    // The rules refuse SLA events for closed requests.
    assert!(matches!(
        l.try_at(
            due + 2 * HOUR_US,
            "sla-timer",
            None,
            &sla_breached("late", due)
        ),
        Err(RuleError::RequestClosed { .. })
    ));
    assert!(matches!(
        l.try_at(
            due + 2 * HOUR_US,
            "sla-timer",
            None,
            &sla_warning("withdrawn", due)
        ),
        Err(RuleError::RequestClosed { .. })
    ));
}

#[test]
fn an_acknowledged_request_still_warns_and_breaches() {
    let (mut l, due) = one_day_request();
    l.org(T0 + MINUTE_US, acknowledged("req-1"));
    assert_eq!(
        l.tick(due + 1),
        vec![sla_warning("req-1", due), sla_breached("req-1", due)]
    );
}

#[test]
fn next_deadline_is_the_next_time_something_falls_due() {
    let mut l = Ledger::new();
    assert_eq!(next_deadline(&l.state), None);
    l.org(T0, received("req-a", T0, 24 * HOUR_US));
    assert_eq!(next_deadline(&l.state), Some(T0 + 20 * HOUR_US));
    l.org(T0 + HOUR_US, received("req-b", T0 + HOUR_US, 2 * HOUR_US));
    assert_eq!(next_deadline(&l.state), Some(T0 + 150 * MINUTE_US));

    // A timer that sleeps until each deadline wakes exactly when there is something to do.
    let mut woke = Vec::new();
    while let Some(t) = next_deadline(&l.state) {
        assert_eq!(due_events(&l.state, t - 1), vec![], "nothing before {t}");
        let appended = l.tick(t);
        assert!(!appended.is_empty(), "something due at {t}");
        woke.push((t, appended));
    }
    assert_eq!(
        woke,
        vec![
            (
                T0 + 150 * MINUTE_US,
                vec![sla_warning("req-b", T0 + 3 * HOUR_US)]
            ),
            (
                T0 + 3 * HOUR_US + 1,
                vec![sla_breached("req-b", T0 + 3 * HOUR_US)]
            ),
            (
                T0 + 20 * HOUR_US,
                vec![sla_warning("req-a", T0 + 24 * HOUR_US)]
            ),
            (
                T0 + 24 * HOUR_US + 1,
                vec![sla_breached("req-a", T0 + 24 * HOUR_US)]
            ),
        ]
    );

    // A response removes a request's deadlines.
    let mut l = Ledger::new();
    l.org(T0, received("req-a", T0, 24 * HOUR_US));
    l.org(T0, received("req-b", T0, 2 * HOUR_US));
    assert_eq!(next_deadline(&l.state), Some(T0 + 90 * MINUTE_US));
    l.org(T0 + HOUR_US, responded("req-b"));
    assert_eq!(next_deadline(&l.state), Some(T0 + 20 * HOUR_US));
    // After the warning, the breach is next.
    l.tick(T0 + 20 * HOUR_US);
    assert_eq!(next_deadline(&l.state), Some(T0 + 24 * HOUR_US + 1));
    l.org(T0 + 21 * HOUR_US, withdrawn("req-a", "sent in error"));
    assert_eq!(next_deadline(&l.state), None);
}

/// A timer that has given up on some events plans around the others only.
#[test]
fn next_deadline_except_leaves_out_what_is_skipped() {
    let mut l = Ledger::new();
    l.org(T0, received("req-a", T0, 24 * HOUR_US));
    l.org(T0, received("req-b", T0, 2 * HOUR_US));
    let next = |skip: &[(&str, bool)]| {
        next_deadline_except(&l.state, |id, breach| skip.contains(&(id, breach)))
    };
    assert_eq!(next(&[]), next_deadline(&l.state));
    assert_eq!(next(&[]), Some(T0 + 90 * MINUTE_US));
    assert_eq!(next(&[("req-b", false)]), Some(T0 + 2 * HOUR_US + 1));
    assert_eq!(
        next(&[("req-b", false), ("req-b", true)]),
        Some(T0 + 20 * HOUR_US)
    );
    assert_eq!(
        next(&[("req-a", false), ("req-b", false), ("req-b", true)]),
        Some(T0 + 24 * HOUR_US + 1)
    );
    assert_eq!(
        next(&[
            ("req-a", false),
            ("req-a", true),
            ("req-b", false),
            ("req-b", true)
        ]),
        None
    );
}

#[test]
fn sla_state_in_each_state() {
    let (l, due) = one_day_request();
    let r = l.request("req-1");
    assert_eq!(sla_state(r, T0), SlaState::DueIn(24 * HOUR_US));
    assert_eq!(
        sla_state(r, due - 4 * HOUR_US - 1),
        SlaState::DueIn(4 * HOUR_US + 1)
    );
    assert_eq!(
        sla_state(r, due - 4 * HOUR_US),
        SlaState::Warned(4 * HOUR_US)
    );
    assert_eq!(sla_state(r, due - MINUTE_US), SlaState::Warned(MINUTE_US));
    assert_eq!(sla_state(r, due), SlaState::Warned(0));
    assert_eq!(sla_state(r, due + 1), SlaState::Breached);
    assert_eq!(sla_state(r, due + 30 * DAY_US), SlaState::Breached);

    // The state does not depend on the timer having recorded its events.
    let (mut timed, _) = one_day_request();
    timed.tick(due + 1);
    assert_eq!(
        sla_state(timed.request("req-1"), due + 1),
        SlaState::Breached
    );

    let (mut on_time, _) = one_day_request();
    on_time.org(T0 + 10 * HOUR_US, responded("req-1"));
    let r = on_time.request("req-1");
    for now in [T0 + 10 * HOUR_US, due + DAY_US] {
        assert_eq!(
            sla_state(r, now),
            SlaState::Responded {
                late: false,
                took_us: 10 * HOUR_US
            }
        );
    }

    let (mut at_due, _) = one_day_request();
    at_due.org(due, responded("req-1"));
    assert_eq!(
        sla_state(at_due.request("req-1"), due + DAY_US),
        SlaState::Responded {
            late: false,
            took_us: 24 * HOUR_US
        }
    );

    let (mut late, _) = one_day_request();
    late.tick(due + 1);
    late.org(due + HOUR_US, responded("req-1"));
    assert_eq!(
        sla_state(late.request("req-1"), due + DAY_US),
        SlaState::Responded {
            late: true,
            took_us: 25 * HOUR_US
        }
    );

    let (mut gone, _) = one_day_request();
    gone.org(T0 + HOUR_US, withdrawn("req-1", "sent in error"));
    for now in [T0 + HOUR_US, due + DAY_US] {
        assert_eq!(sla_state(gone.request("req-1"), now), SlaState::Withdrawn);
    }
}

#[test]
fn a_request_due_in_2_hours_warns_30_minutes_before() {
    let mut l = Ledger::new();
    let due = T0 + 2 * HOUR_US;
    l.org(T0, received("req-urgent", T0, 2 * HOUR_US));
    let warn = due - 30 * MINUTE_US;
    assert_eq!(warn_at(l.request("req-urgent")), warn);
    assert_eq!(
        sla_state(l.request("req-urgent"), warn - 1),
        SlaState::DueIn(30 * MINUTE_US + 1)
    );
    assert_eq!(
        sla_state(l.request("req-urgent"), warn),
        SlaState::Warned(30 * MINUTE_US)
    );
    assert_eq!(l.tick(warn - 1), vec![]);
    assert_eq!(l.tick(warn), vec![sla_warning("req-urgent", due)]);
    assert_eq!(l.tick(due), vec![]);
    assert_eq!(l.tick(due + 1), vec![sla_breached("req-urgent", due)]);
}

#[test]
fn the_warning_comes_a_quarter_of_the_window_before_at_most_4_hours() {
    // (window, warned this long before the due time)
    let cases = [
        (0, 0),
        (MINUTE_US, 15 * 1_000_000),
        (HOUR_US, 15 * MINUTE_US),
        (2 * HOUR_US, 30 * MINUTE_US),
        (8 * HOUR_US, 2 * HOUR_US),
        (16 * HOUR_US, 4 * HOUR_US),
        (20 * HOUR_US, 4 * HOUR_US),
        (24 * HOUR_US, 4 * HOUR_US),
    ];
    for (window, before) in cases {
        let mut l = Ledger::new();
        l.org(T0, received("req", T0, window));
        let due = T0 + window;
        assert_eq!(
            warn_at(l.request("req")),
            due - before,
            "window of {} min",
            window / MINUTE_US
        );
        if before > 0 {
            assert_eq!(due_events(&l.state, due - before - 1), vec![]);
        }
        assert_eq!(
            l.tick(due - before),
            vec![sla_warning("req", due)],
            "window of {} min",
            window / MINUTE_US
        );
        assert_eq!(l.tick(due), vec![]);
        assert_eq!(l.tick(due + 1), vec![sla_breached("req", due)]);
    }
}

#[test]
fn requests_over_24_hours_or_due_before_receipt_are_refused() {
    let mut l = Ledger::new();
    assert!(matches!(
        l.try_at(
            T0,
            "rm-1",
            None,
            &received("req-slow", T0, 24 * HOUR_US + 1)
        ),
        Err(RuleError::DueTooLate { .. })
    ));
    assert!(matches!(
        l.try_at(T0, "rm-1", None, &received("req-past", T0, -1)),
        Err(RuleError::DueBeforeReceipt)
    ));
    assert_eq!(next_deadline(&l.state), None);
}

#[test]
fn a_response_back_dated_past_a_recorded_breach_is_still_late() {
    let mut l = Ledger::new();
    let window = 24 * HOUR_US;
    let due = T0 + window;
    for id in ["backdated", "withdrawn-after-breach"] {
        l.org(T0, received(id, T0, window));
    }
    l.tick(due + MINUTE_US);
    assert!(l.request("backdated").breached.is_some());
    // The response claims a time before the due time, but the ledger had already
    // recorded the breach: the claim cannot undo it.
    let meta = Meta {
        seq: 1_000,
        recorded_at_us: due + 2 * HOUR_US,
        occurred_at_us: due - HOUR_US,
        actor: "rm-1",
        subject: None,
    };
    l.state.apply(&meta, &responded("backdated")).unwrap();
    let r = l.request("backdated");
    assert!(r.answered_late());
    assert!(r.is_breached(due + 3 * HOUR_US));
    assert!(matches!(
        sla_state(r, due + 3 * HOUR_US),
        SlaState::Responded { late: true, .. }
    ));
    // Withdrawing a request after its breach does not undo the breach either.
    l.org(
        due + 2 * HOUR_US,
        withdrawn("withdrawn-after-breach", "sent in error"),
    );
    assert!(l
        .request("withdrawn-after-breach")
        .is_breached(due + 3 * HOUR_US));
}
