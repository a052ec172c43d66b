//! Running cases against a target: one shared broker for most cases, a
//! fresh one for cases that need it, skips for cases binding another kind
//! of broker and for needs a target lacks, and a gate so `alone` cases
//! never overlap another case.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::time::Instant;

use super::engine::{CaseEnv, run_case};
use super::model::{Binds, Case, CaseResult, Need, SUITE_AUTH_TOKEN, Verdict};
use crate::golden::Corpus;
use crate::testbed::{
    BrokerInstance, FrontDoorPlaces, Provisioner, StartOptions, Target, TargetError, TargetKind,
};

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
    /// The shared broker's places, as cases see them.
    shared_view: InstanceView,
    gate: RwLock<()>,
}

/// Why a case binding `binds` does not run on a `kind` target, if it does not.
pub(crate) fn kind_skip(kind: TargetKind, binds: Option<Binds>) -> Option<String> {
    let runs = matches!(
        (kind, binds),
        (TargetKind::V1, None)
            | (TargetKind::Launching, None | Some(Binds::Launching))
            | (TargetKind::FrontDoor, Some(Binds::FrontDoor))
    );
    let case = binds.map_or("any v1 broker", Binds::name);
    (!runs).then(|| {
        format!(
            "skipped: it binds {case}, and the target is a {} broker (run --kind)",
            kind.name()
        )
    })
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
            shared_view: InstanceView::of(shared.as_ref()),
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
        if let Some(why) = kind_skip(self.target.profile().kind, case.binds) {
            return Some(why);
        }
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
                Need::EventLog if self.shared_view.event_log.is_none() => {
                    "the broker's event log is not known to the runner"
                }
                Need::AuthToken if !caps.auth_tokens => {
                    "the target cannot start a broker that requires an auth token"
                }
                Need::HttpSurface if !caps.http_surface => {
                    "the target's broker serves no v2 HTTP surface or control RPCs"
                }
                Need::BrokerProcess if !caps.processes => {
                    "it needs the broker as a process the runner starts (--broker-cmd); \
                     the built-in one runs in the runner's own process"
                }
                _ => continue,
            };
            return Some(format!("skipped: {missing}"));
        }
        let options = !case.broker_args.is_empty() || !case.broker_env.is_empty();
        (options && !caps.start_options).then(|| {
            "skipped: the target cannot start a broker with extra arguments or environment".into()
        })
    }

    fn env<'a>(
        &'a self,
        instance: &'a dyn BrokerInstance,
        process: Option<&'a Mutex<Box<dyn BrokerInstance>>>,
    ) -> CaseEnv<'a> {
        CaseEnv {
            socket: instance.socket().to_path_buf(),
            event_log: instance.event_log().map(PathBuf::from),
            front_door: instance.front_door().cloned(),
            process,
            target: self.target.as_ref(),
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
                let env = self.env(&self.shared_view, None);
                return run_case(case, &env, self.settings.trace_all);
            }
            let started = Instant::now();
            let extra = StartOptions {
                args: case.broker_args.clone(),
                env: case.broker_env.clone().into_iter().collect(),
            };
            let instance = if auth {
                self.target
                    .start_requiring_token(SUITE_AUTH_TOKEN.as_bytes())
            } else {
                self.target.start_with(&extra)
            };
            match instance {
                Ok(instance) => {
                    let view = InstanceView::of(instance.as_ref());
                    let process = Mutex::new(instance);
                    let env = self.env(&view, Some(&process));
                    let result = run_case(case, &env, self.settings.trace_all);
                    process
                        .into_inner()
                        .unwrap_or_else(|e| e.into_inner())
                        .stop();
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

/// A broker's places, copied: the shared broker as cases see it (never
/// signalled), and a fresh one's while the instance itself is lent to the
/// case's steps.
struct InstanceView {
    socket: PathBuf,
    event_log: Option<PathBuf>,
    front_door: Option<FrontDoorPlaces>,
}

impl InstanceView {
    fn of(instance: &dyn BrokerInstance) -> Self {
        Self {
            socket: instance.socket().to_path_buf(),
            event_log: instance.event_log().map(PathBuf::from),
            front_door: instance.front_door().cloned(),
        }
    }
}

impl BrokerInstance for InstanceView {
    fn socket(&self) -> &std::path::Path {
        &self.socket
    }
    fn event_log(&self) -> Option<&std::path::Path> {
        self.event_log.as_deref()
    }
    fn front_door(&self) -> Option<&FrontDoorPlaces> {
        self.front_door.as_ref()
    }
    fn stop(&mut self) {}
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_runs_the_cases_that_bind_it() {
        use Binds::{FrontDoor, Launching};
        let runs = |kind, binds| kind_skip(kind, binds).is_none();
        assert!(runs(TargetKind::V1, None));
        assert!(!runs(TargetKind::V1, Some(Launching)));
        assert!(!runs(TargetKind::V1, Some(FrontDoor)));
        assert!(runs(TargetKind::Launching, None));
        assert!(runs(TargetKind::Launching, Some(Launching)));
        assert!(!runs(TargetKind::Launching, Some(FrontDoor)));
        assert!(!runs(TargetKind::FrontDoor, None));
        assert!(!runs(TargetKind::FrontDoor, Some(Launching)));
        assert!(runs(TargetKind::FrontDoor, Some(FrontDoor)));
        assert_eq!(
            kind_skip(TargetKind::V1, Some(FrontDoor)).as_deref(),
            Some("skipped: it binds front-door, and the target is a v1 broker (run --kind)")
        );
    }
}
