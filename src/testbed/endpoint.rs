//! A broker already running at a socket as a target: borrowed, never
//! started or stopped, and only once.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::target::{
    BrokerInstance, Target, TargetCaps, TargetError, TargetInfo, TargetKind, TargetProfile,
};

/// A broker already running at a socket, reading a known definition directory.
pub struct EndpointTarget {
    socket: PathBuf,
    label: String,
    profile: TargetProfile,
    started: AtomicBool,
}

impl EndpointTarget {
    /// The broker at `socket` reading `definitions`.
    pub fn new(
        socket: &Path,
        definitions: &Path,
        hello_timeout: Duration,
        label: &str,
        kind: TargetKind,
    ) -> Self {
        Self {
            socket: socket.to_path_buf(),
            label: label.to_owned(),
            profile: TargetProfile {
                kind,
                definitions: definitions.to_path_buf(),
                hello_timeout,
                caps: TargetCaps {
                    fresh_brokers: false,
                    auth_tokens: false,
                    owns_definitions: false,
                    start_options: false,
                    http_surface: kind == TargetKind::Launching,
                    processes: false,
                },
            },
            started: AtomicBool::new(false),
        }
    }
}

/// Someone else's broker: stopping it does nothing.
struct BorrowedInstance {
    socket: PathBuf,
}

impl BrokerInstance for BorrowedInstance {
    fn socket(&self) -> &Path {
        &self.socket
    }

    fn event_log(&self) -> Option<&Path> {
        None
    }

    fn stop(&mut self) {}
}

impl Target for EndpointTarget {
    fn info(&self) -> TargetInfo {
        TargetInfo {
            kind: "endpoint".into(),
            label: self.label.clone(),
            command: None,
            is_reference: false,
        }
    }

    fn profile(&self) -> &TargetProfile {
        &self.profile
    }

    fn start(&self) -> Result<Box<dyn BrokerInstance>, TargetError> {
        if self.started.swap(true, Ordering::SeqCst) {
            return Err(TargetError::NoFreshBroker);
        }
        UnixStream::connect(&self.socket).map_err(|e| {
            TargetError::Start(format!(
                "no broker accepts on {}: {e}",
                self.socket.display()
            ))
        })?;
        Ok(Box::new(BorrowedInstance {
            socket: self.socket.clone(),
        }))
    }
}
