//! The service binaries a launch needs: resolved by LCH-1 and hashed for
//! the backend key (REG-1), remembered by file identity so a Hello on the
//! usual path costs two `stat`s.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::error::LaunchError;
use crate::definitions::resolve_binary;
use crate::proto::v1::ServiceDefinition;
use crate::sys::{FileStamp, blake3_file};

/// A service's binary as a launch needs it: its canonical path (LCH-1)
/// and the BLAKE3 of its bytes (REG-1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedBinary {
    /// The canonical path, inside the canonical per-version directory.
    pub(crate) path: PathBuf,
    /// Its BLAKE3 digest.
    pub(crate) hash: [u8; 32],
}

#[derive(Debug, Clone)]
struct CachedBinary {
    /// The definition's `per_version_binary_dir` (the map's key is its
    /// `binary_path`).
    dir: String,
    /// The binary's and the per-version directory's, from [`stamps_of`].
    stamps: (FileStamp, FileStamp),
    resolved: ResolvedBinary,
}

/// Resolved binaries, by `binary_path` (and `per_version_binary_dir`).
///
/// Resolving canonicalizes two paths (a `readlink` per component) and
/// hashing reads the whole file, so both are remembered and trusted while
/// the file the binary path names and the directory are the same files,
/// unchanged: two `stat`s per Hello, looked up by `&str` with no key to
/// build. Any rebuild (a new inode, or a rewrite, which moves ctime) or
/// a different file behind the path shows in a stamp and forces both again.
#[derive(Debug, Default)]
pub(crate) struct BinaryCache {
    cache: Mutex<HashMap<String, CachedBinary>>,
}

impl BinaryCache {
    /// The resolution remembered for `definition`'s binary, when both
    /// stamps still match; `None` when it must be resolved again.
    pub(crate) fn lookup(&self, definition: &ServiceDefinition) -> Option<ResolvedBinary> {
        let stamps = stamps_of(definition)?;
        self.lock()
            .get(definition.binary_path.as_str())
            .filter(|c| c.dir == definition.per_version_binary_dir && c.stamps == stamps)
            .map(|c| c.resolved.clone())
    }

    /// Resolves (LCH-1) and hashes the binary, reading the whole file: call
    /// it off the event loop. The result is remembered only if neither
    /// stamp moved while it was computed.
    pub(crate) fn resolve(
        &self,
        definition: &ServiceDefinition,
    ) -> Result<ResolvedBinary, LaunchError> {
        let before = stamps_of(definition);
        let path = resolve_binary(definition)?;
        let hash = blake3_file(&path).map_err(|source| LaunchError::Hash {
            path: path.clone(),
            source,
        })?;
        let resolved = ResolvedBinary { path, hash };
        if let Some(stamps) = before
            && stamps_of(definition) == Some(stamps)
        {
            self.lock().insert(
                definition.binary_path.clone(),
                CachedBinary {
                    dir: definition.per_version_binary_dir.clone(),
                    stamps,
                    resolved: resolved.clone(),
                },
            );
        }
        Ok(resolved)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CachedBinary>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The stamps of the file `binary_path` names and of the per-version
/// directory: what must not move for a remembered resolution to stand.
fn stamps_of(definition: &ServiceDefinition) -> Option<(FileStamp, FileStamp)> {
    Some((
        FileStamp::at(Path::new(&definition.binary_path)).ok()?,
        FileStamp::at(Path::new(&definition.per_version_binary_dir)).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ContainmentError;

    #[test]
    fn binary_cache_sees_a_same_size_rewrite_and_a_new_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("bin");
        std::fs::write(&path, b"aaaa").unwrap_or_else(|e| panic!("{e}"));
        let definition = ServiceDefinition {
            binary_path: path.display().to_string(),
            per_version_binary_dir: dir.path().display().to_string(),
            ..ServiceDefinition::default()
        };
        let cache = BinaryCache::default();
        assert_eq!(cache.lookup(&definition), None, "nothing resolved yet");
        let first = cache.resolve(&definition).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first.hash, *blake3::hash(b"aaaa").as_bytes());
        assert_eq!(cache.lookup(&definition), Some(first.clone()));
        std::fs::write(&path, b"bbbb").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cache.lookup(&definition), None, "ctime moved");
        let second = cache.resolve(&definition).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(second.hash, *blake3::hash(b"bbbb").as_bytes());
        let replacement = dir.path().join("bin.new");
        std::fs::write(&replacement, b"bbbb").unwrap_or_else(|e| panic!("{e}"));
        std::fs::rename(&replacement, &path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cache.lookup(&definition), None, "another inode");
    }

    #[test]
    fn a_binary_outside_its_directory_is_refused_and_not_remembered() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let inside = dir.path().join("v1");
        std::fs::create_dir(&inside).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("bin");
        std::fs::write(&path, b"x").unwrap_or_else(|e| panic!("{e}"));
        let definition = ServiceDefinition {
            binary_path: path.display().to_string(),
            per_version_binary_dir: inside.display().to_string(),
            ..ServiceDefinition::default()
        };
        let cache = BinaryCache::default();
        assert!(matches!(
            cache.resolve(&definition),
            Err(LaunchError::Containment(ContainmentError::Outside { .. }))
        ));
        assert_eq!(cache.lookup(&definition), None);
    }
}
