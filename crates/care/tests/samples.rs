//! Stored payload samples: the bytes of one event of every kind, as written by an earlier
//! build, committed in `tests/samples/<kind>.hex`. They are the contract of the payload
//! format: an event written today must still decode after its type gains a field (the old
//! struct stays as a `...V1` and decoding upgrades it), so these bytes never change.
//!
//! A new kind gets its sample by running this test once with `CARELEDGER_WRITE_SAMPLES=1`,
//! which writes the missing files only (never an existing one), and committing them.
//!
//! The values below must stay exactly as they are: they are what the stored bytes say.

use std::path::PathBuf;

use careledger_care::codec::DecodeError;
use careledger_care::event::*;
use careledger_care::*;
use chrono::NaiveDate;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// 2026-03-02T09:00:00Z.
const T: TimeUs = 1_772_442_000_000_000;

/// The event each stored sample holds.
fn sample(kind: &str) -> CareEvent {
    use CareEvent as E;
    match kind {
        "person.registered" => E::PersonRegistered(PersonRegistered {
            name: "Edith Clarke".into(),
            date_of_birth: date(1938, 5, 17),
            nhs_number: Some("943 476 5919".into()),
            address: "4 Mill Lane, Ashby".into(),
            gp_practice: "Ashby Health Centre".into(),
            allergies: vec!["penicillin".into(), "elastoplast".into()],
        }),
        "care.started" => E::CareStarted(CareStarted {
            service: "home care, four visits a day".into(),
        }),
        "care.ended" => E::CareEnded(CareEnded {
            reason: "moved to a care home".into(),
        }),
        "staff.registered" => E::StaffRegistered(StaffRegistered {
            staff_id: "staff-cw".into(),
            name: "Priya Shah".into(),
            role: Role::CareWorker,
        }),
        "representative.linked" => E::RepresentativeLinked(RepresentativeLinked {
            representative_id: "rep-lpa".into(),
            name: "Susan Clarke".into(),
            relationship: Relationship::LpaHealthWelfare,
            evidence_of_authority: Some("LPA registration 7000-1234-5678".into()),
            may_contribute: true,
        }),
        "partner.registered" => E::PartnerRegistered(PartnerRegistered {
            partner_id: "partner-dn".into(),
            name: "Ashby district nurses".into(),
            agreed_channel: Channel::SecureEmail,
            contact: "ashby.dn@nhs.example".into(),
        }),
        "careplan.published" => E::CarePlanPublished(CarePlanPublished {
            version: 3,
            sections: PlanSections {
                about_me: "Retired teacher; likes the radio on in the morning.".into(),
                needs: vec!["help with washing".into(), "meals".into()],
                goals: vec!["walk to the garden gate".into()],
                actions: vec!["morning visit: wash, dress, breakfast".into()],
                risks: vec!["falls".into()],
                contingency_plan: "If no visit by 10:00, call the office.".into(),
                agreed_with: vec!["Edith".into(), "Susan (daughter, LPA)".into()],
                review_date: date(2026, 9, 1),
            },
        }),
        "careplan.reviewed" => E::CarePlanReviewed(CarePlanReviewed {
            version: 3,
            reviewed_with: vec!["Edith".into()],
            changes_needed: true,
            next_review_date: date(2027, 3, 1),
        }),
        "visit.started" => E::VisitStarted(VisitStarted {
            visit_id: "v-2026-03-02-am".into(),
        }),
        "visit.completed" => E::VisitCompleted(VisitCompleted {
            visit_id: "v-2026-03-02-am".into(),
        }),
        "task.recorded" => E::TaskRecorded(TaskRecorded {
            visit_id: Some("v-2026-03-02-am".into()),
            task: "shower".into(),
            outcome: TaskOutcome::NotDone {
                reason: "preferred a strip wash today".into(),
            },
        }),
        "diary.note" => E::DiaryNote(DiaryNote {
            author: Author::Person,
            text: "Felt tired; the new carer was kind.".into(),
        }),
        "incident.recorded" => E::Incident(Incident {
            category: "fall".into(),
            description: "Slipped in the bathroom, no injury".into(),
            severity: Severity::High,
        }),
        "observation.recorded" => E::Observation(Observation {
            measure: "temperature".into(),
            value: "37.2".into(),
            unit: "°C".into(),
        }),
        "mar.medicine_added" => E::MedicineAdded(MedicineAdded {
            medicine_id: "med-paracetamol".into(),
            name: "Paracetamol".into(),
            formulation: "tablet".into(),
            strength: "500 mg".into(),
            dose: "two tablets".into(),
            route: "oral".into(),
            frequency: "up to four times a day".into(),
            min_interval_minutes: 240,
            as_required: true,
            prescriber: "Dr Patel".into(),
            stop_or_review_date: Some(date(2026, 6, 1)),
        }),
        "mar.medicine_stopped" => E::MedicineStopped(MedicineStopped {
            medicine_id: "med-paracetamol".into(),
            reason: "GP stopped it".into(),
        }),
        "mar.administration" => E::AdministrationRecorded(AdministrationRecorded {
            medicine_id: "med-paracetamol".into(),
            outcome: AdministrationOutcome::Withheld,
            dose_given: None,
            reason: Some("asleep; GP advised not to wake her".into()),
            witnessed_by: Some("staff-rm".into()),
        }),
        "choices.discussed" => E::ChoicesDiscussed(ChoicesDiscussed {
            present: vec!["Edith".into(), "Susan (daughter, LPA)".into()],
            options_explained: InfoOption::ALL.to_vec(),
            chosen: vec![InfoOption::Paper, InfoOption::AccessibleFormat],
            told_access_is_free: true,
            notes: "Large print for the care plan.".into(),
        }),
        "paper.copy_placed" => E::PaperCopyPlaced(PaperCopyPlaced {
            document: Document::CarePlan,
            version: Some(3),
            format: Format::LargePrint,
            digest: Some("d2f3ed5f23c8e31d23c6d034e575b2907babc599e2d9505a0de39794dfc0ab38".into()),
        }),
        "paper.declined" => E::PaperCopiesDeclined(PaperCopiesDeclined {
            declined_by: "person-1".into(),
            statement: "I don't want papers lying about the house.".into(),
        }),
        "email.delivered" => E::SecureEmailDelivered(SecureEmailDelivered {
            document: Document::DiaryRecords,
            version: None,
            format: Format::ElectronicPlainText,
            to: "edith@example.org".into(),
            as_link: false,
            digest: Some("4d3f0a6b9c2e1d8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f".into()),
            message_id: Some("<4d3f0a6b9c2e1d8f.5731@care.example.org>".into()),
            relay_answer: Some("250 2.0.0 Ok: queued as 9A1F2".into()),
        }),
        "email.failed" => E::SecureEmailFailed(SecureEmailFailed {
            document: Document::CarePlan,
            version: Some(3),
            format: Format::LargePrint,
            to: "edith@example.org".into(),
            digest: "4d3f0a6b9c2e1d8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f".into(),
            message_id: "<4d3f0a6b9c2e1d8f.5731@care.example.org>".into(),
            attempts: 4,
            error: "451 4.3.0 Try again later".into(),
            permanent: false,
        }),
        "email.address_recorded" => E::EmailAddressRecorded(EmailAddressRecorded {
            holder: "rep-edith-daughter".into(),
            address: Some("mary.hill@example.org".into()),
        }),
        "ais.needs_recorded" => E::AisNeedsRecorded(AisNeedsRecorded {
            needs: vec![
                AisNeed::CommunicationSupport(CommunicationSupport::HearingLoop),
                AisNeed::CommunicationProfessional(CommunicationProfessional::BslInterpreter),
                AisNeed::ContactMethod(ContactMethod::TextMessage),
                AisNeed::InformationFormat(Format::LargePrint),
            ],
            consent_to_share: true,
        }),
        "ais.needs_reviewed" => E::AisNeedsReviewed(AisNeedsReviewed {
            still_accurate: false,
            next_review_date: date(2027, 3, 1),
        }),
        "access.granted" => E::AccessGranted(AccessGranted {
            grant_id: "g-1".into(),
            grantee: Grantee::Principal("rep-family".into()),
            categories: vec![Category::Medicines, Category::DailyNotes],
            purpose: Purpose::PersonalAccess,
            expires_at_us: Some(T + 90 * DAY_US),
            decided_by: "rep-lpa".into(),
            basis: CapacityBasis::LastingPowerOfAttorney,
        }),
        "access.revoked" => E::AccessRevoked(AccessRevoked {
            grant_id: "g-1".into(),
            decided_by: "person-1".into(),
            basis: CapacityBasis::PersonHasCapacity,
        }),
        "sharing.consent" => E::SharingConsentRecorded(SharingConsentRecorded {
            partner_id: "partner-dn".into(),
            categories: vec![Category::Medicines, Category::HealthObservations],
            given: true,
            decided_by: "rep-deputy".into(),
            basis: CapacityBasis::CourtDeputy,
        }),
        "handover.sent" => E::HandoverSent(HandoverSent {
            partner_id: "partner-dn".into(),
            categories: vec![Category::Medicines],
            summary: "medicines list after the GP review".into(),
            channel: Channel::SecureEmail,
        }),
        "handover.received" => E::HandoverReceived(HandoverReceived {
            partner_id: "partner-dn".into(),
            summary: "dressing changed on the left leg".into(),
            channel: Channel::InPerson,
        }),
        "access.read" => E::RecordAccessed(RecordAccessed {
            role: Role::Representative,
            categories: vec![Category::CarePlan, Category::AccessLog],
            purpose: Purpose::PersonalAccess,
            items: 12,
            basis: vec![
                AccessBasis {
                    category: Category::CarePlan,
                    basis: Basis::LegalRepresentative,
                },
                AccessBasis {
                    category: Category::AccessLog,
                    basis: Basis::Grant {
                        grant_id: "g-7".into(),
                    },
                },
            ],
        }),
        "access.refused" => E::AccessRefused(AccessRefused {
            role: Role::MonitoringOfficer,
            categories: vec![Category::Incidents],
            purpose: Purpose::QualityAssurance,
            reason: "no open council request covers incidents".into(),
        }),
        "access.emergency" => E::EmergencyAccess(EmergencyAccess {
            role: Role::EmergencyClinician,
            reason: "collapsed; paramedic needs the medicines list".into(),
            categories: vec![Category::Medicines],
            expires_at_us: T + 2 * HOUR_US,
        }),
        "access.emergency_reviewed" => E::EmergencyReviewed(EmergencyReviewed {
            emergency_event: 41,
            outcome: ReviewOutcome::NotAppropriate {
                action_taken: "spoken to the GP practice; access withdrawn".into(),
            },
            notes: "the person was not unwell; the call was about a repeat prescription".into(),
        }),
        "request.received" => E::RequestReceived(RequestReceived {
            request_id: "req-1".into(),
            requester: "officer-jones".into(),
            organisation: "Shire County Council".into(),
            people: vec!["person-1".into()],
            categories: vec![Category::CarePlan, Category::ConsentRecords],
            description: "Care plan and consent evidence for the annual review".into(),
            received_at_us: T,
            due_at_us: T + 24 * HOUR_US,
        }),
        "request.acknowledged" => E::RequestAcknowledged(RequestAcknowledged {
            request_id: "req-1".into(),
        }),
        "request.responded" => E::RequestResponded(RequestResponded {
            request_id: "req-1".into(),
            digest: core::array::from_fn(|i| i as u8),
            channel: Channel::Portal,
            items: 2,
        }),
        "request.withdrawn" => E::RequestWithdrawn(RequestWithdrawn {
            request_id: "req-2".into(),
            reason: "the review was postponed".into(),
        }),
        "request.sla_warning" => E::SlaWarning(SlaWarning {
            request_id: "req-1".into(),
            due_at_us: T + 24 * HOUR_US,
        }),
        "request.sla_breached" => E::SlaBreached(SlaBreached {
            request_id: "req-1".into(),
            due_at_us: T + 24 * HOUR_US,
        }),
        "outage.declared" => E::OutageDeclared(OutageDeclared {
            outage_id: "out-1".into(),
            reason: "broadband down at the office".into(),
        }),
        "outage.ended" => E::OutageEnded(OutageEnded {
            outage_id: "out-1".into(),
        }),
        "guide.published" => E::GuidePublished(GuidePublished {
            version: 3,
            title: "Service User Guide: Home Care".into(),
            sections: vec![
                GuideSection {
                    heading: "Your records and your choices".into(),
                    body: "You can have paper copies, secure email or the portal.\n\nSeeing your records is free.".into(),
                },
                GuideSection {
                    heading: "Contact us".into(),
                    body: "Office: 01632 960123.".into(),
                },
            ],
        }),
        "outage.back_entered" => E::BackEntered(BackEntered {
            outage_id: "out-1".into(),
            paper_reference: "diary sheet 14, kept in the office".into(),
            entry: Box::new(E::AdministrationRecorded(AdministrationRecorded {
                medicine_id: "med-paracetamol".into(),
                outcome: AdministrationOutcome::Given,
                dose_given: Some("two tablets".into()),
                reason: None,
                witnessed_by: None,
            })),
        }),
        "session.signed_in" => E::SignedIn(SignedIn {
            role: Role::CareWorker,
            method: SignInMethod::Password,
            session: "3f9c2a7d1e4b6c08".into(),
        }),
        "session.signed_out" => E::SignedOut(SignedOut {
            session: "3f9c2a7d1e4b6c08".into(),
            reason: SignOutReason::IdleTimeout,
        }),
        "session.sign_in_failed" => E::SignInFailed(SignInFailed {
            user: "staff-cw01".into(),
            reason: "wrong user id or password".into(),
        }),
        other => panic!("no sample value for kind {other:?}: add one, then write its file"),
    }
}

/// What a sample stored by an older payload version decodes to now.
fn older_sample(kind: &str, version: u8) -> CareEvent {
    match (sample(kind), version) {
        // Version 1 reads recorded no basis.
        (CareEvent::RecordAccessed(r), 1) => CareEvent::RecordAccessed(RecordAccessed {
            basis: Vec::new(),
            ..r
        }),
        // Version 1 emails were recorded by hand: no digest, Message-ID or answer.
        (CareEvent::SecureEmailDelivered(e), 1) => {
            CareEvent::SecureEmailDelivered(SecureEmailDelivered {
                digest: None,
                message_id: None,
                relay_answer: None,
                ..e
            })
        }
        // Version 1 copies recorded no digest.
        (CareEvent::PaperCopyPlaced(c), 1) => {
            CareEvent::PaperCopyPlaced(PaperCopyPlaced { digest: None, ..c })
        }
        (_, v) => panic!("{kind} has no older version {v}"),
    }
}

/// The (kind, version) of an older sample file, `<kind>.v<N>.hex`.
fn older_file(name: &str) -> Option<(&str, u8)> {
    let stem = name.strip_suffix(".hex")?;
    let (kind, version) = stem.rsplit_once(".v")?;
    Some((kind, version.parse().ok()?))
}

fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/samples")
}

fn sample_path(kind: &str) -> PathBuf {
    samples_dir().join(format!("{kind}.hex"))
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Vec<u8> {
    let text = text.trim();
    assert!(text.len().is_multiple_of(2), "odd number of hex digits");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digits"))
        .collect()
}

fn writing() -> bool {
    std::env::var("CARELEDGER_WRITE_SAMPLES").is_ok_and(|v| v == "1")
}

/// With `CARELEDGER_WRITE_SAMPLES=1`, writes the sample of every kind that has none yet
/// (once per run, before any test reads one).
fn write_missing_samples() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if !writing() {
            return;
        }
        std::fs::create_dir_all(samples_dir()).unwrap();
        for kind in CareEvent::KINDS {
            let path = sample_path(kind);
            if !path.exists() {
                let bytes = sample(kind).encode().unwrap();
                std::fs::write(&path, format!("{}\n", to_hex(&bytes))).unwrap();
                eprintln!("wrote {}", path.display());
            }
        }
    });
}

/// The stored bytes of `kind`'s sample.
fn stored(kind: &str) -> Vec<u8> {
    write_missing_samples();
    let path = sample_path(kind);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "no stored sample for {kind} at {} ({e}); run this test once with \
             CARELEDGER_WRITE_SAMPLES=1 and commit the file",
            path.display()
        )
    });
    assert_eq!(
        text.trim_end().lines().count(),
        1,
        "{kind}: a sample is one line of hex"
    );
    from_hex(&text)
}

#[test]
fn every_kind_has_a_sample_that_still_decodes() {
    for kind in CareEvent::KINDS {
        let value = sample(kind);
        assert_eq!(
            value.kind(),
            *kind,
            "the sample for {kind} is of another kind"
        );
        let bytes = stored(kind);
        let decoded = CareEvent::decode(kind, &bytes)
            .unwrap_or_else(|e| panic!("the stored {kind} sample no longer decodes: {e}"));
        assert_eq!(
            decoded, value,
            "the stored {kind} sample decodes to another value"
        );
        assert_eq!(
            value.encode().unwrap(),
            bytes,
            "{kind} now encodes differently from its stored sample: a payload changed in \
             place; keep the old struct as a V1 and add a new version instead"
        );
    }
}

/// Payloads written by an earlier version of a kind (`<kind>.v<N>.hex`) keep decoding, into
/// what that version knew.
#[test]
fn every_older_version_still_decodes() {
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(samples_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some((kind, version)) = older_file(&name) else {
            continue;
        };
        let bytes = from_hex(&std::fs::read_to_string(samples_dir().join(&name)).unwrap());
        assert_eq!(
            bytes[0], version,
            "{name} holds a version {} payload",
            bytes[0]
        );
        let decoded = CareEvent::decode(kind, &bytes)
            .unwrap_or_else(|e| panic!("the stored {name} sample no longer decodes: {e}"));
        assert_eq!(decoded, older_sample(kind, version), "{name}");
        seen.push((kind.to_string(), version));
    }
    for kind in ["access.read", "paper.copy_placed"] {
        assert!(
            seen.contains(&(kind.to_string(), 1)),
            "{kind} version 1 must keep decoding: {seen:?}"
        );
    }
}

#[test]
fn no_sample_file_is_left_over() {
    write_missing_samples();
    for entry in std::fs::read_dir(samples_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let (kind, older) = match older_file(&name) {
            Some((kind, version)) => (kind, Some(version)),
            None => (
                name.strip_suffix(".hex")
                    .unwrap_or_else(|| panic!("{name}: sample files end in .hex")),
                None,
            ),
        };
        let current = CareEvent::version_of(kind)
            .unwrap_or_else(|| panic!("{name} is a sample for a kind that no longer exists"));
        if let Some(v) = older {
            assert!(
                v < current,
                "{name} is not an older version of {kind} ({current})"
            );
        }
    }
}

#[test]
fn decode_refuses_an_unknown_kind() {
    let bytes = stored("care.started");
    assert!(matches!(
        CareEvent::decode("care.paused", &bytes),
        Err(DecodeError::UnknownKind(k)) if k == "care.paused"
    ));
    assert!(matches!(
        CareEvent::decode("", &bytes),
        Err(DecodeError::UnknownKind(_))
    ));
}

#[test]
fn decode_refuses_an_empty_payload() {
    for kind in CareEvent::KINDS {
        assert!(
            matches!(CareEvent::decode(kind, &[]), Err(DecodeError::Empty { kind: k }) if k == *kind),
            "{kind}"
        );
    }
}

#[test]
fn decode_refuses_an_unknown_version() {
    for kind in CareEvent::KINDS {
        let mut bytes = stored(kind);
        let known = CareEvent::version_of(kind).unwrap();
        assert_eq!(
            bytes[0], known,
            "{kind}: the stored sample is of the current version"
        );
        for version in [0u8, known + 1, 255] {
            bytes[0] = version;
            let err = CareEvent::decode(kind, &bytes).unwrap_err();
            assert!(
                matches!(
                    &err,
                    DecodeError::UnknownVersion { kind: k, version: v, known: n }
                        if k == kind && *v == version && *n == known
                ),
                "{kind}: {err:?}"
            );
        }
    }
    let mut bytes = stored("diary.note");
    bytes[0] = 2;
    assert_eq!(
        CareEvent::decode("diary.note", &bytes)
            .unwrap_err()
            .to_string(),
        "diary.note: payload version 2 is not known (this build reads up to 1)"
    );
}

#[test]
fn decode_refuses_trailing_bytes() {
    for kind in CareEvent::KINDS {
        let mut bytes = stored(kind);
        bytes.push(0);
        let err = CareEvent::decode(kind, &bytes).unwrap_err();
        assert!(
            matches!(&err, DecodeError::Malformed { kind: k, .. } if k == kind),
            "{kind}: {err:?}"
        );
    }
}

#[test]
fn decode_refuses_every_truncation() {
    for kind in CareEvent::KINDS {
        let bytes = stored(kind);
        // Every strict prefix that still has the version byte.
        for len in 1..bytes.len() {
            let err = CareEvent::decode(kind, &bytes[..len]).unwrap_err();
            assert!(
                matches!(&err, DecodeError::Malformed { kind: k, .. } if k == kind),
                "{kind} cut to {len} bytes: {err:?}"
            );
        }
    }
}

#[test]
fn decode_refuses_a_huge_length_without_allocating_it() {
    // care.started is a version byte and one string: its length prefix is bytes 1..9.
    let mut bytes = stored("care.started");
    bytes[1..9].copy_from_slice(&u64::MAX.to_le_bytes());
    let err = CareEvent::decode("care.started", &bytes).unwrap_err();
    assert!(matches!(err, DecodeError::Malformed { .. }), "{err:?}");
}

#[test]
fn decode_refuses_an_unknown_enum_variant() {
    // staff.registered ends with the role, a u32 variant index.
    let mut bytes = stored("staff.registered");
    let n = bytes.len();
    bytes[n - 4..].copy_from_slice(&999u32.to_le_bytes());
    let err = CareEvent::decode("staff.registered", &bytes).unwrap_err();
    assert!(matches!(err, DecodeError::Malformed { .. }), "{err:?}");
}
