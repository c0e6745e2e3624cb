//! Handlers, one per route. Each reads like the HTTP it serves: extract, check, call the
//! gate or the ledger, answer.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use careledger_care::event::EmergencyAccess;
use careledger_care::findings::{findings, person_findings_at, Rule};
use careledger_care::policy::{may_record, role_default};
use careledger_care::sla::{sla_state, SlaState};
use careledger_care::state::CouncilRequest;
use careledger_care::{CareEvent, Category, Purpose, Role, Scope, MINUTE_US};
use careledger_ledger::Command;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::blocking::Deadline;
use crate::extract::{parse_time, Auth, JsonBody, Params, PathArg};
use crate::gate;
use crate::idempotency::IdempotencyKey;
use crate::views::{self, Page, Section, Source, Visit};
use crate::wire::{self, Base64, Care, Time};
use crate::{ApiError, App, Principal};

type ApiResult<T> = Result<Json<T>, ApiError>;

/// The purpose a role reads for unless it says otherwise.
pub fn default_purpose(role: Role) -> Purpose {
    match role {
        Role::CareWorker | Role::Coordinator | Role::RegisteredManager => Purpose::DirectCare,
        Role::ProviderAdmin => Purpose::Administration,
        Role::Person | Role::Representative | Role::Family => Purpose::PersonalAccess,
        Role::Partner => Purpose::Handover,
        Role::MonitoringOfficer | Role::SocialCareProfessional => Purpose::StatutoryReview,
        Role::Auditor => Purpose::Audit,
        Role::EmergencyClinician => Purpose::Emergency,
    }
}

pub(crate) fn require_role(who: &Principal, allowed: &[Role], what: &str) -> Result<(), ApiError> {
    if allowed.contains(&who.role) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "{} may not {what}; this needs one of: {}",
            who.role.with_article(),
            allowed
                .iter()
                .map(|r| r.name())
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}

// ------------------------------------------------------------------ who am I

pub async fn me(Auth(who): Auth) -> Json<wire::Me> {
    Json(wire::Me {
        role: Care(who.role),
        default_purpose: Care(default_purpose(who.role)),
        id: who.id,
    })
}

// ------------------------------------------------------------------ a person's record

/// A section of a person's record, through the access gate.
pub async fn person_section(
    section: &'static Section,
    State(app): State<App>,
    Auth(who): Auth,
    PathArg(person): PathArg<String>,
    params: Params,
) -> ApiResult<wire::Record<Value>> {
    let mut known = vec!["purpose"];
    if section.paged {
        known.extend(["after", "limit"]);
    }
    if section.name == "care-plan" {
        known.push("version");
    }
    params.only(&known)?;
    let purpose = params
        .name::<Purpose>("purpose")?
        .unwrap_or(default_purpose(who.role));
    let version = match params.u64("version")? {
        None => None,
        Some(v @ 1..=0xFFFF_FFFF) => Some(v as u32),
        Some(v) => {
            return Err(ApiError::bad_request(
                "version",
                format!("version must be between 1 and {}, not {v}", u32::MAX),
            ))
        }
    };
    let page = Page {
        after: params.u64("after")?,
        limit: params.limit(&app)?,
        version,
    };
    let id = person.clone();
    let granted = gate::read(
        &app,
        &who,
        &person,
        section.categories,
        purpose,
        move |app, deadline| (section.build)(app, deadline, &id, &page),
    )
    .await?;
    Ok(Json(granted.record(&person)))
}

/// Longest break-glass reason, in characters: a sentence or two for the reviewer.
pub const EMERGENCY_REASON_CHARS_MAX: usize = 1000;

/// Longest subject (person id) a request may name, in characters; the envelope's limit
/// is 200 bytes, and 50 characters of any script fit in it.
pub const SUBJECT_CHARS_MAX: usize = 50;

/// Break-glass: why, and for how long.
#[derive(Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencyRequest {
    /// Why break-glass access is needed (required, recorded, reviewed): not blank.
    #[schemars(regex(pattern = careledger_care::fields::not_blank_pattern()), length(max = 1000))]
    reason: String,
    /// How long it lasts, in minutes; default 60, at most the service's limit (12 hours).
    #[serde(default, deserialize_with = "crate::extract::whole_number")]
    #[schemars(range(min = 1, max = 720))]
    minutes: Option<u32>,
}

/// Records break-glass access by `who` (an emergency clinician) to `person`'s medicines
/// and allergies, for `minutes` (default 60, at most the service's limit): the checks of
/// `POST /v1/people/{id}/emergency-access`, for the pages too. Returns the emergency
/// event and when the access ends.
pub async fn record_emergency(
    app: &App,
    who: &Principal,
    person: &str,
    reason: String,
    minutes_asked: Option<u32>,
    key: Option<careledger_store::RequestKey>,
) -> Result<(u64, i64), ApiError> {
    if !may_record(who.role, "access.emergency") {
        return Err(ApiError::forbidden(format!(
            "{} may not use emergency access; it is for emergency clinicians",
            who.role.with_article()
        )));
    }
    if careledger_care::fields::blank(&reason) {
        return Err(ApiError::bad_request(
            "reason",
            "emergency access needs a reason",
        ));
    }
    if let Some((at, c)) = reason
        .chars()
        .enumerate()
        .find(|(_, c)| careledger_care::fields::forbidden_control(*c))
    {
        return Err(ApiError::bad_request(
            "reason",
            format!(
                "the reason holds a control character (U+{:04X}) at character {}",
                u32::from(c),
                at + 1
            ),
        ));
    }
    let chars = reason.chars().count();
    if chars > EMERGENCY_REASON_CHARS_MAX {
        return Err(ApiError::bad_request(
            "reason",
            format!("the reason is {chars} characters; at most {EMERGENCY_REASON_CHARS_MAX}"),
        ));
    }
    let max = app.limits.emergency_minutes_max;
    let minutes = minutes_asked.unwrap_or(60);
    if minutes == 0 || minutes > max {
        return Err(ApiError::bad_request(
            "minutes",
            format!("minutes must be between 1 and {max}, not {minutes}"),
        ));
    }
    if app.ledger.read(|s| s.person(person).is_none())? {
        return Err(ApiError::no_person(person));
    }
    let now = careledger_store::now_us();
    let event = CareEvent::EmergencyAccess(EmergencyAccess {
        role: who.role,
        reason,
        categories: vec![Category::Medicines],
        expires_at_us: now + i64::from(minutes) * MINUTE_US,
    });
    let receipts = app
        .append_keyed(vec![Command::about(&who.id, person, now, event)], key)
        .await?;
    // A retry is answered with the first access's event, and so with its expiry.
    let expires_at_us = if receipts[0].replayed {
        recorded_expiry(app, receipts[0].seq)?
    } else {
        app.metrics.access_emergency.fetch_add(1, Relaxed);
        now + i64::from(minutes) * MINUTE_US
    };
    Ok((receipts[0].seq, expires_at_us))
}

/// Break-glass: records the emergency access, then reads medicines and allergies through
/// the gate (flagged for review).
pub async fn emergency(
    State(app): State<App>,
    Auth(who): Auth,
    PathArg(person): PathArg<String>,
    key: IdempotencyKey,
    JsonBody(body): JsonBody<EmergencyRequest>,
) -> ApiResult<wire::EmergencyRead> {
    let key = key.for_request(
        &who.id,
        &format!("POST /v1/people/{person}/emergency-access"),
        &body,
    )?;
    let (emergency_event, expires_at_us) =
        record_emergency(&app, &who, &person, body.reason, body.minutes, key).await?;
    let page = Page {
        after: None,
        limit: app.limits.page_items_default,
        version: None,
    };
    let id = person.clone();
    let granted = gate::read(
        &app,
        &who,
        &person,
        &[Category::Medicines],
        Purpose::Emergency,
        move |app, deadline| views::medicines(app, deadline, &id, &page),
    )
    .await?;
    Ok(Json(wire::EmergencyRead {
        record: granted.record(&person),
        emergency_event,
        expires_at: Time::at(expires_at_us),
    }))
}

/// The expiry the emergency access event `seq` recorded.
fn recorded_expiry(app: &App, seq: u64) -> Result<i64, ApiError> {
    let stored = app.ledger.store().get(seq)?;
    let (_, payload) = stored
        .payload
        .as_ref()
        .ok_or_else(|| ApiError::internal(format!("event {seq}'s payload is erased")))?;
    match CareEvent::decode(&stored.envelope.kind, payload) {
        Ok(CareEvent::EmergencyAccess(e)) => Ok(e.expires_at_us),
        Ok(other) => Err(ApiError::internal(format!(
            "event {seq} is {}, not the emergency access its key recorded",
            other.kind()
        ))),
        Err(e) => Err(ApiError::internal(format!(
            "event {seq} does not decode: {e}"
        ))),
    }
}

// ------------------------------------------------------------------ commands

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventRequest {
    kind: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    occurred_at: Option<String>,
    payload: Value,
}

/// Records one care event of any kind the principal's role may record.
pub async fn record_event(
    State(app): State<App>,
    Auth(who): Auth,
    key: IdempotencyKey,
    JsonBody(body): JsonBody<EventRequest>,
) -> Result<Response, ApiError> {
    let key = key.for_request(&who.id, "POST /v1/events", &body)?;
    let kind = body.kind.as_str();
    recordable_kind(&who, kind)?;
    let event = payload_event(kind, body.payload)?;
    let occurred_at = match &body.occurred_at {
        Some(t) => Some(parse_time("occurred_at", t)?),
        None => None,
    };
    let r = record(&app, &who, body.subject.as_deref(), occurred_at, event, key).await?;
    Ok((
        StatusCode::CREATED,
        Json(wire::Recorded {
            event: r.seq,
            kind: kind.to_string(),
            recorded_at: Time::at(r.recorded_at_us),
        }),
    )
        .into_response())
}

/// Records one care event as `who`, with the checks `POST /v1/events` makes (the role may
/// record the kind, the subject fits its scope, what is recorded on someone's behalf is
/// theirs to record), then the care rules in the appender; answers once it is durable.
/// The pages record through here too, so a form and the JSON API cannot differ.
pub async fn record(
    app: &App,
    who: &Principal,
    subject: Option<&str>,
    occurred_at_us: Option<i64>,
    event: CareEvent,
    key: Option<careledger_store::RequestKey>,
) -> Result<careledger_store::Receipt, ApiError> {
    let kind = event.kind();
    let scope = recordable_kind(who, kind)?;
    check_back_entry_role(who, &event)?;
    check_email_by_hand(&event)?;
    check_subject_for(kind, scope, subject)?;
    check_on_behalf(app, who, subject, &event)?;
    if let CareEvent::BackEntered(b) = &event {
        // The entry is applied as if recorded directly: the same checks apply to it.
        check_on_behalf(app, who, subject, &b.entry)?;
    }
    let command = Command {
        actor: who.id.clone(),
        subject: subject.map(str::to_string),
        occurred_at_us: occurred_at_us.unwrap_or_else(careledger_store::now_us),
        event,
    };
    let receipts = app.append_keyed(vec![command], key).await?;
    if kind.starts_with("request.") {
        app.sla_wake.notify_one();
    }
    Ok(receipts[0])
}

/// The scope of `kind`, if it is a kind and `who` may record it through this route.
fn recordable_kind(who: &Principal, kind: &str) -> Result<Scope, ApiError> {
    let Some(scope) = CareEvent::scope_of(kind) else {
        return Err(ApiError::bad_request(
            "kind",
            format!("unknown event kind {kind:?}; GET /openapi.json lists them"),
        ));
    };
    if !may_record(who.role, kind) {
        return Err(ApiError::forbidden(format!(
            "{} may not record {kind}",
            who.role.with_article()
        ))
        .field("kind"));
    }
    if kind == "access.emergency" {
        return Err(ApiError::bad_request(
            "kind",
            "break-glass access is recorded by POST /v1/people/{id}/emergency-access",
        ));
    }
    Ok(scope)
}

/// The payload as a `kind` event, or a 400 naming the field at fault.
fn payload_event(kind: &str, mut payload: Value) -> Result<CareEvent, ApiError> {
    // JSON Schema counts 30.0 as an integer: so does the API.
    crate::extract::integral_floats_as_integers(&mut payload);
    let mut tracked = serde_path_to_error::Track::new();
    CareEvent::deserialize_kind(
        kind,
        serde_path_to_error::Deserializer::new(&payload, &mut tracked),
    )
    .map_err(|e| {
        let path = tracked.path().to_string();
        let field = if path == "." {
            "payload".to_string()
        } else {
            format!("payload.{path}")
        };
        ApiError::bad_request(field.clone(), format!("{field}: {e}"))
    })
}

/// A back-entry applies its entry as if recorded directly, so the role must be one that
/// may record the entry's kind itself: otherwise wrapping a grant or a representative's
/// link in a back-entry would get round `may_record`.
/// A delivery recorded by hand (an email sent outside careledger) carries no digest,
/// Message-ID or relay answer: those are the service's, written when its relay accepted a
/// message it sent, so a hand-made record cannot pass for one.
fn check_email_by_hand(event: &CareEvent) -> Result<(), ApiError> {
    let CareEvent::SecureEmailDelivered(e) = event else {
        return Ok(());
    };
    for (field, given) in [
        ("digest", e.digest.is_some()),
        ("message_id", e.message_id.is_some()),
        ("relay_answer", e.relay_answer.is_some()),
    ] {
        if given {
            return Err(ApiError::bad_request(
                format!("payload.{field}"),
                format!("{field} is written by the service when its relay accepts a document it sent (POST /v1/people/{{id}}/documents/{{kind}}/email); an email sent outside careledger is recorded without it"),
            ));
        }
    }
    Ok(())
}

fn check_back_entry_role(who: &Principal, event: &CareEvent) -> Result<(), ApiError> {
    let CareEvent::BackEntered(b) = event else {
        return Ok(());
    };
    let entry = b.entry.kind();
    if may_record(who.role, entry) {
        return Ok(());
    }
    Err(ApiError::forbidden(format!(
        "{} may not record {entry}, so may not back-enter it either",
        who.role.with_article()
    ))
    .field("payload.entry"))
}

/// A subject exactly when `kind` is about a person, and one the envelope can hold.
fn check_subject_for(kind: &str, scope: Scope, subject: Option<&str>) -> Result<(), ApiError> {
    if let Some(subject) = subject {
        check_subject(subject)?;
    }
    match (scope, subject) {
        (Scope::Person, None) => Err(ApiError::bad_request(
            "subject",
            format!("{kind} is about a person: name them in subject"),
        )),
        (Scope::Organisation, Some(_)) => Err(ApiError::bad_request(
            "subject",
            format!("{kind} is about the organisation: leave subject out"),
        )),
        _ => Ok(()),
    }
}

/// A person id as the envelope will hold it: not empty, no control characters, at most
/// [`SUBJECT_CHARS_MAX`] characters (what the document's schema says).
fn check_subject(subject: &str) -> Result<(), ApiError> {
    if subject.is_empty() {
        return Err(ApiError::bad_request("subject", "subject is empty"));
    }
    if subject.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "subject",
            "subject contains a control character",
        ));
    }
    let chars = subject.chars().count();
    if chars > SUBJECT_CHARS_MAX {
        return Err(ApiError::bad_request(
            "subject",
            format!("subject is {chars} characters; at most {SUBJECT_CHARS_MAX}"),
        ));
    }
    Ok(())
}

/// People, representatives and council officers act for themselves only.
fn check_on_behalf(
    app: &App,
    who: &Principal,
    subject: Option<&str>,
    event: &CareEvent,
) -> Result<(), ApiError> {
    let decider = match event {
        CareEvent::AccessGranted(e) => Some(&e.decided_by),
        CareEvent::AccessRevoked(e) => Some(&e.decided_by),
        CareEvent::SharingConsentRecorded(e) => Some(&e.decided_by),
        CareEvent::PaperCopiesDeclined(e) => Some(&e.declined_by),
        _ => None,
    };
    match who.role {
        Role::Person if subject != Some(who.id.as_str()) => {
            return Err(
                ApiError::forbidden("a person records entries about themselves only")
                    .field("subject"),
            );
        }
        Role::Representative => {
            let person = subject.unwrap_or_default();
            let linked = app.ledger.read(|s| {
                s.person(person)
                    .is_some_and(|p| p.representatives.contains_key(&who.id))
            })?;
            if !linked {
                return Err(ApiError::forbidden(format!(
                    "{} is not linked to {person} as a representative",
                    who.id
                ))
                .field("subject"));
            }
        }
        Role::Partner => {
            let CareEvent::HandoverReceived(e) = event else {
                return Err(ApiError::forbidden("a partner records handovers only"));
            };
            if e.partner_id != who.id {
                return Err(ApiError::forbidden(format!(
                    "{} records handovers of their own only, not of {}",
                    who.id, e.partner_id
                ))
                .field("payload.partner_id"));
            }
            let person = subject.unwrap_or_default();
            let agreed = app.ledger.read(|s| {
                s.person(person)
                    .and_then(|p| p.sharing.get(&who.id))
                    .is_some_and(|c| c.given)
            })?;
            if !agreed {
                return Err(ApiError::forbidden(format!(
                    "{person} has not agreed to share with {}: a partner hands over only \
                     about people who did",
                    who.id
                ))
                .field("subject"));
            }
        }
        Role::MonitoringOfficer | Role::SocialCareProfessional => {
            if let CareEvent::RequestWithdrawn(e) = event {
                let own = app
                    .ledger
                    .read(|s| s.requests.get(&e.request_id).map(|r| r.requester == who.id))?;
                if own == Some(false) {
                    return Err(ApiError::forbidden(
                        "a council officer withdraws their own requests only",
                    )
                    .field("payload.request_id"));
                }
            }
        }
        _ => {}
    }
    if matches!(who.role, Role::Person | Role::Representative) {
        if let Some(d) = decider {
            if *d != who.id {
                return Err(ApiError::forbidden(format!(
                    "{} decides for themselves only, not as {d}",
                    who.id
                ))
                .field("payload.decided_by"));
            }
        }
    }
    // Staff record the person's decisions (a signed consent form, say), but not a grant to
    // themselves or their own role: that would be access they gave themselves.
    if let CareEvent::AccessGranted(g) = event {
        let to_self = match &g.grantee {
            careledger_care::Grantee::Principal(p) => *p == who.id,
            careledger_care::Grantee::Role(r) => *r == who.role,
        };
        if to_self && g.decided_by != who.id {
            return Err(ApiError::forbidden(format!(
                "{} may not record a grant to themselves or their own role on {}'s behalf; \
                 someone else records it, or the person does",
                who.id, g.decided_by
            ))
            .field("payload.grantee"));
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ auditors

const AUDIT_KINDS: &[&str] = &["access.read", "access.refused", "access.emergency"];

/// Who saw what: access events by person, actor, role, purpose, category and time range. With `person`,
/// it is that person's access log through the gate (one access event). Across people, each
/// person in the page gets one access event, all appended together before the page leaves.
pub async fn audit_access(
    State(app): State<App>,
    Auth(who): Auth,
    params: Params,
) -> ApiResult<wire::AuditPage> {
    params.only(&[
        "person", "actor", "role", "purpose", "category", "from", "to", "after", "limit",
    ])?;
    let actor = params.str("actor").map(str::to_string);
    let role = params.name::<Role>("role")?;
    let purpose = params.name::<Purpose>("purpose")?;
    let category = params.name::<Category>("category")?;
    let from = params.time("from")?;
    let to = params.time("to")?;
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(ApiError::bad_request("to", "to is before from"));
        }
    }
    let limit = params.limit(&app)?;
    let after = params.u64("after")?;
    let query = AuditQuery {
        person: params.str("person").map(str::to_string),
        filter: AuditFilter {
            actor,
            role,
            purpose,
            category,
            from,
            to,
        },
        after,
        limit,
    };
    audit(&app, &who, query).await.map(Json)
}

/// An auditor's question: whose record (or everyone's), which accesses, from where.
pub struct AuditQuery {
    pub person: Option<String>,
    pub filter: AuditFilter,
    pub after: Option<u64>,
    pub limit: usize,
}

/// Answers an [`AuditQuery`] as `who` (the pages ask through here too), recording the
/// reads it makes: one access event for one person's log, one per person otherwise.
pub async fn audit(
    app: &App,
    who: &Principal,
    query: AuditQuery,
) -> Result<wire::AuditPage, ApiError> {
    let AuditQuery {
        person,
        filter,
        after,
        limit,
    } = query;
    let from = filter.from;
    if let Some(person) = person {
        let scan = app.scan_permit()?;
        let id = person.clone();
        let granted = gate::read(
            app,
            who,
            &person,
            &[Category::AccessLog],
            Purpose::Audit,
            move |app, deadline| {
                scan.run(app, deadline, move |app, deadline| {
                    let (rows, next, _) =
                        audit_rows(app, deadline, Source::Person(&id), after, &filter, limit)?;
                    let n = rows.len() as u32;
                    Ok(((rows, next), n))
                })
            },
        )
        .await?;
        let (items, next_after) = granted.data;
        return Ok(wire::AuditPage {
            items,
            next_after,
            access_events: vec![granted.access_seq],
            ais_flag: granted.ais_flag,
        });
    }
    if !role_default(who.role, Category::AccessLog, Purpose::Audit) {
        return Err(ApiError::forbidden(format!(
            "{} may not read access logs across people; auditors and registered managers may",
            who.role.with_article()
        )));
    }
    let start = match (after, from) {
        (Some(a), _) => Some(a),
        // The events recorded before `from` are a prefix of the log: start after it.
        (None, Some(f)) => {
            careledger_ledger::as_of::events_recorded_by(app.ledger.store(), f.saturating_sub(1))?
                .checked_sub(1)
        }
        (None, None) => None,
    };
    let scan = app.scan_permit()?;
    let (items, next_after, per_person) = app
        .offload("an audit query", move |app, deadline| {
            scan.run(app, deadline, move |app, deadline| {
                audit_rows(app, deadline, Source::Log, start, &filter, limit)
            })
        })
        .await?;
    let now = careledger_store::now_us();
    let commands: Vec<Command> = per_person
        .iter()
        .map(|(person, n)| {
            Command::about(
                &who.id,
                person,
                now,
                // Checked above: the role reads every access log for audit.
                gate::access_event(
                    who,
                    &[Category::AccessLog],
                    Purpose::Audit,
                    *n,
                    &[(Category::AccessLog, careledger_care::Basis::RoleDefault)],
                ),
            )
        })
        .collect();
    let access_events: Vec<u64> = if commands.is_empty() {
        Vec::new()
    } else {
        app.append(commands).await?.iter().map(|r| r.seq).collect()
    };
    app.metrics
        .access_allowed
        .fetch_add(access_events.len() as u64, Relaxed);
    Ok(wire::AuditPage {
        items,
        next_after,
        access_events,
        ais_flag: None,
    })
}

type Rows = (Vec<wire::AuditRow>, Option<u64>, BTreeMap<String, u32>);

/// What an auditor query keeps, from its parameters.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// The role the reader read in (as the event records it).
    pub role: Option<Role>,
    /// The purpose of use recorded; a break-glass access is for `Emergency`.
    pub purpose: Option<Purpose>,
    pub category: Option<Category>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl AuditFilter {
    fn keeps(&self, e: &careledger_log::envelope::Envelope, event: &Option<CareEvent>) -> bool {
        AUDIT_KINDS.contains(&e.kind.as_str())
            && self.actor.as_deref().is_none_or(|a| e.actor == a)
            && self.from.is_none_or(|f| e.recorded_at_us >= f)
            && self.to.is_none_or(|t| e.recorded_at_us <= t)
            && (self.category.is_none() && self.role.is_none() && self.purpose.is_none()
                || access_facts(event).is_some_and(|(role, categories, purpose)| {
                    self.category.is_none_or(|c| categories.contains(&c))
                        && self.role.is_none_or(|r| r == role)
                        && self.purpose.is_none_or(|p| p == purpose)
                }))
    }
}

/// An access event's reader role, categories and purpose of use (a break-glass access is
/// for `Emergency`); none for an erased one, whose facts went with its payload.
fn access_facts(event: &Option<CareEvent>) -> Option<(Role, &[Category], Purpose)> {
    match event.as_ref()? {
        CareEvent::RecordAccessed(r) => Some((r.role, &r.categories, r.purpose)),
        CareEvent::AccessRefused(r) => Some((r.role, &r.categories, r.purpose)),
        CareEvent::EmergencyAccess(r) => Some((r.role, &r.categories, Purpose::Emergency)),
        _ => None,
    }
}

/// Access events after `after` that `filter` keeps, from the log or one person's index, up
/// to `limit` rows and [`crate::Limits::audit_scan_events_max`] events read; with the
/// cursor, and how many rows each person has. Runs on the blocking pool, within `deadline`.
fn audit_rows(
    app: &App,
    deadline: &Deadline,
    source: Source<'_>,
    after: Option<u64>,
    filter: &AuditFilter,
    limit: usize,
) -> Result<Rows, ApiError> {
    let mut rows: Vec<(wire::EventItem, Option<Role>, Option<String>)> = Vec::new();
    let mut per_person = BTreeMap::new();
    let to = filter.to;
    let next = views::scan(
        app,
        deadline,
        source,
        after,
        limit,
        app.limits.audit_scan_events_max,
        |stored| {
            let e = &stored.envelope;
            // Recorded-at never decreases: nothing later can be in the range.
            if to.is_some_and(|t| e.recorded_at_us > t) {
                return Ok(Visit::Stop);
            }
            if !AUDIT_KINDS.contains(&e.kind.as_str()) {
                return Ok(Visit::Skip);
            }
            // An access event that does not decode fails the query (500, naming it): the
            // category filter cannot tell, and dropping it would hide an access.
            let event = views::decode(stored)?;
            if !filter.keeps(e, &event) {
                return Ok(Visit::Skip);
            }
            if let Some(subject) = &e.subject {
                *per_person.entry(subject.clone()).or_insert(0) += 1;
            }
            rows.push((
                views::event_item(e, event.as_ref()),
                views::access_role(event.as_ref()),
                e.subject.clone(),
            ));
            Ok(Visit::Take)
        },
    )?;
    // Readers are named from the projections once the scan is done, not during it.
    let rows = app.ledger.read(|s| {
        rows.into_iter()
            .map(|(event, role, person)| wire::AuditRow {
                reader: views::reader(s, person.as_deref(), &event.actor, role),
                person,
                event,
            })
            .collect()
    })?;
    Ok((rows, next, per_person))
}

// ------------------------------------------------------------------ monitoring officers

const PROVIDER_VIEW: &[Role] = &[
    Role::MonitoringOfficer,
    Role::SocialCareProfessional,
    Role::RegisteredManager,
    Role::ProviderAdmin,
];

/// The provider-wide report for a monitoring visit (R9): discussions held, choices, paper
/// copies, AIS needs met, and every finding with the events that prove it. Findings name
/// people by id only.
pub async fn provider_findings(
    State(app): State<App>,
    Auth(who): Auth,
    params: Params,
) -> ApiResult<wire::ProviderFindings> {
    params.only(&["at", "person"])?;
    let at = params.time("at")?;
    let person = params.str("person").map(str::to_string);
    findings_as(&app, &who, at, person).await.map(Json)
}

/// The findings open at the end of each day, by rule, oldest first.
pub async fn findings_daily(
    State(app): State<App>,
    Auth(who): Auth,
    params: Params,
) -> ApiResult<wire::FindingsDaily> {
    params.only(&[])?;
    findings_daily_as(&app, &who).map(Json)
}

/// [`findings_daily`] as `who` (the pages ask through here too).
pub fn findings_daily_as(app: &App, who: &Principal) -> Result<wire::FindingsDaily, ApiError> {
    require_role(who, PROVIDER_VIEW, "see the provider's findings")?;
    let days = app.ledger.read(|s| {
        s.daily
            .iter()
            .map(|(day, t)| wire::FindingsDay {
                day: day.clone(),
                total: t.by_rule.values().sum(),
                by_rule: t.by_rule.clone(),
            })
            .collect()
    })?;
    Ok(wire::FindingsDaily { days })
}

/// The provider's findings report as `who` sees it, as of `at` (default now).
pub async fn findings_as(
    app: &App,
    who: &Principal,
    at: Option<i64>,
    person: Option<String>,
) -> Result<wire::ProviderFindings, ApiError> {
    require_role(who, PROVIDER_VIEW, "see the provider's findings")?;
    let at = at.unwrap_or_else(careledger_store::now_us);
    let scan = app.scan_permit()?;
    app.offload("a findings report", move |app, deadline| {
        scan.run(app, deadline, move |app, deadline| {
            findings_at(app, deadline, at, person.as_deref())
        })
    })
    .await
}

/// The findings report as of `at`, on the blocking pool: findings read every person's
/// projections (under the projections' read lock), and an earlier `at` replays the log.
fn findings_at(
    app: &App,
    deadline: &Deadline,
    at: i64,
    person: Option<&str>,
) -> Result<wire::ProviderFindings, ApiError> {
    let store = app.ledger.store();
    let size = store.size();
    let last_recorded = match size {
        0 => None,
        n => Some(store.get(n - 1)?.envelope.recorded_at_us),
    };
    // Nothing recorded after `at`: today's state is the state as of `at`. Otherwise the
    // state is rebuilt from the events recorded by then (bounded by `as_of_events_max`;
    // the replay does not look at the deadline, only the report after it does).
    if last_recorded.is_none_or(|t| t <= at) {
        return app.ledger.read(|s| findings_report(s, at, person, size))?;
    }
    let as_of = app
        .ledger
        .state_as_of(at, app.limits.as_of_events_max)
        .map_err(|e| match e {
            careledger_ledger::as_of::AsOfError::Ledger(l) => ApiError::from(l),
            too_many => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "rule-violated",
                too_many.to_string(),
            )
            .field("at"),
        })?;
    deadline.check()?;
    findings_report(&as_of.state, at, person, as_of.events)
}

/// The findings report of `state` judged at `at`, for everyone or one person.
fn findings_report(
    state: &careledger_care::State,
    at: i64,
    person: Option<&str>,
    events: u64,
) -> Result<wire::ProviderFindings, ApiError> {
    let found = match person {
        None => findings(state, at),
        Some(p) if state.person(p).is_some() => person_findings_at(state, p, at),
        Some(p) => {
            return Err(ApiError::not_found(format!(
                "no person {p:?} in this ledger as of {}",
                Time::at(at).0
            ))
            .field("person"))
        }
    };
    let mut by_rule = BTreeMap::new();
    for rule in Rule::ALL {
        by_rule.insert(rule.id(), found.iter().filter(|f| f.rule == rule).count());
    }
    let active: Vec<_> = state
        .people
        .iter()
        .filter(|(id, p)| p.care_active() && person.is_none_or(|want| want == id.as_str()))
        .map(|(_, p)| p)
        .collect();
    let count = |f: &dyn Fn(&careledger_care::state::PersonState) -> bool| {
        active.iter().filter(|p| f(p)).count()
    };
    Ok(wire::ProviderFindings {
        at: Time::at(at),
        person: person.map(str::to_string),
        events,
        people_receiving_care: active.len(),
        with_choices_discussion: count(&|p| p.last_discussion.is_some()),
        told_access_is_free: count(&|p| {
            p.last_discussion
                .as_ref()
                .is_some_and(|d| d.told_access_is_free)
        }),
        with_paper_copies: count(&|p| !p.paper.is_empty()),
        declined_paper: count(&|p| p.paper_declined.is_some()),
        with_ais_needs: count(&|p| p.ais_flag().is_some()),
        ais_format_not_met: count(&|p| !p.format_mismatches.is_empty()),
        findings_by_rule: by_rule,
        findings: found.iter().map(wire::Finding::from).collect(),
    })
}

// ------------------------------------------------------------------ council requests

const REQUEST_VIEW: &[Role] = &[
    Role::MonitoringOfficer,
    Role::SocialCareProfessional,
    Role::RegisteredManager,
    Role::ProviderAdmin,
    Role::Coordinator,
    Role::Auditor,
];

fn sla(r: &CouncilRequest, now: i64) -> wire::Sla {
    match sla_state(r, now) {
        SlaState::DueIn(us) => wire::Sla::Due {
            due_in_minutes: us / MINUTE_US,
        },
        SlaState::Warned(us) => wire::Sla::Warned {
            due_in_minutes: us / MINUTE_US,
        },
        SlaState::Breached => wire::Sla::Breached,
        SlaState::Responded { late, took_us } => {
            let took_minutes = took_us / MINUTE_US;
            if late {
                wire::Sla::RespondedLate { took_minutes }
            } else {
                wire::Sla::Responded { took_minutes }
            }
        }
        SlaState::Withdrawn => wire::Sla::Withdrawn,
    }
}

fn request(id: &str, r: &CouncilRequest, now: i64) -> wire::Request {
    let stamp = |s: &Option<careledger_care::state::Stamp>| s.as_ref().map(wire::stamp);
    wire::Request {
        request_id: id.to_string(),
        requester: r.requester.clone(),
        organisation: r.organisation.clone(),
        people: r.people.clone(),
        categories: r.categories.iter().copied().map(Care).collect(),
        description: r.description.clone(),
        received_at: Time::at(r.received_at_us),
        due_at: Time::at(r.due_at_us),
        status: r.status.into(),
        sla: sla(r, now),
        received: wire::stamp(&r.received),
        acknowledged: stamp(&r.acknowledged),
        responded: stamp(&r.responded),
        response_digest: r.response_digest.map(Base64::of),
        response_channel: r.response_channel.map(Care),
        withdrawn: stamp(&r.withdrawn),
        warned: stamp(&r.warned),
        breached: stamp(&r.breached),
    }
}

/// Council requests with their SLA state; council officers see their own.
pub async fn requests(
    State(app): State<App>,
    Auth(who): Auth,
    params: Params,
) -> ApiResult<wire::Requests> {
    params.only(&["open", "after", "limit"])?;
    let limit = params.limit(&app)?;
    let after = params.str("after").map(str::to_string);
    let open_only = match params.str("open") {
        None => false,
        Some("true") => true,
        Some("false") => false,
        Some(v) => {
            return Err(ApiError::bad_request(
                "open",
                format!("open must be true or false, not {v:?}"),
            ))
        }
    };
    requests_as(&app, &who, after.as_deref(), limit, open_only).map(Json)
}

/// The council requests `who` may see (a council officer: their own), a page at a time.
pub fn requests_as(
    app: &App,
    who: &Principal,
    after: Option<&str>,
    limit: usize,
    open_only: bool,
) -> Result<wire::Requests, ApiError> {
    require_role(who, REQUEST_VIEW, "see council requests")?;
    let (rows, next) = visible_requests(app, who, after, limit, open_only)?;
    let now = careledger_store::now_us();
    Ok(wire::Requests {
        items: rows.iter().map(|(id, r)| request(id, r, now)).collect(),
        next_after: next,
    })
}

/// Requests by id, and the id to go on after.
type RequestPage = (Vec<(String, CouncilRequest)>, Option<String>);

/// A page of the council requests `who` may see (council officers: their own), in
/// request-id order after `after`, with the cursor to go on from.
fn visible_requests(
    app: &App,
    who: &Principal,
    after: Option<&str>,
    limit: usize,
    open_only: bool,
) -> Result<RequestPage, ApiError> {
    let rows = app.ledger.read(|s| {
        s.requests
            .iter()
            .filter(|(_, r)| !who.role.is_council() || r.requester == who.id)
            .filter(|(_, r)| !open_only || !r.status.is_closed())
            .filter(|(id, _)| after.is_none_or(|a| id.as_str() > a))
            .take(limit)
            .map(|(id, r)| (id.clone(), r.clone()))
            .collect::<Vec<_>>()
    })?;
    let next = (rows.len() == limit)
        .then(|| rows.last().map(|(id, _)| id.clone()))
        .flatten();
    Ok((rows, next))
}

/// The response-time report (R12): every request with received, due, responded, time taken
/// and breached, and for each event that proves a line its inclusion proof in a freshly
/// signed checkpoint (docs/FORMAT.md 4.4 shapes).
pub async fn response_times(
    State(app): State<App>,
    Auth(who): Auth,
    params: Params,
) -> ApiResult<wire::ResponseTimes> {
    params.only(&["after", "limit"])?;
    require_role(&who, REQUEST_VIEW, "see the response-time report")?;
    let limit = params.limit(&app)?;
    let after = params.str("after").map(str::to_string);
    let scan = app.scan_permit()?;
    app.offload("the response-time report", move |app, deadline| {
        scan.run(app, deadline, move |app, deadline| {
            response_times_page(app, deadline, &who, after.as_deref(), limit)
        })
    })
    .await
    .map(Json)
}

/// A page of the response-time report, on the blocking pool: it signs a checkpoint and
/// reads up to six inclusion proofs a line, looking at the deadline before each line.
fn response_times_page(
    app: &App,
    deadline: &Deadline,
    who: &Principal,
    after: Option<&str>,
    limit: usize,
) -> Result<wire::ResponseTimes, ApiError> {
    let checkpoint = app.ledger.store().checkpoint_now()?;
    let size = careledger_log::Checkpoint::open(&checkpoint, app.ledger.store().verifier())
        .map_err(|e| ApiError::internal(format!("the ledger's own checkpoint: {e}")))?
        .size;
    let now = careledger_store::now_us();
    let (rows, next) = visible_requests(app, who, after, limit, false)?;
    let mut items = Vec::with_capacity(rows.len());
    for (id, r) in &rows {
        deadline.check()?;
        use wire::RequestEvent as E;
        let mut events = vec![(E::Received, r.received)];
        events.extend(r.acknowledged.map(|s| (E::Acknowledged, s)));
        events.extend(r.warned.map(|s| (E::SlaWarning, s)));
        events.extend(r.breached.map(|s| (E::SlaBreached, s)));
        events.extend(r.responded.map(|s| (E::Responded, s)));
        events.extend(r.withdrawn.map(|s| (E::Withdrawn, s)));
        let mut proved = Vec::new();
        for (what, s) in events {
            if s.seq >= size {
                continue;
            }
            proved.push(wire::ProvedEvent {
                what,
                event: s.seq,
                proof: inclusion_proof(app, s.seq, size)?,
            });
        }
        items.push(wire::ResponseTime {
            request_id: id.clone(),
            requester: r.requester.clone(),
            received_at: Time::at(r.received_at_us),
            due_at: Time::at(r.due_at_us),
            responded_at: r.responded.map(|s| Time::at(s.occurred_at_us)),
            took_minutes: r.response_time_us().map(|us| us / MINUTE_US),
            breached: r.is_breached(now),
            sla: sla(r, now),
            events: proved,
        });
    }
    Ok(wire::ResponseTimes {
        checkpoint,
        tree_size: size,
        items,
        next_after: next,
    })
}

// ------------------------------------------------------------------ the ledger, for outside verification

fn text(body: String) -> Response {
    let mut r = body.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The latest signed checkpoint (C2SP signed note), signing one if none exists yet.
pub async fn checkpoint(State(app): State<App>) -> Result<Response, ApiError> {
    if let Some(note) = app.ledger.store().latest_checkpoint()? {
        return Ok(text(note));
    }
    let store = app.ledger.store().clone();
    let note = tokio::task::spawn_blocking(move || store.checkpoint_now())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(text(note))
}

pub async fn verifier_key(State(app): State<App>) -> Response {
    text(format!("{}\n", app.ledger.store().verifier()))
}

const ENVELOPE_VIEW: &[Role] = &[
    Role::Auditor,
    Role::RegisteredManager,
    Role::ProviderAdmin,
    Role::MonitoringOfficer,
    Role::SocialCareProfessional,
];

fn seq_param(text: &str, field: &str) -> Result<u64, ApiError> {
    text.parse().map_err(|_| {
        ApiError::bad_request(
            field,
            format!("{field} must be a whole number, not {text:?}"),
        )
    })
}

/// An event's stored envelope bytes (docs/FORMAT.md section 1.1), whose leaf hash the proofs
/// cover. Envelopes name people by id, so only audit and oversight roles may fetch them.
pub async fn envelope(
    State(app): State<App>,
    Auth(who): Auth,
    PathArg(seq): PathArg<String>,
) -> Result<Response, ApiError> {
    require_role(&who, ENVELOPE_VIEW, "fetch stored envelopes")?;
    let seq = seq_param(&seq, "seq")?;
    let size = app.ledger.store().size();
    if seq >= size {
        return Err(ApiError::not_found(format!(
            "event {seq} is not in the ledger ({size} events)"
        ))
        .field("seq"));
    }
    let stored = app.ledger.store().get(seq)?;
    let mut r = Bytes::from(stored.envelope_bytes).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok(r)
}

pub fn inclusion_proof(app: &App, seq: u64, size: u64) -> Result<wire::InclusionProof, ApiError> {
    let store = app.ledger.store();
    let proof = store.inclusion_proof(seq, size)?;
    Ok(wire::InclusionProof {
        leaf_index: seq,
        tree_size: size,
        leaf_hash: Base64::of(store.leaf_hash(seq)?),
        proof: proof.iter().map(Base64::of).collect(),
    })
}

/// docs/FORMAT.md 4.4.
pub async fn inclusion(
    State(app): State<App>,
    Auth(_): Auth,
    params: Params,
) -> ApiResult<wire::InclusionProof> {
    params.only(&["seq", "size"])?;
    let seq = params
        .u64("seq")?
        .ok_or_else(|| ApiError::bad_request("seq", "seq is required"))?;
    let current = app.ledger.store().size();
    let size = params.u64("size")?.unwrap_or(current);
    // What the ledger does not have is not found, whatever else is asked.
    if seq >= current {
        return Err(ApiError::not_found(format!(
            "no event {seq}: the ledger has {current} events"
        ))
        .field("seq"));
    }
    if size > current {
        return Err(ApiError::not_found(format!(
            "no tree of size {size}: the ledger has {current} events"
        ))
        .field("size"));
    }
    if seq >= size {
        return Err(ApiError::bad_request(
            "seq",
            format!("event {seq} is not in a tree of {size} events"),
        ));
    }
    Ok(Json(inclusion_proof(&app, seq, size)?))
}

/// docs/FORMAT.md 4.5.
pub async fn consistency(
    State(app): State<App>,
    Auth(_): Auth,
    params: Params,
) -> ApiResult<wire::ConsistencyProof> {
    params.only(&["from", "to"])?;
    let store = app.ledger.store();
    let current = store.size();
    let from = params
        .u64("from")?
        .ok_or_else(|| ApiError::bad_request("from", "from is required"))?;
    let to = params.u64("to")?.unwrap_or(current);
    // A tree the ledger has never had is not found, whatever else is asked.
    if from > current {
        return Err(ApiError::not_found(format!(
            "no tree of size {from}: the ledger has {current} events"
        ))
        .field("from"));
    }
    if from == 0 || from > to {
        return Err(ApiError::bad_request(
            "from",
            format!("need 0 < from <= to, got from {from} to {to}"),
        ));
    }
    if to > current {
        return Err(ApiError::not_found(format!(
            "no tree of size {to}: the ledger has {current} events"
        ))
        .field("to"));
    }
    let proof = store.consistency_proof(from, to)?;
    Ok(Json(wire::ConsistencyProof {
        size1: from,
        size2: to,
        root1: Base64::of(store.root_at(from)?),
        root2: Base64::of(store.root_at(to)?),
        proof: proof.iter().map(Base64::of).collect(),
    }))
}

// ------------------------------------------------------------------ operations

pub async fn healthz() -> Response {
    text("ok\n".into())
}

/// Ready when the ledger accepts appends and the service is not shutting down.
pub async fn readyz(State(app): State<App>) -> Response {
    if app.shutting_down.load(Relaxed) {
        return ApiError::unavailable("shutting down").into_response();
    }
    if app.write_failed.load(Relaxed) {
        return ApiError::unavailable(
            "an append failed to be written; the ledger refuses appends until the service is restarted",
        )
        .into_response();
    }
    if let Some(follower) = &app.follower {
        let state = follower.state();
        if let Some(fork) = state.fork.or(state.stopped) {
            return ApiError::unavailable(format!(
                "this replica stopped following {}: {fork}",
                state.primary
            ))
            .into_response();
        }
        let behind = state
            .primary_size
            .map(|p| p.saturating_sub(app.ledger.store().size()));
        return text(format!(
            "ready (a replica of {}, read-only): {} events{}{}\n",
            state.primary,
            app.ledger.store().size(),
            behind.map_or(String::new(), |b| format!(", {b} behind the primary")),
            state.error.map_or(String::new(), |e| format!(
                "; the primary cannot be reached: {e}"
            )),
        ));
    }
    text(format!("ready: {} events\n", app.ledger.store().size()))
}

pub async fn metrics(State(app): State<App>) -> Response {
    let mut r = app
        .metrics
        .render(app.ledger.store().size())
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

pub async fn openapi(State(app): State<App>) -> Json<Value> {
    Json(crate::openapi::document(&app.limits))
}
