//! careledger: the command-line face of the ledger.
//!
//! Parses arguments, opens the store, calls the crates, and turns their typed errors into
//! one line on stderr and a non-zero exit code.
#![forbid(unsafe_code)]
// Standard output goes through `cli::outln!`, which returns errors: `println!` panics when
// the reader has closed the pipe.
#![deny(clippy::print_stdout)]

mod backup_schedule;
mod bench;
mod bench_print;
mod bench_replica;
mod care_cli;
mod cli;
mod demo;
mod documents;
mod email;
mod print_cli;
mod progress;
mod replica_cli;
mod serve_cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    log_to_stderr();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.output_closed() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("careledger: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

/// The library crates' `tracing` events (the request log, warnings) as JSON lines on
/// stderr, one object per event with its fields at the top level. RUST_LOG sets the level:
/// `debug`, or per target, `careledger_api=debug,warn`; unset or unreadable, info.
fn log_to_stderr() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let json = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_writer(std::io::stderr);
    tracing_subscriber::registry()
        .with(json.with_filter(filter))
        .init();
}
