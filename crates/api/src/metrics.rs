//! Prometheus metrics in the text exposition format, kept in atomics: no labels carry
//! personal data (routes are templates such as `/v1/people/{id}/care-plan`).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// Upper bounds of the latency histogram's buckets, in seconds.
const LATENCY_BUCKETS_S: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct RouteStats {
    by_status: BTreeMap<u16, u64>,
    buckets: [u64; LATENCY_BUCKETS_S.len()],
    count: u64,
    sum_s: f64,
}

/// The service's counters.
#[derive(Default)]
pub struct Metrics {
    routes: Mutex<BTreeMap<(&'static str, String), RouteStats>>,
    pub appends: AtomicU64,
    pub appended_events: AtomicU64,
    pub append_failures: AtomicU64,
    pub appends_in_flight: AtomicU64,
    pub busy: AtomicU64,
    /// Scans answered 503 because `Limits::scans_max` were running.
    pub scans_refused: AtomicU64,
    /// Work on the blocking pool stopped at its deadline or because its request was
    /// abandoned.
    pub work_stopped: AtomicU64,
    pub access_allowed: AtomicU64,
    pub access_refused: AtomicU64,
    pub access_emergency: AtomicU64,
    pub auth_failures: AtomicU64,
    pub auth_locked_out: AtomicU64,
    pub sla_warnings: AtomicU64,
    pub sla_breaches: AtomicU64,
    pub sla_refused: AtomicU64,
    pub sla_passes: AtomicU64,
    pub sla_pass_failures: AtomicU64,
    pub received_bytes: AtomicU64,
}

impl Metrics {
    pub fn observe(&self, method: &'static str, route: String, status: u16, seconds: f64) {
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let stats = routes.entry((method, route)).or_default();
        *stats.by_status.entry(status).or_default() += 1;
        stats.count += 1;
        stats.sum_s += seconds;
        if let Some(i) = LATENCY_BUCKETS_S.iter().position(|b| seconds <= *b) {
            stats.buckets[i] += 1;
        }
    }

    /// The text exposition, with the ledger's size and queue depth read at the time.
    pub fn render(&self, ledger_events: u64) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        let gauge = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        let _ = writeln!(
            out,
            "# HELP careledger_http_requests_total HTTP requests answered, by route template and status.\n# TYPE careledger_http_requests_total counter"
        );
        let routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        for ((method, route), stats) in routes.iter() {
            for (status, n) in &stats.by_status {
                let _ = writeln!(
                    out,
                    "careledger_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP careledger_http_request_duration_seconds Time to answer, by route template.\n# TYPE careledger_http_request_duration_seconds histogram"
        );
        for ((method, route), stats) in routes.iter() {
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            let mut cumulative = 0;
            for (bound, n) in LATENCY_BUCKETS_S.iter().zip(stats.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "careledger_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "careledger_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\ncareledger_http_request_duration_seconds_sum{{{labels}}} {}\ncareledger_http_request_duration_seconds_count{{{labels}}} {}",
                stats.count, stats.sum_s, stats.count
            );
        }
        drop(routes);
        counter(
            &mut out,
            "careledger_http_received_bytes_total",
            "Bytes read from clients' connections (after TLS), complete requests or not.",
            self.received_bytes.load(Relaxed),
        );
        counter(
            &mut out,
            "careledger_appends_total",
            "Append requests acknowledged durable.",
            self.appends.load(Relaxed),
        );
        counter(
            &mut out,
            "careledger_appended_events_total",
            "Events appended by this service.",
            self.appended_events.load(Relaxed),
        );
        counter(
            &mut out,
            "careledger_append_failures_total",
            "Append requests that failed to be written (not refusals by a rule).",
            self.append_failures.load(Relaxed),
        );
        counter(
            &mut out,
            "careledger_busy_total",
            "Requests answered 503 because the append queue was full.",
            self.busy.load(Relaxed),
        );
        counter(
            &mut out,
            "careledger_scans_refused_total",
            "Queries that scan answered 503 because the most allowed at once were running.",
            self.scans_refused.load(Relaxed),
        );
        counter(
            &mut out,
            "careledger_work_stopped_total",
            "Slow work stopped at its request's time limit or because its request was abandoned.",
            self.work_stopped.load(Relaxed),
        );
        gauge(
            &mut out,
            "careledger_append_queue_depth",
            "Append requests submitted and not yet answered.",
            self.appends_in_flight.load(Relaxed),
        );
        gauge(
            &mut out,
            "careledger_ledger_events",
            "Events in the ledger.",
            ledger_events,
        );
        counter(
            &mut out,
            "careledger_access_allowed_total",
            "Reads of personal data allowed by the access gate.",
            self.access_allowed.load(Relaxed),
        );
        counter(
            &mut out,
            "careledger_access_refused_total",
            "Reads of personal data refused by the access gate.",
            self.access_refused.load(Relaxed),
        );
        counter(
            &mut out,
            "careledger_access_emergency_total",
            "Break-glass accesses recorded.",
            self.access_emergency.load(Relaxed),
        );
        counter(
            &mut out,
            "careledger_auth_failures_total",
            "Requests with a missing or invalid bearer token.",
            self.auth_failures.load(Relaxed),
        );
        counter(
            &mut out,
            "careledger_auth_locked_out_total",
            "Requests refused because their client failed too often.",
            self.auth_locked_out.load(Relaxed),
        );
        counter(
            &mut out,
            "careledger_sla_warnings_total",
            "SLA warning events appended by the timer task.",
            self.sla_warnings.load(Relaxed),
        );
        counter(
            &mut out,
            "careledger_sla_breaches_total",
            "SLA breach events appended by the timer task.",
            self.sla_breaches.load(Relaxed),
        );
        counter(
            &mut out,
            "careledger_sla_refused_total",
            "SLA events the care rules refused; the timer task does not offer them again until restart.",
            self.sla_refused.load(Relaxed),
        );
        counter(
            &mut out,
            "careledger_sla_passes_total",
            "Passes of the SLA timer task over the open council requests.",
            self.sla_passes.load(Relaxed),
        );
        counter(
            &mut out,
            "careledger_sla_pass_failures_total",
            "SLA timer passes that failed (store busy or failed, projections unavailable) and were retried.",
            self.sla_pass_failures.load(Relaxed),
        );
        out
    }
}
