//! Accounting for brokers the runner starts: the broker process's open
//! descriptors, threads, resident memory and zombie children, read from
//! `/proc` before and after each phase ([`sample`], the shell) and judged
//! against bounds on growth ([`judge_growth`], pure).

use std::io;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// What a growth finding cites: no clause bounds a broker's resources, so
/// the bounds are the run's own (`--max-*-growth`).
pub(crate) const ACCOUNTING: &str = "accounting";

/// One reading of a broker process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceSample {
    /// Open file descriptors.
    pub fds: u64,
    /// Threads.
    pub threads: u64,
    /// Resident memory, KiB.
    pub rss_kib: u64,
    /// Children in state Z (LCH-5).
    pub zombies: u64,
}

/// How much a phase may leave behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceBounds {
    /// More open descriptors after than before.
    pub fds: u64,
    /// More threads.
    pub threads: u64,
    /// More resident memory, KiB.
    pub rss_kib: u64,
}

impl Default for ResourceBounds {
    fn default() -> Self {
        Self {
            fds: 16,
            threads: 8,
            rss_kib: 64 * 1024,
        }
    }
}

/// A phase's readings, before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceDelta {
    /// Before the phase.
    pub before: ResourceSample,
    /// After the phase and its liveness check.
    pub after: ResourceSample,
}

/// What grew past its bound, as (clause, message); zombies break LCH-5.
pub fn judge_growth(
    before: &ResourceSample,
    after: &ResourceSample,
    bounds: &ResourceBounds,
) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    let mut grew = |what: &str, b: u64, a: u64, bound: u64, unit: &str| {
        if a > b.saturating_add(bound) {
            problems.push((
                ACCOUNTING,
                format!("{what} grew from {b}{unit} to {a}{unit} (bound +{bound}{unit})"),
            ));
        }
    };
    grew("open descriptors", before.fds, after.fds, bounds.fds, "");
    grew("threads", before.threads, after.threads, bounds.threads, "");
    grew(
        "resident memory",
        before.rss_kib,
        after.rss_kib,
        bounds.rss_kib,
        " KiB",
    );
    if after.zombies > 0 {
        problems.push((
            "LCH-5",
            format!("{} zombie child(ren) left unreaped", after.zombies),
        ));
    }
    problems
}

/// `Threads:` and `VmRSS:` (KiB) of a `/proc/<pid>/status` text.
pub(crate) fn parse_status(text: &str) -> (u64, u64) {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("Threads:"), field("VmRSS:"))
}

/// The state and parent pid of a `/proc/<pid>/stat` text; the command
/// name in parentheses may hold spaces and parentheses, so fields are
/// counted after the last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<(char, u32)> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Reads process `pid` now.
#[cfg(unix)]
pub(crate) fn sample(pid: u32) -> io::Result<ResourceSample> {
    let proc = std::path::PathBuf::from(format!("/proc/{pid}"));
    let fds = std::fs::read_dir(proc.join("fd"))?.count() as u64;
    let (threads, rss_kib) = parse_status(&std::fs::read_to_string(proc.join("status"))?);
    let mut zombies = 0;
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // A process may exit while it is read: skip it.
        if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat"))
            && parse_stat(&stat) == Some(('Z', pid))
        {
            zombies += 1;
        }
    }
    Ok(ResourceSample {
        fds,
        threads,
        rss_kib,
        zombies,
    })
}

/// Reads `pid` until its growth since `before` is within `bounds`, or
/// `deadline` passes: closed connections and reaped children give their
/// resources back a little after the phase. Returns the last reading.
#[cfg(unix)]
pub(crate) fn settled_sample(
    pid: u32,
    before: &ResourceSample,
    bounds: &ResourceBounds,
    deadline: Instant,
) -> io::Result<ResourceSample> {
    loop {
        let now = sample(pid)?;
        if judge_growth(before, &now, bounds).is_empty() || Instant::now() >= deadline {
            return Ok(now);
        }
        // /proc offers no change notification: poll, bounded by the deadline.
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tbroker\nState:\tS (sleeping)\nVmRSS:\t   10240 kB\nThreads:\t5\n";

    #[test]
    fn status_and_stat_are_parsed() {
        assert_eq!(parse_status(STATUS), (5, 10240));
        assert_eq!(parse_status(""), (0, 0));
        assert_eq!(parse_stat("42 (a (b) c) Z 7 42 42"), Some(('Z', 7)));
        assert_eq!(parse_stat("42 (x) S 1"), Some(('S', 1)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn growth_within_bounds_is_clean_and_beyond_is_named() {
        let before = ResourceSample {
            fds: 10,
            threads: 4,
            rss_kib: 1000,
            zombies: 0,
        };
        let bounds = ResourceBounds::default();
        let mut after = before;
        after.fds += 16;
        assert!(judge_growth(&before, &after, &bounds).is_empty());
        after.fds += 1;
        after.zombies = 2;
        let problems = judge_growth(&before, &after, &bounds);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0].0, ACCOUNTING);
        assert!(problems[0].1.contains("from 10 to 27"), "{}", problems[0].1);
        assert_eq!(problems[1].0, "LCH-5");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_can_be_sampled() {
        let s = sample(std::process::id()).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.fds > 0 && s.threads > 0 && s.rss_kib > 0, "{s:?}");
    }
}
