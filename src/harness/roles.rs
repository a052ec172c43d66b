//! The roles one executable plays, chosen by the name it was invoked
//! under: the runner installs copies of itself named `fake-backend` as
//! every service's backend, and peers of another uid start it as
//! `broker-conformance` (see [`TestbedOptions::cli`]). A libtest harness
//! binary plays both, so an implementer's `cargo test` needs no other
//! executable.
//!
//! [`TestbedOptions::cli`]: crate::testbed::TestbedOptions::cli

use std::ffi::OsStr;
use std::path::Path;
use std::process::ExitCode;

use crate::fake_backend::FAKE_BACKEND_NAME;
use crate::testbed::CLI_NAME;

/// What this process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The Hello peer a case runs as another uid (see `peer`), named like
    /// the `broker-conformance` command whose `hello` it stands in for.
    Peer,
    /// The scriptable fake backend.
    FakeBackend,
}

impl Role {
    /// The role an executable named `name` plays, if it names one.
    pub fn named(name: &OsStr) -> Option<Self> {
        match name.to_str()? {
            FAKE_BACKEND_NAME => Some(Self::FakeBackend),
            CLI_NAME => Some(Self::Peer),
            _ => None,
        }
    }

    /// The role the name of this process (`argv[0]`'s file name) asks for.
    pub fn of_this_process() -> Option<Self> {
        let arg0 = std::env::args_os().next()?;
        Self::named(Path::new(&arg0).file_name()?)
    }

    /// Plays the role with this process's arguments.
    pub fn run(self) -> ExitCode {
        match self {
            Self::Peer => super::peer::main(),
            Self::FakeBackend => crate::fake_backend::cli::main(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_role_names_choose_a_role() {
        assert_eq!(
            Role::named(OsStr::new("fake-backend")),
            Some(Role::FakeBackend)
        );
        assert_eq!(
            Role::named(OsStr::new("broker-conformance")),
            Some(Role::Peer)
        );
        assert_eq!(
            Role::named(OsStr::new("conformance-82063e2b684ccfe5")),
            None
        );
    }
}
