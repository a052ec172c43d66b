//! `broker-conformance events …`: verify and tail a lifecycle event log
//! (EVT-3).

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::{EXIT_FAILED, EXIT_HARNESS, EXIT_OK};
use broker_conformance::events::{read_log_tail, render_json, render_line, verify_log};

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Check every record and the hash chain (exit 0 intact, 1 broken, 2 unreadable).
    Verify {
        /// The log file.
        path: PathBuf,
    },
    /// Print the last records, oldest first (exit 1 if the log breaks after them).
    Tail {
        /// The log file.
        path: PathBuf,
        /// How many records to print.
        #[arg(short = 'n', long = "lines", default_value_t = 10)]
        lines: usize,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: EventsCommand) -> u8 {
    match cmd {
        EventsCommand::Verify { path } => run_verify(&path),
        EventsCommand::Tail { path, lines, json } => run_tail(&path, lines, json),
    }
}

fn unreadable(path: &Path, e: &std::io::Error) -> u8 {
    eprintln!("error: cannot read event log {}: {e}", path.display());
    EXIT_HARNESS
}

fn run_verify(path: &Path) -> u8 {
    match verify_log(path) {
        Ok(verdict) => {
            println!("{verdict}");
            if verdict.is_intact() {
                EXIT_OK
            } else {
                EXIT_FAILED
            }
        }
        Err(e) => unreadable(path, &e),
    }
}

fn run_tail(path: &Path, lines: usize, json: bool) -> u8 {
    let scan = match read_log_tail(path, lines) {
        Ok(scan) => scan,
        Err(e) => return unreadable(path, &e),
    };
    for record in &scan.records {
        if json {
            println!("{}", render_json(record));
        } else {
            println!("{}", render_line(record));
        }
    }
    match scan.broken {
        None => EXIT_OK,
        Some(b) => {
            eprintln!("{}: {b}", path.display());
            EXIT_FAILED
        }
    }
}
