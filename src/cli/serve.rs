//! `broker-conformance serve`: run the reference broker, or with `--v2`
//! the reference v2 front door (v2 spec §2, §13).

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;

use super::{EXIT_FAILED, EXIT_HARNESS, EXIT_OK};
use broker_conformance::broker::front_door::{
    BoundFrontDoor, FrontDoorSettings, Served, parse_options,
};
use broker_conformance::broker::{BoundBroker, ConfigOverrides, LogLevel, resolve_config};
use broker_conformance::env::ProcessEnv;
use broker_conformance::http::HttpPortSpec;
use broker_conformance::sys::euid;
use broker_conformance::wire::DEFAULT_DRAIN_DEADLINE;

/// Flags of `serve`. Precedence: flag > environment > --config file > default.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Broker socket [default: the per-user shared socket of spec §13].
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Service definition directory [env: RUNNING_PROCESS_SERVICE_DEF_DIR].
    #[arg(long)]
    service_def_dir: Option<PathBuf>,
    /// Connections served at once [default: 16384].
    #[arg(long)]
    max_connections: Option<usize>,
    /// Threads accepting connections [default: 1, the fastest for a lone
    /// client; one per core serves many concurrent clients best].
    #[arg(long)]
    accept_threads: Option<usize>,
    /// Close connections that send nothing for this long [env: RUNNING_PROCESS_BROKER_HELLO_TIMEOUT_MS; default: 30000].
    #[arg(long)]
    hello_timeout_ms: Option<u64>,
    /// Append lifecycle events to this file (EVT-2).
    #[arg(long)]
    event_log: Option<PathBuf>,
    /// TOML configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Log verbosity on stderr.
    #[arg(long, value_enum)]
    log_level: Option<LogLevel>,
    /// Log lines as JSON objects instead of text.
    #[arg(long)]
    log_json: bool,
    /// Instance id reported by admin verbs [default: shared].
    #[arg(long)]
    instance: Option<String>,
    /// Stop launched backends when the broker exits (by default they outlive it, as upstream's do).
    /// Saying it twice is saying it once.
    #[arg(long, overrides_with = "stop_backends_on_exit")]
    stop_backends_on_exit: bool,
    /// Serve the HTTP status surface: `dynamic`, 0 or a port (V2W-2); its
    /// address goes to `<socket>.http_port` (V2W-14).
    #[arg(long, value_name = "V")]
    http_port: Option<HttpPortSpec>,
}

/// Runs the broker; exit 0 after SHUTDOWN, 1 on a serve error, 2 on bad configuration.
pub fn run(args: ServeArgs) -> u8 {
    let overrides = ConfigOverrides {
        socket: args.socket,
        service_def_dir: args.service_def_dir,
        max_connections: args.max_connections,
        accept_threads: args.accept_threads,
        hello_timeout_ms: args.hello_timeout_ms,
        event_log: args.event_log,
        config_file: args.config,
        log_level: args.log_level,
        instance: args.instance,
        stop_backends_on_exit: args.stop_backends_on_exit,
        http_port: args.http_port,
    };
    let config = match resolve_config(&overrides, &ProcessEnv, euid()) {
        Ok(config) => config,
        Err(problems) => {
            for problem in problems {
                eprintln!("broker-conformance serve: invalid configuration: {problem}");
            }
            return EXIT_HARNESS;
        }
    };
    let filter = EnvFilter::new(format!(
        "broker_conformance={}",
        config.log_level.as_filter()
    ));
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if args.log_json {
        subscriber.json().init();
    } else {
        subscriber.init();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("broker-conformance serve: cannot start the runtime: {e}");
            return EXIT_FAILED;
        }
    };
    let socket = config.socket.clone();
    let result = runtime.block_on(async move {
        let broker = BoundBroker::bind(config)?;
        // Handlers go in before "serving" is announced, so a signal sent by
        // whoever waited for that line is never lost.
        let signal_error = |source| broker_conformance::broker::BrokerError::Io {
            what: "installing signal handlers",
            source,
        };
        let mut terminate = signal(SignalKind::terminate()).map_err(signal_error)?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(signal_error)?;
        let signals = broker.shutdown_handle();
        tokio::spawn(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
            tracing::info!("signal received: shutting down");
            signals.shut_down(DEFAULT_DRAIN_DEADLINE);
        });
        tracing::info!(socket = %socket.display(), "serving");
        broker.serve().await
    });
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("broker-conformance serve: {e}");
            EXIT_FAILED
        }
    }
}

/// The arguments after `serve` when they ask for the front door (`--v2`
/// among them), else `None`.
pub fn front_door_args(args: impl IntoIterator<Item = OsString>) -> Option<Vec<OsString>> {
    let mut args = args.into_iter().skip(1);
    if args.next()? != "serve" {
        return None;
    }
    let rest: Vec<OsString> = args.collect();
    rest.iter().any(|a| a == "--v2").then_some(rest)
}

/// Runs the v2 front door; exit codes per V2L-4 and V2L-5: 0 after a
/// normal end or at once for `--no-bind`, 2 for a usage error (`--help`
/// included), 75 when already served, 77 for root without the opt-in, 1
/// for any other failure or a `--once` Hello that was not negotiated.
pub fn run_front_door(args: Vec<OsString>) -> u8 {
    let options = match parse_options(args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("broker-conformance serve --v2: {e}");
            return EXIT_HARNESS;
        }
    };
    if options.no_bind {
        println!("broker-conformance serve --v2 --no-bind: nothing bound");
        return EXIT_OK;
    }
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("broker_conformance=warn"))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("broker-conformance serve --v2: cannot start the runtime: {e}");
            return EXIT_FAILED;
        }
    };
    let settings = FrontDoorSettings::from_env(&ProcessEnv);
    let result = runtime.block_on(async move {
        let door = BoundFrontDoor::bind(&options, settings, &ProcessEnv)?;
        // Handlers go in before the bound line, so a signal sent by whoever
        // waited for it is never lost (V2L-3, V2L-9).
        let signal_error = |source| broker_conformance::broker::front_door::FrontDoorError::Io {
            what: "installing signal handlers",
            source,
        };
        let mut terminate = signal(SignalKind::terminate()).map_err(signal_error)?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(signal_error)?;
        println!("{}", door.bound_line());
        let _ = std::io::stdout().flush();
        door.serve(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        })
        .await
    });
    match result {
        Ok(Served::Stopped | Served::Once { negotiated: true }) => EXIT_OK,
        Ok(Served::Once { negotiated: false }) => EXIT_FAILED,
        Err(e) => {
            eprintln!("broker-conformance serve --v2: {e}");
            e.exit_code()
        }
    }
}
