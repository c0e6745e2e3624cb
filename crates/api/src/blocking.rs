//! Work that may take long runs here, never on the async workers that answer every other
//! request: record sections (their histories read the log), auditor queries, findings and
//! the response-time report run on tokio's blocking pool ([`App::offload`]).
//!
//! The request's time limit (`Limits::request_timeout`, set by the time-limit middleware)
//! is real for them: the work gets a [`Deadline`] and checks it between chunks, and the
//! deadline is also cancelled when the request is abandoned (its future dropped: the
//! middleware answered 503, or the client went away), so an abandoned scan stops within
//! one chunk instead of running on. Work that reads far more than it returns (a scan of
//! the log or of an access log, findings, the response-time report) also needs a
//! [`ScanPermit`]: at most `Limits::scans_max` run at once, each on one of as many scan
//! threads at a lower CPU priority ([`SCAN_NICE`]), and a request beyond that is answered
//! 503 busy with Retry-After at once, rather than queueing for the CPU.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use crate::problem::RETRY_AFTER_SECONDS;
use crate::{ApiError, App};

tokio::task_local! {
    /// When the request being answered must be done.
    static REQUEST_DEADLINE: Instant;
}

/// Runs `request` (a request's handling) with `deadline` as its [`Deadline`]'s time.
pub(crate) async fn with_deadline<F: Future>(deadline: Instant, request: F) -> F::Output {
    REQUEST_DEADLINE.scope(deadline, request).await
}

/// When a piece of work must stop, and whether its request was abandoned. Cheap to clone;
/// clones share the cancellation.
#[derive(Clone, Debug)]
pub struct Deadline {
    at: Instant,
    limit: Duration,
    cancelled: Arc<AtomicBool>,
}

impl Deadline {
    /// A deadline at `at`, for a request whose time limit is `limit` (named in the answer).
    pub fn new(at: Instant, limit: Duration) -> Self {
        Self {
            at,
            limit,
            cancelled: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The deadline of the request being answered; outside a request (a direct call),
    /// the service's time limit from now.
    pub fn of_request(app: &App) -> Self {
        let limit = app.limits.request_timeout;
        let at = REQUEST_DEADLINE
            .try_with(|at| *at)
            .unwrap_or_else(|_| Instant::now() + limit);
        Self::new(at, limit)
    }

    /// Nobody waits for the work any more.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Err once the deadline has passed or the request was abandoned: 503 with
    /// Retry-After, saying that nothing was sent.
    pub fn check(&self) -> Result<(), ApiError> {
        let why = if self.is_cancelled() {
            "its request was abandoned (the time limit passed or the client went away)"
        } else if Instant::now() >= self.at {
            "it took longer than the request time limit"
        } else {
            return Ok(());
        };
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!(
                "the query was stopped: {why} of {} s; no data was sent. Narrow it (one \
                 person, a time range, a smaller page) or go on from an earlier cursor",
                self.limit.as_secs_f64()
            ),
        );
        e.retry_after = Some(RETRY_AFTER_SECONDS);
        Err(e)
    }
}

/// Cancels the deadline when the future awaiting the work is dropped, finished or not
/// (after the work has finished, cancelling changes nothing).
struct CancelOnDrop(Deadline);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// One of the `Limits::scans_max` places for a scan; [`ScanPermit::run`] runs the scan on
/// a scan thread and gives the place back when it ends.
pub struct ScanPermit {
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl ScanPermit {
    /// Runs `work` on one of the scan threads and waits for it (call it from work given to
    /// [`App::offload`]: this thread blocks, without using the CPU, until the scan ends).
    /// There are as many scan threads as permits, so the scan starts at once.
    pub fn run<T: Send + 'static>(
        self,
        app: &App,
        deadline: &Deadline,
        work: impl FnOnce(&App, &Deadline) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        let (scan_app, scan_deadline) = (app.clone(), deadline.clone());
        app.scan_threads.submit(Box::new(move || {
            let result = work(&scan_app, &scan_deadline);
            // The place is free before anyone hears the answer.
            drop(self);
            let _ = answer.send(result);
        }))?;
        answered
            .recv()
            .map_err(|_| ApiError::internal("a scan thread stopped before answering"))?
    }
}

/// How much lower than the rest of the service the scan threads run: nice 10, a tenth of a
/// normal thread's CPU share when both want it. A scan then takes what the requests that
/// answer in milliseconds leave (on two cores, one scan alone still gets a core).
pub const SCAN_NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

/// `Limits::scans_max` threads that run nothing but scans, at [`SCAN_NICE`]. They end when
/// the service (the last clone of its `App`) is dropped.
pub struct ScanThreads {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl ScanThreads {
    pub(crate) fn start(count: usize) -> std::io::Result<Self> {
        let (jobs, waiting) = std::sync::mpsc::channel::<Job>();
        let waiting = Arc::new(std::sync::Mutex::new(waiting));
        for n in 0..count {
            let waiting = waiting.clone();
            std::thread::Builder::new()
                .name(format!("careledger-scan-{n}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = waiting
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        let Ok(job) = job else { return };
                        // A scan that panics answers nothing (its caller says 500); the
                        // thread stays for the next one.
                        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                            tracing::error!("a scan panicked");
                        }
                    }
                })?;
        }
        Ok(Self { jobs })
    }

    fn submit(&self, job: Job) -> Result<(), ApiError> {
        self.jobs
            .send(job)
            .map_err(|_| ApiError::unavailable("the scan threads have stopped"))
    }
}

/// This thread's CPU priority, lowered to [`SCAN_NICE`] (on Linux, setpriority with a
/// thread id changes that thread only).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(error) =
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), SCAN_NICE)
    {
        tracing::warn!(%error, "scan threads run at normal priority");
    }
}

impl App {
    /// A place for a scan, or 503 busy with Retry-After when `Limits::scans_max` run
    /// already: a scan never waits for one, so a burst of scans cannot pile up work that
    /// its clients have stopped waiting for.
    pub fn scan_permit(&self) -> Result<ScanPermit, ApiError> {
        match self.scans.clone().try_acquire_owned() {
            Ok(permit) => Ok(ScanPermit { _permit: permit }),
            Err(_) => {
                self.metrics
                    .scans_refused
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Err(ApiError::busy(format!(
                    "as many queries that scan the ledger as this service runs at once \
                     ({}) are running already; retry after {RETRY_AFTER_SECONDS} s",
                    self.limits.scans_max
                )))
            }
        }
    }

    /// Runs `work` on the blocking pool with the request's [`Deadline`], which it should
    /// check between chunks. `what` names the work in the log line written when it is
    /// stopped.
    pub async fn offload<T: Send + 'static>(
        &self,
        what: &'static str,
        work: impl FnOnce(&App, &Deadline) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let deadline = Deadline::of_request(self);
        deadline.check()?;
        let _cancel = CancelOnDrop(deadline.clone());
        let app = self.clone();
        let ran = tokio::task::spawn_blocking(move || {
            let result = work(&app, &deadline);
            if matches!(&result, Err(e) if e.kind == "timeout") {
                app.metrics
                    .work_stopped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(
                    work = what,
                    abandoned = deadline.is_cancelled(),
                    "slow work stopped at its request's time limit"
                );
            }
            result
        })
        .await;
        match ran {
            Ok(result) => result,
            Err(e) => {
                tracing::error!(work = what, error = %e, "slow work failed");
                Err(ApiError::internal(format!("{what} failed: {e}")))
            }
        }
    }
}
