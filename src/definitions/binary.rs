//! Where a definition's binary really is (LCH-1): both paths canonicalized,
//! the binary inside the per-version directory. The rule itself is
//! [`crate::policy`]'s; this is the filesystem look-up around it, shared by
//! the broker's launcher and `doctor`.

use std::path::PathBuf;

use crate::policy::{ContainmentError, check_binary_paths, check_contained};
use crate::proto::v1::ServiceDefinition;

/// LCH-1: both paths set and absolute; after canonicalizing both, the
/// binary lies inside the directory. Returns the canonical binary path.
pub fn resolve_binary(definition: &ServiceDefinition) -> Result<PathBuf, ContainmentError> {
    let (binary, dir) =
        check_binary_paths(&definition.binary_path, &definition.per_version_binary_dir)?;
    let canonical = |field, path: &std::path::Path| {
        path.canonicalize()
            .map_err(|source| ContainmentError::Unresolvable {
                field,
                path: path.to_path_buf(),
                source,
            })
    };
    let canonical_binary = canonical("binary_path", binary)?;
    let canonical_dir = canonical("per_version_binary_dir", dir)?;
    check_contained(&canonical_binary, &canonical_dir)?;
    Ok(canonical_binary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn binary_must_lie_inside_its_directory() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let inside = dir.path().join("v1");
        std::fs::create_dir(&inside).unwrap_or_else(|e| panic!("{e}"));
        let binary = inside.join("bin");
        std::fs::write(&binary, b"x").unwrap_or_else(|e| panic!("{e}"));
        let def = |bin: &Path, d: &Path| ServiceDefinition {
            binary_path: bin.to_string_lossy().into_owned(),
            per_version_binary_dir: d.to_string_lossy().into_owned(),
            ..ServiceDefinition::default()
        };
        assert!(resolve_binary(&def(&binary, dir.path())).is_ok());
        let escape = inside
            .join("..")
            .join("..")
            .join(dir.path().file_name().unwrap_or_default())
            .join("v1/bin");
        assert!(
            resolve_binary(&def(&escape, &inside)).is_ok(),
            "canonicalization resolves .."
        );
        let outside = dir.path().join("other");
        std::fs::create_dir(&outside).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            resolve_binary(&def(&binary, &outside)),
            Err(ContainmentError::Outside { .. })
        ));
        assert!(matches!(
            resolve_binary(&def(&binary, Path::new(""))),
            Err(ContainmentError::DirNotSet)
        ));
        assert!(matches!(
            resolve_binary(&def(&inside.join("missing"), &inside)),
            Err(ContainmentError::Unresolvable {
                field: "binary_path",
                ..
            })
        ));
    }
}
