//! Knowing that a definition directory did not change, from the kernel.
//!
//! Time stamps are too coarse to prove a file unchanged (a rewrite inside
//! one tick keeps them); inotify reports every change to the directory's
//! entries, and to the directory itself, as it happens, before the writer's
//! call returns. [`DirWatch::poll`] drains what is pending with one
//! non-blocking read, so a broker may answer a Hello from what it loaded
//! before while the directory stays quiet (SVC-2 still holds: any change
//! is seen by the next Hello).

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};

/// What happened in a watched directory since the last look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DirState {
    /// Nothing.
    Quiet,
    /// Something in it, or its own permissions or owner, changed.
    Changed,
    /// The watch ended: the directory was removed, moved away or
    /// unmounted, or the watch could not be read.
    Lost,
}

/// An inotify watch on one directory.
#[derive(Debug)]
pub(super) struct DirWatch {
    fd: OwnedFd,
}

impl DirWatch {
    /// Watches `dir`, which must be a directory and not a symlink (a
    /// retargeted symlink would go unseen): creations, deletions, renames,
    /// writes and attribute changes of its entries and of itself.
    pub(super) fn new(dir: &Path) -> io::Result<Self> {
        if !std::fs::symlink_metadata(dir)?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a directory", dir.display()),
            ));
        }
        let fd = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC)?;
        inotify::add_watch(
            &fd,
            dir,
            WatchFlags::ATTRIB
                | WatchFlags::CLOSE_WRITE
                | WatchFlags::CREATE
                | WatchFlags::DELETE
                | WatchFlags::DELETE_SELF
                | WatchFlags::MODIFY
                | WatchFlags::MOVE_SELF
                | WatchFlags::MOVED_FROM
                | WatchFlags::MOVED_TO
                | WatchFlags::ONLYDIR
                | WatchFlags::DONT_FOLLOW,
        )?;
        Ok(Self { fd })
    }

    /// Drains the pending events (one read when there are none).
    pub(super) fn poll(&self) -> DirState {
        let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = inotify::Reader::new(&self.fd, &mut buf);
        let mut state = DirState::Quiet;
        loop {
            match reader.next() {
                Ok(event) => {
                    let flags = event.events();
                    if flags.intersects(
                        ReadFlags::IGNORED
                            | ReadFlags::DELETE_SELF
                            | ReadFlags::MOVE_SELF
                            | ReadFlags::UNMOUNT,
                    ) {
                        return DirState::Lost;
                    }
                    state = DirState::Changed;
                }
                Err(rustix::io::Errno::AGAIN) => return state,
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => return DirState::Lost,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watched() -> (tempfile::TempDir, DirWatch) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let watch = DirWatch::new(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        (dir, watch)
    }

    #[test]
    fn every_kind_of_change_is_seen_once() {
        let (dir, watch) = watched();
        assert_eq!(watch.poll(), DirState::Quiet);
        let file = dir.path().join("a.servicedef");
        std::fs::write(&file, b"x").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(watch.poll(), DirState::Changed);
        assert_eq!(watch.poll(), DirState::Quiet, "drained");
        // An in-place rewrite of the same size, at once: no stamp would tell.
        std::fs::write(&file, b"y").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(watch.poll(), DirState::Changed);
        std::fs::rename(&file, dir.path().join("b")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(watch.poll(), DirState::Changed);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o750))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(watch.poll(), DirState::Changed, "the directory's own mode");
    }

    #[test]
    fn a_removed_directory_ends_the_watch() {
        let (dir, watch) = watched();
        let path = dir.path().to_path_buf();
        drop(dir);
        assert!(!path.exists());
        assert_eq!(watch.poll(), DirState::Lost);
    }

    #[test]
    fn only_real_directories_are_watched() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path(), &link).unwrap_or_else(|e| panic!("{e}"));
        assert!(DirWatch::new(&link).is_err());
        assert!(DirWatch::new(&dir.path().join("missing")).is_err());
    }
}
