//! The broker's metrics (ADM-6, ADM-10): counters and a histogram updated on
//! the Hello path, gauges read at render time, rendered as OpenMetrics text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Prefix of every metric family (ADM-6).
pub(super) const METRIC_PREFIX: &str = "running_process_broker_v1_";

/// Upper bounds of the Hello duration histogram, in seconds.
pub(super) const HELLO_DURATION_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Labels of the per-Hello and per-launch counters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct OutcomeLabels {
    /// The service, empty when the Hello was refused before its name was valid.
    pub service: String,
    /// The wanted version, empty likewise.
    pub version: String,
    /// `negotiated`, a refusal code such as `peer_rejected`, or for
    /// launches `success` / `failure`.
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Histogram {
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; HELLO_DURATION_BUCKETS.len()];
        }
        for (bucket, bound) in self.buckets.iter_mut().zip(HELLO_DURATION_BUCKETS) {
            if seconds <= *bound {
                *bucket += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }
}

#[derive(Debug, Default)]
struct Counters {
    hello_total: BTreeMap<OutcomeLabels, u64>,
    hello_duration: BTreeMap<String, Histogram>,
    spawn_attempts: BTreeMap<OutcomeLabels, u64>,
}

/// Metrics updated by the broker as it works.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    counters: Mutex<Counters>,
}

/// Gauges read from broker state when rendering.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Gauges {
    /// Live backends per service.
    pub active_backends: BTreeMap<String, u64>,
    /// Launch attempts left per (service, version).
    pub spawn_budget_remaining: BTreeMap<(String, String), u32>,
    /// Connections accepted and not yet closed.
    pub connections_open: u64,
    /// Open descriptors over the limit.
    pub fd_usage_ratio: f64,
    /// Time since the broker started.
    pub uptime: Duration,
}

impl Metrics {
    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one Hello outcome and its duration.
    pub(crate) fn record_hello(&self, labels: OutcomeLabels, duration: Duration) {
        let mut c = self.counters();
        c.hello_duration
            .entry(labels.service.clone())
            .or_default()
            .observe(duration.as_secs_f64());
        *c.hello_total.entry(labels).or_default() += 1;
    }

    /// Counts one launch attempt.
    pub(crate) fn record_spawn(&self, labels: OutcomeLabels) {
        *self.counters().spawn_attempts.entry(labels).or_default() += 1;
    }

    /// Renders the eight families as OpenMetrics text ending in `# EOF` (ADM-6).
    pub(crate) fn render(&self, gauges: &Gauges) -> String {
        let c = self.counters();
        let mut out = String::new();
        let family = |out: &mut String, name: &str, kind: &str| {
            let _ = writeln!(out, "# TYPE {METRIC_PREFIX}{name} {kind}");
        };

        family(&mut out, "hello_total", "counter");
        for (labels, value) in &c.hello_total {
            sample(&mut out, "hello_total", &outcome_labels(labels), *value);
        }

        family(&mut out, "hello_duration_seconds", "histogram");
        for (service, histogram) in &c.hello_duration {
            let base = [("service", service.as_str())];
            for (bound, count) in HELLO_DURATION_BUCKETS.iter().zip(&histogram.buckets) {
                let le = bound.to_string();
                sample(
                    &mut out,
                    "hello_duration_seconds_bucket",
                    &[base[0], ("le", &le)],
                    *count,
                );
            }
            sample(
                &mut out,
                "hello_duration_seconds_bucket",
                &[base[0], ("le", "+Inf")],
                histogram.count,
            );
            sample(&mut out, "hello_duration_seconds_sum", &base, histogram.sum);
            sample(
                &mut out,
                "hello_duration_seconds_count",
                &base,
                histogram.count,
            );
        }

        family(&mut out, "active_backends", "gauge");
        for (service, n) in &gauges.active_backends {
            sample(&mut out, "active_backends", &[("service", service)], *n);
        }

        family(&mut out, "spawn_attempts_total", "counter");
        for (labels, value) in &c.spawn_attempts {
            sample(
                &mut out,
                "spawn_attempts_total",
                &outcome_labels(labels),
                *value,
            );
        }

        family(&mut out, "spawn_budget_remaining", "gauge");
        for ((service, version), n) in &gauges.spawn_budget_remaining {
            sample(
                &mut out,
                "spawn_budget_remaining",
                &[("service", service), ("version", version)],
                *n,
            );
        }

        family(&mut out, "connections_open", "gauge");
        sample(&mut out, "connections_open", &[], gauges.connections_open);
        family(&mut out, "fd_usage_ratio", "gauge");
        sample(&mut out, "fd_usage_ratio", &[], gauges.fd_usage_ratio);
        family(&mut out, "uptime_seconds", "gauge");
        sample(&mut out, "uptime_seconds", &[], gauges.uptime.as_secs_f64());
        out.push_str("# EOF\n");
        out
    }
}

fn outcome_labels(labels: &OutcomeLabels) -> [(&str, &str); 3] {
    [
        ("service", labels.service.as_str()),
        ("version", labels.version.as_str()),
        ("outcome", labels.outcome),
    ]
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
    let _ = write!(out, "{METRIC_PREFIX}{name}");
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape_label(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Escapes a label value for OpenMetrics: backslash, quote and newline.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_all_eight_families_with_samples_and_eof() {
        let metrics = Metrics::default();
        let labels = OutcomeLabels {
            service: "svc".into(),
            version: "1.0.0".into(),
            outcome: "negotiated",
        };
        metrics.record_hello(labels.clone(), Duration::from_micros(300));
        metrics.record_spawn(OutcomeLabels {
            outcome: "success",
            ..labels
        });
        let text = metrics.render(&Gauges {
            connections_open: 2,
            ..Gauges::default()
        });
        for family in [
            "hello_total counter",
            "hello_duration_seconds histogram",
            "active_backends gauge",
            "spawn_attempts_total counter",
            "spawn_budget_remaining gauge",
            "connections_open gauge",
            "fd_usage_ratio gauge",
            "uptime_seconds gauge",
        ] {
            assert!(
                text.contains(&format!("# TYPE {METRIC_PREFIX}{family}\n")),
                "{family}\n{text}"
            );
        }
        assert!(
            text.contains(
                "hello_total{service=\"svc\",version=\"1.0.0\",outcome=\"negotiated\"} 1\n"
            )
        );
        assert!(text.contains("hello_duration_seconds_bucket{service=\"svc\",le=\"0.0005\"} 1\n"));
        assert!(text.contains("hello_duration_seconds_bucket{service=\"svc\",le=\"0.0001\"} 0\n"));
        assert!(text.contains("connections_open 2\n"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
