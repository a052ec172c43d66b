//! The `fake-backend` command line. It runs from the `fake-backend`
//! executable, and from `broker-conformance` itself when that is invoked
//! under the name `fake-backend` (the runner installs such copies).
//!
//! Launched by a broker, it reads the launch contract from its environment
//! and picks its behaviour from the service name (`fake-<behavior>`) or the
//! wanted version's pre-release tag (`1.0.0-bind.late`). Run by hand:
//! `fake-backend --socket PATH --behavior NAME`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use super::{Behavior, Recorder, records_dir_for, run_process};
use crate::backend::LaunchEnv;
use crate::env::ProcessEnv;

/// A scriptable backend for the running-process broker protocol.
#[derive(Debug, Parser)]
#[command(
    name = "fake-backend",
    version,
    about = "A scriptable backend for the running-process broker protocol v1"
)]
struct Args {
    /// Serve this socket instead of reading a broker's launch environment.
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Behaviour when run by hand [default: echo].
    #[arg(long)]
    behavior: Option<Behavior>,
    /// Service name when run by hand.
    #[arg(long, default_value = "fake-echo")]
    service: String,
    /// Service version when run by hand.
    #[arg(long, default_value = "1.0.0")]
    service_version: String,
    /// Where to write records [default: fake-backend-records/ beside the executable].
    #[arg(long)]
    records: Option<PathBuf>,
}

/// Runs the fake backend with this process's arguments.
pub(crate) fn main() -> ExitCode {
    let args = Args::parse();
    let (env, behavior) = match &args.socket {
        Some(socket) => {
            let env = LaunchEnv::standalone(&args.service, &args.service_version, socket.clone());
            (env, args.behavior.unwrap_or(Behavior::Echo))
        }
        None => match LaunchEnv::from_env(&ProcessEnv) {
            Ok(env) => {
                let behavior = args.behavior.unwrap_or_else(|| {
                    Behavior::for_launch(&env.service_name, &env.service_version)
                });
                (env, behavior)
            }
            Err(e) => {
                eprintln!("fake-backend: {e}; pass --socket to run without a broker");
                return ExitCode::from(2);
            }
        },
    };
    let records = args.records.clone().or_else(|| {
        std::env::current_exe()
            .ok()
            .map(|exe| records_dir_for(&exe))
    });
    let recorder = records
        .and_then(|dir| Recorder::in_dir(&dir).ok())
        .unwrap_or_else(Recorder::disabled);
    // Run by hand, say when the socket accepts: FakeBackend::spawn waits for this line.
    let announce = |path: &std::path::Path| {
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = writeln!(out, "fake-backend listening on {}", path.display());
        let _ = out.flush();
    };
    let announce: Option<&dyn Fn(&std::path::Path)> =
        args.socket.is_some().then_some(&announce as _);
    match run_process(&env, behavior, recorder, announce) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("fake-backend: {e}");
            ExitCode::from(1)
        }
    }
}
