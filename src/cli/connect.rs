//! `broker-conformance connect`: connect the way an application does —
//! honouring `RUNNING_PROCESS_DISABLE`, the `RUNNING_PROCESS_FAKE_BACKEND`
//! seam, Hello-skip and handoff adoption — and report the route taken.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::{EXIT_FAILED, EXIT_HARNESS, EXIT_OK, broker_socket};
use broker_conformance::client::{ClientError, ClientSettings, ConnectRequest, connect};
use broker_conformance::env::ProcessEnv;
use broker_conformance::wire::framing::blocking::{read_frame, write_frame};
use broker_conformance::wire::{MAX_FRAME_BYTES, frames::hello_request};

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Broker socket [default: this user's shared broker socket].
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Service to reach.
    #[arg(long)]
    service: String,
    /// Version wanted.
    #[arg(long)]
    version: String,
    /// This client's own version; equal to --version enables Hello-skip (CLI-3).
    #[arg(long, default_value = "")]
    client_version: String,
    /// A backend endpoint cached from an earlier Negotiated (CLI-3).
    #[arg(long)]
    cached_backend: Option<PathBuf>,
    /// Adopt the broker connection if the broker hands it off (HOF-8).
    #[arg(long)]
    adopt: bool,
    /// Send one echo request to the backend and check the reply.
    #[arg(long)]
    ping: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Exit 0 connected (or broker use disabled), 1 refused, 2 any other error.
pub fn run(args: ConnectArgs) -> u8 {
    let settings = match ClientSettings::from_env(&ProcessEnv) {
        Ok(settings) => settings,
        Err(e) => return fail(&e.to_string()),
    };
    let socket = match broker_socket(args.socket.as_deref()) {
        Ok(socket) => socket,
        Err(e) => return fail(&e),
    };
    let mut request = ConnectRequest::new(socket, &args.service, &args.version);
    request.client_version = args.client_version.clone();
    request.cached_backend = args.cached_backend.clone();
    request.adopt_handoff = args.adopt;
    let report = |route: &str, endpoint: Option<PathBuf>, ping: Option<&str>| {
        if args.json {
            println!(
                "{}",
                json!({ "route": route, "endpoint": endpoint, "ping": ping })
            );
        } else {
            println!("route: {route}");
            if let Some(endpoint) = endpoint {
                println!("endpoint: {}", endpoint.display());
            }
            if let Some(ping) = ping {
                println!("ping: {ping}");
            }
        }
        let _ = std::io::stdout().flush();
    };
    match connect(&request, &settings) {
        Ok(mut connection) => {
            let ping = if args.ping {
                match ping(&mut connection.stream) {
                    Ok(()) => Some("ok"),
                    Err(e) => return fail(&format!("ping over {}: {e}", connection.route)),
                }
            } else {
                None
            };
            report(connection.route.as_str(), Some(connection.endpoint), ping);
            EXIT_OK
        }
        Err(ClientError::Disabled) => {
            report("disabled", None, None);
            EXIT_OK
        }
        Err(e @ ClientError::Refused { .. }) => {
            eprintln!("refused: {e}");
            EXIT_FAILED
        }
        Err(e) => fail(&e.to_string()),
    }
}

/// Sends one request and expects its echo (the fake backend's echo behaviour).
fn ping(stream: &mut std::os::unix::net::UnixStream) -> Result<(), String> {
    let request = hello_request(&broker_conformance::proto::v1::Hello::default(), 0x5eed);
    let request = broker_conformance::proto::v1::Frame {
        payload_protocol: 0xF0F0,
        ..request
    };
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    write_frame(stream, &request).map_err(|e| e.to_string())?;
    let reply = read_frame(stream, MAX_FRAME_BYTES).map_err(|e| e.to_string())?;
    if reply.request_id == request.request_id && reply.payload == request.payload {
        Ok(())
    } else {
        Err("the reply is not an echo of the request".into())
    }
}

fn fail(message: &str) -> u8 {
    eprintln!("error: {message}");
    EXIT_HARNESS
}
