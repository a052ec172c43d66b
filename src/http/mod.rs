//! The read-only HTTP/1.1 status surface of spec §8 (V2W), shared by both
//! kinds of v2 broker: the front door and the launching broker render their
//! listing through one [`StatusSource`].
//!
//! | file | room |
//! |---|---|
//! | `status` | what a page lists: [`StatusEntry`], [`BackendState`], the [`StatusSource`] trait |
//! | `render` | the page, `/api/backends` and `/health` bodies, and the routing (V2W-7…V2W-10, V2W-16, V2W-18, V2W-19) — pure, time passed in |
//! | `bind` | `--http-port` values, the environment overrides and the bind with its fallback (V2W-1…V2W-5) |
//! | `discovery` | the `.http_port` discovery file: atomic write, removal, parsing (V2W-6, V2W-13, V2K-5) |
//! | `server` | [`HttpSurface`]: the hyper shell that serves connections concurrently (V2W-11, V2W-12) |

mod bind;
mod discovery;
mod render;
mod server;
mod status;

pub use bind::{BindPlan, HttpPortSpec, InvalidHttpPort, bind_listener};
pub use discovery::{
    DiscoveryError, discovery_content, parse_discovery, read_discovery_file, remove_discovery_file,
    write_discovery_file,
};
pub use render::{
    ApiBackend, ApiBackends, CONTENT_TYPE_HTML, CONTENT_TYPE_JSON, CONTENT_TYPE_TEXT,
    EMPTY_LISTING_TEXT, HttpReply, route,
};
pub use server::{HEADER_READ_TIMEOUT, HttpError, HttpSurface, MAX_HTTP_CONNECTIONS, Site};
pub use status::{BackendState, StatusEntry, StatusSource};
