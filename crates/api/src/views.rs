//! The sections of a person's record, each tied to the categories the access gate asks the
//! policy about, and built as JSON from the projections and the person's history in the log.
//!
//! The same builders will serve the web pages: a section is data, not a response.

use careledger_care::findings::person_findings_at;
use careledger_care::state::PersonState;
use careledger_care::{CareEvent, Category, Role};
use careledger_log::envelope::Envelope;
use careledger_store::StoredEvent;
use schemars::{Schema, SchemaGenerator};
use serde::Serialize;
use serde_json::Value;

use crate::blocking::Deadline;
use crate::wire::*;
use crate::{ApiError, App};

/// A page of a history: events after `after` (a sequence number), at most `limit`.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub after: Option<u64>,
    pub limit: usize,
    /// For the care plan: an earlier version to show whole.
    pub version: Option<u32>,
}

/// Subject-index entries one history page may scan before it answers with a cursor.
pub const HISTORY_SCAN_EVENTS_MAX: usize = 50_000;

/// Builds a section: on the blocking pool (the gate runs it there), checking the deadline
/// between chunks of the log it reads.
type Build = fn(&App, &Deadline, &str, &Page) -> Result<(Value, u32), ApiError>;

/// One readable section of a record.
pub struct Section {
    /// The path segment: `/v1/people/{id}/{name}`.
    pub name: &'static str,
    pub categories: &'static [Category],
    pub summary: &'static str,
    /// Takes `after` and `limit` (a history read from the log).
    pub paged: bool,
    pub build: Build,
    /// The schema of the answer, `Record<T>` for the `T` that `build` makes.
    pub schema: fn(&mut SchemaGenerator) -> Schema,
}

/// The JSON of a typed section: the type a builder makes is the one its schema describes.
fn to_json<T: Serialize>(built: Result<(T, u32), ApiError>) -> Result<(Value, u32), ApiError> {
    let (data, items) = built?;
    let value = serde_json::to_value(data)
        .map_err(|e| ApiError::internal(format!("a section did not serialize: {e}")))?;
    Ok((value, items))
}

macro_rules! section {
    ($name:literal, $categories:expr, $paged:literal, $build:ident -> $ty:ty, $summary:literal) => {
        Section {
            name: $name,
            categories: $categories,
            summary: $summary,
            paged: $paged,
            build: |app, deadline, id, page| to_json($build(app, deadline, id, page)),
            schema: schema_of::<Record<$ty>>,
        }
    };
}

pub const SECTIONS: &[Section] = &[
    section!("details", &[Category::PersonalDetails], false, details -> Details,
        "Personal details, care status and representatives"),
    section!("care-plan", &[Category::CarePlan], false, care_plan -> CarePlan,
        "The current care plan and its version history (`version` shows an earlier one whole)"),
    section!("daily-notes", &[Category::DailyNotes], true, daily_notes -> History,
        "Visits, tasks and diary notes, including the person's own entries"),
    section!("medicines", &[Category::Medicines], true, medicines -> Medicines,
        "The MAR (NICE NG67): the person, allergies, current medicines, administrations and refusals"),
    section!("observations", &[Category::HealthObservations], true, observations -> History,
        "Health observations"),
    section!("communication-needs", &[Category::CommunicationNeeds], false, communication_needs -> CommunicationNeeds,
        "Accessible Information Standard needs, their review and the formats needed"),
    section!("consent", &[Category::ConsentRecords], false, consent -> Consent,
        "Choices discussion, paper copies, grants, sharing consent and the person's findings"),
    section!("paper-copies", &[Category::ConsentRecords], false, paper_copies -> Paper,
        "Paper copies in the home and any recorded decision not to have them"),
    section!("grants", &[Category::ConsentRecords], false, grants -> Grants,
        "Who the person lets see what, and sharing consent with partners"),
    section!("handovers", &[Category::DailyNotes], true, handovers -> Handovers,
        "Handovers sent to partners and received from them, and the provider's partners with the channel agreed with each"),
    section!("incidents", &[Category::Incidents], true, incidents -> History,
        "Incidents"),
    section!("access-log", &[Category::AccessLog], true, access_log -> History<AccessItem>,
        "Who looked at the record, in what role and why, and who was refused"),
    section!("evidence", &[Category::ConsentRecords, Category::CommunicationNeeds], false, evidence -> Evidence,
        "Consent and information-choice evidence for a monitoring visit (R8, R9)"),
];

/// An event's fields as the API accepts them, with its envelope's facts.
pub fn event_item(envelope: &Envelope, event: Option<&CareEvent>) -> EventItem {
    let payload = event
        .and_then(|e| e.serialize_fields(serde_json::value::Serializer).ok())
        .unwrap_or(Value::Null);
    EventItem {
        event: envelope.seq,
        kind: envelope.kind.clone(),
        actor: envelope.actor.clone(),
        occurred_at: Time::at(envelope.occurred_at_us),
        recorded_at: Time::at(envelope.recorded_at_us),
        payload,
    }
}

/// Who `actor` is, as the ledger knows them, reading `person`'s record in `role`.
pub fn reader(
    state: &careledger_care::State,
    person: Option<&str>,
    actor: &str,
    role: Option<Role>,
) -> Reader {
    let of_person = person.and_then(|p| state.person(p));
    let name = state
        .staff
        .get(actor)
        .map(|s| s.name.clone())
        .or_else(|| state.person(actor).map(|p| p.details.name.clone()))
        .or_else(|| {
            of_person
                .and_then(|p| p.representatives.get(actor))
                .map(|r| r.name.clone())
        })
        .or_else(|| state.partners.get(actor).map(|p| p.name.clone()));
    Reader {
        id: actor.to_string(),
        name,
        role: role.map(Care),
    }
}

/// The role an access event records for its reader.
pub fn access_role(event: Option<&CareEvent>) -> Option<Role> {
    match event? {
        CareEvent::RecordAccessed(r) => Some(r.role),
        CareEvent::AccessRefused(r) => Some(r.role),
        CareEvent::EmergencyAccess(r) => Some(r.role),
        _ => None,
    }
}

fn with_person<R>(
    app: &App,
    id: &str,
    f: impl FnOnce(&PersonState, &careledger_care::State) -> R,
) -> Result<R, ApiError> {
    app.ledger
        .read(|s| s.person(id).map(|p| f(p, s)))?
        .ok_or_else(|| ApiError::no_person(id))
}

/// Where a [`scan`] reads: one person's events (through the subject index) or the log.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    Person(&'a str),
    Log,
}

/// What a [`scan`]'s visitor does with an event.
pub enum Visit {
    /// Counts towards the page.
    Take,
    Skip,
    /// Nothing after this event can be wanted: the scan ends with no cursor.
    Stop,
}

/// Events read per store call, and between two looks at the deadline: about 2 ms of work.
pub const SCAN_CHUNK: usize = 1024;

/// Reads events after `after` (a client's event number) from `source`, oldest first, handing
/// each to `visit`, until it has taken `limit`, read `scan_max` events, or reached the end
/// (or `visit` fails, which fails the scan). Returns the cursor to go on from (`next_after`), or none at the end. Before each chunk
/// of [`SCAN_CHUNK`] events it checks `deadline`, and stops with its 503 once it has passed
/// or the request was abandoned.
pub fn scan(
    app: &App,
    deadline: &Deadline,
    source: Source<'_>,
    after: Option<u64>,
    limit: usize,
    scan_max: usize,
    mut visit: impl FnMut(&StoredEvent) -> Result<Visit, ApiError>,
) -> Result<Option<u64>, ApiError> {
    let store = app.ledger.store();
    // The largest event number is a page after everything, not an overflow.
    let mut next = after.map_or(0, |a| a.saturating_add(1));
    let (mut taken, mut scanned) = (0, 0);
    loop {
        deadline.check()?;
        let chunk = match source {
            Source::Person(p) => store.by_subject(p, next, SCAN_CHUNK)?,
            Source::Log => store.range(next, SCAN_CHUNK)?,
        };
        if chunk.is_empty() {
            return Ok(None);
        }
        for stored in &chunk {
            let seq = stored.envelope.seq;
            next = seq + 1;
            scanned += 1;
            match visit(stored)? {
                Visit::Stop => return Ok(None),
                Visit::Take => taken += 1,
                Visit::Skip => {}
            }
            if taken >= limit || scanned >= scan_max {
                return Ok(Some(seq));
            }
        }
    }
}

/// The care event stored with an envelope, or `None` when its payload has been erased.
/// A payload that is there but does not decode as its kind is not an event with no
/// content: the ledger cannot be read at that event, a verification failure. It is
/// answered 500 naming the event, and logged.
pub fn decode(stored: &StoredEvent) -> Result<Option<CareEvent>, ApiError> {
    let Some((_, payload)) = stored.payload.as_ref() else {
        return Ok(None);
    };
    let e = &stored.envelope;
    CareEvent::decode(&e.kind, payload)
        .map(Some)
        .map_err(|error| {
            tracing::error!(seq = e.seq, kind = %e.kind, %error, "a stored event does not decode");
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "undecodable-event",
                format!(
                    "event {} ({}) is stored with a payload that does not decode as its kind \
                     ({error}): the ledger fails verification at this event, and nothing \
                     was sent",
                    e.seq, e.kind
                ),
            )
        })
}

/// A page of the person's history: events whose kind `keep` accepts (and, for a back-entry,
/// whose entry it accepts), each made into an item by `item`, with the cursor to go on from.
fn history<T>(
    app: &App,
    deadline: &Deadline,
    person: &str,
    page: &Page,
    kinds: &[&str],
    mut item: impl FnMut(&StoredEvent, Option<&CareEvent>) -> T,
) -> Result<(History<T>, u32), ApiError> {
    let mut items = Vec::new();
    let keep = |e: &CareEvent| kinds.contains(&e.kind());
    let next = scan(
        app,
        deadline,
        Source::Person(person),
        page.after,
        page.limit,
        HISTORY_SCAN_EVENTS_MAX,
        |stored| {
            let k = stored.envelope.kind.as_str();
            if !(kinds.contains(&k) || k == "outage.back_entered") {
                return Ok(Visit::Skip);
            }
            let event = decode(stored)?;
            let wanted = match &event {
                Some(CareEvent::BackEntered(b)) => keep(&b.entry),
                Some(e) => keep(e),
                // Erased: shown by its kind, with no payload.
                None => kinds.contains(&k),
            };
            if !wanted {
                return Ok(Visit::Skip);
            }
            items.push(item(stored, event.as_ref()));
            Ok(Visit::Take)
        },
    )?;
    let n = items.len() as u32;
    Ok((
        History {
            items,
            next_after: next,
        },
        n,
    ))
}

/// A history of plain event items.
fn events(
    app: &App,
    deadline: &Deadline,
    person: &str,
    page: &Page,
    kinds: &[&str],
) -> Result<(History, u32), ApiError> {
    history(app, deadline, person, page, kinds, |stored, event| {
        event_item(&stored.envelope, event)
    })
}

pub fn details(app: &App, _: &Deadline, id: &str, _: &Page) -> Result<(Details, u32), ApiError> {
    with_person(app, id, |p, _| {
        let d = &p.details;
        let representatives = p
            .representatives
            .iter()
            .map(|(rid, r)| Representative {
                id: rid.clone(),
                name: r.name.clone(),
                relationship: Care(r.relationship),
                evidence_of_authority: r.evidence_of_authority.clone(),
                may_contribute: r.may_contribute,
                linked: stamp(&r.linked),
            })
            .collect();
        (
            Details {
                name: d.name.clone(),
                date_of_birth: Date(d.date_of_birth),
                nhs_number: d.nhs_number.clone(),
                address: d.address.clone(),
                gp_practice: d.gp_practice.clone(),
                registered: stamp(&p.registered),
                care_started: opt_stamp(&p.care_started),
                care_ended: opt_stamp(&p.care_ended),
                representatives,
            },
            1,
        )
    })
}

pub fn care_plan(
    app: &App,
    _: &Deadline,
    id: &str,
    page: &Page,
) -> Result<(CarePlan, u32), ApiError> {
    let (current, versions) = with_person(app, id, |p, _| {
        let current = p.plan.as_ref().map(|plan| CurrentPlan {
            version: plan.version,
            sections: Care(plan.sections.clone()),
            published: stamp(&plan.published),
            last_review: opt_stamp(&plan.last_review),
            next_review_date: Date(plan.next_review_date),
        });
        (current, p.plan_versions.clone())
    })?;
    let version = match page.version {
        None => None,
        Some(wanted) => {
            let none = || {
                ApiError::not_found(format!("{id} has no care plan version {wanted}"))
                    .field("version")
            };
            match versions.iter().find(|(v, _)| *v == wanted) {
                Some((_, s)) => {
                    let stored = app.ledger.store().get(s.seq)?;
                    Some(event_item(&stored.envelope, decode(&stored)?.as_ref()))
                }
                // Older than the projection indexes: from the person's history.
                None if versions.first().is_some_and(|(oldest, _)| wanted < *oldest) => {
                    let r = app.ledger.plan_publication(id, wanted)?.ok_or_else(none)?;
                    Some(event_item(&r.envelope, r.event.as_ref()))
                }
                None => return Err(none()),
            }
        }
    };
    let n = 1 + versions.len() as u32;
    let versions = versions
        .iter()
        .map(|(v, s)| PlanVersion {
            version: *v,
            published: stamp(s),
        })
        .collect();
    Ok((
        CarePlan {
            current,
            versions,
            version,
        },
        n,
    ))
}

const DAILY: &[&str] = &[
    "visit.started",
    "visit.completed",
    "task.recorded",
    "diary.note",
];

pub fn daily_notes(
    app: &App,
    deadline: &Deadline,
    id: &str,
    page: &Page,
) -> Result<(History, u32), ApiError> {
    events(app, deadline, id, page, DAILY)
}

const HANDOVERS: &[&str] = &["handover.sent", "handover.received"];

/// Handovers: the history (a handover's summary is a note staff wrote, read as daily
/// notes are), and the provider's partners with the channel agreed with each. What the
/// person agreed to share with each partner is consent records (`grants`), not here.
pub fn handovers(
    app: &App,
    deadline: &Deadline,
    id: &str,
    page: &Page,
) -> Result<(Handovers, u32), ApiError> {
    let partners = with_person(app, id, |_, s| {
        s.partners
            .iter()
            .map(|(pid, partner)| HandoverPartner {
                partner_id: pid.clone(),
                name: partner.name.clone(),
                agreed_channel: Care(partner.agreed_channel),
            })
            .collect()
    })?;
    let (history, n) = events(app, deadline, id, page, HANDOVERS)?;
    Ok((Handovers { partners, history }, n))
}

/// The MAR's history: doses given and not given. Medicines added and stopped are the
/// `medicines` list's `added` and `stopped`.
const ADMINISTRATIONS: &[&str] = &["mar.administration"];

pub fn medicines(
    app: &App,
    deadline: &Deadline,
    id: &str,
    page: &Page,
) -> Result<(Medicines, u32), ApiError> {
    let mut mar = with_person(app, id, |p, _| {
        let d = &p.details;
        Medicines {
            name: d.name.clone(),
            date_of_birth: Date(d.date_of_birth),
            nhs_number: d.nhs_number.clone(),
            gp_practice: d.gp_practice.clone(),
            allergies: d.allergies.clone(),
            mar_revision: p.mar_revision,
            medicines: p
                .medicines
                .iter()
                .map(|(mid, m)| Medicine {
                    medicine_id: mid.clone(),
                    details: Care(m.details.clone()),
                    added: stamp(&m.added),
                    stopped: opt_stamp(&m.stopped),
                    last_given: opt_stamp(&m.last_given),
                    given: m.given,
                    not_given: m.not_given,
                })
                .collect(),
            administrations: History {
                items: Vec::new(),
                next_after: None,
            },
        }
    })?;
    let (administrations, h) = events(app, deadline, id, page, ADMINISTRATIONS)?;
    mar.administrations = administrations;
    let n = mar.medicines.len() as u32 + h;
    Ok((mar, n))
}

const OBSERVATIONS: &[&str] = &["observation.recorded"];

pub fn observations(
    app: &App,
    deadline: &Deadline,
    id: &str,
    page: &Page,
) -> Result<(History, u32), ApiError> {
    events(app, deadline, id, page, OBSERVATIONS)
}

const INCIDENTS: &[&str] = &["incident.recorded"];

pub fn incidents(
    app: &App,
    deadline: &Deadline,
    id: &str,
    page: &Page,
) -> Result<(History, u32), ApiError> {
    events(app, deadline, id, page, INCIDENTS)
}

pub const ACCESS: &[&str] = &["access.read", "access.refused", "access.emergency"];

/// Who looked: each access event with the reader's name and role as the ledger knows them.
pub fn access_log(
    app: &App,
    deadline: &Deadline,
    id: &str,
    page: &Page,
) -> Result<(History<AccessItem>, u32), ApiError> {
    let (page, n) = history(app, deadline, id, page, ACCESS, |stored, event| {
        (event_item(&stored.envelope, event), access_role(event))
    })?;
    // Readers are named from the projections once the log has been read, not during it.
    let items = app.ledger.read(|s| {
        page.items
            .into_iter()
            .map(|(event, role)| AccessItem {
                reader: reader(s, Some(id), &event.actor, role),
                event,
            })
            .collect()
    })?;
    Ok((
        History {
            items,
            next_after: page.next_after,
        },
        n,
    ))
}

fn ais(p: &PersonState) -> CommunicationNeeds {
    let record = p.ais.as_ref();
    CommunicationNeeds {
        flag: p.ais_flag(),
        needs: record.map_or_else(Vec::new, |a| a.needs.iter().cloned().map(Care).collect()),
        consent_to_share: record.map(|a| a.consent_to_share),
        recorded: record.map(|a| stamp(&a.recorded)),
        last_review: record.and_then(|a| opt_stamp(&a.last_review)),
        formats_needed: p.needed_formats().into_iter().map(Care).collect(),
    }
}

pub fn communication_needs(
    app: &App,
    _: &Deadline,
    id: &str,
    _: &Page,
) -> Result<(CommunicationNeeds, u32), ApiError> {
    with_person(app, id, |p, _| (ais(p), 1))
}

fn paper(p: &PersonState, s: &careledger_care::State) -> Paper {
    Paper {
        copies: p
            .paper
            .iter()
            .map(|(doc, c)| PaperCopy {
                document: Care(*doc),
                version: c.version,
                format: Care(c.format),
                placed: stamp(&c.stamp),
            })
            .collect(),
        current_care_plan_version: p.plan.as_ref().map(|plan| plan.version),
        current_guide_version: s.current_guide().map(|g| g.version),
        mar_revision: p.mar_revision,
        declined: p.paper_declined.as_ref().map(|(who, s)| Declined {
            declined_by: who.clone(),
            decided: stamp(s),
        }),
    }
}

fn grants_of(p: &PersonState) -> Grants {
    Grants {
        grants: p
            .grants
            .iter()
            .map(|(gid, g)| Grant {
                grant_id: gid.clone(),
                grantee: Care(g.grantee.clone()),
                categories: g.categories.iter().copied().map(Care).collect(),
                purpose: Care(g.purpose),
                expires_at: g.expires_at_us.map(Time::at),
                decided_by: g.decided_by.clone(),
                basis: Care(g.basis),
                granted: stamp(&g.granted),
                revoked: opt_stamp(&g.revoked),
            })
            .collect(),
        sharing_consent: p
            .sharing
            .iter()
            .map(|(partner, s)| Sharing {
                partner_id: partner.clone(),
                categories: s.categories.iter().copied().map(Care).collect(),
                given: s.given,
                decided_by: s.decided_by.clone(),
                decided: stamp(&s.stamp),
            })
            .collect(),
    }
}

/// The last choices discussion, with its notes read from its event (the projection keeps
/// what findings need; the words are in the log).
fn discussion_of(
    app: &App,
    last: Option<careledger_care::state::Discussion>,
) -> Result<Option<Discussion>, ApiError> {
    let Some(d) = last else {
        return Ok(None);
    };
    let stored = app.ledger.store().get(d.stamp.seq)?;
    let notes = match decode(&stored)? {
        Some(CareEvent::ChoicesDiscussed(c)) => Some(c.notes),
        Some(CareEvent::BackEntered(b)) => match *b.entry {
            CareEvent::ChoicesDiscussed(c) => Some(c.notes),
            _ => None,
        },
        _ => None,
    };
    Ok(Some(Discussion {
        present: d.present.clone(),
        options_explained: d.options_explained.iter().copied().map(Care).collect(),
        chosen: d.chosen.iter().copied().map(Care).collect(),
        told_access_is_free: d.told_access_is_free,
        notes,
        held: stamp(&d.stamp),
    }))
}

fn person_findings(s: &careledger_care::State, id: &str) -> Vec<Finding> {
    person_findings_at(s, id, careledger_store::now_us())
        .iter()
        .map(Finding::from)
        .collect()
}

pub fn consent(app: &App, _: &Deadline, id: &str, _: &Page) -> Result<(Consent, u32), ApiError> {
    let (mut consent, last) = with_person(app, id, |p, s| {
        (
            Consent {
                grants: grants_of(p),
                last_discussion: None,
                discussions: p.counts.discussions,
                paper: paper(p, s),
                findings: person_findings(s, id),
            },
            p.last_discussion.clone(),
        )
    })?;
    consent.last_discussion = discussion_of(app, last)?;
    Ok((consent, 1))
}

pub fn paper_copies(app: &App, _: &Deadline, id: &str, _: &Page) -> Result<(Paper, u32), ApiError> {
    with_person(app, id, |p, s| (paper(p, s), p.paper.len() as u32))
}

pub fn grants(app: &App, _: &Deadline, id: &str, _: &Page) -> Result<(Grants, u32), ApiError> {
    with_person(app, id, |p, _| {
        (grants_of(p), (p.grants.len() + p.sharing.len()) as u32)
    })
}

pub fn evidence(app: &App, _: &Deadline, id: &str, _: &Page) -> Result<(Evidence, u32), ApiError> {
    let (mut evidence, last) = with_person(app, id, |p, s| {
        (
            Evidence {
                care_active: p.care_active(),
                last_discussion: None,
                discussions: p.counts.discussions,
                paper: paper(p, s),
                communication_needs: ais(p),
                format_mismatches: p
                    .format_mismatches
                    .iter()
                    .map(|m| FormatMismatch {
                        document: Care(m.document),
                        sent: Care(m.sent),
                        needed: m.needed.iter().copied().map(Care).collect(),
                        sent_at: stamp(&m.stamp),
                    })
                    .collect(),
                findings: person_findings(s, id),
            },
            p.last_discussion.clone(),
        )
    })?;
    evidence.last_discussion = discussion_of(app, last)?;
    Ok((evidence, 1))
}
