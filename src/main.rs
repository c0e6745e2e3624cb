//! careledger: the command-line face of the ledger.
//!
//! Parses arguments, opens the store, calls the crates, and turns their typed errors into
//! one line on stderr and a non-zero exit code.
#![forbid(unsafe_code)]
// Standard output goes through `cli::outln!`, which returns errors: `println!` panics when
// the reader has closed the pipe.
#![deny(clippy::print_stdout)]

mod bench;
mod care_cli;
mod cli;
mod demo;
mod progress;
mod serve_cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
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
