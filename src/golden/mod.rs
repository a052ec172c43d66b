//! The golden corpus: frozen protocol bytes under `golden/`.
//!
//! Each golden is a pair: `NAME.bin` (the bytes) and `NAME.txtpb` (its
//! companion: the sample's field values in protobuf text format, with a
//! header naming the message type and the encoding). `golden/MANIFEST`
//! lists the SHA-256 of every file. Files are only ever added: a landed
//! file is never edited or deleted, and verification proves it.

mod add;
pub(crate) mod codec;
pub(crate) mod companion;
pub(crate) mod history;
pub(crate) mod manifest;
pub(crate) mod spec_vectors;
pub(crate) mod verify;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

pub use add::{AddedGolden, add_golden};
pub use codec::typed_message_names;
pub use companion::{BIN_EXT, COMPANION_EXT, Companion, GoldenEncoding};
pub use history::{HistoryOutcome, check_history};
pub use manifest::sha256;
pub use manifest::{MANIFEST_FILE, Manifest, ManifestEntry};
pub use spec_vectors::MINIMAL_HELLO_ON_THE_WIRE;
pub use verify::{Finding, VerifyReport, verify};

/// Files of the corpus directory that are documentation, not frozen data.
pub const UNFROZEN_FILES: &[&str] = &[MANIFEST_FILE, "README.md"];

/// Errors reading or extending the corpus.
#[derive(Debug, thiserror::Error)]
pub enum GoldenError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// A manifest line is malformed.
    #[error("MANIFEST line {line}: {problem}")]
    Manifest {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// A companion is malformed.
    #[error("{path}: {problem}")]
    Companion {
        /// The companion's corpus path.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// A golden name that matches nothing, or more than one golden.
    #[error("{0}")]
    Lookup(String),
    /// Adding a golden would change a frozen file.
    #[error("{0}")]
    Frozen(String),
}

/// Where a corpus was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorpusSource {
    /// A directory on disk.
    Dir(PathBuf),
    /// The copy embedded in this binary at build time.
    Embedded,
}

impl std::fmt::Display for CorpusSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dir(path) => write!(f, "{}", path.display()),
            Self::Embedded => f.write_str("the corpus embedded in this binary"),
        }
    }
}

/// All files of a golden corpus, by `/`-separated relative path.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Where the files came from.
    pub source: CorpusSource,
    /// Relative path to content.
    pub files: BTreeMap<String, Vec<u8>>,
}

/// One golden pair, resolved.
#[derive(Debug, Clone)]
pub struct Golden {
    /// Name without extension, e.g. `v1/hello_minimal`.
    pub name: String,
    /// The frozen bytes.
    pub bytes: Vec<u8>,
    /// The parsed companion.
    pub companion: Companion,
    /// The companion's text.
    pub companion_text: String,
}

static EMBEDDED: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/embedded_golden.rs"));

impl Corpus {
    /// The corpus embedded at build time from this crate's `golden/`.
    pub fn embedded() -> Self {
        Self {
            source: CorpusSource::Embedded,
            files: EMBEDDED
                .iter()
                .map(|(p, b)| ((*p).to_owned(), b.to_vec()))
                .collect(),
        }
    }

    /// Reads every file below `dir`.
    pub fn load_dir(dir: &Path) -> Result<Self, GoldenError> {
        let mut files = BTreeMap::new();
        read_tree(dir, dir, &mut files)?;
        Ok(Self {
            source: CorpusSource::Dir(dir.to_path_buf()),
            files,
        })
    }

    /// The corpus a command should use by default: `./golden` when it
    /// exists, else this crate's `golden/`, else the embedded copy.
    pub fn default_location() -> Result<Self, GoldenError> {
        let candidates = [
            PathBuf::from("golden"),
            Path::new(env!("CARGO_MANIFEST_DIR")).join("golden"),
        ];
        match candidates.iter().find(|d| d.join(MANIFEST_FILE).is_file()) {
            Some(dir) => Self::load_dir(dir),
            None => Ok(Self::embedded()),
        }
    }

    /// Displays a corpus path, e.g. `golden/v1/hello_minimal.bin`.
    pub fn display_path(&self, rel: &str) -> String {
        match &self.source {
            CorpusSource::Dir(dir) => dir.join(rel).display().to_string(),
            CorpusSource::Embedded => format!("golden/{rel} (embedded)"),
        }
    }

    /// The parsed manifest.
    pub fn manifest(&self) -> Result<Manifest, GoldenError> {
        let text = self
            .files
            .get(MANIFEST_FILE)
            .ok_or_else(|| GoldenError::Lookup(format!("{} has no MANIFEST", self.source)))?;
        Manifest::parse(&String::from_utf8_lossy(text))
    }

    /// Names of every golden pair (a `.bin` with or without its companion).
    pub fn names(&self) -> Vec<String> {
        self.files
            .keys()
            .filter_map(|p| p.strip_suffix(&format!(".{BIN_EXT}")))
            .map(str::to_owned)
            .collect()
    }

    /// Resolves a name: `v1/hello_minimal`, `hello_minimal` when unique, or
    /// either with `.bin` / `.txtpb`.
    pub fn resolve(&self, query: &str) -> Result<String, GoldenError> {
        let query = query
            .trim_end_matches(&format!(".{BIN_EXT}"))
            .trim_end_matches(&format!(".{COMPANION_EXT}"));
        let names = self.names();
        if names.iter().any(|n| n == query) {
            return Ok(query.to_owned());
        }
        let matches: Vec<&String> = names
            .iter()
            .filter(|n| n.rsplit('/').next() == Some(query))
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(GoldenError::Lookup(format!(
                "no golden named {query:?}; `broker-conformance golden list` shows them"
            ))),
            many => Err(GoldenError::Lookup(format!(
                "{query:?} is ambiguous: {}",
                many.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Loads one golden pair by name (see [`resolve`](Self::resolve)).
    pub fn golden(&self, query: &str) -> Result<Golden, GoldenError> {
        let name = self.resolve(query)?;
        let bin_path = format!("{name}.{BIN_EXT}");
        let companion_path = format!("{name}.{COMPANION_EXT}");
        let bytes = self.files.get(&bin_path).cloned().unwrap_or_default();
        let companion_text = self
            .files
            .get(&companion_path)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .ok_or_else(|| GoldenError::Companion {
                path: companion_path.clone(),
                problem: "missing: every .bin needs its companion".into(),
            })?;
        let companion = Companion::parse(&companion_path, &companion_text)?;
        Ok(Golden {
            name,
            bytes,
            companion,
            companion_text,
        })
    }

    /// The frozen bytes of a golden, by name.
    pub fn bytes(&self, query: &str) -> Result<&[u8], GoldenError> {
        let name = self.resolve(query)?;
        self.files
            .get(&format!("{name}.{BIN_EXT}"))
            .map(Vec::as_slice)
            .ok_or_else(|| GoldenError::Lookup(format!("{name}.{BIN_EXT} is missing")))
    }
}

fn read_tree(
    root: &Path,
    dir: &Path,
    files: &mut BTreeMap<String, Vec<u8>>,
) -> Result<(), GoldenError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GoldenError::Io { path, source }
    };
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.is_dir() {
            read_tree(root, &path, files)?;
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        files.insert(rel, fs::read(&path).map_err(io(&path))?);
    }
    Ok(())
}
