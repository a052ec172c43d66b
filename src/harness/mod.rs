//! The suite as a library harness: one libtest test per case in an
//! implementer's own `cargo test`, with the CLI's failure report,
//! honouring libtest's filters, `--list`, `--ignored` and
//! `--test-threads`.
//!
//! In `tests/conformance.rs` (with `harness = false` for that test):
//!
//! ```no_run
//! use broker_conformance::harness::Harness;
//!
//! fn main() -> std::process::ExitCode {
//!     Harness::command("my-broker --listen {socket} --defs {service_def_dir}")
//!         .expect_failures("conformance/expected/my-broker.toml")
//!         .run_libtest()
//! }
//! ```
//!
//! The test binary is self-sufficient: installed under the name
//! `fake-backend` it is the suite's fake backend, and linked as
//! `broker-conformance` it is the CLI that peers of another uid run
//! ([`Role`]). The suite, goldens and clause catalogue come from the copy
//! embedded in this crate. Nothing starts until the first selected case
//! runs, so `--list` starts no broker.
//!
//! With `BROKER_CONFORMANCE_FAIL_FAST=1` in the environment (or
//! [`Harness::fail_fast`]), the first failing case ends the run: every case
//! not yet started then fails at once without running, the way a
//! mutation-testing loop wants it (`.ci/mutants`).

mod peer;
mod roles;
mod verdicts;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libtest_mimic::{Arguments, Completion, Conclusion, Failed, Trial};

pub use crate::testbed::{BrokerUnderTest, TargetKind};
pub use roles::Role;

use crate::golden::Corpus;
use crate::runner::expected::{ExpectedError, ExpectedFailures, load_expected};
use crate::runner::model::Case;
use crate::runner::report::{ColorChoice, HumanReporter};
use crate::runner::schedule::{CaseRunner, RunSettings};
use crate::runner::suite::{Suite, SuiteError};
use crate::testbed::{TargetError, Testbed, TestbedError, TestbedOptions};

/// The exit code when the harness itself cannot run (as the CLI's `run`).
const EXIT_HARNESS: u8 = 2;

/// Set to `1` to stop at the first failing case (see the module docs).
pub const FAIL_FAST_VAR: &str = "BROKER_CONFORMANCE_FAIL_FAST";

/// Why the harness could not build its tests.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The suite does not load.
    #[error("the conformance suite: {0}")]
    Suite(#[from] SuiteError),
    /// The expected-failure list does not load.
    #[error("the expected-failure list: {0}")]
    Expected(#[from] ExpectedError),
    /// This executable cannot be found (it is the fake backend).
    #[error("finding this test executable: {0}")]
    CurrentExe(std::io::Error),
}

/// Why the testbed did not start (every selected test then fails with it).
#[derive(Debug, thiserror::Error)]
enum StartError {
    /// Setting up the scratch directory, services or target failed.
    #[error(transparent)]
    Testbed(#[from] TestbedError),
    /// The shared broker did not start.
    #[error("{label} could not run: {source}")]
    Target {
        /// The target's name in reports.
        label: String,
        /// The failure.
        source: TargetError,
    },
}

/// The conformance suite against one broker, as libtest tests.
#[derive(Debug, Clone)]
pub struct Harness {
    what: BrokerUnderTest,
    expected: Option<PathBuf>,
    label: Option<String>,
    hello_timeout: Option<Duration>,
    suite_dir: Option<PathBuf>,
    fake_backend: Option<PathBuf>,
    cli: Option<PathBuf>,
    kind: Option<TargetKind>,
    filters: Vec<String>,
    fail_fast: Option<bool>,
    is_reference: bool,
}

impl Harness {
    /// The suite against `what`.
    pub fn new(what: BrokerUnderTest) -> Self {
        Self {
            what,
            expected: None,
            label: None,
            hello_timeout: None,
            suite_dir: None,
            fake_backend: None,
            cli: None,
            kind: None,
            filters: Vec::new(),
            fail_fast: None,
            is_reference: false,
        }
    }

    /// The suite against the built-in reference broker.
    pub fn built_in() -> Self {
        Self::new(BrokerUnderTest::built_in())
    }

    /// The suite against brokers started from `template` (`{socket}`,
    /// `{service_def_dir}` and `{event_log}` are substituted).
    pub fn command(template: impl Into<String>) -> Self {
        Self::new(BrokerUnderTest::command(template))
    }

    /// The suite against the broker listening at `socket`, reading `definitions`.
    pub fn endpoint(socket: impl Into<PathBuf>, definitions: impl Into<PathBuf>) -> Self {
        Self::new(BrokerUnderTest::endpoint(socket, definitions))
    }

    /// Holds the broker to this expected-failure list (strict both ways:
    /// a listed case that passes fails).
    pub fn expect_failures(mut self, path: impl Into<PathBuf>) -> Self {
        self.expected = Some(path.into());
        self
    }

    /// The implementation's name in reports.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// The Hello deadline of the brokers under test (FRM-9).
    pub fn hello_timeout(mut self, timeout: Duration) -> Self {
        self.hello_timeout = Some(timeout);
        self
    }

    /// The command starts this crate's reference broker (`broker-conformance
    /// serve`): its REF cases count as MUST, as they do for the built-in one.
    pub fn reference(mut self, on: bool) -> Self {
        self.is_reference = on;
        self
    }

    /// Keeps only cases whose id contains `filter` or that cite it as a
    /// clause (repeatable: a case any filter selects stays), before
    /// libtest's own filters apply.
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.filters.push(filter.into());
        self
    }

    /// Reads the suite from this directory instead of the embedded copy.
    pub fn suite_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.suite_dir = Some(dir.into());
        self
    }

    /// Installs this executable as the fake backend instead of the test binary.
    pub fn fake_backend(mut self, exe: impl Into<PathBuf>) -> Self {
        self.fake_backend = Some(exe.into());
        self
    }

    /// Judges the broker as this kind: its cases run, the others are
    /// ignored with the reason [default: launching for the built-in
    /// reference broker, v1 otherwise]. [`TargetKind::FrontDoor`] with
    /// [`Harness::built_in`] starts the reference front door from the CLI
    /// (see [`Harness::cli`]).
    pub fn kind(mut self, kind: TargetKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// The `broker-conformance` executable: it runs the reference front
    /// door (`serve --v2`) and peers of another uid [default: this test
    /// binary, which plays only the peer]. In an integration test:
    /// `env!("CARGO_BIN_EXE_broker-conformance")`.
    pub fn cli(mut self, exe: impl Into<PathBuf>) -> Self {
        self.cli = Some(exe.into());
        self
    }

    /// Stops at the first failing case: cases not yet started fail without
    /// running [default: on when `BROKER_CONFORMANCE_FAIL_FAST=1`].
    pub fn fail_fast(mut self, on: bool) -> Self {
        self.fail_fast = Some(on);
        self
    }

    /// Runs as a libtest harness with this process's arguments; plays
    /// its [`Role`] instead when invoked under a role's name.
    pub fn run_libtest(self) -> ExitCode {
        if let Some(role) = Role::of_this_process() {
            return role.run();
        }
        match self.run_with(&Arguments::from_args()) {
            Ok(conclusion) => conclusion.exit_code(),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_HARNESS)
            }
        }
    }

    /// Runs the cases `args` selects, one libtest test each.
    pub fn run_with(self, args: &Arguments) -> Result<Conclusion, HarnessError> {
        let session = Arc::new(self.session()?);
        let conclusion = libtest_mimic::run(args, session.trials());
        if let Some(Ok(started)) = session.started.get() {
            started.runner.stop();
        }
        Ok(conclusion)
    }

    fn session(self) -> Result<Session, HarnessError> {
        let suite = match &self.suite_dir {
            Some(dir) => Suite::load_dir(dir)?,
            None => Suite::embedded()?,
        };
        let expected = self.expected.as_deref().map(load_expected).transpose()?;
        let exe = std::env::current_exe().map_err(HarnessError::CurrentExe)?;
        Ok(Session {
            reporter: HumanReporter::new(std::io::sink(), ColorChoice::Never, &suite),
            suite,
            expected,
            options: TestbedOptions {
                label: self.label,
                hello_timeout: self.hello_timeout,
                definitions: None,
                fake_backend: self.fake_backend.unwrap_or_else(|| exe.clone()),
                kind: self.kind,
                cli: self.cli.unwrap_or(exe),
                is_reference: self.is_reference,
            },
            what: self.what,
            filters: self.filters,
            fail_fast: self
                .fail_fast
                .unwrap_or_else(|| std::env::var_os(FAIL_FAST_VAR).is_some_and(|v| v == "1")),
            failed: AtomicBool::new(false),
            started: OnceLock::new(),
        })
    }
}

/// Everything the tests share; the testbed starts with the first test run.
struct Session {
    suite: Suite,
    expected: Option<ExpectedFailures>,
    reporter: HumanReporter<std::io::Sink>,
    what: BrokerUnderTest,
    filters: Vec<String>,
    options: TestbedOptions,
    /// Stop at the first failure.
    fail_fast: bool,
    /// A case failed (consulted only with `fail_fast`).
    failed: AtomicBool,
    started: OnceLock<Result<Started, StartError>>,
}

/// A running testbed. Fields drop in order: the runner before its testbed.
struct Started {
    runner: CaseRunner,
    _testbed: Testbed,
}

impl Session {
    fn trials(self: &Arc<Self>) -> Vec<Trial> {
        let mut trials: Vec<Trial> = self
            .suite
            .selected(&self.filters)
            .into_iter()
            .map(|case| {
                let (session, case) = (Arc::clone(self), case.clone());
                let kind = case.level.to_string();
                Trial::ignorable_test(case.id.clone(), move || session.run(&case)).with_kind(kind)
            })
            .collect();
        if self.expected.is_some() {
            let session = Arc::clone(self);
            trials.push(
                Trial::test("expected-failures", move || session.check_list()).with_kind("list"),
            );
        }
        trials
    }

    fn start(&self) -> Result<Started, StartError> {
        let testbed = Testbed::set_up(&self.what, &self.suite.services, &self.options)?;
        let settings = RunSettings {
            jobs: 1,
            trace_all: false,
            helper_exe: testbed.peer_cli().to_path_buf(),
        };
        let runner = CaseRunner::start(
            testbed.target(),
            testbed.provisioner(),
            Arc::new(Corpus::embedded()),
            settings,
        )
        .map_err(|source| StartError::Target {
            label: testbed.target().info().label,
            source,
        })?;
        Ok(Started {
            runner,
            _testbed: testbed,
        })
    }

    fn run(&self, case: &Case) -> Result<Completion, Failed> {
        if self.fail_fast && self.failed.load(Ordering::Relaxed) {
            return Err(Failed::from(format!(
                "not run: an earlier case failed ({FAIL_FAST_VAR})"
            )));
        }
        let outcome = self.run_case(case);
        if outcome.is_err() {
            self.failed.store(true, Ordering::Relaxed);
        }
        outcome
    }

    fn run_case(&self, case: &Case) -> Result<Completion, Failed> {
        let started = self
            .started
            .get_or_init(|| self.start())
            .as_ref()
            .map_err(|e| Failed::from(format!("the testbed did not start: {e}")))?;
        let mut result = started.runner.run(case);
        if let Some(list) = &self.expected {
            list.apply_to(&mut result);
        }
        verdicts::outcome(&result, &self.reporter)
    }

    /// Problems of the expected-failure list itself (unknown ids, repeats,
    /// missing reasons).
    fn check_list(&self) -> Result<(), Failed> {
        let problems = self
            .expected
            .as_ref()
            .map(|l| l.problems(&self.suite))
            .unwrap_or_default();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Failed::from(problems.join("\n")))
        }
    }
}
