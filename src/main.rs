//! The `broker-conformance` command: see `broker-conformance --help`.
//!
//! Invoked under the name `fake-backend` (the runner installs copies of
//! this program so named), it is the fake backend instead.

fn main() -> std::process::ExitCode {
    #[cfg(unix)]
    {
        use broker_conformance::harness::Role;
        Role::of_this_process().unwrap_or(Role::Cli).run()
    }
    #[cfg(not(unix))]
    broker_conformance::cli::main()
}
