//! The shared vocabulary: roles, categories of information, purposes, formats.
//!
//! Every enum here is part of stored payloads: variants are encoded by position, so new
//! variants go at the end and none is ever removed or reordered (the stored samples in
//! `tests/samples` fail if one is).

use serde::{Deserialize, Serialize};

/// Microseconds since the Unix epoch, UTC (the envelope's unit).
pub type TimeUs = i64;

pub const MINUTE_US: i64 = 60 * 1_000_000;
pub const HOUR_US: i64 = 60 * MINUTE_US;
pub const DAY_US: i64 = 24 * HOUR_US;

/// Who is asking: the principal roles of DESIGN.md, Access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    CareWorker,
    Coordinator,
    RegisteredManager,
    ProviderAdmin,
    /// The person the record is about.
    Person,
    Representative,
    Partner,
    MonitoringOfficer,
    SocialCareProfessional,
    Auditor,
    EmergencyClinician,
    /// A family member or carer who is not a legal representative: sees only what the
    /// person's grants let them see, and records nothing on the person's behalf.
    Family,
}

impl Role {
    pub const ALL: [Role; 12] = [
        Role::CareWorker,
        Role::Coordinator,
        Role::RegisteredManager,
        Role::ProviderAdmin,
        Role::Person,
        Role::Representative,
        Role::Partner,
        Role::MonitoringOfficer,
        Role::SocialCareProfessional,
        Role::Auditor,
        Role::EmergencyClinician,
        Role::Family,
    ];

    /// Roles held by the provider's own staff.
    pub fn is_staff(self) -> bool {
        matches!(
            self,
            Role::CareWorker | Role::Coordinator | Role::RegisteredManager | Role::ProviderAdmin
        )
    }

    pub fn is_council(self) -> bool {
        matches!(self, Role::MonitoringOfficer | Role::SocialCareProfessional)
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::CareWorker => "care worker",
            Role::Coordinator => "coordinator",
            Role::RegisteredManager => "registered manager",
            Role::ProviderAdmin => "provider admin",
            Role::Person => "the person",
            Role::Representative => "representative",
            Role::Partner => "partner",
            Role::MonitoringOfficer => "monitoring officer",
            Role::SocialCareProfessional => "social care professional",
            Role::Auditor => "auditor",
            Role::EmergencyClinician => "emergency clinician",
            Role::Family => "family member or carer",
        }
    }

    /// The role's [`name`](Self::name) with its indefinite article, for messages: "a care
    /// worker", "an auditor", "an emergency clinician"; the person's role is already
    /// definite ("the person").
    pub fn with_article(self) -> String {
        let name = self.name();
        if name.starts_with("the ") {
            name.to_string()
        } else if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
            format!("an {name}")
        } else {
            format!("a {name}")
        }
    }
}

/// Why the access policy allowed a category of a read (recorded in `access.read` from
/// payload version 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Basis {
    OwnRecord,
    RoleDefault,
    LegalRepresentative,
    CouncilRequest {
        request_id: String,
    },
    Grant {
        grant_id: String,
    },
    /// Break-glass: allowed, and flagged for review.
    Emergency {
        seq: u64,
    },
}

/// Categories of information in a person's record (DESIGN.md, Access).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Category {
    CarePlan,
    DailyNotes,
    /// The MAR, administrations and the person's allergies (NICE NG67 puts allergies on the MAR).
    Medicines,
    HealthObservations,
    PersonalDetails,
    CommunicationNeeds,
    ConsentRecords,
    Incidents,
    AccessLog,
}

impl Category {
    pub const ALL: [Category; 9] = [
        Category::CarePlan,
        Category::DailyNotes,
        Category::Medicines,
        Category::HealthObservations,
        Category::PersonalDetails,
        Category::CommunicationNeeds,
        Category::ConsentRecords,
        Category::Incidents,
        Category::AccessLog,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Category::CarePlan => "care plan",
            Category::DailyNotes => "daily notes",
            Category::Medicines => "medicines and allergies",
            Category::HealthObservations => "health observations",
            Category::PersonalDetails => "personal details",
            Category::CommunicationNeeds => "communication needs",
            Category::ConsentRecords => "consent records",
            Category::Incidents => "incidents",
            Category::AccessLog => "access log",
        }
    }
}

/// Why information is read or shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Purpose {
    DirectCare,
    /// The person, or someone on their behalf, reading their own record.
    PersonalAccess,
    StatutoryReview,
    QualityAssurance,
    Audit,
    Emergency,
    Handover,
    Administration,
}

impl Purpose {
    pub const ALL: [Purpose; 8] = [
        Purpose::DirectCare,
        Purpose::PersonalAccess,
        Purpose::StatutoryReview,
        Purpose::QualityAssurance,
        Purpose::Audit,
        Purpose::Emergency,
        Purpose::Handover,
        Purpose::Administration,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Purpose::DirectCare => "direct care",
            Purpose::PersonalAccess => "personal access",
            Purpose::StatutoryReview => "statutory review",
            Purpose::QualityAssurance => "quality assurance",
            Purpose::Audit => "audit",
            Purpose::Emergency => "emergency",
            Purpose::Handover => "handover",
            Purpose::Administration => "administration",
        }
    }
}

/// Ways a person can get their information (R1, R8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum InfoOption {
    Paper,
    SecureEmail,
    Portal,
    AccessibleFormat,
}

impl InfoOption {
    pub const ALL: [InfoOption; 4] = [
        InfoOption::Paper,
        InfoOption::SecureEmail,
        InfoOption::Portal,
        InfoOption::AccessibleFormat,
    ];
}

/// Formats a document can be produced in (AIS information formats, and standard print).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Format {
    StandardPrint,
    LargePrint,
    EasyRead,
    Braille,
    Audio,
    /// Plain text for screen readers and braille transcription.
    ElectronicPlainText,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::StandardPrint => "standard print",
            Format::LargePrint => "large print",
            Format::EasyRead => "easy read",
            Format::Braille => "braille",
            Format::Audio => "audio",
            Format::ElectronicPlainText => "electronic plain text",
        }
    }
}

/// Documents that go to the person on paper or by email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Document {
    ServiceUserGuide,
    CarePlan,
    Mar,
    DiaryRecords,
}

impl Document {
    pub fn name(self) -> &'static str {
        match self {
            Document::ServiceUserGuide => "Service User Guide",
            Document::CarePlan => "care plan",
            Document::Mar => "MAR chart",
            Document::DiaryRecords => "diary records",
        }
    }
}

/// How information travels to a partner or a requester.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Channel {
    SecureEmail,
    Portal,
    Telephone,
    Paper,
    InPerson,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Channel::SecureEmail => "secure email",
            Channel::Portal => "portal",
            Channel::Telephone => "telephone",
            Channel::Paper => "paper",
            Channel::InPerson => "in person",
        }
    }
}

/// A representative's relationship to the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Relationship {
    Family,
    Carer,
    /// Lasting power of attorney for health and welfare.
    LpaHealthWelfare,
    /// Deputy appointed by the Court of Protection.
    Deputy,
}

impl Relationship {
    /// Holds legal authority to decide on the person's behalf.
    pub fn has_legal_authority(self) -> bool {
        matches!(self, Relationship::LpaHealthWelfare | Relationship::Deputy)
    }
}

/// On what basis an access decision was made for the person (Mental Capacity Act 2005).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CapacityBasis {
    /// The person decided, having capacity to make this decision.
    PersonHasCapacity,
    /// An attorney under a health and welfare LPA decided.
    LastingPowerOfAttorney,
    /// A court-appointed deputy decided.
    CourtDeputy,
}

/// The six Accessible Information Standard need categories we code.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AisNeed {
    /// Communication support, e.g. "needs a hearing loop", "cannot use the telephone".
    CommunicationSupport(CommunicationSupport),
    /// A communication professional, e.g. a British Sign Language interpreter.
    CommunicationProfessional(CommunicationProfessional),
    /// How to make contact.
    ContactMethod(ContactMethod),
    /// The format information must be in.
    InformationFormat(Format),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CommunicationSupport {
    HearingLoop,
    LipReading,
    Makaton,
    CannotUseTelephone,
    NeedsMoreTime,
    Advocate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CommunicationProfessional {
    BslInterpreter,
    DeafblindManualInterpreter,
    SpokenLanguageInterpreter,
    Lipspeaker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ContactMethod {
    Letter,
    Email,
    Telephone,
    TextMessage,
    InPerson,
}

impl AisNeed {
    pub fn describe(&self) -> String {
        match self {
            AisNeed::CommunicationSupport(s) => format!("communication support: {s:?}"),
            AisNeed::CommunicationProfessional(p) => format!("communication professional: {p:?}"),
            AisNeed::ContactMethod(c) => format!("contact method: {c:?}"),
            AisNeed::InformationFormat(f) => format!("information format: {}", f.name()),
        }
    }
}

/// Why two recorded AIS needs cannot both be true, if they cannot.
pub fn contradiction(a: &AisNeed, b: &AisNeed) -> Option<&'static str> {
    use AisNeed::*;
    let pair = |x: &AisNeed, y: &AisNeed| -> Option<&'static str> {
        match (x, y) {
            (InformationFormat(Format::StandardPrint), InformationFormat(f))
                if *f != Format::StandardPrint && *f != Format::EasyRead =>
            {
                Some("standard print cannot be the format when another print format is needed")
            }
            (
                ContactMethod(self::ContactMethod::Telephone),
                CommunicationSupport(self::CommunicationSupport::CannotUseTelephone),
            ) => Some("contact by telephone contradicts 'cannot use the telephone'"),
            _ => None,
        }
    };
    pair(a, b).or_else(|| pair(b, a))
}

/// Outcome of a care task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskOutcome {
    Done,
    Refused,
    NotDone { reason: String },
}

/// Outcome of a medicine round for one medicine (NICE NG67).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdministrationOutcome {
    Given,
    Refused,
    Omitted,
    Withheld,
}

/// Who wrote a diary note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Author {
    Staff,
    /// The person themselves: a first-class, attributed contribution (R2).
    Person,
    Representative,
}

/// Whom a grant is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Grantee {
    Principal(String),
    Role(Role),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Severity {
    Low,
    Moderate,
    High,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_takes_the_right_article() {
        let expected = [
            (Role::CareWorker, "a care worker"),
            (Role::Coordinator, "a coordinator"),
            (Role::RegisteredManager, "a registered manager"),
            (Role::ProviderAdmin, "a provider admin"),
            (Role::Person, "the person"),
            (Role::Representative, "a representative"),
            (Role::Partner, "a partner"),
            (Role::MonitoringOfficer, "a monitoring officer"),
            (Role::SocialCareProfessional, "a social care professional"),
            (Role::Auditor, "an auditor"),
            (Role::EmergencyClinician, "an emergency clinician"),
            (Role::Family, "a family member or carer"),
        ];
        assert_eq!(expected.len(), Role::ALL.len());
        for (role, phrase) in expected {
            assert_eq!(role.with_article(), phrase);
        }
    }

    #[test]
    fn every_purpose_is_listed_once() {
        // A purpose added to the enum and not to ALL fails the match below to compile.
        let index = |p: Purpose| match p {
            Purpose::DirectCare => 0,
            Purpose::PersonalAccess => 1,
            Purpose::StatutoryReview => 2,
            Purpose::QualityAssurance => 3,
            Purpose::Audit => 4,
            Purpose::Emergency => 5,
            Purpose::Handover => 6,
            Purpose::Administration => 7,
        };
        let listed: Vec<usize> = Purpose::ALL.iter().map(|p| index(*p)).collect();
        assert_eq!(listed, (0..Purpose::ALL.len()).collect::<Vec<_>>());
    }
}
