//! The reference broker's lifecycle vocabulary (EVT-2) as a typed enum, and
//! its one conversion into the on-disk [`LifecycleEvent`]: every kind,
//! reason text and extra key the broker writes is spelled here and nowhere
//! else.

use std::path::PathBuf;

use super::record::new_event;
use crate::proto::v1::{EventKind, LifecycleEvent};
use crate::wire::Refusal;

/// How a backend's process ended (LCH-5, EVT-2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Death {
    /// The broker stopped it while shutting down.
    Shutdown,
    /// It exited with status 0 on its own.
    Idle,
    /// Any other end: a non-zero status, a signal, or a failed wait.
    Crash {
        /// The exit status or the failure, as text.
        detail: String,
    },
}

impl Death {
    fn kind(&self) -> EventKind {
        match self {
            Self::Shutdown => EventKind::DiedShutdown,
            Self::Idle => EventKind::DiedIdle,
            Self::Crash { .. } => EventKind::DiedCrash,
        }
    }

    /// The event's reason text.
    pub fn reason(&self) -> String {
        match self {
            Self::Shutdown => "stopped by the broker's shutdown".to_owned(),
            Self::Idle => "exited with status 0".to_owned(),
            Self::Crash { detail } => detail.clone(),
        }
    }
}

/// One thing the broker did or saw, as EVT-2 names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerEvent {
    /// SEC-1: a peer of another uid, dropped before a byte was read.
    ForeignPeer {
        /// The peer's uid.
        peer_uid: u32,
        /// The peer's pid.
        peer_pid: u32,
        /// The broker's effective uid.
        broker_uid: u32,
    },
    /// HEL-11 / HEL-12: a Hello refused as a security violation.
    HelloViolation {
        /// The refusal (peer pid mismatch or failed authentication).
        refusal: Refusal,
        /// The kernel-verified peer pid.
        peer_pid: u32,
    },
    /// A Hello was refused (REF).
    HelloRefused {
        /// The service, empty when refused before its name was valid.
        service: String,
        /// The refusal.
        refusal: Refusal,
    },
    /// A Hello was answered with `Negotiated` (HEL-21).
    HelloAccepted {
        /// The service.
        service: String,
        /// The wanted version.
        version: String,
        /// Where the client was sent (NEG-2).
        backend_pipe: PathBuf,
        /// The backend's pid.
        pid: u32,
        /// The connection id (NEG-5).
        connection_id: u64,
    },
    /// SVC-2: a definition was loaded for the first time, or changed.
    DefinitionLoaded {
        /// The service.
        service: String,
        /// The file.
        path: PathBuf,
        /// False on the first load, true when it changed since.
        changed: bool,
    },
    /// LCH: a launch begins.
    SpawnAttempt {
        /// The service.
        service: String,
        /// The version.
        version: String,
        /// The canonical binary.
        binary: PathBuf,
        /// The connection that caused it.
        connection_id: u64,
    },
    /// LCH: the process could not be started.
    SpawnFailed {
        /// The service.
        service: String,
        /// Why.
        detail: String,
        /// The connection that caused it.
        connection_id: u64,
    },
    /// PRB-4: a launched process failed its probe and was killed.
    LaunchKilled {
        /// The service.
        service: String,
        /// The version.
        version: String,
        /// Its pid.
        pid: u32,
        /// What failed.
        detail: String,
        /// The connection that caused it.
        connection_id: u64,
    },
    /// A backend passed its identity probe and serves (PRB, REG).
    Spawned {
        /// The service.
        service: String,
        /// The version.
        version: String,
        /// Its pid.
        pid: u32,
        /// Where it serves.
        backend_pipe: PathBuf,
        /// The connection that caused it.
        connection_id: u64,
    },
    /// REG-5: a backend superseded by a rebuilt binary.
    Superseded {
        /// The service.
        service: String,
        /// The version.
        version: String,
        /// The old backend's pid.
        pid: u32,
        /// The connection whose launch superseded it.
        connection_id: u64,
    },
    /// LCH-5: a backend's process ended.
    Died {
        /// The service.
        service: String,
        /// The version.
        version: String,
        /// Its pid.
        pid: u32,
        /// How.
        death: Death,
    },
    /// ENV-3: fd-pressure demotion began or ended.
    FdPressure {
        /// True when it began.
        demoted: bool,
    },
}

/// The reason text of an ENV-3 demotion change, for the event and the log.
pub fn fd_pressure_reason(demoted: bool) -> &'static str {
    if demoted {
        "out of file descriptors: refusing Hellos with FD_PRESSURE"
    } else {
        "file descriptors available again: serving Hellos"
    }
}

impl BrokerEvent {
    /// The event as it is logged, stamped now by this process, for broker
    /// instance `broker_instance`.
    pub fn into_lifecycle(self, broker_instance: &str) -> LifecycleEvent {
        let (kind, service, reason, extra, connection_id): (
            _,
            String,
            String,
            Vec<(&str, String)>,
            u64,
        ) = match self {
            Self::ForeignPeer {
                peer_uid,
                peer_pid,
                broker_uid,
            } => (
                EventKind::SecurityViolation,
                String::new(),
                format!("connection from uid {peer_uid} refused (broker uid {broker_uid})"),
                vec![
                    ("peer_pid", peer_pid.to_string()),
                    ("peer_uid", peer_uid.to_string()),
                ],
                0,
            ),
            Self::HelloViolation { refusal, peer_pid } => (
                EventKind::SecurityViolation,
                String::new(),
                format!("{} from pid {peer_pid}", refusal.reason()),
                vec![("clause", refusal.clause().to_owned())],
                0,
            ),
            Self::HelloRefused { service, refusal } => (
                EventKind::HelloRefused,
                service,
                refusal.reason().into_owned(),
                vec![
                    ("code", refusal.code().as_str_name().to_owned()),
                    ("clause", refusal.clause().to_owned()),
                ],
                0,
            ),
            Self::HelloAccepted {
                service,
                version,
                backend_pipe,
                pid,
                connection_id,
            } => (
                EventKind::HelloAccepted,
                service,
                format!("negotiated {}", backend_pipe.display()),
                vec![("version", version), ("pid", pid.to_string())],
                connection_id,
            ),
            Self::DefinitionLoaded {
                service,
                path,
                changed,
            } => (
                if changed {
                    EventKind::ServiceDefChanged
                } else {
                    EventKind::ServiceDefLoaded
                },
                service,
                path.display().to_string(),
                Vec::new(),
                0,
            ),
            Self::SpawnAttempt {
                service,
                version,
                binary,
                connection_id,
            } => (
                EventKind::SpawnAttempt,
                service,
                format!("launching {}", binary.display()),
                vec![("version", version)],
                connection_id,
            ),
            Self::SpawnFailed {
                service,
                detail,
                connection_id,
            } => (
                EventKind::SpawnAttempt,
                service,
                format!("spawn failed: {detail}"),
                Vec::new(),
                connection_id,
            ),
            Self::LaunchKilled {
                service,
                version,
                pid,
                detail,
                connection_id,
            } => (
                EventKind::DiedCrash,
                service,
                format!("killed after a failed launch: {detail}"),
                vec![("version", version), ("pid", pid.to_string())],
                connection_id,
            ),
            Self::Spawned {
                service,
                version,
                pid,
                backend_pipe,
                connection_id,
            } => (
                EventKind::Spawn,
                service,
                format!("backend pid {pid} passed its identity probe"),
                vec![
                    ("version", version),
                    ("pid", pid.to_string()),
                    ("backend_pipe", backend_pipe.display().to_string()),
                ],
                connection_id,
            ),
            Self::Superseded {
                service,
                version,
                pid,
                connection_id,
            } => (
                EventKind::ReplacedByNewer,
                service,
                format!("pid {pid} replaced by a rebuilt binary; it keeps serving its clients"),
                vec![("version", version), ("pid", pid.to_string())],
                connection_id,
            ),
            Self::Died {
                service,
                version,
                pid,
                death,
            } => (
                death.kind(),
                service,
                death.reason(),
                vec![("version", version), ("pid", pid.to_string())],
                0,
            ),
            Self::FdPressure { demoted } => (
                EventKind::ResourcePressure,
                String::new(),
                fd_pressure_reason(demoted).to_owned(),
                vec![("fd_pressure", demoted.to_string())],
                0,
            ),
        };
        let mut event = new_event(kind, &service, reason);
        event.connection_id = connection_id;
        event.broker_instance = broker_instance.to_owned();
        event
            .extra
            .extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_violations_name_their_clause_and_peer() {
        let event = BrokerEvent::HelloViolation {
            refusal: Refusal::AuthenticationFailed,
            peer_pid: 42,
        }
        .into_lifecycle("b1");
        assert_eq!(event.kind, EventKind::SecurityViolation as i32);
        assert_eq!(event.reason, "authentication failed from pid 42");
        assert_eq!(
            event.extra.get("clause").map(String::as_str),
            Some("HEL-12")
        );
        assert_eq!(event.broker_instance, "b1");
    }

    #[test]
    fn deaths_map_to_their_kinds_with_pid_and_version() {
        for (death, kind) in [
            (Death::Shutdown, EventKind::DiedShutdown),
            (Death::Idle, EventKind::DiedIdle),
            (
                Death::Crash {
                    detail: "exited: signal 9".into(),
                },
                EventKind::DiedCrash,
            ),
        ] {
            let event = BrokerEvent::Died {
                service: "svc".into(),
                version: "1.0.0".into(),
                pid: 7,
                death,
            }
            .into_lifecycle("");
            assert_eq!(event.kind, kind as i32);
            assert_eq!(event.extra.get("pid").map(String::as_str), Some("7"));
            assert_eq!(
                event.extra.get("version").map(String::as_str),
                Some("1.0.0")
            );
        }
    }

    #[test]
    fn refusals_carry_code_and_clause_and_accepts_carry_the_connection() {
        let refused = BrokerEvent::HelloRefused {
            service: "svc".into(),
            refusal: Refusal::ServiceUnknown,
        }
        .into_lifecycle("");
        assert_eq!(refused.kind, EventKind::HelloRefused as i32);
        assert_eq!(
            refused.extra.get("code").map(String::as_str),
            Some("ERROR_SERVICE_UNKNOWN")
        );
        assert_eq!(
            refused.extra.get("clause").map(String::as_str),
            Some("HEL-13")
        );
        let accepted = BrokerEvent::HelloAccepted {
            service: "svc".into(),
            version: "1.0.0".into(),
            backend_pipe: "/run/b.sock".into(),
            pid: 9,
            connection_id: 3,
        }
        .into_lifecycle("");
        assert_eq!(accepted.connection_id, 3);
        assert_eq!(accepted.reason, "negotiated /run/b.sock");
    }
}
