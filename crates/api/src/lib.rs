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
pub mod extract;
pub mod gate;
pub mod handlers;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod routes;
pub mod sla;
pub mod tls;
pub mod views;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use careledger_ledger::{Command, Ledger, LedgerError};
use careledger_store::Receipt;

pub use auth::Principal;
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
    /// Longest break-glass access, in minutes (the care rules allow 12 hours).
    pub emergency_minutes_max: u32,
    /// Write one JSON log line per request to stderr.
    pub log_requests: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes_max: 256 * 1024,
            page_items_max: 1000,
            page_items_default: 100,
            request_timeout: Duration::from_secs(10),
            audit_scan_events_max: 200_000,
            emergency_minutes_max: 12 * 60,
            log_requests: true,
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
    /// Woken when a council request is appended, so the timer task re-plans.
    pub sla_wake: tokio::sync::Notify,
    /// Set once an append failed to be written: the store refuses further appends, so the
    /// service reports itself not ready.
    pub write_failed: AtomicBool,
    pub shutting_down: AtomicBool,
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
    /// The service over an open ledger, with users and tokens from `dir`.
    pub fn new(ledger: Ledger, dir: &Path, limits: Limits) -> Result<Self, auth::AuthError> {
        Ok(App(Arc::new(Inner {
            auth: auth::Authenticator::open(dir)?,
            ledger,
            metrics: Default::default(),
            limits,
            sla_wake: tokio::sync::Notify::new(),
            write_failed: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
        })))
    }

    /// Appends commands (all or nothing) and waits until they are durable.
    pub async fn append(&self, commands: Vec<Command>) -> Result<Vec<Receipt>, ApiError> {
        self.append_ledger(commands).await.map_err(ApiError::from)
    }

    /// [`App::append`], keeping the ledger's typed error (to place a rule's field).
    pub async fn append_ledger(&self, commands: Vec<Command>) -> Result<Vec<Receipt>, LedgerError> {
        let events = commands.len() as u64;
        self.metrics.appends_in_flight.fetch_add(1, Relaxed);
        let result = self.ledger.append_async(commands).await;
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

/// The client's address, as the failed-attempt limit sees it.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for ClientAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tls::TlsListener>>
    for ClientAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tls::TlsListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

/// Serves `app` on `listener` (plain TCP or [`tls::TlsListener`]) until `shutdown`
/// completes, then lets in-flight requests (and so their appends) finish, and stops the
/// SLA timer task.
pub async fn serve<L>(
    app: App,
    listener: L,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
    for<'a> ClientAddr: axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    let timers = tokio::spawn(sla::run(app.clone()));
    let flag = app.clone();
    let result = axum::serve(
        listener,
        router(app.clone()).into_make_service_with_connect_info::<ClientAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        flag.shutting_down.store(true, Relaxed);
    })
    .await;
    app.shutting_down.store(true, Relaxed);
    app.sla_wake.notify_one();
    let _ = timers.await;
    result
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
