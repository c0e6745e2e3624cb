//! careledger's HTTP service: bearer authentication, the access gate, the JSON API, the
//! ledger's verification endpoints and the SLA timer task.
//!
//! [`router`] assembles every route in one place ([`routes`]); handlers take the
//! authenticated [`auth::Principal`] from an extractor and return `Result<_, ApiError>`,
//! whose error side is an RFC 9457 problem document. Every read of a person's data goes
//! through [`gate`], which records the access (or its refusal) durably before any data
//! leaves. JSON types live here and nowhere below.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let ledger = careledger_ledger::Ledger::open(std::path::Path::new("careledger-data"), Default::default())?;
//! let app = careledger_api::App::new(ledger, std::path::Path::new("careledger-data"), Default::default())?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! careledger_api::serve(app, listener, std::future::pending()).await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod auth;
pub mod blocking;
pub mod conn;
pub mod documents;
pub mod email;
pub mod extract;
pub mod follower;
pub mod gate;
pub mod handlers;
pub mod idempotency;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod replication;
pub mod routes;
pub mod sla;
pub mod tls;
pub mod views;
pub mod wire;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use careledger_ledger::{Command, Ledger, LedgerError};
use careledger_store::Receipt;

pub use auth::Principal;
pub use axum::Router;
pub use problem::ApiError;
pub use routes::router;

/// Every bound the service enforces, in one place.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted; larger ones are answered 413 unread.
    pub body_bytes_max: usize,
    /// Largest `limit` a page may ask for; more is answered 400.
    pub page_items_max: usize,
    /// Items in a page when the request does not say.
    pub page_items_default: usize,
    /// A request still running after this is answered 503 (an append it started may still
    /// land; its data is never sent).
    pub request_timeout: Duration,
    /// Events one auditor query may scan before it answers with a cursor to go on from.
    pub audit_scan_events_max: usize,
    /// Queries that scan (auditor queries, findings, the response-time report) that may
    /// run at once, each on a thread of the blocking pool; one more is answered 503 busy
    /// with Retry-After. Default: half the cores, at least one, so that scans leave CPU
    /// for everything else.
    pub scans_max: usize,
    /// Longest break-glass access, in minutes (the care rules allow 12 hours).
    pub emergency_minutes_max: u32,
    /// Events an as-of answer (findings at an earlier time) may replay; an earlier time
    /// needing more is answered 422. About 2.5 s of replay on the project's machine.
    pub as_of_events_max: u64,
    /// Emit one `tracing` event per request (the binary writes them as JSON lines).
    pub log_requests: bool,
    /// The users who may follow this ledger as replicas (`serve --replica USER`): a
    /// replica holds every record and every token hash, so nobody may unless named.
    pub replicas_allowed: Vec<String>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes_max: 256 * 1024,
            page_items_max: 1000,
            page_items_default: 100,
            request_timeout: Duration::from_secs(10),
            audit_scan_events_max: 200_000,
            scans_max: std::thread::available_parallelism()
                .map_or(1, |n| n.get() / 2)
                .max(1),
            emergency_minutes_max: 12 * 60,
            as_of_events_max: 1_000_000,
            log_requests: true,
            replicas_allowed: Vec::new(),
        }
    }
}

/// The service's shared state. Cheap to clone.
#[derive(Clone)]
pub struct App(Arc<Inner>);

pub struct Inner {
    pub ledger: Ledger,
    pub auth: auth::Authenticator,
    pub metrics: metrics::Metrics,
    pub limits: Limits,
    /// Places for queries that scan: `limits.scans_max` permits (see [`blocking`]).
    pub scans: Arc<tokio::sync::Semaphore>,
    /// The threads scans run on, one per permit.
    pub scan_threads: blocking::ScanThreads,
    /// Woken when a council request is appended, so the timer task re-plans.
    pub sla_wake: tokio::sync::Notify,
    /// Set once an append failed to be written: the store refuses further appends, so the
    /// service reports itself not ready.
    pub write_failed: AtomicBool,
    pub shutting_down: AtomicBool,
    /// On a replica: what it knows of the primary it follows ([`follower`]).
    pub follower: Option<Arc<follower::Follower>>,
    /// What prints a person's documents, given by the binary ([`App::set_documents`]);
    /// without it the document routes answer 501.
    pub documents: std::sync::OnceLock<Arc<dyn documents::Documents>>,
    /// What sends documents by secure email, given by the binary ([`App::set_mailer`]);
    /// without it the email route answers 501.
    pub mailer: std::sync::OnceLock<Arc<dyn email::Mailer>>,
    /// Places for emails being sent at once ([`email::EMAILS_IN_FLIGHT_MAX`]).
    pub email_slots: Arc<tokio::sync::Semaphore>,
    /// Set when the service stops: sends still waiting for the relay end ([`email::drain`]).
    pub email_stop: tokio::sync::watch::Sender<bool>,
}

impl std::ops::Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The actor of the events the SLA timer task appends.
pub const SLA_ACTOR: &str = "careledger-sla";

impl App {
    /// The service over an open ledger, with users and tokens from `dir`, and its
    /// `limits.scans_max` scan threads (panics if the operating system cannot start them).
    pub fn new(ledger: Ledger, dir: &Path, limits: Limits) -> Result<Self, auth::AuthError> {
        Self::with_follower(ledger, dir, limits, None)
    }

    /// [`App::new`] for a replica's ledger, with the state of the follower that keeps it
    /// up with its primary ([`follower::follow`]).
    pub fn with_follower(
        ledger: Ledger,
        dir: &Path,
        limits: Limits,
        follower: Option<Arc<follower::Follower>>,
    ) -> Result<Self, auth::AuthError> {
        Ok(App(Arc::new(Inner {
            follower,
            auth: auth::Authenticator::open(dir)?,
            ledger,
            metrics: Default::default(),
            scans: Arc::new(tokio::sync::Semaphore::new(limits.scans_max.max(1))),
            scan_threads: blocking::ScanThreads::start(limits.scans_max.max(1))
                .expect("the operating system refused to start the scan threads"),
            limits,
            sla_wake: tokio::sync::Notify::new(),
            write_failed: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
            documents: std::sync::OnceLock::new(),
            mailer: std::sync::OnceLock::new(),
            email_slots: Arc::new(tokio::sync::Semaphore::new(email::EMAILS_IN_FLIGHT_MAX)),
            email_stop: tokio::sync::watch::Sender::new(false),
        })))
    }

    /// Appends commands (all or nothing) and waits until they are durable.
    pub async fn append(&self, commands: Vec<Command>) -> Result<Vec<Receipt>, ApiError> {
        self.append_keyed(commands, None).await
    }

    /// [`App::append`] under a client's request key (`Idempotency-Key`): a retry is
    /// answered with the first append's receipts.
    pub async fn append_keyed(
        &self,
        commands: Vec<Command>,
        key: Option<careledger_store::RequestKey>,
    ) -> Result<Vec<Receipt>, ApiError> {
        self.append_ledger_keyed(commands, key)
            .await
            .map_err(ApiError::from)
    }

    /// [`App::append`], keeping the ledger's typed error.
    pub async fn append_ledger(&self, commands: Vec<Command>) -> Result<Vec<Receipt>, LedgerError> {
        self.append_ledger_keyed(commands, None).await
    }

    /// [`App::append_keyed`], keeping the ledger's typed error.
    pub async fn append_ledger_keyed(
        &self,
        commands: Vec<Command>,
        key: Option<careledger_store::RequestKey>,
    ) -> Result<Vec<Receipt>, LedgerError> {
        if let Some(follower) = &self.follower {
            // A replica writes nothing itself; its reads are recorded at its primary.
            let _ = key;
            return follower::forward(follower, &commands).await;
        }
        let events = commands.len() as u64;
        self.metrics.appends_in_flight.fetch_add(1, Relaxed);
        let result = self.ledger.append_keyed_async(commands, key).await;
        self.metrics.appends_in_flight.fetch_sub(1, Relaxed);
        match &result {
            Ok(_) => {
                self.metrics.appends.fetch_add(1, Relaxed);
                self.metrics.appended_events.fetch_add(events, Relaxed);
            }
            Err(LedgerError::Append(careledger_store::AppendError::Busy(_))) => {
                self.metrics.busy.fetch_add(1, Relaxed);
            }
            Err(LedgerError::Append(careledger_store::AppendError::WriteFailed(_))) => {
                self.metrics.append_failures.fetch_add(1, Relaxed);
                self.write_failed.store(true, Relaxed);
            }
            Err(LedgerError::Refused { .. }) => {}
            Err(_) => {
                self.metrics.append_failures.fetch_add(1, Relaxed);
            }
        }
        result
    }
}

/// The client's address, as the failed-attempt limit sees it (a request extension,
/// wrapped in axum's `ConnectInfo`).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// A client must finish sending a request's headers within this; a connection that
/// trickles them (or never ends them) is closed rather than held open for ever.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// After the shutdown signal, in-flight requests get this long to finish (longer than the
/// request time limit); connections still open then are dropped. Appends already queued
/// are written and made durable when the ledger closes, whether or not their answer went out.
pub const SHUTDOWN_DRAIN_MAX: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` (plain TCP, or [`tls::TlsListener`]) until `shutdown`
/// completes; then stops accepting, lets in-flight requests (and so their appends) finish
/// within [`SHUTDOWN_DRAIN_MAX`], and stops the SLA timer task. Each connection is HTTP/1.1
/// with keep-alive and [`HEADER_READ_TIMEOUT`].
pub async fn serve<L>(
    app: App,
    listener: L,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    let router = router(app.clone());
    serve_router(app, router, listener, shutdown).await
}

/// [`serve`] with the router given (the API with the pages: [`routes::router_with`]).
pub async fn serve_router<L>(
    app: App,
    router: axum::Router,
    mut listener: L,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower_service::Service;

    // A replica's SLA events come from its primary.
    let timers = match app.ledger.store().primary() {
        None => Some(tokio::spawn(sla::run(app.clone()))),
        Some(_) => None,
    };
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, remote) = tokio::select! {
            connection = listener.accept() => connection,
            _ = &mut shutdown => break,
        };
        let router = router.clone();
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(ClientAddr(remote)));
                // A Router is always ready: no need to poll it first.
                router.clone().call(req)
            });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .keep_alive(true)
            .serve_connection(
                TokioIo::new(conn::ProblemIo::new(conn::CountedIo::new(io, app.clone()))),
                service,
            );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that goes away mid-request is its own business.
            let _ = connection.await;
        });
    }
    app.shutting_down.store(true, Relaxed);
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_DRAIN_MAX, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            drain_s = SHUTDOWN_DRAIN_MAX.as_secs(),
            "shutdown: connections still open after the drain time were dropped"
        );
    }
    app.sla_wake.notify_one();
    if let Some(timers) = timers {
        let _ = timers.await;
    }
    email::drain(&app, email::DRAIN_WAIT).await;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
