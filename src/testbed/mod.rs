//! The broker under test: starting, provisioning and stopping the brokers
//! a run exercises, shared by the conformance runner and by `perf/`.
//!
//! - targets: the built-in reference broker ([`BuiltInTarget`]), one
//!   started from a command template ([`CommandTarget`]), or one already
//!   running ([`EndpointTarget`]), each stating its [`TargetProfile`];
//! - provisioning: fake-backend installations and the service definitions
//!   of `conformance/services.toml` ([`Provisioner`], [`ServiceSpec`]);
//! - v2: front doors started from a command with `{program}` and spec
//!   §13's environment ([`Layout`], [`FrontDoorPlaces`]), and the identity
//!   files they read ([`identity_json`]);
//! - set-up: a [`Testbed`] for a [`BrokerUnderTest`], in a short private
//!   scratch directory.

mod built_in;
mod command;
mod command_line;
mod endpoint;
mod front_door;
mod identity;
mod kind;
mod provision;
mod services;
mod setup;
mod target;

pub use built_in::BuiltInTarget;
pub(crate) use command::wait_within;
pub use command::{CommandSetup, CommandTarget};
pub use command_line::split_command;
pub use endpoint::EndpointTarget;
pub(crate) use front_door::wait_until_bound;
pub use front_door::{FrontDoorPlaces, Layout, SUITE_PROGRAM};
pub use identity::{IdentityEditError, IdentityFacts, identity_json, pad_identity};
pub use provision::{ProvisionError, Provisioner, private_dir};
pub use services::ServiceSpec;
pub use setup::{
    BUILT_IN_HELLO_TIMEOUT, BrokerUnderTest, CLI_NAME, COMMAND_HELLO_TIMEOUT, SPEC_HELLO_TIMEOUT,
    Testbed, TestbedError, TestbedOptions,
};
pub use target::{
    BrokerInstance, STARTUP_TIMEOUT, StartOptions, Target, TargetCaps, TargetError, TargetInfo,
    TargetKind, TargetProfile,
};
