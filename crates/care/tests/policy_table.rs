//! The access policy (`policy::decide`) as explicit tables: every role against every category
//! of a person's record, in each situation that changes the answer (grants to a principal or
//! a role, expiry, revocation, break-glass, council requests, the person's own record, staff
//! whose claimed role is not their registered one).
//!
//! Each matrix row is one principal asking with one purpose; the columns are the categories
//! in `Category::ALL` order:
//!
//! ```text
//! CP care plan   DN daily notes         Md medicines and allergies  HO health observations
//! PD personal    CN communication needs CR consent records          In incidents
//! AL access log
//! ```
//!
//! Every refusal must give a reason that names the role and the category.

mod common;

use careledger_care::event::*;
use careledger_care::policy::{decide, Basis, Decision, Principal};
use careledger_care::types::*;
use careledger_care::{RuleError, State};
use common::*;

/// The world the tables ask about, built in the common in-memory log (`common::Ledger`):
/// every event goes through `State::apply` with the rules on.
mod fixture {
    use super::*;

    /// When the council request is received (due 24 hours later).
    pub const T_REQUEST: TimeUs = T0 + HOUR_US;
    /// When grants, revocations and break-glass are recorded.
    pub const T_DECISION: TimeUs = T0 + 90 * MINUTE_US;
    /// When the table questions are asked.
    pub const TQ: TimeUs = T0 + 2 * HOUR_US;

    impl Ledger {
        /// p-1 grants `GRANTED` to `grantee` for `purpose`, at `T_DECISION`.
        pub fn grant(
            &mut self,
            id: &str,
            grantee: Grantee,
            purpose: Purpose,
            expires: Option<TimeUs>,
        ) {
            let granted = AccessGranted {
                purpose,
                expires_at_us: expires,
                ..grant(
                    id,
                    grantee,
                    &GRANTED,
                    "p-1",
                    CapacityBasis::PersonHasCapacity,
                )
            };
            self.at(
                T_DECISION,
                "p-1",
                Some("p-1"),
                CareEvent::AccessGranted(granted),
            );
        }
    }

    /// What the grants in these tests give: two categories no default covers for most roles.
    pub const GRANTED: [Category; 2] = [Category::DailyNotes, Category::AccessLog];

    fn register(l: &mut Ledger, id: &str, name: &str) {
        l.at(T0, "rm-1", Some(id), person(name));
        l.at(T0, "rm-1", Some(id), care_started());
    }

    fn link(l: &mut Ledger, person: &str, id: &str, relationship: Relationship) {
        let evidence = relationship
            .has_legal_authority()
            .then_some("LPA registration 7000-1234-5678");
        l.at(
            T0,
            "rm-1",
            Some(person),
            representative(id, relationship, evidence, true),
        );
    }

    /// Staff of every staff role; people p-1 and p-2 receiving care; p-1's family
    /// representative fam-1 and attorney lpa-1; p-2's family representative fam-2; a district
    /// nursing partner dn-1; an open council request req-1 from monitoring officer mo-1 about
    /// p-1. The auditor aud-1, the other officers mo-2 and scp-1 and the paramedic para-1 are
    /// principals the ledger has no register for.
    pub fn world() -> Ledger {
        let mut l = Ledger::new();
        for (id, role) in [
            ("cw-1", Role::CareWorker),
            ("co-1", Role::Coordinator),
            ("rm-1", Role::RegisteredManager),
            ("pa-1", Role::ProviderAdmin),
        ] {
            l.at(T0, "rm-1", None, staff(id, role));
        }
        register(&mut l, "p-1", "Ada Lovelace");
        register(&mut l, "p-2", "Mary Somerville");
        link(&mut l, "p-1", "fam-1", Relationship::Family);
        link(&mut l, "p-1", "lpa-1", Relationship::LpaHealthWelfare);
        link(&mut l, "p-2", "fam-2", Relationship::Family);
        l.at(T0, "rm-1", None, partner("dn-1", Channel::SecureEmail));
        l.at(
            T_REQUEST,
            "rm-1",
            None,
            request_from(
                "req-1",
                "mo-1",
                &["p-1"],
                &[
                    Category::CarePlan,
                    Category::ConsentRecords,
                    Category::Incidents,
                ],
                T_REQUEST,
                T_REQUEST + 24 * HOUR_US,
            ),
        );
        l
    }
}

use fixture::*;

/// One matrix row: the claimed role, the principal's id, the purpose, and Y/N per category.
type Row = (Role, &'static str, Purpose, &'static str);

fn cells(row: &Row) -> Vec<bool> {
    let cells: Vec<bool> = row
        .3
        .split_whitespace()
        .map(|c| match c {
            "Y" => true,
            "N" => false,
            other => panic!("matrix cell {other:?} is neither Y nor N"),
        })
        .collect();
    assert_eq!(cells.len(), Category::ALL.len(), "row for {}", row.1);
    cells
}

fn render(allowed: &[bool]) -> String {
    allowed
        .iter()
        .map(|a| if *a { "Y" } else { "N" })
        .collect::<Vec<_>>()
        .join("  ")
}

/// Asks `decide` for one row and returns a description of every way it differs from the row.
fn check_row(state: &State, subject: &str, at: TimeUs, row: &Row) -> (Decision, Vec<String>) {
    let (role, id, purpose, _) = *row;
    let decision = decide(
        state,
        &Principal { id, role },
        subject,
        &Category::ALL,
        purpose,
        at,
    );
    let mut errors = Vec::new();
    let expected = cells(row);
    let actual: Vec<bool> = Category::ALL
        .iter()
        .map(|c| decision.allowed.iter().any(|(a, _)| a == c))
        .collect();
    if expected != actual {
        errors.push(format!(
            "{} {id} for {}: expected {}\n{:>w$}actual   {}",
            role.name(),
            purpose.name(),
            render(&expected),
            "",
            render(&actual),
            w = role.name().len() + id.len() + purpose.name().len() + 7,
        ));
    }
    for c in Category::ALL {
        let times = decision.allowed.iter().filter(|(a, _)| *a == c).count()
            + decision.refused.iter().filter(|(r, _)| *r == c).count();
        if times != 1 {
            errors.push(format!("{id}: {} answered {times} times", c.name()));
        }
    }
    for (c, reason) in &decision.refused {
        if !reason.contains(role.name()) || !reason.contains(c.name()) {
            errors.push(format!(
                "{id}: the refusal of {} does not name the role and the category: {reason:?}",
                c.name()
            ));
        }
    }
    if decision.is_allowed() != actual.iter().all(|a| *a) {
        errors.push(format!("{id}: is_allowed() disagrees with the categories"));
    }
    (decision, errors)
}

/// Checks every row of a matrix against one state and panics with all differences at once.
fn check_matrix(situation: &str, state: &State, subject: &str, at: TimeUs, rows: &[Row]) {
    let errors: Vec<String> = rows
        .iter()
        .flat_map(|row| check_row(state, subject, at, row).1)
        .collect();
    assert!(errors.is_empty(), "{situation}:\n{}", errors.join("\n"));
}

/// Checks each row in a state of its own, made for that row.
fn check_each_row(
    situation: &str,
    rows: &[Row],
    at: TimeUs,
    mut state_for: impl FnMut(&Row) -> State,
) {
    let mut errors = Vec::new();
    for row in rows {
        let state = state_for(row);
        errors.extend(check_row(&state, "p-1", at, row).1);
    }
    assert!(errors.is_empty(), "{situation}:\n{}", errors.join("\n"));
}

fn assert_every_role(rows: &[Row]) {
    for role in Role::ALL {
        assert!(
            rows.iter().any(|r| r.0 == role),
            "the table has no row for {}",
            role.name()
        );
    }
}

// ------------------------------------------------------------------------------- the tables

/// Each principal with the purpose natural to their role, about p-1, with no grants.
#[rustfmt::skip]
const NO_GRANTS: &[Row] = &[
    //                                                                  CP DN Md HO PD CN CR In AL
    (Role::CareWorker,             "cw-1",   Purpose::DirectCare,      "Y  Y  Y  Y  Y  Y  N  Y  N"),
    (Role::Coordinator,            "co-1",   Purpose::DirectCare,      "Y  Y  Y  Y  Y  Y  Y  Y  N"),
    (Role::RegisteredManager,      "rm-1",   Purpose::DirectCare,      "Y  Y  Y  Y  Y  Y  Y  Y  Y"),
    (Role::ProviderAdmin,          "pa-1",   Purpose::Administration,  "N  N  N  N  Y  Y  Y  N  Y"),
    (Role::Person,                 "p-1",    Purpose::PersonalAccess,  "Y  Y  Y  Y  Y  Y  Y  Y  Y"),
    (Role::Representative,         "fam-1",  Purpose::PersonalAccess,  "N  N  N  N  N  N  N  N  N"),
    (Role::Representative,         "lpa-1",  Purpose::PersonalAccess,  "Y  Y  Y  Y  Y  Y  Y  Y  Y"),
    (Role::Partner,                "dn-1",   Purpose::Handover,        "N  N  N  N  N  N  N  N  N"),
    (Role::MonitoringOfficer,      "mo-1",   Purpose::StatutoryReview, "Y  N  N  N  N  N  Y  Y  N"),
    (Role::SocialCareProfessional, "scp-1",  Purpose::StatutoryReview, "N  N  N  N  N  N  N  N  N"),
    (Role::Auditor,                "aud-1",  Purpose::Audit,           "N  N  N  N  N  N  N  N  Y"),
    (Role::EmergencyClinician,     "para-1", Purpose::Emergency,       "N  N  N  N  N  N  N  N  N"),
    (Role::Family,                 "sis-1",  Purpose::PersonalAccess,  "N  N  N  N  N  N  N  N  N"),
];

/// The same principals and purposes, each holding a grant of daily notes and the access log
/// for that purpose (to them by id, or to their role).
#[rustfmt::skip]
const WITH_GRANT: &[Row] = &[
    //                                                                  CP DN Md HO PD CN CR In AL
    (Role::CareWorker,             "cw-1",   Purpose::DirectCare,      "Y  Y  Y  Y  Y  Y  N  Y  Y"),
    (Role::Coordinator,            "co-1",   Purpose::DirectCare,      "Y  Y  Y  Y  Y  Y  Y  Y  Y"),
    (Role::RegisteredManager,      "rm-1",   Purpose::DirectCare,      "Y  Y  Y  Y  Y  Y  Y  Y  Y"),
    (Role::ProviderAdmin,          "pa-1",   Purpose::Administration,  "N  Y  N  N  Y  Y  Y  N  Y"),
    (Role::Person,                 "p-1",    Purpose::PersonalAccess,  "Y  Y  Y  Y  Y  Y  Y  Y  Y"),
    (Role::Representative,         "fam-1",  Purpose::PersonalAccess,  "N  Y  N  N  N  N  N  N  Y"),
    (Role::Representative,         "lpa-1",  Purpose::PersonalAccess,  "Y  Y  Y  Y  Y  Y  Y  Y  Y"),
    (Role::Partner,                "dn-1",   Purpose::Handover,        "N  Y  N  N  N  N  N  N  Y"),
    (Role::MonitoringOfficer,      "mo-1",   Purpose::StatutoryReview, "Y  Y  N  N  N  N  Y  Y  Y"),
    (Role::SocialCareProfessional, "scp-1",  Purpose::StatutoryReview, "N  Y  N  N  N  N  N  N  Y"),
    (Role::Auditor,                "aud-1",  Purpose::Audit,           "N  Y  N  N  N  N  N  N  Y"),
    (Role::EmergencyClinician,     "para-1", Purpose::Emergency,       "N  Y  N  N  N  N  N  N  Y"),
    (Role::Family,                 "sis-1",  Purpose::PersonalAccess,  "N  Y  N  N  N  N  N  N  Y"),
];

/// Break-glass by para-1 for medicines, unexpired: only para-1's medicines open up.
#[rustfmt::skip]
const EMERGENCY: &[Row] = &[
    //                                                                  CP DN Md HO PD CN CR In AL
    (Role::CareWorker,             "cw-1",   Purpose::DirectCare,      "Y  Y  Y  Y  Y  Y  N  Y  N"),
    (Role::Coordinator,            "co-1",   Purpose::DirectCare,      "Y  Y  Y  Y  Y  Y  Y  Y  N"),
    (Role::RegisteredManager,      "rm-1",   Purpose::DirectCare,      "Y  Y  Y  Y  Y  Y  Y  Y  Y"),
    (Role::ProviderAdmin,          "pa-1",   Purpose::Administration,  "N  N  N  N  Y  Y  Y  N  Y"),
    (Role::Person,                 "p-1",    Purpose::PersonalAccess,  "Y  Y  Y  Y  Y  Y  Y  Y  Y"),
    (Role::Representative,         "fam-1",  Purpose::PersonalAccess,  "N  N  N  N  N  N  N  N  N"),
    (Role::Representative,         "lpa-1",  Purpose::PersonalAccess,  "Y  Y  Y  Y  Y  Y  Y  Y  Y"),
    (Role::Partner,                "dn-1",   Purpose::Handover,        "N  N  N  N  N  N  N  N  N"),
    (Role::MonitoringOfficer,      "mo-1",   Purpose::StatutoryReview, "Y  N  N  N  N  N  Y  Y  N"),
    (Role::SocialCareProfessional, "scp-1",  Purpose::StatutoryReview, "N  N  N  N  N  N  N  N  N"),
    (Role::Auditor,                "aud-1",  Purpose::Audit,           "N  N  N  N  N  N  N  N  Y"),
    (Role::EmergencyClinician,     "para-1", Purpose::Emergency,       "N  N  Y  N  N  N  N  N  N"),
    (Role::Family,                 "sis-1",  Purpose::PersonalAccess,  "N  N  N  N  N  N  N  N  N"),
    // The same clinician for any other purpose, and another clinician.
    (Role::EmergencyClinician,     "para-1", Purpose::DirectCare,      "N  N  N  N  N  N  N  N  N"),
    (Role::EmergencyClinician,     "para-1", Purpose::PersonalAccess,  "N  N  N  N  N  N  N  N  N"),
    (Role::EmergencyClinician,     "para-2", Purpose::Emergency,       "N  N  N  N  N  N  N  N  N"),
];

/// Council officers while req-1 (mo-1's, about p-1: care plan, consent records, incidents) is
/// open.
#[rustfmt::skip]
const COUNCIL_OPEN: &[Row] = &[
    //                                                                  CP DN Md HO PD CN CR In AL
    (Role::MonitoringOfficer,      "mo-1",   Purpose::StatutoryReview, "Y  N  N  N  N  N  Y  Y  N"),
    (Role::MonitoringOfficer,      "mo-1",   Purpose::QualityAssurance,"Y  N  N  N  N  N  Y  Y  N"),
    (Role::MonitoringOfficer,      "mo-1",   Purpose::Audit,           "N  N  N  N  N  N  N  N  N"),
    (Role::MonitoringOfficer,      "mo-1",   Purpose::DirectCare,      "N  N  N  N  N  N  N  N  N"),
    (Role::MonitoringOfficer,      "mo-1",   Purpose::Administration,  "N  N  N  N  N  N  N  N  N"),
    (Role::MonitoringOfficer,      "mo-1",   Purpose::PersonalAccess,  "N  N  N  N  N  N  N  N  N"),
    // Another monitoring officer, and a social care professional, of the same council.
    (Role::MonitoringOfficer,      "mo-2",   Purpose::StatutoryReview, "N  N  N  N  N  N  N  N  N"),
    (Role::MonitoringOfficer,      "mo-2",   Purpose::QualityAssurance,"N  N  N  N  N  N  N  N  N"),
    (Role::SocialCareProfessional, "scp-1",  Purpose::StatutoryReview, "N  N  N  N  N  N  N  N  N"),
    (Role::SocialCareProfessional, "scp-1",  Purpose::QualityAssurance,"N  N  N  N  N  N  N  N  N"),
    // mo-1 claiming another role is not a council officer's request.
    (Role::Auditor,                "mo-1",   Purpose::StatutoryReview, "N  N  N  N  N  N  N  N  N"),
];

/// The same questions once req-1 is responded (or withdrawn): nothing.
#[rustfmt::skip]
const COUNCIL_CLOSED: &[Row] = &[
    //                                                                  CP DN Md HO PD CN CR In AL
    (Role::MonitoringOfficer,      "mo-1",   Purpose::StatutoryReview, "N  N  N  N  N  N  N  N  N"),
    (Role::MonitoringOfficer,      "mo-1",   Purpose::QualityAssurance,"N  N  N  N  N  N  N  N  N"),
    (Role::MonitoringOfficer,      "mo-2",   Purpose::StatutoryReview, "N  N  N  N  N  N  N  N  N"),
    (Role::SocialCareProfessional, "scp-1",  Purpose::StatutoryReview, "N  N  N  N  N  N  N  N  N"),
];

/// Everyone asking about p-2 (who has made no grants and is not named by req-1).
#[rustfmt::skip]
const ABOUT_ANOTHER_PERSON: &[Row] = &[
    //                                                                  CP DN Md HO PD CN CR In AL
    (Role::CareWorker,             "cw-1",   Purpose::DirectCare,      "Y  Y  Y  Y  Y  Y  N  Y  N"),
    (Role::Coordinator,            "co-1",   Purpose::DirectCare,      "Y  Y  Y  Y  Y  Y  Y  Y  N"),
    (Role::RegisteredManager,      "rm-1",   Purpose::DirectCare,      "Y  Y  Y  Y  Y  Y  Y  Y  Y"),
    (Role::ProviderAdmin,          "pa-1",   Purpose::Administration,  "N  N  N  N  Y  Y  Y  N  Y"),
    (Role::Person,                 "p-2",    Purpose::PersonalAccess,  "Y  Y  Y  Y  Y  Y  Y  Y  Y"),
    (Role::Person,                 "p-1",    Purpose::PersonalAccess,  "N  N  N  N  N  N  N  N  N"),
    (Role::Representative,         "fam-2",  Purpose::PersonalAccess,  "N  N  N  N  N  N  N  N  N"),
    (Role::Representative,         "lpa-1",  Purpose::PersonalAccess,  "N  N  N  N  N  N  N  N  N"),
    (Role::Partner,                "dn-1",   Purpose::Handover,        "N  N  N  N  N  N  N  N  N"),
    (Role::MonitoringOfficer,      "mo-1",   Purpose::StatutoryReview, "N  N  N  N  N  N  N  N  N"),
    (Role::SocialCareProfessional, "scp-1",  Purpose::StatutoryReview, "N  N  N  N  N  N  N  N  N"),
    (Role::Auditor,                "aud-1",  Purpose::Audit,           "N  N  N  N  N  N  N  N  Y"),
    (Role::EmergencyClinician,     "para-1", Purpose::Emergency,       "N  N  N  N  N  N  N  N  N"),
    (Role::Family,                 "sis-1",  Purpose::PersonalAccess,  "N  N  N  N  N  N  N  N  N"),
];

/// The person reading their own record: everything, but only for personal access.
#[rustfmt::skip]
const OWN_RECORD: &[Row] = &[
    //                                                                  CP DN Md HO PD CN CR In AL
    (Role::Person,                 "p-1",    Purpose::PersonalAccess,  "Y  Y  Y  Y  Y  Y  Y  Y  Y"),
    (Role::Person,                 "p-1",    Purpose::DirectCare,      "N  N  N  N  N  N  N  N  N"),
    (Role::Person,                 "p-1",    Purpose::Audit,           "N  N  N  N  N  N  N  N  N"),
    (Role::Person,                 "p-2",    Purpose::PersonalAccess,  "N  N  N  N  N  N  N  N  N"),
    // A person's id with a staff role is not staff.
    (Role::RegisteredManager,      "p-1",    Purpose::DirectCare,      "N  N  N  N  N  N  N  N  N"),
];

/// Every staff role with every purpose other than the one natural to it (in
/// [`NO_GRANTS`]): only a registered manager reads for administration and audit too.
#[rustfmt::skip]
const STAFF_PURPOSES: &[Row] = &[
    //                                                                  CP DN Md HO PD CN CR In AL
    (Role::CareWorker,             "cw-1",   Purpose::PersonalAccess,  "N  N  N  N  N  N  N  N  N"),
    (Role::CareWorker,             "cw-1",   Purpose::StatutoryReview, "N  N  N  N  N  N  N  N  N"),
    (Role::CareWorker,             "cw-1",   Purpose::QualityAssurance,"N  N  N  N  N  N  N  N  N"),
    (Role::CareWorker,             "cw-1",   Purpose::Audit,           "N  N  N  N  N  N  N  N  N"),
    (Role::CareWorker,             "cw-1",   Purpose::Emergency,       "N  N  N  N  N  N  N  N  N"),
    (Role::CareWorker,             "cw-1",   Purpose::Handover,        "N  N  N  N  N  N  N  N  N"),
    (Role::CareWorker,             "cw-1",   Purpose::Administration,  "N  N  N  N  N  N  N  N  N"),
    (Role::Coordinator,            "co-1",   Purpose::PersonalAccess,  "N  N  N  N  N  N  N  N  N"),
    (Role::Coordinator,            "co-1",   Purpose::StatutoryReview, "N  N  N  N  N  N  N  N  N"),
    (Role::Coordinator,            "co-1",   Purpose::QualityAssurance,"N  N  N  N  N  N  N  N  N"),
    (Role::Coordinator,            "co-1",   Purpose::Audit,           "N  N  N  N  N  N  N  N  N"),
    (Role::Coordinator,            "co-1",   Purpose::Emergency,       "N  N  N  N  N  N  N  N  N"),
    (Role::Coordinator,            "co-1",   Purpose::Handover,        "N  N  N  N  N  N  N  N  N"),
    (Role::Coordinator,            "co-1",   Purpose::Administration,  "N  N  N  N  N  N  N  N  N"),
    (Role::RegisteredManager,      "rm-1",   Purpose::PersonalAccess,  "N  N  N  N  N  N  N  N  N"),
    (Role::RegisteredManager,      "rm-1",   Purpose::StatutoryReview, "N  N  N  N  N  N  N  N  N"),
    (Role::RegisteredManager,      "rm-1",   Purpose::QualityAssurance,"N  N  N  N  N  N  N  N  N"),
    (Role::RegisteredManager,      "rm-1",   Purpose::Audit,           "Y  Y  Y  Y  Y  Y  Y  Y  Y"),
    (Role::RegisteredManager,      "rm-1",   Purpose::Emergency,       "N  N  N  N  N  N  N  N  N"),
    (Role::RegisteredManager,      "rm-1",   Purpose::Handover,        "N  N  N  N  N  N  N  N  N"),
    (Role::RegisteredManager,      "rm-1",   Purpose::Administration,  "Y  Y  Y  Y  Y  Y  Y  Y  Y"),
    (Role::ProviderAdmin,          "pa-1",   Purpose::DirectCare,      "N  N  N  N  N  N  N  N  N"),
    (Role::ProviderAdmin,          "pa-1",   Purpose::PersonalAccess,  "N  N  N  N  N  N  N  N  N"),
    (Role::ProviderAdmin,          "pa-1",   Purpose::StatutoryReview, "N  N  N  N  N  N  N  N  N"),
    (Role::ProviderAdmin,          "pa-1",   Purpose::QualityAssurance,"N  N  N  N  N  N  N  N  N"),
    (Role::ProviderAdmin,          "pa-1",   Purpose::Audit,           "N  N  N  N  N  N  N  N  N"),
    (Role::ProviderAdmin,          "pa-1",   Purpose::Emergency,       "N  N  N  N  N  N  N  N  N"),
    (Role::ProviderAdmin,          "pa-1",   Purpose::Handover,        "N  N  N  N  N  N  N  N  N"),
];

/// Staff claiming a role other than the one they are registered with, or not registered.
#[rustfmt::skip]
const WRONG_STAFF_ROLE: &[Row] = &[
    //                                                                  CP DN Md HO PD CN CR In AL
    (Role::Coordinator,            "cw-1",   Purpose::DirectCare,      "N  N  N  N  N  N  N  N  N"),
    (Role::RegisteredManager,      "co-1",   Purpose::DirectCare,      "N  N  N  N  N  N  N  N  N"),
    (Role::RegisteredManager,      "pa-1",   Purpose::Administration,  "N  N  N  N  N  N  N  N  N"),
    (Role::ProviderAdmin,          "rm-1",   Purpose::Administration,  "N  N  N  N  N  N  N  N  N"),
    (Role::CareWorker,             "co-1",   Purpose::DirectCare,      "N  N  N  N  N  N  N  N  N"),
    (Role::CareWorker,             "ghost-1",Purpose::DirectCare,      "N  N  N  N  N  N  N  N  N"),
    (Role::Coordinator,            "ghost-1",Purpose::DirectCare,      "N  N  N  N  N  N  N  N  N"),
    (Role::RegisteredManager,      "aud-1",  Purpose::Audit,           "N  N  N  N  N  N  N  N  N"),
    (Role::ProviderAdmin,          "ghost-1",Purpose::Administration,  "N  N  N  N  N  N  N  N  N"),
];

// ------------------------------------------------------------------------------- the tests

#[test]
fn tables_cover_every_role_and_category() {
    for table in [NO_GRANTS, WITH_GRANT, EMERGENCY, ABOUT_ANOTHER_PERSON] {
        assert_every_role(table);
    }
    for table in [
        NO_GRANTS,
        WITH_GRANT,
        EMERGENCY,
        COUNCIL_OPEN,
        COUNCIL_CLOSED,
        ABOUT_ANOTHER_PERSON,
        OWN_RECORD,
        STAFF_PURPOSES,
        WRONG_STAFF_ROLE,
    ] {
        for row in table {
            cells(row);
        }
    }
    // Each staff member of the world asks with every purpose exactly once: their own in
    // NO_GRANTS, every other one in STAFF_PURPOSES.
    let l = world();
    for role in Role::ALL.into_iter().filter(|r| r.is_staff()) {
        for purpose in Purpose::ALL {
            let rows = NO_GRANTS
                .iter()
                .chain(STAFF_PURPOSES)
                .filter(|r| r.0 == role && r.2 == purpose)
                .count();
            assert_eq!(
                rows,
                1,
                "{} for {}: {rows} rows",
                role.name(),
                purpose.name()
            );
        }
    }
    for row in STAFF_PURPOSES {
        assert!(
            l.state.staff.get(row.1).is_some_and(|s| s.role == row.0),
            "STAFF_PURPOSES: {} is not registered as {}",
            row.1,
            row.0.name()
        );
    }
    // Every staff role is claimed by staff registered in another role and by someone the
    // ledger has no staff record of, and no row's claim is the registered one.
    for role in Role::ALL.into_iter().filter(|r| r.is_staff()) {
        let claims = |registered: bool| {
            WRONG_STAFF_ROLE
                .iter()
                .filter(|r| r.0 == role && l.state.staff.get(r.1).is_some() == registered)
                .count()
        };
        assert!(
            claims(true) > 0 && claims(false) > 0,
            "WRONG_STAFF_ROLE: {} is not claimed both by other staff and by a stranger",
            role.name()
        );
    }
    for row in WRONG_STAFF_ROLE {
        assert!(
            row.0.is_staff() && l.state.staff.get(row.1).is_none_or(|s| s.role != row.0),
            "WRONG_STAFF_ROLE: {} is registered as {}",
            row.1,
            row.0.name()
        );
    }
}

#[test]
fn no_grants() {
    let l = world();
    check_matrix("no grants", &l.state, "p-1", TQ, NO_GRANTS);
}

#[test]
fn the_basis_of_each_allowed_category_is_recorded() {
    let l = world();
    let basis = |role, id, purpose| {
        let d = decide(
            &l.state,
            &Principal { id, role },
            "p-1",
            &[Category::CarePlan],
            purpose,
            TQ,
        );
        d.allowed.first().map(|(_, b)| b.clone())
    };
    assert_eq!(
        basis(Role::Person, "p-1", Purpose::PersonalAccess),
        Some(Basis::OwnRecord)
    );
    assert_eq!(
        basis(Role::CareWorker, "cw-1", Purpose::DirectCare),
        Some(Basis::RoleDefault)
    );
    assert_eq!(
        basis(Role::Representative, "lpa-1", Purpose::PersonalAccess),
        Some(Basis::LegalRepresentative)
    );
    assert_eq!(
        basis(Role::MonitoringOfficer, "mo-1", Purpose::QualityAssurance),
        Some(Basis::CouncilRequest {
            request_id: "req-1".into()
        })
    );
    assert_eq!(
        basis(Role::Representative, "fam-1", Purpose::PersonalAccess),
        None
    );
}

#[test]
fn grant_to_the_principal() {
    assert_every_role(WITH_GRANT);
    check_each_row("a grant to the principal", WITH_GRANT, TQ, |row| {
        let mut l = world();
        l.grant("g-1", Grantee::Principal(row.1.into()), row.2, None);
        l.state
    });
}

#[test]
fn a_grant_opens_only_for_its_purpose() {
    // For every other purpose, a principal holding a grant sees exactly what they would
    // without it.
    let mut errors = Vec::new();
    for row in NO_GRANTS {
        let (role, id, granted_purpose, _) = *row;
        let without = world();
        let mut with = world();
        with.grant("g-1", Grantee::Principal(id.into()), granted_purpose, None);
        for purpose in Purpose::ALL.into_iter().filter(|p| *p != granted_purpose) {
            let ask = |state: &State| {
                decide(
                    state,
                    &Principal { id, role },
                    "p-1",
                    &Category::ALL,
                    purpose,
                    TQ,
                )
            };
            if ask(&with.state) != ask(&without.state) {
                errors.push(format!(
                    "{} {id}: a grant for {} changed a read for {}",
                    role.name(),
                    granted_purpose.name(),
                    purpose.name()
                ));
            }
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn grant_basis_names_the_grant() {
    let mut l = world();
    l.grant(
        "g-fam",
        Grantee::Principal("fam-1".into()),
        Purpose::PersonalAccess,
        None,
    );
    let d = decide(
        &l.state,
        &Principal {
            id: "fam-1",
            role: Role::Representative,
        },
        "p-1",
        &[Category::DailyNotes],
        Purpose::PersonalAccess,
        TQ,
    );
    assert_eq!(
        d.allowed,
        vec![(
            Category::DailyNotes,
            Basis::Grant {
                grant_id: "g-fam".into()
            }
        )]
    );
    assert!(d.is_allowed());
    assert!(!d.flagged());
    // Not before the grant was made.
    let before = decide(
        &l.state,
        &Principal {
            id: "fam-1",
            role: Role::Representative,
        },
        "p-1",
        &[Category::DailyNotes],
        Purpose::PersonalAccess,
        T_DECISION - 1,
    );
    assert!(before.allowed.is_empty());
}

#[test]
fn grant_to_a_role() {
    // Family and carers have no register in the ledger: a grant to their role opens
    // nothing (ROLE_GRANT_OTHERS), only one naming them does.
    let rows: Vec<Row> = WITH_GRANT
        .iter()
        .filter(|r| r.0 != Role::Family)
        .copied()
        .collect();
    check_each_row("a grant to the principal's role", &rows, TQ, |row| {
        let mut l = world();
        l.grant("g-role", Grantee::Role(row.0), row.2, None);
        l.state
    });
}

/// What a grant to a role gives principals who hold that role only by claim.
#[rustfmt::skip]
const ROLE_GRANT_OTHERS: &[Row] = &[
    //                                                                  CP DN Md HO PD CN CR In AL
    // p-2 is a person, but a grant to "the person" role is not p-2 reading p-1's record.
    (Role::Person,                 "p-2",    Purpose::PersonalAccess,  "N  N  N  N  N  N  N  N  N"),
    // fam-2 represents p-2, not p-1: a grant to p-1's representatives is not for them.
    (Role::Representative,         "fam-2",  Purpose::PersonalAccess,  "N  N  N  N  N  N  N  N  N"),
    // A representative id the ledger does not know at all.
    (Role::Representative,         "stranger",Purpose::PersonalAccess, "N  N  N  N  N  N  N  N  N"),
    // cw-1 is registered as a care worker, not a coordinator.
    (Role::Coordinator,            "cw-1",   Purpose::DirectCare,      "N  N  N  N  N  N  N  N  N"),
    // Not a registered partner.
    (Role::Partner,                "dc-9",   Purpose::Handover,        "N  N  N  N  N  N  N  N  N"),
    // Council officers, auditors and clinicians have no register in the ledger: the role is
    // what the grant names.
    (Role::SocialCareProfessional, "scp-2",  Purpose::StatutoryReview, "N  Y  N  N  N  N  N  N  Y"),
    (Role::Auditor,                "aud-2",  Purpose::Audit,           "N  Y  N  N  N  N  N  N  Y"),
    // A grant to "family and carers" would reach every family member of every person.
    (Role::Family,                 "sis-1",  Purpose::PersonalAccess,  "N  N  N  N  N  N  N  N  N"),
];

#[test]
fn grant_to_a_role_is_for_principals_the_ledger_knows_in_that_role() {
    check_each_row(
        "a grant to a role, asked by others claiming it",
        ROLE_GRANT_OTHERS,
        TQ,
        |row| {
            let mut l = world();
            l.grant("g-role", Grantee::Role(row.0), row.2, None);
            l.state
        },
    );
}

#[test]
fn expired_grant() {
    let expiry = TQ + HOUR_US;
    let grant = |row: &Row| {
        let mut l = world();
        l.grant("g-1", Grantee::Principal(row.1.into()), row.2, Some(expiry));
        l.state
    };
    check_each_row("a grant before its expiry", WITH_GRANT, expiry - 1, grant);
    check_each_row("a grant at its expiry", NO_GRANTS, expiry, grant);
    check_each_row(
        "a grant after its expiry",
        NO_GRANTS,
        expiry + DAY_US,
        grant,
    );
    // The same for a grant to a role.
    let role_grant = |row: &Row| {
        let mut l = world();
        l.grant("g-1", Grantee::Role(row.0), row.2, Some(expiry));
        l.state
    };
    // (Family and carers get nothing from a grant to their role: ROLE_GRANT_OTHERS.)
    let role_rows: Vec<Row> = WITH_GRANT
        .iter()
        .filter(|r| r.0 != Role::Family)
        .copied()
        .collect();
    check_each_row(
        "a role grant before its expiry",
        &role_rows,
        expiry - 1,
        role_grant,
    );
    check_each_row(
        "a role grant after its expiry",
        NO_GRANTS,
        expiry + 1,
        role_grant,
    );
}

#[test]
fn revoked_grant() {
    let revoke_g1 = |l: &mut Ledger, by: &str, basis: CapacityBasis| {
        l.at(
            T_DECISION + MINUTE_US,
            by,
            Some("p-1"),
            revoke("g-1", by, basis),
        );
    };
    check_each_row("a grant revoked by the person", NO_GRANTS, TQ, |row| {
        let mut l = world();
        l.grant("g-1", Grantee::Principal(row.1.into()), row.2, None);
        revoke_g1(&mut l, "p-1", CapacityBasis::PersonHasCapacity);
        l.state
    });
    check_each_row(
        "a role grant revoked by the attorney",
        NO_GRANTS,
        TQ,
        |row| {
            let mut l = world();
            l.grant("g-1", Grantee::Role(row.0), row.2, None);
            revoke_g1(&mut l, "lpa-1", CapacityBasis::LastingPowerOfAttorney);
            l.state
        },
    );
    // A family member without legal authority cannot revoke (or grant) for the person.
    let mut l = world();
    l.grant(
        "g-1",
        Grantee::Principal("dn-1".into()),
        Purpose::Handover,
        None,
    );
    let refused = l.try_at(
        T_DECISION + MINUTE_US,
        "fam-1",
        Some("p-1"),
        &revoke("g-1", "fam-1", CapacityBasis::LastingPowerOfAttorney),
    );
    assert!(
        matches!(refused, Err(RuleError::NoAuthority { .. })),
        "{refused:?}"
    );
}

fn break_glass(l: &mut Ledger, expires: TimeUs) {
    l.at(
        T_DECISION,
        "para-1",
        Some("p-1"),
        emergency(&[Category::Medicines], expires),
    );
}

#[test]
fn emergency_access() {
    let expiry = T_DECISION + 4 * HOUR_US;
    let mut l = world();
    break_glass(&mut l, expiry);
    assert_every_role(EMERGENCY);
    check_matrix("break-glass, unexpired", &l.state, "p-1", TQ, EMERGENCY);
    check_matrix(
        "break-glass, just before expiry",
        &l.state,
        "p-1",
        expiry - 1,
        EMERGENCY,
    );

    // Only a decision resting on break-glass is flagged for review.
    for row in EMERGENCY {
        let (d, _) = check_row(&l.state, "p-1", TQ, row);
        let is_break_glass = row.1 == "para-1" && row.2 == Purpose::Emergency;
        assert_eq!(d.flagged(), is_break_glass, "{} {}", row.1, row.2.name());
        if is_break_glass {
            assert!(matches!(
                d.allowed.as_slice(),
                [(Category::Medicines, Basis::Emergency { .. })]
            ));
            // Asked for medicines alone, the read is allowed, and flagged.
            let only = decide(
                &l.state,
                &Principal {
                    id: "para-1",
                    role: Role::EmergencyClinician,
                },
                "p-1",
                &[Category::Medicines],
                Purpose::Emergency,
                TQ,
            );
            assert!(only.is_allowed() && only.flagged());
        }
    }

    // At and after the expiry, nothing.
    #[rustfmt::skip]
    const EXPIRED: &[Row] = &[
        //                                                              CP DN Md HO PD CN CR In AL
        (Role::EmergencyClinician, "para-1", Purpose::Emergency,       "N  N  N  N  N  N  N  N  N"),
    ];
    check_matrix("break-glass at expiry", &l.state, "p-1", expiry, EXPIRED);
    check_matrix(
        "break-glass after expiry",
        &l.state,
        "p-1",
        expiry + HOUR_US,
        EXPIRED,
    );
    check_matrix("break-glass, not on p-2", &l.state, "p-2", TQ, EXPIRED);
}

#[test]
fn break_glass_covers_medicines_only_and_at_most_12_hours() {
    let mut l = world();
    let mut declare = |categories: Vec<Category>, expires: TimeUs| {
        l.try_at(
            T_DECISION,
            "para-1",
            Some("p-1"),
            &emergency(&categories, expires),
        )
    };
    assert!(matches!(
        declare(
            vec![Category::Medicines, Category::DailyNotes],
            T_DECISION + HOUR_US
        ),
        Err(RuleError::EmergencyCategory { .. })
    ));
    assert!(matches!(
        declare(vec![Category::Medicines], T_DECISION + 13 * HOUR_US),
        Err(RuleError::EmergencyTooLong)
    ));
    assert!(matches!(
        declare(vec![Category::Medicines], T_DECISION),
        Err(RuleError::ExpiryInPast)
    ));
}

#[test]
fn council_request() {
    let l = world();
    check_matrix("an open council request", &l.state, "p-1", TQ, COUNCIL_OPEN);
    // Not about p-2, whom the request does not name.
    check_matrix(
        "an open council request, asked about another person",
        &l.state,
        "p-2",
        TQ,
        COUNCIL_CLOSED,
    );

    let mut responded = world();
    responded.at(TQ - MINUTE_US, "rm-1", None, common::responded("req-1"));
    check_matrix(
        "a responded council request",
        &responded.state,
        "p-1",
        TQ,
        COUNCIL_CLOSED,
    );

    let mut withdrawn = world();
    withdrawn.at(
        TQ - MINUTE_US,
        "rm-1",
        None,
        common::withdrawn("req-1", "review postponed"),
    );
    check_matrix(
        "a withdrawn council request",
        &withdrawn.state,
        "p-1",
        TQ,
        COUNCIL_CLOSED,
    );

    // Acknowledging keeps it open.
    let mut acknowledged = world();
    acknowledged.at(TQ - MINUTE_US, "rm-1", None, common::acknowledged("req-1"));
    check_matrix(
        "an acknowledged council request",
        &acknowledged.state,
        "p-1",
        TQ,
        COUNCIL_OPEN,
    );
}

#[test]
fn own_record_and_another_persons() {
    let l = world();
    check_matrix("the person's own record", &l.state, "p-1", TQ, OWN_RECORD);
    assert_every_role(ABOUT_ANOTHER_PERSON);
    check_matrix(
        "about another person",
        &l.state,
        "p-2",
        TQ,
        ABOUT_ANOTHER_PERSON,
    );
}

#[test]
fn staff_purposes() {
    let l = world();
    check_matrix("staff, other purposes", &l.state, "p-1", TQ, STAFF_PURPOSES);
}

#[test]
fn claimed_staff_role_must_be_the_registered_one() {
    let l = world();
    check_matrix(
        "a claimed role that is not the registered one",
        &l.state,
        "p-1",
        TQ,
        WRONG_STAFF_ROLE,
    );
    // A grant to the claimed role does not change that.
    let mut granted = world();
    granted.grant(
        "g-co",
        Grantee::Role(Role::Coordinator),
        Purpose::DirectCare,
        None,
    );
    check_matrix(
        "a claimed role that is not the registered one, with a grant to that role",
        &granted.state,
        "p-1",
        TQ,
        WRONG_STAFF_ROLE,
    );
}

#[test]
fn a_person_who_is_not_registered() {
    let l = world();
    let d = decide(
        &l.state,
        &Principal {
            id: "rm-1",
            role: Role::RegisteredManager,
        },
        "p-404",
        &Category::ALL,
        Purpose::DirectCare,
        TQ,
    );
    assert!(d.allowed.is_empty());
    assert_eq!(d.refused.len(), Category::ALL.len());
    for (c, reason) in &d.refused {
        assert!(reason.contains("p-404 is not registered"), "{reason}");
        assert!(
            reason.contains("registered manager") && reason.contains(c.name()),
            "{reason}"
        );
    }
}

// ------------------------------------------------------------------------ refusal wording

/// The reason `decide` gives for refusing `category` to `principal` about p-1 at `at`.
fn refusal(
    state: &State,
    id: &str,
    role: Role,
    category: Category,
    purpose: Purpose,
    at: TimeUs,
) -> String {
    let d = decide(
        state,
        &Principal { id, role },
        "p-1",
        &[category],
        purpose,
        at,
    );
    assert!(d.allowed.is_empty(), "{id} was allowed {}", category.name());
    d.refused[0].1.clone()
}

#[test]
fn refusals_name_the_role_with_the_right_article() {
    let l = world();
    for (id, role, phrase) in [
        ("aud-1", Role::Auditor, "an auditor has no access"),
        (
            "para-2",
            Role::EmergencyClinician,
            "an emergency clinician has no access",
        ),
        (
            "mo-2",
            Role::MonitoringOfficer,
            "a monitoring officer has no access",
        ),
    ] {
        let reason = refusal(
            &l.state,
            id,
            role,
            Category::DailyNotes,
            Purpose::Handover,
            TQ,
        );
        assert!(reason.starts_with(phrase), "{reason}");
    }
    // Staff whose claimed role is not their registered one.
    let reason = refusal(
        &l.state,
        "cw-1",
        Role::ProviderAdmin,
        Category::AccessLog,
        Purpose::Administration,
        TQ,
    );
    assert!(
        reason.contains("cw-1 is not registered as a provider admin"),
        "{reason}"
    );
    // About someone not registered: "asked by an auditor", "asked by the person".
    for (id, role, phrase) in [
        ("aud-1", Role::Auditor, "(asked by an auditor)"),
        ("p-1", Role::Person, "(asked by the person)"),
    ] {
        let d = decide(
            &l.state,
            &Principal { id, role },
            "p-404",
            &[Category::CarePlan],
            Purpose::Audit,
            TQ,
        );
        assert!(d.refused[0].1.ends_with(phrase), "{:?}", d.refused);
    }
}

#[test]
fn a_refusal_says_when_a_grant_was_revoked() {
    let mut l = world();
    l.grant(
        "g-12",
        Grantee::Principal("dn-1".into()),
        Purpose::Handover,
        None,
    );
    // T_DECISION + 1 minute: 2025-01-06T10:31:00Z.
    l.at(
        T_DECISION + MINUTE_US,
        "p-1",
        Some("p-1"),
        revoke("g-12", "p-1", CapacityBasis::PersonHasCapacity),
    );
    let reason = refusal(
        &l.state,
        "dn-1",
        Role::Partner,
        Category::DailyNotes,
        Purpose::Handover,
        TQ,
    );
    assert_eq!(
        reason,
        "a partner has no access to daily notes for handover; grant g-12 was revoked at 2025-01-06T10:31:00Z"
    );
    // A grant to their role, revoked, is theirs too.
    let mut l = world();
    l.grant("g-r", Grantee::Role(Role::Auditor), Purpose::Audit, None);
    l.at(
        T_DECISION + MINUTE_US,
        "p-1",
        Some("p-1"),
        revoke("g-r", "p-1", CapacityBasis::PersonHasCapacity),
    );
    let reason = refusal(
        &l.state,
        "aud-1",
        Role::Auditor,
        Category::DailyNotes,
        Purpose::Audit,
        TQ,
    );
    assert!(
        reason.ends_with("; grant g-r was revoked at 2025-01-06T10:31:00Z"),
        "{reason}"
    );
    // Someone else's revoked grant, or one for another purpose, is not mentioned.
    let reason = refusal(
        &l.state,
        "dn-1",
        Role::Partner,
        Category::DailyNotes,
        Purpose::Handover,
        TQ,
    );
    assert_eq!(
        reason,
        "a partner has no access to daily notes for handover"
    );
    let reason = refusal(
        &l.state,
        "aud-1",
        Role::Auditor,
        Category::DailyNotes,
        Purpose::Handover,
        TQ,
    );
    assert_eq!(
        reason,
        "an auditor has no access to daily notes for handover"
    );
}

#[test]
fn a_refusal_says_when_a_grant_expired() {
    let mut l = world();
    // TQ + 1 hour: 2025-01-06T12:00:00Z.
    let expiry = TQ + HOUR_US;
    l.grant(
        "g-7",
        Grantee::Principal("dn-1".into()),
        Purpose::Handover,
        Some(expiry),
    );
    let reason = refusal(
        &l.state,
        "dn-1",
        Role::Partner,
        Category::AccessLog,
        Purpose::Handover,
        expiry + DAY_US,
    );
    assert_eq!(
        reason,
        "a partner has no access to access log for handover; grant g-7 expired at 2025-01-06T12:00:00Z"
    );
    // Before the expiry it still gives access; a category it never gave says nothing of it.
    let reason = refusal(
        &l.state,
        "dn-1",
        Role::Partner,
        Category::CarePlan,
        Purpose::Handover,
        expiry + DAY_US,
    );
    assert_eq!(reason, "a partner has no access to care plan for handover");
}

#[test]
fn an_emergency_clinician_is_told_how_to_get_access() {
    const HINT: &str =
        "break-glass emergency access is needed: record an emergency access with a reason first";
    let l = world();
    let reason = refusal(
        &l.state,
        "para-1",
        Role::EmergencyClinician,
        Category::Medicines,
        Purpose::Emergency,
        TQ,
    );
    assert_eq!(
        reason,
        format!(
            "an emergency clinician has no access to medicines and allergies for emergency; {HINT}"
        )
    );
    // Break-glass gives medicines only, and only for the emergency purpose.
    let reason = refusal(
        &l.state,
        "para-1",
        Role::EmergencyClinician,
        Category::CarePlan,
        Purpose::Emergency,
        TQ,
    );
    assert!(
        reason.ends_with("; break-glass emergency access covers medicines and allergies only"),
        "{reason}"
    );
    let reason = refusal(
        &l.state,
        "para-1",
        Role::EmergencyClinician,
        Category::Medicines,
        Purpose::DirectCare,
        TQ,
    );
    assert!(
        reason.ends_with(
            "; break-glass emergency access gives medicines and allergies for the emergency purpose only"
        ),
        "{reason}"
    );
    // After break-glass expired, the reason says when, and that a new one is needed.
    let mut l = world();
    let expiry = T_DECISION + HOUR_US;
    break_glass(&mut l, expiry);
    let reason = refusal(
        &l.state,
        "para-1",
        Role::EmergencyClinician,
        Category::Medicines,
        Purpose::Emergency,
        expiry,
    );
    assert!(
        reason.contains(
            "expired at 2025-01-06T11:30:00Z: record a new emergency access with a reason first"
        ),
        "{reason}"
    );
    // Other roles get no hint.
    let reason = refusal(
        &l.state,
        "fam-1",
        Role::Representative,
        Category::Medicines,
        Purpose::Emergency,
        TQ,
    );
    assert_eq!(
        reason,
        "a representative has no access to medicines and allergies for emergency"
    );
}
