//! The roles one executable plays, chosen by the name it was invoked
//! under: the runner installs copies of itself named `fake-backend` as
//! every service's backend, and runs peers of another uid through a link
//! named `broker-conformance`. A libtest harness binary plays both, so an
//! implementer's `cargo test` needs no other executable.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The name the fake backend is installed under.
pub const FAKE_BACKEND_NAME: &str = "fake-backend";

/// The name of the command-line tool.
pub const CLI_NAME: &str = "broker-conformance";

/// What this process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The `broker-conformance` command.
    Cli,
    /// The scriptable fake backend.
    FakeBackend,
}

impl Role {
    /// The role an executable named `name` plays, if it names one.
    pub fn named(name: &OsStr) -> Option<Self> {
        match name.to_str()? {
            FAKE_BACKEND_NAME => Some(Self::FakeBackend),
            CLI_NAME => Some(Self::Cli),
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
            Self::Cli => crate::cli::main(),
            Self::FakeBackend => crate::fake_backend::cli::main(),
        }
    }
}

/// A directory others may enter holding a link named `broker-conformance`
/// to `exe`, so steps run as another uid can start it as the CLI.
pub fn cli_link(exe: &Path) -> std::io::Result<(tempfile::TempDir, PathBuf)> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::Builder::new().prefix("bh.").tempdir_in("/tmp")?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    let link = dir.path().join(CLI_NAME);
    std::os::unix::fs::symlink(exe, &link)?;
    Ok((dir, link))
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
            Some(Role::Cli)
        );
        assert_eq!(
            Role::named(OsStr::new("conformance-82063e2b684ccfe5")),
            None
        );
    }
}
