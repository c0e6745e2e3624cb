//! `careledger demo`: a fresh ledger with a month of simulated home care for twelve people,
//! verified, with the findings a monitoring officer would raise and what to try next.

use std::path::Path;

use careledger_care::findings::findings;
use careledger_ledger::Ledger;
use careledger_sim::{SimConfig, SimReport};
use careledger_store::Store;

use crate::cli::{outln, CliError};

const PEOPLE: u32 = 12;
const DAYS: u32 = 30;
const SEED: u64 = 1;

/// Creates the demo ledger at `dir` (which must hold none) and fills it with the simulated
/// month; `careledger demo` and `careledger serve --demo` both start here.
pub fn fill(dir: &Path) -> Result<(Ledger, SimReport), CliError> {
    // The demo keeps its master key beside its folder (or where --master-key says).
    let (master, _) = crate::cli::init_master_key(dir)?;
    Store::init_sealed(dir, "demo.careledger.local/home-care", &master)?;
    // Recorded as it happened, so that "last week" means in the demo what it means in a
    // real ledger; the ledger is closed and reopened on the wall clock before it serves.
    let ledger = Ledger::open(dir, crate::care_cli::simulated_clock(dir)?)?;
    let config = SimConfig {
        people: PEOPLE,
        days: DAYS,
        seed: SEED,
        end: crate::care_cli::today(),
    };
    let report = careledger_sim::run(&ledger, config, |_, _, _| {})?;
    Ok((ledger, report))
}

pub fn run(dir: &Path) -> Result<(), CliError> {
    let (ledger, report) = fill(dir)?;
    let checkpoint = ledger.store().checkpoint_now()?;
    let verified = ledger
        .store()
        .verify(|_, _| {})
        .map_err(|e| CliError::from(format!("demo ledger failed verification: {e}")))?;
    let now = careledger_store::now_us();
    let found = ledger.read(|s| findings(s, now))?;
    let data = dir.display();
    outln!(
        "created a demo ledger at {data}: {} events about {PEOPLE} people over {DAYS} days",
        report.events
    )?;
    outln!(
        "verified: {} events, every checkpoint signed",
        verified.events
    )?;
    outln!(
        "{} compliance findings (run `careledger findings --data {data}`)",
        found.len()
    )?;
    outln!(
        "its payloads are encrypted at rest; the demo's master key is beside it, at {} \
         (a real ledger keeps its key away from the ledger's disk and backups)",
        crate::cli::master_key_path(dir).display()
    )?;
    outln!("\nlatest signed checkpoint:\n{checkpoint}")?;
    outln!("verifier key: {}\n", ledger.store().verifier())?;
    outln!("try:")?;
    outln!("  careledger person --data {data} person-0003")?;
    outln!("  careledger findings --data {data}")?;
    outln!("  careledger requests --data {data}")?;
    outln!("  careledger log --data {data} --subject person-0003 --limit 5")?;
    outln!("  careledger prove inclusion --data {data} --seq 42")?;
    outln!("  careledger show --data {data} --seq 42 --raw")?;
    outln!("  careledger verify --data {data}")?;
    Ok(())
}
