//! `careledger bench`: throughput and latency of the hot paths, measured on this machine in
//! one run, with raw sled as the baseline for appends. Build with `--release`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use careledger_log::merkle::{verify_consistency, verify_inclusion, Blake3Hasher};
use careledger_store::{baseline, AppendError, NewEvent, Store, StoreConfig};
use clap::Subcommand;

use crate::cli::CliError;
use crate::progress::Progress;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Durable appends from concurrent writers, one event per request, against raw sled
    /// batch-insert-plus-flush measured in the same run.
    Append {
        #[arg(long, default_value_t = 64)]
        writers: usize,
        #[arg(long, default_value_t = 200_000)]
        events: u64,
        #[arg(long, default_value_t = 200)]
        payload_bytes: usize,
        /// Rounds of (raw sled, careledger), alternating.
        #[arg(long, default_value_t = 2)]
        rounds: usize,
        /// Where to create scratch ledgers (default: the system's temp directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Full verification of a ledger of EVENTS events, ROUNDS times.
    Verify {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Inclusion and consistency proofs on a ledger of EVENTS events.
    Prove {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        #[arg(long, default_value_t = 20_000)]
        proofs: usize,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(parent: Option<&Path>, name: &str) -> Result<Self, CliError> {
        let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let path = parent.join(format!(
            "careledger-bench-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// splitmix64: deterministic, dependency-free numbers for choosing proof indices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn sample_event(n: u64, payload_bytes: usize) -> NewEvent {
    let mut payload = format!("{{\"note\":\"visit {n}\",\"pad\":\"");
    while payload.len() + 2 < payload_bytes {
        payload.push('x');
    }
    payload.push_str("\"}");
    NewEvent {
        actor: format!("staff:s{:04}", n % 200),
        subject: Some(format!("person:p{:05}", n % 5000)),
        kind: "visit.completed".into(),
        occurred_at_us: 1_790_000_000_000_000 + n as i64,
        payload: payload.into_bytes(),
    }
}

/// CPU time this process has used (user + system), from /proc; `None` elsewhere.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel reports in USER_HZ, 100 on Linux.
    Some(Duration::from_millis(ticks * 10))
}

struct Percentiles {
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
}

fn percentiles(mut samples: Vec<Duration>) -> Percentiles {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Percentiles {
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        max: *samples.last().expect("at least one sample"),
    }
}

fn us(d: Duration) -> String {
    format!("{:.1} us", d.as_secs_f64() * 1e6)
}

pub fn run(what: BenchCommand) -> Result<(), CliError> {
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; build with --release for real numbers");
    }
    match what {
        BenchCommand::Append {
            writers,
            events,
            payload_bytes,
            rounds,
            dir,
        } => bench_append(
            writers.max(1),
            events.max(1),
            payload_bytes,
            rounds.max(1),
            dir.as_deref(),
        ),
        BenchCommand::Verify {
            events,
            rounds,
            dir,
        } => bench_verify(events, rounds.max(1), dir.as_deref()),
        BenchCommand::Prove {
            events,
            proofs,
            dir,
        } => bench_prove(events.max(2), proofs.max(1), dir.as_deref()),
    }
}

struct AppendRun {
    events_per_s: f64,
    cpu_us_per_event: Option<f64>,
    latency: Percentiles,
    busy: u64,
    record_bytes: usize,
}

/// Durable appends from `writers` concurrent tasks on a two-thread tokio runtime, the way
/// the HTTP service's request handlers append: each task appends one event and awaits its
/// acknowledgement before the next.
fn careledger_append(
    dir: &Path,
    writers: usize,
    events: u64,
    payload_bytes: usize,
) -> Result<AppendRun, CliError> {
    Store::init(dir, "bench.careledger/append")?;
    let store = Store::open(dir, StoreConfig::default())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()?;
    let next = Arc::new(AtomicU64::new(0));
    let busy = Arc::new(AtomicU64::new(0));
    let cpu_before = process_cpu();
    let started = Instant::now();
    let outcomes = runtime.block_on(async {
        let mut tasks = Vec::with_capacity(writers);
        for _ in 0..writers {
            let (store, next, busy) = (store.clone(), next.clone(), busy.clone());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= events {
                        return Ok(latencies);
                    }
                    let t = Instant::now();
                    loop {
                        match store
                            .append_async(vec![sample_event(n, payload_bytes)])
                            .await
                        {
                            Ok(_) => break,
                            Err(AppendError::Busy(_)) => {
                                busy.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep(Duration::from_micros(100)).await;
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    latencies.push(t.elapsed());
                }
            }));
        }
        let mut outcomes = Vec::with_capacity(writers);
        for task in tasks {
            outcomes.push(task.await);
        }
        outcomes
    });
    let elapsed = started.elapsed();
    let cpu_us_per_event = cpu_before
        .zip(process_cpu())
        .map(|(before, after)| (after - before).as_secs_f64() * 1e6 / events as f64);
    let mut latencies = Vec::with_capacity(events as usize);
    for outcome in outcomes {
        latencies.extend(outcome.map_err(|e| CliError::from(format!("writer task failed: {e}")))??);
    }
    if store.size() != events {
        return Err(CliError::from(format!(
            "bench wrote {} events, expected {events}",
            store.size()
        )));
    }
    let first = store.get(0)?;
    let record_bytes = 4 + first.envelope_bytes.len() + 32 + first.payload.map_or(0, |p| p.1.len());
    Ok(AppendRun {
        events_per_s: events as f64 / elapsed.as_secs_f64(),
        cpu_us_per_event,
        latency: percentiles(latencies),
        busy: busy.load(Ordering::Relaxed),
        record_bytes,
    })
}

fn bench_append(
    writers: usize,
    events: u64,
    payload_bytes: usize,
    rounds: usize,
    dir: Option<&Path>,
) -> Result<(), CliError> {
    println!("bench append: {writers} writers, {events} events of {payload_bytes} payload bytes, {rounds} rounds");
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        let ours_dir = Scratch::new(dir, "append")?;
        let ours = careledger_append(&ours_dir.0, writers, events, payload_bytes)?;
        drop(ours_dir);
        // Raw sled doing the same job: the same writers, the same bytes per event, each
        // write followed by sled's flush.
        let raw_dir = Scratch::new(dir, "sled-concurrent")?;
        let raw = baseline::sled_concurrent_insert_flush(
            &raw_dir.0,
            &StoreConfig::default(),
            events,
            writers,
            ours.record_bytes,
        )?;
        drop(raw_dir);
        // And the ideal that no concurrent writer reaches: one thread, batches as large as
        // the writer count, one flush per batch.
        let ideal_dir = Scratch::new(dir, "sled-batched")?;
        let ideal = baseline::sled_batch_insert_flush(
            &ideal_dir.0,
            &StoreConfig::default(),
            events,
            writers,
            ours.record_bytes,
        )?;
        drop(ideal_dir);
        let ratio = ours.events_per_s / raw;
        ratios.push((ours.events_per_s, ratio, ours.events_per_s / ideal));
        println!(
            "round {round}: careledger durable append {:.0} events/s (CPU {} per event; latency p50 {}, p90 {}, p99 {}, max {}; busy answers {})",
            ours.events_per_s,
            ours.cpu_us_per_event.map_or("unknown".into(), |c| format!("{c:.1} us")),
            us(ours.latency.p50),
            us(ours.latency.p90),
            us(ours.latency.p99),
            us(ours.latency.max),
            ours.busy,
        );
        println!(
            "round {round}: raw sled, {writers} writers each inserting {} B and flushing: {raw:.0} events/s; careledger / raw = {ratio:.2}",
            ours.record_bytes
        );
        println!(
            "round {round}: raw sled, one thread, batches of {writers} and a flush per batch: {ideal:.0} events/s; careledger / that = {:.2}",
            ours.events_per_s / ideal
        );
    }
    let median = |pick: fn(&(f64, f64, f64)) -> f64| {
        let mut v: Vec<f64> = ratios.iter().map(pick).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "median over {rounds} rounds: careledger {:.0} events/s; / raw sled with the same writers {:.2}; / raw sled one-thread batches {:.2}",
        median(|r| r.0),
        median(|r| r.1),
        median(|r| r.2)
    );
    Ok(())
}

/// Fills a fresh ledger with `events` events in requests of 10,000.
fn build_ledger(dir: &Path, events: u64) -> Result<Store, CliError> {
    Store::init(dir, "bench.careledger/build")?;
    let store = Store::open(dir, StoreConfig::default())?;
    let started = Instant::now();
    let mut progress = Progress::new("build");
    const REQUEST: u64 = 10_000;
    let mut n = 0;
    while n < events {
        let count = REQUEST.min(events - n);
        let batch: Vec<NewEvent> = (n..n + count).map(|i| sample_event(i, 200)).collect();
        store.append(batch)?;
        n += count;
        progress.update(n, events);
    }
    progress.finish();
    println!(
        "built a ledger of {events} events in {:.1} s ({:.0} events/s, requests of {REQUEST})",
        started.elapsed().as_secs_f64(),
        events as f64 / started.elapsed().as_secs_f64()
    );
    Ok(store)
}

fn bench_verify(events: u64, rounds: usize, dir: Option<&Path>) -> Result<(), CliError> {
    let scratch = Scratch::new(dir, "verify")?;
    let store = build_ledger(&scratch.0, events)?;
    store.checkpoint_now()?;
    drop(store);
    let store = Store::open(&scratch.0, StoreConfig::default())?;
    let mut rates = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        let started = Instant::now();
        let report = store
            .verify(|_, _| {})
            .map_err(|e| CliError::from(e.to_string()))?;
        let seconds = started.elapsed().as_secs_f64();
        let rate = report.events as f64 / seconds;
        rates.push(rate);
        println!(
            "verify round {round}: {} events, {} checkpoints in {seconds:.2} s: {rate:.0} events/s",
            report.events, report.checkpoints
        );
    }
    rates.sort_by(f64::total_cmp);
    println!("verify median: {:.0} events/s", rates[rates.len() / 2]);
    Ok(())
}

fn bench_prove(events: u64, proofs: usize, dir: Option<&Path>) -> Result<(), CliError> {
    let scratch = Scratch::new(dir, "prove")?;
    let store = build_ledger(&scratch.0, events)?;
    let size = store.size();
    let root = store.root_at(size)?;
    let mut rng = Rng(42);
    let mut inclusion = Vec::with_capacity(proofs);
    let mut consistency = Vec::with_capacity(proofs);
    let mut checked = Vec::new();
    for i in 0..proofs {
        let seq = rng.below(size);
        let t = Instant::now();
        let proof = store.inclusion_proof(seq, size)?;
        inclusion.push(t.elapsed());
        let size1 = 1 + rng.below(size);
        let t = Instant::now();
        let cproof = store.consistency_proof(size1, size)?;
        consistency.push(t.elapsed());
        // Check a sample outside the timed region, so a fast wrong answer cannot pass.
        if i % 100 == 0 {
            checked.push((seq, proof, size1, cproof));
        }
    }
    for (seq, proof, size1, cproof) in checked {
        verify_inclusion::<Blake3Hasher, _>(seq, size, &store.leaf_hash(seq)?, &proof, &root)?;
        verify_consistency::<Blake3Hasher, _>(size1, size, &cproof, &store.root_at(size1)?, &root)?;
    }
    let (i, c) = (percentiles(inclusion), percentiles(consistency));
    println!(
        "inclusion proof at {size} events: p50 {}, p90 {}, p99 {}, max {}",
        us(i.p50),
        us(i.p90),
        us(i.p99),
        us(i.max)
    );
    println!(
        "consistency proof to {size} events: p50 {}, p90 {}, p99 {}, max {}",
        us(c.p50),
        us(c.p90),
        us(c.p99),
        us(c.max)
    );
    Ok(())
}
