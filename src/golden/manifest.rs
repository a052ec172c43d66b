//! `golden/MANIFEST`: one `<sha256 hex>  <relative path>` line per frozen
//! file, in the order they were added — the format of `sha256sum`, so
//! `cd golden && sha256sum -c MANIFEST` checks it without this crate.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use super::GoldenError;
use crate::inspect::hex::{parse_hex, to_hex};

/// File name of the manifest inside the corpus directory.
pub const MANIFEST_FILE: &str = "MANIFEST";

/// One frozen file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// SHA-256 of the file's bytes.
    pub sha256: [u8; 32],
    /// Path relative to the corpus directory, `/`-separated.
    pub path: String,
    /// 1-based line number in the manifest.
    pub line: usize,
}

/// The parsed manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Entries in file order.
    pub entries: Vec<ManifestEntry>,
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The manifest line for a file.
pub(crate) fn manifest_line(path: &str, bytes: &[u8]) -> String {
    format!("{}  {path}\n", to_hex(&sha256(bytes)))
}

impl Manifest {
    /// Parses manifest text. Every line must be `<64 hex>  <path>`; paths
    /// are unique, relative and free of `..`.
    pub fn parse(text: &str) -> Result<Self, GoldenError> {
        let mut entries = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let bad = |problem: String| GoldenError::Manifest { line, problem };
            let (hash, path) = raw
                .split_once("  ")
                .ok_or_else(|| bad(format!("expected `<sha256>  <path>`, found {raw:?}")))?;
            let digest = parse_hex(hash).map_err(|e| bad(format!("bad sha256 {hash:?}: {e}")))?;
            let sha256: [u8; 32] = digest
                .try_into()
                .map_err(|d: Vec<u8>| bad(format!("sha256 has {} bytes, expected 32", d.len())))?;
            if path.is_empty()
                || path.starts_with('/')
                || path.split('/').any(|p| p == ".." || p.is_empty())
            {
                return Err(bad(format!(
                    "path {path:?} must be relative, without `..` or empty parts"
                )));
            }
            if !seen.insert(path.to_owned()) {
                return Err(bad(format!("{path} is listed twice")));
            }
            entries.push(ManifestEntry {
                sha256,
                path: path.to_owned(),
                line,
            });
        }
        Ok(Self { entries })
    }

    /// The entry for a path.
    pub fn get(&self, path: &str) -> Option<&ManifestEntry> {
        self.entries.iter().find(|e| e.path == path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sha256sum_lines_and_rejects_duplicates() {
        let line = manifest_line("v1/a.bin", b"abc");
        let manifest = Manifest::parse(&line).unwrap_or_default();
        assert_eq!(manifest.entries.len(), 1);
        assert_eq!(manifest.entries[0].sha256, sha256(b"abc"));
        let twice = format!("{line}{line}");
        assert!(matches!(
            Manifest::parse(&twice),
            Err(GoldenError::Manifest { line: 2, .. })
        ));
        assert!(Manifest::parse("00  ../x\n").is_err());
    }
}
