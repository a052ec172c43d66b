//! Running cases against a target: one shared broker for most cases, a
//! fresh one for cases that need it, skips for needs a target lacks, and a
//! gate so `alone` cases never overlap another case.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::time::Instant;

use super::engine::{CaseEnv, run_case};
use super::model::{Case, CaseResult, Need, SUITE_AUTH_TOKEN, Verdict};
use crate::golden::Corpus;
use crate::testbed::{BrokerInstance, Provisioner, Target, TargetError};

/// How a run is carried out.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Cases run at once.
    pub jobs: usize,
    /// Keep the wire log of every case, not only failures.
    pub trace_all: bool,
    /// The `broker-conformance` executable (runs peers as another uid).
    pub helper_exe: PathBuf,
}

/// Runs single cases against one target, sharing a broker between them.
pub struct CaseRunner {
    target: Arc<dyn Target>,
    provisioner: Arc<Provisioner>,
    goldens: Arc<Corpus>,
    settings: RunSettings,
    shared: Mutex<Option<Box<dyn BrokerInstance>>>,
    socket: PathBuf,
    event_log: Option<PathBuf>,
    gate: RwLock<()>,
}

impl CaseRunner {
    /// Starts the shared broker.
    pub fn start(
        target: Arc<dyn Target>,
        provisioner: Arc<Provisioner>,
        goldens: Arc<Corpus>,
        settings: RunSettings,
    ) -> Result<Self, TargetError> {
        let shared = target.start()?;
        Ok(Self {
            socket: shared.socket().to_path_buf(),
            event_log: shared.event_log().map(PathBuf::from),
            shared: Mutex::new(Some(shared)),
            target,
            provisioner,
            goldens,
            settings,
            gate: RwLock::new(()),
        })
    }

    /// Why `case` cannot run on this target, if it cannot.
    pub fn skip_reason(&self, case: &Case) -> Option<String> {
        let caps = self.target.profile().caps;
        for need in &case.needs {
            let missing = match need {
                Need::FreshBroker if !caps.fresh_brokers => {
                    "the target cannot start a fresh broker"
                }
                Need::Root if crate::sys::euid() != 0 => "it needs root to act as another uid",
                Need::OwnDefinitions if !caps.owns_definitions => {
                    "the runner did not write the target's definitions"
                }
                Need::EventLog if self.event_log.is_none() => {
                    "the broker's event log is not known to the runner"
                }
                Need::AuthToken if !caps.auth_tokens => {
                    "the target cannot start a broker that requires an auth token"
                }
                _ => continue,
            };
            return Some(format!("skipped: {missing}"));
        }
        None
    }

    fn env(&self, socket: PathBuf, event_log: Option<PathBuf>) -> CaseEnv<'_> {
        CaseEnv {
            socket,
            event_log,
            provisioner: &self.provisioner,
            goldens: &self.goldens,
            hello_timeout: self.target.profile().hello_timeout,
            is_reference: self.target.info().is_reference,
            helper_exe: self.settings.helper_exe.clone(),
        }
    }

    /// Runs one case; never panics.
    pub fn run(&self, case: &Case) -> CaseResult {
        if let Some(why) = self.skip_reason(case) {
            return CaseResult::of(case, Verdict::Skip, why);
        }
        let alone = case.needs.contains(&Need::Alone);
        let _read;
        let _write;
        if alone {
            _write = self.gate.write().unwrap_or_else(|e| e.into_inner());
        } else {
            _read = self.gate.read().unwrap_or_else(|e| e.into_inner());
        }
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let auth = case.needs.contains(&Need::AuthToken);
            if !auth && !case.needs.contains(&Need::FreshBroker) {
                let env = self.env(self.socket.clone(), self.event_log.clone());
                return run_case(case, &env, self.settings.trace_all);
            }
            let started = Instant::now();
            let instance = if auth {
                self.target
                    .start_requiring_token(SUITE_AUTH_TOKEN.as_bytes())
            } else {
                self.target.start()
            };
            match instance {
                Ok(mut instance) => {
                    let env = self.env(
                        instance.socket().to_path_buf(),
                        instance.event_log().map(PathBuf::from),
                    );
                    let result = run_case(case, &env, self.settings.trace_all);
                    instance.stop();
                    result
                }
                Err(e) => CaseResult {
                    duration_ms: started.elapsed().as_millis() as u64,
                    ..CaseResult::of(
                        case,
                        Verdict::Error,
                        format!("a fresh broker did not start: {e}"),
                    )
                },
            }
        }));
        outcome.unwrap_or_else(|_| {
            CaseResult::of(
                case,
                Verdict::Error,
                "the harness panicked running this case".into(),
            )
        })
    }

    /// Stops the shared broker and every backend launched from the installations.
    pub fn stop(&self) {
        if let Some(mut shared) = self.shared.lock().ok().and_then(|mut s| s.take()) {
            shared.stop();
        }
        self.provisioner.kill_all_backends();
    }
}

impl Drop for CaseRunner {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `cases` on `jobs` workers and reports each result through
/// `on_result` as it lands (on this thread); returns the results in the
/// order of `cases`.
pub fn run_cases(
    runner: &CaseRunner,
    cases: &[&Case],
    jobs: usize,
    on_result: &mut dyn FnMut(&CaseResult),
) -> Vec<CaseResult> {
    let slots: Mutex<Vec<Option<CaseResult>>> = Mutex::new(vec![None; cases.len()]);
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<usize>();
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            let (tx, next, slots) = (tx.clone(), &next, &slots);
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(case) = cases.get(i) else { break };
                    let result = runner.run(case);
                    if let Ok(mut slots) = slots.lock() {
                        slots[i] = Some(result);
                    }
                    let _ = tx.send(i);
                }
            });
        }
        drop(tx);
        for i in rx {
            let result = slots.lock().ok().and_then(|s| s[i].clone());
            if let Some(result) = result {
                on_result(&result);
            }
        }
    });
    let slots = slots.into_inner().unwrap_or_else(|e| e.into_inner());
    slots
        .into_iter()
        .zip(cases)
        .map(|(r, c)| r.unwrap_or_else(|| CaseResult::of(c, Verdict::Error, "not run".into())))
        .collect()
}
