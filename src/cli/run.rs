//! `broker-conformance run`: the suite against a broker — the built-in
//! reference broker by default, one started from `--broker-cmd`, or one
//! already running at `--socket`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};

use super::target::TargetArgs;
use super::{EXIT_FAILED, EXIT_HARNESS, EXIT_OK};
use broker_conformance::env::ProcessEnv;
use broker_conformance::golden::Corpus;
use broker_conformance::runner::Suite;
use broker_conformance::runner::load_expected;
use broker_conformance::runner::{Case, RunReport, Verdict};
use broker_conformance::runner::{CaseRunner, RunSettings, run_cases};
use broker_conformance::runner::{
    ColorChoice, HumanReporter, RunObserver, write_json_file, write_junit_file,
};
use broker_conformance::testbed::{CLI_NAME, TargetKind, Testbed, TestbedOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    /// Colour when writing to a terminal and NO_COLOR is unset.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// The role of the broker under test: it picks the cases that bind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// A v1 broker: the v1 cases.
    V1,
    /// A v2-capable launching broker: the v1 and the launching cases.
    Launching,
    /// A v2 front door: the front-door cases (without --broker-cmd, the
    /// reference front door `broker-conformance serve --v2 --program {program}`).
    FrontDoor,
}

impl KindArg {
    fn kind(self) -> TargetKind {
        match self {
            Self::V1 => TargetKind::V1,
            Self::Launching => TargetKind::Launching,
            Self::FrontDoor => TargetKind::FrontDoor,
        }
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// The role of the broker under test; cases binding another kind are
    /// skipped with the reason [default: launching for the built-in
    /// reference broker, v1 for --broker-cmd and --socket].
    #[arg(long, value_enum)]
    kind: Option<KindArg>,
    /// Expected failures of this implementation (strict: stale entries fail the run).
    #[arg(long, value_name = "FILE")]
    expect_fail: Option<PathBuf>,
    /// Run only cases whose id contains this text, or that cite this clause (repeatable).
    #[arg(long)]
    filter: Vec<String>,
    /// Run exactly this case (with --trace: its whole wire log).
    #[arg(long, value_name = "ID")]
    case: Option<String>,
    /// List the selected cases and exit.
    #[arg(long)]
    list: bool,
    /// Show the wire log of every case, not only failures.
    #[arg(long)]
    trace: bool,
    /// Write the results as JSON (input to `broker-conformance report`).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the results as JUnit XML.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Cases run at once.
    #[arg(long, default_value_t = 8)]
    jobs: usize,
    /// The Hello deadline of brokers the runner starts (sets
    /// RUNNING_PROCESS_BROKER_HELLO_TIMEOUT_MS), or of the broker at
    /// --socket [default: 1000 built-in, 3000 --broker-cmd, 30000 --socket].
    #[arg(long, value_name = "MS")]
    hello_timeout_ms: Option<u64>,
    /// The fake-backend executable to install [default: this program, which runs as the fake backend when so named].
    #[arg(long, value_name = "PATH")]
    fake_backend: Option<PathBuf>,
    /// Read the suite from this directory [default: ./conformance, else the embedded copy].
    #[arg(long, value_name = "DIR")]
    suite: Option<PathBuf>,
    /// The --broker-cmd starts this crate's reference broker (`broker-conformance serve`): REF
    /// cases count as MUST for it, as for the built-in one, instead of as `info`.
    #[arg(long)]
    reference: bool,
    /// Keep the runner's scratch directory (installations, broker logs) and print where.
    #[arg(long)]
    keep: bool,
    /// Colour.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    color: ColorArg,
}

fn harness(message: impl std::fmt::Display) -> u8 {
    eprintln!("error: {message}");
    EXIT_HARNESS
}

fn load_suite(dir: Option<&Path>) -> Result<Suite, String> {
    super::lint::load_suite(dir).map_err(|e| e.to_string())
}

/// Cases selected by --case and --filter.
fn select<'s>(suite: &'s Suite, args: &RunArgs) -> Result<Vec<&'s Case>, String> {
    if let Some(id) = &args.case {
        return suite
            .case(id)
            .map(|c| vec![c])
            .ok_or_else(|| format!("no case {id:?} in {}", suite.source));
    }
    Ok(suite.selected(&args.filter))
}

/// The executable installed as each service's backend: `--fake-backend`,
/// else this very program (installed under the name `fake-backend`, it
/// runs as the fake backend), so nothing else has to be built.
fn fake_backend_path(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| std::env::current_exe().ok())
        .unwrap_or_else(|| PathBuf::from("fake-backend"))
}

/// Runs the suite; exit 0 passed, 1 conformance failure, 2 the harness or target could not run.
pub fn run(args: RunArgs) -> u8 {
    let suite = match load_suite(args.suite.as_deref()) {
        Ok(suite) => suite,
        Err(e) => return harness(e),
    };
    let cases = match select(&suite, &args) {
        Ok(cases) => cases,
        Err(e) => return harness(e),
    };
    if args.list {
        for case in &cases {
            println!(
                "{:<44} {:<6} {:<24} {}",
                case.id,
                case.level,
                case.clauses.join(","),
                case.summary
            );
        }
        return EXIT_OK;
    }
    let expected = match &args.expect_fail {
        Some(path) => match load_expected(path) {
            Ok(list) => Some(list),
            Err(e) => return harness(e),
        },
        None => None,
    };
    let goldens = match Corpus::default_location() {
        Ok(corpus) => Arc::new(corpus),
        Err(e) => return harness(e),
    };
    let what = args.target.broker_under_test();
    let options = TestbedOptions {
        label: args.target.label.clone(),
        hello_timeout: args.hello_timeout_ms.map(Duration::from_millis),
        definitions: args.target.service_def_dir.clone(),
        fake_backend: fake_backend_path(args.fake_backend.as_deref()),
        kind: args.kind.map(KindArg::kind),
        cli: std::env::current_exe().unwrap_or_else(|_| PathBuf::from(CLI_NAME)),
        is_reference: args.reference,
    };
    let testbed = match Testbed::set_up(&what, &suite.services, &options) {
        Ok(testbed) => testbed,
        Err(e) => return harness(e),
    };
    let target = testbed.target();
    let info = target.info();
    let settings = RunSettings {
        jobs: args.jobs,
        trace_all: args.trace,
        helper_exe: testbed.peer_cli().to_path_buf(),
    };
    let color = match args.color {
        ColorArg::Always => ColorChoice::Always,
        ColorArg::Never => ColorChoice::Never,
        ColorArg::Auto => ColorChoice::auto(&ProcessEnv, std::io::stdout().is_terminal()),
    };
    let mut reporter = HumanReporter::new(std::io::stdout(), color, &suite).with_trace(args.trace);
    let started_at = broker_conformance::sys::unix_now_ms();
    let clock = Instant::now();
    let runner = match CaseRunner::start(target, testbed.provisioner(), goldens, settings) {
        Ok(runner) => runner,
        Err(e) => return harness(format!("{} could not run: {e}", info.label)),
    };
    reporter.started(&info, cases.len());
    let mut results = run_cases(&runner, &cases, args.jobs, &mut |result| {
        let mut result = result.clone();
        if let Some(list) = &expected {
            list.apply_to(&mut result);
        }
        reporter.finished_case(&result);
    });
    runner.stop();
    drop(runner);
    if let Some(list) = &expected {
        results.iter_mut().for_each(|r| list.apply_to(r));
    }
    // Problems of the list itself (unknown ids, repeats, missing reasons)
    // hold whatever was selected.
    let problems = expected
        .as_ref()
        .map(|l| l.problems(&suite))
        .unwrap_or_default();
    let report = RunReport {
        schema_version: broker_conformance::runner::REPORT_SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        target: info,
        started_at_unix_ms: started_at,
        duration_ms: clock.elapsed().as_millis() as u64,
        cases: results,
    };
    reporter.finished(&report, &problems);
    for (flag, write) in [
        (&args.json, write_json_file as fn(&RunReport, &Path) -> _),
        (&args.junit, write_junit_file as fn(&RunReport, &Path) -> _),
    ] {
        if let Some(path) = flag
            && let Err(e) = write(&report, path)
        {
            return harness(e);
        }
    }
    if args.keep {
        let kept = testbed.keep();
        eprintln!("kept the scratch directory {}", kept.display());
    }
    let failed = !problems.is_empty()
        || report
            .cases
            .iter()
            .any(|c| matches!(c.verdict, Verdict::Fail | Verdict::UnexpectedPass));
    if failed {
        EXIT_FAILED
    } else if report.cases.iter().any(|c| c.verdict == Verdict::Error) {
        EXIT_HARNESS
    } else {
        EXIT_OK
    }
}
