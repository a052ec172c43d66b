//! The reference v2 front door (`broker-conformance serve --v2`, v2 spec
//! §0-§7): a Hello-only broker on the v2 socket name that hands out the
//! `backend_pipe` a daemon published, answering through the same Hello
//! machine as the launching broker (`Door::Front`) and reusing its socket,
//! frame reader and SEC-2 code.
//!
//! | file | room |
//! |---|---|
//! | `options` | the command line (V2L-10, V2W-2) and environment (§13), pure |
//! | `startup` | root check, program name, directories, socket (V2L-1, V2L-4, V2N) |
//! | `server` | the accept loop, its cap, `--once`, the clean end (V2L) |
//! | `connection` | one connection driving the Hello machine (V2F, V2H, V2G) |
//! | `identity` | `daemon-<service>.json`: the V2P-1 parser, V2G-4 liveness |
//! | `listing` | the services the HTTP page lists (V2W-15) |

mod connection;
mod identity;
mod listing;
mod options;
mod server;
mod startup;

pub use identity::{DaemonIdentity, ExeHashAlgorithm, IdentityError, IpcEndpoint, published_pipe};
pub use listing::{ListedService, ListedServices};
pub use options::{
    DEFAULT_MAX_INFLIGHT_HANDLERS, FrontDoorOptions, FrontDoorSettings, USAGE, UsageError,
    parse_options,
};
pub use server::{FRONT_DOOR_DRAIN, Served};
pub use startup::{BoundFrontDoor, EXIT_FAILURE, EXIT_IN_USE, EXIT_PRIVILEGED, FrontDoorError};
