//! `broker-conformance stress`: a robustness storm against a broker
//! (issue 13). Pure parts: the mutation engine ([`mutate`]), the reply
//! invariants ([`invariants`]), findings ([`finding`]); the socket shells
//! run the phases ([`mutations`], [`slow`], [`storms`], [`liveness`]) and
//! [`storm`] runs them in order; [`expected`] holds known findings,
//! [`report`] renders, [`replay`] re-runs a finding.

pub mod expected;
pub mod finding;
pub mod invariants;
#[cfg(unix)]
pub mod liveness;
pub mod mutate;
#[cfg(unix)]
pub mod mutations;
#[cfg(unix)]
pub mod replay;
#[cfg(unix)]
pub mod report;
#[cfg(unix)]
pub mod slow;
#[cfg(unix)]
pub mod storm;
#[cfg(unix)]
pub mod storms;

pub use finding::{Evidence, Finding, FindingError, FindingKind, Phase};
pub use invariants::{Violation, check_reply};
pub use mutate::{Mutation, MutationEngine, MutationKind};
