//! The fake backend's behaviours, and how a launch picks one: from the
//! service name (`fake-<behavior>`) or the wanted version's pre-release
//! tag with dots for dashes (`1.0.0-bind.late`), so any broker can launch
//! it without extra arguments.

use std::fmt;
use std::str::FromStr;

/// What a fake backend does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Behavior {
    /// Answers the probe truthfully and echoes every request.
    Echo,
    /// Exits with status 3 before doing anything.
    CrashAtStart,
    /// Crashes like `crash-at-start` on every launch of its installation
    /// but the third, which echoes (REG-3: a success resets the budget).
    Flaky,
    /// Never listens or answers: the probe times out.
    NeverBind,
    /// Starts serving only after 2 s, far past the 500 ms probe bound.
    BindLate,
    /// Claims another pid in the probe reply.
    LiePid,
    /// Claims another executable hash.
    LieHash,
    /// Claims another boot id.
    LieBootId,
    /// Claims another endpoint path.
    LieEndpoint,
    /// Re-executes itself from a byte copy beside it and claims the file it
    /// was launched as: every claim of the probe holds, but
    /// `/proc/<pid>/exe` is another file (PRB-5).
    LieExe,
    /// Writes its probe reply in three pieces 30 ms apart: the header, then
    /// the body in halves (a frame read across reads, FRM-1).
    ProbeInPieces,
    /// Writes the probe reply's header and half its body, then closes the
    /// connection (a reply cut short, FRM-8).
    ProbeCut,
    /// Answers the probe, then exits with status 0.
    ExitAfterProbe,
    /// Echoes its first request, then exits with status 0 (an idle exit).
    ExitAfterEcho,
    /// Answers the probe, then never answers a request.
    Hang,
    /// Echoes, and records every SIGTERM without exiting: only SIGKILL
    /// stops it.
    IgnoreTerm,
    /// Accepts every handoff offer.
    HandoffAccept,
    /// Declines every handoff offer.
    HandoffRefuse,
    /// Acks offers with a different token.
    HandoffWrongToken,
    /// Acks offers with a different correlation id.
    HandoffWrongCorrelation,
    /// Acks offers after 6 s, past the 5 s bound.
    HandoffLate,
    /// Acks offers after 1 s, within the bound: handoffs overlap (HOF-7).
    HandoffSlow,
    /// Accepts the first offer, then acks every later one with that first
    /// (already used) token (HOF-7).
    HandoffReplay,
    /// Serves a page naming its service and version on 127.0.0.1:0 and
    /// reports the port once by BackendHttpReady (V2R-5, V2K-7).
    Http,
    /// Serves the page but reports port 0 (V2R-6).
    HttpPort0,
    /// Serves the page but reports port 70000 (V2R-6).
    HttpPortTooBig,
    /// Reports its port twice (V2R-5: the second replaces the first).
    HttpTwice,
    /// Serves the page and never reports (the entry stays `starting`).
    HttpNever,
}

impl Behavior {
    /// Every behaviour, in documentation order.
    pub const ALL: &'static [Behavior] = &[
        Self::Echo,
        Self::CrashAtStart,
        Self::Flaky,
        Self::NeverBind,
        Self::BindLate,
        Self::LiePid,
        Self::LieHash,
        Self::LieBootId,
        Self::LieEndpoint,
        Self::LieExe,
        Self::ProbeInPieces,
        Self::ProbeCut,
        Self::ExitAfterProbe,
        Self::ExitAfterEcho,
        Self::Hang,
        Self::IgnoreTerm,
        Self::HandoffAccept,
        Self::HandoffRefuse,
        Self::HandoffWrongToken,
        Self::HandoffWrongCorrelation,
        Self::HandoffLate,
        Self::HandoffSlow,
        Self::HandoffReplay,
        Self::Http,
        Self::HttpPort0,
        Self::HttpPortTooBig,
        Self::HttpTwice,
        Self::HttpNever,
    ];

    /// The behaviour's name, e.g. `bind-late`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Echo => "echo",
            Self::CrashAtStart => "crash-at-start",
            Self::Flaky => "flaky",
            Self::NeverBind => "never-bind",
            Self::BindLate => "bind-late",
            Self::LiePid => "lie-pid",
            Self::LieHash => "lie-hash",
            Self::LieBootId => "lie-boot-id",
            Self::LieEndpoint => "lie-endpoint",
            Self::LieExe => "lie-exe",
            Self::ProbeInPieces => "probe-in-pieces",
            Self::ProbeCut => "probe-cut",
            Self::ExitAfterProbe => "exit-after-probe",
            Self::ExitAfterEcho => "exit-after-echo",
            Self::Hang => "hang",
            Self::IgnoreTerm => "ignore-term",
            Self::HandoffAccept => "handoff-accept",
            Self::HandoffRefuse => "handoff-refuse",
            Self::HandoffWrongToken => "handoff-wrong-token",
            Self::HandoffWrongCorrelation => "handoff-wrong-correlation",
            Self::HandoffLate => "handoff-late",
            Self::HandoffSlow => "handoff-slow",
            Self::HandoffReplay => "handoff-replay",
            Self::Http => "http",
            Self::HttpPort0 => "http-port-0",
            Self::HttpPortTooBig => "http-port-too-big",
            Self::HttpTwice => "http-twice",
            Self::HttpNever => "http-never",
        }
    }

    /// The service name that selects this behaviour: `fake-<name>`.
    pub fn service_name(self) -> String {
        format!("fake-{}", self.name())
    }

    /// The pre-release tag that selects this behaviour: the name with dots.
    pub fn pre_release(self) -> String {
        self.name().replace('-', ".")
    }

    /// Picks the behaviour for a launch: the pre-release tag wins, then the
    /// service name; anything else echoes.
    pub fn for_launch(service_name: &str, version: &str) -> Self {
        let from_version = version
            .split_once('-')
            .and_then(|(_, pre)| pre.replace('.', "-").parse().ok());
        let from_service = service_name
            .strip_prefix("fake-")
            .and_then(|b| b.parse().ok());
        from_version.or(from_service).unwrap_or(Self::Echo)
    }

    /// True for behaviours about handoff offers (they also echo).
    pub fn is_handoff(self) -> bool {
        self.name().starts_with("handoff-")
    }

    /// True for the `http` family (they also echo).
    pub fn is_http(self) -> bool {
        self == Self::Http || self.name().starts_with("http-")
    }

    /// The ports an `http` behaviour reports once its page serves on
    /// `port`, in order (V2R-5, V2R-6); empty for every other behaviour.
    pub fn http_reports(self, port: u16) -> Vec<u32> {
        match self {
            Self::Http => vec![u32::from(port)],
            Self::HttpPort0 => vec![0],
            Self::HttpPortTooBig => vec![70_000],
            Self::HttpTwice => vec![u32::from(port); 2],
            _ => Vec::new(),
        }
    }

    /// True for behaviours that only make sense as their own process
    /// (they exit, never start, or start late).
    pub fn needs_own_process(self) -> bool {
        matches!(
            self,
            Self::CrashAtStart
                | Self::Flaky
                | Self::LieExe
                | Self::NeverBind
                | Self::BindLate
                | Self::ExitAfterProbe
                | Self::ExitAfterEcho
                | Self::IgnoreTerm
        )
    }
}

impl fmt::Display for Behavior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A behaviour name that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fake-backend behaviour {0:?}; known: {known}", known = Behavior::ALL.iter().map(|b| b.name()).collect::<Vec<_>>().join(", "))]
pub struct UnknownBehavior(pub String);

impl FromStr for Behavior {
    type Err = UnknownBehavior;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|b| b.name() == s)
            .ok_or_else(|| UnknownBehavior(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::grammar::{validate_service_name, validate_version};

    #[test]
    fn every_behaviour_is_reachable_through_valid_names_and_versions() {
        for b in Behavior::ALL {
            assert!(validate_service_name(&b.service_name()).is_ok(), "{b}");
            let version = format!("1.0.0-{}", b.pre_release());
            assert!(validate_version(&version).is_ok(), "{version}");
            assert_eq!(Behavior::for_launch("any", &version), *b);
            assert_eq!(Behavior::for_launch(&b.service_name(), "1.0.0"), *b);
        }
        assert_eq!(Behavior::for_launch("zccache", "1.0.0"), Behavior::Echo);
        assert_eq!(Behavior::for_launch("web", "1.0.0-http"), Behavior::Http);
        assert_eq!(
            Behavior::for_launch("fake-hang", "1.0.0-rc.1"),
            Behavior::Hang,
            "unknown tags fall back"
        );
    }
}

#[cfg(test)]
mod http_tests {
    use super::Behavior;

    #[test]
    fn http_behaviours_report_what_their_names_say() {
        assert_eq!(Behavior::Http.http_reports(8080), [8080]);
        assert_eq!(Behavior::HttpPort0.http_reports(8080), [0]);
        assert_eq!(Behavior::HttpPortTooBig.http_reports(8080), [70_000]);
        assert_eq!(Behavior::HttpTwice.http_reports(8080), [8080, 8080]);
        assert!(Behavior::HttpNever.http_reports(8080).is_empty());
        assert!(Behavior::Echo.http_reports(8080).is_empty());
        let http: Vec<_> = Behavior::ALL.iter().filter(|b| b.is_http()).collect();
        assert_eq!(http.len(), 5);
    }
}
