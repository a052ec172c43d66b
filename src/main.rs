//! The `broker-conformance` command: see `broker-conformance --help`.
//!
//! Invoked under the name `fake-backend` (the runner installs copies of
//! this program so named as every test service's backend), it is the fake
//! backend instead.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod cli;

fn main() -> std::process::ExitCode {
    #[cfg(unix)]
    {
        use broker_conformance::harness::Role;
        if let Some(Role::FakeBackend) = Role::of_this_process() {
            return Role::FakeBackend.run();
        }
    }
    cli::main()
}
