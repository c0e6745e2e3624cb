//! Who may read which categories of a person's record, for what purpose, at what time.
//!
//! [`decide`] is a pure function of the projected state (grants, representatives, emergency
//! access, council requests), the principal, the person, the categories, the purpose and
//! the time. The access gate asks it before every read and records its answer.
//!
//! The rules, in order:
//! 1. The person sees every category of their own record, for personal access, free (R7).
//! 2. Staff see what their role needs, for direct care (care workers: the care categories;
//!    coordinators add consent records; registered managers everything; provider admins
//!    personal details, communication needs, consent records and the access log).
//!    Managers and admins may also read for administration.
//! 3. An attorney (LPA health and welfare) or deputy with evidence of authority reads as the
//!    person does.
//! 4. Auditors read the access log, for audit.
//! 5. A council officer reads the categories of an open council request that names the
//!    person and was made by them, for statutory review or quality assurance (R11).
//! 6. Anyone reads what an unexpired, unrevoked grant gives them (to them by id, or to their
//!    role), for the grant's purpose (R10). A grant to a role reaches only principals the
//!    ledger knows in it, where it keeps a register: staff registered in that role, the
//!    person's own representatives, registered partners.
//! 7. Emergency access (break-glass) gives medicines and allergies only, until it expires,
//!    for the emergency purpose; it is flagged for review.
//!
//! Everything else is refused, and the refusal names the reason: the role and category, a
//! grant that would have allowed it but was revoked or has expired (its id, and when, in
//! RFC 3339 UTC: the revocation's occurred-at), and, to an emergency clinician, what
//! break-glass gives and that it must be recorded, with a reason, first.

use crate::state::{format_rfc3339, Grant, PersonState, State};
use crate::types::*;

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal<'a> {
    pub id: &'a str,
    pub role: Role,
}

pub use crate::types::Basis;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    pub allowed: Vec<(Category, Basis)>,
    pub refused: Vec<(Category, String)>,
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        self.refused.is_empty() && !self.allowed.is_empty()
    }

    /// Any category was allowed by break-glass: the read is flagged for review.
    pub fn flagged(&self) -> bool {
        self.allowed
            .iter()
            .any(|(_, b)| matches!(b, Basis::Emergency { .. }))
    }
}

/// What a staff role sees by default, for direct care.
pub fn role_default(role: Role, category: Category, purpose: Purpose) -> bool {
    use Category::*;
    match role {
        Role::CareWorker => {
            purpose == Purpose::DirectCare
                && matches!(
                    category,
                    CarePlan
                        | DailyNotes
                        | Medicines
                        | HealthObservations
                        | PersonalDetails
                        | CommunicationNeeds
                        | Incidents
                )
        }
        Role::Coordinator => purpose == Purpose::DirectCare && !matches!(category, AccessLog),
        Role::RegisteredManager => {
            matches!(
                purpose,
                Purpose::DirectCare | Purpose::Administration | Purpose::Audit
            )
        }
        Role::ProviderAdmin => {
            matches!(purpose, Purpose::Administration)
                && matches!(
                    category,
                    PersonalDetails | CommunicationNeeds | ConsentRecords | AccessLog
                )
        }
        Role::Auditor => purpose == Purpose::Audit && category == AccessLog,
        _ => false,
    }
}

/// Decides, category by category.
pub fn decide(
    state: &State,
    principal: &Principal<'_>,
    person_id: &str,
    categories: &[Category],
    purpose: Purpose,
    at_us: TimeUs,
) -> Decision {
    let mut decision = Decision::default();
    let Some(person) = state.person(person_id) else {
        for c in categories {
            decision.refused.push((
                *c,
                format!(
                    "{person_id} is not registered: no one has access to {} for {} (asked by {})",
                    c.name(),
                    purpose.name(),
                    principal.role.with_article()
                ),
            ));
        }
        return decision;
    };
    // Roles come from authentication; where the ledger keeps a register of a role (staff,
    // the person's representatives, partners), it must also know the principal in it, for
    // role defaults and for grants to the role alike.
    let known_in_role = match principal.role {
        r if r.is_staff() => state.staff.get(principal.id).is_some_and(|s| s.role == r),
        Role::Representative => person.representatives.contains_key(principal.id),
        Role::Partner => state.partners.contains(principal.id),
        // The ledger keeps no register of family and carers: a grant to the role would
        // reach every family member of every person. Only grants naming them count.
        Role::Family => false,
        _ => true,
    };
    let to_them = |grant: &Grant| match &grant.grantee {
        Grantee::Principal(p) => p == principal.id,
        Grantee::Role(r) => *r == principal.role && known_in_role,
    };
    for &category in categories {
        let basis = (|| {
            if principal.role == Role::Person {
                return (principal.id == person_id && purpose == Purpose::PersonalAccess)
                    .then_some(Basis::OwnRecord);
            }
            if principal.role.is_staff()
                && known_in_role
                && role_default(principal.role, category, purpose)
            {
                return Some(Basis::RoleDefault);
            }
            if principal.role == Role::Auditor && role_default(Role::Auditor, category, purpose) {
                return Some(Basis::RoleDefault);
            }
            if principal.role == Role::Representative && purpose == Purpose::PersonalAccess {
                let legal = person.representatives.get(principal.id).is_some_and(|r| {
                    r.relationship.has_legal_authority() && r.evidence_of_authority.is_some()
                });
                if legal {
                    return Some(Basis::LegalRepresentative);
                }
            }
            if principal.role.is_council()
                && matches!(
                    purpose,
                    Purpose::StatutoryReview | Purpose::QualityAssurance
                )
            {
                for id in &person.open_requests {
                    let covers = state.requests.get(id).is_some_and(|r| {
                        r.requester == principal.id
                            && !r.status.is_closed()
                            && r.categories.contains(&category)
                    });
                    if covers {
                        return Some(Basis::CouncilRequest {
                            request_id: id.clone(),
                        });
                    }
                }
            }
            for (id, grant) in &person.grants {
                if to_them(grant)
                    && grant.revoked.is_none()
                    && grant.expires_at_us.is_none_or(|t| at_us < t)
                    && grant.purpose == purpose
                    && grant.categories.contains(&category)
                    && at_us
                        >= grant
                            .granted
                            .recorded_at_us
                            .min(grant.granted.occurred_at_us)
                {
                    return Some(Basis::Grant {
                        grant_id: id.clone(),
                    });
                }
            }
            if purpose == Purpose::Emergency && category == Category::Medicines {
                for e in person.emergencies.iter().rev() {
                    if e.principal == principal.id
                        && e.role == principal.role
                        && at_us < e.expires_at_us
                    {
                        return Some(Basis::Emergency { seq: e.stamp.seq });
                    }
                }
            }
            None
        })();
        match basis {
            Some(b) => decision.allowed.push((category, b)),
            None => decision.refused.push((category, {
                let mut reason = match principal.role {
                    Role::Person if principal.id == person_id => format!(
                        "the person reads their own {} for personal access, not for {}",
                        category.name(),
                        purpose.name()
                    ),
                    Role::Person => format!(
                        "the person {} has no grant to see {person_id}'s {} for {}",
                        principal.id,
                        category.name(),
                        purpose.name()
                    ),
                    role if role.is_staff() && !known_in_role => format!(
                        "{} is not registered as {} in this ledger, so has no access to {} for {}",
                        principal.id,
                        role.with_article(),
                        category.name(),
                        purpose.name()
                    ),
                    role => format!(
                        "{} has no access to {} for {}",
                        role.with_article(),
                        category.name(),
                        purpose.name()
                    ),
                };
                if let Some(ended) = ended_grant(person, &to_them, category, purpose, at_us) {
                    reason.push_str("; ");
                    reason.push_str(&ended);
                }
                if principal.role == Role::EmergencyClinician {
                    reason.push_str("; ");
                    reason.push_str(&emergency_hint(
                        person,
                        principal.id,
                        category,
                        purpose,
                        at_us,
                    ));
                }
                reason
            })),
        }
    }
    decision
}

/// The grant that would have given `category` for `purpose` had it not been revoked or
/// expired by `at_us`, said with its id and when it ended (the latest such grant).
fn ended_grant(
    person: &PersonState,
    to_them: &impl Fn(&Grant) -> bool,
    category: Category,
    purpose: Purpose,
    at_us: TimeUs,
) -> Option<String> {
    person
        .grants
        .iter()
        .filter(|(_, g)| to_them(g) && g.purpose == purpose && g.categories.contains(&category))
        .filter_map(|(id, g)| {
            // Whichever came first ended it: the revocation, or the expiry if it has come.
            let expired = g.expires_at_us.filter(|&t| t <= at_us);
            let end = match (g.revoked, expired) {
                (Some(r), Some(t)) if t <= r.occurred_at_us => (t, false),
                (Some(r), _) => (r.occurred_at_us, true),
                (None, Some(t)) => (t, false),
                (None, None) => return None,
            };
            Some((end, id))
        })
        .max()
        .map(|((t, revoked), id)| {
            let at = format_rfc3339(t);
            if revoked {
                format!("grant {id} was revoked at {at}")
            } else {
                format!("grant {id} expired at {at}")
            }
        })
}

/// How an emergency clinician refused `category` for `purpose` gets access: break-glass
/// gives medicines and allergies, for the emergency purpose, until it expires.
fn emergency_hint(
    person: &PersonState,
    principal_id: &str,
    category: Category,
    purpose: Purpose,
    at_us: TimeUs,
) -> String {
    if category != Category::Medicines {
        return format!(
            "break-glass emergency access covers {} only",
            Category::Medicines.name()
        );
    }
    if purpose != Purpose::Emergency {
        return format!(
            "break-glass emergency access gives {} for the {} purpose only",
            Category::Medicines.name(),
            Purpose::Emergency.name()
        );
    }
    let expired = person.emergencies.iter().rev().find(|e| {
        e.principal == principal_id
            && e.role == Role::EmergencyClinician
            && e.expires_at_us <= at_us
    });
    match expired {
        Some(e) => format!(
            "the emergency access of event {} expired at {}: record a new emergency access with a reason first",
            e.stamp.seq,
            format_rfc3339(e.expires_at_us)
        ),
        None => "break-glass emergency access is needed: record an emergency access with a reason first"
            .to_string(),
    }
}

/// Who may record which kind of event (the write side of the policy). The care rules then
/// check the event itself (authority to decide, registered staff, open visits...); this
/// table only says which roles may ask at all. Access events (`access.read`,
/// `access.refused`) are written only by the access gate, SLA events only by the timer task,
/// and a failed email (`email.failed`) only by the service's sender, so no role records
/// them directly.
pub fn may_record(role: Role, kind: &str) -> bool {
    const CARE_WORKER: &[&str] = &[
        "visit.started",
        "visit.completed",
        "task.recorded",
        "diary.note",
        "incident.recorded",
        "observation.recorded",
        "mar.administration",
        "handover.sent",
        "handover.received",
        "paper.copy_placed",
        "outage.back_entered",
    ];
    const COORDINATOR: &[&str] = &[
        "person.registered",
        "care.started",
        "care.ended",
        "representative.linked",
        "careplan.published",
        "careplan.reviewed",
        "mar.medicine_added",
        "mar.medicine_stopped",
        "choices.discussed",
        "paper.declined",
        "email.delivered",
        "email.address_recorded",
        "ais.needs_recorded",
        "ais.needs_reviewed",
        "access.granted",
        "access.revoked",
        "sharing.consent",
    ];
    const ORGANISATION: &[&str] = &[
        "staff.registered",
        "partner.registered",
        "request.received",
        "request.acknowledged",
        "request.responded",
        "request.withdrawn",
        "outage.declared",
        "outage.ended",
        "guide.published",
    ];
    const PROVIDER_ADMIN: &[&str] = &[
        "person.registered",
        "representative.linked",
        "email.delivered",
        "email.address_recorded",
        "paper.copy_placed",
    ];
    const PERSON: &[&str] = &[
        "diary.note",
        "access.granted",
        "access.revoked",
        "sharing.consent",
        "paper.declined",
        "ais.needs_recorded",
        "email.address_recorded",
    ];
    const REPRESENTATIVE: &[&str] = &[
        "diary.note",
        "access.granted",
        "access.revoked",
        "sharing.consent",
        "paper.declined",
        "email.address_recorded",
    ];
    // A council request opens the named people's records to its officer (rule 5 of
    // `decide`), so the provider records its receipt, not the officer: an officer cannot
    // open records to themselves.
    const COUNCIL: &[&str] = &["request.withdrawn"];
    const CLINICIAN: &[&str] = &["access.emergency"];
    // A partner hands over to the provider about people who agreed to share with them
    // (the API checks that it names them, and the consent).
    const PARTNER: &[&str] = &["handover.received"];
    // Reviewing break-glass is the registered manager's duty, not delegated.
    const REVIEWER: &[&str] = &["access.emergency_reviewed"];
    let lists: &[&[&str]] = match role {
        Role::CareWorker => &[CARE_WORKER],
        Role::Coordinator => &[CARE_WORKER, COORDINATOR],
        Role::RegisteredManager => &[CARE_WORKER, COORDINATOR, ORGANISATION, REVIEWER],
        Role::ProviderAdmin => &[PROVIDER_ADMIN, ORGANISATION],
        Role::Person => &[PERSON],
        Role::Representative => &[REPRESENTATIVE],
        Role::MonitoringOfficer | Role::SocialCareProfessional => &[COUNCIL],
        Role::EmergencyClinician => &[CLINICIAN],
        Role::Partner => &[PARTNER],
        Role::Auditor | Role::Family => &[],
    };
    lists.iter().any(|list| list.contains(&kind))
}
