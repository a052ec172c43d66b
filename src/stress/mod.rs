//! `broker-conformance stress`: a robustness storm against a broker
//! (issue 13). Pure parts: the mutation engine ([`mutate`]), the reply
//! invariants ([`invariants`]), findings ([`finding`]); the socket shells
//! run the phases ([`mutations`], [`liveness`]).

pub mod expected;
pub mod finding;
pub mod invariants;
pub mod liveness;
pub mod mutate;
pub mod mutations;
pub mod replay;
pub mod report;
pub mod slow;
pub mod storm;
pub mod storms;

pub use finding::{Evidence, Finding, FindingError, FindingKind, Phase};
pub use invariants::{Violation, check_reply};
pub use mutate::{Mutation, MutationEngine, MutationKind};
