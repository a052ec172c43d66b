//! What the status page lists, and the one trait both kinds of broker
//! implement to feed it (V2W-15, V2W-16).

/// A listed backend's state (V2W-16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendState {
    /// Launched (or negotiated, on a front door); no port reported yet.
    Starting,
    /// Reported this HTTP port through an accepted BackendHttpReady (V2R-5).
    Ready {
        /// The backend's HTTP port on 127.0.0.1.
        port: u16,
    },
    /// The process died.
    Gone,
}

impl BackendState {
    /// The state word of V2W-16 and the `/api/backends` schema.
    pub fn word(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Ready { .. } => "ready",
            Self::Gone => "gone",
        }
    }

    /// The reported port, exactly when ready.
    pub fn http_port(self) -> Option<u16> {
        match self {
            Self::Ready { port } => Some(port),
            Self::Starting | Self::Gone => None,
        }
    }
}

/// One listed backend (V2W-16; the `/api/backends` entry of spec §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEntry {
    /// The service name.
    pub service: String,
    /// The version it was launched for (empty on a front door, which knows none).
    pub version: String,
    /// The instance id of v1 §7.1 (empty on a front door).
    pub instance: String,
    /// The backend's pid, when the broker knows one.
    pub pid: Option<u32>,
    /// Its state.
    pub state: BackendState,
    /// Spawn (or first negotiation) time, Unix milliseconds.
    pub started_at_unix_ms: u64,
}

/// Where the HTTP surface reads its listing from: the launching broker's
/// endpoint registry, or the front door's list of negotiated services.
pub trait StatusSource: Send + Sync {
    /// The entries to list now, in any order (the page sorts them).
    fn entries(&self) -> Vec<StatusEntry>;
}

/// A fixed listing: for tests, and a broker with nothing to list.
impl StatusSource for Vec<StatusEntry> {
    fn entries(&self) -> Vec<StatusEntry> {
        self.clone()
    }
}
