//! `broker-conformance load`: throughput and latency under concurrent
//! clients, and the memory idle connections cost, for a broker and for
//! the raw Unix-socket baseline measured in the same run.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};

use super::{EXIT_FAILED, EXIT_HARNESS, EXIT_OK};
use broker_conformance::perf::Exchange;
use broker_conformance::perf::Micros;
use broker_conformance::perf::{ECHO_SERVICE, Lab, LabBroker, server_pid};
use broker_conformance::perf::{IdleReport, LoadConfig, LoadReport, measure_idle, run_load};

/// How long the first exchange, which proves the broker answers, may take.
const FIRST_EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Which exchange the clients repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoadScenario {
    /// A Hello for a service nobody defined: Hello → Refused (hel.service-unknown).
    Refused,
    /// A Hello for the lab's echo service: Hello → Negotiated, a registry
    /// hit after the first (reg.same-key-reuses-backend).
    Negotiated,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Measure the broker already listening here [default: start the
    /// reference broker as a process of its own, with fake-backend services].
    #[arg(long, conflicts_with = "broker_cmd")]
    socket: Option<PathBuf>,
    /// Start this broker instead (`{socket}`, `{service_def_dir}` substituted).
    #[arg(long)]
    broker_cmd: Option<String>,
    /// Concurrent clients, one run each.
    #[arg(long, value_delimiter = ',', default_values_t = [2usize, 16, 256])]
    clients: Vec<usize>,
    /// Seconds each run lasts.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// The exchange the clients repeat.
    #[arg(long, value_enum, default_value_t = LoadScenario::Refused)]
    scenario: LoadScenario,
    /// Send a Hello for this service instead (with --version).
    #[arg(long, requires = "version")]
    service: Option<String>,
    /// The wanted version of --service.
    #[arg(long, requires = "service")]
    version: Option<String>,
    /// Also hold this many idle connections and report the broker's resident memory.
    #[arg(long, default_value_t = 10_000)]
    idle: usize,
    /// Seconds the idle phase may take: opening the connections and the
    /// exchange that proves the broker accepted them all.
    #[arg(long, default_value_t = 5.0)]
    idle_timeout: f64,
    /// Skip the raw baseline server.
    #[arg(long)]
    no_baseline: bool,
    /// Write the results as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// One row of the report.
#[derive(Debug, serde::Serialize)]
struct Row {
    server: String,
    #[serde(flatten)]
    report: LoadReport,
    per_second: f64,
    /// This row's throughput over the baseline's at the same client count.
    throughput_vs_baseline: Option<f64>,
    /// The server's resident memory right after the run, in bytes.
    rss_after: Option<u64>,
}

#[derive(Debug, serde::Serialize)]
struct Report {
    scenario: String,
    rows: Vec<Row>,
    idle: Option<IdleReport>,
}

fn harness(message: impl std::fmt::Display) -> u8 {
    eprintln!("error: {message}");
    EXIT_HARNESS
}

/// The broker measured: one the lab started, or one already running.
enum Subject {
    Lab(LabBroker),
    Running(PathBuf),
}

impl Subject {
    fn socket(&self) -> PathBuf {
        match self {
            Self::Lab(b) => b.socket().to_path_buf(),
            Self::Running(s) => s.clone(),
        }
    }

    fn name(&self) -> String {
        match self {
            Self::Lab(b) => b.name().to_owned(),
            Self::Running(_) => "broker".into(),
        }
    }
}

pub fn run(args: LoadArgs) -> u8 {
    // Every client and every idle connection is a descriptor.
    let _ = broker_conformance::sys::raise_fd_limit();
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return harness(format!("finding this executable: {e}")),
    };
    let lab = match Lab::new(&exe) {
        Ok(lab) => lab,
        Err(e) => return harness(e),
    };
    let subject = match (&args.socket, &args.broker_cmd) {
        (Some(socket), _) => Subject::Running(socket.clone()),
        (None, Some(template)) => match lab.start_command("broker", template) {
            Ok(b) => Subject::Lab(b),
            Err(e) => return harness(e),
        },
        (None, None) => match lab.start_reference(&exe) {
            Ok(b) => Subject::Lab(b),
            Err(e) => return harness(e),
        },
    };
    let (service, version) = match (&args.service, &args.version, args.scenario) {
        (Some(s), Some(v), _) => (s.clone(), v.clone()),
        (_, _, LoadScenario::Refused) => ("nobody-load".to_owned(), "1.0.0".to_owned()),
        (_, _, LoadScenario::Negotiated) => (ECHO_SERVICE.to_owned(), "1.0.0".to_owned()),
    };
    let mut exchange = match Exchange::hello(&service, &version) {
        Ok(e) => e,
        Err(e) => return harness(e),
    };
    let socket = subject.socket();
    // One exchange first: it must work, it launches the backend of a
    // negotiated scenario, and its reply is what the baseline answers.
    if let Err(e) = exchange.run_within(&socket, Instant::now() + FIRST_EXCHANGE_TIMEOUT) {
        return harness(format!("the first exchange with {}: {e}", socket.display()));
    }
    let mut reply =
        broker_conformance::wire::framing::encode_header(exchange.last_reply().len() as u32)
            .to_vec();
    reply.extend_from_slice(exchange.last_reply());
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    let baseline = if args.no_baseline {
        None
    } else {
        match lab.start_raw(&exe, &reply, workers) {
            Ok(raw) => Some(raw),
            Err(e) => return harness(format!("starting the raw baseline: {e}")),
        }
    };
    let duration = Duration::from_secs_f64(args.duration.max(0.1));
    let subject_pid = server_pid(&socket);
    let baseline_pid = baseline.as_ref().and_then(|raw| server_pid(raw.socket()));
    let rss = |pid: Option<u32>| pid.and_then(|p| broker_conformance::sys::resident_bytes(p).ok());
    let mut rows = Vec::new();
    for &clients in &args.clients {
        let config = LoadConfig {
            clients,
            duration,
            overrun: duration,
            request: exchange.request().to_vec(),
        };
        let base = baseline
            .as_ref()
            .map(|raw| (run_load(raw.socket(), &config), rss(baseline_pid)));
        let ours = run_load(&socket, &config);
        let ours_rss = rss(subject_pid);
        let ratio = base
            .as_ref()
            .filter(|(b, _)| b.per_second() > 0.0)
            .map(|(b, _)| ours.per_second() / b.per_second());
        if let Some((base, base_rss)) = base {
            rows.push(Row {
                server: "baseline/raw".into(),
                per_second: base.per_second(),
                report: base,
                throughput_vs_baseline: Some(1.0),
                rss_after: base_rss,
            });
        }
        rows.push(Row {
            server: subject.name(),
            per_second: ours.per_second(),
            report: ours,
            throughput_vs_baseline: ratio,
            rss_after: ours_rss,
        });
    }
    let idle = if args.idle == 0 {
        None
    } else {
        match subject_pid {
            Some(pid) => match measure_idle(
                &socket,
                pid,
                args.idle,
                &mut exchange,
                Instant::now() + Duration::from_secs_f64(args.idle_timeout.max(0.1)),
            ) {
                Ok(report) => Some(report),
                Err(e) => return harness(e),
            },
            None => {
                return harness(format!(
                    "cannot tell the pid listening on {}",
                    socket.display()
                ));
            }
        }
    };
    let scenario = format!("{service} {version}");
    print_report(&scenario, &rows, idle.as_ref());
    let failed: u64 = rows.iter().map(|r| r.report.failed).sum();
    let idle_short = idle.as_ref().is_some_and(|i| i.shortfall.is_some());
    let report = Report {
        scenario,
        rows,
        idle,
    };
    if let Some(path) = &args.json
        && let Err(e) = super::write_json(path, &report)
    {
        return harness(e);
    }
    drop(baseline);
    drop(subject);
    if failed > 0 || idle_short {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

fn print_report(scenario: &str, rows: &[Row], idle: Option<&IdleReport>) {
    println!("load: Hello for {scenario}");
    println!(
        "  {:14} {:>7} {:>12} {:>10} {:>10} {:>10} {:>9} {:>9} {:>7}",
        "server", "clients", "hellos/s", "p50", "p99", "p99.9", "vs raw", "RSS", "failed"
    );
    for row in rows {
        println!(
            "  {:14} {:>7} {:>12.0} {:>10} {:>10} {:>10} {:>9} {:>9} {:>7}",
            row.server,
            row.report.clients,
            row.per_second,
            Micros(row.report.latency.p50).to_string(),
            Micros(row.report.latency.p99).to_string(),
            Micros(row.report.latency.p999).to_string(),
            row.throughput_vs_baseline
                .map_or_else(|| "-".to_owned(), |r| format!("{:.0}%", r * 100.0)),
            row.rss_after.map_or_else(
                || "-".to_owned(),
                |b| format!("{:.1} MiB", b as f64 / (1 << 20) as f64)
            ),
            row.report.failed,
        );
        if let Some(e) = &row.report.first_error {
            println!("      first failure: {e}");
        }
    }
    if let Some(idle) = idle {
        println!(
            "  idle: {} of {} connections held; broker RSS {:.1} MiB -> {:.1} MiB ({:.0} bytes each)",
            idle.held,
            idle.requested,
            idle.rss_before as f64 / (1 << 20) as f64,
            idle.rss_after as f64 / (1 << 20) as f64,
            idle.per_connection()
        );
        if let Some(shortfall) = &idle.shortfall {
            println!("      not done: {shortfall}");
        }
    }
}
