//! Load: many clients doing exchanges for a while, and many connections
//! held open doing nothing, with what they cost the server in memory.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use super::exchange::{Exchange, ExchangeError};
use super::stats::{Samples, Summary};

/// One load run: `clients` threads, each repeating the exchange until `duration` is over.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Concurrent clients (threads), at least one.
    pub clients: usize,
    /// How long they keep going.
    pub duration: Duration,
    /// The request every exchange sends.
    pub request: Vec<u8>,
}

/// What a load run achieved.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadReport {
    /// Concurrent clients.
    pub clients: usize,
    /// Exchanges that completed.
    pub completed: u64,
    /// Exchanges that failed.
    pub failed: u64,
    /// The first failure, for the report.
    pub first_error: Option<String>,
    /// Wall time of the run, in seconds.
    pub seconds: f64,
    /// Latency of the completed exchanges.
    pub latency: Summary,
}

impl LoadReport {
    /// Completed exchanges per second.
    pub fn per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.completed as f64 / self.seconds
        } else {
            0.0
        }
    }
}

struct ClientTally {
    samples: Samples,
    failed: u64,
    first_error: Option<ExchangeError>,
}

/// Runs `config` against `socket`.
pub fn run_load(socket: &Path, config: &LoadConfig) -> LoadReport {
    let clients = config.clients.max(1);
    let start = Arc::new(Barrier::new(clients + 1));
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (start, socket) = (Arc::clone(&start), socket.to_path_buf());
            let mut exchange = Exchange::new(config.request.clone());
            let duration = config.duration;
            thread::spawn(move || {
                let mut tally = ClientTally {
                    samples: Samples::with_capacity(4096),
                    failed: 0,
                    first_error: None,
                };
                start.wait();
                let deadline = Instant::now() + duration;
                loop {
                    let began = Instant::now();
                    if began >= deadline {
                        break;
                    }
                    match exchange.run(&socket) {
                        Ok(_) => tally.samples.push(began.elapsed()),
                        Err(e) => {
                            tally.failed += 1;
                            tally.first_error.get_or_insert(e);
                        }
                    }
                }
                tally
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    let mut samples = Samples::default();
    let mut failed = 0;
    let mut first_error = None;
    for handle in handles {
        match handle.join() {
            Ok(tally) => {
                samples.merge(tally.samples);
                failed += tally.failed;
                if first_error.is_none() {
                    first_error = tally.first_error.map(|e| e.to_string());
                }
            }
            Err(_) => {
                failed += 1;
                first_error.get_or_insert_with(|| "a client thread panicked".into());
            }
        }
    }
    LoadReport {
        clients,
        completed: samples.len() as u64,
        failed,
        first_error,
        seconds: began.elapsed().as_secs_f64(),
        latency: samples.summary(),
    }
}

/// Opens `count` connections to `socket` and holds them, sending nothing.
pub fn hold_idle(socket: &Path, count: usize) -> Result<Vec<UnixStream>, ExchangeError> {
    (0..count)
        .map(|_| {
            UnixStream::connect(socket).map_err(|source| ExchangeError::Connect {
                socket: socket.to_path_buf(),
                source,
            })
        })
        .collect()
}

/// What `count` idle connections cost a server in resident memory.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IdleReport {
    /// Connections held.
    pub held: usize,
    /// The server's resident memory before, in bytes.
    pub rss_before: u64,
    /// With the connections held and accepted, in bytes.
    pub rss_after: u64,
}

impl IdleReport {
    /// Resident bytes per held connection.
    pub fn per_connection(&self) -> f64 {
        if self.held == 0 {
            0.0
        } else {
            self.rss_after.saturating_sub(self.rss_before) as f64 / self.held as f64
        }
    }
}

/// Holds `count` idle connections to the server `pid` listening on
/// `socket` and reads its resident memory once it has accepted them all:
/// a final exchange (`settle`) is answered only after the connections
/// queued before it were accepted.
pub fn measure_idle(
    socket: &Path,
    pid: u32,
    count: usize,
    settle: &mut Exchange,
) -> Result<IdleReport, String> {
    let rss = |what: &str| {
        crate::sys::resident_bytes(pid).map_err(|e| format!("reading the RSS of {pid} {what}: {e}"))
    };
    settle.run(socket).map_err(|e| e.to_string())?;
    let rss_before = rss("before")?;
    let held = hold_idle(socket, count).map_err(|e| e.to_string())?;
    settle
        .run(socket)
        .map_err(|e| format!("after {count} idle connections: {e}"))?;
    let rss_after = rss("after")?;
    drop(held);
    Ok(IdleReport {
        held: count,
        rss_before,
        rss_after,
    })
}
