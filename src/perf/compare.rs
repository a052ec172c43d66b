//! Side-by-side latency of several scenarios against one baseline,
//! sampled interleaved — one exchange of each in turn — so that drift in
//! the machine's speed hits them all alike.

use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::time::Instant;

use super::stats::{Micros, Ratios, Samples, Summary};

/// One timed operation; an error ends the sampling with that message.
pub(crate) type Operation<'a> = Box<dyn FnMut() -> Result<(), String> + 'a>;

/// A scenario to sample: a bench id and the operation it times.
pub struct Scenario<'a> {
    /// Bench id (a conformance case id where one exists).
    pub id: String,
    /// One exchange.
    pub run: Operation<'a>,
}

impl<'a> Scenario<'a> {
    /// A scenario named `id`.
    pub fn new(id: impl Into<String>, run: impl FnMut() -> Result<(), String> + 'a) -> Self {
        Self {
            id: id.into(),
            run: Box::new(run),
        }
    }
}

/// The percentiles of every scenario, the first being the baseline.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Comparison {
    /// What was compared.
    pub title: String,
    /// Id and summary per scenario, baseline first.
    pub rows: Vec<(String, Summary)>,
}

/// How a comparison samples: `rounds` rounds, each running every scenario
/// `block` times in a row (round-robin between scenarios), after `warmup`
/// unrecorded rounds.
///
/// Blocks keep each server's caches as warm as they are in real use (a
/// server answering one exchange in between others' is colder than any
/// in service), while the rounds still spread every scenario over the
/// whole run, so drift in the machine's speed hits them all alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampling {
    /// Unrecorded rounds first.
    pub warmup: usize,
    /// Recorded rounds.
    pub rounds: usize,
    /// Exchanges per scenario per round.
    pub block: usize,
}

impl Sampling {
    /// `samples` per scenario in blocks of `block` (at least one round),
    /// after one warm-up round.
    pub fn blocks(samples: usize, block: usize) -> Self {
        let block = block.max(1);
        Self {
            warmup: 1,
            rounds: samples.div_ceil(block).max(1),
            block,
        }
    }
}

/// Samples the scenarios as `sampling` says. The first scenario is the baseline.
pub fn interleaved(
    title: &str,
    scenarios: &mut [Scenario<'_>],
    sampling: Sampling,
) -> Result<Comparison, String> {
    let Sampling {
        warmup,
        rounds,
        block,
    } = sampling;
    let mut samples: Vec<Samples> = scenarios
        .iter()
        .map(|_| Samples::with_capacity(rounds * block))
        .collect();
    for round in 0..warmup + rounds {
        for (scenario, samples) in scenarios.iter_mut().zip(&mut samples) {
            for _ in 0..block {
                let began = Instant::now();
                (scenario.run)().map_err(|e| format!("{}: {e}", scenario.id))?;
                let took = began.elapsed();
                if round >= warmup {
                    samples.push(took);
                }
            }
        }
    }
    Ok(Comparison {
        title: title.to_owned(),
        rows: scenarios
            .iter()
            .zip(samples)
            .map(|(s, samples)| (s.id.clone(), samples.summary()))
            .collect(),
    })
}

impl Comparison {
    /// The baseline's summary.
    pub fn baseline(&self) -> Option<&Summary> {
        self.rows.first().map(|(_, s)| s)
    }

    /// A scenario's summary.
    pub fn get(&self, id: &str) -> Option<&Summary> {
        self.rows.iter().find(|(i, _)| i == id).map(|(_, s)| s)
    }

    /// `id`'s median and p99 over the baseline's.
    pub fn ratios(&self, id: &str) -> Option<Ratios> {
        Some(self.get(id)?.ratio_to(self.baseline()?))
    }

    /// A text table: percentiles, and ratios to the baseline.
    pub fn table(&self) -> String {
        let width = self
            .rows
            .iter()
            .map(|(id, _)| id.len())
            .max()
            .unwrap_or(8)
            .max(8);
        let mut out = format!("{}\n", self.title);
        let _ = writeln!(
            out,
            "  {:width$}  {:>10}  {:>10}  {:>10}  {:>8}  {:>8}",
            "scenario", "p50", "p99", "p99.9", "p50/base", "p99/base"
        );
        for (id, s) in &self.rows {
            let r = self.baseline().map(|b| s.ratio_to(b));
            let _ = writeln!(
                out,
                "  {id:width$}  {:>10}  {:>10}  {:>10}  {:>7.2}x  {:>7.2}x",
                Micros(s.p50).to_string(),
                Micros(s.p99).to_string(),
                Micros(s.p999).to_string(),
                r.map_or(f64::NAN, |r| r.p50),
                r.map_or(f64::NAN, |r| r.p99),
            );
        }
        out
    }

    /// Writes the comparison as JSON to `path` (directories created).
    pub fn write_json(&self, path: &Path) -> io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        std::fs::write(path, text)
    }
}

/// Where benches write their reports: `$CARGO_TARGET_DIR/bench-reports`, else `target/bench-reports`.
pub fn report_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| "target".into(), std::path::PathBuf::from)
        .join("bench-reports")
}

/// Samples per scenario: `BENCH_SAMPLES`, else `default`.
pub fn samples_from_env(default: usize) -> usize {
    std::env::var("BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_scenario_is_sampled_in_turn_and_compared_to_the_first() {
        let mut order = Vec::new();
        let log = std::cell::RefCell::new(&mut order);
        let mut scenarios = vec![
            Scenario::new("base", || {
                log.borrow_mut().push('b');
                Ok(())
            }),
            Scenario::new("slow", || {
                log.borrow_mut().push('s');
                Ok(())
            }),
        ];
        let sampling = Sampling {
            warmup: 1,
            rounds: 3,
            block: 2,
        };
        let c = interleaved("t", &mut scenarios, sampling).unwrap_or_else(|e| panic!("{e}"));
        drop(scenarios);
        assert_eq!(order.iter().collect::<String>(), "bbssbbssbbssbbss");
        assert_eq!(c.rows.len(), 2);
        assert_eq!(c.rows[0].1.count, 6);
        assert_eq!(Sampling::blocks(5000, 50).rounds, 100);
        assert!(c.table().contains("slow"));
    }

    #[test]
    fn ratios_divide_by_the_first_row() {
        let summary = |micros: u64| {
            let mut samples = Samples::with_capacity(3);
            for _ in 0..3 {
                samples.push(Duration::from_micros(micros));
            }
            samples.summary()
        };
        let c = Comparison {
            title: "t".into(),
            rows: vec![("base".into(), summary(10)), ("slow".into(), summary(30))],
        };
        let r = c.ratios("slow").unwrap_or_else(|| panic!("no ratio"));
        assert!(
            (r.p50 - 3.0).abs() < 1e-9 && (r.p99 - 3.0).abs() < 1e-9,
            "{r:?}"
        );
        assert!(c.ratios("absent").is_none());
    }

    #[test]
    fn a_failing_scenario_names_itself() {
        let mut scenarios = vec![Scenario::new("bad", || Err("refused".into()))];
        let e = interleaved("t", &mut scenarios, Sampling::blocks(1, 1)).err();
        assert_eq!(e.as_deref(), Some("bad: refused"));
    }
}
