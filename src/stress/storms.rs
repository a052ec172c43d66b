//! The `storms` phase: connect-and-close and connect-and-half-close from
//! many threads, then a burst of connections held at once past the
//! broker's connection limit. The liveness check after the phase shows
//! whether the broker came through.

use std::net::Shutdown;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How the phase runs.
#[derive(Debug, Clone, Copy)]
pub struct StormsConfig {
    /// Connections of each storm (connect-and-close, connect-and-half-close).
    pub count: u64,
    /// Threads connecting at once.
    pub threads: usize,
    /// Connections of the burst, held at once (set it above the broker's limit).
    pub burst: u64,
    /// How long one connect may wait for room in the backlog.
    pub connect_timeout: Duration,
}

/// What the phase saw.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct StormsTally {
    /// Connects of both storms that succeeded.
    pub connected: u64,
    /// Connects of both storms that failed or timed out.
    pub connect_failures: u64,
    /// Connections of the burst open at once.
    pub burst_held: u64,
    /// Whether the burst ran into the broker's limit (connects stopped succeeding).
    pub burst_hit_limit: bool,
}

/// Consecutive failed connects after which the burst stops: the broker's
/// backlog is full.
const BURST_GIVE_UP: u32 = 16;

/// Runs the phase against `socket`.
pub(crate) fn run_storms(socket: &Path, config: StormsConfig) -> StormsTally {
    let mut tally = StormsTally::default();
    for half_close in [false, true] {
        let (ok, failed) = storm(socket, &config, half_close);
        tally.connected += ok;
        tally.connect_failures += failed;
    }
    let mut held = Vec::new();
    let mut failures_in_a_row = 0;
    while (held.len() as u64) < config.burst && failures_in_a_row < BURST_GIVE_UP {
        match crate::sys::connect_unix_within(socket, config.connect_timeout) {
            Ok(stream) => {
                held.push(stream);
                failures_in_a_row = 0;
            }
            Err(_) => failures_in_a_row += 1,
        }
    }
    tally.burst_held = held.len() as u64;
    tally.burst_hit_limit = failures_in_a_row >= BURST_GIVE_UP;
    tally
}

/// One storm: `count` connections opened and closed (or half-closed, then
/// closed) at once from `threads` threads. Returns (connected, failed).
fn storm(socket: &Path, config: &StormsConfig, half_close: bool) -> (u64, u64) {
    let next = AtomicU64::new(0);
    let connected = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..config.threads.max(1) {
            scope.spawn(|| {
                while next.fetch_add(1, Ordering::Relaxed) < config.count {
                    match crate::sys::connect_unix_within(socket, config.connect_timeout) {
                        Ok(stream) => {
                            if half_close {
                                let _ = stream.shutdown(Shutdown::Write);
                            }
                            connected.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    (connected.into_inner(), failed.into_inner())
}
