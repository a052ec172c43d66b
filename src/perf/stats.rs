//! Latency samples, percentiles and ratios against a baseline.

use std::fmt;
use std::time::Duration;

/// Latencies of one scenario.
#[derive(Debug, Clone, Default)]
pub(crate) struct Samples {
    values: Vec<Duration>,
}

impl Samples {
    /// Room for `n` samples, so recording never allocates.
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            values: Vec::with_capacity(n),
        }
    }

    /// Records one latency.
    pub(crate) fn push(&mut self, latency: Duration) {
        self.values.push(latency);
    }

    /// Takes in another set (e.g. one per client thread).
    pub(crate) fn merge(&mut self, other: Samples) {
        self.values.extend(other.values);
    }

    /// How many were recorded.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// Percentiles and mean.
    pub(crate) fn summary(&self) -> Summary {
        let mut sorted = self.values.clone();
        sorted.sort_unstable();
        let total: Duration = sorted.iter().sum();
        Summary {
            count: sorted.len(),
            min: sorted.first().copied().unwrap_or_default(),
            p50: percentile(&sorted, 50.0),
            p99: percentile(&sorted, 99.0),
            p999: percentile(&sorted, 99.9),
            max: sorted.last().copied().unwrap_or_default(),
            mean: u32::try_from(sorted.len())
                .ok()
                .filter(|n| *n > 0)
                .map_or(Duration::ZERO, |n| total / n),
        }
    }
}

/// The `q`-th percentile (0–100) of sorted values, nearest rank; zero when empty.
pub(crate) fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The distribution of one scenario's latencies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Samples.
    pub count: usize,
    /// Fastest.
    #[serde(with = "micros")]
    pub min: Duration,
    /// Median.
    #[serde(with = "micros")]
    pub p50: Duration,
    /// 99th percentile.
    #[serde(with = "micros")]
    pub p99: Duration,
    /// 99.9th percentile.
    #[serde(with = "micros")]
    pub p999: Duration,
    /// Slowest.
    #[serde(with = "micros")]
    pub max: Duration,
    /// Mean.
    #[serde(with = "micros")]
    pub mean: Duration,
}

impl Summary {
    /// This scenario's median and p99 as multiples of `baseline`'s.
    pub fn ratio_to(&self, baseline: &Summary) -> Ratios {
        Ratios {
            p50: ratio(self.p50, baseline.p50),
            p99: ratio(self.p99, baseline.p99),
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "p50 {} p99 {} p99.9 {} (n={})",
            Micros(self.p50),
            Micros(self.p99),
            Micros(self.p999),
            self.count
        )
    }
}

/// Median and p99 of a scenario over its baseline's.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Ratios {
    /// p50 / baseline p50.
    pub p50: f64,
    /// p99 / baseline p99.
    pub p99: f64,
}

impl fmt::Display for Ratios {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p50 {:.2}x p99 {:.2}x", self.p50, self.p99)
    }
}

/// `value / baseline`; infinite over a zero baseline.
pub(crate) fn ratio(value: Duration, baseline: Duration) -> f64 {
    if baseline.is_zero() {
        f64::INFINITY
    } else {
        value.as_secs_f64() / baseline.as_secs_f64()
    }
}

/// A duration shown in microseconds with one decimal.
#[derive(Debug, Clone, Copy)]
pub struct Micros(pub Duration);

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1} µs", self.0.as_secs_f64() * 1e6)
    }
}

mod micros {
    use std::time::Duration;

    pub(super) fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut s = Samples::default();
        for n in (1..=100).rev() {
            s.push(us(n));
        }
        let summary = s.summary();
        assert_eq!(summary.count, 100);
        assert_eq!(summary.min, us(1));
        assert_eq!(summary.p50, us(50));
        assert_eq!(summary.p99, us(99));
        assert_eq!(summary.p999, us(100));
        assert_eq!(summary.max, us(100));
        assert_eq!(summary.mean, Duration::from_nanos(50_500));
    }

    #[test]
    fn empty_samples_summarise_to_zero() {
        assert_eq!(Samples::default().summary(), Summary::default());
        assert_eq!(percentile(&[], 99.0), Duration::ZERO);
    }

    #[test]
    fn ratios_divide_by_the_baseline() {
        let a = Summary {
            p50: us(60),
            p99: us(300),
            ..Summary::default()
        };
        let base = Summary {
            p50: us(50),
            p99: us(100),
            ..Summary::default()
        };
        let r = a.ratio_to(&base);
        assert!((r.p50 - 1.2).abs() < 1e-9 && (r.p99 - 3.0).abs() < 1e-9);
        assert!(ratio(us(1), Duration::ZERO).is_infinite());
        assert_eq!(r.to_string(), "p50 1.20x p99 3.00x");
    }
}
