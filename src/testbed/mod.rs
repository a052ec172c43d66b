//! The broker under test: starting, provisioning and stopping the brokers
//! a run exercises, shared by the conformance runner and by `perf/`.
//!
//! - targets: the built-in reference broker ([`BuiltInTarget`]), one
//!   started from a command template ([`CommandTarget`]), or one already
//!   running ([`EndpointTarget`]), each stating its [`TargetProfile`];
//! - provisioning: fake-backend installations and the service definitions
//!   of `conformance/services.toml` ([`Provisioner`], [`ServiceSpec`]);
//! - set-up: a [`Testbed`] for a [`BrokerUnderTest`], in a short private
//!   scratch directory.

mod built_in;
mod command;
mod command_line;
mod endpoint;
mod provision;
mod services;
mod setup;
mod target;

pub use built_in::BuiltInTarget;
pub use command::CommandTarget;
pub use command_line::split_command;
pub use endpoint::EndpointTarget;
pub use provision::{ProvisionError, Provisioner, private_dir};
pub use services::ServiceSpec;
pub use setup::{
    BUILT_IN_HELLO_TIMEOUT, BrokerUnderTest, CLI_NAME, COMMAND_HELLO_TIMEOUT, SPEC_HELLO_TIMEOUT,
    Testbed, TestbedError, TestbedOptions,
};
pub use target::{
    BrokerInstance, STARTUP_TIMEOUT, Target, TargetCaps, TargetError, TargetInfo, TargetProfile,
};
