//! Argument parsing and the verbs.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use careledger_store::{MasterKey, Store, StoreConfig, StoreError, StoredEvent};
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Parser, Subcommand};

use crate::progress::Progress;

/// Exit code for operational errors (bad input, missing ledger, I/O).
pub const EXIT_ERROR: u8 = 1;
/// Exit code when a ledger fails verification.
pub const EXIT_VERIFY_FAILED: u8 = 3;
/// The ledger's store is damaged: restore it from a backup (docs/OPERATIONS.md).
pub const EXIT_DAMAGED: u8 = 4;

#[derive(Parser)]
#[command(
    name = "careledger",
    version,
    about = "Tamper-evident compliance ledger for adult social care",
    after_help = "Exit codes: 0 success, 1 error, 2 bad arguments, 3 ledger failed verification."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The free-space floor: below this much free space on the ledger's disk, appends
    /// are refused (HTTP 507) and reads go on. Bytes, or with KiB, MiB or GiB.
    #[arg(
        long,
        global = true,
        env = "CARELEDGER_FREE_SPACE_FLOOR",
        default_value = "256MiB",
        value_parser = parse_bytes,
        value_name = "SIZE"
    )]
    free_space_floor: u64,
    /// The master key file: it wraps the keys every payload is encrypted with, and lives
    /// outside the ledger's folder and its backups. By default the file beside the folder,
    /// named after it (`careledger-data.master-key` for `careledger-data`).
    #[arg(
        long = "master-key",
        global = true,
        env = "CARELEDGER_MASTER_KEY_FILE",
        value_name = "FILE"
    )]
    master_key: Option<PathBuf>,
}

/// A size in bytes, as people write it: `268435456`, `256MiB`, `1 GiB`, `512K`.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| {
        format!("{text:?} is not a size (a number of bytes, or with KiB, MiB, GiB)")
    })?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        other => {
            return Err(format!(
                "{other:?} is not a unit of size (use KiB, MiB or GiB)"
            ))
        }
    };
    number
        .checked_mul(scale)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// The free-space floor this run was given.
static FREE_SPACE_FLOOR: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
/// The master key file this run was given, if any.
static MASTER_KEY_FILE: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();

/// Where the master key of the ledger at `dir` is: the file given, or the one beside it.
pub fn master_key_path(dir: &Path) -> PathBuf {
    MASTER_KEY_FILE
        .get()
        .cloned()
        .flatten()
        .unwrap_or_else(|| careledger_store::default_master_key_path(dir))
}

/// The master key of the ledger at `dir`: from the file given, which must read; or the
/// file beside the folder, if there is one (a plain ledger needs none; a sealed one
/// without it is refused when opened, saying how to give it).
pub fn master_key_for(dir: &Path) -> Result<Option<std::sync::Arc<MasterKey>>, CliError> {
    let given = MASTER_KEY_FILE.get().cloned().flatten();
    let path = master_key_path(dir);
    if given.is_none() && !path.exists() {
        return Ok(None);
    }
    Ok(Some(std::sync::Arc::new(MasterKey::read_file(&path)?)))
}

/// [`store_config`] with the master key of the ledger at `dir`.
pub fn store_config_for(dir: &Path) -> Result<StoreConfig, CliError> {
    Ok(StoreConfig {
        master_key: master_key_for(dir)?,
        ..store_config()
    })
}

/// The store's settings for this run: the defaults, with the free-space floor given on
/// the command line.
pub fn store_config() -> StoreConfig {
    let floor = FREE_SPACE_FLOOR
        .get()
        .copied()
        .unwrap_or(careledger_store::FREE_BYTES_MIN_DEFAULT);
    StoreConfig {
        free_bytes_min: floor,
        free_bytes_reserve: careledger_store::reserve_for(floor),
        ..StoreConfig::default()
    }
}

#[derive(Args, Clone)]
pub struct DataDir {
    /// Ledger directory.
    #[arg(long, env = "CARELEDGER_DATA", default_value = "careledger-data")]
    pub data: PathBuf,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Whether the ledger is encrypted at rest, its master key file and id, and how many
    /// data keys it holds.
    Status {
        #[command(flatten)]
        data: DataDir,
    },
    /// Rewrap every data key under a new master key (the ledger must not be in use). The
    /// new key file is made if it does not exist; once this says done, only the new key
    /// opens the ledger and the old one can be destroyed.
    Rotate {
        #[command(flatten)]
        data: DataDir,
        /// The new master key file (outside the ledger's folder).
        #[arg(long = "new-master-key", value_name = "FILE")]
        new: PathBuf,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Create a new ledger and its signing key.
    Init {
        #[command(flatten)]
        data: DataDir,
        /// The log's origin, also the signing key's name (no spaces or '+').
        #[arg(long)]
        origin: Option<String>,
    },
    /// Append JSON-lines care events from FILE (or stdin); prints their sequence numbers.
    ///
    /// Each line: {"actor": "...", "subject": "person id" or null, "kind": "...",
    /// "occurred_at": "RFC 3339 time", "payload": {the kind's fields}}. Every line is
    /// checked first and every event against the care rules; if one is malformed or
    /// refused, nothing is appended.
    Append {
        #[command(flatten)]
        data: DataDir,
        /// JSON-lines file; stdin when absent.
        file: Option<PathBuf>,
    },
    /// List events as JSON lines.
    Log {
        #[command(flatten)]
        data: DataDir,
        /// Only events about this subject.
        #[arg(long)]
        subject: Option<String>,
        /// First sequence number.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Most events to list.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Print a signed checkpoint covering every event (signing one if the log grew).
    Checkpoint {
        #[command(flatten)]
        data: DataDir,
    },
    /// Print the verifier key string for this ledger's checkpoints.
    Key {
        #[command(flatten)]
        data: DataDir,
    },
    /// Print inclusion or consistency proofs as JSON.
    Prove {
        #[command(subcommand)]
        what: Prove,
    },
    /// Print one event.
    Show {
        #[command(flatten)]
        data: DataDir,
        /// The event's sequence number.
        #[arg(long)]
        seq: u64,
        /// Print the envelope's stored bytes in base64 instead of JSON.
        #[arg(long)]
        raw: bool,
    },
    /// Recompute every leaf, node and root and check every checkpoint and signature, from
    /// the events file alone: read-only, and safe while the service runs.
    Verify {
        #[command(flatten)]
        data: DataDir,
        /// A signed checkpoint kept outside the ledger (by the council, a witness, on
        /// paper): the ledger must hold at least its size, with its root. Repeatable.
        /// Outside checkpoints are what makes rewritten or deleted history detectable,
        /// since the signing key lives with the ledger.
        #[arg(long = "checkpoint", value_name = "FILE")]
        checkpoints: Vec<PathBuf>,
        /// Also rebuild, in memory, everything derived from the log (the care
        /// projections, the index of each person's events, chunk locations, checkpoints,
        /// request keys) and compare it with what the store holds, naming the first
        /// difference. Still read-only: the store's database is opened on a copy.
        #[arg(long)]
        derived: bool,
    },
    /// Write every stored event record to FILE, for verification elsewhere (docs/FORMAT.md).
    Export {
        #[command(flatten)]
        data: DataDir,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Back up the ledger to FILE at its latest signed checkpoint, with its signing key and
    /// the service's users and token hashes: safe while the service runs (docs/OPERATIONS.md).
    Backup {
        #[command(flatten)]
        data: DataDir,
        /// The backup file to write (written beside it first, checked, then renamed).
        #[arg(long)]
        out: PathBuf,
        /// Take an incremental backup: only what came after this earlier backup of the
        /// same ledger, refused if the ledger's history since differs from it.
        #[arg(long, value_name = "BACKUP")]
        after: Option<PathBuf>,
    },
    /// Restore a ledger into a new folder from a full backup and the incremental backups
    /// taken after it, given in order.
    Restore {
        /// A backup file: first the full one, then each incremental one after it.
        #[arg(long = "from", value_name = "BACKUP", required = true)]
        from: Vec<PathBuf>,
        #[command(flatten)]
        data: DataDir,
    },
    /// The keys payloads are encrypted with at rest: see where they are, or change the
    /// master key that wraps them.
    Keys {
        #[command(subcommand)]
        what: KeysCommand,
    },
    /// Create a ledger filled with a simulated month (30 days) of home care for twelve
    /// people (person-0000 to person-0011), verify it, and show what to try next.
    Demo {
        /// Directory for the demo ledger (must not hold a ledger yet).
        #[arg(long, default_value = "careledger-demo")]
        data: PathBuf,
    },
    /// Write a realistic, deterministic home-care history into a new ledger.
    Simulate {
        #[command(flatten)]
        data: DataDir,
        /// How many people receive care.
        #[arg(long, default_value_t = 50)]
        people: u32,
        /// How many days of history.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// The same seed, people, days and end give the same events.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The history covers the DAYS days before this date (default: today, UTC).
        #[arg(long)]
        end: Option<chrono::NaiveDate>,
    },
    /// Compliance findings a monitoring officer would raise, with the events that prove them.
    Findings {
        #[command(flatten)]
        data: DataDir,
        /// Only this person.
        #[arg(long)]
        person: Option<String>,
        /// Judge at this time (RFC 3339; default now).
        #[arg(long)]
        at: Option<String>,
    },
    /// One person's record summary: AIS flag, care plan, MAR, choices, paper copies,
    /// grants, who looked, findings.
    Person {
        #[command(flatten)]
        data: DataDir,
        /// The person's id.
        id: String,
        /// How many of the latest accesses to list.
        #[arg(long, default_value_t = 20)]
        looked: usize,
    },
    /// Council requests with their SLA state and the events that prove each line.
    Requests {
        #[command(flatten)]
        data: DataDir,
    },
    /// Check the log, delete everything derived from it (the projections, the index of
    /// each person's events, the store's database) and rebuild it, compactly.
    Rebuild {
        #[command(flatten)]
        data: DataDir,
    },
    /// Serve the HTTP API (docs/API.md) on an embedded ledger.
    Serve(crate::serve_cli::ServeArgs),
    /// Follow a running service as a read-only replica: take its events as they become
    /// durable, check each against the replica's own tree and the primary's signed
    /// checkpoints (a primary whose history changed is refused as a fork), and serve
    /// reads; writes are answered 503 naming the primary (docs/OPERATIONS.md).
    Replica(crate::replica_cli::ReplicaArgs),
    /// Turn a stopped replica into a primary that signs with the ledger's own key.
    Promote {
        #[command(flatten)]
        data: DataDir,
        /// The ledger's signing key file (the primary's signing.key, from where it is
        /// kept: docs/OPERATIONS.md, key custody).
        #[arg(long, value_name = "FILE")]
        signing_key: PathBuf,
    },
    /// Add or list the users who may sign in to the API.
    User {
        #[command(subcommand)]
        what: crate::serve_cli::UserCommand,
    },
    /// Issue or revoke API bearer tokens (a token is shown once and stored only hashed).
    Token {
        #[command(subcommand)]
        what: crate::serve_cli::TokenCommand,
    },
    /// Print a document to a file: a care plan, MAR chart or diary records for one
    /// person, a contingency pack (care plans and MAR charts of everyone in care, or of
    /// --people), or a report for the council (monitoring, response-times: each line
    /// naming the events that prove it). Tagged PDF (standard, large print, easy read) or plain text; without
    /// --format, the person's recorded information needs choose. Every page carries the
    /// checkpoint it is printed from and a reference to check (`check-document`).
    Print {
        /// care-plan, mar, diary, contingency, monitoring or response-times.
        kind: String,
        #[command(flatten)]
        data: DataDir,
        /// The person the document is about.
        #[arg(long)]
        person: Option<String>,
        /// For a contingency pack: these people only (repeatable).
        #[arg(long = "people", value_name = "ID")]
        people: Vec<String>,
        /// pdf, large-print, easy-read or text.
        #[arg(long)]
        format: Option<String>,
        /// Days a MAR chart or diary covers, ending on the checkpoint's date.
        #[arg(long, default_value_t = careledger_print::PERIOD_DAYS_DEFAULT)]
        days: u32,
        /// The file to write (replaced whole, or not at all).
        #[arg(long)]
        out: PathBuf,
        /// Record the printed copy as placed in the person's home (paper.copy_placed,
        /// with its version, format and digest), by this member of staff.
        #[arg(long, value_name = "STAFF")]
        placed_by: Option<String>,
    },
    /// Check a printed document's reference (printed on every page and in its QR code):
    /// whether its checkpoint is this ledger's and it is still the current version.
    /// Exit 0 current, 1 out of date, 3 not printed from this ledger.
    CheckDocument {
        #[command(flatten)]
        data: DataDir,
        /// The reference, e.g. CL1:care-plan:4:5213:3fa9c2d1e0b7:person-3.
        reference: String,
    },
    /// Measure throughput and latency (build with --release).
    Bench {
        #[command(subcommand)]
        what: crate::bench::BenchCommand,
    },
}

#[derive(Subcommand)]
enum Prove {
    /// Inclusion of event SEQ in the tree of SIZE events (default: the whole log).
    Inclusion {
        #[command(flatten)]
        data: DataDir,
        /// The event's sequence number (below SIZE).
        #[arg(long)]
        seq: u64,
        /// The tree size, a checkpoint's (default: the ledger's).
        #[arg(long)]
        size: Option<u64>,
    },
    /// Consistency of the tree of FROM events with the tree of TO events.
    Consistency {
        #[command(flatten)]
        data: DataDir,
        /// The older tree size (at least 1).
        #[arg(long)]
        from: u64,
        /// The newer tree size (at most the ledger's).
        #[arg(long)]
        to: u64,
    },
}

pub struct CliError {
    pub message: String,
    pub code: u8,
}

impl CliError {
    /// Whoever reads our output closed it early (`careledger log | head -1`): not an
    /// error, so `main` exits 0 without a word. Not 141 (128 + SIGPIPE, what a shell
    /// reports for a process the signal killed): we were not killed, and under
    /// `set -o pipefail` a reader that had read enough would make the pipeline fail.
    pub const OUTPUT_CLOSED: u8 = 0;

    pub fn output_closed(&self) -> bool {
        self.code == Self::OUTPUT_CLOSED
    }
}

impl<E: std::fmt::Display + 'static> From<E> for CliError {
    fn from(e: E) -> Self {
        // Rust ignores SIGPIPE, so a write to a closed pipe fails with EPIPE instead of
        // ending the process; the verbs write through `outln!` and `?`, which lands here.
        let closed = (&e as &dyn std::any::Any)
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe);
        let any = &e as &dyn std::any::Any;
        let damaged = matches!(
            any.downcast_ref::<careledger_store::StoreError>(),
            Some(careledger_store::StoreError::Damaged { .. })
        ) || matches!(
            any.downcast_ref::<careledger_ledger::LedgerError>(),
            Some(careledger_ledger::LedgerError::Store(
                careledger_store::StoreError::Damaged { .. }
            ))
        );
        let mut message = e.to_string();
        if !damaged && careledger_store::is_no_space(&message) {
            message = format!(
                "the disk holding the ledger is full ({message}): nothing of this was \
                 written; free space and run it again (every event already acknowledged \
                 is kept, and `careledger verify` reads the ledger without writing)"
            );
        }
        CliError {
            message,
            code: if closed {
                CliError::OUTPUT_CLOSED
            } else if damaged {
                EXIT_DAMAGED
            } else {
                EXIT_ERROR
            },
        }
    }
}

pub fn fail(message: impl Into<String>) -> CliError {
    CliError {
        message: message.into(),
        code: EXIT_ERROR,
    }
}

/// `println!` to standard output, but returning the error (`io::Result<()>`) rather than
/// panicking with "failed printing to stdout: Broken pipe" when the reader has gone:
/// verbs write `outln!(...)?`, and a closed pipe ends them quietly (`CliError::from`).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// `print!` that returns the error, like [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)
    }};
}

pub(crate) use {out, outln};

pub fn open(data: &DataDir) -> Result<Store, CliError> {
    Ok(Store::open(&data.data, store_config_for(&data.data)?)?)
}

pub fn run(cli: Cli) -> Result<(), CliError> {
    let _ = FREE_SPACE_FLOOR.set(cli.free_space_floor);
    let _ = MASTER_KEY_FILE.set(cli.master_key.clone());
    match cli.command {
        Command::Init { data, origin } => init(&data.data, origin),
        Command::Append { data, file } => crate::care_cli::append(&data.data, file.as_deref()),
        Command::Simulate {
            data,
            people,
            days,
            seed,
            end,
        } => crate::care_cli::simulate(
            &data.data,
            crate::care_cli::SimulateArgs {
                people,
                days,
                seed,
                end,
            },
        ),
        Command::Findings { data, person, at } => {
            crate::care_cli::findings_cmd(&data.data, person.as_deref(), at.as_deref())
        }
        Command::Person { data, id, looked } => crate::care_cli::person(&data.data, &id, looked),
        Command::Requests { data } => crate::care_cli::requests(&data.data),
        Command::Print {
            kind,
            data,
            person,
            people,
            format,
            days,
            out,
            placed_by,
        } => crate::print_cli::print(
            &data.data,
            crate::print_cli::PrintArgs {
                kind: &kind,
                person: person.as_deref(),
                people: &people,
                format: format.as_deref(),
                days,
                out: &out,
                placed_by: placed_by.as_deref(),
            },
        ),
        Command::CheckDocument { data, reference } => {
            crate::print_cli::check_document(&data.data, &reference)
        }
        Command::Rebuild { data } => crate::care_cli::rebuild(&data.data),
        Command::Log {
            data,
            subject,
            from,
            limit,
        } => log(&data, subject.as_deref(), from, limit),
        Command::Checkpoint { data } => {
            out!("{}", open(&data)?.checkpoint_now()?)?;
            Ok(())
        }
        Command::Key { data } => {
            outln!("{}", open(&data)?.verifier())?;
            Ok(())
        }
        Command::Prove { what } => prove(what),
        Command::Show { data, seq, raw } => {
            let event = open(&data)?.get(seq)?;
            if raw {
                outln!("{}", B64.encode(&event.envelope_bytes))?;
            } else {
                outln!("{}", event_json(&event))?;
            }
            Ok(())
        }
        Command::Verify {
            data,
            checkpoints,
            derived,
        } => verify(&data, &checkpoints, derived),
        Command::Export { data, out } => export(&data, &out),
        Command::Backup { data, out, after } => backup(&data, &out, after.as_deref()),
        Command::Restore { from, data } => restore(&from, &data),
        Command::Demo { data } => crate::demo::run(&data),
        Command::Keys { what } => keys(what),
        Command::Bench { what } => crate::bench::run(what),
        Command::Serve(args) => crate::serve_cli::serve(args),
        Command::Replica(args) => crate::replica_cli::replica(args),
        Command::Promote { data, signing_key } => {
            crate::replica_cli::promote(&data.data, &signing_key)
        }
        Command::User { what } => crate::serve_cli::user(what),
        Command::Token { what } => crate::serve_cli::token(what),
    }
}

fn init(dir: &Path, origin: Option<String>) -> Result<(), CliError> {
    let origin = match origin {
        Some(o) => o,
        None => {
            let mut id = [0u8; 6];
            getrandom_bytes(&mut id)?;
            format!("careledger.local/{}", careledger_store::hex(&id))
        }
    };
    let (master, made) = init_master_key(dir)?;
    let verifier = Store::init_sealed(dir, &origin, &master)?;
    outln!("created ledger {origin} at {}", dir.display())?;
    outln!("verifier key: {verifier}")?;
    say_where_the_master_key_is(dir, made)?;
    Ok(())
}

/// The master key a new ledger at `dir` is sealed with: the file given (or beside the
/// folder), read if it exists, made if not. Says whether it was made.
pub fn init_master_key(dir: &Path) -> Result<(MasterKey, bool), CliError> {
    // Nothing is made beside a folder that already holds a ledger.
    if dir.join(careledger_store::EVENTS_FILE).exists()
        || dir.join(careledger_store::KEY_FILE).exists()
    {
        return Err(StoreError::AlreadyInitialised(dir.to_path_buf()).into());
    }
    let path = master_key_path(dir);
    if inside(&path, dir) {
        return Err(fail(format!(
            "the master key {} would be inside the ledger's folder: keep it outside, away \
             from the ledger and its backups",
            path.display()
        )));
    }
    if path.exists() {
        return Ok((MasterKey::read_file(&path)?, false));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    Ok((MasterKey::create_file(&path)?, true))
}

/// Whether `path` is inside the folder `dir`, however either is spelled (relative or
/// absolute, through links where the paths exist).
fn inside(path: &Path, dir: &Path) -> bool {
    let real = |p: &Path| {
        std::fs::canonicalize(p)
            .or_else(|_| {
                // Not there yet: its nearest existing ancestor, resolved, and the rest.
                let parent = p.parent().filter(|q| !q.as_os_str().is_empty());
                match (parent, p.file_name()) {
                    (Some(parent), Some(name)) => {
                        std::fs::canonicalize(parent).map(|parent| parent.join(name))
                    }
                    _ => std::path::absolute(p),
                }
            })
            .or_else(|_| std::path::absolute(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    real(path).starts_with(real(dir))
}

/// Tells whoever made the ledger at `dir` where its master key is and what it is for.
pub fn say_where_the_master_key_is(dir: &Path, made: bool) -> Result<(), CliError> {
    let path = master_key_path(dir);
    outln!(
        "{} master key: {}",
        if made { "new" } else { "existing" },
        path.display()
    )?;
    outln!(
        "  every payload is encrypted at rest with keys this file wraps: without it the \
         ledger's records cannot be read. Keep it outside the ledger's folder and its \
         backups, backed up on its own (docs/DATA-PROTECTION.md)."
    )?;
    Ok(())
}

fn keys(what: KeysCommand) -> Result<(), CliError> {
    match what {
        KeysCommand::Status { data } => {
            let dir = &data.data;
            if !dir.join(careledger_store::EVENTS_FILE).exists() {
                return Err(StoreError::NotInitialised(dir.clone()).into());
            }
            if !Store::is_sealed(dir)? {
                outln!(
                    "{} is NOT encrypted at rest (made before careledger encrypted payloads): \
                     its payloads are in clear in events.log",
                    dir.display()
                )?;
                return Ok(());
            }
            let path = master_key_path(dir);
            let master = MasterKey::read_file(&path)?;
            let keyring = careledger_store::keyring::Keyring::open(dir, &master, false)?;
            outln!("{} is encrypted at rest", dir.display())?;
            outln!("master key: {} (id {})", path.display(), master.id())?;
            outln!(
                "data keys: {} (one per person with records, the organisation's, the derived state's)",
                keyring.len()
            )?;
            Ok(())
        }
        KeysCommand::Rotate { data, new } => {
            let dir = &data.data;
            let old_path = master_key_path(dir);
            if new == old_path {
                return Err(fail(
                    "the new master key file is the one in use: name a new file",
                ));
            }
            if inside(&new, dir) {
                return Err(fail(
                    "the new master key would be inside the ledger's folder: keep it outside",
                ));
            }
            let old = MasterKey::read_file(&old_path)?;
            // The new key is durable in its own file before anything is rewrapped under it.
            let fresh = !new.exists();
            let new_key = if fresh {
                MasterKey::create_file(&new)?
            } else {
                MasterKey::read_file(&new)?
            };
            let count = Store::rotate_master_key(dir, &old, &new_key)?;
            outln!(
                "rewrapped {count} data keys under the {}master key {} (id {}); it alone opens \
                 the ledger now: give it with --master-key {} (or CARELEDGER_MASTER_KEY_FILE). \
                 Keep the old key {} (id {}) for as long as you keep backups taken before now: \
                 they need it. Back the new one up on its own, as the old one was",
                if fresh { "new " } else { "" },
                new.display(),
                new_key.id(),
                new.display(),
                old_path.display(),
                old.id()
            )?;
            Ok(())
        }
    }
}

fn getrandom_bytes(buf: &mut [u8]) -> Result<(), CliError> {
    // The salt source doubles as the random source for ledger names.
    let salt = careledger_log::envelope::random_salt()?;
    let n = buf.len().min(salt.len());
    buf[..n].copy_from_slice(&salt[..n]);
    Ok(())
}

fn time(us: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
        .unwrap_or_else(|| us.to_string())
}

fn event_json(event: &StoredEvent) -> serde_json::Value {
    let e = &event.envelope;
    // Care payloads are shown as their fields; anything else as JSON, or base64 bytes.
    let payload = event.payload.as_ref().map(|(_, p)| {
        careledger_care::CareEvent::decode(&e.kind, p)
            .ok()
            .and_then(|c| c.serialize_fields(serde_json::value::Serializer).ok())
            .or_else(|| serde_json::from_slice::<serde_json::Value>(p).ok())
            .unwrap_or_else(|| serde_json::Value::String(B64.encode(p)))
    });
    serde_json::json!({
        "seq": e.seq,
        "recorded_at": time(e.recorded_at_us),
        "occurred_at": time(e.occurred_at_us),
        "actor": e.actor,
        "subject": e.subject,
        "kind": e.kind,
        "payload": payload,
        "payload_erased": event.payload.is_none(),
        "payload_commitment": B64.encode(e.payload_commitment),
    })
}

fn log(data: &DataDir, subject: Option<&str>, from: u64, limit: usize) -> Result<(), CliError> {
    let store = open(data)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    let (mut next, mut left) = (from, limit);
    // Page through the store's bounded reads.
    while left > 0 {
        let page = match subject {
            Some(s) => store.by_subject(s, next, left)?,
            None => store.range(next, left)?,
        };
        let Some(last) = page.last() else { break };
        next = last.envelope.seq + 1;
        left -= page.len();
        for event in &page {
            writeln!(out, "{}", event_json(event))?;
        }
    }
    out.flush()?;
    Ok(())
}

fn b64_list(hashes: &[[u8; 32]]) -> Vec<String> {
    hashes.iter().map(|h| B64.encode(h)).collect()
}

fn prove(what: Prove) -> Result<(), CliError> {
    match what {
        Prove::Inclusion { data, seq, size } => {
            let store = open(&data)?;
            let size = size.unwrap_or(store.size());
            if seq >= size {
                return Err(fail(format!(
                    "event {seq} is not in a tree of {size} events"
                )));
            }
            let proof = store.inclusion_proof(seq, size)?;
            let json = serde_json::json!({
                "leaf_index": seq,
                "tree_size": size,
                "leaf_hash": B64.encode(store.leaf_hash(seq)?),
                "proof": b64_list(&proof),
            });
            outln!("{json}")?;
        }
        Prove::Consistency { data, from, to } => {
            let store = open(&data)?;
            if from == 0 || from > to {
                return Err(fail(format!(
                    "need 0 < --from <= --to, got --from {from} --to {to}"
                )));
            }
            let proof = store.consistency_proof(from, to)?;
            let json = serde_json::json!({
                "size1": from,
                "size2": to,
                "root1": B64.encode(store.root_at(from)?),
                "root2": B64.encode(store.root_at(to)?),
                "proof": b64_list(&proof),
            });
            outln!("{json}")?;
        }
    }
    Ok(())
}

/// The files of the service (users and token hashes) that a backup carries.
pub const SERVICE_FILES: [&str; 2] = [
    careledger_api::auth::AUTH_FILE,
    careledger_api::auth::KEY_FILE,
];

fn backup(data: &DataDir, out: &Path, after: Option<&Path>) -> Result<(), CliError> {
    use careledger_store::backup;
    let previous = after.map(backup::check).transpose()?;
    // Nobody writing: sign a checkpoint of everything first. A running service holds the
    // ledger: back up to the latest checkpoint it signed (at most a minute old while the
    // log grows).
    let in_use = match Store::open(&data.data, store_config_for(&data.data)?) {
        Ok(store) => {
            // A replica signs nothing: it is backed up to its primary's latest checkpoint.
            if store.primary().is_none() {
                store.checkpoint_now()?;
            }
            false
        }
        Err(StoreError::Locked(_)) => true,
        // Encrypted, and its master key kept elsewhere (as it should be, away from the
        // backups): a backup needs no key; it goes to the latest signed checkpoint.
        Err(StoreError::MasterKey(_)) => false,
        Err(e) => return Err(e.into()),
    };
    let started = std::time::Instant::now();
    let info = backup::backup(&data.data, out, previous.as_ref(), &SERVICE_FILES)?;
    let section = info.events_section();
    outln!(
        "backed up {} events (root {}) to {}: {} bytes of events{}, {} other files, checked ({:.2} s)",
        info.events,
        B64.encode(info.root),
        out.display(),
        section.len,
        match &info.from {
            Some(from) => format!(" after the {} of {}", from.events, after.map_or(String::new(), |p| p.display().to_string())),
            None => String::new(),
        },
        info.sections.len() - 1,
        started.elapsed().as_secs_f64()
    )?;
    if in_use {
        outln!(
            "the ledger is in use (a running service): backed up to its latest signed checkpoint"
        )?;
    }
    if info
        .sections
        .iter()
        .any(|s| s.name == careledger_store::DATA_KEYS_FILE)
    {
        outln!("its payloads are encrypted: a restore needs the master key ({}), which the backup does not hold; keep the two apart (docs/DATA-PROTECTION.md)", master_key_path(&data.data).display())?;
    }
    outln!("the backup holds personal data, the signing key and token hashes: keep it as safe as the ledger (docs/OPERATIONS.md)")?;
    Ok(())
}

fn restore(from: &[PathBuf], data: &DataDir) -> Result<(), CliError> {
    // An encrypted ledger's backup is restored only with its master key at hand, checked
    // against the data keys the backup holds, before anything is written.
    careledger_store::backup::check_master_key(from, master_key_for(&data.data)?.as_deref())?;
    let info = careledger_store::backup::restore(from, &data.data)?;
    // The first open rebuilds the derived state (sled) from the restored events.
    let store = Store::open(&data.data, store_config_for(&data.data)?)?;
    let size = store.size();
    drop(store);
    outln!(
        "restored {} events (root {}) into {}, from {} backup{}; signed by {}",
        size,
        B64.encode(info.root),
        data.data.display(),
        from.len(),
        if from.len() == 1 { "" } else { "s" },
        info.verifier
    )?;
    Ok(())
}

/// Most bytes read from a checkpoint file given to `verify --checkpoint`.
const CHECKPOINT_FILE_BYTES_MAX: u64 = 64 * 1024;

fn verify(data: &DataDir, checkpoint_files: &[PathBuf], derived: bool) -> Result<(), CliError> {
    let verify_failed = |message: String| CliError {
        message: format!("verification failed: {message}"),
        code: EXIT_VERIFY_FAILED,
    };
    // Outside checkpoints are read first: a file that is not a checkpoint is a bad
    // argument, said before minutes of verification.
    let mut outside = Vec::new();
    for path in checkpoint_files {
        let mut text = String::new();
        let file =
            std::fs::File::open(path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
        std::io::Read::read_to_string(
            &mut std::io::Read::take(file, CHECKPOINT_FILE_BYTES_MAX),
            &mut text,
        )
        .map_err(|e| fail(format!("{}: {e}", path.display())))?;
        // The size is read before the signature can be checked (the key comes from the
        // ledger): the second line of a checkpoint's body.
        let size = text
            .lines()
            .nth(1)
            .and_then(|l| l.parse::<u64>().ok())
            .ok_or_else(|| {
                fail(format!(
                    "{} is not a signed checkpoint (its second line is not a tree size)",
                    path.display()
                ))
            })?;
        outside.push((path, text, size));
    }
    let sizes: Vec<u64> = outside.iter().map(|(_, _, size)| *size).collect();
    let started = std::time::Instant::now();
    let mut progress = Progress::new("verify");
    let master = master_key_for(&data.data)?;
    let result = Store::verify_dir_at(&data.data, master.as_deref(), &sizes, |done, total| {
        progress.update(done, total)
    });
    progress.finish();
    let report = match result {
        Ok(report) => report,
        Err(careledger_store::VerifyFailure::Store(e)) => return Err(e.into()),
        Err(e) => return Err(verify_failed(e.to_string())),
    };
    let verifier = careledger_log::NoteVerifier::parse(&report.verifier)
        .map_err(|e| verify_failed(format!("the ledger's verifier key: {e}")))?;
    for (path, text, _) in &outside {
        let name = path.display();
        let checkpoint = careledger_log::Checkpoint::open(text, &verifier).map_err(|e| {
            verify_failed(format!(
                "checkpoint {name} is not one this ledger signed ({e}); the ledger's key is {}",
                report.verifier
            ))
        })?;
        let Some((_, root)) = report.roots.iter().find(|(s, _)| *s == checkpoint.size) else {
            return Err(verify_failed(format!(
                "checkpoint {name} signs {} events, but the ledger holds only {}: history \
                 it signed is gone",
                checkpoint.size, report.events
            )));
        };
        if *root != checkpoint.root {
            return Err(verify_failed(format!(
                "checkpoint {name} signs root {} for {} events, but the ledger's first {} \
                 events have root {}: its history was rewritten",
                B64.encode(checkpoint.root),
                checkpoint.size,
                checkpoint.size,
                B64.encode(root)
            )));
        }
    }
    // The derived state is compared before anything is printed: a failure prints
    // nothing on stdout.
    let derived_report = if derived {
        let projection: careledger_store::ProjectionHandle = std::sync::Arc::new(
            std::sync::RwLock::new(careledger_ledger::CareProjection::default()),
        );
        let d = match Store::verify_derived_dir(&data.data, master.as_deref(), &projection) {
            Ok(d) => d,
            Err(careledger_store::VerifyFailure::Store(e)) => return Err(e.into()),
            Err(e) => return Err(verify_failed(e.to_string())),
        };
        Some(d)
    } else {
        None
    };
    let seconds = started.elapsed().as_secs_f64();
    outln!(
        "verified {} events ({} payloads checked) and {} checkpoints; root {} ({:.2} s, {:.0} events/s)",
        report.events,
        report.payloads_checked,
        report.checkpoints,
        B64.encode(report.root),
        seconds,
        report.events as f64 / seconds.max(1e-9)
    )?;
    outln!("signed by {}", report.verifier)?;
    if report.payloads_unread > 0 {
        outln!(
            "{} payloads are encrypted at rest and were not opened: without the master key \
             their commitments were not checked (everything else was); give --master-key FILE \
             to check them too",
            report.payloads_unread
        )?;
    }
    if !outside.is_empty() {
        outln!(
            "consistent with {} checkpoint{} kept outside the ledger",
            outside.len(),
            if outside.len() == 1 { "" } else { "s" }
        )?;
    } else {
        outln!("no outside checkpoint given: the ledger agrees with itself; only a checkpoint kept elsewhere (--checkpoint FILE) shows it was not rewritten")?;
    }
    if report.torn_bytes > 0 {
        outln!(
            "the events file ends in {} bytes of an interrupted write, which the next open removes",
            report.torn_bytes
        )?;
    }
    if let Some(d) = derived_report {
        outln!(
            "derived state agrees with the log: the locations of {} chunks, {} checkpoints, \
             {} request keys, the index of {} events ({} subjects), the projections of {} \
             events ({} pairs)",
            d.chunk_locations,
            d.checkpoints,
            d.request_keys,
            d.indexed,
            d.subjects,
            d.projected,
            d.projection_pairs
        )?;
        if d.logged < report.events {
            outln!(
                "the store reflects {} of the {} events; the next open catches up",
                d.logged,
                report.events
            )?;
        }
    }
    Ok(())
}

/// Header of an export file (docs/FORMAT.md).
pub const EXPORT_MAGIC: &[u8] = b"careledger-export 1\n";

pub(crate) fn export(data: &DataDir, out: &Path) -> Result<(), CliError> {
    // Read from the events file, without the writer's lock: safe while the service runs.
    let file = std::fs::File::create(out).map_err(|e| fail(format!("{}: {e}", out.display())))?;
    let mut w = BufWriter::new(file);
    w.write_all(EXPORT_MAGIC)?;
    let master = master_key_for(&data.data)?;
    let events = Store::each_record_in(&data.data, master.as_deref(), |_, envelope, payload| {
        w.write_all(&(envelope.len() as u32).to_le_bytes())?;
        w.write_all(envelope)?;
        match payload {
            Some((salt, payload)) => {
                w.write_all(&[1])?;
                w.write_all(salt)?;
                w.write_all(&(payload.len() as u32).to_le_bytes())?;
                w.write_all(payload)?;
            }
            None => w.write_all(&[0])?,
        }
        Ok(())
    })?;
    w.into_inner()
        .map_err(|e| fail(e.to_string()))?
        .sync_all()?;
    eprintln!("exported {events} events to {}", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::{CommandFactory, Parser};

    /// Every verb and sub-verb below `cmd` (clap's own `help` left out), with its path.
    fn verbs(cmd: &clap::Command, path: &[String], out: &mut Vec<(Vec<String>, clap::Command)>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let mut at = path.to_vec();
            at.push(sub.get_name().to_string());
            out.push((at.clone(), sub.clone()));
            verbs(sub, &at, out);
        }
    }

    /// The verbs come from clap's command tree, so a new one is checked without being
    /// listed here: each says in a line what it does (as `careledger --help` shows it),
    /// each of its arguments says what it is, and `careledger VERB --help` shows its usage.
    #[test]
    fn every_verb_has_help() {
        Cli::command().debug_assert();
        let mut cli = Cli::command();
        cli.build();
        let mut all = Vec::new();
        verbs(&cli, &[], &mut all);
        let names: Vec<String> = all.iter().map(|(path, _)| path.join(" ")).collect();
        for expected in ["init", "serve", "user add", "token revoke", "bench"] {
            assert!(
                names.iter().any(|n| n == expected),
                "no {expected} in {names:?}"
            );
        }
        let mut missing = Vec::new();
        for (path, verb) in &all {
            let name = path.join(" ");
            let described = verb
                .get_about()
                .is_some_and(|a| !a.to_string().trim().is_empty());
            if !described {
                missing.push(format!("`careledger {name}` has no description"));
            }
            for arg in verb.get_arguments() {
                let id = arg.get_id().as_str();
                let said = arg
                    .get_help()
                    .is_some_and(|h| !h.to_string().trim().is_empty());
                if !said && !matches!(id, "help" | "version") {
                    missing.push(format!("`careledger {name}`: {id} has no help"));
                }
            }
            let args = std::iter::once("careledger")
                .chain(path.iter().map(String::as_str))
                .chain(["--help"]);
            let help = match Cli::try_parse_from(args) {
                Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => e.to_string(),
                Err(e) => panic!("`careledger {name} --help`: {e}"),
                Ok(_) => panic!("`careledger {name} --help` ran the verb"),
            };
            assert!(
                help.contains(&format!("Usage: careledger {name}")),
                "`careledger {name} --help`:\n{help}"
            );
        }
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }
}
