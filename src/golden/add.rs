//! Freezing a new golden: encode its companion, cross-check, write the
//! `.bin` and append both files to MANIFEST. Nothing existing is touched.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::codec::{check_decodes_to_sample, encode_sample, encode_sample_independently};
use super::manifest::manifest_line;
use super::spec_vectors::SPEC_VECTOR_GOLDENS;
use super::{BIN_EXT, COMPANION_EXT, Companion, Corpus, GoldenError, MANIFEST_FILE};
use crate::inspect::hex_diff;

/// A golden that was just frozen.
#[derive(Debug, Clone)]
pub struct AddedGolden {
    /// Its name.
    pub name: String,
    /// The `.bin` written.
    pub bin_path: PathBuf,
    /// Its length in bytes.
    pub len: usize,
}

/// Freezes `dir/NAME.txtpb` into `dir/NAME.bin` and appends both to
/// `dir/MANIFEST`. Refuses when either file is already frozen, when the
/// crate's encoder and the independent encoder disagree, or when the bytes
/// contradict a spec test vector.
pub fn add_golden(dir: &Path, name: &str) -> Result<AddedGolden, GoldenError> {
    let name = name
        .trim_end_matches(&format!(".{COMPANION_EXT}"))
        .trim_end_matches(&format!(".{BIN_EXT}"));
    let companion_rel = format!("{name}.{COMPANION_EXT}");
    let bin_rel = format!("{name}.{BIN_EXT}");
    let corpus = Corpus::load_dir(dir)?;
    let manifest = corpus.manifest()?;
    for rel in [&companion_rel, &bin_rel] {
        if manifest.get(rel).is_some() {
            return Err(GoldenError::Frozen(format!(
                "{rel} is already frozen; a landed golden is never replaced — choose a new name"
            )));
        }
    }
    if corpus.files.contains_key(&bin_rel) {
        return Err(GoldenError::Frozen(format!(
            "{} exists but is not in MANIFEST; remove it and run add again",
            dir.join(&bin_rel).display()
        )));
    }
    let raw = corpus
        .files
        .get(&companion_rel)
        .ok_or_else(|| GoldenError::Companion {
            path: companion_rel.clone(),
            problem: "not found: write the companion first".into(),
        })?;
    let text = std::str::from_utf8(raw).map_err(|e| GoldenError::Companion {
        path: companion_rel.clone(),
        problem: format!("not UTF-8: {e}"),
    })?;
    let companion = Companion::parse(&companion_rel, text)?;
    let bytes = encode_sample(&companion).map_err(|problem| GoldenError::Companion {
        path: companion_rel.clone(),
        problem,
    })?;
    let independent = encode_sample_independently(&companion);
    if independent != bytes {
        return Err(GoldenError::Frozen(format!(
            "the crate's encoder and the independent encoder disagree; nothing frozen:\n{}",
            hex_diff(&independent, &bytes)
        )));
    }
    check_decodes_to_sample(&bytes, &companion).map_err(|problem| GoldenError::Companion {
        path: companion_rel.clone(),
        problem,
    })?;
    if let Some(vector) = SPEC_VECTOR_GOLDENS.iter().find(|v| v.golden == name) {
        let expected = vector.expected_bytes();
        if expected != bytes {
            return Err(GoldenError::Frozen(format!(
                "{name} must equal its spec §2 test vector:\n{}",
                hex_diff(&expected, &bytes)
            )));
        }
    }
    let bin_path = dir.join(&bin_rel);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GoldenError::Io { path, source }
    };
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&bin_path)
        .and_then(|mut f| f.write_all(&bytes))
        .map_err(io(&bin_path))?;
    let manifest_path = dir.join(MANIFEST_FILE);
    let lines = manifest_line(&companion_rel, raw) + &manifest_line(&bin_rel, &bytes);
    let appended = OpenOptions::new()
        .append(true)
        .open(&manifest_path)
        .and_then(|mut f| f.write_all(lines.as_bytes()));
    if let Err(source) = appended {
        // Leave no unlisted file behind.
        let _ = fs::remove_file(&bin_path);
        return Err(GoldenError::Io {
            path: manifest_path,
            source,
        });
    }
    Ok(AddedGolden {
        name: name.to_owned(),
        bin_path,
        len: bytes.len(),
    })
}
