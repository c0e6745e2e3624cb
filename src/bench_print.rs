//! `careledger bench print`: the documents' bars (issue 13) measured in one run on a
//! simulated ledger: one care plan at a time (latency), the resident memory of a process
//! that renders DOCUMENTS documents one after another (after the first 100 and at the end:
//! typst's memo cache is evicted after each, so it must not grow), then the contingency
//! pack for PEOPLE people (time, and the peak resident memory while it is made).

use std::path::Path;
use std::time::Instant;

use careledger_ledger::Ledger;
use careledger_print::{Format, Kind, Period, Request};
use careledger_sim::SimConfig;
use careledger_store::{Store, StoreConfig};

use crate::bench::{percentiles, Scratch};
use crate::cli::{outln, CliError};
use crate::print_cli::{checkpoint, entries};

/// A field of /proc/self/status in KiB (`VmRSS`, `VmHWM`); `None` off Linux.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("unknown".into(), |k| {
        format!("{:.1} MiB", k as f64 / 1024.0)
    })
}

/// Resets the peak resident size (`VmHWM`) to the current one (Linux: `clear_refs` 5).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

pub struct PrintBench<'a> {
    pub people: u32,
    pub days: u32,
    pub documents: usize,
    pub format: &'a str,
    pub dir: Option<&'a Path>,
}

pub fn bench_print(args: PrintBench<'_>) -> Result<(), CliError> {
    if args.documents < 100 {
        return Err(CliError::from(format!(
            "--documents must be at least 100 (the memory measure compares the end with the first 100), not {}",
            args.documents
        )));
    }
    let format = Format::from_name(args.format)
        .ok_or_else(|| CliError::from(format!("{:?} is not a format", args.format)))?;
    outln!(
        "bench print: {} people over {} days; the pack and {} documents, {}",
        args.people,
        args.days,
        args.documents,
        format.name()
    )?;
    let scratch = Scratch::new(args.dir, "print")?;
    Store::init(&scratch.0, "bench.careledger/print")?;
    let ledger = Ledger::open(&scratch.0, StoreConfig::default())?;
    let report = careledger_sim::run(
        &ledger,
        SimConfig {
            people: args.people,
            days: args.days,
            seed: 1,
            end: chrono::NaiveDate::from_ymd_opt(2026, 11, 1).expect("valid"),
        },
        |_, _, _| {},
    )?;
    outln!("simulated: {} events", report.events)?;
    let cp = checkpoint(&ledger)?;
    let period = Period::ending_at(&cp, careledger_print::PERIOD_DAYS_DEFAULT);
    let ids: Vec<String> = ledger.read(|s| {
        s.people
            .iter()
            .filter(|(_, p)| p.care_active() && p.plan.is_some())
            .map(|(id, _)| id.clone())
            .collect()
    })?;
    if ids.is_empty() {
        return Err(CliError::from(
            "the simulated ledger has nobody in care with a plan",
        ));
    }

    // One care plan at a time, as a request would make it: the person's events, then
    // the document. First, so the resident memory it measures is the service's, not what
    // the pack left behind.
    let mut samples = Vec::with_capacity(args.documents);
    let mut rss_after_100 = None;
    for n in 0..args.documents {
        let id = &ids[n % ids.len()];
        let started = Instant::now();
        let e = entries(&ledger, id, cp.size, None)?;
        let printed = ledger.read(|s| {
            careledger_print::print(
                s,
                &Request::Person {
                    kind: Kind::CarePlan,
                    id,
                    entries: &e,
                    period,
                },
                format,
                &cp,
            )
        })?;
        printed.map_err(|e| CliError::from(e.to_string()))?;
        samples.push(started.elapsed());
        if n + 1 == 100 {
            rss_after_100 = status_kib("VmRSS");
        }
    }
    let rss_end = status_kib("VmRSS");
    let p = percentiles(samples);
    outln!(
        "care plan, one at a time: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        p.p50.as_secs_f64() * 1e3,
        p.p90.as_secs_f64() * 1e3,
        p.p99.as_secs_f64() * 1e3,
        p.max.as_secs_f64() * 1e3
    )?;
    let growth = match (rss_after_100, rss_end) {
        (Some(a), Some(b)) if a > 0 => format!("{:+.1}%", (b as f64 - a as f64) / a as f64 * 100.0),
        _ => "unknown".into(),
    };
    outln!(
        "resident after 100 documents {}, after {} {} ({growth})",
        mib(rss_after_100),
        args.documents,
        mib(rss_end)
    )?;

    // The pack: gathering each person's events from the log, then laying it out.
    let peak_reset = reset_peak();
    let rss_before = status_kib("VmRSS");
    let started = Instant::now();
    let people = crate::print_cli::pack_entries(&ledger, &ids, cp.size, period)?;
    let gathered = started.elapsed();
    // In volumes, as `careledger print contingency` writes it.
    let volumes = careledger_print::pack::Volume::split(people.len());
    let of = volumes.len();
    let mut bytes = 0;
    for (range, volume) in volumes {
        let printed = ledger.read(|s| {
            careledger_print::print(
                s,
                &Request::Pack {
                    people: &people[range],
                    period,
                    volume: Some(volume),
                },
                format,
                &cp,
            )
        })?;
        bytes += printed
            .map_err(|e| CliError::from(e.to_string()))?
            .bytes
            .len();
    }
    let total = started.elapsed();
    let peak = status_kib("VmHWM");
    outln!(
        "contingency pack: {} people in {of} volumes, {} bytes in {:.2} s ({:.2} s reading the log, {:.2} s laying out); resident {} before, peak {}{}",
        people.len(),
        bytes,
        total.as_secs_f64(),
        gathered.as_secs_f64(),
        (total - gathered).as_secs_f64(),
        mib(rss_before),
        mib(peak),
        if peak_reset { "" } else { " (peak since the process started: clear_refs refused)" }
    )?;

    Ok(())
}
