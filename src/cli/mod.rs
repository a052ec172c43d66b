//! The `broker-conformance` command line: one module per subcommand.

#[cfg(unix)]
mod admin;
mod clauses;
#[cfg(unix)]
mod connect;
#[cfg(unix)]
mod coverage;
#[cfg(unix)]
mod doctor;
mod events;
mod golden;
#[cfg(unix)]
mod hello;
#[cfg(unix)]
mod http_endpoint;
#[cfg(unix)]
mod lint;
#[cfg(unix)]
mod load;
#[cfg(unix)]
mod raw_server;
#[cfg(unix)]
mod report;
#[cfg(unix)]
mod run;
mod schema;
#[cfg(unix)]
mod serve;
#[cfg(unix)]
mod servicedef;
#[cfg(unix)]
mod stress;
#[cfg(unix)]
mod target;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code: everything checked passed.
pub const EXIT_OK: u8 = 0;
/// Exit code: something checked failed (a conformance or verification failure).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: the command could not run (bad usage, unreadable input).
pub const EXIT_HARNESS: u8 = 2;

/// Conformance suite, test harness and reference implementation for the
/// running-process broker protocol v1.
#[derive(Debug, Parser)]
#[command(name = "broker-conformance", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the conformance suite against a broker (default: the built-in reference broker).
    #[cfg(unix)]
    Run(Box<run::RunArgs>),
    /// Inspect and verify the frozen golden bytes.
    #[command(subcommand)]
    Golden(golden::GoldenCommand),
    /// Verify and read a lifecycle event log.
    #[command(subcommand)]
    Events(events::EventsCommand),
    /// Write, show and check service definitions.
    #[cfg(unix)]
    #[command(subcommand)]
    Servicedef(servicedef::ServicedefCommand),
    /// Run the reference broker; `serve --v2 [--program P] [--once] [--no-bind]
    /// [--http-port V]` runs the v2 front door with upstream's options instead.
    #[cfg(unix)]
    Serve(serve::ServeArgs),
    /// Do one Hello exchange and show the reply and the route taken
    /// (exit 0 Negotiated, 1 Refused, 2 error).
    #[cfg(unix)]
    Hello(hello::HelloArgs),
    /// Print a broker's HTTP endpoint: its `.http_port` file and GetBrokerHttpEndpoint (V2K-5, V2K-6).
    #[cfg(unix)]
    HttpEndpoint(http_endpoint::HttpEndpointArgs),
    /// Report an HTTP port with BackendHttpReady from this process (V2K-7).
    #[cfg(unix)]
    HttpReady(http_endpoint::HttpReadyArgs),
    /// Send one admin verb; print the reply body and exit with its exit_code.
    #[cfg(unix)]
    Admin(admin::AdminArgs),
    /// Connect as an application would (disable switch, fake-backend seam,
    /// Hello-skip, handoff adoption) and print the route taken.
    #[cfg(unix)]
    Connect(connect::ConnectArgs),
    /// Diagnose the environment a broker needs, read-only (exit 0 no error, 1 errors, 2 bad usage).
    #[cfg(unix)]
    Doctor(doctor::DoctorArgs),
    /// Validate the conformance suite (exit 0 clean, 1 problems, 2 unreadable).
    #[cfg(unix)]
    Lint(lint::LintArgs),
    /// Load a broker with concurrent Hellos and idle connections, beside a
    /// raw Unix-socket baseline (exit 0, 1 when exchanges failed, 2 setup failed).
    #[cfg(unix)]
    Load(load::LoadArgs),
    /// Storm a broker with mutated frames, slow clients and connection
    /// storms, checking it stays correct and alive (exit 0 clean, 1 findings, 2 could not run).
    #[cfg(unix)]
    Stress(Box<stress::StressArgs>),
    /// Serve the raw baseline of `load` and the benches: accept, read one
    /// frame, write a fixed reply, close; until killed.
    #[cfg(unix)]
    RawServer(raw_server::RawServerArgs),
    /// Map spec clauses to the cases proving them (exit 1 when an observable MUST clause has none).
    #[cfg(unix)]
    Coverage(coverage::CoverageArgs),
    /// Write conformance/clauses.toml from the spec's clause tables, keeping
    /// `observable` and `why` (exit 0 written or up to date, 1 stale with --check, 2 unreadable).
    Clauses(clauses::ClausesArgs),
    /// Build an implementation × case matrix (Markdown, optionally JUnit) from run reports.
    #[cfg(unix)]
    Report(report::ReportArgs),
    /// Print the JSON Schema of a case file (for an editor's TOML language server).
    Schema,
}

/// The broker socket to talk to: `--socket`, else this user's shared
/// broker socket (§13).
#[cfg(unix)]
fn broker_socket(socket: Option<&std::path::Path>) -> Result<std::path::PathBuf, String> {
    match socket {
        Some(socket) => Ok(socket.to_owned()),
        None => {
            broker_conformance::paths::default_broker_socket(&broker_conformance::env::ProcessEnv)
                .map_err(|e| format!("cannot work out the default broker socket: {e}"))
        }
    }
}

/// The round-trip bound: `--timeout-ms`, else the client's environment
/// setting (CLI-6).
#[cfg(unix)]
fn client_timeout(timeout_ms: Option<u64>) -> Result<std::time::Duration, String> {
    match timeout_ms {
        Some(ms) => Ok(std::time::Duration::from_millis(ms)),
        None => broker_conformance::client::timeout_from_env(&broker_conformance::env::ProcessEnv)
            .map_err(|e| e.to_string()),
    }
}

/// Writes `value` to `path` as pretty JSON (`--json` of `load` and `stress`).
#[cfg(unix)]
fn write_json(path: &std::path::Path, value: &impl serde::Serialize) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Parses the command line and runs the subcommand.
pub fn main() -> ExitCode {
    // `serve --v2` takes upstream's command line, not clap's (V2L-10).
    #[cfg(unix)]
    if let Some(args) = serve::front_door_args(std::env::args_os()) {
        return ExitCode::from(serve::run_front_door(args));
    }
    let cli = Cli::parse();
    let code = match cli.command {
        #[cfg(unix)]
        Command::Run(args) => run::run(*args),
        Command::Golden(cmd) => golden::run(cmd),
        Command::Events(cmd) => events::run(cmd),
        #[cfg(unix)]
        Command::Servicedef(cmd) => servicedef::run(cmd),
        #[cfg(unix)]
        Command::Serve(args) => serve::run(args),
        #[cfg(unix)]
        Command::Hello(args) => hello::run(args),
        #[cfg(unix)]
        Command::HttpEndpoint(args) => http_endpoint::run_endpoint(args),
        #[cfg(unix)]
        Command::HttpReady(args) => http_endpoint::run_ready(args),
        #[cfg(unix)]
        Command::Admin(args) => admin::run(args),
        #[cfg(unix)]
        Command::Connect(args) => connect::run(args),
        #[cfg(unix)]
        Command::Doctor(args) => doctor::run(args),
        #[cfg(unix)]
        Command::Lint(args) => lint::run(args),
        #[cfg(unix)]
        Command::Load(args) => load::run(args),
        #[cfg(unix)]
        Command::Stress(args) => stress::run(*args),
        #[cfg(unix)]
        Command::RawServer(args) => raw_server::run(args),
        #[cfg(unix)]
        Command::Coverage(args) => coverage::run(args),
        #[cfg(unix)]
        Command::Report(args) => report::run(args),
        Command::Clauses(args) => clauses::run(args),
        Command::Schema => schema::run(),
    };
    ExitCode::from(code)
}
