//! The primary's side of replication: its events file's frames and its users, for a
//! replica (`careledger replica`, [`crate::follower`]), and the access events of the
//! reads made on a replica.
//!
//! A replica is a copy of the whole ledger, like a backup: every person's record, and
//! the users' token hashes. So only the users the primary was started to allow
//! (`serve --replica USER`, [`crate::Limits::replicas_allowed`]) may follow, and their
//! tokens are as sensitive as a backup file (docs/OPERATIONS.md). Each answer carries a
//! checkpoint signed for the tree at its end, which the replica checks before it writes
//! anything: frames changed on the way cannot pass.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::extract::{Auth, Params};
use crate::{ApiError, App, Principal};

/// The headers a frames answer carries, beside the frames themselves.
pub const FROM_HEADER: &str = "careledger-from";
pub const END_HEADER: &str = "careledger-end";
pub const DURABLE_BYTES_HEADER: &str = "careledger-durable-bytes";
pub const SIZE_HEADER: &str = "careledger-size";
/// Base64 of the signed checkpoint of the tree at the answer's end.
pub const CHECKPOINT_HEADER: &str = "careledger-checkpoint";
/// Base64 of the data keys the frames' payloads are sealed with, wrapped under the master
/// key primary and replica share (a sealed ledger's; absent when there are none). At most
/// [`careledger_store::replica::DATA_KEYS_BYTES_MAX`] bytes before base64.
pub const DATA_KEYS_HEADER: &str = "careledger-data-keys";
/// Longest a frames request waits for something new when there is nothing yet.
pub const WAIT_MAX: Duration = Duration::from_secs(5);
/// Most bytes of frames one answer holds (at least one frame).
pub const FRAMES_BYTES_MAX: usize = 4 * 1024 * 1024;

fn require_replica(app: &App, who: &Principal) -> Result<(), ApiError> {
    if app.follower.is_some() {
        return Err(ApiError::unavailable(
            "this service is a replica: it serves no replicas of its own (follow its primary)",
        ));
    }
    if app.limits.replicas_allowed.contains(&who.id) {
        return Ok(());
    }
    Err(ApiError::forbidden(format!(
        "{} may not follow this ledger as a replica: a replica holds every record, so only \
         the users the service was started to allow may (`careledger serve --replica {}`)",
        who.id, who.id
    )))
}

/// `GET /v1/replication/frames?from=BYTE&size=EVENTS&wait=SECONDS`: whole frames of the
/// events file from byte `from` (the replica's own file's end, where its log has `size`
/// events), up to what is durable, with a checkpoint signed for the tree at their end.
/// With nothing new, the answer waits up to `wait` seconds (at most [`WAIT_MAX`]) for more.
pub async fn frames(
    State(app): State<App>,
    Auth(who): Auth,
    params: Params,
) -> Result<Response, ApiError> {
    require_replica(&app, &who)?;
    params.only(&["from", "size", "wait"])?;
    let from = params
        .u64("from")?
        .ok_or_else(|| ApiError::bad_request("from", "from is required"))?;
    let size = params.u64("size")?.unwrap_or(0);
    let wait = Duration::from_secs(params.u64("wait")?.unwrap_or(0))
        .min(WAIT_MAX)
        .min(app.limits.request_timeout / 2);
    let store = app.ledger.store().clone();
    if from > store.durable_bytes() {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "replica-ahead",
            format!(
                "byte {from} is beyond this ledger's events file ({} bytes durable): the \
                 replica holds more than its primary, which lost events or was restored \
                 from an older backup",
                store.durable_bytes()
            ),
        )
        .field("from"));
    }
    if from == store.durable_bytes() && !wait.is_zero() {
        let mut watch = store.durable_watch();
        let _ = tokio::time::timeout(wait, watch.wait_for(|&durable| durable > from)).await;
    }
    let slice = tokio::task::spawn_blocking(move || store.log_slice(from, size, FRAMES_BYTES_MAX))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| match e {
            careledger_store::StoreError::InvalidArgument(m) => ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "not-a-frame",
                format!(
                    "{m}: the replica's events file is not a prefix of this ledger's (a \
                     different history)"
                ),
            )
            .field("from"),
            other => ApiError::from(other),
        })?;
    use base64::Engine as _;
    let checkpoint = slice
        .checkpoint
        .as_deref()
        .map(|note| base64::engine::general_purpose::STANDARD.encode(note))
        .ok_or_else(|| ApiError::internal("this ledger has no key to sign a checkpoint with"))?;
    let data_keys = (!slice.data_keys.is_empty())
        .then(|| base64::engine::general_purpose::STANDARD.encode(&slice.data_keys));
    let mut r = Bytes::from(slice.bytes).into_response();
    let headers = r.headers_mut();
    if let Some(keys) = data_keys {
        headers.insert(
            DATA_KEYS_HEADER,
            HeaderValue::from_str(&keys).map_err(|e| ApiError::internal(e.to_string()))?,
        );
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for (name, value) in [
        (FROM_HEADER, slice.from),
        (END_HEADER, slice.end),
        (DURABLE_BYTES_HEADER, slice.durable_bytes),
        (SIZE_HEADER, slice.size),
    ] {
        headers.insert(name, HeaderValue::from(value));
    }
    headers.insert(
        CHECKPOINT_HEADER,
        HeaderValue::from_str(&checkpoint).map_err(|e| ApiError::internal(e.to_string()))?,
    );
    Ok(r)
}

/// The users and token hashes a replica needs to answer the same tokens as its primary.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct AuthCopy {
    /// Base64 of `auth.json` (absent: the primary has no users yet).
    pub auth_json: Option<String>,
    /// Base64 of `auth.key`, the key tokens are hashed with.
    pub auth_key: String,
    /// BLAKE3 of both, hex: unchanged means nothing to copy.
    pub digest: String,
}

/// `GET /v1/replication/auth`: the primary's users and token hashes, as its files hold
/// them.
pub async fn auth(
    State(app): State<App>,
    Auth(who): Auth,
    params: Params,
) -> Result<axum::Json<AuthCopy>, ApiError> {
    require_replica(&app, &who)?;
    params.only(&[])?;
    let dir = app.ledger.store().dir().to_path_buf();
    let copy = tokio::task::spawn_blocking(move || crate::auth::copy_files(&dir))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(axum::Json(copy))
}

/// One access event a replica's gate recorded, forwarded to its primary.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForwardedEvent {
    pub actor: String,
    pub subject: Option<String>,
    pub occurred_at_us: i64,
    /// `access.read` or `access.refused`.
    pub kind: String,
    /// Base64 of the event's payload, as the ledger encodes it.
    pub payload: String,
}

/// What `POST /v1/replication/access` takes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Forwarded {
    pub events: Vec<ForwardedEvent>,
}

/// The event numbers the primary gave forwarded events.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct ForwardedReceipts {
    pub receipts: Vec<ForwardedReceipt>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct ForwardedReceipt {
    pub seq: u64,
    pub recorded_at_us: i64,
}

/// The problem type the primary answers when its rules refuse a forwarded read.
pub const ACCESS_NOT_ALLOWED: &str = "access-not-allowed";

/// How far a forwarded access event's time may be from the primary's clock.
pub const FORWARDED_SKEW_MAX_US: i64 = 5 * 60 * 1_000_000;

/// `POST /v1/replication/access`: the access events of a read made on a replica,
/// recorded here before the replica sends any data (the same access gate, one log). The
/// replica sends them with the reader's own token, so this records only what the
/// reader could have caused by reading here: events of the reader's own id and role, at
/// about the present time, of the access kinds only, checked against this ledger's
/// policy inside its appender like its own.
pub async fn access(
    State(app): State<App>,
    Auth(who): Auth,
    crate::extract::JsonBody(body): crate::extract::JsonBody<Forwarded>,
) -> Result<(axum::http::StatusCode, axum::Json<ForwardedReceipts>), ApiError> {
    use base64::Engine as _;
    use careledger_care::CareEvent;
    if app.follower.is_some() {
        // A replica of a replica would record nothing itself.
        return Err(ApiError::from(careledger_store::AppendError::Replica {
            primary: app.ledger.store().primary().unwrap_or_default().to_string(),
        }));
    }
    if body.events.is_empty() {
        return Err(ApiError::bad_request("events", "no events"));
    }
    let now = careledger_store::now_us();
    let mut commands = Vec::with_capacity(body.events.len());
    for (i, e) in body.events.into_iter().enumerate() {
        let field = |name: &str| format!("events[{i}].{name}");
        if !careledger_ledger::RESERVE_KINDS.contains(&e.kind.as_str()) {
            return Err(ApiError::bad_request(
                field("kind"),
                format!(
                    "a replica forwards only access events ({}), not {:?}",
                    careledger_ledger::RESERVE_KINDS.join(", "),
                    e.kind
                ),
            ));
        }
        if e.actor != who.id {
            return Err(ApiError::forbidden(format!(
                "{} may record only their own reads, not {:?}'s",
                who.id, e.actor
            ))
            .field(field("actor")));
        }
        if e.subject.is_none() {
            return Err(ApiError::bad_request(
                field("subject"),
                "an access event is about a person",
            ));
        }
        if (e.occurred_at_us - now).abs() > FORWARDED_SKEW_MAX_US {
            return Err(ApiError::bad_request(
                field("occurred_at_us"),
                "a read is recorded as it happens: this time is more than five minutes from \
                 this ledger's clock",
            ));
        }
        let payload = base64::engine::general_purpose::STANDARD
            .decode(&e.payload)
            .map_err(|_| ApiError::bad_request(field("payload"), "not base64"))?;
        let event = CareEvent::decode(&e.kind, &payload)
            .map_err(|err| ApiError::bad_request(field("payload"), err.to_string()))?;
        let role = match &event {
            CareEvent::RecordAccessed(a) => a.role,
            CareEvent::AccessRefused(a) => a.role,
            _ => return Err(ApiError::bad_request(field("kind"), "not an access event")),
        };
        if role != who.role {
            return Err(ApiError::forbidden(format!(
                "{} reads as {}, not as {}",
                who.id,
                who.role.with_article(),
                role.with_article()
            ))
            .field(field("payload")));
        }
        commands.push(careledger_ledger::Command {
            actor: e.actor,
            subject: e.subject,
            occurred_at_us: e.occurred_at_us,
            event,
        });
    }
    match app.append_ledger(commands).await {
        Ok(receipts) => Ok((
            axum::http::StatusCode::CREATED,
            axum::Json(ForwardedReceipts {
                receipts: receipts
                    .iter()
                    .map(|r| ForwardedReceipt {
                        seq: r.seq,
                        recorded_at_us: r.recorded_at_us,
                    })
                    .collect(),
            }),
        )),
        Err(careledger_ledger::LedgerError::Refused {
            index,
            error:
                careledger_ledger::CareRefusal::Rule(careledger_care::RuleError::AccessNotAllowed {
                    reason,
                }),
        }) => Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            ACCESS_NOT_ALLOWED,
            reason,
        )
        .field(format!("events[{index}]"))),
        Err(e) => Err(e.into()),
    }
}
