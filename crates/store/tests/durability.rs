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
const CHILD_CHECKPOINT_MS: &str = "CARELEDGER_CHILD_CHECKPOINT_MS";

fn payload(writer: usize, n: u64) -> Vec<u8> {
    format!("{{\"writer\":{writer},\"n\":{n}}}").into_bytes()
}

fn config() -> StoreConfig {
    let checkpoint_ms = std::env::var(CHILD_CHECKPOINT_MS)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    StoreConfig {
        checkpoint_every_events: 50,
        checkpoint_every: Duration::from_millis(checkpoint_ms),
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

/// A system call seen by `strace -f -y -o FILE`, reduced to what the check needs.
#[derive(Debug)]
enum Call {
    /// A write to a file (pwrite64, write, ...) that completed, with its path and the
    /// start of its buffer as strace printed it.
    Write { path: String, data: String },
    /// An fsync or fdatasync began.
    SyncStart(String),
    /// An fsync or fdatasync completed with 0.
    SyncDone(String),
    /// The child began printing acknowledgement line `ACK <seq> <writer> <n>`.
    Ack(u64),
}

/// The path strace prints for the first argument, `fd</path>`.
fn fd_path(args: &str) -> Option<String> {
    let start = args.find('<')? + 1;
    let end = start + args[start..].find('>')?;
    Some(args[start..end].to_string())
}

const WRITES: [&str; 5] = ["write", "pwrite64", "pwritev", "pwritev2", "writev"];

/// Parses the trace into calls, each with the line where it took effect: a write or a
/// sync completion where it returned, a sync start or an acknowledgement where it began.
/// strace splits a call that another thread interrupts into `<unfinished ...>` and
/// `<... resumed>` lines.
fn parse_strace(text: &str) -> Vec<(usize, Call)> {
    let mut pending: BTreeMap<String, (String, String)> = BTreeMap::new();
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
            let Some((_, args)) = pending.remove(pid) else {
                continue;
            };
            (
                name.to_string(),
                args,
                tail.rsplit_once("= ").map(|(_, r)| r.trim().to_string()),
            )
        } else {
            let Some((name, args)) = rest.split_once('(') else {
                continue;
            };
            let began = |calls: &mut Vec<(usize, Call)>| {
                if let Some(path) = fd_path(args) {
                    if name == "fsync" || name == "fdatasync" {
                        calls.push((line_no, Call::SyncStart(path)));
                    } else if name == "write" {
                        // The buffer is printed quoted, with the newline as \n.
                        let ack = args
                            .split_once("\"ACK ")
                            .and_then(|(_, body)| body.split(['\\', '"']).next())
                            .and_then(|body| parse_ack(&format!("ACK {body}")));
                        if let Some((seq, _, _)) = ack {
                            calls.push((line_no, Call::Ack(seq)));
                        }
                    }
                }
            };
            began(&mut calls);
            if args.ends_with("<unfinished ...>") {
                pending.insert(pid.to_string(), (name.to_string(), args.to_string()));
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
        if !ok {
            continue;
        }
        if name == "fsync" || name == "fdatasync" {
            calls.push((line_no, Call::SyncDone(path)));
        } else if WRITES.contains(&name.as_str()) {
            calls.push((line_no, Call::Write { path, data: args }));
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
    const EVENTS: u64 = 200;
    let dir = tempfile::tempdir().unwrap();
    Store::init(dir.path(), "test.careledger/strace").unwrap();
    let trace = dir.path().join("trace.txt");
    // One writer, so event n is sequence number n, and no timed checkpoints.
    let mut inner = child(dir.path(), 1, Some(EVENTS));
    inner.env(CHILD_CHECKPOINT_MS, "3600000");
    let mut cmd = Command::new("strace");
    // -s: print whole write buffers, so each event's bytes can be found in the write that
    // carried them to the file.
    cmd.args(["-f", "-y", "-qq", "-s", "1048576", "-o"])
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
    assert_eq!(acks, EVENTS as usize);

    let text = std::fs::read_to_string(&trace).unwrap();
    let raw: Vec<&str> = text.lines().collect();
    let context = |line_no: usize| raw[line_no.saturating_sub(12)..=line_no].join("\n");
    let calls = parse_strace(&text);
    let ledger = dir.path().to_string_lossy().to_string();
    let log_file = format!("{ledger}/{}", careledger_store::EVENTS_FILE);
    let derived = format!("{ledger}/{}/", careledger_store::SLED_DIR);
    let mut checked = 0;
    for (ack_at, call) in &calls {
        let Call::Ack(seq) = call else { continue };
        // The write that carried this event's payload to the events file.
        let needle = format!("\\\"writer\\\":0,\\\"n\\\":{seq}}}");
        let written_at = calls
            .iter()
            .filter(|(at, _)| at < ack_at)
            .find_map(|(at, c)| match c {
                Call::Write { path, data } if *path == log_file && data.contains(&needle) => {
                    Some(*at)
                }
                _ => None,
            })
            .unwrap_or_else(|| {
                panic!(
                    "event {seq} was acknowledged before any write carried it to {log_file}:\n{}",
                    context(*ack_at)
                )
            });
        // A sync of that file that began after the write and finished before the ack.
        let synced = calls.iter().any(|(done_at, c)| {
            matches!(c, Call::SyncDone(p) if *p == log_file)
                && *done_at < *ack_at
                && calls.iter().any(|(start_at, s)| {
                    matches!(s, Call::SyncStart(p) if *p == log_file)
                        && *start_at > written_at
                        && *start_at <= *done_at
                })
        });
        assert!(
            synced,
            "event {seq}: no fsync/fdatasync of {log_file} began after its write (line {written_at}) and finished before its acknowledgement:\n{}",
            context(*ack_at)
        );
        // Every other file under the ledger written before the ack was synced too, except
        // sled's (they hold only what is derived from the events file, rebuilt from it) and
        // the durable mark (written after acknowledgements, of what they made durable).
        for (at, c) in calls.iter().filter(|(at, _)| at < ack_at) {
            let Call::Write { path, .. } = c else {
                continue;
            };
            // The durable mark is written after acknowledgements, of what they made durable.
            let mark = path.ends_with(".mark.new");
            if !path.starts_with(&ledger) || *path == log_file || path.starts_with(&derived) || mark
            {
                continue;
            }
            let later_sync = calls.iter().any(|(s_at, s)| {
                matches!(s, Call::SyncDone(p) if p == path) && s_at > at && s_at < ack_at
            });
            assert!(later_sync, "{path} was written (line {at}) and not synced before acknowledgement of event {seq}");
        }
        checked += 1;
    }
    assert_eq!(checked, EVENTS, "strace saw every acknowledgement");
}
