//! `broker-conformance stress`: a robustness storm against a broker — the
//! built-in reference broker by default, one started from `--broker-cmd`,
//! or one already running at `--socket`. The phases live in
//! `broker_conformance::stress`; this is the shell: arguments, target, output, exit code.

use super::target::TargetArgs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use super::{EXIT_FAILED, EXIT_HARNESS, EXIT_OK};
use broker_conformance::golden::Corpus;
use broker_conformance::stress::ExpectedFindings;
use broker_conformance::stress::MutationEngine;
use broker_conformance::stress::MutationsConfig;
use broker_conformance::stress::SlowConfig;
use broker_conformance::stress::StormsConfig;
use broker_conformance::stress::{
    BackendFaultsConfig, DEFAULT_FD_HEADROOM, FdExhaustionConfig, ResourceBounds, RestartConfig,
    fault_services,
};
use broker_conformance::stress::{Finding, Phase};
use broker_conformance::stress::{ReplayBounds, replay};
use broker_conformance::stress::{StormBroker, StormConfig, run_storm};
use broker_conformance::stress::{render_finding, render_junit, render_summary};
use broker_conformance::testbed::{
    BrokerInstance, BrokerUnderTest, CLI_NAME, TargetInfo, Testbed, TestbedOptions,
};

/// The seed when none is given: every default storm sends the same bytes.
pub const DEFAULT_SEED: u64 = 0x5eed;

/// The Hello deadline the built-in broker gets: short, so the slow phase
/// sees held connections closed (FRM-9) within seconds, yet long enough
/// to open thousands of them first.
const BUILT_IN_STRESS_HELLO_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Args)]
pub struct StressArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// The seed every mutation derives from.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// The phases, in order.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Phase::ALL)]
    phases: Vec<Phase>,
    /// Mutated frames the mutations phase sends.
    #[arg(long, default_value_t = 100_000)]
    mutations: u64,
    /// Concurrent connections of the mutations phase and threads of the storms.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Connections the slow phase holds with part of a frame.
    #[arg(long, default_value_t = 1_000)]
    slow: u64,
    /// Hellos the slow phase sends while they are held (FRM-13).
    #[arg(long, default_value_t = 5)]
    probes: u64,
    /// Connections of each storm (connect-and-close, connect-and-half-close).
    #[arg(long, default_value_t = 10_000)]
    storm: u64,
    /// Connections held at once by the burst: above the broker's connection
    /// limit (the reference's is 16 384).
    #[arg(long, default_value_t = 16_512)]
    burst: u64,
    /// Bound on a connect and on a reply the spec owes, in ms.
    #[arg(long, value_name = "MS", default_value_t = 2_000)]
    reply_timeout_ms: u64,
    /// Bound on the liveness Hello after each phase and the slow phase's probes, in ms.
    #[arg(long, value_name = "MS", default_value_t = 2_000)]
    liveness_ms: u64,
    /// The broker's Hello deadline (FRM-9); brokers started here get it
    /// [default: 5000 built-in, 30000 otherwise].
    #[arg(long, value_name = "MS")]
    hello_timeout_ms: Option<u64>,
    /// Slack on the Hello deadline before a held connection is a finding, in ms.
    #[arg(long, value_name = "MS", default_value_t = 2_000)]
    slack_ms: u64,
    /// Findings this implementation is known to have (TOML; strict: stale entries fail).
    #[arg(long, value_name = "FILE")]
    expect_findings: Option<PathBuf>,
    /// Write the report as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the report as JUnit XML.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Re-run one finding (a finding's JSON, or a `--json` report with
    /// --finding) and say whether it reproduces (exit 1 it does, 0 not).
    #[arg(long, value_name = "FILE")]
    replay: Option<PathBuf>,
    /// Which finding of a report --replay re-runs (from 0).
    #[arg(long, default_value_t = 0, requires = "replay")]
    finding: usize,
    /// The fake-backend executable to install [default: this program].
    #[arg(long, value_name = "PATH")]
    fake_backend: Option<PathBuf>,
    /// fd-exhaustion: descriptors the broker may open beyond those open
    /// when the phase starts (its RLIMIT_NOFILE is lowered to that).
    #[arg(long, default_value_t = DEFAULT_FD_HEADROOM)]
    fd_headroom: u64,
    /// backend-faults: rounds through every faulty behaviour.
    #[arg(long, default_value_t = 2)]
    fault_rounds: u64,
    /// backend-faults: bound on the answer to one launching Hello, in ms.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    launch_timeout_ms: u64,
    /// restart: SIGKILLs, each followed by a start on the same socket path.
    #[arg(long, default_value_t = 1)]
    restarts: u64,
    /// Accounting: open descriptors a phase may leave behind.
    #[arg(long, default_value_t = 16)]
    max_fd_growth: u64,
    /// Accounting: threads a phase may leave behind.
    #[arg(long, default_value_t = 8)]
    max_thread_growth: u64,
    /// Accounting: resident memory a phase may leave behind, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    max_rss_growth_mib: u64,
    /// Accounting: how long after a phase its resources may take to come
    /// back within bounds, in ms [default: the Hello deadline plus slack,
    /// by when the broker must have closed every held connection].
    #[arg(long, value_name = "MS")]
    settle_ms: Option<u64>,
}

fn harness(message: impl std::fmt::Display) -> u8 {
    eprintln!("error: {message}");
    EXIT_HARNESS
}

/// The broker under test, started: stopped when dropped.
struct Started {
    instance: Box<dyn BrokerInstance>,
    info: TargetInfo,
    _testbed: Testbed,
}

impl Drop for Started {
    fn drop(&mut self) {
        self.instance.stop();
    }
}

/// The built-in reference broker as a process of its own (`serve`), so
/// that the process phases and the accounting see it apart from the
/// storm's own connections.
fn built_in_command(exe: &Path) -> String {
    format!(
        "'{}' serve --socket {{socket}} --service-def-dir {{service_def_dir}} --stop-backends-on-exit",
        exe.display()
    )
}

fn start(args: &StressArgs, what: &BrokerUnderTest, deadline: Duration) -> Result<Started, String> {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from(CLI_NAME));
    let built_in = *what == BrokerUnderTest::BuiltIn;
    let what = if built_in {
        BrokerUnderTest::command(built_in_command(&exe))
    } else {
        what.clone()
    };
    let options = TestbedOptions {
        label: args
            .target
            .label
            .clone()
            .or_else(|| built_in.then(|| "reference".to_owned())),
        hello_timeout: Some(deadline),
        definitions: args.target.service_def_dir.clone(),
        fake_backend: args.fake_backend.clone().unwrap_or_else(|| exe.clone()),
        kind: None,
        cli: exe,
        is_reference: built_in,
    };
    let services = fault_services();
    let testbed = Testbed::set_up(&what, &services, &options).map_err(|e| e.to_string())?;
    let target = testbed.target();
    let instance = target.start().map_err(|e| e.to_string())?;
    let mut info = target.info();
    if built_in {
        info.kind = "built-in".into();
        info.command = None;
    }
    Ok(Started {
        instance,
        info,
        _testbed: testbed,
    })
}

/// Runs the storm, or the replay; exit 0 clean, 1 findings, 2 could not run.
pub fn run(args: StressArgs) -> u8 {
    // Every held connection is a descriptor (the built-in broker's too).
    let _ = broker_conformance::sys::raise_fd_limit();
    let what = args.target.broker_under_test();
    let deadline = args.hello_timeout_ms.map_or(
        match what {
            BrokerUnderTest::BuiltIn => BUILT_IN_STRESS_HELLO_TIMEOUT,
            _ => broker_conformance::testbed::SPEC_HELLO_TIMEOUT,
        },
        Duration::from_millis,
    );
    let expected = match &args.expect_findings {
        Some(path) => match ExpectedFindings::load(path) {
            Ok(list) => list,
            Err(e) => return harness(e),
        },
        None => ExpectedFindings::default(),
    };
    let replayed = match &args.replay {
        Some(path) => match Finding::read(path, args.finding) {
            Ok(f) => Some(f),
            Err(e) => return harness(e),
        },
        None => None,
    };
    let mut started = match start(&args, &what, deadline) {
        Ok(s) => s,
        Err(e) => return harness(format!("starting the broker: {e}")),
    };
    let socket = started.instance.socket().to_path_buf();
    let reply_timeout = Duration::from_millis(args.reply_timeout_ms.max(1));
    let liveness_bound = Duration::from_millis(args.liveness_ms.max(1));
    let slack = Duration::from_millis(args.slack_ms);
    let engine = match MutationEngine::new(args.seed, &Corpus::embedded()) {
        Ok(engine) => engine,
        Err(e) => return harness(e),
    };
    let config = storm_config(&args, deadline, liveness_bound);
    let target = started.info.clone();
    if let Some(finding) = replayed {
        let bounds = ReplayBounds {
            reply_timeout: liveness_bound.max(reply_timeout),
            hello_deadline: deadline,
            slack,
        };
        let mut rerun = |phase: Phase| {
            let config = StormConfig {
                phases: vec![phase],
                ..config.clone()
            };
            let broker = StormBroker {
                socket: socket.clone(),
                process: Some(started.instance.as_mut()),
            };
            run_storm(broker, &engine, &config, target.clone(), &|_, _| {}).findings
        };
        return run_replay(&socket, &finding, bounds, &mut rerun);
    }
    let first = broker_conformance::stress::hello_within(&socket, liveness_bound, "FRM-13");
    if let Some((clause, message)) = &first.problem {
        return harness(format!(
            "the broker does not answer a valid Hello before the storm ({clause}): {message}"
        ));
    }
    let broker = StormBroker {
        socket: socket.clone(),
        process: Some(started.instance.as_mut()),
    };
    let report = run_storm(broker, &engine, &config, target, &|phase, n| {
        if n == 0 {
            println!("{}: started", phase.name());
        } else {
            println!("{}: {n} done", phase.name());
        }
    });
    drop(started);
    let judged = expected.judge(&report.findings);
    print!("{}", render_summary(&report));
    for (i, f) in report.findings.iter().enumerate() {
        let is_expected = judged.expected.iter().any(|e| std::ptr::eq(*e, f));
        print!("{}", render_finding(i, f, is_expected));
    }
    for stale in &judged.stale {
        println!(
            "stale expected finding: {} {} {} ({})",
            stale.phase.name(),
            stale.kind.name(),
            stale.clause,
            stale.reason
        );
    }
    if let Some(path) = &args.json
        && let Err(e) = super::write_json(path, &report)
    {
        return harness(e);
    }
    if let Some(path) = &args.junit
        && let Err(e) = std::fs::write(path, render_junit(&report, &judged))
    {
        return harness(format!("writing {}: {e}", path.display()));
    }
    let total: u64 = report.phases.iter().map(|p| p.findings).sum();
    println!(
        "stress: {total} finding(s), {} expected, {} unexpected, {} stale expectation(s), {} not kept",
        judged.expected.len(),
        judged.unexpected.len(),
        judged.stale.len(),
        total.saturating_sub(report.findings.len() as u64),
    );
    // Findings past those kept cannot be matched against the list: they fail.
    let unlisted = total.saturating_sub(report.findings.len() as u64);
    if judged.is_clean() && unlisted == 0 {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// What the flags ask of each phase.
fn storm_config(args: &StressArgs, deadline: Duration, liveness_bound: Duration) -> StormConfig {
    let reply_timeout = Duration::from_millis(args.reply_timeout_ms.max(1));
    let slack = Duration::from_millis(args.slack_ms);
    let launch_timeout = Duration::from_millis(args.launch_timeout_ms.max(1));
    StormConfig {
        phases: args.phases.clone(),
        mutations: MutationsConfig {
            count: args.mutations,
            connections: args.connections,
            reply_timeout,
        },
        slow: SlowConfig {
            connections: args.slow,
            probes: args.probes,
            bound: liveness_bound,
            hello_deadline: deadline,
            slack,
        },
        storms: StormsConfig {
            count: args.storm,
            threads: args.connections,
            burst: args.burst,
            connect_timeout: Duration::from_millis(100),
        },
        fd_exhaustion: FdExhaustionConfig {
            headroom: args.fd_headroom.max(1),
            reply_timeout,
            recovery: deadline + slack,
        },
        backend_faults: BackendFaultsConfig {
            rounds: args.fault_rounds,
            launch_timeout,
            reap_timeout: launch_timeout,
        },
        restart: RestartConfig {
            restarts: args.restarts,
            threads: 4,
            answered_before_kill: 20,
            bound: launch_timeout,
        },
        resources: ResourceBounds {
            fds: args.max_fd_growth,
            threads: args.max_thread_growth,
            rss_kib: args.max_rss_growth_mib.saturating_mul(1024),
        },
        settle: args
            .settle_ms
            .map_or(deadline + slack, Duration::from_millis),
        liveness_bound,
    }
}

fn run_replay(
    socket: &Path,
    finding: &Finding,
    bounds: ReplayBounds,
    rerun: &mut dyn FnMut(Phase) -> Vec<Finding>,
) -> u8 {
    println!(
        "replay: {} {} {} (seed {}, index {})",
        finding.phase.name(),
        finding.kind.name(),
        finding.clause,
        finding.seed,
        finding.index
    );
    match replay(socket, finding, bounds, rerun) {
        Ok(r) if r.reproduced => {
            println!("reproduced: {}", r.detail);
            EXIT_FAILED
        }
        Ok(r) => {
            println!("not reproduced: {}", r.detail);
            EXIT_OK
        }
        Err(e) => harness(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: StressArgs,
    }

    fn config(flags: &[&str]) -> StormConfig {
        let argv = std::iter::once("stress").chain(flags.iter().copied());
        let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{flags:?}: {e}"));
        storm_config(&cli.args, Duration::from_secs(30), Duration::from_secs(2))
    }

    #[test]
    fn accounting_settles_by_the_hello_deadline_plus_slack_unless_told() {
        assert_eq!(config(&[]).settle, Duration::from_secs(32));
        assert_eq!(
            config(&["--slack-ms", "500"]).settle,
            Duration::from_millis(30_500)
        );
        assert_eq!(
            config(&["--settle-ms", "3000"]).settle,
            Duration::from_secs(3)
        );
    }
}
