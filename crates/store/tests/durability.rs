//! Durability: acknowledged events survive SIGKILL, and every acknowledgement follows a
//! real sync of every file the batch wrote.
//!
//! Both tests run this test binary again as a child process (`child_appender` with
//! `CARELEDGER_CHILD_DIR` set), which appends from several writer threads and prints
//! `ACK <seq> <writer> <n>` to stdout after each acknowledged append.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use careledger_store::{NewEvent, Store, StoreConfig};

const CHILD_DIR: &str = "CARELEDGER_CHILD_DIR";
const CHILD_WRITERS: &str = "CARELEDGER_CHILD_WRITERS";
const CHILD_EVENTS: &str = "CARELEDGER_CHILD_EVENTS";

fn payload(writer: usize, n: u64) -> Vec<u8> {
    format!("{{\"writer\":{writer},\"n\":{n}}}").into_bytes()
}

fn config() -> StoreConfig {
    StoreConfig {
        checkpoint_every_events: 50,
        checkpoint_every: Duration::from_millis(100),
        ..StoreConfig::default()
    }
}

/// The child: appends until killed, or until each writer has written CHILD_EVENTS events.
#[test]
fn child_appender() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return; // Only meaningful as the child of the tests below.
    };
    let writers: usize = std::env::var(CHILD_WRITERS).unwrap().parse().unwrap();
    let events: u64 = std::env::var(CHILD_EVENTS)
        .map(|v| v.parse().unwrap())
        .unwrap_or(u64::MAX);
    let store = Store::open(Path::new(&dir), config()).unwrap();
    let stdout = Arc::new(Mutex::new(std::io::stdout()));
    std::thread::scope(|scope| {
        for writer in 0..writers {
            let (store, stdout) = (store.clone(), stdout.clone());
            scope.spawn(move || {
                for n in 0..events {
                    let receipts = store
                        .append(vec![NewEvent {
                            actor: format!("staff:w{writer}"),
                            subject: Some(format!("person:p{}", n % 7)),
                            kind: "test.durable".into(),
                            occurred_at_us: n as i64,
                            payload: payload(writer, n),
                        }])
                        .unwrap();
                    let mut out = stdout.lock().unwrap();
                    writeln!(out, "ACK {} {writer} {n}", receipts[0].seq).unwrap();
                    out.flush().unwrap();
                }
            });
        }
    });
}

fn child(dir: &Path, writers: usize, events: Option<u64>) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_appender",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_DIR, dir)
    .env(CHILD_WRITERS, writers.to_string())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    if let Some(events) = events {
        cmd.env(CHILD_EVENTS, events.to_string());
    }
    cmd
}

fn parse_ack(line: &str) -> Option<(u64, usize, u64)> {
    // The test harness prints "test child_appender ... " without a newline first.
    let at = line.find("ACK ")?;
    let mut parts = line[at + 4..].split(' ');
    Some((
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    ))
}

/// splitmix64, seeded from the clock; the seed is printed so a failure can be replayed.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_event() {
    const CYCLES: usize = 50;
    const WRITERS: usize = 4;
    let seed = std::env::var("CARELEDGER_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("crash test seed {seed} (set CARELEDGER_CRASH_SEED to replay)");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    Store::init(dir.path(), "test.careledger/crash").unwrap();
    // Every acknowledged event: seq -> (writer, n).
    let mut acked: BTreeMap<u64, (usize, u64)> = BTreeMap::new();
    let mut acked_in_cycle = Vec::new();
    for cycle in 0..CYCLES {
        let mut process = child(dir.path(), WRITERS, None).spawn().unwrap();
        let stdout = process.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(ack) = parse_ack(&line) {
                        lines.lock().unwrap().push(ack);
                    }
                }
            })
        };
        // Kill at a random moment: sometimes during start-up, mostly mid-append.
        let delay = Duration::from_millis(5 + rng.below(400));
        let started = Instant::now();
        while started.elapsed() < delay {
            std::thread::sleep(Duration::from_millis(1));
        }
        process.kill().unwrap(); // SIGKILL on Unix
        process.wait().unwrap();
        reader.join().unwrap();
        let these = std::mem::take(&mut *lines.lock().unwrap());
        acked_in_cycle.push(these.len());
        for (seq, writer, n) in these {
            assert!(
                acked.insert(seq, (writer, n)).is_none(),
                "cycle {cycle}: sequence {seq} acknowledged twice"
            );
        }
        // Reopen: the start-up check must pass, and every acknowledged event must be there.
        let store = Store::open(dir.path(), config())
            .unwrap_or_else(|e| panic!("cycle {cycle} (seed {seed}): reopen failed: {e}"));
        let size = store.size();
        for (&seq, &(writer, n)) in &acked {
            assert!(
                seq < size,
                "cycle {cycle} (seed {seed}): acknowledged event {seq} lost (log has {size})"
            );
            let event = store.get(seq).unwrap();
            assert_eq!(
                event.payload.unwrap().1,
                payload(writer, n),
                "cycle {cycle}: event {seq}"
            );
            assert_eq!(event.envelope.actor, format!("staff:w{writer}"));
        }
        store
            .verify(|_, _| {})
            .unwrap_or_else(|e| panic!("cycle {cycle} (seed {seed}): verify failed: {e}"));
    }
    let killed_mid_append = acked_in_cycle.iter().filter(|&&n| n > 0).count();
    eprintln!(
        "{CYCLES} kills, {} acknowledged events, acknowledged per cycle: {acked_in_cycle:?}",
        acked.len()
    );
    assert!(
        killed_mid_append >= CYCLES / 2,
        "most kills must land while appends are acknowledged ({killed_mid_append} of {CYCLES})"
    );
}

/// One line of `strace -f -y -o FILE` output, reduced to what the check needs.
#[derive(Debug)]
enum Call {
    /// A write to a file (pwrite64, write, pwritev...) that completed.
    Write(String),
    /// An fsync or fdatasync that began.
    SyncStart(String),
    /// An fsync or fdatasync that completed with 0.
    SyncDone(String),
    /// The child printed an acknowledgement (the write began).
    Ack,
}

/// The path strace prints for the first argument, `fd</path>`.
fn fd_path(args: &str) -> Option<String> {
    let start = args.find('<')? + 1;
    let end = start + args[start..].find('>')?;
    Some(args[start..end].to_string())
}

fn parse_strace(text: &str) -> Vec<(usize, Call)> {
    // Unfinished calls are resumed later on another line; remember their arguments by pid.
    let mut pending: BTreeMap<String, String> = BTreeMap::new();
    let mut calls = Vec::new();
    for (line_no, line) in text.lines().enumerate() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let rest = rest.trim_start();
        let (name, args, result) = if let Some(resumed) = rest.strip_prefix("<... ") {
            let Some((name, tail)) = resumed.split_once(" resumed>") else {
                continue;
            };
            let args = pending.remove(pid).unwrap_or_default();
            (
                name.to_string(),
                args,
                tail.rsplit_once("= ").map(|(_, r)| r.trim().to_string()),
            )
        } else {
            let Some((name, args)) = rest.split_once('(') else {
                continue;
            };
            if args.ends_with("<unfinished ...>") {
                pending.insert(pid.to_string(), args.to_string());
                if name == "fsync" || name == "fdatasync" {
                    if let Some(path) = fd_path(args) {
                        calls.push((line_no, Call::SyncStart(path)));
                    }
                }
                if name == "write" && args.contains("\"ACK ") {
                    calls.push((line_no, Call::Ack));
                }
                continue;
            }
            (
                name.to_string(),
                args.to_string(),
                args.rsplit_once("= ").map(|(_, r)| r.trim().to_string()),
            )
        };
        let ok = result.as_deref().is_some_and(|r| !r.starts_with('-'));
        let Some(path) = fd_path(&args) else { continue };
        match name.as_str() {
            "fsync" | "fdatasync" => {
                if !rest.starts_with("<... ") {
                    calls.push((line_no, Call::SyncStart(path.clone())));
                }
                if ok {
                    calls.push((line_no, Call::SyncDone(path)));
                }
            }
            "write" if args.contains("\"ACK ") => {
                if !rest.starts_with("<... ") {
                    calls.push((line_no, Call::Ack));
                }
            }
            "write" | "pwrite64" | "pwritev" | "pwritev2" | "writev" if ok => {
                calls.push((line_no, Call::Write(path)));
            }
            _ => {}
        }
    }
    calls
}

#[test]
fn every_acknowledgement_follows_a_sync_of_every_file_written() {
    let strace_ok = Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !strace_ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "strace is missing; .ci/run installs it"
        );
        eprintln!("skipping: strace is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    Store::init(dir.path(), "test.careledger/strace").unwrap();
    let trace = dir.path().join("trace.txt");
    // One writer: its next append starts only after its acknowledgement is printed, so
    // every file write between two acknowledgements belongs to the batch acknowledged.
    let inner = child(dir.path(), 1, Some(200));
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-y", "-qq", "-s", "64", "-o"])
        .arg(&trace)
        .args([
            "-e",
            "trace=write,pwrite64,pwritev,pwritev2,writev,fsync,fdatasync",
        ])
        .arg(inner.get_program())
        .args(inner.get_args())
        .envs(inner.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let output = cmd.output().unwrap();
    assert!(output.status.success(), "child under strace failed");
    let acks = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(parse_ack)
        .count();
    assert_eq!(acks, 200);
    let ledger = dir.path().to_string_lossy().to_string();
    let text = std::fs::read_to_string(&trace).unwrap();
    let raw: Vec<&str> = text.lines().collect();
    let calls = parse_strace(&text);
    let context = |line_no: usize| raw[line_no.saturating_sub(20)..=line_no].join("\n");
    // Files written since the last acknowledgement and not yet synced after their write.
    let mut unsynced: BTreeMap<String, usize> = BTreeMap::new();
    let mut syncing: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen_acks = 0;
    let mut synced_db_between_acks = 0;
    let mut db_synced_since_ack = false;
    for (at, (line_no, call)) in calls.iter().enumerate() {
        match call {
            Call::Write(path) if path.starts_with(&ledger) => {
                unsynced.insert(path.clone(), at);
            }
            Call::SyncStart(path) => {
                syncing.insert(path.clone(), at);
            }
            Call::SyncDone(path) => {
                let started = syncing.remove(path).unwrap_or(at);
                // The sync counts for writes that completed before it began.
                if unsynced.get(path).is_some_and(|&w| w < started) {
                    unsynced.remove(path);
                }
                if path.ends_with("/sled/db") {
                    db_synced_since_ack = true;
                }
            }
            Call::Ack => {
                seen_acks += 1;
                assert!(
                    unsynced.is_empty(),
                    "acknowledgement {seen_acks} was printed while these ledger files had unsynced writes: {unsynced:?}\n{}",
                    context(*line_no)
                );
                assert!(
                    db_synced_since_ack,
                    "acknowledgement {seen_acks} had no sync of sled's log file of its own:\n{}",
                    context(*line_no)
                );
                synced_db_between_acks += 1;
                db_synced_since_ack = false;
            }
            Call::Write(_) => {}
        }
    }
    assert_eq!(seen_acks, 200, "strace saw every acknowledgement");
    assert_eq!(
        synced_db_between_acks, 200,
        "every acknowledgement was preceded by its own sync of sled's log file"
    );
}
