//! The replica's side of replication: follow a primary (`careledger replica`).
//!
//! Each round asks the primary for the frames after the replica's own events file's end
//! ([`crate::replication::frames`], which waits up to five seconds for something new),
//! hands them to the store, which checks every one against the replica's own tree before
//! it writes them ([`careledger_store::replica`]), and, after each checkpoint that comes
//! in and at least every [`CHECK_EVERY`], checks the primary's latest signed checkpoint
//! against the replica: a checkpoint of no more events than the replica holds must have
//! the replica's root for that size, and one of more must come with a consistency proof
//! from the replica's size. A primary whose history changed (a fork) is refused: the
//! replica stops following, keeps everything it holds and serves it, says so on
//! `/readyz` and in its log, loudly, and waits for a person.
//!
//! The primary's users and token hashes are copied every [`AUTH_EVERY`], so the same
//! tokens work on both and a revocation reaches the replica within seconds.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{header, HeaderMap, Request, StatusCode};
use careledger_log::merkle::{verify_consistency, Blake3Hasher};
use careledger_log::{Checkpoint, NoteVerifier};
use careledger_store::replica::ReplicateError;
use careledger_store::AppendError;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use serde::Serialize;

use crate::replication::{self, AuthCopy};
use crate::App;

/// How often the primary's latest checkpoint is checked when none came with the frames.
pub const CHECK_EVERY: Duration = Duration::from_secs(10);
/// How often the primary's users and token hashes are copied.
pub const AUTH_EVERY: Duration = Duration::from_secs(5);
/// Longest one request to the primary may take (a frames request waits up to
/// [`replication::WAIT_MAX`] on its own).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait between attempts while the primary cannot be reached.
pub const RETRY_MAX: Duration = Duration::from_secs(5);
/// Largest answer read from the primary.
const ANSWER_BYTES_MAX: usize = replication::FRAMES_BYTES_MAX + 1024 * 1024;

tokio::task_local! {
    /// The `Authorization` header of the request being answered on a replica: its reads
    /// are recorded at the primary under the reader's own credential, so the primary
    /// records only what the reader could have caused there.
    pub static READER_CREDENTIAL: Option<String>;
}

/// What the replica knows of its primary, for `/readyz` and the log.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct FollowState {
    pub primary: String,
    /// Durable events at the primary when last asked.
    pub primary_size: Option<u64>,
    /// When the primary last answered (microseconds since the Unix epoch).
    pub last_contact_us: Option<i64>,
    /// Why the last attempt failed, while the replica keeps trying.
    pub error: Option<String>,
    /// Set once the primary's history differs from the replica's: following stopped.
    pub fork: Option<String>,
    /// Set once following stopped for another reason that needs a person.
    pub stopped: Option<String>,
    /// The size of the primary's latest checkpoint proved consistent with the replica.
    pub checked_checkpoint: Option<u64>,
}

/// Connections kept open for recording reads at the primary ([`forward`]); more reads at
/// once open more, which are closed afterwards.
pub const FORWARD_CONNECTIONS_KEPT: usize = 8;
/// Longest a read on a replica waits for the primary to record it.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

/// The follower's state, shared with the service, and the connections the replica's
/// reads are recorded at the primary through ([`forward`]).
pub struct Follower {
    state: Mutex<FollowState>,
    /// A client of the primary to make more from, and the ones kept open.
    template: Primary,
    forward: Mutex<Vec<Primary>>,
}

impl Follower {
    /// `primary` is what the connections that record reads are made from (they are the
    /// follower's own, apart from the one that follows).
    pub fn new(primary: Primary) -> Self {
        Self {
            state: Mutex::new(FollowState {
                primary: primary.url().to_string(),
                ..Default::default()
            }),
            template: primary.unconnected(FORWARD_TIMEOUT),
            forward: Mutex::new(Vec::new()),
        }
    }

    fn take_client(&self) -> Primary {
        let kept = self.forward.lock().unwrap_or_else(|p| p.into_inner()).pop();
        kept.unwrap_or_else(|| self.template.unconnected(FORWARD_TIMEOUT))
    }

    fn give_back(&self, client: Primary) {
        let mut kept = self.forward.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() < FORWARD_CONNECTIONS_KEPT {
            kept.push(client);
        }
    }

    pub fn state(&self) -> FollowState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut FollowState)) {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// A replica's append: only the access gate's events, and those are recorded at the
/// primary (before any data is sent, as on the primary itself); anything else is refused
/// with [`AppendError::Replica`]. The replica holds the events once it has replicated
/// them, a moment later.
pub async fn forward(
    follower: &Follower,
    commands: &[careledger_ledger::Command],
) -> Result<Vec<careledger_store::Receipt>, careledger_ledger::LedgerError> {
    use base64::Engine as _;
    use careledger_ledger::LedgerError;
    let state = follower.state();
    let primary = state.primary;
    if let Some(reason) = state.fork.or(state.stopped) {
        return Err(LedgerError::Append(AppendError::PrimaryUnreachable {
            primary,
            reason: format!("this replica stopped following it: {reason}"),
        }));
    }
    if commands.is_empty()
        || !commands
            .iter()
            .all(|c| careledger_ledger::RESERVE_KINDS.contains(&c.event.kind()))
    {
        return Err(LedgerError::Append(AppendError::Replica { primary }));
    }
    let unreachable = |reason: String| {
        LedgerError::Append(AppendError::PrimaryUnreachable {
            primary: primary.clone(),
            reason,
        })
    };
    let mut events = Vec::with_capacity(commands.len());
    for c in commands {
        let payload = c
            .event
            .encode()
            .map_err(|e| unreachable(format!("the event does not encode: {e}")))?;
        events.push(replication::ForwardedEvent {
            actor: c.actor.clone(),
            subject: c.subject.clone(),
            occurred_at_us: c.occurred_at_us,
            kind: c.event.kind().to_string(),
            payload: base64::engine::general_purpose::STANDARD.encode(payload),
        });
    }
    let body = serde_json::to_vec(&replication::Forwarded { events })
        .map_err(|e| unreachable(e.to_string()))?;
    let credential = READER_CREDENTIAL
        .try_with(|c| c.clone())
        .ok()
        .flatten()
        .ok_or_else(|| unreachable("the read came with no credential to record it with".into()))?;
    let mut client = follower.take_client();
    let answer = client
        .post_as("/v1/replication/access", body, &credential)
        .await;
    follower.give_back(client);
    let answer = answer.map_err(unreachable)?;
    match answer.status {
        StatusCode::CREATED => {
            let receipts: replication::ForwardedReceipts = serde_json::from_slice(&answer.body)
                .map_err(|e| unreachable(format!("its answer does not parse: {e}")))?;
            if receipts.receipts.len() != commands.len() {
                return Err(unreachable(
                    "its answer names another number of events".into(),
                ));
            }
            Ok(receipts
                .receipts
                .iter()
                .map(|r| careledger_store::Receipt {
                    seq: r.seq,
                    recorded_at_us: r.recorded_at_us,
                    replayed: false,
                })
                .collect())
        }
        StatusCode::UNPROCESSABLE_ENTITY
            if answer.problem_type_is(replication::ACCESS_NOT_ALLOWED) =>
        {
            Err(LedgerError::Refused {
                index: 0,
                error: careledger_ledger::CareRefusal::Rule(
                    careledger_care::RuleError::AccessNotAllowed {
                        reason: answer.detail(),
                    },
                ),
            })
        }
        status => Err(unreachable(format!(
            "it answered {status}: {}",
            answer.detail()
        ))),
    }
}

/// Why a round did not finish.
#[derive(Debug)]
pub enum Stop {
    /// The primary's history is not the replica's.
    Fork(String),
    /// Something a person must look at (the replica's disk failed, its rules differ).
    Fatal(String),
    /// The primary could not be reached, or answered with an error: try again.
    Retry(String),
}

/// A primary's address and the token the replica follows it with. Plain HTTP, one
/// connection kept open.
pub struct Primary {
    url: String,
    authority: String,
    prefix: String,
    token: String,
    timeout: Duration,
    sender: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
}

/// An answer from the primary.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    fn header_u64(&self, name: &str) -> Option<u64> {
        self.headers.get(name)?.to_str().ok()?.parse().ok()
    }

    /// Whether the answer is a problem document of this type.
    fn problem_type_is(&self, kind: &str) -> bool {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
            .is_some_and(|t| t.rsplit('/').next() == Some(kind))
    }

    /// The problem document's detail, or the body as text.
    fn detail(&self) -> String {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).trim().to_string())
    }
}

impl Primary {
    /// `url` is `http://HOST:PORT`, perhaps with a path the service is mounted under.
    pub fn new(url: &str, token: &str) -> Result<Self, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            if url.starts_with("https://") {
                format!(
                    "{url}: this version follows a primary over plain HTTP only (on a private \
                     network or through a TLS tunnel; docs/OPERATIONS.md)"
                )
            } else {
                format!("{url} is not an http:// address")
            }
        })?;
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(format!("{url} names no host"));
        }
        if token.trim().is_empty() {
            return Err("the replica needs a provider admin's token of the primary".into());
        }
        Ok(Self {
            url: url.trim_end_matches('/').to_string(),
            authority: authority.to_string(),
            prefix: prefix.to_string(),
            token: token.trim().to_string(),
            timeout: REQUEST_TIMEOUT,
            sender: None,
        })
    }

    /// Another client of the same primary with the same token, not yet connected, whose
    /// requests time out after `timeout`.
    pub fn unconnected(&self, timeout: Duration) -> Self {
        Self {
            url: self.url.clone(),
            authority: self.authority.clone(),
            prefix: self.prefix.clone(),
            token: self.token.clone(),
            timeout,
            sender: None,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    async fn connect(
        &self,
    ) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, String> {
        let stream = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(&self.authority),
        )
        .await
        .map_err(|_| format!("connecting to {} timed out", self.url))?
        .map_err(|e| format!("cannot connect to {}: {e}", self.url))?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("{}: {e}", self.url))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// `GET path` (with the query) from the primary, with the token.
    pub async fn get(&mut self, path: &str) -> Result<Answer, String> {
        self.request(path, None).await
    }

    /// `POST path` with a JSON body to the primary, with `authorization` (a reader's
    /// own `Authorization` header) rather than the replica's token.
    pub async fn post_as(
        &mut self,
        path: &str,
        json: Vec<u8>,
        authorization: &str,
    ) -> Result<Answer, String> {
        self.request(path, Some((json, authorization.to_string())))
            .await
    }

    async fn request(
        &mut self,
        path: &str,
        post: Option<(Vec<u8>, String)>,
    ) -> Result<Answer, String> {
        let result = tokio::time::timeout(self.timeout, self.request_once(path, post)).await;
        let answer = match result {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!(
                "{}{path} did not answer within {:?}",
                self.url, self.timeout
            )),
        };
        if answer.is_err() {
            // A connection in an unknown state is not used again.
            self.sender = None;
        }
        answer
    }

    async fn request_once(
        &mut self,
        path: &str,
        post: Option<(Vec<u8>, String)>,
    ) -> Result<Answer, String> {
        let mut sender = match self.sender.take() {
            Some(s) if !s.is_closed() => s,
            _ => self.connect().await?,
        };
        sender
            .ready()
            .await
            .map_err(|e| format!("{}: {e}", self.url))?;
        let bearer = format!("Bearer {}", self.token);
        let (builder, authorization, body) = match post {
            None => (
                Request::get(format!("{}{path}", self.prefix)),
                bearer,
                Vec::new(),
            ),
            Some((json, authorization)) => (
                Request::post(format!("{}{path}", self.prefix))
                    .header(header::CONTENT_TYPE, "application/json"),
                authorization,
                json,
            ),
        };
        let request = builder
            .header(header::HOST, &self.authority)
            .header(header::AUTHORIZATION, authorization)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{}{path}: {e}", self.url))?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, ANSWER_BYTES_MAX)
            .collect()
            .await
            .map_err(|e| format!("{}{path}: reading the answer: {e}", self.url))?
            .to_bytes();
        self.sender = Some(sender);
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

/// The replica's side of the primary's users: copies them into the replica's folder when
/// they changed. Returns the copy's digest.
pub async fn copy_auth(
    primary: &mut Primary,
    dir: &std::path::Path,
    last: Option<&str>,
    key_may_change: bool,
) -> Result<String, Stop> {
    let answer = primary
        .get("/v1/replication/auth")
        .await
        .map_err(Stop::Retry)?;
    if answer.status != StatusCode::OK {
        return Err(refused(primary, &answer));
    }
    let copy: AuthCopy = serde_json::from_slice(&answer.body)
        .map_err(|e| Stop::Retry(format!("the primary's users do not parse: {e}")))?;
    if last == Some(copy.digest.as_str()) {
        return Ok(copy.digest);
    }
    let dir = dir.to_path_buf();
    let digest = copy.digest.clone();
    tokio::task::spawn_blocking(move || crate::auth::install_copy(&dir, &copy, key_may_change))
        .await
        .map_err(|e| Stop::Fatal(e.to_string()))?
        .map_err(|e| Stop::Retry(format!("copying the primary's users failed: {e}")))?;
    Ok(digest)
}

fn refused(primary: &Primary, answer: &Answer) -> Stop {
    let detail = answer.detail();
    match answer.status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Stop::Retry(format!(
            "the primary {} refused this replica's token ({}): {detail}",
            primary.url(),
            answer.status
        )),
        status => Stop::Retry(format!(
            "the primary {} answered {status}: {detail}",
            primary.url()
        )),
    }
}

/// The primary's header frame, for a new replica ([`careledger_store::Store::init_replica`]).
pub async fn header_frame(primary: &mut Primary) -> Result<Vec<u8>, String> {
    let answer = primary.get("/v1/replication/frames?from=0").await?;
    if answer.status != StatusCode::OK {
        return Err(match refused(primary, &answer) {
            Stop::Retry(m) | Stop::Fatal(m) | Stop::Fork(m) => m,
        });
    }
    let frames = careledger_store::events_log::parse_frames(&answer.body, 0)?;
    let first = frames
        .first()
        .ok_or_else(|| format!("the primary {} sent no frames", primary.url()))?;
    Ok(answer.body[..first.len as usize].to_vec())
}

/// Follows the primary until the service shuts down, the primary forks, or something
/// needs a person.
pub async fn follow(app: App, mut primary: Primary, follower: Arc<Follower>) {
    let verifier = app.ledger.store().verifier().clone();
    let dir = app.ledger.store().dir().to_path_buf();
    let mut retry = Duration::from_millis(100);
    let mut checked_at: Option<Instant> = None;
    let mut auth_at: Option<Instant> = None;
    let mut auth_digest: Option<String> = None;
    while !app.shutting_down.load(Relaxed) {
        let round = async {
            // Users are copied beside the frames: a failure to copy them is said, and
            // does not hold up the frames.
            if auth_at.is_none_or(|at| at.elapsed() >= AUTH_EVERY) {
                auth_at = Some(Instant::now());
                match copy_auth(&mut primary, &dir, auth_digest.as_deref(), false).await {
                    Ok(digest) => auth_digest = Some(digest),
                    Err(Stop::Retry(reason) | Stop::Fatal(reason) | Stop::Fork(reason)) => {
                        tracing::warn!(primary = primary.url(), %reason, "replica: the primary's users could not be copied");
                        follower.update(|s| s.error = Some(reason));
                    }
                }
            }
            let checkpoint = pull(&app, &mut primary, &follower).await?;
            if checkpoint || checked_at.is_none_or(|at| at.elapsed() >= CHECK_EVERY) {
                check_checkpoint(&app, &mut primary, &verifier, &follower).await?;
                checked_at = Some(Instant::now());
            }
            Ok::<(), Stop>(())
        };
        match round.await {
            Ok(()) => {
                retry = Duration::from_millis(100);
                follower.update(|s| {
                    s.error = None;
                    s.last_contact_us = Some(careledger_store::now_us());
                });
            }
            Err(Stop::Fork(reason)) => {
                let reason = format!("the primary's history differs from this replica's: {reason}");
                tracing::error!(
                    primary = primary.url(),
                    %reason,
                    "FORK: the primary's history is not this replica's; following stopped. \
                     This replica keeps and serves what it holds. Do not promote either \
                     side before a person has compared them (docs/OPERATIONS.md)"
                );
                follower.update(|s| s.fork = Some(reason));
                return;
            }
            Err(Stop::Fatal(reason)) => {
                tracing::error!(primary = primary.url(), %reason, "following stopped");
                follower.update(|s| s.stopped = Some(reason));
                return;
            }
            Err(Stop::Retry(reason)) => {
                tracing::warn!(primary = primary.url(), %reason, retry_in_ms = retry.as_millis() as u64, "replica: the primary could not be followed; trying again");
                follower.update(|s| s.error = Some(reason));
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(RETRY_MAX);
            }
        }
    }
}

/// One frames request and what it brought; returns whether a checkpoint came with it.
async fn pull(app: &App, primary: &mut Primary, follower: &Follower) -> Result<bool, Stop> {
    let store = app.ledger.store();
    let (from, size) = (store.durable_bytes(), store.size());
    let wait = replication::WAIT_MAX.as_secs();
    let answer = primary
        .get(&format!(
            "/v1/replication/frames?from={from}&size={size}&wait={wait}"
        ))
        .await
        .map_err(Stop::Retry)?;
    match answer.status {
        StatusCode::OK => {}
        StatusCode::CONFLICT => {
            return Err(Stop::Fork(format!(
                "the primary {} has no frame where this replica's events file ends (byte \
                 {from}): {}",
                primary.url(),
                answer.detail()
            )))
        }
        _ => return Err(refused(primary, &answer)),
    }
    let primary_size = answer.header_u64(replication::SIZE_HEADER);
    follower.update(|s| s.primary_size = primary_size);
    if answer.body.is_empty() {
        return Ok(false);
    }
    let checkpoint = {
        use base64::Engine as _;
        answer
            .headers
            .get(replication::CHECKPOINT_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                Stop::Retry(format!(
                    "the primary {} sent frames without a signed checkpoint",
                    primary.url()
                ))
            })?
    };
    if let Some(keys) = answer.headers.get(replication::DATA_KEYS_HEADER) {
        use base64::Engine as _;
        let keys = keys
            .to_str()
            .ok()
            .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
            .ok_or_else(|| {
                Stop::Retry(format!(
                    "the primary {} sent data keys that are not base64",
                    primary.url()
                ))
            })?;
        // Keys that do not unwrap under this replica's master key cannot be the
        // primary's, or the two do not share a master key: nothing is taken.
        store
            .take_data_keys(&keys)
            .map_err(|e| Stop::Fatal(e.to_string()))?;
    }
    match store
        .replicate_async(answer.body.to_vec(), checkpoint)
        .await
    {
        Ok(replicated) => Ok(replicated.checkpoint.is_some()),
        Err(ReplicateError::Fork(reason)) => Err(Stop::Fork(reason)),
        Err(ReplicateError::Invalid(reason)) => Err(Stop::Retry(reason)),
        Err(ReplicateError::Projection(reason)) => Err(Stop::Fatal(reason)),
        Err(ReplicateError::Append(e @ AppendError::WriteFailed(_))) => {
            Err(Stop::Fatal(e.to_string()))
        }
        Err(ReplicateError::Append(e)) => Err(Stop::Retry(e.to_string())),
    }
}

/// The primary's latest signed checkpoint, against the replica's tree.
async fn check_checkpoint(
    app: &App,
    primary: &mut Primary,
    verifier: &NoteVerifier,
    follower: &Follower,
) -> Result<(), Stop> {
    let answer = primary
        .get("/v1/ledger/checkpoint")
        .await
        .map_err(Stop::Retry)?;
    if answer.status != StatusCode::OK {
        return Err(refused(primary, &answer));
    }
    let note = String::from_utf8_lossy(&answer.body).to_string();
    let checkpoint = Checkpoint::open(&note, verifier).map_err(|e| {
        Stop::Fork(format!(
            "the primary {} serves a checkpoint this ledger's key did not sign ({e})",
            primary.url()
        ))
    })?;
    let store = app.ledger.store().clone();
    let mine = store.size();
    if checkpoint.size <= mine {
        let size = checkpoint.size;
        if size > 0 {
            let root = root_at(&store, size).await?;
            if root != checkpoint.root {
                return Err(Stop::Fork(format!(
                    "the primary signed a checkpoint of {size} events whose root is not the \
                     root of this replica's first {size} events"
                )));
            }
        }
    } else if mine > 0 {
        let answer = primary
            .get(&format!(
                "/v1/ledger/proofs/consistency?from={mine}&to={}",
                checkpoint.size
            ))
            .await
            .map_err(Stop::Retry)?;
        if answer.status != StatusCode::OK {
            return Err(refused(primary, &answer));
        }
        let proof = consistency_proof(&answer.body).map_err(Stop::Retry)?;
        let root = root_at(&store, mine).await?;
        verify_consistency::<Blake3Hasher, _>(
            mine,
            checkpoint.size,
            &proof,
            &root,
            &checkpoint.root,
        )
        .map_err(|e| {
            Stop::Fork(format!(
                "the primary's checkpoint of {} events is not consistent with this \
                     replica's {mine} events ({e})",
                checkpoint.size
            ))
        })?;
    }
    follower.update(|s| s.checked_checkpoint = Some(checkpoint.size));
    Ok(())
}

/// The replica's root at `size`, read from its stored nodes off the async workers.
async fn root_at(
    store: &careledger_store::Store,
    size: u64,
) -> Result<careledger_log::merkle::Hash, Stop> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.root_at(size))
        .await
        .map_err(|e| Stop::Fatal(e.to_string()))?
        .map_err(|e| Stop::Fatal(e.to_string()))
}

fn consistency_proof(body: &[u8]) -> Result<Vec<[u8; 32]>, String> {
    use base64::Engine as _;
    let bad = || "a consistency proof that does not parse".to_string();
    let proof: serde_json::Value = serde_json::from_slice(body).map_err(|_| bad())?;
    proof
        .get("proof")
        .and_then(|p| p.as_array())
        .ok_or_else(bad)?
        .iter()
        .map(|h| {
            h.as_str()
                .and_then(|h| base64::engine::general_purpose::STANDARD.decode(h).ok())
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| {
                    "a consistency proof hash that is not 32 bytes of base64".to_string()
                })
        })
        .collect()
}
