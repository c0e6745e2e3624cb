//! Properties of the projections under random histories: persisting changes at random points
//! and reloading (or crashing and catching up from the log) gives the same state as one full
//! replay; a rolled-back request leaves nothing behind; applying and replaying agree.
//!
//! Histories are drawn over a small universe (three people, three staff ids, three
//! medicines, grants, council requests and outages) with random times, so that many events
//! are accepted and many are refused for one rule or another.

mod common;

use std::collections::BTreeMap;

use careledger_care::event::*;
use careledger_care::*;
use common::*;
use proptest::prelude::*;

/// person-1 twice: most events are about someone with a care plan and a MAR.
const PEOPLE: [&str; 4] = ["p1", "p1", "p2", "p3"];
const STAFF: [&str; 3] = ["s1", "s2", "s3"];
const ACTORS: [&str; 7] = ["s1", "s2", "p1", "p2", "lpa", "fam", "stranger"];
const MEDICINES: [&str; 3] = ["m1", "m2", "m3"];
const GRANTS: [&str; 4] = ["g1", "g2", "g3", "g4"];
const REQUESTS: [&str; 6] = ["r1", "r2", "r3", "r4", "r5", "r6"];
const OUTAGES: [&str; 6] = ["o1", "o2", "o3", "o4", "o5", "o6"];
const VISITS: [&str; 2] = ["v1", "v2"];
const PARTNERS: [&str; 2] = ["n1", "n2"];
const CHANNELS: [Channel; 3] = [Channel::SecureEmail, Channel::Telephone, Channel::Paper];
const OPS: u8 = 45;

/// One random command: what to try, with which ids, and how the clock moves.
#[derive(Debug, Clone, Copy)]
struct Step {
    op: u8,
    a: u8,
    b: u8,
    c: u8,
    /// Minutes the clock moves after this step.
    advance: u16,
    /// Minutes before recorded-at that the event occurred (negative: in the future).
    back: i16,
    /// What the driver does around this step (persist, restart, crash, transaction).
    flags: u8,
}

fn step() -> impl Strategy<Value = Step> {
    (
        0..OPS,
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        0u16..=180,
        -8i16..=90,
        0u8..16,
    )
        .prop_map(|(op, a, b, c, advance, back, flags)| Step {
            op,
            a,
            b,
            c,
            advance,
            back,
            flags,
        })
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(step(), 20..250)
}

fn pick<T: Copy>(items: &[T], i: u8) -> T {
    items[usize::from(i) % items.len()]
}

/// Mostly one of the `known` ids (what the state has), now and then any id of `all`.
fn choose(known: Vec<&String>, all: &[&str], i: u8, j: u8) -> String {
    if known.is_empty() || j.is_multiple_of(5) {
        pick(all, i).to_string()
    } else {
        known[usize::from(i) % known.len()].clone()
    }
}

/// Who decides for `subject`, on what basis: mostly someone with authority, on the right
/// basis; now and then not.
fn deciders(subject: &str, i: u8) -> (&str, CapacityBasis) {
    pick(
        &[
            (subject, CapacityBasis::PersonHasCapacity),
            (subject, CapacityBasis::PersonHasCapacity),
            ("lpa", CapacityBasis::LastingPowerOfAttorney),
            ("lpa", CapacityBasis::LastingPowerOfAttorney),
            ("dep", CapacityBasis::CourtDeputy),
            ("fam", CapacityBasis::LastingPowerOfAttorney),
            ("lpa", CapacityBasis::PersonHasCapacity),
            (subject, CapacityBasis::CourtDeputy),
        ],
        i,
    )
}

fn categories(bits: u8) -> Vec<Category> {
    Category::ALL
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << (i % 8)) != 0)
        .map(|(_, c)| *c)
        .collect()
}

/// A few AIS needs, two of which contradict each other.
fn needs(bits: u8) -> Vec<AisNeed> {
    let all = [
        AisNeed::InformationFormat(Format::LargePrint),
        AisNeed::InformationFormat(Format::StandardPrint),
        AisNeed::ContactMethod(ContactMethod::Telephone),
        AisNeed::CommunicationSupport(CommunicationSupport::CannotUseTelephone),
        AisNeed::CommunicationProfessional(CommunicationProfessional::BslInterpreter),
        AisNeed::InformationFormat(Format::EasyRead),
    ];
    all.iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, n)| n.clone())
        .collect()
}

/// The envelope and event a step stands for, against the state and clock it meets.
fn build(s: &Step, state: &State, now: TimeUs, seq: u64) -> (OwnedMeta, CareEvent) {
    build_at(s, state, now, seq, 0)
}

fn build_at(s: &Step, state: &State, now: TimeUs, seq: u64, depth: u8) -> (OwnedMeta, CareEvent) {
    use CareEvent as E;
    let subject = pick(&PEOPLE, s.a);
    let person_state = state.person(subject);
    let open_requests = || -> Vec<&String> {
        state
            .requests
            .iter()
            .filter(|(_, r)| !r.status.is_closed())
            .map(|(id, _)| id)
            .collect()
    };
    let outages = |ended: bool| -> Vec<&String> {
        state
            .outages
            .iter()
            .filter(|(_, o)| o.ended.is_some() == ended)
            .map(|(id, _)| id)
            .collect()
    };
    let mut occurred = now - i64::from(s.back) * MINUTE_US;
    let mut actor = "s2";
    let mut person_scope = true;
    let event = match s.op {
        0 => person(&format!("Person {subject}")),
        1 => care_started(),
        2 => care_ended(if s.c.is_multiple_of(8) {
            ""
        } else {
            "moved away"
        }),
        3 => {
            person_scope = false;
            staff(
                pick(&STAFF, s.b),
                pick(
                    &[Role::CareWorker, Role::RegisteredManager, Role::Auditor],
                    s.c,
                ),
            )
        }
        4 => {
            let (id, relationship) = pick(
                &[
                    ("lpa", Relationship::LpaHealthWelfare),
                    ("fam", Relationship::Family),
                    ("dep", Relationship::Deputy),
                ],
                s.b,
            );
            let evidence = (!s.c.is_multiple_of(4)).then_some("reference seen");
            representative(id, relationship, evidence, s.c.is_multiple_of(2))
        }
        5 => {
            person_scope = false;
            partner(pick(&PARTNERS, s.b), pick(&CHANNELS, s.c))
        }
        6 => plan(u32::from(s.b % 4)),
        7 => plan_reviewed(u32::from(s.b % 4)),
        8 => {
            actor = "s1";
            visit_started(pick(&VISITS, s.b))
        }
        9 => {
            actor = "s1";
            let open = person_state.map(|p| p.open_visits.keys().collect());
            visit_completed(&choose(open.unwrap_or_default(), &VISITS, s.b, s.c))
        }
        10 => {
            actor = "s1";
            let visit = (s.b.is_multiple_of(2)).then(|| pick(&VISITS, s.c));
            let outcome = match s.c % 3 {
                0 => TaskOutcome::Done,
                1 => TaskOutcome::Refused,
                _ => TaskOutcome::NotDone {
                    reason: "asleep".into(),
                },
            };
            task(visit, outcome)
        }
        11 => {
            let (author, who) = pick(
                &[
                    (Author::Staff, "s1"),
                    (Author::Person, subject),
                    (Author::Representative, "fam"),
                    (Author::Representative, "lpa"),
                ],
                s.b,
            );
            actor = who;
            diary(author, "a note")
        }
        12 => incident(if s.b.is_multiple_of(5) { "" } else { "fell" }),
        13 => observation("37.1"),
        14 => medicine_added(pick(&MEDICINES, s.b), pick(&[60, 240, 0], s.c)),
        15 => medicine_stopped(pick(&MEDICINES, s.b)),
        16 => {
            actor = "s1";
            given(pick(&MEDICINES, s.b))
        }
        17 => {
            actor = "s1";
            not_given(
                pick(&MEDICINES, s.b),
                pick(
                    &[
                        AdministrationOutcome::Refused,
                        AdministrationOutcome::Omitted,
                        AdministrationOutcome::Withheld,
                    ],
                    s.c,
                ),
                (!s.c.is_multiple_of(3)).then_some("declined"),
            )
        }
        18 => choices(
            &[InfoOption::Paper, InfoOption::Portal],
            &[pick(&InfoOption::ALL, s.b)],
        ),
        19 => paper_placed(
            pick(
                &[
                    Document::ServiceUserGuide,
                    Document::CarePlan,
                    Document::Mar,
                    Document::DiaryRecords,
                ],
                s.b,
            ),
            Some(u32::from(s.c % 3)),
        ),
        20 => paper_declined(pick(&[subject, "lpa", "fam", "dep"], s.b)),
        21 => emailed("someone@example.org"),
        22 => ais(needs(s.b)),
        23 => ais_reviewed(),
        24 => {
            let (decided_by, basis) = deciders(subject, s.a);
            let grantee = if s.b.is_multiple_of(2) {
                Grantee::Principal("fam".into())
            } else {
                Grantee::Role(Role::CareWorker)
            };
            let mut g = grant(
                pick(&GRANTS, s.b),
                grantee,
                &categories(s.c),
                decided_by,
                basis,
            );
            g.purpose = pick(&[Purpose::PersonalAccess, Purpose::DirectCare], s.a);
            g.expires_at_us =
                (!s.b.is_multiple_of(3)).then(|| now + i64::from(s.b) * HOUR_US - HOUR_US);
            E::AccessGranted(g)
        }
        25 => revoke(
            &choose(
                person_state
                    .map(|p| {
                        p.grants
                            .iter()
                            .filter(|(_, g)| g.revoked.is_none())
                            .map(|(id, _)| id)
                            .collect()
                    })
                    .unwrap_or_default(),
                &GRANTS,
                s.b,
                s.a,
            ),
            deciders(subject, s.c).0,
            deciders(subject, s.c).1,
        ),
        26 => sharing(
            pick(&PARTNERS, s.b),
            &categories(s.c),
            !s.b.is_multiple_of(3),
            subject,
            CapacityBasis::PersonHasCapacity,
        ),
        27 => {
            let consents = person_state.map(|p| {
                p.sharing
                    .iter()
                    .filter(|(_, c)| c.given)
                    .map(|(id, _)| id)
                    .collect()
            });
            let partner = &choose(consents.unwrap_or_default(), &PARTNERS, s.b, s.c);
            // Mostly what the person consented to share, now and then more.
            let consented = person_state
                .and_then(|p| p.sharing.get(partner))
                .map(|c| c.categories.clone())
                .filter(|c| !c.is_empty() && !s.c.is_multiple_of(4))
                .unwrap_or_else(|| categories(s.c));
            let channel = if s.a.is_multiple_of(3) {
                pick(&CHANNELS, s.c)
            } else {
                state
                    .partners
                    .get(partner)
                    .map_or(Channel::InPerson, |p| p.agreed_channel)
            };
            handover(partner, &consented, channel)
        }
        28 => {
            actor = "s1";
            handover_received(pick(&PARTNERS, s.b))
        }
        29 => {
            let (who, role, purpose) = pick(
                &[
                    ("s1", Role::CareWorker, Purpose::DirectCare),
                    ("s2", Role::RegisteredManager, Purpose::Administration),
                    (subject, Role::Person, Purpose::PersonalAccess),
                    ("lpa", Role::Representative, Purpose::PersonalAccess),
                    ("fam", Role::Representative, Purpose::PersonalAccess),
                    ("para", Role::EmergencyClinician, Purpose::Emergency),
                    ("officer", Role::MonitoringOfficer, Purpose::StatutoryReview),
                ],
                s.b,
            );
            actor = who;
            read(role, &categories(s.c), purpose)
        }
        30 => {
            actor = "fam";
            refused_read("no grant")
        }
        31 => {
            actor = "para";
            let categories = if s.c.is_multiple_of(4) {
                vec![Category::DailyNotes]
            } else {
                vec![Category::Medicines]
            };
            emergency(&categories, now + i64::from(s.b) * 5 * MINUTE_US)
        }
        32 => {
            person_scope = false;
            let received = now - i64::from(s.c) * MINUTE_US;
            let people: Vec<&str> = if s.a.is_multiple_of(3) {
                vec![]
            } else {
                vec![subject]
            };
            let mut e = request(
                pick(&REQUESTS, s.b),
                &people,
                received,
                received + i64::from(s.b) * 10 * MINUTE_US - HOUR_US,
            );
            if let E::RequestReceived(r) = &mut e {
                r.requester = "officer".into();
            }
            e
        }
        33 => {
            person_scope = false;
            acknowledged(&choose(open_requests(), &REQUESTS, s.b, s.c))
        }
        34 => {
            person_scope = false;
            responded(&choose(open_requests(), &REQUESTS, s.b, s.c))
        }
        35 => {
            person_scope = false;
            withdrawn(&choose(open_requests(), &REQUESTS, s.b, s.c), "not needed")
        }
        36 | 37 => {
            person_scope = false;
            let id = choose(open_requests(), &REQUESTS, s.b, s.c);
            let due = state
                .requests
                .get(&id)
                .map_or(now, |r| r.due_at_us + i64::from(s.c.is_multiple_of(7)));
            if s.op == 36 {
                sla_warning(&id, due)
            } else {
                sla_breached(&id, due)
            }
        }
        38 => {
            person_scope = false;
            outage_declared(pick(&OUTAGES, s.b))
        }
        39 => {
            person_scope = false;
            outage_ended(&choose(outages(false), &OUTAGES, s.b, s.c))
        }
        42 => {
            // Mostly the next version of the Service User Guide; now and then a stale one.
            person_scope = false;
            let current = state.current_guide().map_or(0, |g| g.version);
            guide(current + u32::from(!s.c.is_multiple_of(4)))
        }
        43 => {
            // An address for the person or a representative; now and then for a stranger,
            // one that is not an address, or a removal.
            let holder = pick(&[subject, "lpa", "fam", "stranger"], s.b);
            let address = match s.c % 4 {
                0 => None,
                1 => Some("not an address"),
                _ => Some("someone@example.org"),
            };
            email_address(holder, address)
        }
        44 => CareEvent::SecureEmailFailed(SecureEmailFailed {
            document: pick(&[Document::CarePlan, Document::Mar], s.b),
            version: Some(u32::from(s.c % 3)),
            format: Format::StandardPrint,
            to: "someone@example.org".into(),
            digest: "0".repeat(64),
            message_id: "<m@example.org>".into(),
            attempts: u32::from(s.c % 5),
            error: "451 try later".into(),
            permanent: s.a.is_multiple_of(2),
        }),
        41 => {
            // Mostly a break-glass access waiting for review on this record; now and
            // then any event at all, which is refused.
            let waiting = state
                .unreviewed
                .values()
                .filter(|u| u.person == subject)
                .map(|u| u.stamp.seq)
                .nth(usize::from(s.b % 2));
            let emergency_event = match waiting {
                Some(seq) if !s.c.is_multiple_of(5) => seq,
                _ => u64::from(s.b),
            };
            let outcome = if s.a.is_multiple_of(2) {
                ReviewOutcome::Appropriate
            } else {
                ReviewOutcome::NotAppropriate {
                    action_taken: "spoken to".into(),
                }
            };
            E::EmergencyReviewed(EmergencyReviewed {
                emergency_event,
                outcome,
                notes: "reviewed".into(),
            })
        }
        _ => {
            let id = choose(outages(true), &OUTAGES, s.b, s.a);
            if let Some(o) = state.outages.get(&id) {
                occurred = o.declared.occurred_at_us + i64::from(s.c) * MINUTE_US - 10 * MINUTE_US;
            }
            // Mostly a person event; now and then an organisation event or another
            // back-entry, which are refused.
            let inner_op = if depth == 0 { s.c % OPS } else { 12 };
            let inner = Step { op: inner_op, ..*s };
            let (inner_meta, entry) = build_at(&inner, state, now, seq, depth + 1);
            actor = if inner_meta.actor == "s1" { "s1" } else { "s2" };
            back_entered(&id, entry)
        }
    };
    if s.c % 11 == 5 {
        // Anyone at all, now and then.
        actor = pick(&ACTORS, s.a.wrapping_add(s.b));
    }
    let subject = (person_scope != (s.c % 13 == 7)).then(|| subject.to_string());
    let meta = OwnedMeta {
        seq,
        recorded_at_us: now,
        occurred_at_us: occurred,
        actor: actor.into(),
        subject,
    };
    (meta, event)
}

/// Events every history starts with, so that the random ones meet something to act on.
fn prelude() -> Vec<(&'static str, Option<&'static str>, CareEvent)> {
    vec![
        ("s2", None, staff("s1", Role::CareWorker)),
        ("s2", None, staff("s2", Role::RegisteredManager)),
        ("s2", None, partner("n1", Channel::SecureEmail)),
        ("s2", Some("p1"), person("Edith Clarke")),
        ("s2", Some("p1"), care_started()),
        ("s2", Some("p1"), plan(1)),
        ("s2", Some("p1"), medicine_added("m1", 240)),
        (
            "s2",
            Some("p1"),
            representative(
                "lpa",
                Relationship::LpaHealthWelfare,
                Some("LPA 7000"),
                false,
            ),
        ),
        (
            "s2",
            Some("p1"),
            representative("fam", Relationship::Family, None, true),
        ),
        (
            "s2",
            Some("p1"),
            sharing(
                "n1",
                &[Category::Medicines, Category::CarePlan],
                true,
                "p1",
                CapacityBasis::PersonHasCapacity,
            ),
        ),
        ("s2", Some("p2"), person("Arthur Bell")),
        ("s2", Some("p2"), care_started()),
    ]
}

/// A state, the ledger's clock and what it accepted.
struct World {
    state: State,
    now: TimeUs,
    accepted: Vec<(OwnedMeta, CareEvent)>,
}

impl World {
    fn new() -> Self {
        let mut w = World {
            state: State::new(),
            now: BASE_US,
            accepted: Vec::new(),
        };
        for (actor, subject, event) in prelude() {
            let m = OwnedMeta {
                seq: w.next_seq(),
                recorded_at_us: w.now,
                occurred_at_us: w.now,
                actor: actor.into(),
                subject: subject.map(Into::into),
            };
            w.state
                .apply(&m.meta(), &event)
                .unwrap_or_else(|e| panic!("prelude {}: {e}", event.kind()));
            w.accepted.push((m, event));
            w.now += MINUTE_US;
        }
        w
    }

    fn next_seq(&self) -> u64 {
        self.accepted.len() as u64 + 1
    }

    /// Tries `s`; keeps it if accepted. The clock moves on either way.
    fn step(&mut self, s: &Step) -> bool {
        let (m, e) = build(s, &self.state, self.now, self.next_seq());
        let ok = self.state.apply(&m.meta(), &e).is_ok();
        if ok {
            self.accepted.push((m, e));
        }
        self.now += i64::from(s.advance) * MINUTE_US;
        ok
    }

    /// Tries `steps` inside a request and rolls it back; the state must be as before.
    fn try_and_roll_back(&mut self, steps: &[Step]) -> Result<(), TestCaseError> {
        let before = self.state.all_pairs();
        self.state.begin();
        let mut now = self.now;
        let mut seq = self.next_seq();
        for s in steps {
            let (m, e) = build(s, &self.state, now, seq);
            if self.state.apply(&m.meta(), &e).is_ok() {
                seq += 1;
            }
            now += i64::from(s.advance) * MINUTE_US;
        }
        self.state.rollback();
        prop_assert!(
            self.state.all_pairs() == before,
            "a rolled-back request left changes behind"
        );
        Ok(())
    }
}

fn persist(state: &mut State, map: &mut BTreeMap<Vec<u8>, Vec<u8>>) {
    for (key, value) in state.take_changes() {
        match value {
            Some(v) => map.insert(key, v),
            None => map.remove(&key),
        };
    }
}

fn load(map: &BTreeMap<Vec<u8>, Vec<u8>>) -> State {
    let mut state = State::new();
    for (key, value) in map {
        state.load(key, value).expect("a persisted pair loads");
    }
    state
}

fn pairs(map: &BTreeMap<Vec<u8>, Vec<u8>>) -> Vec<(Vec<u8>, Vec<u8>)> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        // Integration tests have no lib.rs for proptest to put regressions beside.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// (a) Applying with changes persisted at random points, restarting from the persisted
    /// pairs, crashing and catching up from the log, and rolling requests back, ends where
    /// one full replay of the accepted events ends; the persisted pairs are the state.
    #[test]
    fn persisted_changes_reload_to_the_replayed_state(steps in steps()) {
        let mut w = World::new();
        let mut map = BTreeMap::new();
        // The accepted events up to here are in `map`.
        let mut persisted = 0;
        for (i, s) in steps.iter().enumerate() {
            match s.flags {
                4 | 5 => {
                    let end = (i + 1 + usize::from(s.flags)).min(steps.len());
                    w.try_and_roll_back(&steps[i..end])?;
                }
                6 => w.state.begin(),
                _ => {}
            }
            w.step(s);
            match s.flags {
                6 => w.state.commit(),
                0..=1 | 7 => {
                    persist(&mut w.state, &mut map);
                    persisted = w.accepted.len();
                }
                2 => {
                    // Restart: persist, then start again from what was persisted.
                    persist(&mut w.state, &mut map);
                    persisted = w.accepted.len();
                    let before = w.state.all_pairs();
                    w.state = load(&map);
                    prop_assert!(w.state.all_pairs() == before, "reloading changed the state");
                }
                3 => {
                    // Crash: what was not persisted is caught up from the log.
                    w.state = load(&map);
                    for (m, e) in &w.accepted[persisted..] {
                        w.state.replay(&m.meta(), e);
                    }
                }
                _ => {}
            }
        }
        persist(&mut w.state, &mut map);
        let state_pairs = w.state.all_pairs();
        prop_assert!(pairs(&map) == state_pairs, "the persisted pairs differ from the state");
        prop_assert!(
            replay_all(&w.accepted).all_pairs() == state_pairs,
            "one full replay gives another state"
        );
    }

    /// (b) `begin`, a few events, `rollback` leaves every pair exactly as it was.
    #[test]
    fn a_rolled_back_request_changes_nothing(steps in steps()) {
        let mut w = World::new();
        for (i, s) in steps.iter().enumerate() {
            if s.flags.is_multiple_of(2) {
                let end = (i + 1 + usize::from(s.flags % 5)).min(steps.len());
                w.try_and_roll_back(&steps[i..end])?;
            }
            w.step(s);
        }
        // And once over the whole history, from the prelude on.
        let mut w2 = World::new();
        w2.try_and_roll_back(&steps)?;
        prop_assert!(w2.state.all_pairs() == World::new().state.all_pairs());
    }

    /// (c) Replaying the accepted events gives what applying them gave.
    #[test]
    fn replay_agrees_with_apply(steps in steps()) {
        let mut w = World::new();
        for s in &steps {
            w.step(s);
        }
        prop_assert!(replay_all(&w.accepted).all_pairs() == w.state.all_pairs());
    }
}

/// The histories are worth testing: over a few hundred random steps, most kinds get
/// accepted somewhere, and plenty of events are refused.
#[test]
fn random_histories_reach_most_kinds() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut kinds = std::collections::BTreeSet::new();
    let (mut tried, mut refused) = (0, 0);
    for _ in 0..20 {
        let steps = steps().new_tree(&mut runner).unwrap().current();
        let mut w = World::new();
        let start = w.accepted.len();
        for s in &steps {
            tried += 1;
            refused += usize::from(!w.step(s));
        }
        for (_, e) in &w.accepted[start..] {
            kinds.insert(e.kind());
            if let CareEvent::BackEntered(b) = e {
                kinds.insert(b.entry.kind());
            }
        }
    }
    let missing: Vec<_> = CareEvent::KINDS
        .iter()
        .filter(|k| !kinds.contains(*k))
        .collect();
    eprintln!("STATS tried={tried} refused={refused} missing={missing:?}");
    assert!(missing.len() <= 3, "kinds never accepted: {missing:?}");
    assert!(refused * 10 > tried, "only {refused} of {tried} refused");
    assert!(refused * 10 < tried * 9, "{refused} of {tried} refused");
}
