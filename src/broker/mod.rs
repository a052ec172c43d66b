//! The reference broker: every broker-side MUST and REF clause of the spec.
//!
//! A Hello's path: `connection` reads one frame under the deadline and
//! feeds it to the pure `hello` machine, which decides every step of
//! spec §4 and asks the shell for what it needs — a service definition, a
//! backend from the `launcher` — until it hands back the one reply.
//!
//! | file | room |
//! |---|---|
//! | `hello` | the Hello state machine: pure decisions, actions and effects |
//! | `connection` | one connection's socket and the loop that drives the machine |
//! | `acceptor`, `server`, `startup` | accept threads; serve and drain (ADM-7); bind and assembly |
//! | `launcher/` | binaries, the registry (REG: slots, coalescing, budgets), spawn, identity probe, reaping; [`LaunchError`] |
//! | `admin/` | snapshot capture and the verbs (ADM) |
//! | `control_rpc` | the v2 control RPCs GetBrokerHttpEndpoint and BackendHttpReady (V2R) |
//! | `handoff` | one-time tokens and the SCM_RIGHTS exchange (HOF) |
//! | `lifecycle`, `fd_pressure`, `event_sink`, `metrics` | narrow shared handles |
//! | `auth`, `config`, `security` | HEL-12 tokens; configuration; socket security (SEC) |
//! | `front_door/` | the v2 front door's shell: options, startup, accept loop, identity files |
//!
//! Run it with `broker-conformance serve`, or embed it in a test with
//! [`EmbeddedBroker`].

mod acceptor;
pub(crate) mod admin;
mod auth;
mod config;
mod connection;
mod control_rpc;
mod embedded;
mod event_sink;
mod fd_pressure;
pub mod front_door;
mod handoff;
pub(crate) mod hello;
pub(crate) mod launcher;
mod lifecycle;
mod metrics;
mod rooms;
mod security;
mod server;
mod startup;

pub use auth::AuthTokens;
pub(crate) use config::hello_timeout_from_env;
pub use config::{BrokerConfig, ConfigOverrides, LogLevel, resolve_config};
pub use embedded::{EmbeddedBroker, EmbeddedBrokerBuilder};
pub use launcher::LaunchError;
pub use security::SecurityError;
pub use server::{BoundBroker, ShutdownHandle};
pub use startup::BrokerError;
