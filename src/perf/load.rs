//! Load: many clients doing exchanges for a while, and many connections
//! held open doing nothing, with what they cost the server in memory.
//! Every phase is bounded: a server that stops accepting or answering
//! costs a run at most its overrun, and the idle phase its deadline; what
//! was reached is reported.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use super::exchange::{Exchange, ExchangeError, connect_within};
use super::stats::{Samples, Summary};

/// One load run: `clients` threads, each repeating the exchange until `duration` is over.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Concurrent clients (threads), at least one.
    pub clients: usize,
    /// How long they keep starting exchanges.
    pub duration: Duration,
    /// How long an exchange still in flight at the end may take: the run
    /// is over by `duration + overrun` whatever the server does.
    pub overrun: Duration,
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
            let (duration, overrun) = (config.duration, config.overrun);
            thread::spawn(move || {
                let mut tally = ClientTally {
                    samples: Samples::with_capacity(4096),
                    failed: 0,
                    first_error: None,
                };
                start.wait();
                let deadline = Instant::now() + duration;
                let hard_end = deadline + overrun;
                loop {
                    let began = Instant::now();
                    if began >= deadline {
                        break;
                    }
                    match exchange.run_within(&socket, hard_end) {
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

/// Connections held open, and why there are not more.
#[derive(Debug)]
pub(crate) struct IdleHold {
    /// The connections.
    pub streams: Vec<UnixStream>,
    /// Why fewer than asked for were opened, if so.
    pub stopped: Option<ExchangeError>,
}

/// Opens up to `count` connections to `socket` and holds them, sending
/// nothing; stops at the first that cannot be opened by `deadline`.
pub(crate) fn hold_idle(socket: &Path, count: usize, deadline: Instant) -> IdleHold {
    let mut streams = Vec::with_capacity(count);
    while streams.len() < count {
        match connect_within(socket, deadline) {
            Ok(stream) => streams.push(stream),
            Err(e) => {
                return IdleHold {
                    streams,
                    stopped: Some(e),
                };
            }
        }
    }
    IdleHold {
        streams,
        stopped: None,
    }
}

/// What idle connections cost a server in resident memory.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IdleReport {
    /// Connections asked for.
    pub requested: usize,
    /// Connections held.
    pub held: usize,
    /// The server's resident memory before, in bytes.
    pub rss_before: u64,
    /// With the connections held (and accepted, unless `shortfall` says
    /// otherwise), in bytes.
    pub rss_after: u64,
    /// What could not be done before the deadline: opening every
    /// connection, or the exchange proving they were all accepted.
    pub shortfall: Option<String>,
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
/// queued before it were accepted. Everything ends by `deadline`; a server
/// that holds fewer connections is reported with the number reached.
pub fn measure_idle(
    socket: &Path,
    pid: u32,
    count: usize,
    settle: &mut Exchange,
    deadline: Instant,
) -> Result<IdleReport, String> {
    let rss = |what: &str| {
        crate::sys::resident_bytes(pid).map_err(|e| format!("reading the RSS of {pid} {what}: {e}"))
    };
    let warm = settle.run_within(socket, deadline);
    let rss_before = rss("before")?;
    if let Err(e) = warm {
        return Ok(IdleReport {
            requested: count,
            held: 0,
            rss_before,
            rss_after: rss_before,
            shortfall: Some(format!("an exchange before opening idle connections: {e}")),
        });
    }
    let hold = hold_idle(socket, count, deadline);
    let held = hold.streams.len();
    let shortfall = match &hold.stopped {
        Some(e) => Some(format!("opening connection {} of {count}: {e}", held + 1)),
        None => settle
            .run_within(socket, deadline)
            .err()
            .map(|e| format!("an exchange after {count} idle connections: {e}")),
    };
    let rss_after = rss("after")?;
    drop(hold);
    Ok(IdleReport {
        requested: count,
        held,
        rss_before,
        rss_after,
        shortfall,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;

    use super::*;

    /// A listener with a backlog of one that never accepts: a server that
    /// cannot hold more than a couple of connections.
    fn stalled_listener(dir: &Path) -> (UnixListener, std::path::PathBuf) {
        let socket = dir.join("s.sock");
        let listener = crate::sys::listen_unix_with_backlog(&socket, 1)
            .unwrap_or_else(|e| panic!("listening on {}: {e}", socket.display()));
        (listener, socket)
    }

    fn scratch() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("ld.")
            .tempdir_in("/tmp")
            .unwrap_or_else(|e| panic!("temp dir: {e}"))
    }

    #[test]
    fn holding_idle_connections_stops_at_a_full_backlog_with_the_number_reached() {
        let dir = scratch();
        let (_listener, socket) = stalled_listener(dir.path());
        let hold = hold_idle(&socket, 1000, Instant::now() + Duration::from_millis(200));
        assert!(
            !hold.streams.is_empty() && hold.streams.len() < 1000,
            "held {}",
            hold.streams.len()
        );
        assert!(
            matches!(
                hold.stopped,
                Some(ExchangeError::TimedOut { what: "connecting" })
            ),
            "{:?}",
            hold.stopped
        );
    }

    #[test]
    fn a_load_run_against_a_server_that_never_answers_ends_with_every_exchange_failed() {
        let dir = scratch();
        let (_listener, socket) = stalled_listener(dir.path());
        let report = run_load(
            &socket,
            &LoadConfig {
                clients: 4,
                duration: Duration::from_millis(100),
                overrun: Duration::from_millis(100),
                request: vec![1, 0, 0, 0, 0],
            },
        );
        assert_eq!(report.completed, 0);
        assert!(report.failed >= 4, "{report:?}");
        let first = report.first_error.unwrap_or_default();
        assert!(first.contains("no progress before the deadline"), "{first}");
    }

    #[test]
    fn idle_memory_against_a_server_that_never_answers_is_a_shortfall_not_a_hang() {
        let dir = scratch();
        let (_listener, socket) = stalled_listener(dir.path());
        let mut settle = Exchange::new(vec![1, 0, 0, 0, 0]);
        let report = measure_idle(
            &socket,
            std::process::id(),
            100,
            &mut settle,
            Instant::now() + Duration::from_millis(200),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((report.requested, report.held), (100, 0));
        let shortfall = report.shortfall.unwrap_or_default();
        assert!(
            shortfall.contains("before opening idle connections"),
            "{shortfall}"
        );
    }
}
