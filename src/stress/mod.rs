//! `broker-conformance stress`: a robustness storm against a broker.
//! Pure parts: the mutation engine (`mutate`), the reply
//! invariants (`invariants`), findings (`finding`); the socket shells
//! run the phases (`mutations`, `slow`, `storms`, `liveness`) and
//! `storm` runs them in order; `expected` holds known findings,
//! `report` renders, [`replay`] re-runs a finding.

pub(crate) mod expected;
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
#[cfg(unix)]
pub(crate) mod slow;
#[cfg(unix)]
pub(crate) mod storm;
#[cfg(unix)]
pub(crate) mod storms;

pub use expected::ExpectedFindings;
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
#[cfg(unix)]
pub use slow::SlowConfig;
#[cfg(unix)]
pub use storm::{StormConfig, run_storm};
#[cfg(unix)]
pub use storms::StormsConfig;
