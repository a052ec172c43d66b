//! `broker-conformance stress`: a robustness storm against a broker.
//! Pure parts: the mutation engine (`mutate`), the reply
//! invariants (`invariants`), findings (`finding`), the judging of
//! resource growth (`resources`); the socket and process shells run the
//! phases (`mutations`, `slow`, `storms`, `fd_exhaustion`,
//! `backend_faults`, `restart`, `liveness`) and `storm` runs them in order; `expected` holds known findings,
//! `report` renders, [`replay`] re-runs a finding.

#[cfg(unix)]
pub(crate) mod backend_faults;
pub(crate) mod expected;
#[cfg(unix)]
pub(crate) mod fd_exhaustion;
pub(crate) mod finding;
pub(crate) mod invariants;
#[cfg(unix)]
pub(crate) mod liveness;
pub(crate) mod mutate;
#[cfg(unix)]
pub(crate) mod mutations;
#[cfg(unix)]
pub(crate) mod replay;
#[cfg(unix)]
pub(crate) mod report;
pub(crate) mod resources;
#[cfg(unix)]
pub(crate) mod restart;
#[cfg(unix)]
pub(crate) mod slow;
#[cfg(unix)]
pub(crate) mod storm;
#[cfg(unix)]
pub(crate) mod storms;

#[cfg(unix)]
pub use backend_faults::{BackendFaultsConfig, fault_services};
pub use expected::ExpectedFindings;
#[cfg(unix)]
pub use fd_exhaustion::{DEFAULT_FD_HEADROOM, FdExhaustionConfig};
pub use finding::{Evidence, Finding, FindingError, FindingKind, Phase};
pub use invariants::{Violation, check_reply};
#[cfg(unix)]
pub use liveness::hello_within;
pub use mutate::{Mutation, MutationEngine, MutationKind};
#[cfg(unix)]
pub use mutations::MutationsConfig;
#[cfg(unix)]
pub use replay::{ReplayBounds, replay};
#[cfg(unix)]
pub use report::{render_finding, render_junit, render_summary};
pub use resources::{ResourceBounds, ResourceDelta, ResourceSample, judge_growth};
#[cfg(unix)]
pub use restart::RestartConfig;
#[cfg(unix)]
pub use slow::SlowConfig;
#[cfg(unix)]
pub use storm::{StormBroker, StormConfig, run_storm};
#[cfg(unix)]
pub use storms::StormsConfig;
