//! `broker-conformance admin VERB`: one admin request (ADM-1); the reply
//! body goes to stdout verbatim and its `exit_code` becomes ours.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{EXIT_HARNESS, broker_socket, client_timeout};
use broker_conformance::client::admin;
use broker_conformance::proto::v1::{AdminRequest, AdminVerb};

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The verb to send.
    #[arg(value_enum)]
    verb: Verb,
    /// Ask for the JSON rendering (`AdminRequest.json`).
    #[arg(long)]
    json: bool,
    /// Broker socket [default: this user's shared broker socket].
    #[arg(long)]
    socket: Option<PathBuf>,
    /// `service_name`, for backend-health.
    #[arg(long, default_value = "")]
    service: String,
    /// `output_path`, for diagnose; a relative path is made absolute here,
    /// since the broker resolves paths against its own directory.
    #[arg(long)]
    output: Option<PathBuf>,
    /// `drain_deadline_ms`, for shutdown (0: the broker's default).
    #[arg(long, default_value_t = 0)]
    drain_deadline_ms: u64,
    /// Round-trip bound in ms [default: RUNNING_PROCESS_BROKER_CLIENT_TIMEOUT_MS, else 30000].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    timeout_ms: Option<u64>,
}

/// The admin verbs by their command-line names (ADM-3…ADM-7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Verb {
    Status,
    Dump,
    ListInstances,
    Healthz,
    Readyz,
    BackendHealth,
    Config,
    Diagnose,
    Metrics,
    Shutdown,
}

impl Verb {
    fn wire(self) -> AdminVerb {
        match self {
            Self::Status => AdminVerb::Status,
            Self::Dump => AdminVerb::Dump,
            Self::ListInstances => AdminVerb::ListInstances,
            Self::Healthz => AdminVerb::Healthz,
            Self::Readyz => AdminVerb::Readyz,
            Self::BackendHealth => AdminVerb::BackendHealth,
            Self::Config => AdminVerb::Config,
            Self::Diagnose => AdminVerb::Diagnose,
            Self::Metrics => AdminVerb::Metrics,
            Self::Shutdown => AdminVerb::Shutdown,
        }
    }
}

pub fn run(args: AdminArgs) -> u8 {
    match send(&args) {
        Ok((body, exit_code)) => {
            print!("{body}");
            exit_code
        }
        Err(error) => {
            eprintln!("error: {error}");
            EXIT_HARNESS
        }
    }
}

/// The reply body and the exit code it asks for, clamped to 0..=255.
fn send(args: &AdminArgs) -> Result<(String, u8), String> {
    let socket = broker_socket(args.socket.as_deref())?;
    let timeout = client_timeout(args.timeout_ms)?;
    let output_path = match &args.output {
        Some(path) => std::path::absolute(path)
            .map_err(|e| format!("cannot make {} absolute: {e}", path.display()))?
            .to_string_lossy()
            .into_owned(),
        None => String::new(),
    };
    let request = AdminRequest {
        verb: args.verb.wire() as i32,
        json: args.json,
        service_name: args.service.clone(),
        output_path,
        drain_deadline_ms: args.drain_deadline_ms,
    };
    let reply = admin(&socket, &request, timeout)
        .map_err(|e| format!("admin request to {}: {e}", socket.display()))?;
    Ok((reply.body, u8::try_from(reply.exit_code).unwrap_or(u8::MAX)))
}
