//! `broker-conformance http-endpoint` (a broker's HTTP endpoint, by its
//! discovery file and by GetBrokerHttpEndpoint: V2K-5, V2K-6) and
//! `http-ready` (BackendHttpReady from the calling process: V2K-7).

use std::path::PathBuf;

use clap::Args;

use super::{EXIT_FAILED, EXIT_HARNESS, EXIT_OK, broker_socket, client_timeout};
use broker_conformance::client::{
    HttpEndpointError, ReadyOutcome, get_broker_http_endpoint, read_http_port_file,
    report_http_ready, report_http_ready_to,
};
use broker_conformance::env::ProcessEnv;
use broker_conformance::paths::{
    DEFAULT_FRONT_DOOR_PROGRAM, FrontDoorPaths, launching_http_port_file, machine_id,
};
use broker_conformance::wire::validate_program_name;

/// Flags of `http-endpoint`.
#[derive(Debug, Args)]
pub struct HttpEndpointArgs {
    /// A launching broker's control socket [default: the per-user shared socket].
    #[arg(long, conflicts_with = "v2")]
    socket: Option<PathBuf>,
    /// A v2 front door, found from XDG_RUNTIME_DIR and --program (V2N-1).
    #[arg(long)]
    v2: bool,
    /// The front door's program name (V2N-3).
    #[arg(long, requires = "v2", default_value = DEFAULT_FRONT_DOOR_PROGRAM)]
    program: String,
    /// Round-trip bound in milliseconds [env: RUNNING_PROCESS_BROKER_CLIENT_TIMEOUT_MS; default: 3000].
    #[arg(long)]
    timeout_ms: Option<u64>,
}

/// Prints the discovery file's address and the RPC's answer; exit 0 when
/// either names a served endpoint, 1 when neither does, 2 on bad input.
pub fn run_endpoint(args: HttpEndpointArgs) -> u8 {
    let located = if args.v2 {
        front_door_paths(&args.program)
    } else {
        broker_socket(args.socket.as_deref()).map(|s| (launching_http_port_file(&s), s))
    };
    let ((file, socket), timeout) = match (located, client_timeout(args.timeout_ms)) {
        (Ok(l), Ok(t)) => (l, t),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("broker-conformance http-endpoint: {e}");
            return EXIT_HARNESS;
        }
    };
    let mut found = false;
    match read_http_port_file(&file) {
        Ok(Some(addr)) => {
            found = true;
            println!("file: http://{addr}/ ({})", file.display());
        }
        Ok(None) => println!("file: none ({} is absent)", file.display()),
        Err(e) => println!("file: unusable: {e}"),
    }
    match get_broker_http_endpoint(&socket, timeout) {
        Ok(endpoint) if endpoint.port == 0 => {
            println!("rpc: no HTTP surface (port 0, broker pid {})", endpoint.pid);
        }
        Ok(endpoint) => {
            found = true;
            println!("rpc: port {} (broker pid {})", endpoint.port, endpoint.pid);
        }
        Err(e @ HttpEndpointError::NotSupported { .. }) => println!("rpc: {e}"),
        Err(e) => println!("rpc: failed: {e}"),
    }
    if found { EXIT_OK } else { EXIT_FAILED }
}

/// A front door's discovery file and socket (V2N-1, V2N-2, V2W-6).
fn front_door_paths(program: &str) -> Result<(PathBuf, PathBuf), String> {
    validate_program_name(program).map_err(|e| e.to_string())?;
    let machine = machine_id().map_err(|e| format!("cannot read the machine id: {e}"))?;
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let paths = FrontDoorPaths::resolve(&ProcessEnv, uid, &machine, program);
    Ok((paths.http_port_file(), paths.socket))
}

/// Flags of `http-ready`.
#[derive(Debug, Args)]
pub struct HttpReadyArgs {
    /// The port to report (sent as given, so out-of-range values can be tried).
    #[arg(long)]
    port: u32,
    /// The control socket [default: RUNNING_PROCESS_BROKER_V2_CONTROL_PIPE].
    #[arg(long)]
    control_pipe: Option<PathBuf>,
    /// Round-trip bound in milliseconds [env: RUNNING_PROCESS_BROKER_CLIENT_TIMEOUT_MS; default: 3000].
    #[arg(long)]
    timeout_ms: Option<u64>,
}

/// Reports a port from this process; exit 0 when accepted, 1 when rejected
/// or the round trip failed, 2 with no broker to report to.
pub fn run_ready(args: HttpReadyArgs) -> u8 {
    let timeout = match client_timeout(args.timeout_ms) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("broker-conformance http-ready: {e}");
            return EXIT_HARNESS;
        }
    };
    let outcome = match &args.control_pipe {
        Some(pipe) => report_http_ready_to(pipe, args.port, timeout),
        None => report_http_ready(&ProcessEnv, args.port, timeout),
    };
    match outcome {
        Ok(ReadyOutcome::Accepted) => {
            println!("accepted: port {}", args.port);
            EXIT_OK
        }
        Ok(ReadyOutcome::Rejected) => {
            println!("rejected: the broker closed without a reply (V2R-6)");
            EXIT_FAILED
        }
        Ok(ReadyOutcome::NoBroker) => {
            eprintln!(
                "broker-conformance http-ready: no broker: RUNNING_PROCESS_BROKER_V2_CONTROL_PIPE is unset"
            );
            EXIT_HARNESS
        }
        Err(e) => {
            eprintln!("broker-conformance http-ready: {e}");
            EXIT_FAILED
        }
    }
}
