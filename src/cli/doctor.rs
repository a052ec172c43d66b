//! `broker-conformance doctor`: read-only diagnostics of a broker's
//! environment (see [`broker_conformance::doctor`]).

use std::path::PathBuf;

use clap::Args;

use super::{EXIT_FAILED, EXIT_HARNESS, EXIT_OK};
use broker_conformance::doctor::{DoctorOptions, diagnose, render_json, render_text};
use broker_conformance::env::ProcessEnv;

/// Flags of `doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Broker socket to examine [default: the per-user shared socket of spec §13].
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Service definition directory [default: SVC-1 order: $RUNNING_PROCESS_SERVICE_DEF_DIR,
    /// $XDG_CONFIG_HOME/running-process/services, ~/.config/running-process/services].
    #[arg(long)]
    service_def_dir: Option<PathBuf>,
    /// Also verify this lifecycle event log (EVT-3).
    #[arg(long)]
    event_log: Option<PathBuf>,
}

/// Exit 0 when no finding is an error (warnings allowed), 1 when one is, 2
/// when doctor cannot run.
pub fn run(args: DoctorArgs) -> u8 {
    let options = DoctorOptions {
        socket: args.socket,
        service_def_dir: args.service_def_dir,
        event_log: args.event_log,
    };
    let report = match diagnose(&options, &ProcessEnv) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("broker-conformance doctor: {e}");
            return EXIT_HARNESS;
        }
    };
    if args.json {
        println!("{}", render_json(&report));
    } else {
        print!("{}", render_text(&report));
    }
    if report.healthy() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}
