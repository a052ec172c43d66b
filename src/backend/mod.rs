//! The backend SDK: what a backend executable needs to be launched by any
//! broker — read the launch contract from the environment (LCH-2, LCH-6),
//! adopt the inherited listener or bind the pipe itself (LCH-3), describe
//! itself (PRB-2, PRB-3) and answer the identity probe, and serve frames.
//!
//! ```no_run
//! use std::sync::Arc;
//! use broker_conformance::backend::{BackendIdentity, BackendListener, LaunchEnv, serve, EchoHandler};
//! use broker_conformance::env::ProcessEnv;
//!
//! let env = LaunchEnv::from_env(&ProcessEnv)?;
//! let listener = BackendListener::adopt_or_bind(&env)?;
//! let identity = Arc::new(BackendIdentity::of_this_process(&env)?);
//! serve(listener.listener, identity, Arc::new(EchoHandler))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod handoff;
mod identity;
mod launch_env;
mod listener;
mod probe;
mod serve;

pub use handoff::{
    AcceptHandoffs, AckPlan, HandoffPolicy, ReceivedHandoff, bind_handoff_listener,
    receive_handoff, serve_handoffs,
};
pub use identity::BackendIdentity;
pub use launch_env::{LaunchEnv, LaunchEnvError};
pub use listener::{BackendListener, ListenerSource};
pub use probe::{
    ProbeAnswer, answer_probe, answer_probe_cut, answer_probe_in_pieces, is_probe_request,
};
pub use serve::{ConnectionHandler, EchoHandler, Flow, serve, serve_connection, serve_until};
