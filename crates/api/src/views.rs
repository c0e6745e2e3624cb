//! The sections of a person's record, each tied to the categories the access gate asks the
//! policy about, and built as JSON from the projections and the person's history in the log.
//!
//! The same builders will serve the web pages: a section is data, not a response.

use careledger_care::findings::{person_findings_at, Finding};
use careledger_care::state::{PersonState, Stamp};
use careledger_care::{CareEvent, Category};
use careledger_log::envelope::Envelope;
use careledger_store::StoredEvent;
use serde_json::{json, Value};

use crate::extract::time;
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

type Build = fn(&App, &str, &Page) -> Result<(Value, u32), ApiError>;

/// One readable section of a record.
pub struct Section {
    /// The path segment: `/v1/people/{id}/{name}`.
    pub name: &'static str,
    pub categories: &'static [Category],
    pub summary: &'static str,
    /// Takes `after` and `limit` (a history read from the log).
    pub paged: bool,
    pub build: Build,
}

pub const SECTIONS: &[Section] = &[
    Section {
        name: "details",
        categories: &[Category::PersonalDetails],
        summary: "Personal details, care status and representatives",
        paged: false,
        build: details,
    },
    Section {
        name: "care-plan",
        categories: &[Category::CarePlan],
        summary:
            "The current care plan and its version history (`version` shows an earlier one whole)",
        paged: false,
        build: care_plan,
    },
    Section {
        name: "daily-notes",
        categories: &[Category::DailyNotes],
        summary: "Visits, tasks and diary notes, including the person's own entries",
        paged: true,
        build: daily_notes,
    },
    Section {
        name: "medicines",
        categories: &[Category::Medicines],
        summary: "The MAR (NICE NG67): allergies, current medicines, administrations",
        paged: true,
        build: medicines,
    },
    Section {
        name: "observations",
        categories: &[Category::HealthObservations],
        summary: "Health observations",
        paged: true,
        build: observations,
    },
    Section {
        name: "communication-needs",
        categories: &[Category::CommunicationNeeds],
        summary: "Accessible Information Standard needs, their review and the formats needed",
        paged: false,
        build: communication_needs,
    },
    Section {
        name: "consent",
        categories: &[Category::ConsentRecords],
        summary:
            "Choices discussion, paper copies, grants, sharing consent and the person's findings",
        paged: false,
        build: consent,
    },
    Section {
        name: "paper-copies",
        categories: &[Category::ConsentRecords],
        summary: "Paper copies in the home and any recorded decision not to have them",
        paged: false,
        build: paper_copies,
    },
    Section {
        name: "grants",
        categories: &[Category::ConsentRecords],
        summary: "Who the person lets see what, and sharing consent with partners",
        paged: false,
        build: grants,
    },
    Section {
        name: "incidents",
        categories: &[Category::Incidents],
        summary: "Incidents",
        paged: true,
        build: incidents,
    },
    Section {
        name: "access-log",
        categories: &[Category::AccessLog],
        summary: "Who looked at the record, why, and who was refused",
        paged: true,
        build: access_log,
    },
    Section {
        name: "evidence",
        categories: &[Category::ConsentRecords, Category::CommunicationNeeds],
        summary: "Consent and information-choice evidence for a monitoring visit (R8, R9)",
        paged: false,
        build: evidence,
    },
];

pub fn section(name: &str) -> Option<&'static Section> {
    SECTIONS.iter().find(|s| s.name == name)
}

pub fn stamp(s: &Stamp) -> Value {
    json!({"event": s.seq, "occurred_at": time(s.occurred_at_us), "recorded_at": time(s.recorded_at_us)})
}

fn opt_stamp(s: &Option<Stamp>) -> Value {
    s.as_ref().map(stamp).unwrap_or(Value::Null)
}

/// An event's fields as the API accepts them, with its envelope's facts.
pub fn event_json(envelope: &Envelope, event: Option<&CareEvent>) -> Value {
    let payload = event
        .and_then(|e| e.serialize_fields(serde_json::value::Serializer).ok())
        .unwrap_or(Value::Null);
    json!({
        "event": envelope.seq,
        "kind": envelope.kind,
        "actor": envelope.actor,
        "occurred_at": time(envelope.occurred_at_us),
        "recorded_at": time(envelope.recorded_at_us),
        "payload": payload,
    })
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

/// Events read per store call.
const SCAN_CHUNK: usize = 1024;

/// Reads events after `after` (a client's event number) from `source`, oldest first, handing
/// each to `visit`, until it has taken `limit`, read `scan_max` events, or reached the end.
/// Returns the cursor to go on from (`next_after`), or none at the end.
pub fn scan(
    app: &App,
    source: Source<'_>,
    after: Option<u64>,
    limit: usize,
    scan_max: usize,
    mut visit: impl FnMut(&StoredEvent) -> Visit,
) -> Result<Option<u64>, ApiError> {
    let store = app.ledger.store();
    // The largest event number is a page after everything, not an overflow.
    let mut next = after.map_or(0, |a| a.saturating_add(1));
    let (mut taken, mut scanned) = (0, 0);
    loop {
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
            match visit(stored) {
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

/// The care event stored with an envelope, if its payload is there and decodes.
pub fn decode(stored: &StoredEvent) -> Option<CareEvent> {
    let (_, payload) = stored.payload.as_ref()?;
    CareEvent::decode(&stored.envelope.kind, payload).ok()
}

/// A page of the person's history: events whose kind `keep` accepts (and, for a back-entry,
/// whose entry it accepts), with the cursor to go on from.
fn history(
    app: &App,
    person: &str,
    page: &Page,
    keep: impl Fn(&CareEvent) -> bool,
    kinds: &[&str],
) -> Result<(Value, u32), ApiError> {
    let mut items = Vec::new();
    let next = scan(
        app,
        Source::Person(person),
        page.after,
        page.limit,
        HISTORY_SCAN_EVENTS_MAX,
        |stored| {
            let k = stored.envelope.kind.as_str();
            if !(kinds.contains(&k) || k == "outage.back_entered") {
                return Visit::Skip;
            }
            let event = decode(stored);
            let wanted = match &event {
                Some(CareEvent::BackEntered(b)) => keep(&b.entry),
                Some(e) => keep(e),
                None => kinds.contains(&k),
            };
            if !wanted {
                return Visit::Skip;
            }
            items.push(event_json(&stored.envelope, event.as_ref()));
            Visit::Take
        },
    )?;
    let n = items.len() as u32;
    Ok((json!({"items": items, "next_after": next}), n))
}

fn of_kinds(kinds: &'static [&'static str]) -> impl Fn(&CareEvent) -> bool {
    move |e| kinds.contains(&e.kind())
}

fn details(app: &App, id: &str, _: &Page) -> Result<(Value, u32), ApiError> {
    with_person(app, id, |p, _| {
        let d = &p.details;
        let reps: Vec<Value> = p
            .representatives
            .iter()
            .map(|(rid, r)| {
                json!({
                    "id": rid, "name": r.name, "relationship": r.relationship,
                    "evidence_of_authority": r.evidence_of_authority,
                    "may_contribute": r.may_contribute, "linked": stamp(&r.linked),
                })
            })
            .collect();
        (
            json!({
                "name": d.name, "date_of_birth": d.date_of_birth, "nhs_number": d.nhs_number,
                "address": d.address, "gp_practice": d.gp_practice,
                "registered": stamp(&p.registered),
                "care_started": opt_stamp(&p.care_started), "care_ended": opt_stamp(&p.care_ended),
                "representatives": reps,
            }),
            1,
        )
    })
}

fn care_plan(app: &App, id: &str, page: &Page) -> Result<(Value, u32), ApiError> {
    let (current, versions) = with_person(app, id, |p, _| {
        let current = p.plan.as_ref().map(|plan| {
            json!({
                "version": plan.version,
                "sections": plan.sections,
                "published": stamp(&plan.published),
                "last_review": opt_stamp(&plan.last_review),
                "next_review_date": plan.next_review_date,
            })
        });
        let versions: Vec<(u32, Stamp)> = p.plan_versions.clone();
        (current, versions)
    })?;
    let list: Vec<Value> = versions
        .iter()
        .map(|(v, s)| json!({"version": v, "published": stamp(s)}))
        .collect();
    let mut body = json!({"current": current, "versions": list});
    if let Some(wanted) = page.version {
        let (_, s) = versions.iter().find(|(v, _)| *v == wanted).ok_or_else(|| {
            ApiError::not_found(format!("{id} has no care plan version {wanted}")).field("version")
        })?;
        let stored = app.ledger.store().get(s.seq)?;
        body["version"] = event_json(&stored.envelope, decode(&stored).as_ref());
    }
    Ok((body, 1 + versions.len() as u32))
}

const DAILY: &[&str] = &[
    "visit.started",
    "visit.completed",
    "task.recorded",
    "diary.note",
];

fn daily_notes(app: &App, id: &str, page: &Page) -> Result<(Value, u32), ApiError> {
    history(app, id, page, of_kinds(DAILY), DAILY)
}

const MAR: &[&str] = &[
    "mar.medicine_added",
    "mar.medicine_stopped",
    "mar.administration",
];

fn medicines(app: &App, id: &str, page: &Page) -> Result<(Value, u32), ApiError> {
    let (summary, n) = with_person(app, id, |p, _| {
        let meds: Vec<Value> = p
            .medicines
            .iter()
            .map(|(mid, m)| {
                json!({
                    "medicine_id": mid, "details": m.details, "added": stamp(&m.added),
                    "stopped": opt_stamp(&m.stopped), "last_given": opt_stamp(&m.last_given),
                    "given": m.given, "not_given": m.not_given,
                })
            })
            .collect();
        let n = meds.len() as u32;
        (
            json!({
                "allergies": p.details.allergies,
                "date_of_birth": p.details.date_of_birth,
                "gp_practice": p.details.gp_practice,
                "mar_revision": p.mar_revision,
                "medicines": meds,
            }),
            n,
        )
    })?;
    let (history, h) = history(app, id, page, of_kinds(MAR), MAR)?;
    let mut body = summary;
    body["administrations"] = history;
    Ok((body, n + h))
}

const OBSERVATIONS: &[&str] = &["observation.recorded"];

fn observations(app: &App, id: &str, page: &Page) -> Result<(Value, u32), ApiError> {
    history(app, id, page, of_kinds(OBSERVATIONS), OBSERVATIONS)
}

const INCIDENTS: &[&str] = &["incident.recorded"];

fn incidents(app: &App, id: &str, page: &Page) -> Result<(Value, u32), ApiError> {
    history(app, id, page, of_kinds(INCIDENTS), INCIDENTS)
}

const ACCESS: &[&str] = &["access.read", "access.refused", "access.emergency"];

fn access_log(app: &App, id: &str, page: &Page) -> Result<(Value, u32), ApiError> {
    history(app, id, page, of_kinds(ACCESS), ACCESS)
}

fn ais_json(p: &PersonState) -> Value {
    json!({
        "flag": p.ais_flag(),
        "needs": p.ais.as_ref().map(|a| json!(a.needs)),
        "consent_to_share": p.ais.as_ref().map(|a| a.consent_to_share),
        "recorded": p.ais.as_ref().map(|a| stamp(&a.recorded)),
        "last_review": p.ais.as_ref().map(|a| opt_stamp(&a.last_review)),
        "formats_needed": p.needed_formats(),
    })
}

fn communication_needs(app: &App, id: &str, _: &Page) -> Result<(Value, u32), ApiError> {
    with_person(app, id, |p, _| (ais_json(p), 1))
}

fn paper_json(p: &PersonState) -> Value {
    let copies: Vec<Value> = p
        .paper
        .iter()
        .map(|(doc, c)| json!({"document": doc, "version": c.version, "format": c.format, "placed": stamp(&c.stamp)}))
        .collect();
    json!({
        "copies": copies,
        "current_care_plan_version": p.plan.as_ref().map(|plan| plan.version),
        "mar_revision": p.mar_revision,
        "declined": p.paper_declined.as_ref().map(|(who, s)| json!({"declined_by": who, "decided": stamp(s)})),
    })
}

fn grants_json(p: &PersonState) -> Value {
    let grants: Vec<Value> = p
        .grants
        .iter()
        .map(|(gid, g)| {
            json!({
                "grant_id": gid, "grantee": g.grantee, "categories": g.categories, "purpose": g.purpose,
                "expires_at": g.expires_at_us.map(time), "decided_by": g.decided_by, "basis": g.basis,
                "granted": stamp(&g.granted), "revoked": opt_stamp(&g.revoked),
            })
        })
        .collect();
    let sharing: Vec<Value> = p
        .sharing
        .iter()
        .map(|(partner, s)| {
            json!({"partner_id": partner, "categories": s.categories, "given": s.given, "decided_by": s.decided_by, "decided": stamp(&s.stamp)})
        })
        .collect();
    json!({"grants": grants, "sharing_consent": sharing})
}

fn discussion_json(p: &PersonState) -> Value {
    p.last_discussion
        .as_ref()
        .map(|d| {
            json!({
                "present": d.present, "options_explained": d.options_explained, "chosen": d.chosen,
                "told_access_is_free": d.told_access_is_free, "held": stamp(&d.stamp),
            })
        })
        .unwrap_or(Value::Null)
}

pub fn finding_json(f: &Finding) -> Value {
    json!({
        "rule": f.rule.id(), "person": f.person, "since": time(f.since_us),
        "message": f.message, "evidence": f.evidence,
    })
}

fn consent(app: &App, id: &str, _: &Page) -> Result<(Value, u32), ApiError> {
    let now = careledger_store::now_us();
    with_person(app, id, |p, s| {
        let mut body = grants_json(p);
        body["last_discussion"] = discussion_json(p);
        body["discussions"] = json!(p.counts.discussions);
        body["paper"] = paper_json(p);
        body["findings"] = json!(person_findings_at(s, id, now)
            .iter()
            .map(finding_json)
            .collect::<Vec<_>>());
        (body, 1)
    })
}

fn paper_copies(app: &App, id: &str, _: &Page) -> Result<(Value, u32), ApiError> {
    with_person(app, id, |p, _| (paper_json(p), p.paper.len() as u32))
}

fn grants(app: &App, id: &str, _: &Page) -> Result<(Value, u32), ApiError> {
    with_person(app, id, |p, _| {
        (grants_json(p), (p.grants.len() + p.sharing.len()) as u32)
    })
}

fn evidence(app: &App, id: &str, _: &Page) -> Result<(Value, u32), ApiError> {
    let now = careledger_store::now_us();
    with_person(app, id, |p, s| {
        let findings: Vec<Value> = person_findings_at(s, id, now)
            .iter()
            .map(finding_json)
            .collect();
        (
            json!({
                "care_active": p.care_active(),
                "last_discussion": discussion_json(p),
                "discussions": p.counts.discussions,
                "paper": paper_json(p),
                "communication_needs": ais_json(p),
                "format_mismatches": p.format_mismatches.iter().map(|m| json!({"document": m.document, "sent": m.sent, "needed": m.needed, "sent_at": stamp(&m.stamp)})).collect::<Vec<_>>(),
                "findings": findings,
            }),
            1,
        )
    })
}
