//! Compliance findings, rule by rule: a case that raises each one (with the exact rule,
//! person, since-time and evidence sequence numbers) and a case that does not, usually the
//! same record after the provider put things right.

mod common;

use careledger_care::findings::{findings, person_findings_at, Finding, Rule, DISCUSSION_STALE_US};
use careledger_care::types::*;
use careledger_care::{CareEvent, RuleError};
use common::*;

/// What these tests add to the common in-memory log (`common::Ledger`): p-1, its events by
/// the registered manager rm-1, and the findings.
mod fixture {
    use super::*;

    pub const P: &str = "p-1";

    impl Ledger {
        /// A registered manager and a care worker.
        pub fn with_staff() -> Self {
            let mut l = Ledger::new();
            for (id, role) in [
                ("rm-1", Role::RegisteredManager),
                ("cw-1", Role::CareWorker),
            ] {
                l.org(T0, staff(id, role));
            }
            l
        }

        /// An event about p-1, by the registered manager.
        pub fn about(&mut self, at: TimeUs, event: CareEvent) -> u64 {
            self.at(at, "rm-1", Some(P), event)
        }

        /// An event about p-1 by someone else.
        pub fn about_by(&mut self, at: TimeUs, actor: &str, event: CareEvent) -> u64 {
            self.at(at, actor, Some(P), event)
        }

        pub fn org(&mut self, at: TimeUs, event: CareEvent) -> u64 {
            self.at(at, "rm-1", None, event)
        }

        /// Registers another person and starts their care; returns the care-started seq.
        pub fn register_other(&mut self, id: &str) -> u64 {
            self.at(T0 + 6 * HOUR_US, "rm-1", Some(id), registered());
            self.at(T0 + 7 * HOUR_US, "rm-1", Some(id), care_started())
        }

        pub fn findings(&self, now: TimeUs) -> Vec<Finding> {
            findings(&self.state, now)
        }

        /// The findings of one rule at `now`.
        pub fn of(&self, rule: Rule, now: TimeUs) -> Vec<Finding> {
            findings(&self.state, now)
                .into_iter()
                .filter(|f| f.rule == rule)
                .collect()
        }
    }

    pub fn registered() -> CareEvent {
        person("Ada Lovelace")
    }

    /// Every option explained; paper and the portal chosen.
    pub fn discussion() -> CareEvent {
        choices(&InfoOption::ALL, &[InfoOption::Paper, InfoOption::Portal])
    }

    /// A copy of `document` (no version) sent to p-1 by secure email.
    pub fn emailed_copy(document: Document, format: Format) -> CareEvent {
        secure_email(document, None, format, "ada@example.org")
    }

    /// Sequence numbers (and times) of a compliant record.
    pub struct Compliant {
        pub discussion: u64,
        pub discussion_at: TimeUs,
        pub paper_plan: u64,
    }

    /// p-1 receiving care since T0 + 1 h with a care plan, a choices discussion, and the paper
    /// care plan and Service User Guide in the home, all by T0 + 5 h: no findings.
    pub fn compliant() -> (Ledger, Compliant) {
        let mut l = Ledger::with_staff();
        l.about(T0, registered());
        l.about(T0 + HOUR_US, care_started());
        l.about(T0 + 2 * HOUR_US, plan(1));
        let discussion_at = T0 + 3 * HOUR_US;
        let discussion = l.about(discussion_at, discussion());
        let paper_plan = l.about(
            T0 + 4 * HOUR_US,
            paper_copy(Document::CarePlan, Some(1), Format::StandardPrint),
        );
        l.about(
            T0 + 5 * HOUR_US,
            paper_copy(Document::ServiceUserGuide, None, Format::StandardPrint),
        );
        let seqs = Compliant {
            discussion,
            discussion_at,
            paper_plan,
        };
        assert_eq!(l.findings(T0 + DAY_US), vec![], "the compliant record");
        (l, seqs)
    }
}

use fixture::*;

/// Asserts there is exactly one finding and it has this rule, person, since and evidence.
#[track_caller]
fn assert_one(
    found: &[Finding],
    rule: Rule,
    person: Option<&str>,
    since: TimeUs,
    evidence: &[u64],
) {
    assert_eq!(
        found.len(),
        1,
        "expected one {rule:?} finding, got {found:#?}"
    );
    let f = &found[0];
    assert_eq!(f.rule, rule, "{f:#?}");
    assert_eq!(f.person.as_deref(), person, "{f:#?}");
    assert_eq!(f.since_us, since, "{f:#?}");
    assert_eq!(f.evidence, evidence, "{f:#?}");
    assert!(!f.message.is_empty());
}

fn rules(found: &[Finding]) -> Vec<Rule> {
    found.iter().map(|f| f.rule).collect()
}

// ------------------------------------------------------------------------------ R8

#[test]
fn r8_no_choices_discussion_while_on_electronic_records() {
    let mut l = Ledger::with_staff();
    l.about(T0, registered());
    // Registered, not yet receiving care: nothing to discuss yet.
    assert_eq!(l.findings(T0 + HOUR_US), vec![]);

    let started_at = T0 + HOUR_US;
    let started = l.about(started_at, care_started());
    l.about(T0 + 2 * HOUR_US, plan(1));
    l.about(
        T0 + 2 * HOUR_US,
        paper_copy(Document::CarePlan, Some(1), Format::StandardPrint),
    );
    l.about(
        T0 + 2 * HOUR_US,
        paper_copy(Document::ServiceUserGuide, None, Format::StandardPrint),
    );

    // Silence is not consent: months without complaint do not make a discussion.
    let found = l.findings(T0 + 90 * DAY_US);
    assert_one(
        &found,
        Rule::NoChoicesDiscussion,
        Some(P),
        started_at,
        &[started],
    );
    assert!(found[0].message.contains(P));

    // The fix: a recorded discussion.
    l.about(T0 + 90 * DAY_US, discussion());
    assert_eq!(l.findings(T0 + 91 * DAY_US), vec![]);
}

#[test]
fn r8_discussion_stale_after_12_months() {
    let (mut l, c) = compliant();
    let aged = c.discussion_at + DISCUSSION_STALE_US;
    assert_eq!(DISCUSSION_STALE_US, 365 * DAY_US);
    assert_eq!(
        l.of(Rule::StaleChoicesDiscussion, aged),
        vec![],
        "exactly 12 months"
    );
    let found = l.findings(aged + 1);
    assert_one(
        &found,
        Rule::StaleChoicesDiscussion,
        Some(P),
        aged,
        &[c.discussion],
    );
    assert!(
        found[0].message.contains("12 months"),
        "{}",
        found[0].message
    );

    // The fix: a new discussion; the 12 months start again from it.
    let again_at = aged + DAY_US;
    l.about(again_at, discussion());
    assert_eq!(l.findings(again_at + 1), vec![]);
    assert_eq!(l.findings(again_at + DISCUSSION_STALE_US), vec![]);
    assert_eq!(
        rules(&l.findings(again_at + DISCUSSION_STALE_US + 1)),
        vec![Rule::StaleChoicesDiscussion]
    );
}

#[test]
fn r8_discussion_stale_after_a_care_plan_review() {
    let (mut l, c) = compliant();
    let reviewed_at = c.discussion_at + 30 * DAY_US;
    let reviewed = l.about(reviewed_at, plan_reviewed(1));
    let found = l.findings(reviewed_at + HOUR_US);
    assert_one(
        &found,
        Rule::StaleChoicesDiscussion,
        Some(P),
        reviewed_at,
        &[c.discussion, reviewed],
    );
    assert!(
        found[0].message.contains("reviewed"),
        "{}",
        found[0].message
    );

    // The fix: discussing the choices again, after the review.
    l.about(reviewed_at + DAY_US, discussion());
    assert_eq!(l.findings(reviewed_at + 2 * DAY_US), vec![]);
}

#[test]
fn r8_a_review_before_the_discussion_is_not_a_finding() {
    let mut l = Ledger::with_staff();
    l.about(T0, registered());
    l.about(T0 + HOUR_US, care_started());
    l.about(T0 + 2 * HOUR_US, plan(1));
    l.about(T0 + 3 * HOUR_US, plan_reviewed(1));
    l.about(T0 + 4 * HOUR_US, discussion());
    l.about(
        T0 + 4 * HOUR_US,
        paper_copy(Document::CarePlan, Some(1), Format::StandardPrint),
    );
    l.about(
        T0 + 4 * HOUR_US,
        paper_copy(Document::ServiceUserGuide, None, Format::StandardPrint),
    );
    assert_eq!(l.findings(T0 + 30 * DAY_US), vec![]);
}

/// A review after the last discussion makes it stale; publishing the next version of the
/// plan (the usual outcome of a review) must not make it fresh again. The projection keeps
/// only the current version's last review, so publishing version 2 forgets the review of
/// version 1 and the finding disappears without a new discussion.
#[test]
fn r8_a_new_plan_version_after_a_review_does_not_clear_the_finding() {
    let (mut l, c) = compliant();
    let reviewed_at = c.discussion_at + 30 * DAY_US;
    let reviewed = l.about(reviewed_at, plan_reviewed(1));
    l.about(reviewed_at + HOUR_US, plan(2));
    assert_one(
        &l.of(Rule::StaleChoicesDiscussion, reviewed_at + DAY_US),
        Rule::StaleChoicesDiscussion,
        Some(P),
        reviewed_at,
        &[c.discussion, reviewed],
    );
}

// ------------------------------------------------------------------------------ R3

#[test]
fn r3_no_paper_in_the_home() {
    let mut l = Ledger::with_staff();
    l.about(T0, registered());
    let started_at = T0 + HOUR_US;
    let started = l.about(started_at, care_started());
    l.about(T0 + 2 * HOUR_US, discussion());

    // No care plan yet, so none on paper either.
    let found = l.findings(T0 + 3 * HOUR_US);
    assert_one(&found, Rule::NoPaperInHome, Some(P), started_at, &[started]);
    assert!(
        found[0]
            .message
            .contains("care plan and Service User Guide"),
        "{}",
        found[0].message
    );
    // A paper care plan needs a care plan.
    assert!(matches!(
        l.try_at(
            T0 + 3 * HOUR_US,
            "rm-1",
            Some(P),
            &paper_copy(Document::CarePlan, Some(1), Format::StandardPrint)
        ),
        Err(RuleError::NoPlan { .. })
    ));

    l.about(T0 + 3 * HOUR_US, plan(1));
    l.about(
        T0 + 4 * HOUR_US,
        paper_copy(Document::ServiceUserGuide, None, Format::StandardPrint),
    );
    let found = l.findings(T0 + 5 * HOUR_US);
    assert_one(&found, Rule::NoPaperInHome, Some(P), started_at, &[started]);
    assert!(
        found[0].message.contains("no paper care plan in"),
        "{}",
        found[0].message
    );

    // The fix: the care plan on paper too.
    l.about(
        T0 + 5 * HOUR_US,
        paper_copy(Document::CarePlan, Some(1), Format::StandardPrint),
    );
    assert_eq!(l.findings(T0 + 6 * HOUR_US), vec![]);
}

#[test]
fn r3_the_guide_missing_alone_is_a_finding() {
    let mut l = Ledger::with_staff();
    l.about(T0, registered());
    let started = l.about(T0 + HOUR_US, care_started());
    l.about(T0 + 2 * HOUR_US, discussion());
    l.about(T0 + 2 * HOUR_US, plan(1));
    l.about(
        T0 + 2 * HOUR_US,
        paper_copy(Document::CarePlan, Some(1), Format::StandardPrint),
    );
    let found = l.findings(T0 + 3 * HOUR_US);
    assert_one(
        &found,
        Rule::NoPaperInHome,
        Some(P),
        T0 + HOUR_US,
        &[started],
    );
    assert!(
        found[0].message.contains("Service User Guide"),
        "{}",
        found[0].message
    );
}

#[test]
fn r3_a_recorded_decline_clears_it() {
    let no_paper = || {
        let mut l = Ledger::with_staff();
        l.about(T0, registered());
        l.about(T0 + HOUR_US, care_started());
        l.about(T0 + 2 * HOUR_US, plan(1));
        l.about(T0 + 2 * HOUR_US, discussion());
        l.about(
            T0 + 2 * HOUR_US,
            representative("fam-1", Relationship::Family, None, true),
        );
        l.about(
            T0 + 2 * HOUR_US,
            representative(
                "lpa-1",
                Relationship::LpaHealthWelfare,
                Some("LPA registration 7000-1234-5678"),
                true,
            ),
        );
        assert_eq!(
            rules(&l.findings(T0 + 3 * HOUR_US)),
            vec![Rule::NoPaperInHome]
        );
        l
    };

    // The person expressly declines.
    let mut l = no_paper();
    l.about_by(T0 + 3 * HOUR_US, P, paper_declined(P));
    assert_eq!(l.findings(T0 + 4 * HOUR_US), vec![]);
    let (by, _) = l.state.person(P).unwrap().paper_declined.clone().unwrap();
    assert_eq!(by, P);

    // Their attorney declines for them.
    let mut l = no_paper();
    l.about_by(T0 + 3 * HOUR_US, "lpa-1", paper_declined("lpa-1"));
    assert_eq!(l.findings(T0 + 4 * HOUR_US), vec![]);

    // A family member without legal authority cannot decline for them: the finding stays.
    let mut l = no_paper();
    let refused = l.try_at(T0 + 3 * HOUR_US, "fam-1", Some(P), &paper_declined("fam-1"));
    assert!(
        matches!(refused, Err(RuleError::NoAuthority { .. })),
        "{refused:?}"
    );
    assert_eq!(
        rules(&l.findings(T0 + 4 * HOUR_US)),
        vec![Rule::NoPaperInHome]
    );
}

#[test]
fn r3_paper_care_plan_older_than_the_current_version() {
    let (mut l, c) = compliant();
    let v2_at = T0 + 2 * DAY_US;
    let v2 = l.about(v2_at, plan(2));
    let found = l.findings(v2_at + HOUR_US);
    assert_one(
        &found,
        Rule::PaperCarePlanOutdated,
        Some(P),
        v2_at,
        &[c.paper_plan, v2],
    );
    assert!(
        found[0].message.contains("version 1"),
        "{}",
        found[0].message
    );

    // Version 3 before the paper caught up: since version 3, proved by the copy and version 3.
    let v3_at = v2_at + DAY_US;
    let v3 = l.about(v3_at, plan(3));
    assert_one(
        &l.findings(v3_at + HOUR_US),
        Rule::PaperCarePlanOutdated,
        Some(P),
        v3_at,
        &[c.paper_plan, v3],
    );

    // The fix: the current version on paper.
    l.about(
        v3_at + HOUR_US,
        paper_copy(Document::CarePlan, Some(3), Format::StandardPrint),
    );
    assert_eq!(l.findings(v3_at + 2 * HOUR_US), vec![]);
}

#[test]
fn r3_paper_guide_older_than_the_current_version() {
    let (mut l, _) = compliant();
    // The compliant home's guide was printed outside careledger (no version): it cannot
    // be compared, so publishing a guide raises nothing of it.
    l.org(T0 + DAY_US, guide(1));
    assert_eq!(l.findings(T0 + DAY_US + HOUR_US), vec![]);
    let v1_copy = l.about(
        T0 + DAY_US + HOUR_US,
        paper_copy(Document::ServiceUserGuide, Some(1), Format::StandardPrint),
    );
    let v2_at = T0 + 2 * DAY_US;
    let v2 = l.org(v2_at, guide(2));
    let found = l.findings(v2_at + HOUR_US);
    assert_one(
        &found,
        Rule::PaperGuideOutdated,
        Some(P),
        v2_at,
        &[v1_copy, v2],
    );
    assert!(
        found[0]
            .message
            .contains("version 1; the current version is 2"),
        "{}",
        found[0].message
    );
    // Declining paper copies removes the duty.
    let mut declined = l.clone();
    declined.about_by(v2_at + HOUR_US, P, paper_declined(P));
    assert_eq!(declined.findings(v2_at + 2 * HOUR_US), vec![]);
    // The fix: the current version in the home.
    l.about(
        v2_at + HOUR_US,
        paper_copy(Document::ServiceUserGuide, Some(2), Format::StandardPrint),
    );
    assert_eq!(l.findings(v2_at + 2 * HOUR_US), vec![]);
}

#[test]
fn r3_outdated_paper_plan_is_not_a_finding_once_paper_is_declined() {
    let (mut l, _) = compliant();
    l.about(T0 + 2 * DAY_US, plan(2));
    assert_eq!(
        rules(&l.findings(T0 + 3 * DAY_US)),
        vec![Rule::PaperCarePlanOutdated]
    );
    l.about_by(T0 + 3 * DAY_US, P, paper_declined(P));
    assert_eq!(l.findings(T0 + 4 * DAY_US), vec![]);
}

// ------------------------------------------------------------------------------ R5

#[test]
fn r5_emar_in_use_and_no_current_paper_mar() {
    let (mut l, _) = compliant();
    let m1_at = T0 + DAY_US;
    l.about(m1_at, medicine_added("m1", 240));
    // On the MAR, but nothing recorded electronically yet: no eMAR in use.
    assert_eq!(l.findings(m1_at + HOUR_US), vec![]);

    let given_at = m1_at + 2 * HOUR_US;
    let first = l.about_by(given_at, "cw-1", given("m1"));
    let found = l.findings(given_at + MINUTE_US);
    assert_one(&found, Rule::NoCurrentPaperMar, Some(P), given_at, &[first]);
    assert!(
        found[0].message.contains("revision 1"),
        "{}",
        found[0].message
    );

    // The fix: the written MAR of the current revision in the home.
    let mar1 = l.about(
        given_at + HOUR_US,
        paper_copy(Document::Mar, Some(1), Format::StandardPrint),
    );
    assert_eq!(l.findings(given_at + 2 * HOUR_US), vec![]);

    // A medicine added: the paper MAR in the home is out of date.
    let m2_at = given_at + DAY_US;
    let m2 = l.about(m2_at, medicine_added("m2", 240));
    let found = l.findings(m2_at + MINUTE_US);
    assert_one(&found, Rule::NoCurrentPaperMar, Some(P), m2_at, &[mar1, m2]);
    assert!(
        found[0].message.contains("revision 2"),
        "{}",
        found[0].message
    );

    let mar2 = l.about(
        m2_at + HOUR_US,
        paper_copy(Document::Mar, Some(2), Format::StandardPrint),
    );
    assert_eq!(l.findings(m2_at + 2 * HOUR_US), vec![]);

    // A medicine stopped: out of date again.
    let stop_at = m2_at + DAY_US;
    let stop = l.about(stop_at, medicine_stopped("m1"));
    assert_one(
        &l.findings(stop_at + MINUTE_US),
        Rule::NoCurrentPaperMar,
        Some(P),
        stop_at,
        &[mar2, stop],
    );

    // Declining paper copies does not remove the written MAR duty.
    l.about_by(stop_at + HOUR_US, P, paper_declined(P));
    assert_eq!(
        rules(&l.findings(stop_at + 2 * HOUR_US)),
        vec![Rule::NoCurrentPaperMar]
    );
    l.about(
        stop_at + 2 * HOUR_US,
        paper_copy(Document::Mar, Some(3), Format::StandardPrint),
    );
    assert_eq!(l.findings(stop_at + 3 * HOUR_US), vec![]);
}

#[test]
fn r5_a_mar_already_out_of_date_when_emar_starts_counts_from_the_first_entry() {
    let (mut l, _) = compliant();
    l.about(T0 + DAY_US, medicine_added("m1", 240));
    let mar1 = l.about(
        T0 + DAY_US + HOUR_US,
        paper_copy(Document::Mar, Some(1), Format::StandardPrint),
    );
    let m2 = l.about(T0 + 2 * DAY_US, medicine_added("m2", 240));
    // Out of date, but no eMAR in use yet.
    assert_eq!(l.findings(T0 + 3 * DAY_US), vec![]);
    let given_at = T0 + 3 * DAY_US;
    let first = l.about_by(given_at, "cw-1", given("m2"));
    assert_one(
        &l.findings(given_at + MINUTE_US),
        Rule::NoCurrentPaperMar,
        Some(P),
        given_at,
        &[mar1, m2, first],
    );
}

#[test]
fn r5_a_paper_mar_without_a_revision_is_not_current() {
    let (mut l, _) = compliant();
    l.about(T0 + DAY_US, medicine_added("m1", 240));
    let unversioned = l.about(
        T0 + DAY_US + HOUR_US,
        paper_copy(Document::Mar, None, Format::StandardPrint),
    );
    let given_at = T0 + 2 * DAY_US;
    l.about_by(given_at, "cw-1", given("m1"));
    let found = l.of(Rule::NoCurrentPaperMar, given_at + MINUTE_US);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].evidence.contains(&unversioned), "{found:#?}");
}

// ------------------------------------------------------------------------------ R2

#[test]
fn r2_a_document_in_another_format_than_the_recorded_one() {
    let (mut l, _) = compliant();
    // The standard-print copies placed before any need was recorded are not findings.
    let needs_at = T0 + DAY_US;
    l.about(
        needs_at,
        ais(vec![AisNeed::InformationFormat(Format::LargePrint)]),
    );
    assert_eq!(l.findings(needs_at + MINUTE_US), vec![]);

    let placed_at = needs_at + HOUR_US;
    let placed = l.about(
        placed_at,
        paper_copy(Document::CarePlan, Some(1), Format::StandardPrint),
    );
    let found = l.findings(placed_at + MINUTE_US);
    assert_one(&found, Rule::FormatNotMet, Some(P), placed_at, &[placed]);
    assert!(
        found[0].message.contains("standard print") && found[0].message.contains("large print"),
        "{}",
        found[0].message
    );

    let emailed_at = placed_at + HOUR_US;
    let email = l.about(
        emailed_at,
        emailed_copy(Document::DiaryRecords, Format::ElectronicPlainText),
    );
    let found = l.of(Rule::FormatNotMet, emailed_at + MINUTE_US);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_one(
        &found[1..],
        Rule::FormatNotMet,
        Some(P),
        emailed_at,
        &[email],
    );

    // Meeting the need afterwards is no new finding; the ones already raised are what went
    // out, and stay (like a late council response).
    l.about(
        emailed_at + HOUR_US,
        paper_copy(Document::CarePlan, Some(1), Format::LargePrint),
    );
    l.about(
        emailed_at + HOUR_US,
        emailed_copy(Document::DiaryRecords, Format::LargePrint),
    );
    let after: Vec<Vec<u64>> = l
        .of(Rule::FormatNotMet, emailed_at + 2 * HOUR_US)
        .into_iter()
        .map(|f| f.evidence)
        .collect();
    assert_eq!(after, vec![vec![placed], vec![email]]);
}

#[test]
fn r2_documents_in_a_recorded_format_are_not_findings() {
    let (mut l, _) = compliant();
    l.about(
        T0 + DAY_US,
        ais(vec![
            AisNeed::InformationFormat(Format::LargePrint),
            AisNeed::InformationFormat(Format::ElectronicPlainText),
            AisNeed::CommunicationSupport(CommunicationSupport::NeedsMoreTime),
        ]),
    );
    l.about(
        T0 + DAY_US,
        paper_copy(Document::CarePlan, Some(1), Format::LargePrint),
    );
    l.about(
        T0 + DAY_US,
        paper_copy(Document::ServiceUserGuide, None, Format::LargePrint),
    );
    l.about(
        T0 + DAY_US,
        emailed_copy(Document::DiaryRecords, Format::ElectronicPlainText),
    );
    assert_eq!(l.findings(T0 + 2 * DAY_US), vec![]);

    // Needs that are not about the format of information constrain no format.
    let (mut l, _) = compliant();
    l.about(
        T0 + DAY_US,
        ais(vec![AisNeed::CommunicationSupport(
            CommunicationSupport::HearingLoop,
        )]),
    );
    l.about(
        T0 + DAY_US,
        paper_copy(Document::CarePlan, Some(1), Format::StandardPrint),
    );
    l.about(
        T0 + DAY_US,
        emailed_copy(Document::CarePlan, Format::StandardPrint),
    );
    assert_eq!(l.findings(T0 + 2 * DAY_US), vec![]);
}

// ------------------------------------------------------------------------------ R12

#[test]
fn r12_a_request_answered_late() {
    let (mut l, _) = compliant();
    let received_at = T0 + DAY_US;
    let due = received_at + 24 * HOUR_US;
    let received = l.org(received_at, request("req-late", &[P], received_at, due));
    let answered_at = due + HOUR_US;
    let answer = l.org(answered_at, responded("req-late"));
    let found = l.findings(answered_at + DAY_US);
    assert_one(
        &found,
        Rule::RequestBreached,
        None,
        due,
        &[received, answer],
    );
    assert!(
        found[0].message.contains("60 min late"),
        "{}",
        found[0].message
    );
}

#[test]
fn r12_a_request_never_answered() {
    let (mut l, _) = compliant();
    let received_at = T0 + DAY_US;
    let due = received_at + 6 * HOUR_US;
    let received = l.org(received_at, request("req-open", &[], received_at, due));
    assert_eq!(l.findings(due), vec![], "not late at the due time itself");
    let found = l.findings(due + 1);
    assert_one(&found, Rule::RequestBreached, None, due, &[received]);
    assert!(
        found[0].message.contains("not been answered"),
        "{}",
        found[0].message
    );

    // The timer's breach event joins the evidence, and so does the late answer.
    let breach = l.org(due + MINUTE_US, sla_breached("req-open", due));
    assert_one(
        &l.findings(due + HOUR_US),
        Rule::RequestBreached,
        None,
        due,
        &[received, breach],
    );
    let answer = l.org(due + 2 * HOUR_US, responded("req-open"));
    assert_one(
        &l.findings(due + DAY_US),
        Rule::RequestBreached,
        None,
        due,
        &[received, breach, answer],
    );
}

#[test]
fn r12_answered_on_time_or_withdrawn_is_not_a_finding() {
    let (mut l, _) = compliant();
    let received_at = T0 + DAY_US;
    let due = received_at + 2 * HOUR_US;
    l.org(received_at, request("req-on-time", &[P], received_at, due));
    l.org(
        received_at,
        request("req-withdrawn", &[P], received_at, due),
    );
    l.org(received_at, request("req-at-due", &[], received_at, due));
    l.org(due - MINUTE_US, responded("req-on-time"));
    l.org(
        received_at + HOUR_US,
        withdrawn("req-withdrawn", "the review was cancelled"),
    );
    l.org(due, responded("req-at-due"));
    assert_eq!(l.findings(due + 30 * DAY_US), vec![]);
}

// ------------------------------------------------------------------------------ care ended

#[test]
fn a_person_whose_care_has_ended_raises_no_person_findings() {
    let mut l = Ledger::with_staff();
    l.about(T0, registered());
    l.about(T0 + HOUR_US, care_started());
    l.about(T0 + HOUR_US, plan(1));
    l.about(T0 + HOUR_US, medicine_added("m1", 240));
    l.about(
        T0 + HOUR_US,
        ais(vec![AisNeed::InformationFormat(Format::EasyRead)]),
    );
    l.about(
        T0 + 2 * HOUR_US,
        emailed_copy(Document::CarePlan, Format::StandardPrint),
    );
    l.about_by(T0 + 2 * HOUR_US, "cw-1", given("m1"));
    let received_at = T0 + 3 * HOUR_US;
    let received = l.org(
        received_at,
        request("req-1", &[P], received_at, received_at + HOUR_US),
    );
    let now = T0 + 2 * DAY_US;
    assert_eq!(
        rules(&l.findings(now)),
        vec![
            Rule::NoChoicesDiscussion,
            Rule::NoPaperInHome,
            Rule::NoCurrentPaperMar,
            Rule::FormatNotMet,
            Rule::RequestBreached,
        ]
    );

    l.about(T0 + DAY_US, care_ended("moved to a care home"));
    assert_eq!(person_findings_at(&l.state, P, now), vec![]);
    // A request about them is the provider's finding, and stays.
    assert_one(
        &l.findings(now),
        Rule::RequestBreached,
        None,
        received_at + HOUR_US,
        &[received],
    );
    // Even years later.
    assert_eq!(
        person_findings_at(&l.state, P, now + 3 * 365 * DAY_US),
        vec![]
    );
}

#[test]
fn findings_for_several_people_name_each_person() {
    let (mut l, _) = compliant();
    let started = l.register_other("p-2");
    let found = l.findings(T0 + DAY_US);
    assert_eq!(
        found
            .iter()
            .map(|f| (f.rule, f.person.clone(), f.evidence.clone()))
            .collect::<Vec<_>>(),
        vec![
            (
                Rule::NoChoicesDiscussion,
                Some("p-2".to_string()),
                vec![started]
            ),
            (Rule::NoPaperInHome, Some("p-2".to_string()), vec![started]),
        ]
    );
    assert_eq!(person_findings_at(&l.state, P, T0 + DAY_US), vec![]);
    assert_eq!(person_findings_at(&l.state, "p-404", T0 + DAY_US), vec![]);
}

#[test]
fn an_unchanged_compliant_record_only_ages_into_a_stale_discussion() {
    let (l, c) = compliant();
    let later = c.discussion_at + 2 * DISCUSSION_STALE_US;
    assert_eq!(
        rules(&l.findings(later)),
        vec![Rule::StaleChoicesDiscussion]
    );
}

/// The findings-over-time chart's data: each day is tallied as it ended, when the first
/// event after it arrives, and a day nothing happened on is tallied too.
#[test]
fn findings_are_tallied_at_the_end_of_each_day_as_that_day_left_them() {
    use careledger_care::state::{day_key, DAYS_TALLIED};
    let day = |d: i64| {
        day_key(
            chrono::DateTime::from_timestamp_micros(T0 + d * DAY_US)
                .unwrap()
                .date_naive(),
        )
    };
    let count = |l: &Ledger, d: i64, rule: Rule| {
        l.state
            .daily
            .get(&day(d))
            .map(|t| t.by_rule.get(rule.id()).copied().unwrap_or(0))
    };
    let mut l = Ledger::with_staff();
    l.about(T0, registered());
    l.about(T0 + HOUR_US, care_started());
    assert_eq!(l.state.daily.len(), 0, "no day has ended yet");
    // Three days later, a discussion: the three days before are tallied without it.
    l.about(T0 + 3 * DAY_US, discussion());
    for d in 0..3 {
        assert_eq!(count(&l, d, Rule::NoChoicesDiscussion), Some(1), "day {d}");
        assert_eq!(count(&l, d, Rule::NoPaperInHome), Some(1), "day {d}");
    }
    assert_eq!(l.state.daily.get(&day(3)), None, "today is not over");
    l.about_by(
        T0 + 5 * DAY_US,
        "cw-1",
        diary(Author::Staff, "a quiet week"),
    );
    assert_eq!(count(&l, 3, Rule::NoChoicesDiscussion), Some(0));
    assert_eq!(count(&l, 4, Rule::NoChoicesDiscussion), Some(0));
    assert_eq!(count(&l, 4, Rule::NoPaperInHome), Some(1), "still no paper");
    assert_eq!(l.state.daily.len(), 5);
    // A long silence: only the newest days are kept.
    l.about_by(
        T0 + (10 + DAYS_TALLIED as i64 * 2) * DAY_US,
        "cw-1",
        diary(Author::Staff, "back"),
    );
    assert_eq!(l.state.daily.len(), DAYS_TALLIED);
    assert_eq!(l.state.daily.get(&day(4)), None);
}
