//! The client side of the protocol: environment seams (CLI-1, CLI-2,
//! CLI-6), Hello-skip (CLI-3), the Hello exchange and its checks (CLI-4,
//! CLI-5), handoff adoption (HOF-8) and admin verbs (ADM-1).
//!
//! | module | what it holds |
//! |---|---|
//! | `settings` | `ClientSettings` from the environment seam |
//! | `request` | `ConnectRequest`, `Route`, the pure first-step decision |
//! | `reply` | pure checks of Hello replies, admin replies and handoff EVENTs |
//! | `error` | `ClientError` |
//! | `exchange` | one bounded framed round trip over a blocking socket |
//! | `connect` | [`connect`], [`establish`], [`hello`], [`hello_frame`] |
//! | `admin` | [`admin`] |
//! | `http_endpoint` | v2: the `.http_port` reader, GetBrokerHttpEndpoint, BackendHttpReady (V2K-5…V2K-7) |
//! | [`front_door`] | a Hello against a v2 front door (v2 V2K-1…V2K-4) |
//! | [`asynchronous`] | the same `connect` and `admin` for tokio |
//!
//! ```no_run
//! use broker_conformance::client::{connect, ClientSettings, ConnectRequest};
//! use broker_conformance::env::ProcessEnv;
//!
//! let settings = ClientSettings::from_env(&ProcessEnv)?;
//! let request = ConnectRequest::new("/tmp/broker.sock", "zccache", "1.11.20");
//! let backend = connect(&request, &settings)?;
//! println!("reached {} by {}", backend.endpoint.display(), backend.route);
//! # Ok::<(), broker_conformance::client::ClientError>(())
//! ```

pub(crate) mod error;
pub(crate) mod reply;
pub(crate) mod request;
pub(crate) mod settings;

#[cfg(unix)]
mod admin;
#[cfg(unix)]
pub mod asynchronous;
#[cfg(unix)]
mod connect;
#[cfg(unix)]
pub(crate) mod exchange;
#[cfg(unix)]
pub mod front_door;
#[cfg(unix)]
mod http_endpoint;

#[cfg(unix)]
pub use admin::admin;
#[cfg(unix)]
pub use connect::{BackendConnection, HelloExchange, connect, establish, hello, hello_frame};
pub use error::ClientError;
pub use error::code_name;
pub use exchange::next_request_id;
#[cfg(unix)]
pub use http_endpoint::{
    BrokerHttpEndpoint, HttpEndpointError, ReadyOutcome, get_broker_http_endpoint,
    read_http_port_file, report_http_ready, report_http_ready_to,
};
pub use request::{ConnectRequest, Route};
pub use settings::ClientSettings;
pub use settings::timeout_from_env;
