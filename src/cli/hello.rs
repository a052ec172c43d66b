//! `broker-conformance hello`: one Hello exchange, the decoded reply and
//! the route taken (exit 0 Negotiated, 1 Refused, 2 anything else); with
//! `--v2`, against a v2 front door (v2 spec V2K-1…V2K-4), where an empty
//! `backend_pipe` is "no backend yet", still exit 0.

use std::path::PathBuf;

use clap::Args;
use serde_json::{Map, Value, json};

use super::{EXIT_FAILED, EXIT_HARNESS, EXIT_OK, broker_socket, client_timeout};
use broker_conformance::client::code_name;
use broker_conformance::client::front_door::{
    FRONT_DOOR_TIMEOUT, FrontDoorAnswer, front_door_exchange, front_door_socket,
};
use broker_conformance::client::next_request_id;
use broker_conformance::client::{ClientError, ConnectRequest, establish, hello_frame};
use broker_conformance::env::ProcessEnv;
use broker_conformance::inspect::to_hex;
use broker_conformance::paths::DEFAULT_FRONT_DOOR_PROGRAM;
use broker_conformance::proto::v1::{Negotiated, Refused, hello_reply};

#[derive(Debug, Args)]
pub struct HelloArgs {
    /// Broker socket [default: this user's shared broker socket; with
    /// --v2, the front door's socket for --program (V2N-1)].
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Hello a v2 front door: request_id 1, protocol 1..1, 3 s bound (V2K).
    #[arg(long)]
    v2: bool,
    /// The front door's program name [default: broker-v2-scaffold].
    #[arg(long, requires = "v2")]
    program: Option<String>,
    /// `service_name` to ask for.
    #[arg(long)]
    service: String,
    /// `wanted_version` to ask for.
    #[arg(long)]
    version: String,
    /// `client_version` to send.
    #[arg(long, default_value = "")]
    client_version: String,
    /// Adopt the broker connection if the broker hands it off (HOF-8).
    #[arg(long)]
    adopt: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Round-trip bound in ms [default: RUNNING_PROCESS_BROKER_CLIENT_TIMEOUT_MS, else 30000; with --v2, 3000].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    timeout_ms: Option<u64>,
}

/// What the exchange came to, for printing.
struct Outcome {
    socket: PathBuf,
    exchange: Option<ExchangeView>,
    route: Option<(String, PathBuf)>,
    error: Option<String>,
}

/// The parts of the exchange that are printed.
struct ExchangeView {
    request_id: u64,
    reply_request_id: u64,
    result: Option<hello_reply::Result>,
}

pub fn run(args: HelloArgs) -> u8 {
    let outcome = exchange(&args);
    if args.json {
        println!("{}", render_json(&outcome));
    } else {
        print!("{}", render_text(&outcome));
    }
    if let Some(error) = &outcome.error {
        eprintln!("error: {error}");
        return EXIT_HARNESS;
    }
    match outcome.exchange.and_then(|e| e.result) {
        Some(hello_reply::Result::Negotiated(_)) => EXIT_OK,
        Some(hello_reply::Result::Refused(_)) => EXIT_FAILED,
        None => EXIT_HARNESS,
    }
}

fn exchange(args: &HelloArgs) -> Outcome {
    let mut outcome = Outcome {
        socket: args.socket.clone().unwrap_or_default(),
        exchange: None,
        route: None,
        error: None,
    };
    if let Err(error) = fill(args, &mut outcome) {
        outcome.error = Some(error);
    }
    outcome
}

/// Does the exchange, recording each result in `outcome` as it arrives.
fn fill(args: &HelloArgs, outcome: &mut Outcome) -> Result<(), String> {
    if args.v2 {
        return fill_front_door(args, outcome);
    }
    let socket = broker_socket(args.socket.as_deref())?;
    outcome.socket = socket.clone();
    let timeout = client_timeout(args.timeout_ms)?;
    let request = ConnectRequest {
        client_version: args.client_version.clone(),
        adopt_handoff: args.adopt,
        timeout: Some(timeout),
        ..ConnectRequest::new(&socket, &args.service, &args.version)
    };
    let frame = request.hello_frame(next_request_id());
    let done = hello_frame(&socket, &frame, timeout)
        .map_err(|e| format!("Hello to {}: {e}", socket.display()))?;
    let refused = matches!(done.reply.result, Some(hello_reply::Result::Refused(_)));
    outcome.exchange = Some(ExchangeView {
        request_id: done.request.request_id,
        reply_request_id: done.reply_frame.request_id,
        result: done.reply.result.clone(),
    });
    if refused {
        return Ok(());
    }
    // Negotiated, or no result at all: `establish` checks it (CLI-4).
    let connection = establish(done, &request).map_err(after_negotiated)?;
    outcome.route = Some((connection.route.to_string(), connection.endpoint));
    Ok(())
}

/// V2K-1…V2K-4: one Hello to a front door; the route is the published
/// pipe or "no backend yet", never a reconnect.
fn fill_front_door(args: &HelloArgs, outcome: &mut Outcome) -> Result<(), String> {
    let program = args
        .program
        .as_deref()
        .unwrap_or(DEFAULT_FRONT_DOOR_PROGRAM);
    let socket = match &args.socket {
        Some(socket) => socket.clone(),
        None => front_door_socket(&ProcessEnv, program)
            .map_err(|e| format!("cannot work out the front door's socket: {e}"))?,
    };
    outcome.socket = socket.clone();
    let timeout = args
        .timeout_ms
        .map_or(FRONT_DOOR_TIMEOUT, std::time::Duration::from_millis);
    let done = front_door_exchange(&socket, &args.service, &args.version, timeout)
        .map_err(|e| format!("Hello to {}: {e}", socket.display()))?;
    outcome.exchange = Some(ExchangeView {
        request_id: done.request.request_id,
        reply_request_id: done.reply_frame.request_id,
        result: done.reply.result.clone(),
    });
    outcome.route = match done.answer() {
        Ok(FrontDoorAnswer::Backend { pipe, .. }) => Some(("published daemon".into(), pipe)),
        Ok(FrontDoorAnswer::NoBackendYet { .. }) => {
            Some(("no backend yet (empty backend_pipe)".into(), PathBuf::new()))
        }
        Err(_) => None,
    };
    Ok(())
}

fn after_negotiated(error: ClientError) -> String {
    match error {
        ClientError::Connect { .. } => format!("reaching the negotiated backend: {error}"),
        other => other.to_string(),
    }
}

fn render_text(outcome: &Outcome) -> String {
    let mut out = format!("broker: {}\n", outcome.socket.display());
    if let Some(view) = &outcome.exchange {
        out += &format!(
            "request_id: {} (reply echoes {})\n",
            view.request_id, view.reply_request_id
        );
        match &view.result {
            Some(hello_reply::Result::Negotiated(n)) => out += &negotiated_text(n),
            Some(hello_reply::Result::Refused(r)) => out += &refused_text(r),
            None => out += "reply: HelloReply without a result\n",
        }
    }
    match &outcome.route {
        Some((route, endpoint)) if endpoint.as_os_str().is_empty() => {
            out += &format!("route: {route}\n");
        }
        Some((route, endpoint)) => out += &format!("route: {route} ({})\n", endpoint.display()),
        None => {}
    }
    out
}

fn negotiated_text(n: &Negotiated) -> String {
    let mut out = String::from("reply: Negotiated\n");
    out += &format!("  negotiated_protocol: {}\n", n.negotiated_protocol);
    out += &format!("  daemon_version: {}\n", n.daemon_version);
    out += &format!("  backend_pipe: {}\n", n.backend_pipe);
    if n.warnings.is_empty() {
        out += "  warnings: (none)\n";
    }
    for warning in &n.warnings {
        out += &format!("  warning: {warning}\n");
    }
    out += &format!("  server_capabilities: 0x{:x}\n", n.server_capabilities);
    out += &format!("  keepalive_interval_secs: {}\n", n.keepalive_interval_secs);
    out += &format!(
        "  handle_passed_token: {}\n",
        token_text(&n.handle_passed_token)
    );
    out += &format!("  connection_id: {}\n", n.connection_id);
    out
}

fn refused_text(r: &Refused) -> String {
    let mut out = String::from("reply: Refused\n");
    out += &format!("  code: {} ({})\n", code_name(r.code), r.code);
    out += &format!("  reason: {}\n", r.reason);
    out += &format!("  retry_after_ms: {}\n", r.retry_after_ms);
    out += &format!("  daemon_min_protocol: {}\n", r.daemon_min_protocol);
    out += &format!("  daemon_max_protocol: {}\n", r.daemon_max_protocol);
    if r.details.is_empty() {
        out += "  details: (none)\n";
    }
    for (key, value) in &r.details {
        out += &format!("  detail: {key}={value}\n");
    }
    out
}

fn token_text(token: &[u8]) -> String {
    if token.is_empty() {
        "(empty)".to_owned()
    } else {
        to_hex(token)
    }
}

fn render_json(outcome: &Outcome) -> Value {
    let mut object = Map::new();
    object.insert("broker".into(), json!(outcome.socket.display().to_string()));
    if let Some(view) = &outcome.exchange {
        object.insert("request_id".into(), json!(view.request_id));
        object.insert("reply_request_id".into(), json!(view.reply_request_id));
        let reply = match &view.result {
            Some(hello_reply::Result::Negotiated(n)) => json!({
                "result": "negotiated",
                "negotiated_protocol": n.negotiated_protocol,
                "daemon_version": n.daemon_version,
                "backend_pipe": n.backend_pipe,
                "warnings": n.warnings,
                "server_capabilities": n.server_capabilities,
                "keepalive_interval_secs": n.keepalive_interval_secs,
                "handle_passed_token": to_hex(&n.handle_passed_token),
                "connection_id": n.connection_id,
            }),
            Some(hello_reply::Result::Refused(r)) => json!({
                "result": "refused",
                "code": code_name(r.code),
                "code_number": r.code,
                "reason": r.reason,
                "retry_after_ms": r.retry_after_ms,
                "daemon_min_protocol": r.daemon_min_protocol,
                "daemon_max_protocol": r.daemon_max_protocol,
                "details": r.details,
            }),
            None => json!({ "result": null }),
        };
        object.insert("reply".into(), reply);
    }
    if let Some((route, endpoint)) = &outcome.route {
        object.insert("route".into(), json!(route));
        object.insert("endpoint".into(), json!(endpoint.display().to_string()));
    }
    if let Some(error) = &outcome.error {
        object.insert("error".into(), json!(error));
    }
    Value::Object(object)
}
