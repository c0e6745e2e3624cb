//! `careledger bench`: throughput and latency of the hot paths, measured on this machine in
//! one run, with raw sled as the baseline for appends. Build with `--release`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use careledger_log::merkle::{verify_consistency, verify_inclusion, Blake3Hasher};
use careledger_store::{baseline, AppendError, NewEvent, Store, StoreConfig};
use clap::Subcommand;

use careledger_care::event::{CareStarted, DiaryNote, PersonRegistered, StaffRegistered};
use careledger_care::{Author, CareEvent, Role};
use careledger_ledger::{Command, Ledger, LedgerError};
use careledger_sim::SimConfig;

use crate::cli::{outln, CliError};
use crate::progress::Progress;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Durable appends from concurrent writers, one event per request, against raw sled
    /// batch-insert-plus-flush measured in the same run.
    Append {
        /// Concurrent writers.
        #[arg(long, default_value_t = 64)]
        writers: usize,
        /// Events appended in each round, by all writers together.
        #[arg(long, default_value_t = 200_000)]
        events: u64,
        /// About how many payload bytes each event carries.
        #[arg(long, default_value_t = 200)]
        payload_bytes: usize,
        /// Rounds of (raw sled, careledger), alternating.
        #[arg(long, default_value_t = 2)]
        rounds: usize,
        /// Where to create scratch ledgers (default: the system's temp directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Append typed care events (staff diary notes about 500 people) through the care
        /// ledger, so every event is checked by the rules and applied to the projections.
        #[arg(long)]
        care: bool,
    },
    /// Projection rebuild: simulate PEOPLE people over DAYS days, then delete the
    /// projections and rebuild them from the log, ROUNDS times.
    Rebuild {
        /// People in the simulated history.
        #[arg(long, default_value_t = 200)]
        people: u32,
        /// Days of simulated history.
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// Rebuilds measured.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Where to create the scratch ledger (default: the system's temp directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Full verification of a ledger of EVENTS events, ROUNDS times.
    Verify {
        /// Events in the ledger verified.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Verifications measured.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Where to create the scratch ledger (default: the system's temp directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Backup and restore of a ledger of EVENTS events against its export, ROUNDS times:
    /// the time of each, and the sizes on disk.
    Backup {
        /// Events in the ledger backed up.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Rounds of export, backup and restore measured.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Where to create the scratch ledger (default: the system's temp directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// A replica's lag behind its primary while care events are offered to the primary
    /// at RATE a second for SECONDS (docs/BENCHMARKS.md).
    Replica {
        /// Care events offered to the primary each second, one per request.
        #[arg(long, default_value_t = 10_000)]
        rate: u64,
        /// How long to offer them (after two seconds of warm-up).
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Where to create the scratch ledgers (default: the system's temp directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// The documents: the contingency pack for PEOPLE people (time, peak resident
    /// memory), then DOCUMENTS care plans one at a time (latency, and resident memory
    /// after the first 100 and at the end), on a simulated ledger of DAYS days.
    Print {
        /// People in the simulated history (all in the pack).
        #[arg(long, default_value_t = 500)]
        people: u32,
        /// Days of simulated history.
        #[arg(long, default_value_t = 28)]
        days: u32,
        /// Care plans rendered one after another.
        #[arg(long, default_value_t = 1000)]
        documents: usize,
        /// pdf, large-print, easy-read or text.
        #[arg(long, default_value = "pdf")]
        format: String,
        /// Where to create the scratch ledger (default: the system's temp directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Inclusion and consistency proofs on a ledger of EVENTS events.
    Prove {
        /// Events in the ledger proved from.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Proofs of each kind measured.
        #[arg(long, default_value_t = 20_000)]
        proofs: usize,
        /// Where to create the scratch ledger (default: the system's temp directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// A scratch directory removed when dropped.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new(parent: Option<&Path>, name: &str) -> Result<Self, CliError> {
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

pub(crate) struct Percentiles {
    pub(crate) p50: Duration,
    pub(crate) p90: Duration,
    pub(crate) p99: Duration,
    pub(crate) max: Duration,
}

pub(crate) fn percentiles(mut samples: Vec<Duration>) -> Percentiles {
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
            care,
        } => bench_append(
            writers.max(1),
            events.max(1),
            payload_bytes,
            rounds.max(1),
            dir.as_deref(),
            care,
        ),
        BenchCommand::Rebuild {
            people,
            days,
            rounds,
            dir,
        } => bench_rebuild(people.max(1), days.max(1), rounds.max(1), dir.as_deref()),
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
        BenchCommand::Print {
            people,
            days,
            documents,
            format,
            dir,
        } => crate::bench_print::bench_print(crate::bench_print::PrintBench {
            people: people.max(1),
            days: days.max(1),
            documents: documents.max(100),
            format: &format,
            dir: dir.as_deref(),
        }),
        BenchCommand::Backup {
            events,
            rounds,
            dir,
        } => bench_backup(events.max(1), rounds.max(1), dir.as_deref()),
        BenchCommand::Replica { rate, seconds, dir } => {
            crate::bench_replica::run(rate, seconds.max(1), dir.as_deref())
        }
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
    (care, sealed): (bool, bool),
) -> Result<AppendRun, CliError> {
    let config = scratch_config(dir, sealed, "bench.careledger/append")?;
    let ledger = if care {
        let ledger = Ledger::open(dir, config.clone())?;
        ledger.append(care_setup())?;
        Some(ledger)
    } else {
        None
    };
    let setup_events = ledger.as_ref().map_or(0, |l| l.store().size());
    let store = match &ledger {
        Some(l) => l.store().clone(),
        None => Store::open(dir, config)?,
    };
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
            let ledger = ledger.clone();
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= events {
                        return Ok(latencies);
                    }
                    let t = Instant::now();
                    loop {
                        let outcome = match &ledger {
                            Some(ledger) => ledger
                                .append_async(vec![care_event(n, payload_bytes)])
                                .await
                                .map_err(|e| match e {
                                    LedgerError::Append(a) => a,
                                    other => AppendError::WriteFailed(other.to_string()),
                                }),
                            None => {
                                store
                                    .append_async(vec![sample_event(n, payload_bytes)])
                                    .await
                            }
                        };
                        match outcome {
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
    if store.size() != events + setup_events {
        return Err(CliError::from(format!(
            "bench wrote {} events, expected {events}",
            store.size() - setup_events
        )));
    }
    let first = store.get(setup_events)?;
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
    care: bool,
) -> Result<(), CliError> {
    let what = if care {
        "typed care events through the rules and projections"
    } else {
        "events"
    };
    outln!("bench append: {writers} writers, {events} {what} of about {payload_bytes} payload bytes, {rounds} rounds")?;
    let mut ratios = Vec::new();
    let mut sealed_ratios = Vec::new();
    for round in 1..=rounds {
        // Payloads sealed at rest (every ledger careledger makes), then in clear, in turn.
        let sealed_dir = Scratch::new(dir, "append-sealed")?;
        let sealed =
            careledger_append(&sealed_dir.0, writers, events, payload_bytes, (care, true))?;
        drop(sealed_dir);
        let ours_dir = Scratch::new(dir, "append")?;
        let ours = careledger_append(&ours_dir.0, writers, events, payload_bytes, (care, false))?;
        drop(ours_dir);
        let sealed_ratio = sealed.events_per_s / ours.events_per_s;
        sealed_ratios.push(sealed_ratio);
        outln!(
            "round {round}: careledger durable append, payloads encrypted at rest: {:.0} events/s (CPU {} per event; latency p50 {}, p99 {}); / in clear {sealed_ratio:.2}",
            sealed.events_per_s,
            sealed.cpu_us_per_event.map_or("unknown".into(), |c| format!("{c:.1} us")),
            us(sealed.latency.p50),
            us(sealed.latency.p99),
        )?;
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
        outln!(
            "round {round}: careledger durable append {:.0} events/s (CPU {} per event; latency p50 {}, p90 {}, p99 {}, max {}; busy answers {})",
            ours.events_per_s,
            ours.cpu_us_per_event.map_or("unknown".into(), |c| format!("{c:.1} us")),
            us(ours.latency.p50),
            us(ours.latency.p90),
            us(ours.latency.p99),
            us(ours.latency.max),
            ours.busy,
        )?;
        outln!(
            "round {round}: raw sled, {writers} writers each inserting {} B and flushing: {raw:.0} events/s; careledger / raw = {ratio:.2}",
            ours.record_bytes
        )?;
        outln!(
            "round {round}: raw sled, one thread, batches of {writers} and a flush per batch: {ideal:.0} events/s; careledger / that = {:.2}",
            ours.events_per_s / ideal
        )?;
    }
    let median = |pick: fn(&(f64, f64, f64)) -> f64| {
        let mut v: Vec<f64> = ratios.iter().map(pick).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    outln!(
        "median over {rounds} rounds: careledger {:.0} events/s; / raw sled with the same writers {:.2}; / raw sled one-thread batches {:.2}",
        median(|r| r.0),
        median(|r| r.1),
        median(|r| r.2)
    )?;
    sealed_ratios.sort_by(f64::total_cmp);
    outln!(
        "median over {rounds} rounds: encrypted at rest / in clear {:.2} (bar: at least 0.85)",
        sealed_ratios[sealed_ratios.len() / 2]
    )?;
    Ok(())
}

/// A new scratch ledger at `dir` named `origin`, sealed at rest (with a master key kept
/// in memory) or in clear, and the configuration that opens it.
pub(crate) fn scratch_config(
    dir: &Path,
    sealed: bool,
    origin: &str,
) -> Result<StoreConfig, CliError> {
    if !sealed {
        Store::init(dir, origin)?;
        return Ok(StoreConfig::default());
    }
    let master = Arc::new(careledger_store::MasterKey::generate()?);
    Store::init_sealed(dir, origin, &master)?;
    Ok(StoreConfig {
        master_key: Some(master),
        organisation_key_kinds: careledger_ledger::ORGANISATION_KEY_KINDS
            .iter()
            .map(|k| k.to_string())
            .collect(),
        ..StoreConfig::default()
    })
}

/// Fills a fresh ledger with `events` events in requests of 10,000, in clear (what the
/// backup and proof benchmarks measure does not open payloads).
fn build_ledger(dir: &Path, events: u64) -> Result<Store, CliError> {
    build_ledger_as(dir, events, false).map(|(store, _)| store)
}

/// [`build_ledger`], sealed or in clear, with the configuration that opens it.
fn build_ledger_as(
    dir: &Path,
    events: u64,
    sealed: bool,
) -> Result<(Store, StoreConfig), CliError> {
    let config = scratch_config(dir, sealed, "bench.careledger/build")?;
    let store = Store::open(dir, config.clone())?;
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
    outln!(
        "built a ledger of {events} events in {:.1} s ({:.0} events/s, requests of {REQUEST})",
        started.elapsed().as_secs_f64(),
        events as f64 / started.elapsed().as_secs_f64()
    )?;
    Ok((store, config))
}

fn bench_backup(events: u64, rounds: usize, dir: Option<&Path>) -> Result<(), CliError> {
    let scratch = Scratch::new(dir, "backup")?;
    let out = Scratch::new(dir, "backup-out")?;
    let store = build_ledger(&scratch.0, events)?;
    store.checkpoint_now()?;
    drop(store);
    let data = crate::cli::DataDir {
        data: scratch.0.clone(),
    };
    let mut ratios = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        let export = out.0.join(format!("export-{round}"));
        let started = Instant::now();
        crate::cli::export(&data, &export)?;
        let export_s = started.elapsed().as_secs_f64();
        let backup = out.0.join(format!("backup-{round}"));
        let started = Instant::now();
        let info = careledger_store::backup::backup(&scratch.0, &backup, None, &[])?;
        let backup_s = started.elapsed().as_secs_f64();
        let restored = out.0.join(format!("restored-{round}"));
        let started = Instant::now();
        careledger_store::backup::restore(std::slice::from_ref(&backup), &restored)?;
        drop(Store::open(&restored, StoreConfig::default())?);
        let restore_s = started.elapsed().as_secs_f64();
        ratios.push(backup_s / export_s);
        outln!(
            "round {round}: export {export_s:.2} s, backup {backup_s:.2} s (checked; {:.2}x the export), restore {restore_s:.2} s, of {} events",
            backup_s / export_s,
            info.events
        )?;
        if round == 1 {
            outln!(
                "sizes: events.log {} bytes, sled/ {} bytes, ledger {} bytes; export {} bytes; backup {} bytes; ledger / export {:.2}x",
                careledger_store::dir_bytes(&scratch.0.join(careledger_store::EVENTS_FILE)),
                careledger_store::dir_bytes(&scratch.0.join(careledger_store::SLED_DIR)),
                careledger_store::dir_bytes(&scratch.0),
                careledger_store::dir_bytes(&export),
                careledger_store::dir_bytes(&backup),
                careledger_store::dir_bytes(&scratch.0) as f64 / careledger_store::dir_bytes(&export).max(1) as f64
            )?;
        }
        let _ = std::fs::remove_file(&export);
        let _ = std::fs::remove_file(&backup);
        let _ = std::fs::remove_dir_all(&restored);
    }
    ratios.sort_by(f64::total_cmp);
    outln!(
        "median over {rounds} rounds: backup takes {:.2}x the time of export",
        ratios[ratios.len() / 2]
    )?;
    Ok(())
}

/// Verifies a ledger whose payloads are encrypted at rest (every payload opened and
/// checked against its commitment) and the same events in clear, in turn.
fn bench_verify(events: u64, rounds: usize, dir: Option<&Path>) -> Result<(), CliError> {
    let mut stores = Vec::new();
    let mut scratches = Vec::new();
    for (sealed, name) in [(true, "verify-sealed"), (false, "verify")] {
        let scratch = Scratch::new(dir, name)?;
        let (store, config) = build_ledger_as(&scratch.0, events, sealed)?;
        store.checkpoint_now()?;
        drop(store);
        stores.push((sealed, Store::open(&scratch.0, config)?));
        scratches.push(scratch);
    }
    let mut rates = [Vec::with_capacity(rounds), Vec::with_capacity(rounds)];
    for round in 1..=rounds {
        for (i, (sealed, store)) in stores.iter().enumerate() {
            let started = Instant::now();
            let report = store
                .verify(|_, _| {})
                .map_err(|e| CliError::from(e.to_string()))?;
            let seconds = started.elapsed().as_secs_f64();
            let rate = report.events as f64 / seconds;
            rates[i].push(rate);
            outln!(
                "verify round {round}, {}: {} events ({} payloads opened and checked), {} checkpoints in {seconds:.2} s: {rate:.0} events/s",
                if *sealed { "encrypted at rest" } else { "in clear" },
                report.events,
                report.payloads_checked,
                report.checkpoints
            )?;
        }
    }
    for r in &mut rates {
        r.sort_by(f64::total_cmp);
    }
    let (sealed, clear) = (rates[0][rates[0].len() / 2], rates[1][rates[1].len() / 2]);
    outln!(
        "verify median: encrypted at rest {sealed:.0} events/s (bar: at least 1,000,000); in clear {clear:.0} events/s; ratio {:.2}",
        sealed / clear
    )?;
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
    outln!(
        "inclusion proof at {size} events: p50 {}, p90 {}, p99 {}, max {}",
        us(i.p50),
        us(i.p90),
        us(i.p99),
        us(i.max)
    )?;
    outln!(
        "consistency proof to {size} events: p50 {}, p90 {}, p99 {}, max {}",
        us(c.p50),
        us(c.p90),
        us(c.p99),
        us(c.max)
    )?;
    Ok(())
}

const CARE_BENCH_PEOPLE: u64 = 500;
/// 2026-11-02T09:00:00Z: the care bench's events happen on one morning.
const CARE_BENCH_AT_US: i64 = 1_793_610_000_000_000;

/// Staff and people for the care append bench (not timed).
pub(crate) fn care_setup() -> Vec<Command> {
    let mut out = vec![Command::organisation(
        "bench-manager",
        CARE_BENCH_AT_US,
        CareEvent::StaffRegistered(StaffRegistered {
            staff_id: "bench-worker".into(),
            name: "Bench Worker".into(),
            role: Role::CareWorker,
        }),
    )];
    for p in 0..CARE_BENCH_PEOPLE {
        let person = format!("person-{p:04}");
        out.push(Command::about(
            "bench-manager",
            &person,
            CARE_BENCH_AT_US,
            CareEvent::PersonRegistered(PersonRegistered {
                name: format!("Person {p}"),
                date_of_birth: chrono::NaiveDate::from_ymd_opt(1940, 1, 1).expect("valid"),
                nhs_number: None,
                address: "1 Mill Lane".into(),
                gp_practice: "Riverside Surgery".into(),
                allergies: vec![],
            }),
        ));
        out.push(Command::about(
            "bench-manager",
            &person,
            CARE_BENCH_AT_US,
            CareEvent::CareStarted(CareStarted {
                service: "home care".into(),
            }),
        ));
    }
    out
}

/// A staff diary note of about `payload_bytes` bytes about one of the bench's people.
pub(crate) fn care_event(n: u64, payload_bytes: usize) -> Command {
    let text: String = "Settled well after lunch. "
        .chars()
        .cycle()
        .take(payload_bytes.clamp(1, 16 * 1024))
        .collect();
    Command::about(
        "bench-worker",
        &format!("person-{:04}", n % CARE_BENCH_PEOPLE),
        CARE_BENCH_AT_US + n as i64,
        CareEvent::DiaryNote(DiaryNote {
            author: Author::Staff,
            text,
        }),
    )
}

fn bench_rebuild(
    people: u32,
    days: u32,
    rounds: usize,
    dir: Option<&Path>,
) -> Result<(), CliError> {
    outln!("bench rebuild: {people} people over {days} days, {rounds} rounds")?;
    let scratch = Scratch::new(dir, "rebuild")?;
    // Sealed at rest, as every ledger careledger makes: the replay opens every payload.
    let config = scratch_config(&scratch.0, true, "bench.careledger/rebuild")?;
    let ledger = Ledger::open(&scratch.0, config.clone())?;
    let started = Instant::now();
    let report = careledger_sim::run(
        &ledger,
        SimConfig {
            people,
            days,
            seed: 1,
            end: chrono::NaiveDate::from_ymd_opt(2026, 11, 1).expect("valid"),
        },
        |_, _, _| {},
    )?;
    let secs = started.elapsed().as_secs_f64();
    outln!(
        "simulate: {} events in {secs:.1} s ({:.0} durable events/s, requests of up to {} events, rules and projections included)",
        report.events,
        report.events as f64 / secs,
        careledger_sim::REQUEST_COMMANDS_MAX
    )?;
    let expected = ledger.projection_pairs()?;
    drop(ledger);
    let mut rates = Vec::new();
    for round in 1..=rounds {
        Store::drop_projections(&scratch.0)?;
        let started = Instant::now();
        let ledger = Ledger::open(&scratch.0, config.clone())?;
        let secs = started.elapsed().as_secs_f64();
        let replayed = ledger.store().projection_replayed();
        if replayed != report.events || ledger.store().projection_pairs()? != expected {
            return Err(CliError::from(
                "the rebuilt projections differ from the ones built while appending",
            ));
        }
        let rate = replayed as f64 / secs;
        rates.push(rate);
        outln!(
            "round {round}: rebuilt from {replayed} events in {secs:.2} s: {rate:.0} events/s (open, replay, persist; identical bytes)"
        )?;
        drop(ledger);
    }
    rates.sort_by(f64::total_cmp);
    outln!("median rebuild: {:.0} events/s", rates[rates.len() / 2])?;
    Ok(())
}
