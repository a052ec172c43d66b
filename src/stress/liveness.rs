//! The liveness check after each phase: a valid Hello (for a service no
//! one defines, so Refused ServiceUnknown is the expected answer) must be
//! answered, correctly, within a bound.

use std::path::Path;
use std::time::{Duration, Instant};

use super::finding::{Evidence, Finding, FindingKind, Phase};
use super::invariants::{check_reply, hello_result, refusal_code};
use crate::perf::exchange::Exchange;
use crate::proto::v1::{ErrorCode, hello_reply};

/// The service the liveness Hello asks for: defined nowhere.
pub(crate) const LIVENESS_SERVICE: &str = "stress-liveness";

/// What one liveness Hello showed.
#[derive(Debug, Clone)]
pub struct Liveness {
    /// How long the answer took, when one came.
    pub latency: Option<Duration>,
    /// What went wrong, if anything.
    pub problem: Option<(String, String)>,
    /// The request sent.
    pub sent: Vec<u8>,
    /// The reply body received.
    pub received: Option<Vec<u8>>,
}

impl Liveness {
    /// The finding this check is, if it failed, as `kind`.
    pub fn finding(&self, at: (u64, Phase, u64), kind: FindingKind) -> Option<Finding> {
        let (clause, message) = self.problem.as_ref()?;
        Some(Finding::new(
            at,
            kind,
            clause,
            message.clone(),
            &Evidence {
                sent: &self.sent,
                half_close: false,
                received: self.received.as_deref(),
            },
        ))
    }
}

impl Liveness {
    /// The refusal code of the reply, when it is a Refused.
    pub fn refusal(&self) -> Option<ErrorCode> {
        refusal_code(self.received.as_deref()?)
    }

    /// Whether the reply is a Negotiated.
    pub fn negotiated(&self) -> bool {
        self.received
            .as_deref()
            .and_then(hello_result)
            .is_some_and(|r| matches!(r, hello_reply::Result::Negotiated(_)))
    }
}

/// One Hello to `socket`, answered within `bound` and obeying ENV-4,
/// REF-1 and REF-2; `timeout_clause` is what a late answer breaks.
pub fn hello_within(socket: &Path, bound: Duration, timeout_clause: &str) -> Liveness {
    hello_for(socket, (LIVENESS_SERVICE, "1.0.0"), bound, timeout_clause)
}

/// [`hello_within`] for a Hello asking for `service` at `version`.
pub(crate) fn hello_for(
    socket: &Path,
    (service, version): (&str, &str),
    bound: Duration,
    timeout_clause: &str,
) -> Liveness {
    let mut exchange = match Exchange::hello(service, version) {
        Ok(exchange) => exchange,
        Err(e) => {
            return Liveness {
                latency: None,
                problem: Some(("ENV-4".into(), format!("building the Hello: {e}"))),
                sent: Vec::new(),
                received: None,
            };
        }
    };
    let started = Instant::now();
    let outcome = exchange.run_within(socket, started + bound);
    let sent = exchange.request().to_vec();
    match outcome {
        Ok(_) => {
            let latency = started.elapsed();
            let received = exchange.last_reply().to_vec();
            let problem = check_reply(&sent, &received)
                .err()
                .map(|v| (v.clause.to_owned(), v.message));
            Liveness {
                latency: Some(latency),
                problem,
                sent,
                received: Some(received),
            }
        }
        Err(e) => Liveness {
            latency: None,
            problem: Some((
                timeout_clause.to_owned(),
                format!("no answer to a valid Hello within {bound:?}: {e}"),
            )),
            sent,
            received: None,
        },
    }
}
