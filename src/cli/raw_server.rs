//! `broker-conformance raw-server`: the raw baseline as a process of its
//! own, so that it is compared with brokers on equal terms (a switch
//! between processes costs more than one between threads of one process).

use std::path::PathBuf;

use clap::Args;

use super::EXIT_HARNESS;
use broker_conformance::inspect::parse_hex;
use broker_conformance::perf::{FdPassServer, RawServer};

#[derive(Debug, Args)]
pub struct RawServerArgs {
    /// Where to listen (a stale socket file is replaced).
    #[arg(long)]
    socket: PathBuf,
    /// The reply to every request: a whole frame, in hex.
    #[arg(long, value_name = "HEX")]
    reply_hex: String,
    /// Threads accepting connections.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Also listen here for descriptor passes: each connection receives
    /// 16 bytes with one descriptor per pass and answers one byte.
    #[arg(long, value_name = "PATH")]
    fd_socket: Option<PathBuf>,
}

/// Serves until the process is killed.
pub fn run(args: RawServerArgs) -> u8 {
    let reply = match parse_hex(&args.reply_hex) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("error: --reply-hex: {e}");
            return EXIT_HARNESS;
        }
    };
    // The pass socket first: whoever waits for the main socket to appear
    // then finds both listening.
    let _passes = match args
        .fd_socket
        .as_deref()
        .map(FdPassServer::start)
        .transpose()
    {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: listening for descriptor passes: {e}");
            return EXIT_HARNESS;
        }
    };
    let _server = match RawServer::start(&args.socket, reply, args.workers) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: listening on {}: {e}", args.socket.display());
            return EXIT_HARNESS;
        }
    };
    loop {
        std::thread::park();
    }
}
