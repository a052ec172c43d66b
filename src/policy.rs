//! Pure policy rules that both the reference broker and `doctor` apply:
//! the socket directory (SEC-2), what may sit at a socket path (SEC-6) and
//! binary containment (LCH-1). Facts come in (a `stat`, canonical paths);
//! verdicts go out. The I/O that gathers the facts lives in `sys` and
//! `definitions`.

use std::path::{Path, PathBuf};

/// One way an existing socket directory breaks SEC-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SocketDirProblem {
    /// The path is a symlink (whatever it points at).
    #[error("is a symlink")]
    Symlink,
    /// The path is not a directory.
    #[error("is not a directory")]
    NotADirectory,
    /// Another user owns the directory.
    #[error("is owned by uid {owner}, not the broker's uid {euid}")]
    WrongOwner {
        /// The owner found.
        owner: u32,
        /// The broker's effective uid.
        euid: u32,
    },
    /// The permission bits are not exactly 0700.
    #[error("has mode {mode:o}; it must be exactly 700")]
    WrongMode {
        /// The permission bits found (`mode & 0o7777`).
        mode: u32,
    },
}

/// What SEC-2 looks at in an existing socket directory, as `lstat` reports
/// it (a symlink is not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketDirStat {
    /// The path is a symlink.
    pub is_symlink: bool,
    /// The path is a directory.
    pub is_dir: bool,
    /// The owner's uid.
    pub uid: u32,
    /// The permission bits (`mode & 0o7777`).
    pub mode: u32,
}

impl SocketDirStat {
    /// The facts of `lstat` metadata.
    #[cfg(unix)]
    pub fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;

        Self {
            is_symlink: meta.file_type().is_symlink(),
            is_dir: meta.is_dir(),
            uid: meta.uid(),
            mode: meta.mode() & 0o7777,
        }
    }
}

/// SEC-2, pure: every problem of an existing socket directory, in the order
/// the broker reports them (it reports the first). A symlink or a
/// non-directory hides the owner and mode checks, which would describe the
/// wrong thing.
pub fn socket_dir_problems(stat: &SocketDirStat, euid: u32) -> Vec<SocketDirProblem> {
    if stat.is_symlink {
        return vec![SocketDirProblem::Symlink];
    }
    if !stat.is_dir {
        return vec![SocketDirProblem::NotADirectory];
    }
    let mut problems = Vec::new();
    if stat.uid != euid {
        problems.push(SocketDirProblem::WrongOwner {
            owner: stat.uid,
            euid,
        });
    }
    if stat.mode != 0o700 {
        problems.push(SocketDirProblem::WrongMode { mode: stat.mode });
    }
    problems
}

/// What is at a broker socket path (SEC-6), found without changing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketPathState {
    /// Nothing is there.
    Absent,
    /// A socket something accepts on: a broker is listening.
    Live,
    /// A socket nothing accepts on (connection refused): left by a broker
    /// that died.
    Stale,
    /// Something other than a socket (a symlink counts as one).
    NotASocket,
}

/// Why a service's binary may not be launched (LCH-1).
#[derive(Debug, thiserror::Error)]
pub enum ContainmentError {
    /// `per_version_binary_dir` is empty.
    #[error("per_version_binary_dir is not set (LCH-1)")]
    DirNotSet,
    /// A path is relative.
    #[error("binary_path and per_version_binary_dir must be absolute (LCH-1)")]
    NotAbsolute,
    /// A path cannot be canonicalized (missing, unreadable, a loop).
    #[error("{field} {}: {source}", .path.display())]
    Unresolvable {
        /// `binary_path` or `per_version_binary_dir`.
        field: &'static str,
        /// The path as the definition gives it.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The canonical binary is not inside the canonical directory.
    #[error("binary {} is not inside per_version_binary_dir {} (LCH-1)", .binary.display(), .dir.display())]
    Outside {
        /// The canonical binary path.
        binary: PathBuf,
        /// The canonical directory.
        dir: PathBuf,
    },
}

/// LCH-1, before touching the filesystem: both paths set and absolute.
pub fn check_binary_paths<'d>(
    binary_path: &'d str,
    per_version_binary_dir: &'d str,
) -> Result<(&'d Path, &'d Path), ContainmentError> {
    if per_version_binary_dir.is_empty() {
        return Err(ContainmentError::DirNotSet);
    }
    let (binary, dir) = (Path::new(binary_path), Path::new(per_version_binary_dir));
    if !binary.is_absolute() || !dir.is_absolute() {
        return Err(ContainmentError::NotAbsolute);
    }
    Ok((binary, dir))
}

/// LCH-1, on canonical paths: the binary lies inside the directory.
pub fn check_contained(
    canonical_binary: &Path,
    canonical_dir: &Path,
) -> Result<(), ContainmentError> {
    if canonical_binary.starts_with(canonical_dir) {
        Ok(())
    } else {
        Err(ContainmentError::Outside {
            binary: canonical_binary.to_path_buf(),
            dir: canonical_dir.to_path_buf(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_dir_problems_report_owner_and_mode_together_and_symlinks_alone() {
        let stat = SocketDirStat {
            is_symlink: false,
            is_dir: true,
            uid: 7,
            mode: 0o755,
        };
        assert_eq!(
            socket_dir_problems(&stat, 1000),
            [
                SocketDirProblem::WrongOwner {
                    owner: 7,
                    euid: 1000
                },
                SocketDirProblem::WrongMode { mode: 0o755 }
            ]
        );
        let link = SocketDirStat {
            is_symlink: true,
            ..stat
        };
        assert_eq!(
            socket_dir_problems(&link, 1000),
            [SocketDirProblem::Symlink]
        );
        let good = SocketDirStat {
            uid: 1000,
            mode: 0o700,
            ..stat
        };
        assert!(socket_dir_problems(&good, 1000).is_empty());
    }

    #[test]
    fn binary_paths_must_be_set_absolute_and_contained() {
        assert!(matches!(
            check_binary_paths("/d/bin", ""),
            Err(ContainmentError::DirNotSet)
        ));
        assert!(matches!(
            check_binary_paths("rel/bin", "/d"),
            Err(ContainmentError::NotAbsolute)
        ));
        assert!(check_binary_paths("/d/bin", "/d").is_ok());
        assert!(check_contained(Path::new("/d/v1/bin"), Path::new("/d/v1")).is_ok());
        let outside = check_contained(Path::new("/d/bin"), Path::new("/d/v1"));
        assert!(outside.is_err_and(
            |e| e.to_string().contains("not inside") && e.to_string().contains("LCH-1")
        ));
        // Prefixes count by component, not by bytes.
        assert!(check_contained(Path::new("/d/v10/bin"), Path::new("/d/v1")).is_err());
    }
}
